"""Online/offline parity: a feature vector equals the offline row of its key, raw and as the model sees it.

Two groups shaped like the project's (primary key [location, date], event time date, online
enabled) are filled with several locations and days, in batches that arrive out of order and
correct earlier rows. For every key, ``get_feature_vector`` must equal

- the same key's row of ``get_batch_data(primary_key=True, event_time=True)`` restricted to the
  model columns (what the model sees in batch scoring), and
- built from the latest offline row of each group for that key (what was written).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from local_hopsworks import LocalProject

KEYS = ["location", "date"]
LOCATIONS = ["stockholm", "göteborg", "malmö"]
FIRST_DAY = pd.Timestamp("2024-03-01", tz="UTC")
DAYS = 14
SPLIT_DAY = FIRST_DAY + pd.Timedelta(days=10)
WEATHER = ["temperature_2m_mean", "precipitation_sum", "wind_speed_10m_max"]
LABEL = "pm25"
LAGS = ["pm25_lag_1", "pm25_lag_2"]


# ---------------------------------------------------------------------------------------------------------
# PARAMETRIZATION POINT for transformation functions. Each case is a factory called inside the
# test: it returns the ``transformation_functions`` argument of ``get_or_create_feature_view`` for
# the given view shape (None: no transformations). Add cases here as transformations land, e.g.
#
#     def _scalers(shape: str) -> list[Any]:
#         from local_hopsworks.transformations import min_max_scaler
#         column = "temperature_2m_mean" if shape == "weather-left" else "w_temperature_2m_mean"
#         return [min_max_scaler(column)]
#
#     TRANSFORMATIONS.append(pytest.param(_scalers, id="min-max-scaler"))
#
# The assertions below need no change: they compare whatever get_batch_data and
# get_feature_vector return (transformed), and the raw vector (transform=False) with the raw
# offline rows (transformed=False columns).
# ---------------------------------------------------------------------------------------------------------
def _scalers(shape: str) -> list[Any]:
    from local_hopsworks.transformations import min_max_scaler, standard_scaler

    prefix = "" if shape == "weather-left" else "w_"
    return [min_max_scaler(f"{prefix}temperature_2m_mean"), standard_scaler(f"{prefix}wind_speed_10m_max")]


TRANSFORMATIONS: list[Any] = [
    pytest.param(lambda shape: None, id="no-transformations"),
    pytest.param(_scalers, id="scalers"),
]
SHAPES = ["weather-left", "air-quality-left"]


def _days(indices: list[int]) -> list[pd.Timestamp]:
    return [FIRST_DAY + pd.Timedelta(days=i) for i in indices]


def _weather_rows(rng: np.random.Generator, location: str, days: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"location": location, "date": _days(days)})
    for name in WEATHER:
        values = rng.normal(10.0, 5.0, len(days)).round(3)
        values[rng.random(len(days)) < 0.1] = np.nan  # a sensor gap now and then
        frame[name] = values
    return frame


def _air_quality_rows(rng: np.random.Generator, location: str, days: list[int]) -> pd.DataFrame:
    pm25 = pd.Series(rng.gamma(2.0, 6.0, DAYS).round(2), index=range(DAYS))
    return pd.DataFrame(
        {
            "location": location,
            "date": _days(days),
            LABEL: [pm25[d] for d in days],
            LAGS[0]: [pm25[d - 1] if d >= 1 else np.nan for d in days],
            LAGS[1]: [pm25[d - 2] if d >= 2 else np.nan for d in days],
        }
    )


def _fill(fs: Any, seed: int) -> tuple[Any, Any]:
    """Create and fill both groups: newest days first, then a backfill of older days, then corrections."""
    rng = np.random.default_rng(seed)
    groups = {}
    for name in ("weather", "air_quality"):
        groups[name] = fs.get_or_create_feature_group(
            name=name, version=1, primary_key=KEYS, event_time="date", online_enabled=True
        )
    for location in LOCATIONS:
        # Each location misses a few days in each group, not the same ones.
        weather_days = sorted(rng.choice(DAYS, size=DAYS - 2, replace=False).tolist())
        aq_days = sorted(rng.choice(DAYS, size=DAYS - 3, replace=False).tolist())
        for name, rows in (
            ("weather", _weather_rows(rng, location, weather_days)),
            ("air_quality", _air_quality_rows(rng, location, aq_days)),
        ):
            half = len(rows) // 2
            groups[name].insert(rows.iloc[half:])  # recent days first
            groups[name].insert(rows.iloc[:half])  # then a late backfill of older days
    # Corrections: re-inserting a (location, date) updates it offline and online.
    correction = _weather_rows(rng, LOCATIONS[0], [5, 12]).assign(temperature_2m_mean=[-40.0, 40.0])
    groups["weather"].insert(correction)
    return groups["weather"], groups["air_quality"]


def _view(fs: Any, weather: Any, air_quality: Any, shape: str, transformations: Any) -> Any:
    if shape == "weather-left":  # the project's feature view
        query = weather.select_all().join(air_quality.select([LABEL, *LAGS]), on=KEYS)
    else:
        query = air_quality.select_all().join(weather.select(WEATHER), on=KEYS, prefix="w_")
    kwargs = {"transformation_functions": transformations} if transformations else {}
    return fs.get_or_create_feature_view(name="parity", version=1, query=query, labels=[LABEL], **kwargs)


def _same(a: Any, b: Any) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    if pd.isna(a) or pd.isna(b):
        return False
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-12))
    return a == b


def _assert_same_row(got: pd.Series, expected: pd.Series, what: str) -> None:
    assert list(got.index) == list(expected.index), what
    differ = {c: (got[c], expected[c]) for c in got.index if not _same(got[c], expected[c])}
    assert not differ, f"{what}: (vector, expected) differ in {differ}"


def _latest_offline(rows: pd.DataFrame, location: str, date: pd.Timestamp) -> pd.Series | None:
    """Return the latest offline row (``fg.read()``) for the key, by event time (None if there is none)."""
    rows = rows[(rows["location"] == location) & (rows["date"] == date)].sort_values("date")
    return None if rows.empty else rows.iloc[-1]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("transformations", TRANSFORMATIONS)
def test_feature_vectors_equal_batch_data_and_offline_rows(
    tmp_path: Any, shape: str, transformations: Callable[[str], Any]
) -> None:
    fs = LocalProject(tmp_path / "store").get_feature_store()
    weather, air_quality = _fill(fs, seed=7)
    fv = _view(fs, weather, air_quality, shape, transformations(shape))
    version, _ = fv.create_train_test_split(train_end=SPLIT_DAY, test_start=SPLIT_DAY)
    fv.init_batch_scoring(version)
    fv.init_serving(version)

    batch = fv.get_batch_data(primary_key=True, event_time=True)
    model_columns = list(fv.get_batch_data().columns)
    raw_columns = list(fv.get_batch_data(transformed=False).columns)
    left, right = (weather, air_quality) if shape == "weather-left" else (air_quality, weather)
    # hsfs adds the joined group's keys too, under qualified names <project>_<group>_<version>_<key>.
    joined_keys = [f"local_{right.name}_{right.version}_{k}" for k in KEYS]
    assert LABEL not in model_columns and not set(KEYS) & set(model_columns)
    assert set(batch.columns) == {*KEYS, *model_columns, *joined_keys}
    assert [c for c in batch.columns if c not in KEYS and c not in joined_keys] == model_columns
    assert not batch.duplicated(KEYS).any()
    assert str(batch["date"].dtype) == "datetime64[us, UTC]"

    left_rows, right_rows = left.read(), right.read()
    right_prefix = "" if shape == "weather-left" else "w_"
    checked = missing_joined = 0
    for location in [*LOCATIONS, "nowhere"]:
        for date in _days(list(range(-1, DAYS + 1))):
            key = {"location": location, "date": date}
            vector = fv.get_feature_vector(key, return_type="pandas", allow_missing=True)
            assert list(vector.columns) == model_columns
            got = vector.iloc[0]
            in_batch = batch[(batch["location"] == location) & (batch["date"] == date)]
            left_row = _latest_offline(left_rows, location, date)
            if left_row is None:
                # No offline row: no batch row, and an all-null vector (a KeyError without allow_missing).
                assert in_batch.empty, key
                assert got.isna().all(), key
                with pytest.raises(KeyError):
                    fv.get_feature_vector(key)
                continue
            assert len(in_batch) == 1, key
            _assert_same_row(got, in_batch.iloc[0][model_columns], f"vector vs batch row for {key}")

            # Raw values: the vector without transformations is made of the latest offline rows.
            raw = fv.get_feature_vector(key, return_type="pandas", allow_missing=True, transform=False)
            assert list(raw.columns) == raw_columns
            right_row = _latest_offline(right_rows, location, date)
            missing_joined += right_row is None
            expected = {}
            for column in raw_columns:
                if column in left_row.index:
                    expected[column] = left_row[column]
                else:
                    name = column[len(right_prefix) :]
                    expected[column] = np.nan if right_row is None else right_row[name]
            _assert_same_row(
                raw.iloc[0], pd.Series(expected)[raw_columns], f"vector vs offline rows for {key}"
            )
            checked += 1
    # The data must exercise both cases: keys with and without a joined row.
    assert checked > 20 and missing_joined > 0, (checked, missing_joined)


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(lambda d: d, id="utc-timestamp"),
        pytest.param(lambda d: d.strftime("%Y-%m-%d"), id="date-string"),
        pytest.param(lambda d: d.date(), id="datetime.date"),
        pytest.param(lambda d: d.tz_localize(None), id="naive-timestamp"),
        pytest.param(lambda d: d.tz_convert("Europe/Stockholm"), id="stockholm-time"),
        pytest.param(lambda d: d.tz_convert("America/New_York").to_pydatetime(), id="new-york-datetime"),
    ],
)
def test_serving_key_dates_mean_the_same_instant_in_any_form(tmp_path: Any, written: Callable) -> None:
    fs = LocalProject(tmp_path / "store").get_feature_store()
    weather, air_quality = _fill(fs, seed=11)
    fv = _view(fs, weather, air_quality, "weather-left", None)
    fv.init_serving()
    batch = fv.get_batch_data(primary_key=True, event_time=True)
    model_columns = list(fv.get_batch_data().columns)
    for _, row in batch.sample(8, random_state=0).iterrows():
        date = row["date"]
        assert isinstance(date, pd.Timestamp)
        vector = fv.get_feature_vector(
            {"location": row["location"], "date": written(date)}, return_type="pandas", allow_missing=True
        )
        _assert_same_row(vector.iloc[0], row[model_columns], f"{row['location']} {written(date)!r}")
