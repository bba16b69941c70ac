"""One writer and several readers at once (pipeline, UI, inference): no reader error, no torn read.

The writer rewrites every row in each commit with a new generation ``g``, and every column of a
row derives from it (``a = g``, ``b = "g<g>"``, ``c = 2g``). A reader that saw half a commit would
find two generations in one offline snapshot; one that saw half a row would find columns that
disagree; one that went back in time would see a generation drop. Three reader processes read the
way the UI and an inference run do (the offline table, a feature view's batch data, online
feature vectors) for as long as the writer writes.

The run is bounded by operation counts, not by the clock: the writer writes until it made
MIN_WRITES commits and every reader read MIN_READS times, so a slow machine takes longer but
reaches the same verdict. HANG_TIMEOUT_S only stops a run that hangs.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pandas as pd
from local_hopsworks import LocalProject
from support import events, events_group

KEYS = 40
MIN_WRITES = 100
MIN_READS = 50  # by each reader, while the writer writes
MAX_WRITES = 2000  # a reader that stalls fails the test instead of keeping the writer going
HANG_TIMEOUT_S = 600  # stops a hung process; never reached by a run that works
KINDS = ["ui", "inference", "online"]


def view(root: Path) -> Any:
    fs = LocalProject(root).get_feature_store()
    fg = events_group(root)
    return fs.get_or_create_feature_view(name="events_view", version=1, query=fg.select_all())


def problems_in(frame: pd.DataFrame, whole_commit: bool) -> list[str]:
    """Return what is wrong with a read: missing rows, torn rows or (offline) a torn commit."""
    out = []
    if len(frame) != KEYS:
        out.append(f"{len(frame)} rows instead of {KEYS}")
    g = frame["a"]
    if not ((frame["b"] == "g" + g.astype("int64").astype(str)).all() and (frame["c"] == 2 * g).all()):
        out.append("a row whose columns come from different writes")
    if whole_commit and g.nunique() > 1:
        out.append(f"rows of {g.nunique()} different commits in one snapshot")
    return out


def read(kind: str, root: str, ready: Any, done: Any, counts: Any, results: Any) -> None:
    folder = Path(root)
    fv = view(folder)
    fg = events_group(folder)
    if kind == "online":
        fv.init_serving()
    keys = [{"k": k} for k in range(KEYS)]
    reads, errors, problems = 0, [], []
    newest = pd.Series(-1.0, index=range(KEYS))
    signalled = False
    slot = KINDS.index(kind)
    while True:
        finished = done.is_set()  # the read after the writer's last commit is the last one
        try:
            if kind == "ui":
                frame = fg.read()
            elif kind == "inference":
                frame = fv.get_batch_data(primary_key=True, event_time=True)
            else:
                frame = fv.get_feature_vectors(serving_keys=keys, return_type="pandas")
                frame["k"] = range(KEYS)
        except Exception as exc:  # any failure of a reader is what this test looks for
            errors.append(f"{type(exc).__name__}: {exc}")
            if finished or len(errors) >= MIN_READS:  # a reader that only fails stops: the test fails
                break
            continue
        reads += 1
        with counts.get_lock():
            counts[slot] += 1
        found = problems_in(frame, whole_commit=kind != "online")
        generations = frame.set_index("k")["a"].reindex(range(KEYS))
        if (generations < newest).any():
            found.append("a generation went backwards")
        newest = generations.combine(newest, max)
        problems += [f"{kind} read {reads}: {p}" for p in found]
        if not signalled:
            ready.release()
            signalled = True
        if finished:
            break
    if not signalled:
        ready.release()  # the writer starts anyway, and the errors reported below fail the test
    results.put((kind, reads, errors[:5], len(errors), problems[:5], len(problems), float(newest.min())))


def write(root: str, ready: Any, counts: Any, results: Any) -> None:
    """Write until MIN_WRITES commits are made and every reader read MIN_READS times."""
    fg = events_group(Path(root))
    for _ in KINDS:
        ready.acquire(timeout=HANG_TIMEOUT_S)  # start once every reader reads
    generation = 0
    while generation < MAX_WRITES:
        generation += 1
        fg.insert(events(range(KEYS), generation))
        if generation >= MIN_WRITES and min(counts[:]) >= MIN_READS:
            break
    results.put(("writer", generation))


def test_one_writer_and_three_readers(tmp_path: Path) -> None:
    root = tmp_path / "store"
    events_group(root).insert(events(range(KEYS), 0))
    view(root)
    ctx = mp.get_context("spawn")
    ready, done, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    counts = ctx.Array("i", len(KINDS))
    readers = [
        ctx.Process(target=read, args=(kind, str(root), ready, done, counts, results)) for kind in KINDS
    ]
    writer = ctx.Process(target=write, args=(str(root), ready, counts, results))
    for process in [*readers, writer]:
        process.start()
    writer.join(HANG_TIMEOUT_S)
    done.set()
    for process in readers:
        process.join(HANG_TIMEOUT_S)
    assert writer.exitcode == 0, f"the writer failed or hung (exit code {writer.exitcode})"
    assert [p.exitcode for p in readers] == [0] * len(readers), "a reader failed or hung"
    outcomes = {}
    for _ in range(len(readers) + 1):
        item = results.get(timeout=HANG_TIMEOUT_S)
        outcomes[item[0]] = item[1:]
    (writes,) = outcomes.pop("writer")
    assert MIN_WRITES <= writes < MAX_WRITES, f"the writer stopped after {writes} writes"
    for kind, (reads, errors, n_errors, problems, n_problems, newest) in outcomes.items():
        assert n_errors == 0, f"{kind}: {n_errors} reader errors, e.g. {errors}"
        assert n_problems == 0, f"{kind}: {n_problems} bad reads, e.g. {problems}"
        assert reads >= MIN_READS, f"{kind} read only {reads} times while {writes} writes were made"
        assert newest == writes, f"{kind} never saw the last write (saw {newest} of {writes})"
