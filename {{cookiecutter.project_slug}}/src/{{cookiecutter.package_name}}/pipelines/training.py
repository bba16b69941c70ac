"""Training pipeline: point-in-time training data from the feature view -> XGBoost -> model registry.

The last ``TEST_DAYS`` days with an observed label are the test set (a time split, never a
random one, because neighbouring days are correlated). The model is compared with the
persistence baseline (tomorrow = today) on the same rows and registered with its metrics, its
plots and the feature view and training dataset versions it was trained on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..features.air_quality import LAG_FEATURES
from ..settings import Settings
from ..store import connect
from .common import (
    FEATURE_VIEW,
    FEATURES_VERSION,
    LABEL,
    MODEL_FILE,
    feature_groups,
    location_rows,
)

log = logging.getLogger(__name__)
XGB_PARAMS = {
    "objective": "reg:squarederror",
    "max_depth": 4,
    "eta": 0.05,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "seed": 0,
    "nthread": 2,
}
BOOST_ROUNDS = 400


def get_feature_view(fs: Any, version: int = FEATURES_VERSION) -> Any:
    """Return the feature view joining the PM2.5 label and lags to the weather, creating it once."""
    weather, air_quality = feature_groups(fs, version)
    query = weather.select_all().join(air_quality.select([LABEL, *LAG_FEATURES]), on=["location", "date"])
    return fs.get_or_create_feature_view(
        name=FEATURE_VIEW,
        version=version,
        query=query,
        labels=[LABEL],
        description="Weather of the day, PM2.5 lags known at its start, and the day's PM2.5 as label",
    )


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Return MAE, RMSE and R² of ``predicted`` against ``actual``."""
    error = predicted - actual
    ss_res = float(np.sum(error**2))
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
    }


def label_window(air_quality: Any, location: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the first and last day with an observed label for ``location``."""
    rows = location_rows(air_quality, location)
    rows = rows[rows[LABEL].notna()] if not rows.empty else rows
    if rows.empty:
        raise LookupError(f"no PM2.5 observations for {location!r}: run the feature pipeline first")
    return rows["date"].min(), rows["date"].max()


def save_plots(
    folder: Path, dates: pd.Series, actual: np.ndarray, predicted: np.ndarray, booster: Any
) -> None:
    """Write the hindcast and feature-importance plots as PNG files."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(dates, actual, label="actual PM2.5", color="black", linewidth=1.5)
    ax.plot(dates, predicted, label="predicted PM2.5", color="tab:blue", linewidth=1.2)
    ax.set_ylabel("PM2.5 (µg/m³)")
    ax.set_title("Hindcast on the test window")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(folder / "hindcast.png", dpi=100)
    plt.close(fig)

    gain = booster.get_score(importance_type="gain")
    importance = pd.Series(gain, dtype="float64").reindex(booster.feature_names, fill_value=0.0)
    importance = (importance / max(importance.sum(), 1e-12)).sort_values()
    fig, ax = plt.subplots(figsize=(6, 4))
    importance.plot.barh(ax=ax, color="tab:green")
    ax.set_title("Feature importance (gain share)")
    fig.tight_layout()
    fig.savefig(folder / "feature_importance.png", dpi=100)
    plt.close(fig)


def run(settings: Settings, today: dt.date | None = None) -> dict[str, Any]:
    """Train, evaluate and register a model; return its version and metrics."""
    import xgboost as xgb

    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    _, air_quality = feature_groups(fs)
    first, last = label_window(air_quality, settings.location.key)
    fv = get_feature_view(fs)
    test_start = last - pd.Timedelta(days=settings.test_days - 1)
    if test_start - first < pd.Timedelta(days=2 * settings.test_days):
        raise ValueError(
            f"only {(last - first).days + 1} days of labels: need at least {3 * settings.test_days} "
            f"for a {settings.test_days}-day test window (set TEST_DAYS or backfill more)"
        )
    td_version, _ = fv.create_train_test_split(
        train_start=first,
        train_end=test_start,
        test_start=test_start,
        test_end=last + pd.Timedelta(days=1),
        description=f"train until {test_start.date()}, test {test_start.date()}..{last.date()}",
    )
    x_train, x_test, y_train, y_test = fv.get_train_test_split(td_version, event_time=True, primary_key=True)
    train_ok, test_ok = y_train[LABEL].notna().to_numpy(), y_test[LABEL].notna().to_numpy()
    x_train, y_train = x_train[train_ok], y_train[train_ok][LABEL].to_numpy()
    x_test, y_test = x_test[test_ok], y_test[test_ok][LABEL].to_numpy()
    feature_names = [c for c in x_train.columns if c not in ("location", "date")]

    train = xgb.DMatrix(x_train[feature_names].astype("float64"), label=y_train, feature_names=feature_names)
    booster = xgb.train(XGB_PARAMS, train, num_boost_round=BOOST_ROUNDS)
    predicted = booster.predict(
        xgb.DMatrix(x_test[feature_names].astype("float64"), feature_names=feature_names)
    )

    # Persistence (tomorrow = today) on the rows where yesterday's value is known, and the model on the same rows.
    known = x_test["pm25_lag_1"].notna().to_numpy()
    metrics = regression_metrics(y_test[known], predicted[known])
    baseline = regression_metrics(y_test[known], x_test["pm25_lag_1"].to_numpy()[known])
    metrics.update({f"baseline_{k}": v for k, v in baseline.items()})
    metrics.update(train_rows=float(len(y_train)), test_rows=float(known.sum()))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        booster.save_model(folder / MODEL_FILE)  # XGBoost's own JSON format: no pickle
        (folder / "features.json").write_text(json.dumps(feature_names))
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (folder / "params.json").write_text(
            json.dumps({**XGB_PARAMS, "num_boost_round": BOOST_ROUNDS}, indent=2)
        )
        save_plots(folder, x_test["date"], y_test, predicted, booster)
        registered = mr.python.create_model(
            name=settings.model_name,
            metrics=metrics,
            description=f"XGBoost PM2.5 regressor for {settings.location.name}",
            input_example=x_train[feature_names].head(1),
            feature_view=fv,
            training_dataset_version=td_version,
        )
        registered.save(str(folder))
    return {
        "model": settings.model_name,
        "version": int(registered.version),
        "feature_view": f"{fv.name} v{fv.version}",
        "training_dataset_version": td_version,
        "test_window": f"{test_start.date()}..{last.date()}",
        "metrics": metrics,
    }


def format_metrics(summary: dict[str, Any]) -> str:
    """Return the model and baseline metrics as a small table."""
    m = summary["metrics"]
    lines = [
        f"training pipeline: registered {summary['model']} v{summary['version']} "
        f"(feature view {summary['feature_view']}, training dataset v{summary['training_dataset_version']})",
        f"test window {summary['test_window']} ({int(m['test_rows'])} days, {int(m['train_rows'])} training days)",
        f"{'':<28}{'MAE':>8}{'RMSE':>8}{'R2':>8}",
        f"{'model (XGBoost)':<28}{m['mae']:>8.2f}{m['rmse']:>8.2f}{m['r2']:>8.3f}",
        f"{'baseline (tomorrow=today)':<28}{m['baseline_mae']:>8.2f}{m['baseline_rmse']:>8.2f}{m['baseline_r2']:>8.3f}",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the training pipeline."""
    return argparse.ArgumentParser(
        prog="training",
        description="Train an XGBoost PM2.5 model on the feature view and register it with its metrics.",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the training pipeline from the command line."""
    build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(format_metrics(run(Settings())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
