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
# Feature version N is feature view N: air_quality vN joined with weather WEATHER_VERSIONS[N] (same in v2).
WEATHER_VERSIONS = {1: 1, 2: 1}
KEYS = ["location", "date"]
LABEL = "pm25"
DESCRIPTIONS = {
    WEATHER_FG: "Daily weather per location: observed for past days, forecast for coming days",
    AIR_QUALITY_FG: "Daily mean PM2.5 per location with lag features known at the start of the day",
    PREDICTIONS_FG: "PM2.5 predictions per location, target date, model version and horizon",
    FEATURE_VIEW: "Weather of the day, PM2.5 lags known at its start, and the day's PM2.5 as label",
}
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
# hsfs returns the keys and event time of each joined group as ``<project>_<group>_<version>_<key>``.
QUALIFIED_KEY = re.compile(rf".*_({WEATHER_FG}|{AIR_QUALITY_FG})_\d+_({'|'.join(KEYS)})")


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Return the model inputs of a training or batch frame: every column but keys and event times."""
    return [c for c in frame.columns if c not in KEYS and not QUALIFIED_KEY.fullmatch(str(c))]


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


def _group(fs: FeatureStore, name: str, version: int, suite: int = 1, **options: Any) -> FeatureGroup:
    """Return feature group ``name`` v``version`` with suite v``suite``, making its handle on first use."""
    options = {"description": DESCRIPTIONS[name], "primary_key": KEYS, "online_enabled": True, **options}
    options["expectation_suite"] = expectations.suite_for(fs, name, suite)
    return fs.get_or_create_feature_group(name=name, version=version, event_time="date", **options)


def feature_groups(fs: FeatureStore, version: int = FEATURES_VERSION) -> tuple[FeatureGroup, FeatureGroup]:
    """Return the weather and air-quality groups of feature version ``version``, created on first use."""
    weather = _group(fs, WEATHER_FG, WEATHER_VERSIONS.get(version, version))
    return weather, _group(fs, AIR_QUALITY_FG, version, suite=version)


def predictions_group(fs: FeatureStore) -> FeatureGroup:
    """Return the predictions feature group, creating it on first use."""
    keys = ["location", "date", "model_name", "model_version", "horizon_days"]
    return _group(fs, PREDICTIONS_FG, 1, primary_key=keys, online_enabled=False)


def describe_features(fg: FeatureGroup) -> None:
    """Set each feature's description where it differs; the same call on both backends."""
    for feature in fg.columns:  # not fg.features: deprecated on hsfs 5.2 (a warning on every call)
        wanted = FEATURE_DESCRIPTIONS.get(feature.name)
        if wanted and (feature.description or "") != wanted:
            fg.update_feature_description(feature.name, wanted)


def utc_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every datetime column UTC-aware (hsfs reads them naive UTC, the twin aware)."""
    for column, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_dtype(dtype):
            frame[column] = frame[column].dt.tz_localize("UTC")
        elif isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) != "UTC":
            frame[column] = frame[column].dt.tz_convert("UTC")
    return frame


def location_rows(fg: FeatureGroup, location: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Return a feature group's rows for one location, optionally in ``[start, end)``, by date (UTC)."""
    # get_feature, never fg.location: on hsfs that is the table's storage path. None: nothing written yet.
    key, date = fg.get_feature("location"), fg.get_feature("date")
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
    query = weather.select_all().join(air_quality.select([LABEL, *lag_feature_names(version)]), on=KEYS)
    return fs.get_or_create_feature_view(
        FEATURE_VIEW, version=version, query=query, labels=[LABEL], description=DESCRIPTIONS[FEATURE_VIEW]
    )


def batch_features(fv: FeatureView, location: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Return the feature view's batch data for one location in ``[start, end)``."""
    batch = utc_times(fv.get_batch_data(start_time=start, end_time=end, primary_key=True, event_time=True))
    return batch[batch["location"] == location].sort_values("date", ignore_index=True)
