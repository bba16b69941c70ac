"""What the data sources share: the location type, their errors and the checks of a requested window."""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pandas as pd

from ..catalog import utc_today

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


class Source(ABC):
    """A source of daily weather (up to today + 16 days) and observed daily PM2.5 (up to today): subclasses
    implement ``weather`` and ``pm25`` for a checked window (``pm25``'s ends today at the latest)."""

    def __init__(self, today: datetime.date | None = None) -> None:
        self._today = today  # a fixed day makes the past/future split reproducible in tests

    def today(self) -> datetime.date:
        """Return the reference day (UTC) that separates past from future."""
        return self._today or utc_today()

    def fetch_weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return daily weather for ``start``..``end`` inclusive, one row per day."""
        self.check_range(start, end)
        horizon = self.today() + datetime.timedelta(days=MAX_FORECAST_DAYS)
        if end > horizon:
            raise SourceError(
                f"weather is available at most until {horizon} (today + {MAX_FORECAST_DAYS}); got {end}"
            )
        return self.weather(location, start, end)

    def fetch_pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return observed daily mean PM2.5 for the available days in ``start``..``end``."""
        self.check_range(start, end)
        # Days after today are never asked for: their values would be forecasts, not observations.
        end = min(end, self.today())
        if start > end:
            return pd.DataFrame({"date": pd.DatetimeIndex([], tz="UTC"), "pm25": pd.Series([], dtype=float)})
        return self.pm25(location, start, end)

    def check_range(self, start: datetime.date, end: datetime.date) -> None:
        """Raise ValueError if ``start`` is after ``end``."""
        if start > end:
            raise ValueError(f"start {start} is after end {end}")

    @abstractmethod
    def weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame: ...
    @abstractmethod
    def pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame: ...
