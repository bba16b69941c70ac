"""Types shared by the data sources."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

DAILY_VARIABLES = (
    "temperature_2m_mean",
    "precipitation_sum",
    "wind_speed_10m_max",
    "wind_direction_10m_dominant",
)
MAX_FORECAST_DAYS = 16  # Open-Meteo forecasts at most 16 days ahead


@dataclass(frozen=True)
class Location:
    """A place to forecast: ``key`` is the value stored in the ``location`` column."""

    key: str
    name: str
    latitude: float
    longitude: float


class SourceError(RuntimeError):
    """A data source failed or answered with data that cannot be used."""


def utc_today() -> datetime.date:
    """Return today's date in UTC."""
    return datetime.datetime.now(datetime.UTC).date()


def check_range(start: datetime.date, end: datetime.date) -> None:
    """Raise ValueError if ``start`` is after ``end``."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}")


def check_horizon(end: datetime.date, today: datetime.date) -> None:
    """Raise SourceError if ``end`` is past the forecast horizon, ``today`` + ``MAX_FORECAST_DAYS``."""
    horizon = today + datetime.timedelta(days=MAX_FORECAST_DAYS)
    if end > horizon:
        raise SourceError(
            f"weather is available at most until {horizon} (today + {MAX_FORECAST_DAYS}); got {end}"
        )


def empty_pm25() -> pd.DataFrame:
    """Return a PM2.5 frame with no rows (the answer for a window wholly in the future)."""
    return pd.DataFrame(
        {"date": pd.Series([], dtype="datetime64[ns, UTC]"), "pm25": pd.Series([], dtype="float64")}
    )


class Source(Protocol):
    """What the pipelines need from a data source (Open-Meteo or the offline simulator)."""

    def fetch_weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return daily weather for ``start``..``end`` inclusive, one row per day."""
        ...

    def fetch_pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return observed daily mean PM2.5 for the available days in ``start``..``end``."""
        ...
