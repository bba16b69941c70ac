"""A writer killed with SIGKILL in the middle of an insert, an upsert or a delete loses nothing.

The writer is a separate process (``support.py``). It stops at a chosen point inside the write
and the test kills it there: before the offline commit, between the offline commit and the
online sync, and inside the online SQLite transaction. A second test kills a long sequence of
writes at arbitrary moments. Afterwards the table reads exactly as before or exactly as after
the interrupted write, the online store agrees with the offline table once a reader opens it
(``init_serving``), and the next write succeeds.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import support
from support import (
    ROWS_DEFAULT,
    Writer,
    assert_online_matches_offline,
    events,
    events_group,
    online_rows,
    operation,
    sorted_rows,
)

KEYS = ["k", "t"]
# Where the writer is killed, and which state the table must then show.
POINTS = {"before-offline": "before", "after-offline": "after", "in-online": "after"}
OPS = ["insert", "upsert", "delete"]


def seeded_store(root: Path, rows: int) -> pd.DataFrame:
    fg = events_group(root)
    fg.insert(events(range(rows), 0))
    return sorted_rows(fg.read(), KEYS)


def state_after(root: Path, op: str, rows: int) -> pd.DataFrame:
    """The table after the operation completes, computed on a scratch store."""
    seeded_store(root, rows)
    fg = events_group(root)
    operation(fg, op, 1, rows)
    return sorted_rows(fg.read(), KEYS)


def check_recovered(root: Path, allowed: dict[str, pd.DataFrame]) -> str:
    """Assert the offline table equals one allowed state and online agrees after a reader heals it."""
    fg = events_group(root)
    offline = sorted_rows(fg.read(), KEYS)
    matches = [name for name, frame in allowed.items() if offline.equals(frame)]
    assert matches, f"the table is in none of the states {sorted(allowed)}:\n{offline}"
    fs = support.LocalProject(root).get_feature_store()
    fv = fs.get_or_create_feature_view(name="events_view", version=1, query=fg.select_all())
    fv.init_serving()  # a reader (UI, inference) opening the store brings online up to offline
    assert_online_matches_offline(fg)
    return matches[0]


@pytest.mark.parametrize("op", OPS)
def test_sigkill_at_each_point_of_a_write(tmp_path: Path, op: str) -> None:
    rows = ROWS_DEFAULT
    before = seeded_store(tmp_path / "seed", rows)
    after = state_after(tmp_path / "scratch", op, rows)
    assert not before.equals(after)
    writers = {}
    for point in POINTS:  # one store per kill point, killed concurrently to keep the test short
        root = tmp_path / point
        shutil.copytree(tmp_path / "seed", root)
        writers[point] = (root, Writer(str(root), op, "1", str(rows), point))
    for point, (_, writer) in writers.items():
        assert writer.wait_for("PAUSE") == f"PAUSE {point}"
        writer.kill()
    for point, (root, _) in writers.items():
        fg = events_group(root)
        if point == "after-offline":
            # Killed between the two stores: online is one version behind until a reader or writer heals it.
            stale = sorted_rows(online_rows(fg), ["k"])
            assert stale.equals(sorted_rows(support.latest_per_key(before, ["k"], "t"), ["k"]))
        assert check_recovered(root, {"before": before, "after": after}) == POINTS[point], point
        # The next run (here: the same write again, as a retry would) succeeds and lands in "after".
        operation(fg, op, 1, rows)
        assert sorted_rows(fg.read(), KEYS).equals(after)
        assert_online_matches_offline(fg)


def test_sigkill_at_arbitrary_moments_of_many_writes(tmp_path: Path) -> None:
    """A sequence of inserts, upserts and deletes killed at three arbitrary delays."""
    rows, steps = ROWS_DEFAULT, 40
    scratch = tmp_path / "scratch"
    states = {0: seeded_store(scratch, rows)}
    fg = events_group(scratch)
    for step in range(1, steps + 1):
        operation(fg, support.sequence_op(step), step, rows)
        states[step] = sorted_rows(fg.read(), KEYS)
    delays = [0.1, 0.35, 0.7]  # after the writer's first write started
    writers = []
    for i in range(len(delays)):
        root = tmp_path / f"run{i}"
        seeded_store(root, rows)
        writers.append((root, Writer(str(root), "sequence", str(steps), str(rows))))
    kill_at = []
    for (_, writer), delay in zip(writers, delays, strict=True):
        writer.wait_for("START")
        kill_at.append((time.monotonic() + delay, writer))
    for when, writer in sorted(kill_at, key=lambda item: item[0]):
        time.sleep(max(0.0, when - time.monotonic()))
        writer.kill()
    reached = []
    for root, writer in writers:
        done = []
        while not writer.lines.empty():
            line = writer.lines.get()
            if line.startswith("STEP"):
                done.append(int(line.split()[1]))
        last = max(done, default=0)
        allowed = {str(last): states[last], str(last + 1): states[min(last + 1, steps)]}
        state = int(check_recovered(root, allowed))
        reached.append(state)
        fg = events_group(root)
        operation(fg, "upsert", steps + 1, rows)  # the next run succeeds
        assert_online_matches_offline(fg)
    assert max(reached) < steps, "the writer finished before it was killed: make the sequence longer"
