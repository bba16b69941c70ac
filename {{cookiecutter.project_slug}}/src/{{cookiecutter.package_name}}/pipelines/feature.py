"""Feature pipeline: fetch weather and PM2.5, compute features, upsert the feature groups.

One script for backfills and daily runs: without ``--start`` it continues from the day
after the last stored PM2.5 observation (or backfills ``BACKFILL_DAYS`` on the first
run), so a missed run catches up. Re-running a window rewrites the same rows (upsert on
primary key + event time), which makes retries safe.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

import pandas as pd

from ..features.air_quality import air_quality_features, calendar_features
from ..features.weather import weather_features
from ..settings import Settings
from ..sources import SOURCE_NAMES, get_source
from ..store import connect
from .common import feature_groups, location_rows, parse_date, utc_today

log = logging.getLogger(__name__)
HISTORY_DAYS = 8  # lag features of the first new day need the 7 days before it


def default_start(air_quality: Any, location: str, today: dt.date, backfill_days: int) -> dt.date:
    """Return the day after the last stored observation, or the backfill start on a first run."""
    stored = location_rows(air_quality, location)
    if stored.empty:
        return today - dt.timedelta(days=backfill_days)
    return stored["date"].max().date() + dt.timedelta(days=1)


def run(
    settings: Settings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source_name: str | None = None,
    today: dt.date | None = None,
    source: Any = None,
) -> dict[str, Any]:
    """Fetch, compute and store features for ``[start, end]`` plus the weather forecast.

    Returns:
        A summary: the window and the number of rows written to each feature group.
    """
    today = today or utc_today()
    end = end or today
    if end > today:
        raise ValueError(f"--end {end} is in the future: observations exist up to today ({today})")
    location = settings.location
    source = source or get_source(source_name or settings.data_source, settings)
    fs = connect(settings).get_feature_store()
    weather_fg, air_quality_fg = feature_groups(fs)
    start = start or default_start(air_quality_fg, location.key, today, settings.backfill_days)
    forecast_end = today + dt.timedelta(days=settings.forecast_days)

    new_pm25 = pd.DataFrame()
    if start <= end:
        log.info("fetching PM2.5 for %s from %s to %s", location.name, start, end)
        new_pm25 = source.fetch_pm25(location, start, end)
    history_start = pd.Timestamp(start - dt.timedelta(days=HISTORY_DAYS), tz="UTC")
    stored = location_rows(air_quality_fg, location.key, history_start, pd.Timestamp(start, tz="UTC"))
    parts = [frame[["date", "pm25"]] for frame in (stored, new_pm25) if not frame.empty]
    combined = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"date": [], "pm25": []})
    aq_rows = air_quality_features(combined, location.key)
    aq_rows = aq_rows[aq_rows["date"] >= pd.Timestamp(start, tz="UTC")]

    weather_start = min(start, today)
    log.info("fetching weather for %s from %s to %s", location.name, weather_start, forecast_end)
    weather_rows = calendar_features(
        weather_features(source.fetch_weather(location, weather_start, forecast_end), location.key)
    )

    # Weather first: a crash between the two inserts leaves extra weather, never labels without features.
    weather_fg.insert(weather_rows)
    if not aq_rows.empty:
        air_quality_fg.insert(aq_rows)
    summary = {
        "location": location.key,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "weather_rows": len(weather_rows),
        "air_quality_rows": len(aq_rows),
        "forecast_until": forecast_end.isoformat(),
    }
    return summary


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the feature pipeline."""
    parser = argparse.ArgumentParser(
        prog="feature", description="Fetch weather and PM2.5, compute features and upsert the feature groups."
    )
    parser.add_argument(
        "--start", type=parse_date, help="first day (YYYY-MM-DD); default: day after last stored"
    )
    parser.add_argument("--end", type=parse_date, help="last day (YYYY-MM-DD); default: today (UTC)")
    parser.add_argument("--source", choices=SOURCE_NAMES, help="data source; default: DATA_SOURCE setting")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the feature pipeline from the command line."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(Settings(), start=args.start, end=args.end, source_name=args.source)
    print(
        f"feature pipeline: {summary['location']} {summary['start']}..{summary['end']}: "
        f"{summary['air_quality_rows']} air-quality rows, {summary['weather_rows']} weather rows "
        f"(forecast until {summary['forecast_until']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
