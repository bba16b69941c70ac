"""What the pipelines and the UI share: names of store objects, dates and model loading."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import validation
from ..features.air_quality import (
    ALL_LAG_FEATURES,
    LAG_FEATURES,
    LAG_FEATURES_BY_VERSION,
    lag_features_from_history,
)

log = logging.getLogger(__name__)

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
MODEL_FILE = "model.json"


def utc_today() -> dt.date:
    """Return today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()


def day(value: dt.date) -> pd.Timestamp:
    """Return a date as a UTC midnight Timestamp."""
    return (
        pd.Timestamp(value).tz_localize("UTC") if pd.Timestamp(value).tzinfo is None else pd.Timestamp(value)
    )


def parse_date(text: str) -> dt.date:
    """Parse YYYY-MM-DD for argparse, with a clear message."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def feature_groups(fs: Any, version: int = FEATURES_VERSION) -> tuple[Any, Any]:
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
        expectation_suite=validation.suite_for(fs, WEATHER_FG),
    )
    air_quality = fs.get_or_create_feature_group(
        name=AIR_QUALITY_FG,
        version=version,
        description="Daily mean PM2.5 per location with lag features known at the start of the day",
        primary_key=KEYS,
        event_time="date",
        online_enabled=True,
        expectation_suite=validation.suite_for(fs, AIR_QUALITY_FG, version),
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


def describe_features(fg: Any) -> None:
    """Set each feature's description where it differs; the same call on both backends."""
    for feature in fg.features:
        wanted = FEATURE_DESCRIPTIONS.get(feature.name)
        if wanted and (feature.description or "") != wanted:
            fg.update_feature_description(feature.name, wanted)


def predictions_group(fs: Any) -> Any:
    """Return the predictions feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name=PREDICTIONS_FG,
        version=1,
        description="PM2.5 predictions per location, target date, model version and horizon",
        primary_key=["location", "date", "model_name", "model_version", "horizon_days"],
        event_time="date",
        online_enabled=False,
        expectation_suite=validation.suite_for(fs, PREDICTIONS_FG),
    )


def location_rows(fg: Any, location: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Return a feature group's rows for one location, optionally in ``[start, end)``, by date."""
    try:
        condition = fg.location == location
    except AttributeError:
        return pd.DataFrame()  # the group has no data (and so no schema) yet
    if start is not None:
        condition = condition & (fg.date >= start)
    if end is not None:
        condition = condition & (fg.date < end)
    df = fg.filter(condition).read()
    return df.sort_values("date", ignore_index=True) if not df.empty else df


class ModelIntegrityError(RuntimeError):
    """A downloaded model file differs from the sha256 recorded when the model was registered."""


def file_hashes(folder: Path) -> dict[str, str]:
    """Return the sha256 of every file under ``folder``, by relative POSIX path."""
    hashes = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
        hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


@dataclass
class LoadedModel:
    """A registered model, loaded and checked, with what it needs to score."""

    meta: Any
    booster: Any
    feature_names: list[str]
    folder: Path | None = None  # the downloaded files (run.json, plots, ...)

    @property
    def version(self) -> int:
        return int(self.meta.version)

    def predict(self, features: pd.DataFrame) -> Any:
        """Predict with columns in the model's own order; raise naming missing features or values."""
        missing = [f for f in self.feature_names if f not in features.columns]
        if missing:
            raise ValueError(
                f"model {self.meta.name} v{self.version} needs feature(s) {missing} that the feature view "
                f"{self.meta.feature_view_name} v{self.meta.feature_view_version} did not return"
            )
        # Lags may be unknown (missing days; the model was trained with gaps). Any other feature missing
        # would make XGBoost silently take its "missing" branch: refuse instead of predicting wrongly.
        required = [f for f in self.feature_names if f not in ALL_LAG_FEATURES]
        empty = features[required].isna()
        if empty.to_numpy().any():
            rows = empty.any(axis=1).to_numpy()
            where = (features["date"] if "date" in features.columns else features.index.to_series())[rows]
            days = ", ".join(str(value)[:10] for value in where.head(5))
            raise ValueError(
                f"model {self.meta.name} v{self.version} (feature view {self.meta.feature_view_name} "
                f"v{self.meta.feature_view_version}): feature(s) {sorted(empty.columns[empty.any()])} "
                f"missing for {int(rows.sum())} row(s) ({days}); no prediction made"
            )
        import xgboost as xgb

        matrix = xgb.DMatrix(features[self.feature_names].astype("float64"), feature_names=self.feature_names)
        return self.booster.predict(matrix)


def latest_model_version(mr: Any, name: str) -> int:
    """Return the newest registered version of a model (by number, never a hard-coded 1)."""
    models = mr.get_models(name)
    if not models:
        raise LookupError(f"no model named {name!r} in the registry: run the training pipeline first")
    return max(int(m.version) for m in models)


def load_model(
    mr: Any, name: str, version: int | None = None, expected_sha256: dict[str, str] | None = None
) -> LoadedModel:
    """Download, verify and load a model version (the newest when ``version`` is None).

    ``expected_sha256`` (file -> sha256 recorded at registration) is checked after the download,
    on any backend; the embedded registry also checks its own record in ``download()``.

    Raises:
        ModelIntegrityError: If a registered file is missing or changed (a RuntimeError).
    """
    import xgboost as xgb

    version = version if version is not None else latest_model_version(mr, name)
    meta = mr.get_model(name, version=version)
    if meta is None:
        raise LookupError(f"model {name!r} has no version {version}")
    folder = Path(meta.download())
    if expected_sha256:
        found = file_hashes(folder)
        problems = [
            f"{file}: {'missing' if file not in found else 'sha256 differs from registration'}"
            for file, digest in sorted(expected_sha256.items())
            if found.get(file) != digest
        ]
        if problems:
            raise ModelIntegrityError(
                f"model {name} version {version} failed its integrity check: " + "; ".join(problems)
            )
    booster = xgb.Booster()
    booster.load_model(folder / MODEL_FILE)
    names = booster.feature_names or json.loads((folder / "features.json").read_text())
    return LoadedModel(meta, booster, list(names), folder)


def fill_lags(row: dict[str, Any], history: pd.Series, target: pd.Timestamp) -> dict[str, Any]:
    """Fill a row's missing lag features (any feature version) from a PM2.5 history (observed and predicted).

    The ``LAG_FEATURES`` are always filled; lags of later feature versions when the row has them.
    """
    lags = lag_features_from_history(history, target=target, version=max(LAG_FEATURES_BY_VERSION))
    out = dict(row)
    for name in ALL_LAG_FEATURES:
        if name not in LAG_FEATURES and name not in out:
            continue
        value = out.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[name] = lags[name]
    return out


def recursive_forecast(model: LoadedModel, features: pd.DataFrame, history: pd.Series) -> pd.DataFrame:
    """Predict day by day, feeding each prediction into the next day's lag features.

    ``features`` has a ``date`` column and the model's features for the days to forecast
    (lags of future days are unknown, so they are NaN); ``history`` is observed PM2.5 by date.
    """
    history = history.copy()
    rows = []
    for record in features.sort_values("date").to_dict("records"):
        target = record["date"]
        filled = fill_lags(record, history[history.index < target], target)
        prediction = float(model.predict(pd.DataFrame([filled]))[0])
        history.loc[target] = prediction
        history = history.sort_index()
        rows.append({**filled, "predicted_pm25": max(prediction, 0.0)})
    return pd.DataFrame(rows)
