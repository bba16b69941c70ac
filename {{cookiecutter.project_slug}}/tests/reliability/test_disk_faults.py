"""A full disk or a read-only store folder: a clear error, nothing half-written, the store still readable.

How the faults are made, honestly and without root-only tricks such as loop devices:

- Disk full while Delta writes: the writer process runs with ``RLIMIT_FSIZE`` (64 KiB), so the
  kernel refuses the data file mid-write (EFBIG, "File too large") exactly as a full disk refuses
  it (ENOSPC); both reach the store as an OS error from the Rust writer.
- Disk full while SQLite writes: the online step fails with SQLite's own "database or disk is
  full" inside its transaction, after the offline commit (injected: SQLite would need a full
  filesystem to say it by itself).
- Read-only folder: the store tree is made read-only (``chmod a-w``). Root ignores file modes, so
  when the tests run as root the writer process drops the capabilities that let it do so
  (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) from its bounding set before it starts
  (``prctl(PR_CAPBSET_DROP)``); the test first checks that the writer really cannot write.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import support
from local_hopsworks.feature_group import StoreWriteError
from local_hopsworks.online import OnlineStore
from support import assert_online_matches_offline, assert_same_state, events, events_group, store_state

PR_CAPBSET_DROP = 24
FILE_OVERRIDES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def run_writer(root: Path, preexec: Callable[[], None]) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(support.SRC), os.environ.get("PYTHONPATH", "")])}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, support.__file__, str(root), "disk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,  # only a resource limit or a capability drop, before exec
        check=False,
    )
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[-1] for line in done.stdout.splitlines() if line}
    lines["exit"] = str(done.returncode)
    lines["stderr"] = done.stderr[-3000:]
    return lines


def seeded(root: Path) -> dict:
    fg = events_group(root)
    fg.insert(events(range(50), 0))
    return store_state(root)


def test_disk_full_during_the_offline_write(tmp_path: Path) -> None:
    root = tmp_path / "store"
    before = seeded(root)

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    out = run_writer(root, limit_file_size)
    assert out["exit"] == "3", out
    assert out["READ"] == "50"
    error = out["ERROR"]
    assert error.startswith("StoreWriteError: events v1: the store folder"), error
    assert (
        "file size limit reached" in error
        and "nothing was written (the table is still at version 0)" in error
    )
    assert_same_state(before, store_state(root))
    fg = events_group(root)
    fg.insert(support.big_batch(300, 1))  # with room again, the same write succeeds
    assert len(fg.read()) == 300 and set(fg.read()["a"]) == {1.0}
    assert_online_matches_offline(fg)


def test_disk_full_during_the_online_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "store"
    seeded(root)
    fg = events_group(root)
    original = OnlineStore._upsert

    def fills_the_disk(self, con, *args, **kwargs):
        original(self, con, *args, **kwargs)  # rows applied inside the transaction, then the disk is full
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(OnlineStore, "_upsert", fills_the_disk)
    with pytest.raises(StoreWriteError) as caught:
        fg.insert(events(range(50), 1))
    message = str(caught.value)
    assert "disk full" in message and "the offline table was written (version 1)" in message
    assert "catches up" in message
    monkeypatch.undo()
    assert set(fg.read()["a"]) == {1.0}
    assert set(support.online_rows(fg)["a"]) == {0.0}, "the failed online transaction must roll back whole"
    fs = support.LocalProject(root).get_feature_store()
    fs.get_or_create_feature_view(name="events_view", version=1, query=fg.select_all()).init_serving()
    assert_online_matches_offline(fg)


def _drop_file_overrides() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in FILE_OVERRIDES:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def _chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~bits))


def test_read_only_store_folder(tmp_path: Path) -> None:
    root = tmp_path / "store"
    before = seeded(root)
    _chmod_tree(root, writable=False)
    try:
        preexec = _drop_file_overrides if os.geteuid() == 0 else (lambda: None)
        try:
            out = run_writer(root, preexec)
        except subprocess.SubprocessError as exc:  # prctl refused: this machine cannot drop root's override
            pytest.skip(f"cannot make the folder read-only for a root process here: {exc}")
        assert out.get("PROBE") == "refused 13", f"the writer could still write the folder: {out}"
        assert out["READ"] == "50", "a read-only store must stay readable"
        error = out["ERROR"]
        assert error.startswith("StoreWriteError: events v1: the store folder"), error
        assert "permission denied" in error and "nothing was written" in error
    finally:
        _chmod_tree(root, writable=True)
    assert_same_state(before, store_state(root))
    fg = events_group(root)
    fg.insert(events(range(50), 2))  # writable again: the next run succeeds
    assert set(fg.read()["a"]) == {2.0}
    assert_online_matches_offline(fg)
