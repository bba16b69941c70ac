"""Daily weather features, from the frames returned by the data sources."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..sources.base import DAILY_VARIABLES
from .air_quality import daily_dates

WEATHER_FEATURES = list(DAILY_VARIABLES)


def weather_features(raw: pd.DataFrame, location_key: str) -> pd.DataFrame:
    """Return one row per day: ``location``, ``date`` (UTC midnight), ``WEATHER_FEATURES`` and wind sin/cos
    as float64; rows are kept as they are, so missing values stay NaN."""
    dates = daily_dates(raw, WEATHER_FEATURES, "weather")
    out = pd.DataFrame({"location": pd.Series(location_key, index=raw.index, dtype="object"), "date": dates})
    out[WEATHER_FEATURES] = raw[WEATHER_FEATURES].astype("float64")
    # Direction is cyclic: 359 and 1 degrees are neighbours, which sin/cos make visible to a model.
    radians = np.deg2rad(out["wind_direction_10m_dominant"])
    out["wind_dir_sin"], out["wind_dir_cos"] = np.sin(radians), np.cos(radians)
    return out.sort_values("date", kind="stable", ignore_index=True)
