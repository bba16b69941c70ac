"""Offline, deterministic simulator of daily weather and PM2.5, so everything runs without a network. Made up
but learnable: seasons by latitude, fronts, dry spells and skewed rain; PM2.5 rises with cold (heating) and
weekday traffic and is washed out by wind and rain."""

from __future__ import annotations

import datetime
import zlib

import numpy as np
import pandas as pd

from .base import DAILY_VARIABLES, MAX_FORECAST_DAYS, Location, Source, SourceError

ORIGIN = datetime.date(2015, 1, 1)
MIN_PM25 = 0.5


class SyntheticSource(Source):
    """Simulated data source: a value for ``(seed, location.key, day)`` never depends on the window asked
    (the series always starts at ``ORIGIN`` and its random draws are laid out one row per day)."""

    def __init__(self, seed: int = 7, today: datetime.date | None = None) -> None:
        super().__init__(today)
        self.seed = seed
        self._cache: dict[tuple[str, float, float], pd.DataFrame] = {}

    def check_range(self, start: datetime.date, end: datetime.date) -> None:
        """Raise ValueError if ``start`` is after ``end``, SourceError if it is before ``ORIGIN``."""
        super().check_range(start, end)
        if start < ORIGIN:
            raise SourceError(f"synthetic data starts on {ORIGIN}; got start {start}")

    def weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return simulated daily weather for ``start``..``end`` inclusive."""
        return self._window(location, start, end)[["date", *DAILY_VARIABLES]]

    def pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return simulated daily mean PM2.5 for ``start``..``end`` inclusive."""
        return self._window(location, start, end)[["date", "pm25"]]

    def _window(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        key = (location.key, float(location.latitude), float(location.longitude))
        series = self._cache.get(key)
        if series is None or series["date"].iloc[-1].date() < end:
            # Generate up to the forecast horizon at once so later calls hit the cache.
            last = max(end, self.today() + datetime.timedelta(days=MAX_FORECAST_DAYS))
            seed = [self.seed, zlib.crc32(location.key.encode("utf-8"))]
            series = self._cache[key] = _simulate(location.latitude, seed, last)
        return series.iloc[(start - ORIGIN).days : (end - ORIGIN).days + 1].reset_index(drop=True)


def _ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """Return the AR(1) series ``x[t] = phi * x[t-1] + innovations[t]`` started at stationarity."""
    out = np.empty_like(innovations)
    out[0] = innovations[0] / np.sqrt(1.0 - phi**2)
    for t in range(1, len(innovations)):
        out[t] = phi * out[t - 1] + innovations[t]
    return out


def _simulate(latitude: float, seed: list[int], last: datetime.date) -> pd.DataFrame:
    """Simulate weather and PM2.5 from ``ORIGIN`` to ``last`` inclusive."""
    dates = pd.date_range(ORIGIN.isoformat(), last.isoformat(), freq="D", tz="UTC").as_unit("ns")
    # One matrix call, filled row by row: day t always gets the same draws whatever the length.
    z_temp, z_wet, z_rain, z_wind, z_dir, z_pm = (
        np.random.default_rng(seed).standard_normal((len(dates), 6)).T
    )

    # Seasons: coldest in mid-January in the north (mid-July in the south), colder and more
    # seasonal towards the poles (Stockholm: about -1 C in winter, 17 C in summer).
    hemisphere = 1.0 if latitude >= 0 else -1.0
    lat = abs(latitude)
    winter = hemisphere * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 15) / 365.25)
    temperature = np.round((30.0 - 0.4 * lat) - 0.16 * lat * winter + _ar1(2.0 * z_temp, 0.8), 1)
    # Rain: a persistent "wetness" state decides wet days (about a third); amounts are lognormal.
    wetness = _ar1(0.7 * z_wet, 0.7)
    amount = np.exp(0.9 * z_rain + 0.3) * (1.0 + np.maximum(wetness, 0.0))
    precipitation = np.round(np.where(wetness > 0.35, amount, 0.0), 1)
    # Wind: stronger in winter and in rainy (frontal) weather, mostly from the west.
    gusts = _ar1(3.0 * z_wind, 0.6)
    wind_speed = np.round(np.maximum(14.0 + 3.0 * winter + 3.0 * np.maximum(wetness, 0.0) + gusts, 0.0), 1)
    wind_direction = np.mod(np.round(np.mod(250.0 + 60.0 * _ar1(0.8 * z_dir, 0.5), 360.0)), 360.0)

    # PM2.5: short memory (AR 0.45) plus weather and traffic effects that dominate the noise,
    # so weather-aware models beat "tomorrow = today" clearly.
    weekday = (dates.dayofweek.to_numpy() < 5).astype("float64")
    heating, rain = 0.35 * np.maximum(12.0 - temperature, 0.0), 0.7 * np.minimum(precipitation, 8.0)
    drivers = 4.0 + heating + 2.5 * weekday - 0.2 * wind_speed - rain + 0.8 * z_pm
    pm25 = np.empty(len(dates))
    previous = 8.0
    for t, drive in enumerate(drivers):
        previous = pm25[t] = max(0.45 * previous + drive, MIN_PM25)
    weather = dict(
        zip(DAILY_VARIABLES, (temperature, precipitation, wind_speed, wind_direction), strict=True)
    )
    return pd.DataFrame({"date": dates, **weather, "pm25": np.round(pm25, 2)})
