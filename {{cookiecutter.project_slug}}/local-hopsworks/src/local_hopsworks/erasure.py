"""Erasure in the embedded store: delete an entity everywhere it is stored, with an audit record.

``forget(root, value)`` removes the rows whose entity column (``location`` by default) equals
``value``: in every version of every feature group with that column, offline and online; in
materialised training datasets (rewritten; ``td.json`` notes it); in quarantined batches and the
example rows of validation reports; model versions whose files name it (models trained *for* it).
Models trained on data that merely included it lose their stored input example and are listed in
the record: retrain them to remove its influence.

``remove_rows`` deletes rows from the current version of a table, but older Delta versions (data
files and the commit log, whose file statistics hold min/max values) and freed SQLite pages still
hold them. With ``purge_history`` (``purge_table_history``, ``compact_online``) those copies go too,
so nothing can bring deleted rows back; schedules should be paused while it runs, because it ends
time travel to every older table version. The audit record (``AUDIT`` under the store,
append-only) says what was done, when and how many rows per table; it names the entity by a
SHA-256 hash, never by its value. A final scan lists any file that still mentions it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from .feature_group import write_json_atomic
from .feature_store import FeatureStore
from .locks import store_lock
from .maintenance import offline_table, resync_online
from .timeutil import utc_now

AUDIT = Path("audit") / "forget.jsonl"
# Intents of erasures in progress (or killed): the next run for the entity completes them.
PENDING = Path("audit") / "pending"

PURGE_ATTEMPTS = 20
# Retention used only during a purge; the defaults are restored right after.
_PURGE = {
    "delta.logRetentionDuration": "interval 0 seconds",
    "delta.deletedFileRetentionDuration": "interval 0 seconds",
}
_DEFAULTS = {
    "delta.logRetentionDuration": "interval 30 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}


def _alter(path: Path, properties: dict[str, str]) -> None:
    for attempt in range(20):
        try:
            DeltaTable(str(path)).alter.set_table_properties(properties, raise_if_not_exists=False)
            return
        except CommitFailedError:
            time.sleep(0.05 * (attempt + 1))  # a pipeline committed first: try again on the new version
    raise RuntimeError(f"{path}: could not change the table properties (concurrent writers?)")


def purge_table_history(path: Path) -> dict[str, Any]:
    """End time travel on the Delta table at ``path``: only its current version stays readable.

    Removes every data file the current version does not reference (older versions and files
    orphaned by killed writers), then every commit before a fresh checkpoint of the current
    version, so neither old data nor the statistics in old commits survive.

    Returns:
        ``{"files_removed": n, "log_entries_removed": m, "table_version": v}``.
    """
    if not DeltaTable.is_deltatable(str(path)):
        return {"files_removed": 0, "log_entries_removed": 0, "table_version": None}
    for attempt in range(PURGE_ATTEMPTS):
        try:
            return _purge_once(path)
        except CommitFailedError:
            # A writer (a pipeline, another purge) committed in between: purge again from its version.
            if attempt == PURGE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _purge_once(path: Path) -> dict[str, Any]:
    table = DeltaTable(str(path))
    removed = table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True)
    log = path / "_delta_log"
    before = {p.name for p in log.iterdir()}
    _alter(path, _PURGE)
    table = DeltaTable(str(path))
    table.create_checkpoint()
    table.cleanup_metadata()
    _alter(path, _DEFAULTS)
    table = DeltaTable(str(path))
    table.create_checkpoint()
    return {
        "files_removed": len(removed),
        "log_entries_removed": len(before - {p.name for p in log.iterdir()}),
        "table_version": table.version(),
    }


def compact_online(path: Path) -> None:
    """Rebuild the SQLite file so freed pages (deleted rows) are gone, and empty its WAL."""
    if not path.exists():
        return
    con = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        con.execute("PRAGMA secure_delete=ON")
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def rewrite_parquet_without(path: Path, column: str, value: Any) -> tuple[int, int]:
    """Rewrite a parquet file without the rows whose ``column`` equals ``value``.

    Returns:
        ``(rows removed, rows kept)``; the file is untouched when nothing matches, and deleted
        when nothing is kept.
    """
    table = pq.read_table(path)
    if column not in table.column_names:
        return 0, table.num_rows
    keep = pc.invert(pc.fill_null(pc.equal(table[column], value), False))
    kept = table.filter(keep)
    removed = table.num_rows - kept.num_rows
    if removed == 0:
        return 0, kept.num_rows
    if kept.num_rows == 0:
        path.unlink()
        return removed, 0
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(kept, tmp)
    os.replace(tmp, path)
    return removed, kept.num_rows


def scrub_report(path: Path, column: str, value: Any) -> int:
    """Drop example rows about the entity from a validation report; return how many were dropped.

    ``partial_unexpected_list`` (bare values without their row) of a result that had such an
    example is cleared too, as its values cannot be told apart.
    """
    report = json.loads(path.read_text())
    dropped = 0
    for result in report.get("results") or []:
        res = result.get("result") or {}
        examples = res.get("examples") or []
        kept = [row for row in examples if row.get(column) != value]
        if len(kept) != len(examples):
            dropped += len(examples) - len(kept)
            res["examples"] = kept
            res["partial_unexpected_list"] = []
    if dropped:
        write_json_atomic(path, report)
    return dropped


def files_mentioning(root: Path, needle: bytes, skip: tuple[Path, ...] = ()) -> list[Path]:
    """Return the files under ``root`` whose bytes contain ``needle`` (a verification scan)."""
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip):
            continue
        with path.open("rb") as handle:
            tail = b""
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                if needle in tail + block:
                    hits.append(path)
                    break
                tail = block[-len(needle) :]
    return hits


def entity_hash(value: str, column: str = "location") -> str:
    """Return how the audit log names an entity: a hash, so the log holds no deleted value."""
    return "sha256:" + hashlib.sha256(f"{column}={value}".encode()).hexdigest()


def _rows_in(path: Path, column: str, value: str) -> int:
    """Return how many rows of a Parquet file are the entity's (what a rewrite would remove)."""
    table = pq.read_table(path)
    if column not in table.column_names:
        return 0
    return int(pc.sum(pc.equal(table[column], value)).as_py() or 0)


def _feature_groups(root: Path, column: str, value: str, dry_run: bool) -> tuple[list[dict], list]:
    fs = FeatureStore(root)
    entries, groups = [], []
    for meta_path in sorted((root / "feature_groups").glob("*/fg.json")):
        meta = json.loads(meta_path.read_text())
        if column not in [f["name"] for f in meta.get("features") or []]:
            continue
        fg = fs.get_feature_group(meta["name"], meta["version"])
        groups.append(fg)
        keys = list(dict.fromkeys(fg.primary_key + ([fg.event_time] if fg.event_time else [])))
        rows = fg.select(list(dict.fromkeys([*keys, column]))).filter(fg[column] == value).read()
        deleted = len(rows)
        if deleted and not dry_run:
            # The full key of every row, as Hopsworks requires: offline and online in one call.
            deleted = fg.remove_rows(rows[keys])
        entries.append(
            {"what": "feature_group", "name": fg.name, "version": fg.version, "rows": int(deleted)}
        )
    return entries, groups


def _training_datasets(
    root: Path, column: str, value: str, dry_run: bool
) -> tuple[list[dict], set[tuple[str, int, int]]]:
    entries, affected = [], set()
    for td_json in sorted((root / "feature_views").glob("*/training_datasets/*/td.json")):
        folder = td_json.parent
        fv_name, _, fv_version = folder.parents[1].name.rpartition("_")
        removed = 0
        for path in sorted(folder.glob("*.parquet")):
            removed += (
                _rows_in(path, column, value) if dry_run else rewrite_parquet_without(path, column, value)[0]
            )
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


def _models(root: Path, value: str, affected: set[tuple[str, int, int]], dry_run: bool) -> list[dict]:
    entries = []
    for model_json in sorted((root / "models").glob("*/*/model.json")):
        folder = model_json.parent
        meta = json.loads(model_json.read_text())
        name, version = meta.get("name", folder.parent.name), int(meta.get("version") or folder.name)
        if files_mentioning(folder, value.encode()):
            if not dry_run:
                shutil.rmtree(folder)
            entries.append(
                {"what": "model", "name": name, "version": version, "action": "deleted (trained for it)"}
            )
            continue
        fv = meta.get("feature_view") or {}
        if (fv.get("name"), fv.get("version"), meta.get("training_dataset_version")) not in affected:
            continue
        action = "kept; trained on data that included it (retrain to remove its influence)"
        if meta.get("input_example") is not None:
            action += "; stored input example removed"
            if not dry_run:
                meta["input_example"] = None
                write_json_atomic(model_json, meta)
        entries.append({"what": "model", "name": name, "version": version, "action": action})
    return entries


def _rejected_data(root: Path, column: str, value: str, dry_run: bool) -> list[dict]:
    entries = []
    for kind in ("quarantine", "validation_reports"):
        for folder in sorted(p for p in (root / kind).glob("*/*") if p.is_dir()):
            batch, report = folder / "batch.parquet", folder / "report.json"
            entry = {"what": kind, "path": folder.relative_to(root).as_posix(), "rows": 0}
            if batch.exists() and dry_run:
                entry["rows"] = _rows_in(batch, column, value)
            if batch.exists() and not dry_run:
                entry["rows"], kept = rewrite_parquet_without(batch, column, value)
                if entry["rows"] and not kept:
                    shutil.rmtree(folder)  # the whole batch was the entity's
                    entries.append(entry)
                    continue
            entry["examples"] = scrub_report(report, column, value) if report.exists() and not dry_run else 0
            if entry["rows"] or entry["examples"]:
                entries.append(entry)
    return entries


def _erase(root: Path, column: str, value: str, purge_history: bool, dry_run: bool) -> dict[str, Any]:
    """Delete (or with ``dry_run`` count) the entity's rows everywhere; return the audit record."""
    record: dict[str, Any] = {
        "at": utc_now().isoformat(),
        "action": "forget",
        "entity": {"column": column, "id": entity_hash(value, column)},
        "purge_history": purge_history,
        "dry_run": dry_run,
    }
    groups_done, groups = _feature_groups(root, column, value, dry_run)
    tds_done, affected = _training_datasets(root, column, value, dry_run)
    models_done = _models(root, value, affected, dry_run)
    record["deleted"] = groups_done + tds_done + models_done + _rejected_data(root, column, value, dry_run)
    record["rows"] = sum(int(e.get("rows", 0)) for e in record["deleted"])
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


def _residual(root: Path, value: str) -> list[str]:
    """Return the files under the store (but the audit folder) that still mention the entity."""
    return [
        p.relative_to(root).as_posix() for p in files_mentioning(root, value.encode(), skip=(root / "audit",))
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


def pending_erasures(root: Path) -> list[Path]:
    """Return the intents of erasures that were interrupted (or are running) in the store ``root``."""
    return sorted((Path(root) / PENDING).glob("*.json"))


def forget(
    root: Path, value: str, column: str = "location", purge_history: bool = False, dry_run: bool = False
) -> dict[str, Any]:
    """Delete every stored row whose ``column`` is ``value`` in the store ``root``; return the record.

    Before anything is deleted, an intent (the rows about to go, counted) is written durably to
    ``PENDING``; the record is appended to ``AUDIT`` when the run completes and the intent removed.
    A run killed in between leaves its intent: the next run for the entity completes the erasure
    and its record counts the rows the killed run had deleted. Runs are serialised by a lock on
    the store, so two erasures never rewrite a table's history at once.

    Args:
        root: The store's folder.
        value: The entity's stored key, e.g. a location key.
        column: The column naming the entity in every table.
        purge_history: Also end time travel and compact the online file (see the module docstring).
        dry_run: Count what would go; change nothing and write no audit record.
    """
    root = Path(root)
    if not root.exists():
        raise LookupError(f"no store at {root}")
    if dry_run:
        return {
            **_erase(root, column, value, purge_history, dry_run=True),
            "residual_files": _residual(root, value),
        }
    with store_lock(root, "forget"):
        entity = entity_hash(value, column)
        intents = [json.loads(p.read_text()) for p in pending_erasures(root)]
        intents = [i for i in intents if i["entity"]["id"] == entity]
        planned = _erase(root, column, value, purge_history, dry_run=True)
        run = uuid.uuid4().hex
        intent = {**planned, "run": run, "dry_run": False, "status": "started"}
        _write_durably(root / PENDING / f"{run}.json", json.dumps(intent, sort_keys=True))
        record = _erase(root, column, value, purge_history, dry_run=False)
        record["run"] = run
        if intents:
            _merge_interrupted(record, intents)
        record["residual_files"] = _residual(root, value)
        _write_durably(root / AUDIT, json.dumps(record, sort_keys=True) + "\n", mode="a")
        for done in [intent, *intents]:
            (root / PENDING / f"{done['run']}.json").unlink(missing_ok=True)
    return record
