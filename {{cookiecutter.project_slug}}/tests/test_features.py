"""Tests of the feature functions on tiny hand-made frames with exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.catalog import feature_columns
from {{ cookiecutter.package_name }}.features.air_quality import (
    LAG_FEATURES,
    air_quality_features,
    calendar_features,
    lag_features_from_history,
)
from {{ cookiecutter.package_name }}.features.weather import (
    WEATHER_FEATURES,
    weather_features,
)

NAN = math.nan


def utc(*days: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(d, tz="UTC") for d in days]


def assert_same(actual: list[float], expected: list[float]) -> None:
    """Compare floats exactly enough, with NaN equal to NaN."""
    np.testing.assert_allclose(np.array(actual, dtype=float), np.array(expected, dtype=float), rtol=1e-12)


# ---------------------------------------------------------------------- weather


def raw_weather() -> pd.DataFrame:
    # Unsorted, naive timestamps (taken as UTC), one not at midnight, one row with a missing value.
    return pd.DataFrame(
        {
            "date": [
                pd.Timestamp("2024-01-03"),
                pd.Timestamp("2024-01-01 00:00"),
                pd.Timestamp("2024-01-02 12:30"),
            ],
            "temperature_2m_mean": [1.5, -2.0, 0.0],
            "precipitation_sum": [0.0, 3.2, NAN],
            "wind_speed_10m_max": [10, 20, 30],
            "wind_direction_10m_dominant": [90.0, 0.0, 180.0],
            "extra": ["x", "y", "z"],
        }
    )


def test_weather_features_exact_values() -> None:
    raw = raw_weather()
    before = raw.copy()

    out = weather_features(raw, "stockholm")

    pd.testing.assert_frame_equal(raw, before)  # pure: input untouched
    assert list(out.columns) == ["location", "date", *WEATHER_FEATURES, "wind_dir_sin", "wind_dir_cos"]
    assert str(out["date"].dtype) == "datetime64[ns, UTC]"
    assert out["date"].tolist() == utc("2024-01-01", "2024-01-02", "2024-01-03")
    assert out["location"].tolist() == ["stockholm"] * 3
    assert all(str(out[c].dtype) == "float64" for c in [*WEATHER_FEATURES, "wind_dir_sin", "wind_dir_cos"])
    assert out["temperature_2m_mean"].tolist() == [-2.0, 0.0, 1.5]
    assert_same(out["precipitation_sum"].tolist(), [3.2, NAN, 0.0])  # NaN kept, row kept
    assert out["wind_speed_10m_max"].tolist() == [20.0, 30.0, 10.0]
    assert_same(out["wind_dir_sin"].round(12).tolist(), [0.0, 0.0, 1.0])
    assert_same(out["wind_dir_cos"].round(12).tolist(), [1.0, -1.0, 0.0])


def test_weather_features_keep_nan_direction_and_accept_utc_dates() -> None:
    raw = raw_weather()
    raw["date"] = raw["date"].dt.tz_localize("UTC")
    raw.loc[0, "wind_direction_10m_dominant"] = NAN
    out = weather_features(raw, "x")
    assert len(out) == 3
    assert math.isnan(out.loc[2, "wind_dir_sin"]) and math.isnan(out.loc[2, "wind_dir_cos"])


def test_weather_features_name_missing_columns() -> None:
    raw = raw_weather().drop(columns=["precipitation_sum", "wind_speed_10m_max"])
    with pytest.raises(ValueError, match="precipitation_sum, wind_speed_10m_max"):
        weather_features(raw, "x")


def test_weather_features_reject_duplicate_days() -> None:
    raw = raw_weather()
    raw.loc[2, "date"] = pd.Timestamp("2024-01-03 06:00")
    with pytest.raises(ValueError, match="2024-01-03"):
        weather_features(raw, "x")


# ---------------------------------------------------------------------- air quality

# January 2024 with day 4 missing; pm25 equals the day of the month.
GAP_DAYS = [1, 2, 3, 5, 6, 7, 8, 9, 10]
EXPECTED = {
    # day: (lag_1, lag_2, roll_mean_7)
    1: (NAN, NAN, NAN),
    2: (1.0, NAN, NAN),
    3: (2.0, 1.0, NAN),
    5: (NAN, 3.0, NAN),  # day 4 absent: no lag_1, and only 3 days in the previous week
    6: (5.0, NAN, (1 + 2 + 3 + 5) / 4),  # exactly 4 days in the window
    7: (6.0, 5.0, (1 + 2 + 3 + 5 + 6) / 5),
    8: (7.0, 6.0, (1 + 2 + 3 + 5 + 6 + 7) / 6),  # window is days 1..7, not day 8 itself
    9: (8.0, 7.0, (2 + 3 + 5 + 6 + 7 + 8) / 6),
    10: (9.0, 8.0, (3 + 5 + 6 + 7 + 8 + 9) / 6),
}


def gap_frame() -> pd.DataFrame:
    days = list(reversed(GAP_DAYS))  # unsorted on purpose
    return pd.DataFrame(
        {"date": [pd.Timestamp(2024, 1, d, tz="UTC") for d in days], "pm25": [float(d) for d in days]}
    )


def test_air_quality_features_use_calendar_days() -> None:
    daily = gap_frame()
    before = daily.copy()

    out = air_quality_features(daily, "stockholm")

    pd.testing.assert_frame_equal(daily, before)
    assert list(out.columns) == ["location", "date", "pm25", *LAG_FEATURES]
    assert "day_of_week" not in out.columns
    assert str(out["date"].dtype) == "datetime64[ns, UTC]"
    assert all(str(out[c].dtype) == "float64" for c in ["pm25", *LAG_FEATURES])
    assert out["location"].tolist() == ["stockholm"] * len(GAP_DAYS)
    assert out["date"].tolist() == [pd.Timestamp(2024, 1, d, tz="UTC") for d in GAP_DAYS]
    assert out["pm25"].tolist() == [float(d) for d in GAP_DAYS]
    for name, position in zip(LAG_FEATURES, range(3), strict=True):
        assert_same(out[name].tolist(), [EXPECTED[d][position] for d in GAP_DAYS])


def test_air_quality_features_treat_nan_as_absent() -> None:
    daily = gap_frame()
    daily.loc[daily["pm25"] == 7.0, "pm25"] = NAN
    out = air_quality_features(daily, "x").set_index("date")
    day8 = out.loc[pd.Timestamp("2024-01-08", tz="UTC")]
    assert math.isnan(day8["pm25_lag_1"])
    assert day8["pm25_lag_2"] == 6.0
    assert day8["pm25_roll_mean_7"] == pytest.approx((1 + 2 + 3 + 5 + 6) / 5)
    assert math.isnan(out.loc[pd.Timestamp("2024-01-07", tz="UTC"), "pm25"])  # the row itself stays


def test_air_quality_features_validate_input() -> None:
    with pytest.raises(ValueError, match="pm25"):
        air_quality_features(pd.DataFrame({"date": utc("2024-01-01")}), "x")
    duplicated = pd.DataFrame({"date": utc("2024-01-01", "2024-01-01"), "pm25": [1.0, 2.0]})
    with pytest.raises(ValueError, match="2024-01-01"):
        air_quality_features(duplicated, "x")
    empty = air_quality_features(pd.DataFrame({"date": pd.to_datetime([], utc=True), "pm25": []}), "x")
    assert empty.empty and list(empty.columns) == ["location", "date", "pm25", *LAG_FEATURES]


def test_lag_features_from_history_exact_values() -> None:
    history = pd.Series([float(d) for d in range(1, 8)], index=pd.date_range("2024-01-01", "2024-01-07"))
    assert lag_features_from_history(history) == {
        "pm25_lag_1": 7.0,
        "pm25_lag_2": 6.0,
        "pm25_roll_mean_7": 4.0,
    }
    # Recursive forecasting: append the prediction for day 8 and ask for day 9.
    history[pd.Timestamp("2024-01-08")] = 10.0
    assert lag_features_from_history(history) == {
        "pm25_lag_1": 10.0,
        "pm25_lag_2": 7.0,
        "pm25_roll_mean_7": (2 + 3 + 4 + 5 + 6 + 7 + 10) / 7,
    }


def test_lag_features_from_history_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        lag_features_from_history(pd.Series([], dtype="float64"))
    empty = lag_features_from_history(
        pd.Series([], dtype="float64"), target=pd.Timestamp("2024-01-01", tz="UTC")
    )
    assert all(math.isnan(v) for v in empty.values())
    # Only three of the last seven days: too few for the weekly mean.
    short = pd.Series([1.0, 2.0, 3.0], index=pd.DatetimeIndex(utc("2024-01-01", "2024-01-02", "2024-01-03")))
    assert_same(list(lag_features_from_history(short).values()), [3.0, 2.0, NAN])


def assert_agree(daily: pd.DataFrame) -> None:
    """Check both lag implementations give the same values on every row of ``daily``."""
    frame = air_quality_features(daily, "x")
    series = pd.Series(frame["pm25"].to_numpy(), index=pd.DatetimeIndex(frame["date"]))
    for _, row in frame.iterrows():
        history = series[series.index < row["date"]]
        from_history = lag_features_from_history(history, target=row["date"])
        assert_same([from_history[n] for n in LAG_FEATURES], [row[n] for n in LAG_FEATURES])
        if len(history) and history.index[-1] == row["date"] - pd.Timedelta(days=1):
            assert lag_features_from_history(history) == pytest.approx(from_history, nan_ok=True)


def test_lag_implementations_agree_on_every_row() -> None:
    assert_agree(gap_frame())


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.one_of(st.none(), st.floats(0.5, 500, allow_nan=False))),
        min_size=1,
        max_size=40,
    )
)
def test_lag_implementations_agree_on_random_gappy_series(days: list[tuple[bool, float | None]]) -> None:
    dates = pd.date_range("2023-12-25", periods=len(days), freq="D", tz="UTC")
    kept = [(d, NAN if v is None else v) for d, (present, v) in zip(dates, days, strict=True) if present]
    if not kept:
        return
    daily = pd.DataFrame({"date": [d for d, _ in kept], "pm25": [v for _, v in kept]})
    assert_agree(daily)


# ---------------------------------------------------------------------- calendar


def test_calendar_features() -> None:
    df = pd.DataFrame({"date": utc("2024-01-01", "2024-12-31", "2023-03-05"), "pm25": [1.0, 2.0, 3.0]})
    before = df.copy()

    out = calendar_features(df)

    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == ["date", "pm25", "day_of_week", "day_of_year"]
    assert out["day_of_week"].tolist() == [0.0, 1.0, 6.0]  # Monday, Tuesday, Sunday
    assert out["day_of_year"].tolist() == [1.0, 366.0, 64.0]  # 2024 is a leap year
    assert str(out["day_of_week"].dtype) == "float64" and str(out["day_of_year"].dtype) == "float64"
    with pytest.raises(ValueError, match="date"):
        calendar_features(pd.DataFrame({"day": [1]}))


def test_model_inputs_leave_out_keys_and_the_qualified_keys_hsfs_adds():
    # With primary_key=True hsfs returns joined groups' keys as <project>_<group>_<version>_<key>.
    columns = ["location", "date", "temperature_2m_mean", "pm25_lag_1", "demo_air_quality_1_location"]
    frame = pd.DataFrame(columns=[*columns, "demo_air_quality_1_date", "my_project_weather_2_date"])
    assert feature_columns(frame) == ["temperature_2m_mean", "pm25_lag_1"]
