"""Training pipeline: point-in-time training data from the feature view -> XGBoost -> model registry.

The last ``TEST_DAYS`` labelled days are the test set (neighbouring days are correlated: a time split);
the model is registered with its metrics, plots and data versions, and the training gate sets its alias.
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

from .. import PROGRAM, catalog
from ..features.air_quality import LAG_FEATURES_BY_VERSION, lag_feature_names
from ..lifecycle import aliases, gate, registration
from ..model import MODEL_FILE
from ..settings import Settings
from ..store import connect

XGB_PARAMS = {
    "objective": "reg:squarederror",
    "max_depth": 4,
    "eta": 0.05,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "seed": 0,  # the same model from the same data
    "nthread": 2,  # within a small machine's cores
}
BOOST_ROUNDS = 400
PLOTS = ["hindcast.png", "feature_importance.png"]


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Return MAE, RMSE and R² of ``predicted`` against ``actual``."""
    error = predicted - actual
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / ss_tot if ss_tot > 0 else float("nan")
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2))), "r2": r2}


def time_split(air_quality: Any, location: str, test_days: int) -> tuple[pd.Timestamp, ...]:
    """Return the first labelled day, the first test day and the last labelled day (a time split)."""
    rows = catalog.location_rows(air_quality, location)
    days = rows["date"][rows[catalog.LABEL].notna()] if not rows.empty else rows  # empty: no schema yet
    if days.empty:
        raise LookupError(f"no PM2.5 observations for {location!r}: run the feature pipeline first")
    first, last = days.min(), days.max()
    test_start = last - pd.Timedelta(days=test_days - 1)
    if test_start - first < pd.Timedelta(days=2 * test_days):
        raise ValueError(
            f"only {(last - first).days + 1} days of labels: need at least {3 * test_days} "
            f"for a {test_days}-day test window (set TEST_DAYS or backfill more)"
        )
    return first, test_start, last


def labelled(x: pd.DataFrame, y: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the rows whose label is observed (event times in UTC: hsfs gives them naive), and the labels."""
    ok = y[catalog.LABEL].notna().to_numpy()
    return catalog.utc_times(x)[ok].reset_index(drop=True), y[catalog.LABEL].to_numpy()[ok]


def fit(x: pd.DataFrame, y: np.ndarray, features: list[str], rounds: int) -> Any:
    """Train an XGBoost regressor on the ``features`` columns of ``x``."""
    import xgboost as xgb  # imported when used: the command line starts without it

    return xgb.train(XGB_PARAMS, xgb.DMatrix(x[features].astype("float64"), label=y), num_boost_round=rounds)


def evaluate(x: pd.DataFrame, y: np.ndarray, predicted: np.ndarray) -> tuple[dict[str, float], pd.DataFrame]:
    """Return model and persistence-baseline metrics on the days with a known yesterday, and those rows."""
    known = x["pm25_lag_1"].notna().to_numpy()
    rows = pd.DataFrame({"location": x["location"], "date": x["date"], "actual": y})
    rows = rows.assign(candidate=predicted.clip(min=0.0), baseline=x["pm25_lag_1"])[known]
    metrics = regression_metrics(y[known], predicted[known])
    baseline = regression_metrics(y[known], rows["baseline"].to_numpy())
    return metrics | {f"baseline_{k}": v for k, v in baseline.items()}, rows


@dataclass(frozen=True)
class Candidate:
    """A trained model with what the registry keeps beside it."""

    booster: Any
    fv: Any
    record: dict[str, Any]  # run.json: data versions and window, features, parameters, metrics
    input_example: pd.DataFrame
    test: pd.DataFrame  # date, actual, candidate (prediction), baseline of every test day


def train(settings: Settings, fs: Any, feature_version: int, boost_rounds: int) -> Candidate:
    """Train an XGBoost model on the feature view's time split and evaluate it on the test days."""
    _, air_quality = catalog.feature_groups(fs, feature_version)
    first, test_start, last = time_split(air_quality, settings.location.key, settings.test_days)

    fv = catalog.get_feature_view(fs, feature_version)
    td_version, _ = fv.create_train_test_split(
        train_start=first,
        train_end=test_start,
        test_start=test_start,
        test_end=last + pd.Timedelta(days=1),
        description=f"train until {test_start.date()}, test {test_start.date()}..{last.date()}",
    )
    x_train, x_test, y_train, y_test = fv.get_train_test_split(td_version, event_time=True, primary_key=True)
    (x_train, y_train), (x_test, y_test) = labelled(x_train, y_train), labelled(x_test, y_test)
    features = catalog.feature_columns(x_train)  # not the joined groups' qualified keys hsfs adds

    booster = fit(x_train, y_train, features, boost_rounds)
    predicted = booster.inplace_predict(x_test[features].astype("float64"))
    metrics, test = evaluate(x_test, y_test, predicted)
    metrics.update(train_rows=float(len(y_train)), test_rows=float(len(test)))

    weather = catalog.WEATHER_VERSIONS.get(feature_version, feature_version)
    groups = {"weather": weather, "air_quality": feature_version}
    window = {"train_start": first, "train_end": test_start, "test_start": test_start, "test_end": last}
    record = {
        "model": settings.model_name,
        "location": settings.location.key,
        "feature_view": {"name": fv.name, "version": int(fv.version)},
        "training_dataset_version": td_version,
        # train_end is exclusive, test_end not
        "data": {"feature_groups": groups, **window, "train_rows": len(y_train), "test_rows": len(test)},
        "features": features,
        "params": {**XGB_PARAMS, "num_boost_round": boost_rounds},
        "metrics": metrics,
        "plots": PLOTS,
    }
    test = test[test["location"] == settings.location.key].drop(columns="location")
    return Candidate(booster, fv, record, x_train[features].head(1), test)


def run(
    settings: Settings,
    today: dt.date | None = None,  # the day an alias the run sets takes effect (default: today, UTC)
    feature_version: int = catalog.FEATURES_VERSION,
    boost_rounds: int = BOOST_ROUNDS,
) -> dict[str, Any]:
    """Train, evaluate, register and gate a model; return its run.json record, version, gate report, alias."""
    lag_feature_names(feature_version)  # an unknown version fails here, before anything is written
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    candidate = train(settings, fs, feature_version, boost_rounds)
    fv, record = candidate.fv, candidate.record
    # One decision at a time: a concurrent training is judged against this one's outcome.
    with aliases.move_lock(settings), tempfile.TemporaryDirectory() as tmp:
        report = registration.judge_candidate(settings, fs, mr, candidate.test, feature_version)
        reference = report["reference"].get("label")
        record["gate"] = {"passed": report["passed"], "decision": report["decision"], "reference": reference}
        folder = Path(tmp)
        candidate.booster.save_model(folder / MODEL_FILE)  # XGBoost's own JSON: no pickle
        (folder / "features.json").write_text(json.dumps(record["features"]))
        (folder / "run.json").write_text(json.dumps(gate.jsonable(record), indent=2, sort_keys=True))
        gate.write_report(report, folder)
        save_plots(folder, candidate.test, candidate.booster)
        model_args = {
            "name": settings.model_name,
            "description": f"XGBoost PM2.5 regressor for {settings.location.name}",
            "metrics": record["metrics"],
            "input_example": candidate.input_example,
            "feature_view": fv,
            "training_dataset_version": record["training_dataset_version"],
        }
        version = registration.register(fs, mr, folder, model_args, report, today or catalog.utc_today())
    view = f"{fv.name} v{fv.version}"
    return {**record, "version": version, "feature_view": view, "gate": report, "alias": report["decision"]}


def save_plots(folder: Path, test: pd.DataFrame, booster: Any) -> None:
    """Write the hindcast of the test days and the feature importance as PNG files."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(test["date"], test["actual"], label="actual PM2.5", color="black", linewidth=1.5)
    ax.plot(test["date"], test["candidate"], label="predicted PM2.5", color="tab:blue", linewidth=1.2)
    ax.set(ylabel="PM2.5 (µg/m³)", title="Hindcast on the test window")
    ax.legend()
    fig.autofmt_xdate()
    gain = pd.Series(booster.get_score(importance_type="gain"), index=booster.feature_names, dtype="float64")
    fig2, ax2 = plt.subplots(figsize=(6, 4))
    share = (gain.fillna(0.0) / max(gain.sum(), 1e-12)).sort_values()
    share.plot.barh(ax=ax2, color="tab:green", title="Feature importance (gain share)")
    for figure, name in zip((fig, fig2), PLOTS, strict=True):
        figure.savefig(folder / name, dpi=100, bbox_inches="tight")
        plt.close(figure)


def format_metrics(summary: dict[str, Any]) -> str:
    """Return the model and baseline metrics as a small table, then the gate's."""
    m, rows = summary["metrics"], [("model (XGBoost)", ""), ("baseline (tomorrow=today)", "baseline_")]
    test = summary["data"]
    lines = [
        f"training pipeline: registered {summary['model']} v{summary['version']} (feature view "
        f"{summary['feature_view']}, training dataset v{summary['training_dataset_version']})",
        f"test window {test['test_start'].date()}..{test['test_end'].date()} "
        f"({int(m['test_rows'])} days, {int(m['train_rows'])} training days)",
        f"{'':<28}{'MAE':>8}{'RMSE':>8}{'R2':>8}",
        *(f"{name:<28}{m[p + 'mae']:>8.2f}{m[p + 'rmse']:>8.2f}{m[p + 'r2']:>8.3f}" for name, p in rows),
        gate.format_report(summary["gate"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the training pipeline from the command line."""
    parser = argparse.ArgumentParser(
        f"{PROGRAM} training", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--feature-version",
        type=int,
        choices=sorted(LAG_FEATURES_BY_VERSION),
        default=catalog.FEATURES_VERSION,
        help="feature view version to train on (2 adds pm25_roll_max_7)",
    )
    parser.add_argument("--boost-rounds", type=int, default=BOOST_ROUNDS, help="XGBoost rounds, at least 1")
    args = parser.parse_args(argv)
    if args.boost_rounds < 1:  # a model needs one boosting round or more
        parser.error(f"argument --boost-rounds: must be at least 1, not {args.boost_rounds}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(Settings(), feature_version=args.feature_version, boost_rounds=args.boost_rounds)
    print(format_metrics(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
