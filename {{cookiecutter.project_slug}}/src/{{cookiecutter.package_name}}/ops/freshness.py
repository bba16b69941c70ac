"""Fail (exit 1) naming what is older than the schedules allow: they stop silently (GitHub disables cron
after 60 idle days, a Modal secret expires). --deep and --repair-online check the embedded store's files."""

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


def table(rows: list[Freshness]) -> str:
    """Return the rows as aligned columns under a header: verdict, what, newest, age, limit."""
    cells = [["", "", "newest", "age", "limit"], *(row.cells() for row in rows)]
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(line.rstrip() for line in lines)


def _age(newest: Any, now: pd.Timestamp) -> tuple[pd.Timestamp | None, float | None]:
    if newest is None or pd.isna(newest):
        return None, None
    # Hopsworks reports a model's creation in epoch milliseconds.
    newest = pd.Timestamp(newest, unit="ms" if isinstance(newest, (int, float)) else None)
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
    # From now: a model trained at 09:00 is not -0.4 days old at midnight (a given ``today``: its start).
    now = pd.Timestamp(today, tz="UTC") if today is not None else pd.Timestamp.now(tz="UTC")
    project = connect(settings)
    fs = project.get_feature_store()
    observed = location_rows(feature_groups(fs)[1], settings.location.key)
    newest_obs = observed["date"].max() if not observed.empty else None
    predicted = location_rows(predictions_group(fs), settings.location.key)
    newest_pred = predicted["predicted_at"].max() if not predicted.empty else None
    try:  # the newest version whose registration completed (a killed training's leftover is no model)
        newest = aliases.newest_registered(settings.model_name, aliases.history(fs, settings.model_name))
        model = project.get_model_registry().get_model(settings.model_name, version=newest)
        created = getattr(model, "created", None)
    except (LookupError, ValueError):  # none yet, or its metadata unreadable (``models`` names the file)
        created = None
    return [
        Freshness("PM2.5 observations", *_age(newest_obs, now), feature_max_age_days),
        Freshness("predictions", *_age(newest_pred, now), prediction_max_age_days),
        Freshness(f"model {settings.model_name}", *_age(created, now), model_max_age_days),
    ]


def deep_findings(settings: Settings) -> list[str]:
    """Return one line per problem in the embedded store's files (empty when they are sound)."""
    from local_hopsworks.health import deep_check

    return [finding.line() for finding in deep_check(Path(settings.store_dir))]


def file_findings(settings: Settings, deep: bool, repair: bool) -> list[str]:
    """Repair the online store if asked; return the deep findings, or the online file's quick check."""
    if settings.store_backend != "local":
        if repair or deep:
            raise ValueError(
                f"check {'--repair-online' if repair else '--deep'} reads the embedded store's files "
                "(STORE_BACKEND=local); on Hopsworks the platform keeps its storage, and `check` without it "
                "reports freshness"
            )
        return []
    from local_hopsworks import health

    if repair:
        done = health.repair_online(connect(settings).get_feature_store(), force=True)
        kept = f"; the old file is kept as {done['moved_to']}" if done["moved_to"] else ""
        state = "was damaged" if done["damaged"] else "was sound"
        print(f"online store {state}: rebuilt {len(done['tables'])} table(s) from the offline tables{kept}")
    if deep:
        return deep_findings(settings)
    online = Path(settings.store_dir) / "online.sqlite"
    problems = health.online_problems(connect(settings).get_feature_store(), full=False)
    return [f"{online}: {problem}" for problem in problems[:5]]


def main(argv: list[str] | None = None) -> int:
    """Print the freshness table (and with ``--deep`` each damaged file); exit 1 on any problem."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} check", description=__doc__)
    for what, default in (("feature", 2), ("prediction", 2), ("model", 9)):
        parser.add_argument(f"--{what}-max-age-days", type=float, default=default, help=f"default: {default}")
    deep = "also check the embedded store's files: Delta logs, Parquet footers, SQLite, online rows, models"
    parser.add_argument("--deep", action="store_true", help=deep)
    repair = "first rebuild the embedded store's online tables from its offline tables"
    parser.add_argument("--repair-online", action="store_true", help=repair)
    args = parser.parse_args(argv)
    settings = Settings()
    problems = file_findings(settings, args.deep, args.repair_online)
    if problems:
        print(*(f"DAMAGED {line}" for line in problems), sep="\n")
        raise RuntimeError(f"{len(problems)} problem(s) in the store's files (each printed above)")
    if args.deep:
        print("ok    store files: Delta logs, Parquet footers, SQLite, online rows and model files")
    limits = (args.feature_max_age_days, args.prediction_max_age_days, args.model_max_age_days)
    rows = freshness(settings, None, *limits)
    print(table(rows))
    stale = [r.what for r in rows if not r.ok]
    if stale:
        raise RuntimeError(f"stale: {', '.join(stale)}: check that the scheduled runs still run")
    return 0
