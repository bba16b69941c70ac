"""Types shared by the data sources."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Location:
    """A place to forecast: ``key`` is the value stored in the ``location`` column."""

    key: str
    name: str
    latitude: float
    longitude: float


class SourceError(RuntimeError):
    """A data source failed or answered with data that cannot be used."""


class Source(Protocol):
    """What the pipelines need from a data source (Open-Meteo or the offline simulator)."""

    def fetch_weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return daily weather for ``start``..``end`` inclusive, one row per day."""
        ...

    def fetch_pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return observed daily mean PM2.5 for the available days in ``start``..``end``."""
        ...
