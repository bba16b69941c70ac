"""PM2.5 label and lag features on calendar days, for training and for recursive forecasts."""

from __future__ import annotations

import math

import pandas as pd

LAG_FEATURES = ["pm25_lag_1", "pm25_lag_2", "pm25_roll_mean_7"]
# Version 2 of the air_quality group adds the worst day of the week before (the worked example of a
# feature upgrade: see the README, "Model upgrades").
LAG_FEATURES_BY_VERSION = {1: LAG_FEATURES, 2: [*LAG_FEATURES, "pm25_roll_max_7"]}
ALL_LAG_FEATURES = list(dict.fromkeys(n for names in LAG_FEATURES_BY_VERSION.values() for n in names))
ROLL_DAYS = 7
# A weekly mean from fewer days would lean on whichever weekdays happen to be present.
ROLL_MIN_DAYS = 4

_DAY = pd.Timedelta(days=1)


def lag_feature_names(version: int = 1) -> list[str]:
    """Return the lag features of ``air_quality`` version ``version``."""
    try:
        return list(LAG_FEATURES_BY_VERSION[version])
    except KeyError:
        raise ValueError(
            f"unknown air_quality feature version {version}: known {sorted(LAG_FEATURES_BY_VERSION)}"
        ) from None


def air_quality_features(daily: pd.DataFrame, location_key: str, version: int = 1) -> pd.DataFrame:
    """Return ``location``, ``date``, ``pm25`` and the lag features of ``location_key``, by date.

    Lags refer to calendar days, not rows: ``pm25_lag_1`` is the value of the previous day and is
    NaN when that day is absent; ``pm25_roll_mean_7`` is the mean of the 7 days before (not
    including the day itself) and is NaN when fewer than 4 of them have a value. Version 2 adds
    ``pm25_roll_max_7``, the maximum of the same 7 days under the same rule.
    """
    names = lag_feature_names(version)
    missing = [c for c in ("date", "pm25") if c not in daily.columns]
    if missing:
        raise ValueError(f"PM2.5 frame is missing column(s): {', '.join(missing)}")
    dates = _utc_days(daily["date"])
    if dates.duplicated().any():
        duplicated = sorted({d.date().isoformat() for d in dates[dates.duplicated()]})
        raise ValueError(f"PM2.5 frame has more than one row for day(s): {', '.join(duplicated[:5])}")
    pm25 = pd.Series(daily["pm25"].astype("float64").to_numpy(), index=pd.DatetimeIndex(dates)).sort_index()

    out = pd.DataFrame({"location": location_key, "date": pm25.index, "pm25": pm25.to_numpy()})
    out["location"] = out["location"].astype("object")
    if pm25.empty:
        for name in names:
            out[name] = pd.Series([], dtype="float64")
        return out
    # Reindex on every calendar day so that shifting by one row means shifting by one day.
    calendar = pm25.reindex(pd.date_range(pm25.index[0], pm25.index[-1], freq="D"))
    before = calendar.shift(1)
    lags = pd.DataFrame(
        {
            "pm25_lag_1": before,
            "pm25_lag_2": calendar.shift(2),
            "pm25_roll_mean_7": before.rolling(ROLL_DAYS, min_periods=ROLL_MIN_DAYS).mean(),
            "pm25_roll_max_7": before.rolling(ROLL_DAYS, min_periods=ROLL_MIN_DAYS).max(),
        }
    ).reindex(pm25.index)
    for name in names:
        out[name] = lags[name].to_numpy(dtype="float64")
    return out


def lag_features_from_history(
    history: pd.Series, *, target: pd.Timestamp | None = None, version: int = 1
) -> dict[str, float]:
    """Return the lag features (of ``version``) of the day after ``history`` (or of ``target`` if given).

    ``history`` holds PM2.5 indexed by UTC midnight dates before the target day; observed and
    already-predicted values can be mixed, which is how multi-day forecasts are built recursively.
    Definitions match ``air_quality_features`` exactly.
    """
    index = pd.DatetimeIndex(_utc_days(pd.Series(history.index)))
    if index.has_duplicates:
        raise ValueError("history has more than one value for a day")
    values = pd.Series(history.to_numpy(dtype="float64"), index=index)
    if target is None:
        if values.empty:
            raise ValueError("history is empty: pass target to say which day the features are for")
        day = values.index.max() + _DAY
    else:
        day = _utc_days(pd.Series([target])).iloc[0]
    values = values[values.index < day]

    def value_on(when: pd.Timestamp) -> float:
        found = values.get(when)
        return math.nan if found is None else float(found)

    window = values[values.index >= day - ROLL_DAYS * _DAY].dropna()
    enough = len(window) >= ROLL_MIN_DAYS
    lags = {
        "pm25_lag_1": value_on(day - _DAY),
        "pm25_lag_2": value_on(day - 2 * _DAY),
        "pm25_roll_mean_7": float(window.mean()) if enough else math.nan,
        "pm25_roll_max_7": float(window.max()) if enough else math.nan,
    }
    return {name: lags[name] for name in lag_feature_names(version)}


def calendar_features(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with ``day_of_week`` (0 = Monday) and ``day_of_year`` as float64."""
    if "date" not in df.columns:
        raise ValueError("frame is missing column: date")
    dates = _utc_days(df["date"])
    out = df.copy()
    out["day_of_week"] = dates.dt.dayofweek.astype("float64")
    out["day_of_year"] = dates.dt.dayofyear.astype("float64")
    return out


def _utc_days(values: pd.Series) -> pd.Series:
    """Return ``values`` as datetime64[ns, UTC] at midnight (naive values are taken as UTC)."""
    return pd.to_datetime(values, utc=True).dt.normalize().astype("datetime64[ns, UTC]")
