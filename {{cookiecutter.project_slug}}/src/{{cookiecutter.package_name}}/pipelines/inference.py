"""Inference pipeline: production (and shadow) models, each on its own feature view -> predictions."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import Any

import pandas as pd

from .. import PROGRAM
from ..catalog import LABEL, batch_features, feature_groups, location_rows, predictions_group, utc_today
from ..lifecycle import aliases, monitoring
from ..model import HISTORY_DAYS, LoadedModel, recursive_forecast
from ..settings import Settings
from ..store import connect

log = logging.getLogger(__name__)
DAY = pd.Timedelta(days=1)


def score(
    fs: Any, model: LoadedModel, location: str, today: pd.Timestamp, now: pd.Timestamp, forecast_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one model on its own feature view version; return its prediction rows and forecast."""
    fv = model.scoring_view()
    # One day ahead on recent observed days: every lag is observed, as it was at the time.
    recent = batch_features(fv, location, today - (monitoring.HINDCAST_DAYS - 1) * DAY, today + DAY)
    recent = recent.assign(predicted_pm25=model.predict(recent).clip(min=0.0)) if not recent.empty else recent
    # The coming days: lags are unknown beyond tomorrow, so predictions feed them.
    coming = batch_features(fv, location, today + DAY, today + (forecast_days + 1) * DAY)
    if coming.empty:
        raise LookupError(f"no weather forecast stored after {today.date()}: run the feature pipeline first")
    air_quality = feature_groups(fs, model.feature_view[1])[1]
    observed = location_rows(air_quality, location, today - HISTORY_DAYS * DAY, today + DAY)
    history = observed.set_index("date")[LABEL].dropna() if not observed.empty else pd.Series(dtype="float64")
    forecast = recursive_forecast(model, coming, history)[["date", "predicted_pm25"]]
    scored = pd.concat([frame[forecast.columns] for frame in (recent, forecast) if not frame.empty])
    rows = pd.DataFrame(
        {
            "location": location,
            "date": scored["date"].to_numpy(),
            "model_name": model.meta.name,
            "model_version": model.version,
            "horizon_days": (scored["date"] - today).dt.days.clip(lower=1).astype("int64").to_numpy(),
            "predicted_pm25": scored["predicted_pm25"].astype("float64").to_numpy(),
            "feature_view": model.feature_view[0],
            "feature_view_version": model.feature_view[1],
            "predicted_at": now,
        }
    )
    return rows, forecast.reset_index(drop=True)


def summarize(past: pd.DataFrame, role: str, model: LoadedModel, forecast: pd.DataFrame) -> dict[str, Any]:
    """Return what one served model did: its forecast and hindcast accuracy."""
    mine = past[past["model_version"] == model.version]
    mae = float((mine["predicted_pm25"] - mine["actual_pm25"]).abs().mean())
    served = {"role": role, "version": model.version, "feature_view": model.feature_view_label}
    return served | {"forecast": forecast, "hindcast_days": len(mine), "hindcast_mae": mae}


def run(settings: Settings, today: dt.date | None = None, model_version: int | None = None) -> dict[str, Any]:
    """Forecast with production and shadow (or ``model_version``), store predictions, return a summary."""
    today_ts, now = pd.Timestamp(today or utc_today(), tz="UTC"), pd.Timestamp.now(tz="UTC")
    location, name = settings.location.key, settings.model_name
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    if model_version is not None:
        served, problems = [("pinned", aliases.load_checked(fs, mr, name, model_version))], []
    else:
        serving = aliases.load_serving(fs, mr, name)
        served = [(aliases.PRODUCTION, serving.production), (aliases.SHADOW, serving.shadow)]
        served, problems = [(role, model) for role, model in served if model is not None], serving.problems
    outputs = {}
    for role, model in served:
        try:
            outputs[role] = score(fs, model, location, today_ts, now, settings.forecast_days)
        except (ValueError, LookupError) as exc:
            if role != aliases.SHADOW:
                raise
            # The shadow never stops production: its failure is reported, production still serves.
            problems.append(f"shadow {name} v{model.version} not scored: {exc}")
            log.error("%s", problems[-1])
    served = [(role, model) for role, model in served if role in outputs]
    rows = pd.concat([frame for frame, _ in outputs.values()], ignore_index=True)
    predictions_group(fs).insert(rows)
    features_version = served[0][1].feature_view[1]
    roles = {model.version: role for role, model in served}
    recorded = monitoring.record_outcomes(fs, location, name, roles, now, features_version)
    past = monitoring.hindcast(project, location, name, features_version=features_version)
    summaries = [summarize(past, role, model, outputs[role][1]) for role, model in served]
    return {
        "model": name,
        **summaries[0],
        "rows_written": len(rows),
        "served": [(role, model.version, model.feature_view[1]) for role, model in served],
        "shadow": next((s for s in summaries if s["role"] == aliases.SHADOW), None),
        "monitoring_rows": recorded,
        "problems": list(problems),
        "predicted_at": now,
    }


def format_forecast(summary: dict[str, Any]) -> str:
    """Return the forecast and hindcast summary as text."""
    days = summary["forecast"].itertuples(index=False)
    lines = [
        f"inference pipeline: {summary['model']} v{summary['version']} ({summary['role']}) "
        f"on {summary['feature_view']}, {summary['rows_written']} prediction rows written",
        "forecast:",
        *(f"  {day.date()}  PM2.5 {pm25:6.1f} µg/m³" for day, pm25 in days),
        f"hindcast: MAE {summary['hindcast_mae']:.2f} over {summary['hindcast_days']} days (one day ahead)",
    ]
    if shadow := summary["shadow"]:
        lines.append(
            f"shadow: v{shadow['version']} on {shadow['feature_view']}, "
            f"hindcast MAE {shadow['hindcast_mae']:.2f} over {shadow['hindcast_days']} days "
            "(logged beside production, not served)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the inference pipeline; exit 1 after serving when a model failed to load (so schedules alert)."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} inference", description="Forecast PM2.5 days ahead.")
    parser.add_argument("--model-version", type=int, help="serve only this version, not production+shadow")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(Settings(), model_version=args.model_version)
    print(format_forecast(summary))
    sys.stderr.write("".join(f"inference: error: {problem}\n" for problem in summary["problems"]))
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
