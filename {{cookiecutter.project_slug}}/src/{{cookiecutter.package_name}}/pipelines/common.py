"""What the pipelines and the UI share: names of store objects, dates and model loading."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..features.air_quality import LAG_FEATURES, lag_features_from_history

log = logging.getLogger(__name__)

WEATHER_FG = "weather"
AIR_QUALITY_FG = "air_quality"
PREDICTIONS_FG = "predictions"
FEATURE_VIEW = "air_quality_weather"
FEATURES_VERSION = 1
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
    """Return the weather and air-quality feature groups, creating them on first use."""
    weather = fs.get_or_create_feature_group(
        name=WEATHER_FG,
        version=version,
        description="Daily weather per location: observed for past days, forecast for coming days",
        primary_key=KEYS,
        event_time="date",
        online_enabled=True,
    )
    air_quality = fs.get_or_create_feature_group(
        name=AIR_QUALITY_FG,
        version=version,
        description="Daily mean PM2.5 per location with lag features known at the start of the day",
        primary_key=KEYS,
        event_time="date",
        online_enabled=True,
    )
    return weather, air_quality


def predictions_group(fs: Any) -> Any:
    """Return the predictions feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name=PREDICTIONS_FG,
        version=1,
        description="PM2.5 predictions per location, target date, model version and horizon",
        primary_key=["location", "date", "model_name", "model_version", "horizon_days"],
        event_time="date",
        online_enabled=False,
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


@dataclass
class LoadedModel:
    """A registered model, loaded and checked, with what it needs to score."""

    meta: Any
    booster: Any
    feature_names: list[str]

    @property
    def version(self) -> int:
        return int(self.meta.version)

    def predict(self, features: pd.DataFrame) -> Any:
        """Predict with columns in the model's own order; raise naming missing features."""
        missing = [f for f in self.feature_names if f not in features.columns]
        if missing:
            raise ValueError(
                f"model {self.meta.name} v{self.version} needs feature(s) {missing} that the feature view "
                f"{self.meta.feature_view_name} v{self.meta.feature_view_version} did not return"
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


def load_model(mr: Any, name: str, version: int | None = None) -> LoadedModel:
    """Download, verify and load a model version (the newest when ``version`` is None)."""
    import xgboost as xgb

    version = version if version is not None else latest_model_version(mr, name)
    meta = mr.get_model(name, version=version)
    if meta is None:
        raise LookupError(f"model {name!r} has no version {version}")
    folder = Path(meta.download())
    booster = xgb.Booster()
    booster.load_model(folder / MODEL_FILE)
    names = booster.feature_names or json.loads((folder / "features.json").read_text())
    return LoadedModel(meta, booster, list(names))


def fill_lags(row: dict[str, Any], history: pd.Series, target: pd.Timestamp) -> dict[str, Any]:
    """Fill a row's missing lag features from a PM2.5 history (observed and predicted)."""
    lags = lag_features_from_history(history, target=target)
    out = dict(row)
    for name in LAG_FEATURES:
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
