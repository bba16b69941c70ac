"""Offline storage: one Delta Lake table per feature group version.

Delta writes data files first and the log entry last, so a crash leaves the
table at its last committed version and readers never see half an insert.
Merges and deletes from concurrent writers can conflict; they are retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from .row_order import order_rows

T = TypeVar("T")
MAX_ATTEMPTS = 30
SCAN = ds.ParquetFragmentScanOptions(pre_buffer=False)
COMPACT_AT_FILES = 32
# Compaction writes as inserts do: delta-rs' optimize would use ZSTD, half as fast to read here.
REWRITE = WriterProperties(compression="SNAPPY")
UTC_MICROS = pd.DatetimeTZDtype("us", "UTC")  # the one timestamp dtype reads return
UTC_MICROS_ARROW = pa.timestamp("us", tz="UTC")
# Compacted file size. Each file costs a read about 1 ms of CPU (open, footer, scan tasks): files of
# 16 MiB made a year of daily appends 10% slower to read than one insert (benchmarks.md). An upsert
# rewrites the files holding the rows it matches, then mostly the whole table (resort): the daily
# history's inserts took as long with 128 MiB files as with 16 MiB.
FILE_BYTES = 128 << 20


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def key_predicate(keys: list[str]) -> str:
    """Return the merge predicate matching target ``t`` and source ``s`` on ``keys``."""
    return " AND ".join(f"t.{_quoted(k)} = s.{_quoted(k)}" for k in keys)


class TableDamagedError(RuntimeError):
    """A Delta table's commit log is missing, unreadable or empty while its data files remain."""


def _data_files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*.parquet") if "_delta_log" not in p.parts] if path.exists() else []


def compact(table: DeltaTable, sort_by: str | None) -> None:
    """Rewrite the files once ``COMPACT_AT_FILES`` are small: each append or merge adds one or two.

    Every file costs a read time, and so does every log entry: a year of daily inserts would
    make a training-data read several times slower. With an event time, the files are rewritten
    sorted on it (delta-rs z-order on one column: a sort) in files of ``FILE_BYTES``, each a
    stretch of time, so reads need no sort (see row_order); without one, small files are merged
    in place. A checkpoint then shortens the log. The compaction commits a version of its own
    with the same rows; old files stay for time travel. A concurrent writer wins: compaction is
    skipped until the next insert.
    """
    sizes = pa.table(table.get_add_actions(flatten=True)).column("size_bytes").to_numpy()
    if int((sizes < FILE_BYTES // 2).sum()) < COMPACT_AT_FILES:
        return
    try:
        if sort_by:
            table.optimize.z_order([sort_by], target_size=FILE_BYTES, writer_properties=REWRITE)
        else:
            table.optimize.compact(target_size=FILE_BYTES, writer_properties=REWRITE)
        table.create_checkpoint()
    except CommitFailedError:
        return


def _file_paths(table: DeltaTable) -> set[str]:
    """Return the table's data files, relative to its folder, as the log names them."""
    return set(pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist())


def _appended_in_order(table: DeltaTable, root: Path, before: set[str], sort_by: str) -> bool:
    """Return whether the files a merge added are sorted and come after all older rows in time.

    Daily appends do; a backfill, a correction (the merge rewrites the files it updates, in its
    own order) or a batch larger than one of the merge's output batches do not.
    """
    stats = pa.table(table.get_add_actions(flatten=True))
    paths = stats.column("path").to_pylist()
    added = [p for p in paths if p not in before]
    if not before or not added:
        return True
    files = ds.dataset([str(root / unquote(p)) for p in added], format="parquet")
    times = files.to_table(columns=[sort_by]).column(sort_by).cast(pa.int64()).to_numpy()
    if times.size and (np.diff(times) < 0).any():
        return False
    if f"max.{sort_by}" not in stats.column_names:
        return True  # a table written without statistics: reads sort where needed
    # The older rows' latest time, from the log's file statistics (no data read).
    latest = pc.max(
        stats.filter(pc.is_in(stats.column("path"), pa.array(sorted(before)))).column(f"max.{sort_by}")
    )
    if not times.size or not latest.is_valid:
        return True
    return int(times[0]) >= pc.cast(latest, pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py()


def resort(table: DeltaTable, sort_by: str) -> None:
    """Rewrite the table sorted on ``sort_by`` (z-order on one column), so reads need no sort.

    Its cost is a rewrite of the whole table: the price of a write into the past (see
    benchmarks.md). A concurrent writer wins: the reads sort until the next compaction.
    """
    try:
        table.optimize.z_order([sort_by], target_size=FILE_BYTES, writer_properties=REWRITE)
        table.create_checkpoint()
    except CommitFailedError:
        return


class OfflineTable:
    """A Delta table at ``path`` with retrying upsert, delete and versioned reads.

    ``label`` names the table in errors (e.g. "feature group weather v1").
    """

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or f"table {path}"

    def exists(self) -> bool:
        """Return whether the table has at least one commit."""
        return DeltaTable.is_deltatable(str(self.path))

    def damaged(self, what: str, cause: BaseException | None = None) -> TableDamagedError:
        """Return the error saying this table is damaged, naming it, its folder and what is wrong."""
        detail = f": {str(cause).splitlines()[0]}" if cause is not None else ""
        return TableDamagedError(
            f"{self.label}: the Delta table at {self.path} is damaged ({what}{detail}). Nothing was read "
            "or written. Restore the folder from a backup; if its data can be fetched again, move the "
            "folder away and re-run the backfill."
        )

    def open(self, version: int | None = None) -> DeltaTable | None:
        """Return the table at ``version`` (latest when None), or None if it has no commit yet.

        Raises:
            TableDamagedError: If the commit log is gone while data files remain (an empty table
                would be a lie: the next write would start a new table over them), or a commit
                file is unreadable or empty.
        """
        try:
            table = DeltaTable(str(self.path), version=version)
        except TableNotFoundError as exc:
            if version is not None and self.open() is not None:
                return None  # that version's commits are gone (a purge ended time travel): nothing to read
            remaining = _data_files(self.path)
            if remaining:
                raise self.damaged(f"no readable _delta_log, {len(remaining)} data file(s) remain") from exc
            return None
        except DeltaError as exc:
            if version is not None:
                self.open()  # raises if the log itself is damaged; else only this version is not there
                raise
            raise self.damaged("its _delta_log cannot be read", exc) from exc
        latest = self.path / "_delta_log" / f"{table.version():020d}.json"
        if latest.exists() and latest.stat().st_size == 0:
            raise self.damaged(f"commit file {latest.name} is empty")
        return table

    def version(self) -> int | None:
        """Return the latest committed version, or None for an empty table."""
        table = self.open()
        return None if table is None else table.version()

    def version_at(self, when: pd.Timestamp) -> int | None:
        """Return the latest version committed at or before ``when`` (None if none was)."""
        table = self.open()
        if table is None:
            return None
        best = None
        for entry in table.history():
            committed = pd.Timestamp(entry["timestamp"], unit="ms", tz="UTC")
            if committed <= when and (best is None or entry["version"] > best):
                best = entry["version"]
        return best

    def _retry(self, action: Callable[[], T]) -> T:
        for attempt in range(MAX_ATTEMPTS):
            try:
                return action()
            except CommitFailedError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                # Another writer committed first: back off with jitter and merge again.
                time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
            except DeltaError as exc:
                # Two first writers can race to create the log; the loser retries as a merge.
                if "already exists" not in str(exc) or attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def upsert(self, data: pa.Table, keys: list[str], sort_by: str | None = None) -> int:
        """Insert rows, replacing rows whose ``keys`` match; return the new version.

        ``sort_by`` (the event time) is the column compaction sorts the table on.
        """

        def attempt() -> int:
            table = self.open()
            if table is None:
                write_deltalake(str(self.path), data, mode="error")
                return DeltaTable(str(self.path)).version()
            compact(table, sort_by)  # before the merge, so that the merge's version stays the latest
            before = _file_paths(table)
            # The batch is in memory already: merging it unstreamed keeps its order in the files
            # written (sorted runs, see row_order) and lets the batch's time range skip files.
            table.merge(
                source=data,
                predicate=key_predicate(keys),
                source_alias="s",
                target_alias="t",
                streamed_exec=False,
            ).when_matched_update_all().when_not_matched_insert_all().execute()
            if sort_by and not _appended_in_order(table, self.path, before, sort_by):
                resort(table, sort_by)  # the insert's version is then the sorted one, same rows
            return table.version()

        return self._retry(attempt)

    def overwrite(self, data: pa.Table) -> int:
        """Replace the whole table content with ``data``; return the new version."""

        def attempt() -> int:
            write_deltalake(str(self.path), data, mode="overwrite")
            return DeltaTable(str(self.path)).version()

        return self._retry(attempt)

    def delete_keys(self, keys_data: pa.Table, keys: list[str]) -> tuple[int, int]:
        """Delete rows matching ``keys_data`` on ``keys``; return (new version, rows deleted)."""

        def attempt() -> tuple[int, int]:
            table = self.open()
            if table is None:
                return -1, 0
            metrics = (
                table.merge(
                    source=keys_data, predicate=key_predicate(keys), source_alias="s", target_alias="t"
                )
                .when_matched_delete()
                .execute()
            )
            return table.version(), int(metrics.get("num_target_rows_deleted", 0))

        return self._retry(attempt)

    def read(
        self,
        version: int | None = None,
        columns: list[str] | None = None,
        filter: ds.Expression | None = None,
        schema: pa.Schema | None = None,
        order_by: list[str] | None = None,
    ) -> pd.DataFrame:
        """Read the table (at ``version``) as pandas, with pushed-down columns and filter.

        ``order_by`` (the event time, then the primary key; all among ``columns``) sorts the rows:
        see ``row_order``.
        """
        table = self.open(version)
        if table is None:
            if schema is None:
                return pd.DataFrame(columns=columns or [])
            empty = schema.empty_table()
            return empty.select(columns).to_pandas() if columns else empty.to_pandas()
        # The table is a local folder: Arrow's own file system reads it about twice as fast as the
        # file system deltalake passes through Python (same files, same Delta semantics).
        local = pafs.SubTreeFileSystem(str(self.path.absolute()), pafs.LocalFileSystem())
        dataset = table.to_pyarrow_dataset(filesystem=local)
        # No release of Arrow's freed memory first: the scan reuses it, and returning it only to
        # fault it in again cost 5-7% of a training-data read, for 2% less peak memory.
        # Local files need no pre-buffering of whole column chunks: without it a scan needs about a
        # third of the transient memory. The table goes straight into the list: no name keeps it alive.
        holder = [dataset.to_table(columns=columns, filter=filter, fragment_scan_options=SCAN)]
        order = None
        if order_by:
            holder[0], order = order_rows(holder[0], order_by)
        return _normalise_owned(holder, order)

    def vacuum(self) -> list[str]:
        """Remove files no version newer than now needs: ends time travel to older versions."""
        table = self.open()
        if table is None:
            return []
        return table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)

    def info(self) -> dict[str, Any]:
        """Return the version and row count of the table."""
        table = self.open()
        if table is None:
            return {"version": None, "rows": 0}
        return {"version": table.version(), "rows": table.count()}


def normalise_frame(arrow: pa.Table) -> pd.DataFrame:
    """Convert Arrow to pandas with one dtype per feature type, whatever path the data took."""
    return _normalise(arrow.to_pandas(), arrow.schema)


def _utc_micros(arrow_type: pa.DataType) -> pd.DatetimeTZDtype | None:
    """Map UTC microsecond timestamps straight to ``_normalise``'s dtype (no second pass, no copy)."""
    return UTC_MICROS if arrow_type == UTC_MICROS_ARROW else None


def _normalise(df: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    for field in schema:
        if pa.types.is_timestamp(field.type):
            col = df[field.name]
            if col.dtype == UTC_MICROS and col.dt.tz is UTC_MICROS.tz:
                continue  # already what the conversion below gives: setting it again would copy it
            # copy=False: tz_convert/tz_localize already made a new column, set below (a copy).
            df[field.name] = (
                col.dt.tz_localize("UTC") if getattr(col.dt, "tz", None) is None else col.dt.tz_convert("UTC")
            ).astype("datetime64[us, UTC]", copy=False)
        elif (
            pa.types.is_string(field.type)
            or pa.types.is_large_string(field.type)
            or pa.types.is_string_view(field.type)
        ) and df[field.name].dtype != object:
            df[field.name] = df[field.name].astype(object)
    return df


def _normalise_owned(holder: list[pa.Table], order: np.ndarray | None = None) -> pd.DataFrame:
    """Do what ``normalise_frame`` does to the one table in ``holder`` (rows in ``order``), taking it over.

    The same conversion as ``Table.to_pandas()`` (for a table without pandas metadata and with
    unique column names), each Arrow column freed once converted: the whole table and the whole
    frame never coexist. Rows in order (the common case) go through Arrow's own conversion, on
    all cores, straight into consolidated blocks: ``self_destruct`` is safe as nothing else holds
    the table. Rows to reorder go column by column, each taken in ``order`` once.
    """
    arrow = holder.pop()  # the only reference left: dropping a column below frees it
    schema = arrow.schema
    names = schema.names
    if not names or len(set(names)) != len(names) or schema.metadata:
        arrow = arrow if order is None else arrow.take(pa.array(order))
        return _normalise(arrow.to_pandas(), schema)
    if order is None:
        # New, writable blocks, UTC times mapped to their dtype at once (no second copy): a 2M-row
        # group converts in about a third of the loop's time (benchmarks.md).
        frame = arrow.to_pandas(self_destruct=True, types_mapper=_utc_micros)
        del arrow
        return _normalise(frame, schema)
    pool = pa.default_memory_pool()
    index = pd.RangeIndex(arrow.num_rows)
    columns: dict[str, pd.Series] = {}
    for name in names:
        series = arrow.column(name).to_pandas()
        if order is not None:  # a new, writable column: each column is copied once more, not the table
            values = (
                series.to_numpy()[order] if isinstance(series.dtype, np.dtype) else series.array.take(order)
            )
            series = pd.Series(values, name=name, copy=False)
        elif isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
            values = series.to_numpy(copy=False)
            if not values.flags.writeable:  # Arrow lent its read-only memory: callers may write
                series = pd.Series(values.copy(), name=name)
        series.index = index
        columns[name] = series
        arrow = arrow.drop_columns([name])
        pool.release_unused()
    del arrow
    return _normalise(pd.DataFrame(columns, copy=False), schema)
