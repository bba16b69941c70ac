"""``check``: fail loudly when scheduled runs have stopped writing.

Scheduled runs stop silently (GitHub disables cron workflows after 60 days without activity;
a Modal app can be stopped or its secret can expire). This command compares the newest stored
observation, prediction and model with what the schedule promises and exits 1 naming each
one that is too old, so a CI job or a monitor can alert.
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import PROGRAM
from ..catalog import feature_groups, location_rows, predictions_group
from ..model import latest_model_version
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
    try:
        model = mr.get_model(settings.model_name, version=latest_model_version(mr, settings.model_name))
        created = getattr(model, "created", None)
    except LookupError:
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the freshness table; exit 1 when anything is stale."""
    args = build_parser().parse_args(argv)
    rows = freshness(
        Settings(),
        feature_max_age_days=args.feature_max_age_days,
        prediction_max_age_days=args.prediction_max_age_days,
        model_max_age_days=args.model_max_age_days,
    )
    print(table(rows))
    stale = [r.what for r in rows if not r.ok]
    if stale:
        raise RuntimeError(f"stale: {', '.join(stale)}: check that the scheduled runs still run")
    return 0
