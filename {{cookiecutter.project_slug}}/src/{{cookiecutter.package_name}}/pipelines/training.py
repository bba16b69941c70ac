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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import (
    FEATURES_VERSION,
    LABEL,
    WEATHER_VERSIONS,
    batch_features,
    feature_groups,
    get_feature_view,
    location_rows,
    utc_today,
)
from ..features.air_quality import LAG_FEATURES_BY_VERSION, lag_feature_names
from ..lifecycle import aliases, gate
from ..model import MODEL_FILE, LoadedModel, file_hashes
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


def score_on_own_view(
    model: LoadedModel, location: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Return ``date`` and the model's one-day-ahead ``reference`` prediction for days in ``[start, end)``.

    The model reads the feature view version it was trained on, whatever the candidate's is.
    """
    fv = model.meta.get_feature_view()
    if fv is None:
        raise LookupError(f"model {model.meta.name} v{model.version} is not linked to a feature view")
    batch = batch_features(fv, location, start, end)
    if batch.empty:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[us, UTC]"), "reference": []})
    return pd.DataFrame({"date": batch["date"], "reference": model.predict(batch).clip(min=0.0)})


def _train_end(model: LoadedModel) -> pd.Timestamp | None:
    """Return the first day after a model's training data (from its ``run.json``), if recorded."""
    path = model.folder / "run.json" if model.folder is not None else None
    if path is None or not path.exists():
        return None
    value = (json.loads(path.read_text()).get("data") or {}).get("train_end")
    return pd.Timestamp(value) if value else None


def gate_check(
    settings: Settings, fs: Any, mr: Any, rows: pd.DataFrame, feature_version: int
) -> dict[str, Any]:
    """Run the training gate for a candidate's test ``rows`` (date, actual, candidate, baseline).

    Returns:
        The gate report with ``decision``: the alias the candidate gets, or None when it fails.
        With no production model there is nothing to protect: the candidate becomes production,
        and its comparison with the persistence baseline is reported for information.
    """
    name = settings.model_name
    production = aliases.aliases(mr, name).get(aliases.PRODUCTION)
    thresholds = {
        "margin": settings.gate_mae_margin,
        "slice_max_worse": settings.gate_slice_max_worse,
        "min_slice_rows": settings.gate_min_slice_rows,
    }
    candidate = {"model": name, "feature_view_version": feature_version}
    if production is None:
        frame = rows.rename(columns={"baseline": "reference"})
        reference = {
            "kind": "baseline",
            "label": "persistence baseline (tomorrow = today): no production model",
        }
        report = gate.evaluate(frame, candidate=candidate, reference=reference, **thresholds)
        verdict = "would pass" if report["passed"] else "would fail"
        report["reasons"] = [
            f"no production model yet: the candidate becomes production (against the baseline it {verdict}):",
            *report["reasons"],
        ]
        report.update(passed=True, informational=True, decision=aliases.PRODUCTION)
        return report

    label = f"production {name} v{production.version}"
    try:
        model = aliases.load_checked(fs, mr, name, production.version)
        end = rows["date"].max() + pd.Timedelta(days=1)
        scored = score_on_own_view(model, settings.location.key, rows["date"].min(), end)
    except aliases.LOAD_ERRORS as exc:
        reference = {"kind": "production", "version": production.version, "label": label}
        report = gate.evaluate(
            rows.assign(reference=np.nan), candidate=candidate, reference=reference, **thresholds
        )
        report["reasons"] = [f"{label} could not be scored, so nothing shows the candidate is better: {exc}"]
        report["decision"] = None
        return report
    frame = rows.drop(columns="baseline").merge(scored, on="date", how="inner")
    # Days production was trained on would flatter it: compare on its out-of-sample days only.
    train_end = _train_end(model)
    in_sample = int((frame["date"] < train_end).sum()) if train_end is not None else 0
    if train_end is not None:
        frame = frame[frame["date"] >= train_end]
    fv_version = int(model.meta.feature_view_version)
    reference = {
        "kind": "production",
        "version": production.version,
        "feature_view_version": fv_version,
        "label": f"{label} on feature view v{fv_version}",
        "in_sample_days_excluded": in_sample,
    }
    report = gate.evaluate(frame, candidate=candidate, reference=reference, **thresholds)
    report["decision"] = aliases.SHADOW if report["passed"] else None
    return report


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
    import xgboost as xgb

    lag_feature_names(feature_version)  # an unknown version fails here, before anything is written
    today = today or utc_today()
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    _, air_quality = feature_groups(fs, feature_version)
    first, last = label_window(air_quality, settings.location.key)
    fv = get_feature_view(fs, feature_version)
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
    booster = xgb.train(XGB_PARAMS, train, num_boost_round=boost_rounds)
    predicted = booster.predict(
        xgb.DMatrix(x_test[feature_names].astype("float64"), feature_names=feature_names)
    )

    # Persistence (tomorrow = today) on the rows where yesterday's value is known, and the model on them.
    known = x_test["pm25_lag_1"].notna().to_numpy()
    metrics = regression_metrics(y_test[known], predicted[known])
    baseline = regression_metrics(y_test[known], x_test["pm25_lag_1"].to_numpy()[known])
    metrics.update({f"baseline_{k}": v for k, v in baseline.items()})
    metrics.update(train_rows=float(len(y_train)), test_rows=float(known.sum()))

    test_rows = pd.DataFrame(
        {
            "date": x_test["date"].to_numpy()[known],
            "actual": y_test[known],
            "candidate": np.clip(predicted[known], 0.0, None),
            "baseline": x_test["pm25_lag_1"].to_numpy()[known],
        }
    )
    if "location" in x_test.columns:
        test_rows = test_rows[x_test["location"].to_numpy()[known] == settings.location.key]
    report = gate_check(settings, fs, mr, test_rows, int(fv.version))
    params = {**XGB_PARAMS, "num_boost_round": boost_rounds}
    run_info = {
        "model": settings.model_name,
        "location": settings.location.key,
        "feature_view": {"name": fv.name, "version": int(fv.version)},
        "training_dataset_version": td_version,
        "data": {
            "feature_groups": {
                "weather": WEATHER_VERSIONS.get(feature_version, feature_version),
                "air_quality": feature_version,
            },
            "train_start": first.isoformat(),
            "train_end": test_start.isoformat(),  # exclusive: the first test day
            "test_start": test_start.isoformat(),
            "test_end": last.isoformat(),  # inclusive: the last day with a label
            "train_rows": len(y_train),
            "test_rows": int(known.sum()),
        },
        "features": feature_names,
        "params": params,
        "metrics": metrics,
        "gate": {
            "passed": report["passed"],
            "decision": report["decision"],
            "reference": report["reference"].get("label"),
        },
        "plots": ["hindcast.png", "feature_importance.png"],
    }

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        booster.save_model(folder / MODEL_FILE)  # XGBoost's own JSON format: no pickle
        (folder / "features.json").write_text(json.dumps(feature_names))
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (folder / "params.json").write_text(json.dumps(params, indent=2))
        (folder / "run.json").write_text(json.dumps(gate.jsonable(run_info), indent=2, sort_keys=True))
        gate.write_report(report, folder)
        save_plots(folder, x_test["date"], y_test, predicted, booster)
        hashes = file_hashes(folder)
        registered = mr.python.create_model(
            name=settings.model_name,
            metrics=metrics,
            description=f"XGBoost PM2.5 regressor for {settings.location.name}",
            input_example=x_train[feature_names].head(1),
            feature_view=fv,
            training_dataset_version=td_version,
        )
        registered.save(str(folder))
    version = int(registered.version)
    by = "training pipeline"
    aliases.record_event(
        fs,
        settings.model_name,
        "registered",
        version,
        by=by,
        reason=f"trained on {fv.name} v{fv.version}, training dataset v{td_version}",
        detail={
            "sha256": hashes,
            "feature_view_version": int(fv.version),
            "training_dataset_version": td_version,
        },
    )
    report["candidate"]["version"] = version
    # The full table is printed by main() (format_metrics); the log keeps the verdict for schedulers' logs.
    log.info("training gate for %s v%s: %s", settings.model_name, version, report["decision"])
    verdict = "; ".join(report["reasons"])
    move = {aliases.PRODUCTION: aliases.promote, aliases.SHADOW: aliases.set_shadow}
    if report["decision"] in move:
        reason = f"training gate passed: {verdict}"
        move[report["decision"]](fs, mr, settings.model_name, version, by=by, reason=reason, today=today)
    else:
        aliases.record_event(
            fs, settings.model_name, "gate_failed", version, by=by, reason=f"training gate failed: {verdict}"
        )
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


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the training pipeline."""
    parser = argparse.ArgumentParser(
        prog="training",
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
        "--boost-rounds", type=int, default=BOOST_ROUNDS, help=f"XGBoost rounds (default: {BOOST_ROUNDS})"
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
