"""Re-runs and retries add no rows: the same window twice, and a Modal-style retry after a crash.

A scheduled run that is retried (Modal retries a failed function; a person re-runs a window)
must converge on the same table contents as one clean run: upserts on primary key + event time.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest
from local_hopsworks import LocalProject
from local_hopsworks.maintenance import resync_online
from support import (
    TODAY,
    Writer,
    assert_online_matches_offline,
    location_settings,
    sorted_rows,
    store_state,
)

from {{ cookiecutter.package_name }} import cli
from {{ cookiecutter.package_name }}.catalog import feature_groups
from {{ cookiecutter.package_name }}.pipelines import feature
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource

KEYS = ["location", "date"]


def contents(root: Path) -> dict[str, pd.DataFrame]:
    """Every group's rows (versions ignored): what a clean run and a retried run must agree on."""
    return {name: state["rows"] for name, state in store_state(root).items()}


def assert_no_duplicates(root: Path) -> None:
    fs = LocalProject(root).get_feature_store()
    for fg in feature_groups(fs):
        rows = fg.read()
        assert not rows.duplicated(subset=KEYS).any(), f"{fg.name} has duplicate (location, date) rows"
        resync_online(fg)  # what the next reader (init_serving) or write does after a crash
        assert_online_matches_offline(fg)


def test_the_same_window_twice_changes_nothing(tmp_path: Path) -> None:
    settings = location_settings(tmp_path / "store")
    source = SyntheticSource(today=TODAY)
    feature.run(settings, today=TODAY, source=source)
    once = contents(settings.store_dir)
    start = TODAY - dt.timedelta(days=20)
    feature.run(settings, start=start, end=TODAY, today=TODAY, source=source)
    feature.run(settings, start=start, end=TODAY, today=TODAY, source=source)
    twice = contents(settings.store_dir)
    assert once.keys() == twice.keys()
    for name in once:
        pd.testing.assert_frame_equal(once[name], twice[name])
    assert_no_duplicates(settings.store_dir)


@pytest.mark.parametrize("point", ["between-groups", "air-quality-online"])
def test_a_retry_after_a_crash_converges_on_one_clean_run(tmp_path: Path, point: str, monkeypatch) -> None:
    env = {"STORE_DIR": str(tmp_path / "store"), "BACKFILL_DAYS": "40", "DATA_SOURCE": "synthetic"}
    crashed = Writer(env["STORE_DIR"], "pipeline", point, env=env, cwd=tmp_path)
    assert crashed.wait_for("PAUSE") == f"PAUSE {point}"
    crashed.kill()  # the container dies mid-run

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no developer .env
    assert cli.main(["feature"]) == 0  # Modal's retry: the same command again

    monkeypatch.setenv("STORE_DIR", str(tmp_path / "clean"))
    assert cli.main(["feature"]) == 0  # what one uninterrupted run writes
    retried, clean = contents(tmp_path / "store"), contents(tmp_path / "clean")
    assert retried.keys() == clean.keys()
    for name in clean:
        keys = [c for c in KEYS if c in clean[name].columns]
        pd.testing.assert_frame_equal(sorted_rows(retried[name], keys), sorted_rows(clean[name], keys))
    assert_no_duplicates(tmp_path / "store")
    assert os.environ["STORE_DIR"] == str(tmp_path / "clean")
