"""Inference pipeline: models from the registry + features from the store -> predictions.

Scores the next ``FORECAST_DAYS`` days recursively (each day's prediction feeds the next
day's lag features), re-scores the last ``HINDCAST_DAYS`` observed days one day ahead, writes
everything to the ``predictions`` feature group and compares past predictions with the
PM2.5 actually observed (the hindcast).

The registry says which models serve: ``production``, and ``shadow`` when one is set. Each reads
the feature view version it was trained on, so both can run side by side on different feature
versions; every prediction row names the model version and feature view version. Outcomes that
arrived are recorded in the ``monitoring`` group with each model's role. When production fails
to load (a file changed since registration), the previous production version serves and the
run reports the error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import Any

import pandas as pd

from .. import PROGRAM
from ..catalog import (
    LABEL,
    batch_features,
    feature_groups,
    location_rows,
    predictions_group,
    utc_today,
)
from ..lifecycle import aliases, monitoring
from ..lifecycle.monitoring import HINDCAST_DAYS, hindcast
from ..model import HISTORY_DAYS, LoadedModel, recursive_forecast
from ..settings import Settings
from ..store import connect

log = logging.getLogger(__name__)


def prediction_rows(
    frame: pd.DataFrame, model: LoadedModel, location: str, today: pd.Timestamp, now: pd.Timestamp
) -> pd.DataFrame:
    """Return rows for the predictions feature group."""
    horizon = ((frame["date"] - today).dt.days).clip(lower=1)
    return pd.DataFrame(
        {
            "location": location,
            "date": frame["date"].to_numpy(),
            "model_name": model.meta.name,
            "model_version": model.version,
            "horizon_days": horizon.astype("int64").to_numpy(),
            "predicted_pm25": frame["predicted_pm25"].astype("float64").to_numpy(),
            "feature_view": model.feature_view[0],
            "feature_view_version": model.feature_view[1],
            "predicted_at": now,
        }
    )


def score(
    fs: Any, model: LoadedModel, location: str, today_ts: pd.Timestamp, now: pd.Timestamp, forecast_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one model on its own feature view version; return its prediction rows and forecast."""
    fv = model.scoring_view()
    _, air_quality = feature_groups(fs, model.feature_view[1])

    # One day ahead on recent observed days: every lag is observed, as it was at the time.
    tomorrow = today_ts + pd.Timedelta(days=1)
    recent = batch_features(fv, location, today_ts - pd.Timedelta(days=HINDCAST_DAYS - 1), tomorrow)
    recent = recent.assign(predicted_pm25=model.predict(recent).clip(min=0.0)) if not recent.empty else recent

    # The coming days: lags are unknown beyond tomorrow, so predictions feed them.
    coming = batch_features(fv, location, tomorrow, tomorrow + pd.Timedelta(days=forecast_days))
    if coming.empty:
        raise LookupError(
            f"no weather forecast stored after {today_ts.date()}: run the feature pipeline first"
        )
    observed = location_rows(air_quality, location, today_ts - pd.Timedelta(days=HISTORY_DAYS), tomorrow)
    history = observed.set_index("date")[LABEL].dropna() if not observed.empty else pd.Series(dtype="float64")
    forecast = recursive_forecast(model, coming, history)
    rows = pd.concat(
        [
            prediction_rows(frame, model, location, today_ts, now)
            for frame in (recent, forecast)
            if not frame.empty
        ],
        ignore_index=True,
    )
    return rows, forecast[["date", "predicted_pm25"]].reset_index(drop=True)


def models_to_serve(
    fs: Any, mr: Any, name: str, model_version: int | None
) -> tuple[list[tuple[str, Any]], list[str]]:
    """Return the (role, loaded model) pairs to score, production first, and the problems met loading them."""
    if model_version is not None:
        return [("pinned", aliases.load_checked(fs, mr, name, model_version))], []
    serving = aliases.load_serving(fs, mr, name)
    served = [(aliases.PRODUCTION, serving.production)]
    if serving.shadow is not None:
        served.append((aliases.SHADOW, serving.shadow))
    return served, serving.problems


def served_summary(
    past: pd.DataFrame, role: str, model: LoadedModel, output: tuple[Any, Any]
) -> dict[str, Any]:
    """Return what one served model did: its forecast, rows written and hindcast accuracy."""
    mine = past[past["model_version"] == model.version]
    mae = (
        float((mine["predicted_pm25"] - mine["actual_pm25"]).abs().mean()) if not mine.empty else float("nan")
    )
    return {
        "role": role,
        "version": model.version,
        "feature_view": model.feature_view_label,
        "feature_view_version": model.feature_view[1],
        "forecast": output[1],
        "hindcast_days": len(mine),
        "hindcast_mae": mae,
        "rows_written": len(output[0]),
    }


def run(settings: Settings, today: dt.date | None = None, model_version: int | None = None) -> dict[str, Any]:
    """Forecast with production (and shadow), store predictions and outcomes; return a summary.

    Args:
        settings: The settings.
        today: The day to forecast from; default: today (UTC).
        model_version: Serve only this version (role ``pinned``) instead of the registry's aliases.

    Returns:
        Production's ``version``, ``feature_view``, ``forecast``, ``hindcast_days``, ``hindcast_mae``
        and ``rows_written``; ``served`` (role, version, feature view version per model), ``shadow``
        (the same for the shadow, or None), ``problems`` (load or shadow failures; empty when all is well)
        and ``predicted_at``.
    """
    today_ts = pd.Timestamp(today or utc_today(), tz="UTC")
    now = pd.Timestamp.now(tz="UTC")
    location = settings.location.key
    name = settings.model_name
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    served, problems = models_to_serve(fs, mr, name, model_version)

    outputs = {}
    for role, served_model in served:
        try:
            outputs[role] = score(fs, served_model, location, today_ts, now, settings.forecast_days)
        except (ValueError, LookupError) as exc:
            if role != aliases.SHADOW:
                raise
            # The shadow never stops production: its failure is reported, production still serves.
            problems.append(f"shadow {name} v{served_model.version} not scored: {exc}")
            log.error("%s", problems[-1])
    served = [(role, served_model) for role, served_model in served if role in outputs]
    rows = pd.concat([frame for frame, _ in outputs.values()], ignore_index=True)
    predictions_group(fs).insert(rows)
    main_role, model = served[0]
    roles = {m.version: role for role, m in served}
    features_version = model.feature_view[1]
    recorded = monitoring.record_outcomes(fs, location, name, roles, now, features_version)

    past = hindcast(project, location, name, features_version=features_version)
    summaries = [served_summary(past, role, m, outputs[role]) for role, m in served]
    first = summaries[0]
    return {
        "model": name,
        "version": first["version"],
        "feature_view": first["feature_view"],
        "forecast": first["forecast"],
        "hindcast_days": first["hindcast_days"],
        "hindcast_mae": first["hindcast_mae"],
        "rows_written": len(rows),
        "role": main_role,
        "served": [(s["role"], s["version"], s["feature_view_version"]) for s in summaries],
        "shadow": next((s for s in summaries if s["role"] == aliases.SHADOW), None),
        "monitoring_rows": recorded,
        "problems": list(problems),
        "predicted_at": now,
    }


def format_forecast(summary: dict[str, Any]) -> str:
    """Return the forecast and hindcast summary as text."""
    role = summary.get("role", "production")
    lines = [
        f"inference pipeline: {summary['model']} v{summary['version']} ({role}) "
        f"on {summary['feature_view']}, "
        f"{summary['rows_written']} prediction rows written",
        "forecast:",
    ]
    for record in summary["forecast"].to_dict("records"):
        lines.append(f"  {record['date'].date()}  PM2.5 {record['predicted_pm25']:6.1f} µg/m³")
    lines.append(
        f"hindcast: MAE {summary['hindcast_mae']:.2f} over {summary['hindcast_days']} days (one day ahead)"
    )
    shadow = summary.get("shadow")
    if shadow:
        lines.append(
            f"shadow: v{shadow['version']} on {shadow['feature_view']}, "
            f"hindcast MAE {shadow['hindcast_mae']:.2f} "
            f"over {shadow['hindcast_days']} days (logged beside production, not served)"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the inference pipeline."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} inference",
        description="Forecast PM2.5 for the coming days with the registered model.",
    )
    parser.add_argument(
        "--model-version", type=int, help="serve only this version; default: production (and shadow)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the inference pipeline; exit 1 after serving when a model failed to load (so schedules alert)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(Settings(), model_version=args.model_version)
    print(format_forecast(summary))
    for problem in summary["problems"]:
        print(f"inference: error: {problem}", file=sys.stderr)
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
