"""Inference pipeline: model from the registry + features from the store -> predictions.

Scores the next ``FORECAST_DAYS`` days recursively (each day's prediction feeds the next
day's lag features), re-scores the last ``HINDCAST_DAYS`` observed days one day ahead, writes
everything to the ``predictions`` feature group and compares past predictions with the
PM2.5 actually observed (the hindcast).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

import pandas as pd

from ..settings import Settings
from ..store import connect
from .common import (
    LABEL,
    LoadedModel,
    feature_groups,
    load_model,
    location_rows,
    predictions_group,
    recursive_forecast,
    utc_today,
)

log = logging.getLogger(__name__)
HINDCAST_DAYS = 30
HISTORY_DAYS = 14


def batch_features(fv: Any, location: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Return the feature view's batch data for one location in ``[start, end)``."""
    batch = fv.get_batch_data(start_time=start, end_time=end, primary_key=True, event_time=True)
    batch = batch[batch["location"] == location]
    return batch.sort_values("date", ignore_index=True)


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
            "feature_view": f"{model.meta.feature_view_name}",
            "feature_view_version": int(model.meta.feature_view_version),
            "predicted_at": now,
        }
    )


def hindcast(project: Any, location: str, model_name: str, days: int = HINDCAST_DAYS) -> pd.DataFrame:
    """Return one-day-ahead predictions next to the observed PM2.5, per date and model version."""
    fs = project.get_feature_store()
    predictions = predictions_group(fs)
    _, air_quality = feature_groups(fs)
    stored = location_rows(predictions, location)
    if stored.empty:
        return pd.DataFrame(columns=["date", "model_version", "predicted_pm25", "actual_pm25"])
    stored = stored[(stored["model_name"] == model_name) & (stored["horizon_days"] == 1)]
    actual = location_rows(air_quality, location)[["date", LABEL]].rename(columns={LABEL: "actual_pm25"})
    joined = stored.merge(actual, on="date", how="inner").dropna(subset=["actual_pm25"])
    joined = (
        joined[joined["date"] >= joined["date"].max() - pd.Timedelta(days=days - 1)]
        if not joined.empty
        else joined
    )
    return joined[["date", "model_version", "predicted_pm25", "actual_pm25"]].sort_values(
        ["date", "model_version"], ignore_index=True
    )


def run(settings: Settings, today: dt.date | None = None, model_version: int | None = None) -> dict[str, Any]:
    """Forecast the coming days, re-score recent days, store the predictions; return a summary."""
    today_ts = pd.Timestamp(today or utc_today(), tz="UTC")
    now = pd.Timestamp.now(tz="UTC")
    location = settings.location.key
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    model = load_model(mr, settings.model_name, model_version)
    fv = model.meta.get_feature_view()
    if fv is None:
        raise LookupError(f"model {settings.model_name} v{model.version} is not linked to a feature view")
    _, air_quality = feature_groups(fs, int(model.meta.feature_view_version))

    # One day ahead on recent observed days: every lag is observed, as it was at the time.
    recent = batch_features(
        fv, location, today_ts - pd.Timedelta(days=HINDCAST_DAYS - 1), today_ts + pd.Timedelta(days=1)
    )
    recent = recent.assign(predicted_pm25=model.predict(recent).clip(min=0.0)) if not recent.empty else recent

    # The coming days: lags are unknown beyond tomorrow, so predictions feed them.
    tomorrow = today_ts + pd.Timedelta(days=1)
    coming = batch_features(fv, location, tomorrow, tomorrow + pd.Timedelta(days=settings.forecast_days))
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
    predictions_group(fs).insert(rows)
    past = hindcast(project, location, settings.model_name)
    mine = past[past["model_version"] == model.version]
    mae = (
        float((mine["predicted_pm25"] - mine["actual_pm25"]).abs().mean()) if not mine.empty else float("nan")
    )
    return {
        "model": settings.model_name,
        "version": model.version,
        "feature_view": f"{model.meta.feature_view_name} v{model.meta.feature_view_version}",
        "forecast": forecast[["date", "predicted_pm25"]].reset_index(drop=True),
        "hindcast_days": len(mine),
        "hindcast_mae": mae,
        "rows_written": len(rows),
    }


def format_forecast(summary: dict[str, Any]) -> str:
    """Return the forecast and hindcast summary as text."""
    lines = [
        f"inference pipeline: {summary['model']} v{summary['version']} on {summary['feature_view']}, "
        f"{summary['rows_written']} prediction rows written",
        "forecast:",
    ]
    for record in summary["forecast"].to_dict("records"):
        lines.append(f"  {record['date'].date()}  PM2.5 {record['predicted_pm25']:6.1f} µg/m³")
    lines.append(
        f"hindcast: MAE {summary['hindcast_mae']:.2f} over {summary['hindcast_days']} days (one day ahead)"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the inference pipeline."""
    parser = argparse.ArgumentParser(
        prog="inference", description="Forecast PM2.5 for the coming days with the registered model."
    )
    parser.add_argument("--model-version", type=int, help="model version to use; default: the newest")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the inference pipeline from the command line."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(format_forecast(run(Settings(), model_version=args.model_version)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
