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

from ..catalog import feature_groups, location_rows, predictions_group, utc_today
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

    def line(self) -> str:
        newest = "never" if self.newest is None else self.newest.isoformat()
        age = "n/a" if self.age_days is None else f"{self.age_days:.1f} d"
        verdict = "ok" if self.ok else "STALE"
        return f"{verdict:<6}{self.what:<26}newest {newest:<27}age {age:<9}limit {self.max_age_days:g} d"


def _age(newest: Any, now: pd.Timestamp) -> tuple[pd.Timestamp | None, float | None]:
    if newest is None or pd.isna(newest):
        return None, None
    if isinstance(newest, (int, float)):
        newest = pd.Timestamp(newest, unit="ms")  # Hopsworks reports model creation in epoch milliseconds
    newest = pd.Timestamp(newest)
    newest = newest.tz_localize("UTC") if newest.tzinfo is None else newest.tz_convert("UTC")
    return newest, (now - newest) / pd.Timedelta(days=1)


def freshness(
    settings: Settings,
    today: dt.date | None = None,
    feature_max_age_days: float = 2,
    prediction_max_age_days: float = 2,
    model_max_age_days: float = 9,
) -> list[Freshness]:
    """Return the freshness of observations, predictions and the newest model."""
    now = pd.Timestamp(today or utc_today(), tz="UTC")
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
        prog="check", description="Fail when stored data are older than the schedule allows."
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
    for row in rows:
        print(row.line())
    stale = [r.what for r in rows if not r.ok]
    if stale:
        raise RuntimeError(f"stale: {', '.join(stale)}: check that the scheduled runs still run")
    return 0
