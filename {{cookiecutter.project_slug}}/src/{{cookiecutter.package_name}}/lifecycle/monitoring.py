"""Monitoring: one-day-ahead predictions next to outcomes per model version and role, feature drift (PSI)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import LABEL, feature_groups, location_rows, predictions_group

MONITORING_KEYS = ["location", "date", "model_name", "model_version"]
PSI_SMOOTHING = 0.5  # added to every bin's count (Jeffreys): a week of 7 values has empty bins by chance
DRIFT_DAYS = 7
# Drift compares like with like: training days of the same season, no features of the date itself.
SEASON_DAYS = 30
CALENDAR_FEATURES = frozenset({"day_of_week", "day_of_year"})
HINDCAST_DAYS = 30
OUTCOME_COLUMNS = [*MONITORING_KEYS, "role", "feature_view", "feature_view_version", "predicted_pm25"]
OUTCOME_COLUMNS += ["actual_pm25", "abs_error", "recorded_at"]
HINDCAST_COLUMNS = ["date", "model_version", "predicted_pm25", "actual_pm25"]


def monitoring_group(fs: Any) -> Any:
    """Return the monitoring feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name="monitoring",
        version=1,
        description="One-day-ahead PM2.5 predictions with the observed outcome, per model version and role",
        primary_key=MONITORING_KEYS,
        event_time="date",
        online_enabled=False,
    )


def outcome_rows(
    predictions: pd.DataFrame,
    actuals: pd.DataFrame,
    roles: dict[int, str],
    recorded_at: pd.Timestamp,
    known: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return one-day-ahead predictions of the versions in ``roles`` with their outcome, if not ``known``."""
    mine = predictions[(predictions["horizon_days"] == 1) & predictions["model_version"].isin(list(roles))]
    joined = mine.merge(actuals[["date", "actual_pm25"]].dropna(), on="date", how="inner")
    if known is not None and not known.empty:  # the first recorded outcome of a day stays
        joined = joined[~joined.set_index(MONITORING_KEYS).index.isin(known.set_index(MONITORING_KEYS).index)]
    out = joined.assign(
        role=joined["model_version"].map(roles).astype("object"),
        abs_error=(joined["predicted_pm25"] - joined["actual_pm25"]).abs().astype("float64"),
        recorded_at=recorded_at,
    ).astype({"model_version": "int64", "feature_view_version": "int64"})
    return out[OUTCOME_COLUMNS].sort_values(["date", "model_version"], ignore_index=True)


def record_outcomes(
    fs: Any, location: str, model_name: str, roles: dict[int, str], now: pd.Timestamp, features_version: int
) -> int:
    """Write the outcomes that arrived since the last run for the served versions; return the row count."""
    group = monitoring_group(fs)
    predictions = location_rows(predictions_group(fs), location)
    if predictions.empty:  # on Hopsworks the offline copy of a first insert may not have landed yet
        return 0
    mine = predictions[predictions["model_name"] == model_name]
    actuals = observed_pm25(fs, location, features_version)
    rows = outcome_rows(mine, actuals, roles, now, known=location_rows(group, location))
    if not rows.empty:
        group.insert(rows)
    return len(rows)


def observed_pm25(fs: Any, location: str, features_version: int) -> pd.DataFrame:
    """Return ``date`` and ``actual_pm25`` of one location (every feature version holds the same label)."""
    rows = location_rows(feature_groups(fs, features_version)[1], location)  # written before any prediction
    return rows[["date", LABEL]].dropna().rename(columns={LABEL: "actual_pm25"})


def monitoring_rows(fs: Any, location: str, model_name: str) -> pd.DataFrame:
    """Return the monitoring rows of one model for one location, by date and version."""
    rows = location_rows(monitoring_group(fs), location)
    if rows.empty:
        return rows
    return rows[rows["model_name"] == model_name].sort_values(["date", "model_version"], ignore_index=True)


def live_days(rows: pd.DataFrame, version: int, role: str, since: dt.date) -> pd.DataFrame:
    """Return the monitoring rows of ``version`` in ``role`` for days after ``since`` (predicted live)."""
    if rows.empty:
        return rows
    after = pd.Timestamp(since, tz="UTC")
    mine = rows[(rows["model_version"] == version) & (rows["role"] == role) & (rows["date"] > after)]
    return mine.dropna(subset=["actual_pm25"]).drop_duplicates("date")


def accuracy_over_time(rows: pd.DataFrame, window: int = 7) -> pd.DataFrame:
    """Return per version and date the absolute error, its rolling mean over ``window`` days and a label."""
    columns = ["date", "model_version", "role", "abs_error", "rolling_mae", "series"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.sort_values(["model_version", "date"]).drop_duplicates(["model_version", "date"])
    by_version = rows.set_index("date").groupby("model_version")
    rolling = by_version["abs_error"].rolling(f"{window}D", min_periods=1).mean()
    last_role = rows.groupby("model_version")["role"].transform("last").astype(str)
    series = "v" + rows["model_version"].astype(str) + " (" + last_role + ")"  # e.g. "v2 (shadow)"
    return rows.assign(rolling_mae=rolling.to_numpy(), series=series)[columns].reset_index(drop=True)


def accuracy_by_version(rows: pd.DataFrame, recent_days: int = 7) -> pd.DataFrame:
    """Return per model version: roles, days recorded, MAE over them all and over the last ``recent_days``."""
    columns = ["version", "roles", "days", "first", "last", "mae", f"mae_last_{recent_days}d"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for version, part in rows.dropna(subset=["abs_error"]).groupby("model_version"):
        dates, errors = part["date"], part["abs_error"]
        recent = errors[dates > dates.max() - pd.Timedelta(days=recent_days)]
        roles = ", ".join(dict.fromkeys(part["role"].astype(str)))
        span = [day.date().isoformat() for day in (dates.min(), dates.max())]
        out.append([int(version), roles, len(part), *span, float(errors.mean()), float(recent.mean())])
    return pd.DataFrame(out, columns=columns)


def psi(expected: Any, actual: Any, bins: int = 10, smoothing: float = PSI_SMOOTHING) -> float:
    """Return the population stability index of ``actual`` against ``expected`` (NaNs ignored).

    Bins are quantiles of ``expected``; a share is ``(count + smoothing) / (n + smoothing * bins)``, so a
    week's empty bin is not infinite drift (with ``smoothing=0`` it is). NaN if a side has no values.
    """
    if bins < 2 or smoothing < 0:
        raise ValueError(f"bins must be at least 2 and smoothing >= 0, got {bins} and {smoothing}")
    e, a = (np.asarray(values, dtype="float64") for values in (expected, actual))
    e, a = e[~np.isnan(e)], a[~np.isnan(a)]
    if e.size == 0 or a.size == 0:
        return math.nan
    inner = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1))[1:-1])
    counts = np.array([np.bincount(np.searchsorted(inner, x), minlength=inner.size + 1) for x in (e, a)])
    counts = counts[:, counts.sum(axis=0) > 0]
    shares = (counts + smoothing) / (np.array([[e.size], [a.size]]) + smoothing * counts.shape[1])
    with np.errstate(divide="ignore"):  # an empty bin without smoothing: infinite drift
        return float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))


def drift_table(
    expected: pd.DataFrame, actual: pd.DataFrame, features: list[str], bins: int, threshold: float
) -> pd.DataFrame:
    """Return PSI per feature of ``actual`` against ``expected`` and whether it reaches ``threshold``."""
    present = [name for name in features if name in expected.columns and name in actual.columns]
    scores = [psi(expected[name], actual[name], bins=bins) for name in present]
    table = pd.DataFrame({"feature": present, "psi": scores})
    return table.assign(drift=table["psi"] >= threshold)


def same_season(reference: pd.DataFrame, dates: Any, days: int = SEASON_DAYS) -> pd.DataFrame:
    """Return the rows of ``reference`` within ``days`` days of the year of any of ``dates`` (wrapping)."""
    if reference.empty or len(dates) == 0:
        return reference
    ref = pd.to_datetime(reference["date"], utc=True).dt.dayofyear.to_numpy()
    targets = pd.to_datetime(pd.Series(dates), utc=True).dt.dayofyear.to_numpy()
    gap = np.abs(ref[:, None] - targets[None, :])
    return reference[(np.minimum(gap, 366 - gap) <= days).any(axis=1)]


def typical_psi(reference: pd.DataFrame, name: str, days: int, bins: int) -> float:
    """Return the largest PSI of any ``days`` consecutive days of ``reference`` against all of it (or NaN)."""
    ordered = reference.sort_values("date", ignore_index=True)
    dates = pd.to_datetime(ordered["date"], utc=True)
    starts = np.flatnonzero((dates.shift(-(days - 1)) - dates).dt.days.to_numpy() == days - 1)
    values = ordered[name].to_numpy(dtype="float64")
    return max((psi(values, values[i : i + days], bins=bins) for i in starts), default=math.nan)


def feature_drift(
    model: Any, location: str, today: dt.date, bins: int, threshold: float, days: int = DRIFT_DAYS
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return PSI per feature of the latest ``days`` days against the same season of the training split."""
    fv = model.scoring_view()
    x_train, _, _, _ = fv.get_train_test_split(model.meta.training_dataset_version, primary_key=True)
    x_train = x_train[x_train["location"] == location]
    end = pd.Timestamp(today, tz="UTC") + pd.Timedelta(days=1)
    recent = fv.get_batch_data(start_time=end - pd.Timedelta(days=days), end_time=end, primary_key=True)
    recent = recent[recent["location"] == location]
    reference = same_season(x_train, recent["date"])
    features = [name for name in model.feature_names if name not in CALENDAR_FEATURES]
    table = drift_table(reference, recent, features, bins, threshold)
    # A week of autocorrelated weather is far from a season of it by chance alone: drift is a PSI
    # above the threshold AND above the largest PSI of any week of the reference itself.
    table["typical_psi"] = [typical_psi(reference, name, days, bins) for name in table["feature"]]
    table["drift"] = table["drift"] & (table["psi"] > table["typical_psi"].fillna(0.0))
    return table, {"training_rows": len(reference), "recent_rows": len(recent)}


def hindcast(project: Any, location: str, model_name: str, features_version: int) -> pd.DataFrame:
    """Return the last HINDCAST_DAYS days' one-day-ahead predictions next to the observed PM2.5."""
    fs = project.get_feature_store()
    stored = location_rows(predictions_group(fs), location)
    if stored.empty:
        return pd.DataFrame(columns=HINDCAST_COLUMNS)
    stored = stored[(stored["model_name"] == model_name) & (stored["horizon_days"] == 1)]
    joined = stored.merge(observed_pm25(fs, location, features_version), on="date")
    joined = joined[joined["date"] > joined["date"].max() - pd.Timedelta(days=HINDCAST_DAYS)]
    return joined[HINDCAST_COLUMNS].sort_values(["date", "model_version"], ignore_index=True)
