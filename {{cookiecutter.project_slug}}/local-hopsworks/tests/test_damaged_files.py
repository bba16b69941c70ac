"""Damaged store files: a clear error naming the table or file, never an empty table or a raw traceback.

Corrupt-file kinds tried: Delta log folder deleted, first commit deleted, last commit truncated,
overwritten with garbage, emptied; online SQLite file truncated, its header overwritten, pages
overwritten in the middle. Refused first inserts: two names differing in case, in case and space,
a backtick, a tab, an empty name.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from local_hopsworks import LocalProject
from local_hopsworks.health import deep_check, online_problems, repair_online
from local_hopsworks.maintenance import offline_table, store_folder
from local_hopsworks.offline import TableDamagedError
from local_hopsworks.schema import SchemaError

ROWS = 3000


def _group(project: LocalProject):
    fs = project.get_feature_store()
    return fs, fs.get_or_create_feature_group(
        "events", 1, primary_key=["k"], event_time="t", online_enabled=True
    )


def _rows(keys: range, value: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "k": list(keys),
            "t": pd.Timestamp("2024-01-01", tz="UTC"),
            "x": [value + k for k in keys],
        }
    )


def _filled(project: LocalProject):
    fs, fg = _group(project)
    for batch in range(3):
        fg.insert(_rows(range(batch * 1000, (batch + 1) * 1000), float(batch)))
    return fs, fg


def _log(fg) -> Path:
    return offline_table(fg).path / "_delta_log"


def _data_files(fg) -> set[str]:
    return {p.name for p in offline_table(fg).path.glob("*.parquet")}


def test_a_missing_delta_log_is_an_error_naming_the_table_not_an_empty_table(project: LocalProject) -> None:
    """Today the group read as empty and the next insert started a new table over the old files."""
    _, fg = _filled(project)
    files = _data_files(fg)
    shutil.rmtree(_log(fg))
    again = LocalProject(store_folder(project)).get_feature_store().get_feature_group("events", 1)
    with pytest.raises(TableDamagedError, match=r"feature group events v1: the Delta table at .*offline"):
        again.read()
    with pytest.raises(TableDamagedError, match="_delta_log"):
        again.insert(_rows(range(5), 9.0))
    assert not _log(fg).exists(), "no new table was started over the old data files"
    assert _data_files(fg) == files


def _truncate(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a commit\n{")


def _empty(path: Path) -> None:
    path.write_text("")


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty], ids=["truncated", "garbage", "emptied"])
@pytest.mark.parametrize("commit", ["first", "last"])
def test_an_unreadable_commit_is_an_error_naming_the_table(
    project: LocalProject, damage, commit: str
) -> None:
    """Today: a raw DeltaError naming no table (an emptied last commit even read without its rows)."""
    _, fg = _filled(project)
    commits = sorted(_log(fg).glob("*.json"))
    damage(commits[0] if commit == "first" else commits[-1])
    again = LocalProject(store_folder(project)).get_feature_store().get_feature_group("events", 1)
    for action in (again.read, lambda: again.insert(_rows(range(5), 9.0))):
        with pytest.raises(TableDamagedError, match=r"feature group events v1: the Delta table at .*damaged"):
            action()
    findings = deep_check(store_folder(project))
    assert any(f.path.parent == _log(fg) or f.path == offline_table(fg).path for f in findings), findings


def test_a_deleted_first_commit_is_an_error_naming_the_table(project: LocalProject) -> None:
    _, fg = _filled(project)
    sorted(_log(fg).glob("*.json"))[0].unlink()
    again = LocalProject(store_folder(project)).get_feature_store().get_feature_group("events", 1)
    with pytest.raises(TableDamagedError, match="feature group events v1"):
        again.read()


# ------------------------------------------------------------------------------------- online SQLite


def _checkpointed(root: Path) -> Path:
    path = root / "online.sqlite"
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


def _sqlite_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _sqlite_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:100] = bytes(range(100))
    path.write_bytes(bytes(data))


def _sqlite_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 3, len(data), 4096 * 4):
        data[offset : offset + 256] = b"\xa5" * 256
    path.write_bytes(bytes(data))


SQLITE_DAMAGE = pytest.mark.parametrize(
    "damage", [_sqlite_truncate, _sqlite_header, _sqlite_pages], ids=["truncated", "header", "pages"]
)


def _online_matches_offline(fs, fg) -> None:
    fv = fs.get_or_create_feature_view("events_view", version=1, query=fg.select_all())
    fv.init_serving()
    expected = fg.read().set_index("k")["x"]
    keys = [0, 999, 1500, 2999]
    vectors = fv.get_feature_vectors(serving_keys=[{"k": k} for k in keys], return_type="pandas")
    assert vectors["x"].tolist() == [expected[k] for k in keys]


@SQLITE_DAMAGE
def test_a_damaged_online_file_is_detected_and_rebuilt_by_repair_online(
    project: LocalProject, damage
) -> None:
    """Today a corrupt file went unnoticed (check passed) or raised a raw sqlite3.DatabaseError."""
    _filled(project)
    damage(_checkpointed(store_folder(project)))
    fs = LocalProject(store_folder(project)).get_feature_store()
    assert online_problems(fs), "the damage is detected"
    assert any("online.sqlite" in f.line() for f in deep_check(store_folder(project)))
    outcome = repair_online(fs)
    assert outcome["damaged"] is True and outcome["tables"] == ["events_1"]
    assert Path(outcome["moved_to"]).exists(), "the damaged file is kept for inspection"
    assert online_problems(fs) == []
    _online_matches_offline(fs, fs.get_feature_group("events", 1))
    assert deep_check(store_folder(project)) == []


@SQLITE_DAMAGE
def test_the_next_insert_rebuilds_a_damaged_online_file(project: LocalProject, damage) -> None:
    _filled(project)
    damage(_checkpointed(store_folder(project)))
    fs = LocalProject(store_folder(project)).get_feature_store()
    fg = fs.get_feature_group("events", 1)
    fg.insert(_rows(range(3000, 3010), 7.0))
    assert online_problems(fs) == []
    _online_matches_offline(fs, fg)


@SQLITE_DAMAGE
def test_init_serving_rebuilds_a_damaged_online_file(project: LocalProject, damage) -> None:
    """A reader opening the store (the UI, inference) meets the damage at init_serving and rebuilds it."""
    _filled(project)
    damage(_checkpointed(store_folder(project)))
    fs = LocalProject(store_folder(project)).get_feature_store()
    _online_matches_offline(fs, fs.get_feature_group("events", 1))
    assert online_problems(fs) == []


def test_repair_online_of_a_sound_file_changes_nothing(project: LocalProject) -> None:
    fs, _ = _filled(project)
    assert repair_online(fs) == {"damaged": False, "moved_to": None, "tables": []}


# ------------------------------------------------------------------------------------ refused inserts


@pytest.mark.parametrize(
    "columns",
    [["x", "X"], ["a b", "a_B"], ["a`b"], ["a\tb"], [""]],
    ids=["case", "case-and-space", "backtick", "tab", "empty"],
)
def test_a_refused_first_insert_changes_nothing(project: LocalProject, columns: list[str]) -> None:
    """Today the refused schema stayed in the metadata (every later insert failed), or a backtick
    was accepted once and broke every later upsert."""
    fs, fg = _group(project)
    meta = store_folder(project) / "feature_groups" / "events_1" / "fg.json"
    before = json.loads(meta.read_text())
    bad = pd.DataFrame({"k": [1], "t": [pd.Timestamp("2024-01-01", tz="UTC")]})
    for j, column in enumerate(columns):
        bad[column] = [float(j)]
    with pytest.raises(SchemaError, match="events v1"):
        fg.insert(bad)
    assert json.loads(meta.read_text()) == before
    assert not _log(fg).exists(), "nothing was committed"
    again = fs.get_feature_group("events", 1)
    assert again.features == []
    again.insert(_rows(range(3), 1.0))
    again.insert(_rows(range(2, 5), 2.0))  # an upsert: the merge works on the valid schema
    assert sorted(again.read()["k"]) == [0, 1, 2, 3, 4]


def test_a_refused_first_insert_leaves_no_lock_or_side_file(project: LocalProject) -> None:
    """The refusal happens before any file is written: the group folder holds only its metadata."""
    _, fg = _group(project)
    with pytest.raises(SchemaError):
        fg.insert(pd.DataFrame({"k": [1], "t": [pd.Timestamp("2024-01-01", tz="UTC")], "x": [1], "X": [2]}))
    assert sorted(os.listdir(store_folder(project) / "feature_groups" / "events_1")) == ["fg.json"]


LOCK_HOLDER = """
import sys, time
from local_hopsworks.locks import store_lock
with store_lock(sys.argv[1], "feature-pipeline"):
    print("HELD", flush=True)
    time.sleep(120)
"""


@pytest.mark.heavy
def test_a_store_lock_is_exclusive_and_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    """The lock the feature pipeline and erasures take: a second holder waits; SIGKILL releases it."""
    import fcntl
    import signal
    import subprocess
    import sys

    from local_hopsworks.locks import lock_path, store_lock

    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
        with lock_path(tmp_path, "feature-pipeline").open("rb") as handle, pytest.raises(BlockingIOError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the other process
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        with store_lock(tmp_path, "feature-pipeline"):  # would wait for ever if the kill kept it
            pass
    finally:
        holder.kill()
        holder.wait(30)
