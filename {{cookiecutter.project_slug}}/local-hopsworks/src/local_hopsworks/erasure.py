"""Erasure helpers of the embedded store: rewrite files without an entity, end time travel, compact SQLite.

``remove_rows`` deletes rows from the current version of a table, but older Delta versions (data
files and the commit log, whose file statistics hold min/max values) and freed SQLite pages still
hold them. ``purge_table_history`` and ``compact_online`` remove those copies, so nothing can bring
deleted rows back. Both are for an operator's erasure run (``forget --purge-history``): schedules
should be paused while they run, because they end time travel to every older table version.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

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
    from .feature_group import write_json_atomic

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
