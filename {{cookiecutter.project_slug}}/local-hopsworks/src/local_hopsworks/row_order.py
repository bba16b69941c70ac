"""Rows in event-time order, then primary-key order, whatever order the files arrived in.

Inserts write each batch sorted (see ``FeatureGroup.insert``), so a table is made of sorted
runs: one per insert, or a few per upsert (a Delta merge writes its output in runs). Reads put
the runs back in order by moving Arrow batches, which copies nothing; only when runs overlap
(an upsert or a backfill inside an older time range) do the rows need a sort, and a stable
sort over sorted runs costs little more than one pass. The order is the same for the same
rows whatever the history of inserts, so training data do not depend on how they arrived.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_RUNS = 4096  # more runs than this: the rows are closer to random order, and a sort is cheaper


def read_order(event_time: str, primary_key: list[str]) -> list[str]:
    """Return the columns rows are ordered by: the event time, then the rest of the primary key."""
    return [event_time, *(k for k in primary_key if k != event_time)]


def order_rows(table: pa.Table, keys: list[str]) -> tuple[pa.Table, np.ndarray | None]:
    """Return ``table`` with its sorted runs in ``keys`` order, and the row order still needed (None: none).

    ``keys`` is the event time followed by the primary key columns; none holds nulls.
    """
    if table.num_rows < 2 or _strictly_increasing(table.column(keys[0])):
        return table, None
    times = _int64(table.column(keys[0]))
    step = np.diff(times)
    if not (step < 0).any():  # rows in time order, with ties: the keys decide
        ties = np.flatnonzero(step == 0)
        if not ties.size or len(keys) == 1 or _keys_ascending(table, keys[1:], ties, ties + 1):
            return table, None
    del step
    table, times = _runs_in_order(table, times)
    if _in_order(table, keys, times, None):
        return table, None
    order = np.argsort(times, kind="stable")  # timsort: about one pass over sorted runs
    if _in_order(table, keys, times, order):
        return table, order
    # Rows with equal event times are not in key order: sort on all keys (Arrow's sort is stable).
    indices = pc.sort_indices(table.select(keys), sort_keys=[(k, "ascending") for k in keys])
    return table, indices.to_numpy()


def _strictly_increasing(times: pa.ChunkedArray) -> bool:
    """Return whether every time is later than the one before (no ties: the keys need no look).

    The common case, checked on each chunk's own memory: copying the times into one array and
    taking their differences cost four times as much (2 ms a 2M-row group, benchmarks.md).
    """
    last = None
    for chunk in times.chunks:
        if not len(chunk):
            continue
        values = chunk.cast(pa.int64()).to_numpy(zero_copy_only=False)
        if (last is not None and values[0] <= last) or (values[1:] <= values[:-1]).any():
            return False
        last = values[-1]
    return True


def _int64(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy()


def _runs_in_order(table: pa.Table, times: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Put the table's sorted runs in order of their first time, when no two overlap (no data copied).

    A run is a stretch of rows whose times never decrease: a file, or part of one, written sorted.
    When runs overlap, the table is returned as it is, for one sort of all its rows: cheaper, as
    measured, than sorting only the overlapping runs and moving the rest as slices.
    """
    cuts = np.flatnonzero(np.diff(times) < 0) + 1
    if not cuts.size or cuts.size >= MAX_RUNS:
        return table, times
    # Files end runs too: files read one after the other may look like one run, spanning both.
    files = np.cumsum([batch.num_rows for batch in table.to_batches()])[:-1]
    cuts = np.union1d(cuts, files[files > 0])
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(times)]))
    order = np.argsort(times[starts], kind="stable")
    if (times[ends[order[:-1]] - 1] > times[starts[order[1:]]]).any():
        return table, times  # runs overlap: only a sort can interleave them
    table = pa.concat_tables([table.slice(starts[i], ends[i] - starts[i]) for i in order])
    return table, np.concatenate([times[starts[i] : ends[i]] for i in order])


def _in_order(table: pa.Table, keys: list[str], times: np.ndarray, order: np.ndarray | None) -> bool:
    """Return whether the rows (taken in ``order`` when given) are sorted on ``keys``."""
    ordered = times if order is None else times[order]
    step = np.diff(ordered)
    if (step < 0).any():
        return False
    ties = np.flatnonzero(step == 0)
    if not ties.size or len(keys) == 1:
        return True
    first, second = (ties, ties + 1) if order is None else (order[ties], order[ties + 1])
    return _keys_ascending(table, keys[1:], first, second)


def _keys_ascending(table: pa.Table, keys: list[str], first: np.ndarray, second: np.ndarray) -> bool:
    """Return whether each row of ``first`` comes at or before its row of ``second`` on ``keys``."""
    for key in keys:
        column = table.column(key)
        a, b = column.take(pa.array(first)), column.take(pa.array(second))
        if pc.any(pc.greater(a, b)).as_py():
            return False
        equal = pc.equal(a, b).to_numpy(zero_copy_only=False)
        first, second = first[equal], second[equal]
        if not first.size:
            return True
    return True
