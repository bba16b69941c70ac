"""One writer and several readers at once (pipeline, UI, inference): no reader error, no torn read.

The writer rewrites every row in each commit with a new generation ``g``, and every column of a
row derives from it (``a = g``, ``b = "g<g>"``, ``c = 2g``). A reader that saw half a commit would
find two generations in one offline snapshot; one that saw half a row would find columns that
disagree; one that went back in time would see a generation drop. Three reader processes read the
way the UI and an inference run do (the offline table, a feature view's batch data, online
feature vectors) for as long as the writer writes.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import pandas as pd
from local_hopsworks import LocalProject
from support import events, events_group

KEYS = 40
MIN_WRITES = 100
TARGET_OPERATIONS = 3000  # reads and writes together
DEADLINE_S = 45  # the whole test stays under a minute even on a slow machine


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


def read(kind: str, root: str, ready: Any, done: Any, counter: Any, results: Any) -> None:
    folder = Path(root)
    fv = view(folder)
    fg = events_group(folder)
    if kind == "online":
        fv.init_serving()
    keys = [{"k": k} for k in range(KEYS)]
    reads, errors, problems = 0, [], []
    newest = pd.Series(-1.0, index=range(KEYS))
    deadline = time.monotonic() + DEADLINE_S
    signalled = False
    while time.monotonic() < deadline:
        finished = done.is_set()
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
            continue
        reads += 1
        with counter.get_lock():
            counter.value += 1
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
    results.put((kind, reads, errors[:5], len(errors), problems[:5], len(problems), float(newest.min())))


def write(root: str, ready: Any, readers: int, counter: Any, results: Any) -> None:
    """Write until there were enough operations (or the deadline): a bounded run, whatever the machine."""
    fg = events_group(Path(root))
    for _ in range(readers):
        ready.acquire(timeout=DEADLINE_S)  # start once every reader reads
    started = time.monotonic()
    generation = 0
    while time.monotonic() - started < DEADLINE_S - 10:
        generation += 1
        fg.insert(events(range(KEYS), generation))
        if generation >= MIN_WRITES and generation + counter.value >= TARGET_OPERATIONS:
            break
    results.put(("writer", generation, time.monotonic() - started))


def test_one_writer_and_three_readers(tmp_path: Path) -> None:
    root = tmp_path / "store"
    events_group(root).insert(events(range(KEYS), 0))
    view(root)
    ctx = mp.get_context("spawn")
    ready, done, results, counter = ctx.Semaphore(0), ctx.Event(), ctx.Queue(), ctx.Value("i", 0)
    kinds = ["ui", "inference", "online"]
    readers = [
        ctx.Process(target=read, args=(kind, str(root), ready, done, counter, results)) for kind in kinds
    ]
    writer = ctx.Process(target=write, args=(str(root), ready, len(readers), counter, results))
    for process in [*readers, writer]:
        process.start()
    writer.join(DEADLINE_S)
    assert writer.exitcode == 0, "the writer failed or hung"
    done.set()
    for process in readers:
        process.join(30)
        assert process.exitcode == 0
    outcomes = {}
    for _ in range(len(readers) + 1):
        item = results.get(timeout=10)
        outcomes[item[0]] = item[1:]
    writes, seconds = outcomes.pop("writer")
    assert writes >= MIN_WRITES
    for kind, (reads, errors, n_errors, problems, n_problems, newest) in outcomes.items():
        assert n_errors == 0, f"{kind}: {n_errors} reader errors, e.g. {errors}"
        assert n_problems == 0, f"{kind}: {n_problems} bad reads, e.g. {problems}"
        assert reads > 20, f"{kind} read only {reads} times"
        assert newest == writes, f"{kind} never saw the last write (saw {newest} of {writes})"
    operations = writes + sum(o[0] for o in outcomes.values())
    reads = {kind: o[0] for kind, o in outcomes.items()}
    assert operations >= TARGET_OPERATIONS, (
        f"only {operations} operations ({reads}) in {seconds:.1f} s of writing"
    )
