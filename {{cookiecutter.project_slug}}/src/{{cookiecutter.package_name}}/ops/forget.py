"""Forget a location everywhere the project stores it (right to erasure), with an audit record.

``forget LOCATION [--purge-history] [--dry-run]`` removes, from the embedded store:

- its rows in every version of every feature group with a ``location`` column, offline and
  online (weather, air quality, predictions, monitoring, and any group added later);
- its rows in materialised training datasets (the files are rewritten; ``td.json`` notes it);
- its rows in quarantined batches and its example rows in validation reports;
- model versions whose files name it (models trained *for* it). Models trained on data that merely
  included it lose their stored input example and are listed in the audit record: retrain them
  to remove its influence.

With ``--purge-history`` older table versions, the Delta commit history and freed SQLite pages go
too, so time travel cannot bring the rows back (pause the schedules while it runs). The audit
record (``STORE_DIR/audit/forget.jsonl``, append-only) says what was done, when and how many rows
per table; it identifies the location by a SHA-256 hash, never by its values. A final scan lists
any file under the store that still mentions the location.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from local_hopsworks import LocalProject
from local_hopsworks.erasure import (
    compact_online,
    files_mentioning,
    purge_table_history,
    rewrite_parquet_without,
    scrub_report,
)
from local_hopsworks.feature_group import write_json_atomic
from local_hopsworks.locks import store_lock
from local_hopsworks.maintenance import offline_table, resync_online
from local_hopsworks.timeutil import utc_now

from .. import PROGRAM
from ..settings import Settings

ENTITY = "location"
AUDIT = Path("audit") / "forget.jsonl"
# Intents of erasures in progress (or killed): the next run for the location completes them.
PENDING = Path("audit") / "pending"


def location_key(text: str) -> str:
    """Return the stored key of a location name or key (the rule of ``Settings.location``)."""
    key = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not key:
        raise ValueError(f"{text!r} has no letters or digits: not a location")
    return key


def entity_hash(key: str) -> str:
    """Return how the audit log names an entity: a hash, so the log holds no deleted value."""
    return "sha256:" + hashlib.sha256(f"{ENTITY}={key}".encode()).hexdigest()


def _rows_in(path: Path, key: str) -> int:
    """Return how many rows of a Parquet file are the location's (what a rewrite would remove)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if ENTITY not in table.column_names:
        return 0
    return int(pc.sum(pc.equal(table[ENTITY], key)).as_py() or 0)


def _feature_groups(root: Path, fs: Any, key: str, dry_run: bool) -> tuple[list[dict], list[Any]]:
    entries, groups = [], []
    for meta_path in sorted((root / "feature_groups").glob("*/fg.json")):
        meta = json.loads(meta_path.read_text())
        if ENTITY not in [f["name"] for f in meta.get("features") or []]:
            continue
        fg = fs.get_feature_group(meta["name"], meta["version"])
        groups.append(fg)
        keys = list(dict.fromkeys(fg.primary_key + ([fg.event_time] if fg.event_time else [])))
        rows = fg.select(list(dict.fromkeys([*keys, ENTITY]))).filter(fg[ENTITY] == key).read()
        deleted = len(rows)
        if deleted and not dry_run:
            # The full key of every row, as Hopsworks requires: offline and online in one call.
            deleted = fg.remove_rows(rows[keys])
        entries.append(
            {"what": "feature_group", "name": fg.name, "version": fg.version, "rows": int(deleted)}
        )
    return entries, groups


def _training_datasets(root: Path, key: str, dry_run: bool) -> tuple[list[dict], set[tuple[str, int, int]]]:
    entries, affected = [], set()
    for td_json in sorted((root / "feature_views").glob("*/training_datasets/*/td.json")):
        folder = td_json.parent
        fv_folder = folder.parents[1].name
        fv_name, _, fv_version = fv_folder.rpartition("_")
        removed = 0
        for path in sorted(folder.glob("*.parquet")):
            removed += _rows_in(path, key) if dry_run else rewrite_parquet_without(path, ENTITY, key)[0]
        if not removed:
            continue
        affected.add((fv_name, int(fv_version), int(folder.name)))
        if not dry_run:
            meta = json.loads(td_json.read_text())
            meta.setdefault("erasures", []).append({"at": utc_now().isoformat(), "rows_removed": removed})
            write_json_atomic(td_json, meta)
        entries.append(
            {
                "what": "training_dataset",
                "feature_view": fv_name,
                "feature_view_version": int(fv_version),
                "version": int(folder.name),
                "rows": removed,
            }
        )
    return entries, affected


def _models(root: Path, key: str, affected: set[tuple[str, int, int]], dry_run: bool) -> list[dict]:
    entries = []
    for model_json in sorted((root / "models").glob("*/*/model.json")):
        folder = model_json.parent
        meta = json.loads(model_json.read_text())
        name, version = meta.get("name", folder.parent.name), int(meta.get("version") or folder.name)
        if files_mentioning(folder, key.encode()):
            if not dry_run:
                shutil.rmtree(folder)
            entries.append(
                {"what": "model", "name": name, "version": version, "action": "deleted (trained for it)"}
            )
            continue
        fv = meta.get("feature_view") or {}
        lineage = (fv.get("name"), fv.get("version"), meta.get("training_dataset_version"))
        if lineage not in affected:
            continue
        action = "kept; trained on data that included it (retrain to remove its influence)"
        if meta.get("input_example") is not None:
            action += "; stored input example removed"
            if not dry_run:
                meta["input_example"] = None
                write_json_atomic(model_json, meta)
        entries.append({"what": "model", "name": name, "version": version, "action": action})
    return entries


def _rejected_data(root: Path, key: str, dry_run: bool) -> list[dict]:
    entries = []
    for kind in ("quarantine", "validation_reports"):
        for folder in sorted(p for p in (root / kind).glob("*/*") if p.is_dir()):
            batch, report = folder / "batch.parquet", folder / "report.json"
            rows = examples = 0
            if batch.exists() and dry_run:
                rows = _rows_in(batch, key)
            if batch.exists() and not dry_run:
                rows, kept = rewrite_parquet_without(batch, ENTITY, key)
                if rows and not kept:
                    shutil.rmtree(folder)  # the whole batch was the location's
                    entries.append({"what": kind, "path": folder.relative_to(root).as_posix(), "rows": rows})
                    continue
            if report.exists() and not dry_run:
                examples = scrub_report(report, ENTITY, key)
            if rows or examples:
                entries.append(
                    {
                        "what": kind,
                        "path": folder.relative_to(root).as_posix(),
                        "rows": rows,
                        "examples": examples,
                    }
                )
    return entries


def _erase(root: Path, key: str, purge_history: bool, dry_run: bool) -> dict[str, Any]:
    """Delete (or with ``dry_run`` count) the location's rows everywhere; return the audit record."""
    fs = LocalProject(root).get_feature_store()
    record: dict[str, Any] = {
        "at": utc_now().isoformat(),
        "action": "forget",
        "entity": {"column": ENTITY, "id": entity_hash(key)},
        "purge_history": purge_history,
        "dry_run": dry_run,
    }
    groups_done, groups = _feature_groups(root, fs, key, dry_run)
    tds_done, affected = _training_datasets(root, key, dry_run)
    deleted = (
        groups_done + tds_done + _models(root, key, affected, dry_run) + _rejected_data(root, key, dry_run)
    )
    record["deleted"] = deleted
    record["rows"] = sum(int(e.get("rows", 0)) for e in deleted)
    if purge_history and not dry_run:
        history = []
        for fg in groups:
            outcome = purge_table_history(offline_table(fg).path)
            history.append({"feature_group": fg.name, "version": fg.version, **outcome})
        compact_online(root / "online.sqlite")
        for fg in groups:
            resync_online(fg)  # the online side follows the table's new version
        record["history"] = {"tables": history, "online_compacted": True}
    return record


def _residual(root: Path, key: str) -> list[str]:
    """Return the files under the store (but the audit folder) that still mention the location."""
    return [
        p.relative_to(root).as_posix() for p in files_mentioning(root, key.encode(), skip=(root / "audit",))
    ]


def _entry_key(entry: dict[str, Any]) -> tuple:
    return (
        entry["what"],
        entry.get("name") or entry.get("feature_view") or entry.get("path"),
        entry.get("version"),
    )


def _write_durably(path: Path, text: str, mode: str = "w") -> None:
    """Write ``text`` and fsync it: an audit line must survive a crash right after it was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _merge_interrupted(record: dict[str, Any], intents: list[dict[str, Any]]) -> None:
    """Count, in ``record``, the rows that interrupted runs of the same erasure had already deleted.

    An intent holds the rows a run was about to delete, counted before it deleted any. The rows it
    did delete before it was killed are gone, so this run cannot see them: per table, the erasure
    deleted at least what the intent planned and at least what this run found.
    """
    own = {_entry_key(e): e for e in record["deleted"]}
    for intent in intents:
        for planned in intent["deleted"]:
            entry = own.get(_entry_key(planned))
            if entry is None:
                own[_entry_key(planned)] = entry = dict(planned)
                record["deleted"].append(entry)
            if "rows" in planned:
                entry["rows"] = max(int(entry.get("rows", 0)), int(planned["rows"]))
    record["rows"] = sum(int(e.get("rows", 0)) for e in record["deleted"])
    record["resumes"] = [{"run": i["run"], "at": i["at"]} for i in intents]


def forget(root: Path, location: str, purge_history: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Delete every stored row of ``location`` under the store folder ``root``; return the audit record.

    Before anything is deleted, an intent (the rows about to go, counted) is written durably to
    ``audit/pending/``; the record is appended to the audit log when the run completes and the
    intent removed. A run killed in between leaves its intent: the next run for the location
    completes the erasure and its record counts the rows the killed run had deleted. Runs are
    serialised by a lock on the store, so two erasures never rewrite a table's history at once.

    Args:
        root: The embedded store's folder (``STORE_DIR``).
        location: The location's name or key.
        purge_history: Also end time travel and compact the online file (see the module docstring).
        dry_run: Count what would go; change nothing and write no audit record.
    """
    key = location_key(location)
    if not root.exists():
        raise LookupError(f"no store at {root}")
    if dry_run:
        record = _erase(root, key, purge_history, dry_run=True)
        record["residual_files"] = _residual(root, key)
        return record
    with store_lock(root, "forget"):
        pending = root / PENDING
        entity = entity_hash(key)
        intents = [json.loads(p.read_text()) for p in sorted(pending.glob("*.json"))]
        intents = [i for i in intents if i["entity"]["id"] == entity]
        planned = _erase(root, key, purge_history, dry_run=True)
        run = uuid.uuid4().hex
        intent = {**planned, "run": run, "dry_run": False, "status": "started"}
        intent_path = pending / f"{run}.json"
        _write_durably(intent_path, json.dumps(intent, sort_keys=True))
        record = _erase(root, key, purge_history, dry_run=False)
        record["run"] = run
        if intents:
            _merge_interrupted(record, intents)
        record["residual_files"] = _residual(root, key)
        _write_durably(root / AUDIT, json.dumps(record, sort_keys=True) + "\n", mode="a")
        for done in [intent, *intents]:
            (pending / f"{done['run']}.json").unlink(missing_ok=True)
    return record


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``forget``."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} forget",
        description="Delete a location everywhere it is stored, and record that it was done.",
    )
    parser.add_argument("location", help="the location's name or key, e.g. 'Stockholm' or 'stockholm'")
    parser.add_argument(
        "--purge-history", action="store_true", help="also end time travel, so old versions cannot restore it"
    )
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``forget`` from the command line; exit 1 if a file still mentions the location afterwards."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    if settings.store_backend != "local":
        raise ValueError(
            "forget works on the embedded store (STORE_BACKEND=local). On Hopsworks call fg.remove_rows() "
            "for every feature group version and delete its training datasets there (docs/reliability.md)"
        )
    record = forget(Path(settings.store_dir), args.location, args.purge_history, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"forget {location_key(args.location)}: {verb} {record['rows']} row(s)")
    for entry in record["deleted"]:
        where = entry.get("name") or entry.get("feature_view") or entry.get("path")
        outcome = entry.get("rows", entry.get("action"))
        print(f"  {entry['what']:<18} {where} v{entry.get('version', '-')}: {outcome}")
    if not args.dry_run:
        print(f"audit record appended to {Path(settings.store_dir) / AUDIT}")
    if record["residual_files"]:
        print("files that still mention it:", *record["residual_files"], sep="\n  ")
        if args.purge_history:
            return 1
        print("(older table versions keep it until you run forget again with --purge-history)")
    return 0
