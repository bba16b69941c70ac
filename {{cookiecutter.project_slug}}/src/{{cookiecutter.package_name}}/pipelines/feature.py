"""Feature pipeline: fetch weather and PM2.5, compute features, upsert the feature groups.

Without ``--start`` it continues from the day after the last stored observation (or backfills
``BACKFILL_DAYS``), so a missed run catches up; re-running a window rewrites the same rows. It writes
every air_quality version a model may serve with (v1 without a model); all of them share weather v1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

import pandas as pd

from .. import PROGRAM, catalog
from ..features import expectations
from ..features.air_quality import LAG_FEATURES_BY_VERSION, air_quality_features, calendar_features, utc_days
from ..features.weather import weather_features
from ..lifecycle import aliases
from ..settings import Settings
from ..sources import SOURCE_NAMES, get_source
from ..store import connect, exclusive, get_secret

log = logging.getLogger(__name__)
OPEN_METEO_KEY_SECRET = "OPEN_METEO_API_KEY"  # noqa: S105 - the secret's name, not its value
# A day's lags read the 7 days before it: a window reads the week before and changes the week after.
LAG_DAYS = dt.timedelta(days=7)


def run(
    settings: Settings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source_name: str | None = None,
    today: dt.date | None = None,
    source: Any = None,
    feature_versions: list[int] | None = None,
) -> dict[str, Any]:
    """Fetch, compute and store features for ``[start, end]`` plus the weather forecast; return a summary."""
    today = today or catalog.utc_today()
    end = end or today
    if end > today:
        raise ValueError(f"--end {end} is in the future: observations exist up to today ({today})")
    project = connect(settings)
    if source is None:
        name = source_name or settings.data_source
        # A key for Open-Meteo's commercial API may live in the backend's secret store.
        key = get_secret(project, OPEN_METEO_KEY_SECRET) if name == "open-meteo" else None
        source = get_source(name, settings, api_key=key)
    fs = project.get_feature_store()
    # The versions the production, shadow and rollback models read (or v1). A registry that cannot be
    # read fails the run: writing only v1 would silently starve a model serving from a later version.
    in_use = feature_versions or aliases.feature_versions_in_use(fs, settings.model_name)
    versions = sorted(set(in_use or [catalog.FEATURES_VERSION]))
    # One feature run at a time reads history, computes lags and writes them: two interleaved runs
    # would compute lags from history the other has not written yet.
    with exclusive(settings, "feature-pipeline"):
        groups = {version: catalog.feature_groups(fs, version) for version in versions}
        if start is None:  # after the last day stored, the earliest of all versions: a new one backfills
            stored = [catalog.location_rows(aq, settings.location.key) for _, aq in groups.values()]
            backfill_start = today - dt.timedelta(days=settings.backfill_days)
            start = min(
                s["date"].max().date() + dt.timedelta(days=1) if len(s) else backfill_start for s in stored
            )
        return write_window(settings, source, groups, start, end, today)


def write_window(
    settings: Settings, source: Any, groups: dict[int, Any], start: dt.date, end: dt.date, today: dt.date
) -> dict[str, Any]:
    """Fetch ``[start, end]``, compute its features and the lags it changes after it, and write them."""
    location, versions = settings.location, list(groups)
    aq_groups = {version: aq for version, (_, aq) in groups.items()}
    new_pm25 = pd.DataFrame()
    if start <= end:
        log.info("fetching PM2.5 for %s from %s to %s", location.name, start, end)
        new_pm25 = source.fetch_pm25(location, start, end)
    combined = pm25_history(list(aq_groups.values()), location.key, start, end, new_pm25)
    # The window's days, and the stored days after it whose lags read the window (a backfill).
    window = (pd.Timestamp(start, tz="UTC"), pd.Timestamp(end + LAG_DAYS, tz="UTC"))
    aq_batches = {v: air_quality_features(combined, location.key, version=v) for v in versions}
    aq_batches = {v: rows[rows["date"].between(*window)] for v, rows in aq_batches.items()}

    weather_start, forecast_end = min(start, today), today + dt.timedelta(days=settings.forecast_days)
    log.info("fetching weather for %s from %s to %s", location.name, weather_start, forecast_end)
    raw_weather = source.fetch_weather(location, weather_start, forecast_end)
    weather_rows = calendar_features(weather_features(raw_weather, location.key))
    # Every feature version shares weather v1.
    aq_writes = [(aq_groups[v], rows) for v, rows in aq_batches.items() if len(rows)]
    write_checked([(groups[versions[0]][0], weather_rows), *aq_writes])
    days = {"start": start, "end": end, "forecast_until": forecast_end}
    dates = {key: day.isoformat() for key, day in days.items()}
    counts = {"weather_rows": len(weather_rows), "air_quality_rows": len(aq_batches[versions[0]])}
    return {"location": location.key, **dates, **counts, "feature_versions": versions}


def pm25_history(
    aq_groups: list[Any], location: str, start: dt.date, end: dt.date, new_pm25: pd.DataFrame
) -> pd.DataFrame:
    """Return the stored PM2.5 the window's lags read or change, with the new observations replacing it."""
    history_start = pd.Timestamp(start - LAG_DAYS, tz="UTC")
    after_end = pd.Timestamp(end + LAG_DAYS + dt.timedelta(days=1), tz="UTC")
    stored = [catalog.location_rows(aq, location, history_start, after_end) for aq in aq_groups]
    parts = [frame[["date", "pm25"]] for frame in (new_pm25, *stored) if not frame.empty]
    if not parts:
        return pd.DataFrame({"date": [], "pm25": []})
    combined = pd.concat(parts, ignore_index=True)
    return combined[~utc_days(combined["date"]).duplicated()].reset_index(drop=True)  # new observations win


def write_checked(batches: list[tuple[Any, pd.DataFrame]]) -> None:
    """Validate every batch, then insert them: a refused batch leaves nothing partial behind."""
    for fg, _ in batches:
        expectations.ensure_suite(fg)
    expectations.check_batches(batches)
    # Weather comes first: a crash between inserts leaves extra weather, never labels without features.
    for fg, rows in batches:
        fg.insert(rows)
    for fg, _ in batches:
        catalog.describe_features(fg)


def main(argv: list[str] | None = None) -> int:
    """Run the feature pipeline from the command line."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} feature", description=__doc__)
    parser.add_argument(
        "--start", type=catalog.parse_date, help="first day (YYYY-MM-DD); default: day after last stored"
    )
    parser.add_argument("--end", type=catalog.parse_date, help="last day (YYYY-MM-DD); default: today (UTC)")
    parser.add_argument("--source", choices=SOURCE_NAMES, help="data source; default: DATA_SOURCE setting")
    parser.add_argument(
        "--feature-version",
        type=int,
        nargs="+",
        choices=sorted(LAG_FEATURES_BY_VERSION),
        help="air_quality version(s) to write, e.g. '2' or '1 2'; default: the versions the production, "
        "shadow and rollback models read (1 when there is no model)",
    )
    args = parser.parse_args(argv)
    # A window that cannot hold an observation is a mistake, not "0 rows": exit 2, nothing written.
    today = catalog.utc_today()
    if args.start and args.start > today:
        parser.error(f"--start {args.start} is in the future (today is {today} UTC): nothing to fetch yet")
    if args.start and args.end and args.start > args.end:
        parser.error(f"--start {args.start} is after --end {args.end}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(Settings(), args.start, args.end, args.source, feature_versions=args.feature_version)
    versions = ", ".join(f"v{v}" for v in summary["feature_versions"])
    print(
        f"feature pipeline: {summary['location']} {summary['start']}..{summary['end']}: "
        f"{summary['air_quality_rows']} air-quality rows ({versions}), "
        f"{summary['weather_rows']} weather rows (forecast until {summary['forecast_until']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
