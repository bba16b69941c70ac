"""Monitoring: predictions next to outcomes per model version, and feature drift (PSI).

The ``monitoring`` feature group keeps, per location, day and model version, the one-day-ahead
prediction, the PM2.5 observed that day, the error and the role the model had when the outcome
arrived (production, shadow or pinned). Rows are written once, by the inference pipeline, when
the observation is in: later re-scoring never rewrites history. Drift compares the latest week's
features with the model's training data by the population stability index (PSI).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import FEATURES_VERSION, LABEL, feature_groups, location_rows, predictions_group

MONITORING_FG = "monitoring"
MONITORING_VERSION = 1
MONITORING_KEYS = ["location", "date", "model_name", "model_version"]
PSI_SMOOTHING = 0.5  # added to every bin's count (Jeffreys): a week of 7 values has empty bins by chance
DRIFT_DAYS = 7
# Drift compares like with like: the reference is the training days within SEASON_DAYS days of the
# year of the recent ones, and features that are functions of the date itself are not compared.
SEASON_DAYS = 30
CALENDAR_FEATURES = frozenset({"day_of_week", "day_of_year"})
HINDCAST_DAYS = 30
OUTCOME_COLUMNS = [*MONITORING_KEYS, "role", "feature_view", "feature_view_version", "predicted_pm25"]
OUTCOME_COLUMNS += ["actual_pm25", "abs_error", "recorded_at"]
HINDCAST_COLUMNS = ["date", "model_version", "predicted_pm25", "actual_pm25"]


def monitoring_group(fs: Any) -> Any:
    """Return the monitoring feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name=MONITORING_FG,
        version=MONITORING_VERSION,
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
    """Return new monitoring rows: one-day-ahead predictions of the versions in ``roles`` with their outcome.

    Args:
        predictions: Rows of the predictions feature group.
        actuals: ``date`` and ``actual_pm25`` (observed PM2.5).
        roles: Model version -> its role now (only these versions are recorded).
        recorded_at: When the rows are written.
        known: Rows already in the monitoring group: their (date, model_name, model_version) are
            left out, so the first recorded outcome of a day stays.
    """
    if predictions.empty or actuals.empty or not roles:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    mine = predictions[(predictions["horizon_days"] == 1) & predictions["model_version"].isin(list(roles))]
    joined = mine.merge(actuals[["date", "actual_pm25"]].dropna(), on="date", how="inner")
    if known is not None and not known.empty:
        seen = known[["date", "model_name", "model_version"]].assign(_seen=True)
        joined = joined.merge(seen, on=["date", "model_name", "model_version"], how="left")
        joined = joined[joined["_seen"].isna()].drop(columns="_seen")
    if joined.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    out = joined.assign(
        role=joined["model_version"].map(roles).astype("object"),
        abs_error=(joined["predicted_pm25"] - joined["actual_pm25"]).abs().astype("float64"),
        recorded_at=recorded_at,
    )
    out["model_version"] = out["model_version"].astype("int64")
    out["feature_view_version"] = out["feature_view_version"].astype("int64")
    return out[OUTCOME_COLUMNS].sort_values(["date", "model_version"], ignore_index=True)


def record_outcomes(
    fs: Any,
    location: str,
    model_name: str,
    roles: dict[int, str],
    now: pd.Timestamp,
    features_version: int = FEATURES_VERSION,
) -> int:
    """Write the outcomes that arrived since the last run for the served versions; return the row count.

    Observed PM2.5 is read from ``air_quality`` v``features_version``.
    """
    group = monitoring_group(fs)
    predictions = location_rows(predictions_group(fs), location)
    if predictions.empty:
        return 0
    actuals = observed_pm25(fs, location, features_version)
    if actuals.empty:
        return 0
    mine = predictions[predictions["model_name"] == model_name]
    rows = outcome_rows(mine, actuals, roles, now, known=location_rows(group, location))
    if rows.empty:
        return 0
    group.insert(rows)
    return len(rows)


def observed_pm25(fs: Any, location: str, features_version: int = FEATURES_VERSION) -> pd.DataFrame:
    """Return ``date`` and ``actual_pm25`` of one location from ``air_quality`` v``features_version``.

    Every feature version holds the same label, so any version in use gives the same outcomes.
    """
    _, air_quality = feature_groups(fs, features_version)
    rows = location_rows(air_quality, location)
    if rows.empty:
        return pd.DataFrame(columns=["date", "actual_pm25"])
    return rows[["date", LABEL]].rename(columns={LABEL: "actual_pm25"})


def monitoring_rows(fs: Any, location: str, model_name: str) -> pd.DataFrame:
    """Return the monitoring rows of one model for one location, by date and version."""
    rows = location_rows(monitoring_group(fs), location)
    if rows.empty:
        return rows
    rows = rows[rows["model_name"] == model_name]
    return rows.sort_values(["date", "model_version"], ignore_index=True)


def live_days(rows: pd.DataFrame, version: int, role: str, since: dt.date) -> pd.DataFrame:
    """Return the monitoring rows of ``version`` in ``role`` for days after ``since`` (predicted live)."""
    if rows.empty:
        return rows
    after = pd.Timestamp(since, tz="UTC")
    mine = rows[(rows["model_version"] == version) & (rows["role"] == role) & (rows["date"] > after)]
    return mine.dropna(subset=["actual_pm25"]).drop_duplicates("date")


def accuracy_over_time(rows: pd.DataFrame, window: int = 7) -> pd.DataFrame:
    """Return per model version and date the absolute error and its rolling mean over ``window`` days.

    Columns: ``date``, ``model_version``, ``role``, ``abs_error``, ``rolling_mae``, ``series``
    (a label such as ``v2 (shadow)`` for plots).
    """
    columns = ["date", "model_version", "role", "abs_error", "rolling_mae", "series"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    parts = []
    for version, part in rows.sort_values("date").groupby("model_version"):
        part = part.drop_duplicates("date")
        rolling = part.set_index("date")["abs_error"].rolling(f"{window}D", min_periods=1).mean()
        series = f"v{int(version)} ({part['role'].iloc[-1]})"
        parts.append(part.assign(model_version=int(version), rolling_mae=rolling.to_numpy(), series=series))
    return pd.concat(parts, ignore_index=True)[columns]


def accuracy_by_version(rows: pd.DataFrame, recent_days: int = 7) -> pd.DataFrame:
    """Return per model version: roles, days recorded, MAE over them all and over the last ``recent_days``."""
    columns = ["version", "roles", "days", "first", "last", "mae", f"mae_last_{recent_days}d"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for version, part in rows.groupby("model_version"):
        part = part.dropna(subset=["abs_error"])
        last = part["date"].max()
        recent = part[part["date"] > last - pd.Timedelta(days=recent_days)]
        out.append(
            {
                "version": int(version),
                "roles": ", ".join(dict.fromkeys(part["role"].astype(str))),
                "days": len(part),
                "first": part["date"].min().date().isoformat(),
                "last": last.date().isoformat(),
                "mae": float(part["abs_error"].mean()),
                f"mae_last_{recent_days}d": float(recent["abs_error"].mean()),
            }
        )
    return pd.DataFrame(out, columns=columns)


def psi(expected: Any, actual: Any, bins: int = 10, smoothing: float = PSI_SMOOTHING) -> float:
    """Return the population stability index of ``actual`` against ``expected``.

    Bins are the quantiles of ``expected`` (repeated edges merge, so a feature with few distinct
    values gets fewer bins; a value on an edge goes to the lower bin; a bin empty on both sides
    is dropped). Each bin's share is
    ``(count + smoothing) / (n + smoothing * bins)`` and ``PSI = sum((a - e) * ln(a / e))``.
    Smoothing keeps a small sample (a week is 7 values) from reading an empty bin as infinite
    drift; with ``smoothing=0`` an empty bin makes PSI infinite. NaNs are ignored; the result
    is NaN when either side has no values.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    e, a = e[~np.isnan(e)], a[~np.isnan(a)]
    if e.size == 0 or a.size == 0:
        return math.nan
    inner = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1))[1:-1])
    e_counts = np.bincount(np.searchsorted(inner, e, side="left"), minlength=inner.size + 1)
    a_counts = np.bincount(np.searchsorted(inner, a, side="left"), minlength=inner.size + 1)
    used = (e_counts + a_counts) > 0  # a bin empty on both sides says nothing
    e_counts, a_counts = e_counts[used], a_counts[used]
    k = int(used.sum())
    e_share = (e_counts + smoothing) / (e.size + smoothing * k)
    a_share = (a_counts + smoothing) / (a.size + smoothing * k)
    if (e_share == 0).any() or (a_share == 0).any():
        return math.inf
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def drift_table(
    expected: pd.DataFrame, actual: pd.DataFrame, features: list[str], bins: int, threshold: float
) -> pd.DataFrame:
    """Return PSI per feature of ``actual`` against ``expected`` and whether it reaches ``threshold``."""
    rows = []
    for name in features:
        if name not in expected.columns or name not in actual.columns:
            continue
        value = psi(expected[name], actual[name], bins=bins)
        rows.append({"feature": name, "psi": value, "drift": bool(value >= threshold)})
    return pd.DataFrame(rows, columns=["feature", "psi", "drift"])


def same_season(reference: pd.DataFrame, dates: Any, days: int = SEASON_DAYS) -> pd.DataFrame:
    """Return the rows of ``reference`` within ``days`` days of the year of any of ``dates``.

    Distances wrap around the new year (31 December is one day from 1 January).
    """
    if reference.empty or len(dates) == 0:
        return reference
    ref = pd.to_datetime(reference["date"], utc=True).dt.dayofyear.to_numpy()
    targets = pd.to_datetime(pd.Series(dates), utc=True).dt.dayofyear.to_numpy()
    gap = np.abs(ref[:, None] - targets[None, :])
    return reference[(np.minimum(gap, 366 - gap) <= days).any(axis=1)]


def typical_psi(reference: pd.DataFrame, name: str, days: int, bins: int) -> float:
    """Return the largest PSI of any run of ``days`` consecutive days of ``reference`` against all of it.

    This is how far a week of the reference data is from the reference by chance; NaN when the
    reference holds no such run.
    """
    ordered = reference.sort_values("date", ignore_index=True)
    dates = pd.to_datetime(ordered["date"], utc=True)
    span = (dates.shift(-(days - 1)) - dates).dt.days.to_numpy()
    starts = np.flatnonzero(span == days - 1)
    values = ordered[name].to_numpy(dtype="float64")
    scores = [psi(values, values[i : i + days], bins=bins) for i in starts]
    return max(scores, default=math.nan)


def feature_drift(
    model: Any, location: str, today: dt.date, bins: int, threshold: float, days: int = DRIFT_DAYS
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return PSI per feature of the latest ``days`` observed days against the same season in training.

    Both sides come from the model's own feature view version: the training split of its
    training dataset, and batch data of ``location`` for ``today - days + 1`` .. ``today``. Like
    is compared with like: the reference is the training days within SEASON_DAYS of the same
    days of the year (a winter week against all seasons always looks drifted), and the calendar
    features are left out (a week of ``day_of_year`` is never distributed like a year of it).

    Returns:
        The drift table and a description (model version, feature view, rows on each side).
    """
    fv = model.scoring_view()
    x_train, _, _, _ = fv.get_train_test_split(model.meta.training_dataset_version, primary_key=True)
    if "location" in x_train.columns:
        x_train = x_train[x_train["location"] == location]
    end = pd.Timestamp(today, tz="UTC") + pd.Timedelta(days=1)
    recent = fv.get_batch_data(start_time=end - pd.Timedelta(days=days), end_time=end, primary_key=True)
    recent = recent[recent["location"] == location] if "location" in recent.columns else recent
    reference = same_season(x_train, recent["date"]) if "date" in recent.columns else x_train
    features = [name for name in model.feature_names if name not in CALENDAR_FEATURES]
    table = drift_table(reference, recent, features, bins, threshold)
    # A week of autocorrelated weather is far from a season of it by chance alone: drift is a PSI
    # above the threshold AND above the largest PSI of any week of the reference itself.
    table["typical_psi"] = [typical_psi(reference, name, days, bins) for name in table["feature"]]
    table["drift"] = table["drift"] & (table["psi"] > table["typical_psi"].fillna(0.0))
    info = {
        "model_version": model.version,
        "feature_view": model.feature_view_label,
        "training_rows": len(reference),
        "recent_rows": len(recent),
        "days": days,
        "threshold": threshold,
    }
    return table, info


def hindcast(
    project: Any,
    location: str,
    model_name: str,
    days: int = HINDCAST_DAYS,
    features_version: int = FEATURES_VERSION,
) -> pd.DataFrame:
    """Return one-day-ahead predictions next to the observed PM2.5, per date and model version.

    Observed PM2.5 comes from ``air_quality`` v``features_version``.
    """
    fs = project.get_feature_store()
    stored = location_rows(predictions_group(fs), location)
    if stored.empty:
        return pd.DataFrame(columns=HINDCAST_COLUMNS)
    stored = stored[(stored["model_name"] == model_name) & (stored["horizon_days"] == 1)]
    actual = observed_pm25(fs, location, features_version)
    joined = stored.merge(actual, on="date", how="inner").dropna(subset=["actual_pm25"])
    if not joined.empty:
        joined = joined[joined["date"] >= joined["date"].max() - pd.Timedelta(days=days - 1)]
    return joined[HINDCAST_COLUMNS].sort_values(["date", "model_version"], ignore_index=True)
