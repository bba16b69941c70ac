"""Runs at once and runs killed: feature runs that overlap, erasures that race or die half-way.

Counts: 6 rounds of two overlapping feature runs (the issue saw 3 of 5 rounds store wrong lags;
six rounds would miss a 60 % failure rate with probability 0.4 %; the code before the store lock
failed 6 of 6 here); 4 rounds of two concurrent ``forget --purge-history`` (before the lock: 4 of
4 died with a raw Delta error); one SIGKILL at each of 4 points of an erasure (before the intent
record: 3 of the 4 points undercounted).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from local_hopsworks import LocalProject, erasure
from support import OTHER, SRC, location_settings

from {{ cookiecutter.package_name }}.catalog import feature_groups, location_rows
from {{ cookiecutter.package_name }}.features.air_quality import LAG_FEATURES, air_quality_features
from {{ cookiecutter.package_name }}.pipelines import feature
from {{ cookiecutter.package_name }}.settings import location_key

PACKAGE = "{{ cookiecutter.package_name }}"
ROUNDS_FEATURE = 6
ROUNDS_PURGE = 4


def _env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PYTHONDONTWRITEBYTECODE": "1",
        "STORE_DIR": str(root),
        "DATA_SOURCE": "synthetic",
    }


def _start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", PACKAGE, *args],
        env=_env(root),
        cwd=root.parent,  # never a developer's .env
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_lags_match_observations(root: Path) -> None:
    """Fail unless every stored lag equals the lag recomputed from the stored observations."""
    settings = location_settings(root)
    _, air_quality = feature_groups(LocalProject(root).get_feature_store())
    stored = location_rows(air_quality, settings.location.key)
    expected = air_quality_features(stored[["date", "pm25"]], settings.location.key)
    assert len(stored) == len(expected) > 0
    wrong = []
    for name in LAG_FEATURES:
        for day, have, want in zip(stored["date"], stored[name], expected[name], strict=True):
            same = (math.isnan(have) and math.isnan(want)) or math.isclose(have, want, rel_tol=1e-12)
            if not same:
                wrong.append((day.date().isoformat(), name, have, want))
    assert wrong == [], f"{len(wrong)} stored lag(s) differ from the observations, e.g. {wrong[:5]}"


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def test_a_backfill_recomputes_the_lags_that_depend_on_it(tmp_path: Path) -> None:
    """Today the days after a backfilled range kept the NaN lags computed before their history existed."""
    root, today = tmp_path / "store", _today()
    settings = location_settings(root)
    feature.run(settings, start=today - dt.timedelta(days=20), end=today, today=today)
    feature.run(settings, start=today - dt.timedelta(days=45), end=today - dt.timedelta(days=21), today=today)
    assert_lags_match_observations(root)


@pytest.mark.heavy
@pytest.mark.parametrize("round_", range(ROUNDS_FEATURE))
def test_overlapping_feature_runs_store_the_lags_of_the_observations(tmp_path: Path, round_: int) -> None:
    """Two feature runs over overlapping ranges, started together: one writer at a time (a store lock).

    Today 3 rounds of 5 stored NaN or short-window lags computed before the other run's history.
    """
    root, today = tmp_path / "store", _today()
    days = dt.timedelta
    feature.run(location_settings(root), start=today - days(70), end=today - days(55), today=today)
    early = ["feature", "--start", str(today - days(45)), "--end", str(today - days(20))]
    late = ["feature", "--start", str(today - days(25)), "--end", str(today)]
    runs = [_start(root, *args) for args in ((early, late) if round_ % 2 else (late, early))]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
    assert_lags_match_observations(root)


@pytest.mark.heavy
@pytest.mark.parametrize("round_", range(ROUNDS_PURGE))
def test_concurrent_purges_never_die(two_locations: Path, tmp_path: Path, round_: int) -> None:
    """Two ``forget --purge-history`` at once: serialised by a store lock, both complete.

    Today they sometimes died with a raw CommitFailedError.
    """
    root = tmp_path / "store"
    shutil.copytree(two_locations, root)
    planned = erasure.forget(root, location_key(OTHER["location_name"]), dry_run=True)["rows"]
    runs = [_start(root, "forget", OTHER["location_name"], "--purge-history") for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0 and "CommitFailedError" not in err, err[-2000:]
    records = [json.loads(line) for line in (root / erasure.AUDIT).read_text().splitlines()]
    assert len(records) == 2 and sum(r["rows"] for r in records) == planned


CHILD = """
import sys, time
from local_hopsworks.feature_group import FeatureGroup
from {package} import cli
from local_hopsworks import erasure

point = sys.argv[1]

def pause():
    print("PAUSE " + point, flush=True)
    time.sleep(120)
    raise SystemExit("not killed")

remove_rows, purge, compact = FeatureGroup.remove_rows, erasure.purge_table_history, erasure.compact_online

def removing(self, *args, **kwargs):
    if point == "before-first-delete":
        pause()
    out = remove_rows(self, *args, **kwargs)
    if point == "after-first-delete":
        pause()
    return out

def purging(*args, **kwargs):
    if point == "before-purge":
        pause()
    return purge(*args, **kwargs)

def compacting(*args, **kwargs):
    out = compact(*args, **kwargs)
    if point == "before-record":
        pause()
    return out

FeatureGroup.remove_rows, erasure.purge_table_history, erasure.compact_online = removing, purging, compacting
sys.exit(cli.main(["forget", sys.argv[2], "--purge-history"]))
""".replace("{package}", PACKAGE)
KILL_POINTS = ["before-first-delete", "after-first-delete", "before-purge", "before-record"]


@pytest.mark.heavy
@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_during_an_erasure_never_undercounts_it(
    two_locations: Path, tmp_path: Path, point: str
) -> None:
    """Kill ``forget --purge-history`` at ``point``; the rerun's audit record counts every row erased.

    Today the killed run left no record and the rerun's said 0 rows (or only those it found left).
    """
    root = tmp_path / "store"
    shutil.copytree(two_locations, root)
    planned = erasure.forget(root, location_key(OTHER["location_name"]), dry_run=True)["rows"]
    assert planned > 0
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, point, OTHER["location_name"]],
        env=_env(root),
        cwd=root.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline() if child.stdout else ""
    if line.strip() != f"PAUSE {point}":
        child.kill()
        raise AssertionError(f"the erasure never reached {point}: {line!r} {child.stderr.read()[-2000:]}")
    child.kill()
    child.wait(30)
    record = erasure.forget(root, location_key(OTHER["location_name"]), purge_history=True)
    assert record["rows"] == planned
    (line,) = (root / erasure.AUDIT).read_text().splitlines()
    assert json.loads(line)["rows"] == planned
    assert not list((root / erasure.PENDING).glob("*.json")), "the interrupted run's intent is completed"
