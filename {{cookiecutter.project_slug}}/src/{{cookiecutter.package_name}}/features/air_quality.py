"""PM2.5 label and lag features on calendar days, for training and for recursive forecasts."""

from __future__ import annotations

import pandas as pd

LAG_FEATURES = ["pm25_lag_1", "pm25_lag_2", "pm25_roll_mean_7"]
# Version 2 of the air_quality group adds the worst day of the week before (the worked example of a
# feature upgrade: see the README, "Model upgrades").
LAG_FEATURES_BY_VERSION = {1: LAG_FEATURES, 2: [*LAG_FEATURES, "pm25_roll_max_7"]}
ALL_LAG_FEATURES = list(dict.fromkeys(n for names in LAG_FEATURES_BY_VERSION.values() for n in names))
ROLL_DAYS = 7
# A weekly mean from fewer days would lean on whichever weekdays happen to be present.
ROLL_MIN_DAYS = 4


def lag_feature_names(version: int = 1) -> list[str]:
    """Return the lag features of ``air_quality`` version ``version``."""
    if version not in LAG_FEATURES_BY_VERSION:
        known = sorted(LAG_FEATURES_BY_VERSION)
        raise ValueError(f"unknown air_quality feature version {version}: known {known}")
    return list(LAG_FEATURES_BY_VERSION[version])


def utc_days(values: pd.Series) -> pd.Series:
    """Return ``values`` as datetime64[ns, UTC] at midnight (naive values are taken as UTC)."""
    return pd.to_datetime(values, utc=True).dt.normalize().astype("datetime64[ns, UTC]")


def daily_dates(frame: pd.DataFrame, columns: list[str], what: str) -> pd.Series:
    """Return the UTC days of ``frame`` after checking it has ``date`` and ``columns`` and one row a day."""
    missing = [c for c in ("date", *columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame is missing column(s): {', '.join(missing)}")
    dates = utc_days(frame["date"])
    if dates.duplicated().any():
        duplicated = sorted({d.date().isoformat() for d in dates[dates.duplicated()]})
        raise ValueError(f"{what} frame has more than one row for day(s): {', '.join(duplicated[:5])}")
    return dates


def _lags(pm25: pd.Series) -> pd.DataFrame:
    """Return every lag feature of each day of ``pm25``, a series on sorted UTC days."""
    calendar = pm25.asfreq("D")  # every calendar day: shifting by one row is shifting by one day
    before = calendar.shift(1)
    week = before.rolling(ROLL_DAYS, min_periods=ROLL_MIN_DAYS)
    lags = {"pm25_lag_1": before, "pm25_lag_2": calendar.shift(2)}
    lags.update(pm25_roll_mean_7=week.mean(), pm25_roll_max_7=week.max())
    return pd.DataFrame(lags, dtype="float64").reindex(pm25.index)


def air_quality_features(daily: pd.DataFrame, location_key: str, version: int = 1) -> pd.DataFrame:
    """Return ``location``, ``date``, ``pm25`` and the lag features of ``location_key``, by date. Lags are on
    calendar days: ``pm25_lag_1`` is the previous day's value (NaN if absent); ``pm25_roll_mean_7`` (and v2's
    ``pm25_roll_max_7``) summarise the 7 days before, NaN below 4 values."""
    names = lag_feature_names(version)
    dates = pd.DatetimeIndex(daily_dates(daily, ["pm25"], "PM2.5"))
    pm25 = pd.Series(daily["pm25"].astype("float64").to_numpy(), index=dates).sort_index()
    out = pd.DataFrame({"location": pd.Series(location_key, index=pm25.index, dtype="object"), "pm25": pm25})
    out = out.join(_lags(pm25)[names]).rename_axis("date").reset_index()
    return out[["location", "date", "pm25", *names]]


def lag_features_from_history(
    history: pd.Series, *, target: pd.Timestamp | None = None, version: int = 1
) -> dict[str, float]:
    """Return the lag features (of ``version``) of the day after ``history`` (or of ``target`` if given);
    ``history`` is PM2.5 by UTC day, observed or already predicted: recursive forecasts mix both."""
    index = pd.DatetimeIndex(utc_days(pd.Series(history.index)))
    if index.has_duplicates:
        raise ValueError("history has more than one value for a day")
    if target is None and index.empty:
        raise ValueError("history is empty: pass target to say which day the features are for")
    day = index.max() + pd.Timedelta(days=1) if target is None else utc_days(pd.Series([target])).iloc[0]
    values = pd.Series(history.to_numpy(dtype="float64"), index=index)
    # The target day and the week before it, the same definitions as ``air_quality_features``.
    row = _lags(values.reindex(pd.date_range(end=day, periods=ROLL_DAYS + 1, freq="D"))).iloc[-1]
    return {name: float(row[name]) for name in lag_feature_names(version)}


def calendar_features(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with ``day_of_week`` (0 = Monday) and ``day_of_year`` as float64."""
    if "date" not in df.columns:
        raise ValueError("frame is missing column: date")
    days = utc_days(df["date"]).dt
    return df.assign(day_of_week=days.dayofweek.astype(float), day_of_year=days.dayofyear.astype(float))
