"""Feature pipeline: fetch weather and PM2.5, compute features, upsert the feature groups.

One script for backfills and daily runs: without ``--start`` it continues from the day
after the last stored PM2.5 observation (or backfills ``BACKFILL_DAYS`` on the first
run), so a missed run catches up. Re-running a window rewrites the same rows (upsert on
primary key + event time), which makes retries safe.

Feature versions: ``--feature-version 2`` writes ``air_quality`` v2 (v1 plus ``pm25_roll_max_7``);
every version shares ``weather`` v1. Without the option the pipeline writes every feature version
a model may serve with (production, shadow and the rollback target; v1 when there is no model),
so during an upgrade both versions stay fresh and a rollback finds current features.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

import pandas as pd

from .. import PROGRAM
from ..catalog import (
    FEATURES_VERSION,
    describe_features,
    feature_groups,
    location_rows,
    parse_date,
    utc_today,
)
from ..features import expectations
from ..features.air_quality import LAG_FEATURES_BY_VERSION, air_quality_features, calendar_features
from ..features.weather import weather_features
from ..lifecycle import aliases
from ..settings import Settings
from ..sources import SOURCE_NAMES, get_source
from ..store import connect, exclusive, get_secret

log = logging.getLogger(__name__)
OPEN_METEO_KEY_SECRET = "OPEN_METEO_API_KEY"  # noqa: S105 - the secret's name, not its value
HISTORY_DAYS = 8  # lag features of the first new day need the 7 days before it
# The lags of a day read the 7 days before it: a window changes the lags of the 7 days after it.
DEPENDENT_DAYS = dt.timedelta(days=7)


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
    feature_versions: list[int] | None = None,
) -> dict[str, Any]:
    """Fetch, compute and store features for ``[start, end]`` plus the weather forecast.

    ``feature_versions`` are the air_quality versions to write (default: the ones in use); the
    default start is the earliest of their default starts, so a new version is backfilled.

    Returns:
        A summary: the window and the number of rows written to each feature group.
    """
    today = today or utc_today()
    end = end or today
    if end > today:
        raise ValueError(f"--end {end} is in the future: observations exist up to today ({today})")
    project = connect(settings)
    if source is None:
        name = source_name or settings.data_source
        # A key for Open-Meteo's commercial API may live in the backend's secret store.
        key = get_secret(project, OPEN_METEO_KEY_SECRET) if name == "open-meteo" else None
        source = get_source(name, settings, api_key=key)
    # The versions the production, shadow and rollback models read (or v1). A registry that cannot be
    # read fails the run: writing only v1 would silently starve a model serving from a later version.
    in_use = feature_versions or aliases.feature_versions_in_use(
        project.get_feature_store(), settings.model_name
    )
    versions = sorted(set(in_use or [FEATURES_VERSION]))
    # One feature run at a time reads history, computes lags and writes them: two interleaved runs
    # would compute lags from history the other has not written yet.
    with exclusive(settings, "feature-pipeline"):
        return write_window(settings, project, source, versions, start, end, today)


def write_window(
    settings: Settings,
    project: Any,
    source: Any,
    versions: list[int],
    start: dt.date | None,
    end: dt.date,
    today: dt.date,
) -> dict[str, Any]:
    """Fetch ``[start, end]``, compute its features and the lags of the days after it it changes; write."""
    location = settings.location
    fs = project.get_feature_store()
    groups = {version: feature_groups(fs, version) for version in versions}
    weather_fg = groups[versions[0]][0]  # every feature version shares weather v1
    aq_groups = {version: aq for version, (_, aq) in groups.items()}
    start = start or min(
        default_start(aq, location.key, today, settings.backfill_days) for aq in aq_groups.values()
    )
    forecast_end = today + dt.timedelta(days=settings.forecast_days)

    new_pm25 = pd.DataFrame()
    if start <= end:
        log.info("fetching PM2.5 for %s from %s to %s", location.name, start, end)
        new_pm25 = source.fetch_pm25(location, start, end)
    combined = pm25_history(list(aq_groups.values()), location.key, start, end, new_pm25)
    # The window's days, and the stored days after it whose lags read the window (a backfill).
    first, last = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end + DEPENDENT_DAYS, tz="UTC")
    aq_batches = {}
    for version in versions:
        rows = air_quality_features(combined, location.key, version=version)
        aq_batches[version] = rows[(rows["date"] >= first) & (rows["date"] <= last)]

    weather_start = min(start, today)
    log.info("fetching weather for %s from %s to %s", location.name, weather_start, forecast_end)
    weather_rows = calendar_features(
        weather_features(source.fetch_weather(location, weather_start, forecast_end), location.key)
    )

    aq_writes = [(aq_groups[version], rows) for version, rows in aq_batches.items() if len(rows)]
    write_checked([(weather_fg, weather_rows), *aq_writes])
    return {
        "location": location.key,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "weather_rows": len(weather_rows),
        "air_quality_rows": len(aq_batches[versions[0]]),
        "feature_versions": versions,
        "forecast_until": forecast_end.isoformat(),
    }


def pm25_history(
    aq_groups: list[Any], location: str, start: dt.date, end: dt.date, new_pm25: pd.DataFrame
) -> pd.DataFrame:
    """Return stored PM2.5 around ``[start, end]`` that lags read, with the new observations replacing it.

    Stored days before ``start`` are the history of the window's lags; stored days after ``end``
    (up to ``DEPENDENT_DAYS``) are the days whose lags the window changes.
    """
    history_start = pd.Timestamp(start - dt.timedelta(days=HISTORY_DAYS), tz="UTC")
    after_end = pd.Timestamp(end + DEPENDENT_DAYS + dt.timedelta(days=1), tz="UTC")
    stored = [location_rows(aq, location, history_start, after_end) for aq in aq_groups]
    parts = [frame[["date", "pm25"]] for frame in (new_pm25, *stored) if not frame.empty]
    if not parts:
        return pd.DataFrame({"date": [], "pm25": []})
    combined = pd.concat(parts, ignore_index=True)
    days = pd.to_datetime(combined["date"], utc=True).dt.normalize()
    return combined[~days.duplicated(keep="first")].reset_index(drop=True)  # new observations win


def write_checked(batches: list[tuple[Any, pd.DataFrame]]) -> None:
    """Validate every batch, then insert them: a refused batch leaves nothing partial behind."""
    for fg, _ in batches:
        expectations.ensure_suite(fg)
    expectations.check_batches(batches)
    # Weather comes first: a crash between inserts leaves extra weather, never labels without features.
    for fg, rows in batches:
        fg.insert(rows)
    for fg, _ in batches:
        describe_features(fg)


def window_problem(start: dt.date | None, end: dt.date | None, today: dt.date) -> str | None:
    """Return what is wrong with a ``--start``/``--end`` window, or None.

    A window that cannot hold an observation is a mistake, not "0 rows": a start after today
    (UTC) or after the end.
    """
    if start is not None and start > today:
        return f"--start {start} is in the future (today is {today} UTC): there is nothing to fetch yet"
    if start is not None and end is not None and start > end:
        return f"--start {start} is after --end {end}"
    return None


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the feature pipeline."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} feature",
        description="Fetch weather and PM2.5, compute features and upsert the feature groups.",
    )
    parser.add_argument(
        "--start", type=parse_date, help="first day (YYYY-MM-DD); default: day after last stored"
    )
    parser.add_argument("--end", type=parse_date, help="last day (YYYY-MM-DD); default: today (UTC)")
    parser.add_argument("--source", choices=SOURCE_NAMES, help="data source; default: DATA_SOURCE setting")
    parser.add_argument(
        "--feature-version",
        type=int,
        nargs="+",
        choices=sorted(LAG_FEATURES_BY_VERSION),
        help="air_quality version(s) to write, e.g. '2' or '1 2'; default: the versions the production, "
        "shadow and rollback models read (1 when there is no model)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the feature pipeline from the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = window_problem(args.start, args.end, utc_today())
    if problem:
        parser.error(problem)  # exit 2 with the usage line: no run, nothing written
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = run(
        Settings(),
        start=args.start,
        end=args.end,
        source_name=args.source,
        feature_versions=args.feature_version,
    )
    versions = ", ".join(f"v{v}" for v in summary["feature_versions"])
    print(
        f"feature pipeline: {summary['location']} {summary['start']}..{summary['end']}: "
        f"{summary['air_quality_rows']} air-quality rows ({versions}), "
        f"{summary['weather_rows']} weather rows "
        f"(forecast until {summary['forecast_until']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
