"""The store objects the pipelines share: feature group and view names, versions, and how to read them."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

import pandas as pd

from .features import expectations
from .features.air_quality import lag_feature_names
from .store.protocols import FeatureGroup, FeatureStore, FeatureView

WEATHER_FG = "weather"
AIR_QUALITY_FG = "air_quality"
PREDICTIONS_FG = "predictions"
FEATURE_VIEW = "air_quality_weather"
FEATURES_VERSION = 1
# Feature version N is feature view N: air_quality vN joined with the weather version below.
# Weather did not change in v2, so every feature version reads (and the pipeline writes) weather v1.
WEATHER_VERSIONS = {1: 1, 2: 1}
KEYS = ["location", "date"]
LABEL = "pm25"


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return the model inputs of a training or batch frame: every column but keys and event times.

    With ``primary_key=True``/``event_time=True`` hsfs also returns the keys and event time of each
    joined group, under qualified names ``<project>_<group>_<version>_<key>``: keys too, never inputs.
    """
    groups = "|".join(re.escape(name) for name in (WEATHER_FG, AIR_QUALITY_FG))
    qualified = re.compile(rf".*_({groups})_\d+_({'|'.join(KEYS)})")
    return [c for c in frame.columns if c not in KEYS and not qualified.fullmatch(str(c))]


def utc_today() -> dt.date:
    """Return today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()


def day(value: dt.date) -> pd.Timestamp:
    """Return a date as a UTC midnight Timestamp."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def parse_date(text: str) -> dt.date:
    """Parse YYYY-MM-DD for argparse, with a clear message."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def feature_groups(fs: FeatureStore, version: int = FEATURES_VERSION) -> tuple[FeatureGroup, FeatureGroup]:
    """Return the weather and air-quality feature groups, creating them with their suites on first use.

    ``version`` is the feature version: ``air_quality`` v``version`` and the weather version it
    joins (``WEATHER_VERSIONS``).
    """
    weather = fs.get_or_create_feature_group(
        name=WEATHER_FG,
        version=WEATHER_VERSIONS.get(version, version),
        description="Daily weather per location: observed for past days, forecast for coming days",
        primary_key=KEYS,
        event_time="date",
        online_enabled=True,
        expectation_suite=expectations.suite_for(fs, WEATHER_FG),
    )
    air_quality = fs.get_or_create_feature_group(
        name=AIR_QUALITY_FG,
        version=version,
        description="Daily mean PM2.5 per location with lag features known at the start of the day",
        primary_key=KEYS,
        event_time="date",
        online_enabled=True,
        expectation_suite=expectations.suite_for(fs, AIR_QUALITY_FG, version),
    )
    return weather, air_quality


FEATURE_DESCRIPTIONS = {
    "location": "Location key (lowercase name)",
    "date": "Day (UTC midnight) the row describes",
    "temperature_2m_mean": "Mean air temperature at 2 m (°C)",
    "precipitation_sum": "Total precipitation (mm)",
    "wind_speed_10m_max": "Maximum wind speed at 10 m (km/h)",
    "wind_direction_10m_dominant": "Dominant wind direction at 10 m (degrees)",
    "wind_dir_sin": "Sine of the dominant wind direction",
    "wind_dir_cos": "Cosine of the dominant wind direction",
    "day_of_week": "Day of the week, 0 = Monday",
    "day_of_year": "Day of the year, 1 to 366",
    "pm25": "Daily mean PM2.5 (µg/m³), the label",
    "pm25_lag_1": "PM2.5 of the previous day",
    "pm25_lag_2": "PM2.5 two days before",
    "pm25_roll_mean_7": "Mean PM2.5 of the 7 days before (at least 4 observed)",
    "pm25_roll_max_7": "Maximum PM2.5 of the 7 days before (at least 4 observed)",
}


def describe_features(fg: FeatureGroup) -> None:
    """Set each feature's description where it differs; the same call on both backends."""
    for feature in fg.columns:  # not fg.features: deprecated on hsfs 5.2 (a warning on every call)
        wanted = FEATURE_DESCRIPTIONS.get(feature.name)
        if wanted and (feature.description or "") != wanted:
            fg.update_feature_description(feature.name, wanted)


def predictions_group(fs: FeatureStore) -> FeatureGroup:
    """Return the predictions feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name=PREDICTIONS_FG,
        version=1,
        description="PM2.5 predictions per location, target date, model version and horizon",
        primary_key=["location", "date", "model_name", "model_version", "horizon_days"],
        event_time="date",
        online_enabled=False,
        expectation_suite=expectations.suite_for(fs, PREDICTIONS_FG),
    )


def feature_of(fg: FeatureGroup, name: str) -> Any:
    """Return a group's feature ``name``, or None when the group has no such feature (nothing written yet).

    Never ``fg.<name>``: on hsfs the group's own properties win over feature lookup, so ``fg.location``
    is the table's storage path and ``fg.location == "x"`` a plain bool.
    """
    try:
        return fg.get_feature(name)  # hsfs returns None for a feature the group does not have
    except (KeyError, ValueError):  # the twin raises for a group with no schema yet
        return None


def utc_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every datetime column as UTC-aware, whether the store gave it naive or aware.

    hsfs strips the time zone on write and hands times back naive (UTC); the twin gives them aware.
    Reads go through here once, so the code after them compares times the same way on both.
    """
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            if str(values.dtype.tz) != "UTC":
                frame[column] = values.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(values.dtype):
            frame[column] = values.dt.tz_localize("UTC")
    return frame


def location_rows(fg: FeatureGroup, location: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Return a feature group's rows for one location, optionally in ``[start, end)``, by date (UTC)."""
    key, date = feature_of(fg, "location"), feature_of(fg, "date")
    if key is None or date is None:
        return pd.DataFrame()  # the group was created but nothing was written yet, so it has no schema
    condition = key == location
    if start is not None:
        condition = condition & (date >= start)
    if end is not None:
        condition = condition & (date < end)
    df = utc_times(fg.filter(condition).read())
    return df.sort_values("date", ignore_index=True) if not df.empty else df


def get_feature_view(fs: FeatureStore, version: int = FEATURES_VERSION) -> FeatureView:
    """Return the feature view joining the PM2.5 label and lags to the weather, creating it once."""
    weather, air_quality = feature_groups(fs, version)
    lags = lag_feature_names(version)
    query = weather.select_all().join(air_quality.select([LABEL, *lags]), on=KEYS)
    return fs.get_or_create_feature_view(
        name=FEATURE_VIEW,
        version=version,
        query=query,
        labels=[LABEL],
        description="Weather of the day, PM2.5 lags known at its start, and the day's PM2.5 as label",
    )


def batch_features(fv: FeatureView, location: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Return the feature view's batch data for one location in ``[start, end)``."""
    batch = utc_times(fv.get_batch_data(start_time=start, end_time=end, primary_key=True, event_time=True))
    batch = batch[batch["location"] == location]
    return batch.sort_values("date", ignore_index=True)
