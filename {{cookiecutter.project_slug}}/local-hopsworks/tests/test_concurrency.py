"""Several processes at once: writers lose no rows, readers never fail or see half an insert."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pandas as pd

from local_hopsworks import LocalProject

BATCH = 20


def _group(root: Path):
    fs = LocalProject(root).get_feature_store()
    return fs.get_or_create_feature_group(
        name="events", version=1, primary_key=["writer", "seq"], event_time="t", online_enabled=True
    )


def _batch(writer: int, batch: int) -> pd.DataFrame:
    seq = range(batch * BATCH, (batch + 1) * BATCH)
    return pd.DataFrame(
        {
            "writer": writer,
            "seq": list(seq),
            "t": pd.Timestamp("2024-01-01", tz="UTC"),
            "batch": batch,
        }
    )


def _write(root: str, writer: int, batches: int) -> None:
    fg = _group(Path(root))
    for batch in range(batches):
        fg.insert(_batch(writer, batch))


def _read(root: str, stop, deadline: float, results: mp.Queue) -> None:
    fg = _group(Path(root))
    reads = torn = errors = 0
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            df = fg.read()
        except Exception as exc:  # any reader failure is what this test looks for
            errors += 1
            results.put(("error", repr(exc)))
            continue
        reads += 1
        if not df.empty and (df.groupby(["writer", "batch"]).size() != BATCH).any():
            torn += 1
    results.put(("done", reads, torn, errors))


def test_two_writers_lose_no_rows_and_readers_see_whole_inserts(tmp_path):
    root = tmp_path / "store"
    _group(root).insert(_batch(0, 0))  # create the table first, so both writers merge
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    deadline = time.monotonic() + 120  # a bound in case the writers hang
    readers = [ctx.Process(target=_read, args=(str(root), stop, deadline, results)) for _ in range(2)]
    writers = [ctx.Process(target=_write, args=(str(root), w, 8)) for w in (1, 2)]
    for p in readers + writers:
        p.start()
    for p in writers:
        p.join(120)
        assert p.exitcode == 0
    stop.set()
    for p in readers:
        p.join(90)
    outcomes = [results.get(timeout=10) for _ in readers]
    assert all(o[0] == "done" for o in outcomes), outcomes
    assert sum(o[1] for o in outcomes) > 0
    assert sum(o[2] for o in outcomes) == 0, "a reader saw half an insert"
    assert sum(o[3] for o in outcomes) == 0
    df = _group(root).read()
    assert len(df) == BATCH * (1 + 2 * 8)
    assert not df.duplicated(subset=["writer", "seq"]).any()
