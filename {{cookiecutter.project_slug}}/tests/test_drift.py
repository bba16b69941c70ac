"""Feature drift compares like with like: the same season, no calendar features, a week against weeks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.lifecycle import aliases, monitoring
from {{ cookiecutter.package_name }}.pipelines import feature, training
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource
from {{ cookiecutter.package_name }}.store import connect

TODAY = dt.date(2025, 12, 1)
WEEKLY_CHECKS = 6


def days(start: str, count: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=count, freq="D", tz="UTC")


def test_same_season_keeps_the_days_of_the_year_around_the_recent_ones_across_new_year() -> None:
    reference = pd.DataFrame({"date": days("2024-01-01", 366), "x": 0.0})
    kept = monitoring.same_season(reference, days("2025-12-30", 3), days=5)
    day_of_year = set(kept["date"].dt.dayofyear)
    assert day_of_year == {*range(1, 7), *range(359, 367)}  # 25 Dec .. 6 Jan, across the new year


def test_typical_psi_is_the_largest_psi_of_a_week_of_the_reference() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"date": days("2024-01-01", 60), "x": rng.normal(size=60)})
    weeks = [monitoring.psi(reference["x"], reference["x"][i : i + 7], bins=5) for i in range(54)]
    assert monitoring.typical_psi(reference, "x", days=7, bins=5) == pytest.approx(max(weeks))
    gappy = reference.iloc[::2]  # no 7 consecutive days
    assert np.isnan(monitoring.typical_psi(gappy, "x", days=7, bins=5))


@pytest.mark.heavy  # two years of features and a training run
def test_simulated_data_shows_no_spurious_drift(tmp_path) -> None:
    """The simulator has seasons and no drift: weekly checks of the test period flag (almost) nothing.

    Against all of the training data, with calendar features, every week flagged day_of_year and
    most flagged temperature and the PM2.5 lags (5 of 11 features on the demo's data). A week of
    autocorrelated weather still strays by chance now and then: at most 2 of the 54 checks here.
    """
    settings = Settings(_env_file=None, store_dir=tmp_path / "store", data_source="synthetic")
    feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY))
    training.run(settings, today=TODAY)
    project = connect(settings)
    serving = aliases.load_serving(
        project.get_feature_store(), project.get_model_registry(), settings.model_name, record=False
    )
    flagged = []
    for week in range(WEEKLY_CHECKS):
        table, info = monitoring.feature_drift(
            serving.production,
            settings.location.key,
            TODAY - dt.timedelta(days=7 * week),
            settings.drift_bins,
            settings.drift_psi_threshold,
        )
        assert info["recent_rows"] == 7
        assert not set(table["feature"]) & monitoring.CALENDAR_FEATURES
        flagged += list(table.loc[table["drift"], "feature"])
    checks = WEEKLY_CHECKS * len(table)
    assert len(flagged) <= 2, f"{len(flagged)} of {checks} feature checks flagged drift: {flagged}"
