"""``check``: fail loudly when scheduled runs have stopped writing.

Scheduled runs stop silently (GitHub disables cron workflows after 60 days without activity;
a Modal app can be stopped or its secret can expire). This command compares the newest stored
observation, prediction and model with what the schedule promises and exits 1 naming each
one that is too old, so a CI job or a monitor can alert.

``check --deep`` also reads the embedded store's files and prints each damaged one (a log, a
Parquet footer, the SQLite file, online rows that disagree with the offline truth, a model file
whose sha256 changed, an interrupted erasure); ``check --repair-online`` rebuilds the online
store from the offline tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import PROGRAM
from ..catalog import feature_groups, location_rows, predictions_group
from ..lifecycle import aliases
from ..settings import Settings
from ..store import connect


@dataclass
class Freshness:
    """How old one kind of stored data is, and how old it may be."""

    what: str
    newest: pd.Timestamp | None
    age_days: float | None
    max_age_days: float

    @property
    def ok(self) -> bool:
        return self.age_days is not None and self.age_days <= self.max_age_days

    def cells(self) -> list[str]:
        """Return the verdict, what, newest (to the minute, UTC), age and limit as text."""
        newest = "never" if self.newest is None else self.newest.strftime("%Y-%m-%d %H:%M UTC")
        age = "n/a" if self.age_days is None else f"{self.age_days:.1f} d"
        return ["ok" if self.ok else "STALE", self.what, newest, age, f"{self.max_age_days:g} d"]

    def line(self) -> str:
        return table([self])


def table(rows: list[Freshness]) -> str:
    """Return the rows as aligned columns: verdict, what, newest, age, limit."""
    cells = [["", "", "newest", "age", "limit"], *(row.cells() for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _age(newest: Any, now: pd.Timestamp) -> tuple[pd.Timestamp | None, float | None]:
    if newest is None or pd.isna(newest):
        return None, None
    if isinstance(newest, (int, float)):
        newest = pd.Timestamp(newest, unit="ms")  # Hopsworks reports model creation in epoch milliseconds
    newest = pd.Timestamp(newest)
    newest = newest.tz_localize("UTC") if newest.tzinfo is None else newest.tz_convert("UTC")
    # Never negative: a timestamp a little ahead of this machine's clock is "just now".
    return newest, max((now - newest) / pd.Timedelta(days=1), 0.0)


def freshness(
    settings: Settings,
    today: dt.date | None = None,
    feature_max_age_days: float = 2,
    prediction_max_age_days: float = 2,
    model_max_age_days: float = 9,
) -> list[Freshness]:
    """Return the freshness of observations, predictions and the newest model."""
    # Ages from this moment (a model trained at 09:00 is not -0.4 days old at midnight); a given
    # ``today`` (tests) counts from its start.
    now = pd.Timestamp(today, tz="UTC") if today is not None else pd.Timestamp.now(tz="UTC")
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    _, air_quality = feature_groups(fs)
    location = settings.location.key
    observed = location_rows(air_quality, location)
    newest_obs = observed["date"].max() if not observed.empty else None
    predictions = location_rows(predictions_group(fs), location)
    newest_pred = predictions["predicted_at"].max() if not predictions.empty else None
    try:  # the newest version whose registration completed (a killed training's leftover is no model)
        newest = aliases.newest_registered(settings.model_name, aliases.history(fs, settings.model_name))
        created = getattr(mr.get_model(settings.model_name, version=newest), "created", None)
    except (LookupError, ValueError):  # none yet, or its metadata unreadable (``models`` names the file)
        created = None
    return [
        Freshness("PM2.5 observations", *_age(newest_obs, now), feature_max_age_days),
        Freshness("predictions", *_age(newest_pred, now), prediction_max_age_days),
        Freshness(f"model {settings.model_name}", *_age(created, now), model_max_age_days),
    ]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the check command."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} check", description="Fail when stored data are older than the schedule allows."
    )
    parser.add_argument(
        "--feature-max-age-days", type=float, default=2, help="default: 2 (daily runs + slack)"
    )
    parser.add_argument("--prediction-max-age-days", type=float, default=2, help="default: 2")
    parser.add_argument(
        "--model-max-age-days", type=float, default=9, help="default: 9 (weekly training + slack)"
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also read the store's files: Delta logs, Parquet footers, SQLite integrity, online rows "
        "against the latest offline rows, model files against their sha256 (embedded store)",
    )
    parser.add_argument(
        "--repair-online",
        action="store_true",
        help="rebuild the online store from the offline tables (the truth), then check (embedded store)",
    )
    return parser


def deep_findings(settings: Settings) -> list[str]:
    """Return one line per problem in the embedded store's files (empty when they are sound)."""
    from local_hopsworks.health import deep_check

    return [finding.line() for finding in deep_check(Path(settings.store_dir))]


def online_findings(settings: Settings) -> list[str]:
    """Return SQLite's ``quick_check`` findings of the embedded store's online file (the cheap check)."""
    if settings.store_backend != "local":
        return []
    from local_hopsworks.health import online_problems

    fs = connect(settings).get_feature_store()
    return [f"{Path(settings.store_dir) / 'online.sqlite'}: {p}" for p in online_problems(fs, full=False)[:5]]


def repair_online(settings: Settings) -> str:
    """Rebuild the embedded store's online tables from its offline tables; return what was done."""
    from local_hopsworks.health import repair_online as rebuild

    outcome = rebuild(connect(settings).get_feature_store(), force=True)
    kept = f"; the old file is kept as {outcome['moved_to']}" if outcome["moved_to"] else ""
    state = "was damaged" if outcome["damaged"] else "was sound"
    return f"online store {state}: rebuilt {len(outcome['tables'])} table(s) from the offline tables{kept}"


def _local_only(settings: Settings, option: str) -> None:
    if settings.store_backend != "local":
        raise ValueError(
            f"check {option} reads the embedded store's files (STORE_BACKEND=local); on Hopsworks the "
            "platform keeps its storage, and `check` without it reports freshness"
        )


def main(argv: list[str] | None = None) -> int:
    """Print the freshness table (and with ``--deep`` each damaged file); exit 1 on any problem."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    for option, wanted in (("--repair-online", args.repair_online), ("--deep", args.deep)):
        if wanted:
            _local_only(settings, option)
    if args.repair_online:
        print(repair_online(settings))
    problems = deep_findings(settings) if args.deep else online_findings(settings)
    for line in problems:
        print(f"DAMAGED {line}")
    if args.deep and not problems:
        print("ok    store files: Delta logs, Parquet footers, SQLite, online rows and model files")
    if problems:
        raise RuntimeError(f"{len(problems)} problem(s) in the store's files (each printed above)")
    rows = freshness(
        settings,
        feature_max_age_days=args.feature_max_age_days,
        prediction_max_age_days=args.prediction_max_age_days,
        model_max_age_days=args.model_max_age_days,
    )
    print(table(rows))
    stale = [r.what for r in rows if not r.ok]
    if stale:
        raise RuntimeError(f"stale: {', '.join(stale)}: check that the scheduled runs still run")
    return 0
