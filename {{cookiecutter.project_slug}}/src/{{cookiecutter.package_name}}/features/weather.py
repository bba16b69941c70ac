"""Daily weather features, from the frames returned by the data sources."""

from __future__ import annotations

import numpy as np
import pandas as pd

WEATHER_FEATURES = [
    "temperature_2m_mean",
    "precipitation_sum",
    "wind_speed_10m_max",
    "wind_direction_10m_dominant",
]


def weather_features(raw: pd.DataFrame, location_key: str) -> pd.DataFrame:
    """Return one row per day with the weather features of ``location_key``.

    Columns: ``location``, ``date`` (UTC midnight), the ``WEATHER_FEATURES`` as float64 and
    ``wind_dir_sin``/``wind_dir_cos``. Rows are kept as they are: missing values stay NaN.
    """
    missing = [c for c in ("date", *WEATHER_FEATURES) if c not in raw.columns]
    if missing:
        raise ValueError(f"weather frame is missing column(s): {', '.join(missing)}")
    dates = _utc_days(raw["date"])
    if dates.duplicated().any():
        duplicated = sorted({d.date().isoformat() for d in dates[dates.duplicated()]})
        raise ValueError(f"weather frame has more than one row for day(s): {', '.join(duplicated[:5])}")
    out = pd.DataFrame({"location": pd.Series(location_key, index=raw.index, dtype="object"), "date": dates})
    for name in WEATHER_FEATURES:
        out[name] = raw[name].astype("float64")
    # Direction is cyclic: 359 and 1 degrees are neighbours, which sin/cos make visible to a model.
    radians = np.deg2rad(out["wind_direction_10m_dominant"])
    out["wind_dir_sin"] = np.sin(radians)
    out["wind_dir_cos"] = np.cos(radians)
    return out.sort_values("date", kind="stable", ignore_index=True)


def _utc_days(values: pd.Series) -> pd.Series:
    """Return ``values`` as datetime64[ns, UTC] at midnight (naive values are taken as UTC)."""
    return pd.to_datetime(values, utc=True).dt.normalize().astype("datetime64[ns, UTC]")
