"""Training pipeline: point-in-time training data from the feature view -> XGBoost -> model registry.

The last ``TEST_DAYS`` days with an observed label are the test set (a time split, never a
random one, because neighbouring days are correlated). The model is compared with the
persistence baseline (tomorrow = today) on the same rows and registered with its metrics, its
plots and the feature view and training dataset versions it was trained on.

Every new version is registered; the training gate (``gate.py``) then decides whether it gets an
alias: it is compared with the production model on the same test days (production scored on its
own feature view version), or with the persistence baseline when there is no production model
yet. Passing makes it ``shadow`` (``production`` when there is none); the report is saved with the
model (``gate_report.json``) and printed. ``run.json`` records parameters, data versions and metrics
for the ``runs`` command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import PROGRAM
from ..catalog import (
    FEATURES_VERSION,
    LABEL,
    WEATHER_VERSIONS,
    feature_columns,
    feature_groups,
    get_feature_view,
    location_rows,
    utc_times,
    utc_today,
)
from ..features.air_quality import LAG_FEATURES_BY_VERSION, lag_feature_names
from ..lifecycle import aliases, gate, registration
from ..model import MODEL_FILE
from ..settings import Settings
from ..store import connect

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


def time_split(
    air_quality: Any, location: str, test_days: int
) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """Return the first labelled day, the first test day and the last labelled day (a time split).

    Raises:
        LookupError: If ``location`` has no observed label.
        ValueError: If there are fewer than three test windows of labelled days.
    """
    rows = location_rows(air_quality, location)
    rows = rows[rows[LABEL].notna()] if not rows.empty else rows
    if rows.empty:
        raise LookupError(f"no PM2.5 observations for {location!r}: run the feature pipeline first")
    first, last = rows["date"].min(), rows["date"].max()
    test_start = last - pd.Timedelta(days=test_days - 1)
    if test_start - first < pd.Timedelta(days=2 * test_days):
        raise ValueError(
            f"only {(last - first).days + 1} days of labels: need at least {3 * test_days} "
            f"for a {test_days}-day test window (set TEST_DAYS or backfill more)"
        )
    return first, test_start, last


def labelled(x: pd.DataFrame, y: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the rows whose label is observed, and their labels."""
    ok = y[LABEL].notna().to_numpy()
    return x[ok].reset_index(drop=True), y[ok][LABEL].to_numpy()


def fit(x: pd.DataFrame, y: np.ndarray, features: list[str], rounds: int) -> Any:
    """Train an XGBoost regressor on the ``features`` columns of ``x``."""
    import xgboost as xgb

    train = xgb.DMatrix(x[features].astype("float64"), label=y, feature_names=features)
    return xgb.train(XGB_PARAMS, train, num_boost_round=rounds)


def predict(booster: Any, x: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Return the booster's predictions for the ``features`` columns of ``x``."""
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(x[features].astype("float64"), feature_names=features))


def evaluate(x: pd.DataFrame, y: np.ndarray, predicted: np.ndarray) -> tuple[dict[str, float], pd.DataFrame]:
    """Return the model's and the persistence baseline's metrics, and the test rows the gate judges.

    Both are scored on the days where yesterday's value is known (persistence: tomorrow = today).
    """
    known = x["pm25_lag_1"].notna().to_numpy()
    baseline = x["pm25_lag_1"].to_numpy()[known]
    metrics = regression_metrics(y[known], predicted[known])
    metrics.update({f"baseline_{k}": v for k, v in regression_metrics(y[known], baseline).items()})
    rows = pd.DataFrame(
        {
            "location": x["location"].to_numpy()[known],
            "date": x["date"].to_numpy()[known],
            "actual": y[known],
            "candidate": np.clip(predicted[known], 0.0, None),
            "baseline": baseline,
        }
    )
    return metrics, rows


@dataclass
class Candidate:
    """A trained model with what the registry keeps beside it: data versions, window, metrics, plots."""

    booster: Any
    fv: Any
    td_version: int
    feature_version: int
    boost_rounds: int
    window: dict[str, pd.Timestamp]  # train_start, train_end (exclusive), test_start, test_end
    features: list[str]
    metrics: dict[str, float]
    input_example: pd.DataFrame
    hindcast: tuple[Any, Any, Any]  # test dates, actual and predicted PM2.5


def run(
    settings: Settings,
    today: dt.date | None = None,
    feature_version: int = FEATURES_VERSION,
    boost_rounds: int = BOOST_ROUNDS,
) -> dict[str, Any]:
    """Train, evaluate, register and gate a model; return its version, metrics and gate report.

    Args:
        settings: The settings.
        today: The day the run acts on (when an alias it sets takes effect); default: today (UTC).
        feature_version: The feature view version to train on (1, or 2 with ``pm25_roll_max_7``).
        boost_rounds: XGBoost boosting rounds.
    """
    lag_feature_names(feature_version)  # an unknown version fails here, before anything is written
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    _, air_quality = feature_groups(fs, feature_version)
    location = settings.location.key
    first, test_start, last = time_split(air_quality, location, settings.test_days)

    # Point-in-time correct training data from the feature view, split by time.
    fv = get_feature_view(fs, feature_version)
    td_version, _ = fv.create_train_test_split(
        train_start=first,
        train_end=test_start,
        test_start=test_start,
        test_end=last + pd.Timedelta(days=1),
        description=f"train until {test_start.date()}, test {test_start.date()}..{last.date()}",
    )
    x_train, x_test, y_train, y_test = fv.get_train_test_split(td_version, event_time=True, primary_key=True)
    x_train, x_test = utc_times(x_train), utc_times(x_test)  # hsfs gives event times back naive (UTC)
    (x_train, y_train), (x_test, y_test) = labelled(x_train, y_train), labelled(x_test, y_test)
    features = feature_columns(x_train)  # not the joined groups' qualified keys hsfs adds

    booster = fit(x_train, y_train, features, boost_rounds)
    predicted = predict(booster, x_test, features)
    metrics, test_rows = evaluate(x_test, y_test, predicted)
    metrics.update(train_rows=float(len(y_train)), test_rows=float(len(test_rows)))
    test_rows = test_rows[test_rows["location"] == location].drop(columns="location")

    window = {"train_start": first, "train_end": test_start, "test_start": test_start, "test_end": last}
    example, hindcast = x_train[features].head(1), (x_test["date"], y_test, predicted)
    candidate = Candidate(
        booster, fv, td_version, feature_version, boost_rounds, window, features, metrics, example, hindcast
    )
    version, report = register_and_gate(settings, fs, mr, candidate, test_rows, today or utc_today())
    return {
        "model": settings.model_name,
        "version": version,
        "feature_view": f"{fv.name} v{fv.version}",
        "training_dataset_version": td_version,
        "test_window": f"{test_start.date()}..{last.date()}",
        "metrics": metrics,
        "gate": report,
        "alias": report["decision"],
    }


def register_and_gate(
    settings: Settings, fs: Any, mr: Any, candidate: Candidate, test_rows: pd.DataFrame, today: dt.date
) -> tuple[int, dict[str, Any]]:
    """Judge ``candidate`` with the gate, register it and give it its alias; return its version and report."""
    # One decision at a time: a concurrent training is judged against this one's outcome.
    with aliases.move_lock(settings):
        report = registration.judge_candidate(settings, fs, mr, test_rows, int(candidate.fv.version))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            save_artifacts(folder, candidate, run_record(settings, candidate, report), report)
            model_args = {
                "name": settings.model_name,
                "metrics": candidate.metrics,
                "description": f"XGBoost PM2.5 regressor for {settings.location.name}",
                "input_example": candidate.input_example,
                "feature_view": candidate.fv,
                "training_dataset_version": candidate.td_version,
            }
            version = registration.register(fs, mr, folder, model_args, report)
        registration.apply_decision(fs, mr, settings.model_name, version, report, today)
    return version, report


def run_record(settings: Settings, candidate: Candidate, report: dict[str, Any]) -> dict[str, Any]:
    """Return ``run.json``: parameters, data versions, time windows, metrics and the gate's verdict."""
    metrics, fv = candidate.metrics, candidate.fv
    return {
        "model": settings.model_name,
        "location": settings.location.key,
        "feature_view": {"name": fv.name, "version": int(fv.version)},
        "training_dataset_version": candidate.td_version,
        "data": {
            "feature_groups": {
                "weather": WEATHER_VERSIONS.get(candidate.feature_version, candidate.feature_version),
                "air_quality": candidate.feature_version,
            },
            # train_end is exclusive, test_end not
            **{key: day.isoformat() for key, day in candidate.window.items()},
            "train_rows": int(metrics["train_rows"]),
            "test_rows": int(metrics["test_rows"]),
        },
        "features": candidate.features,
        "params": {**XGB_PARAMS, "num_boost_round": candidate.boost_rounds},
        "metrics": metrics,
        "gate": {
            "passed": report["passed"],
            "decision": report["decision"],
            "reference": report["reference"].get("label"),
        },
        "plots": ["hindcast.png", "feature_importance.png"],
    }


def save_artifacts(
    folder: Path, candidate: Candidate, run_info: dict[str, Any], report: dict[str, Any]
) -> None:
    """Write the model (XGBoost's own JSON: no pickle), its metadata, the gate report and the plots."""
    candidate.booster.save_model(folder / MODEL_FILE)
    (folder / "features.json").write_text(json.dumps(run_info["features"]))
    (folder / "metrics.json").write_text(json.dumps(gate.jsonable(run_info["metrics"]), indent=2))
    (folder / "params.json").write_text(json.dumps(run_info["params"], indent=2))
    (folder / "run.json").write_text(json.dumps(gate.jsonable(run_info), indent=2, sort_keys=True))
    gate.write_report(report, folder)
    save_plots(folder, *candidate.hindcast, candidate.booster)


def format_metrics(summary: dict[str, Any]) -> str:
    """Return the model and baseline metrics as a small table."""
    m = summary["metrics"]
    lines = [
        f"training pipeline: registered {summary['model']} v{summary['version']} "
        f"(feature view {summary['feature_view']}, training dataset v{summary['training_dataset_version']})",
        f"test window {summary['test_window']} "
        f"({int(m['test_rows'])} days, {int(m['train_rows'])} training days)",
        f"{'':<28}{'MAE':>8}{'RMSE':>8}{'R2':>8}",
        f"{'model (XGBoost)':<28}{m['mae']:>8.2f}{m['rmse']:>8.2f}{m['r2']:>8.3f}",
        f"{'baseline (tomorrow=today)':<28}{m['baseline_mae']:>8.2f}{m['baseline_rmse']:>8.2f}"
        f"{m['baseline_r2']:>8.3f}",
    ]
    if summary.get("gate"):
        lines.append(gate.format_report(summary["gate"]))
    return "\n".join(lines)


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{value} is not at least 1: a model needs one boosting round or more"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the training pipeline."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} training",
        description="Train an XGBoost PM2.5 model on the feature view, register it, run the training gate.",
    )
    parser.add_argument(
        "--feature-version",
        type=int,
        choices=sorted(LAG_FEATURES_BY_VERSION),
        default=FEATURES_VERSION,
        help=f"feature view version to train on (default: {FEATURES_VERSION}; 2 adds pm25_roll_max_7)",
    )
    parser.add_argument(
        "--boost-rounds",
        type=positive_int,
        default=BOOST_ROUNDS,
        help=f"XGBoost rounds, at least 1 (default: {BOOST_ROUNDS})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the training pipeline from the command line."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(
        format_metrics(run(Settings(), feature_version=args.feature_version, boost_rounds=args.boost_rounds))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
