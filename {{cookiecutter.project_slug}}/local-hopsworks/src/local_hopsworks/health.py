"""A deep check of a store folder's files: what a crash, a full disk or a stray edit may have damaged.

``deep_check(root)`` reads every Delta commit log, the footer of every Parquet file the tables
reference, SQLite's ``integrity_check`` of the online file, the online rows against the latest
offline row per key, every model file against the sha256 recorded at registration, and lists
erasures that were interrupted (``erasure.forget`` completes them when run again). Each
problem is a ``Finding`` naming the file; an empty list means all of it is readable and agrees.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .erasure import pending_erasures
from .feature_group import FeatureGroup
from .feature_store import FeatureStore
from .offline import TableDamagedError
from .online import OnlineStoreDamagedError, from_sqlite_rows
from .registry import ModelIntegrityError, ModelRegistry

EXAMPLES = 3  # differing keys shown per online table


@dataclass(frozen=True)
class Finding:
    """One problem found in a store file."""

    path: Path
    problem: str

    def line(self) -> str:
        """Return the finding as one line: the file, then what is wrong with it."""
        return f"{self.path}: {self.problem}"


def _log_findings(log: Path) -> list[Finding]:
    findings = []
    for commit in sorted(log.glob("*.json")):
        text = commit.read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            findings.append(Finding(commit, "empty Delta commit file"))
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                json.loads(line)
            except ValueError as exc:
                findings.append(Finding(commit, f"Delta commit line {number} is not JSON ({exc})"))
                break
    return findings


def table_findings(fg: FeatureGroup) -> list[Finding]:
    """Return the problems of a feature group's Delta table: its log and its data files' footers."""
    path = fg._offline.path
    findings = _log_findings(path / "_delta_log") if (path / "_delta_log").exists() else []
    try:
        table = fg._offline.open()
    except TableDamagedError as exc:
        return [*findings, Finding(path, str(exc))]
    if table is None:
        return findings
    for uri in table.file_uris():
        file = Path(uri.removeprefix("file://"))
        if not file.exists():
            findings.append(Finding(file, f"missing: version {table.version()} of the table needs it"))
            continue
        try:
            pq.read_metadata(file)
        except (OSError, ValueError) as exc:
            findings.append(Finding(file, f"unreadable Parquet footer ({exc})"))
    return findings


def _canonical(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value


def online_findings(fs: FeatureStore, fg: FeatureGroup) -> list[Finding]:
    """Return how a group's online table differs from the latest offline row per primary key."""
    version = fg._offline.version()
    if version is None:
        return []
    online = fs._online
    synced = online.synced_version(fg._online_table)
    if synced is None or synced < version:
        return [
            Finding(
                online.path,
                f"online table {fg._online_table} reflects offline version {synced}, the table is at "
                f"{version}: it catches up on the next write; health.repair_online(fs, force=True) "
                "rebuilds it",
            )
        ]
    specs = fg._specs()
    names = ", ".join('"' + s.name.replace('"', '""') + '"' for s in specs)
    rows = online.connection().execute(f'SELECT {names} FROM "{fg._online_table}"').fetchall()  # noqa: S608
    actual = from_sqlite_rows(rows, specs)
    expected = fg._latest_per_key(fg._offline.read())
    columns = [s.name for s in specs]

    def by_key(frame: Any) -> dict[tuple, tuple]:
        records = frame[columns].to_dict("records")
        return {
            tuple(_canonical(r[k]) for k in fg.primary_key): tuple(_canonical(r[c]) for c in columns)
            for r in records
        }

    want, have = by_key(expected), by_key(actual)
    differing = sorted((k for k in want.keys() | have.keys() if want.get(k) != have.get(k)), key=str)
    if not differing:
        return []
    return [
        Finding(
            online.path,
            f"online table {fg._online_table}: {len(differing)} key(s) differ from the latest offline rows "
            f"(e.g. {differing[:EXAMPLES]}); `health.repair_online(fs, force=True)` rebuilds it",
        )
    ]


def model_findings(registry: ModelRegistry) -> list[Finding]:
    """Return unreadable metadata, unfinished versions and files differing from their sha256."""
    findings = []
    for folder in sorted(p for p in registry._root.glob("*/*") if p.is_dir() and p.name.isdigit()):
        meta_path = folder / "model.json"
        if not meta_path.exists():
            # A reserved folder beside a live partial save is a registration under way.
            if not any(folder.parent.glob(f".{folder.name}.partial-*")):  # else a save is under way
                findings.append(Finding(folder, "model version without model.json (an unfinished save)"))
            continue
        try:
            model = registry._load(folder.parent.name, int(folder.name))
        except ValueError as exc:
            findings.append(Finding(meta_path, f"unreadable model metadata ({exc})"))
            continue
        try:
            model._verify()  # type: ignore[union-attr]
        except ModelIntegrityError as exc:
            findings.append(Finding(folder / "files", str(exc)))
    return findings


def online_problems(fs: FeatureStore, full: bool = True) -> list[str]:
    """Return what SQLite's ``integrity_check`` (``quick_check`` unless ``full``) finds in the online file."""
    return fs._online.problems(full=full)


def repair_online(fs: FeatureStore, force: bool = False) -> dict[str, Any]:
    """Rebuild the online store from the offline tables (the truth) when its file is damaged, or ``force``.

    The damaged file is kept beside the new one; repairs are serialised by a lock on the store,
    and a writer that meets a damaged file runs this itself (``insert``, ``remove_rows``,
    ``init_serving``).

    Returns:
        ``{"damaged": bool, "moved_to": the kept file or None, "tables": [online tables rebuilt]}``.
    """
    return fs._repair_online(force=force)


def deep_check(root: Path) -> list[Finding]:
    """Return every problem found in the store folder ``root`` (empty when its files are sound)."""
    fs = FeatureStore(Path(root))
    findings: list[Finding] = []
    groups = []
    for meta in sorted((fs._root / "feature_groups").glob("*/fg.json")):
        try:
            groups.append(FeatureGroup(fs, json.loads(meta.read_text())))
        except ValueError as exc:
            findings.append(Finding(meta, f"unreadable feature group metadata ({exc})"))
    damaged_tables = set()
    for fg in groups:
        found = table_findings(fg)
        findings += found
        if found:
            damaged_tables.add(fg._key)
    sqlite_problems = fs._online.problems(full=True)
    findings += [Finding(fs._online.path, f"SQLite integrity_check: {p}") for p in sqlite_problems[:5]]
    if not sqlite_problems:
        for fg in groups:
            if fg.online_enabled and fg._meta.get("features") and fg._key not in damaged_tables:
                try:
                    findings += online_findings(fs, fg)
                except OnlineStoreDamagedError as exc:
                    findings.append(Finding(fs._online.path, str(exc)))
    findings += model_findings(ModelRegistry(fs._root / "models", fs))
    problem = "an erasure (forget) was interrupted: run the same forget command again"
    return findings + [Finding(intent, problem) for intent in pending_erasures(fs._root)]
