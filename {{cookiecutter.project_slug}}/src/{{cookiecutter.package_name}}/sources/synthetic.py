"""Offline, deterministic simulator of daily weather and PM2.5.

It lets the whole project (pipelines, tests, UI) run without network access. The numbers are
made up, but have the structure a forecasting model can learn: seasonal temperatures that depend
on latitude, weather fronts, dry spells and skewed rain, and a PM2.5 series that rises with
cold (heating) and weekday traffic and is washed out by wind and rain.
"""

from __future__ import annotations

import datetime
import zlib

import numpy as np
import pandas as pd

from .base import (
    DAILY_VARIABLES,
    MAX_FORECAST_DAYS,
    Location,
    SourceError,
    check_horizon,
    check_range,
    empty_pm25,
    utc_today,
)

ORIGIN = datetime.date(2015, 1, 1)
MIN_PM25 = 0.5
# Columns of the per-day standard-normal draw matrix (see ``_simulate``).
_Z_TEMP, _Z_WET, _Z_RAIN, _Z_WIND, _Z_DIR, _Z_PM = range(6)


class SyntheticSource:
    """Simulated data source with the same interface as ``OpenMeteoClient``.

    Values for a given ``(seed, location.key, day)`` never depend on the requested window:
    the series is always generated from ``ORIGIN`` onwards by one generator whose draws are
    laid out one row per day, so a longer series only appends rows.
    """

    def __init__(self, seed: int = 7, today: datetime.date | None = None) -> None:
        self.seed = seed
        self._today = today
        self._cache: dict[tuple[str, float, float], pd.DataFrame] = {}

    def today(self) -> datetime.date:
        """Return the reference day (UTC): PM2.5 exists up to it, weather up to 16 days after it."""
        return self._today if self._today is not None else utc_today()

    def fetch_weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return simulated daily weather for ``start``..``end`` inclusive."""
        _check_range(start, end)
        check_horizon(end, self.today())
        series = self._series(location, end)
        return _window(series, start, end)[["date", *DAILY_VARIABLES]]

    def fetch_pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return simulated daily mean PM2.5 for the days in ``start``..``end`` up to today."""
        _check_range(start, end)
        # Like a real sensor network, there are no observations of the future.
        end = min(end, self.today())
        if start > end:
            return empty_pm25()
        series = self._series(location, end)
        return _window(series, start, end)[["date", "pm25"]]

    def _series(self, location: Location, end: datetime.date) -> pd.DataFrame:
        key = (location.key, float(location.latitude), float(location.longitude))
        cached = self._cache.get(key)
        if cached is None or cached["date"].iloc[-1].date() < end:
            # Generate up to the forecast horizon at once so later calls hit the cache.
            last = max(end, self.today() + datetime.timedelta(days=MAX_FORECAST_DAYS))
            seed = [self.seed, zlib.crc32(location.key.encode("utf-8"))]
            cached = _simulate(location.latitude, seed, last)
            self._cache[key] = cached
        return cached


def _check_range(start: datetime.date, end: datetime.date) -> None:
    check_range(start, end)
    if start < ORIGIN:
        raise SourceError(f"synthetic data starts on {ORIGIN}; got start {start}")


def _window(series: pd.DataFrame, start: datetime.date, end: datetime.date) -> pd.DataFrame:
    first = (start - ORIGIN).days
    last = (end - ORIGIN).days
    return series.iloc[first : last + 1].reset_index(drop=True)


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
    n = len(dates)
    # One matrix call, filled row by row: day t always gets the same draws whatever n is.
    z = np.random.default_rng(seed).standard_normal((n, 6))

    # Seasons: coldest in mid-January in the north (mid-July in the south), colder and more
    # seasonal towards the poles (Stockholm: about -1 C in winter, 17 C in summer).
    hemisphere = 1.0 if latitude >= 0 else -1.0
    abs_lat = abs(latitude)
    winter = hemisphere * np.cos(2 * np.pi * (dates.dayofyear.to_numpy() - 15) / 365.25)
    fronts = _ar1(2.0 * z[:, _Z_TEMP], 0.8)
    temperature = (30.0 - 0.4 * abs_lat) - 0.16 * abs_lat * winter + fronts

    # Rain: a persistent "wetness" state decides wet days (about a third); amounts are lognormal.
    wetness = _ar1(0.7 * z[:, _Z_WET], 0.7)
    wet = wetness > 0.35
    amount = np.exp(0.9 * z[:, _Z_RAIN] + 0.3) * (1.0 + np.maximum(wetness, 0.0))
    precipitation = np.where(wet, amount, 0.0)

    # Wind: stronger in winter and in rainy (frontal) weather, mostly from the west.
    gusts = _ar1(3.0 * z[:, _Z_WIND], 0.6)
    wind_speed = np.maximum(14.0 + 3.0 * winter + 3.0 * np.maximum(wetness, 0.0) + gusts, 0.0)
    veer = _ar1(0.8 * z[:, _Z_DIR], 0.5)
    wind_direction = np.mod(250.0 + 60.0 * veer, 360.0)

    temperature = np.round(temperature, 1)
    precipitation = np.round(precipitation, 1)
    wind_speed = np.round(wind_speed, 1)
    wind_direction = np.mod(np.round(wind_direction), 360.0)

    # PM2.5: short memory (AR 0.45) plus weather and traffic effects that dominate the noise,
    # so weather-aware models beat "tomorrow = today" clearly.
    weekday = (dates.dayofweek.to_numpy() < 5).astype("float64")
    drivers = (
        4.0
        + 0.35 * np.maximum(12.0 - temperature, 0.0)
        + 2.5 * weekday
        - 0.2 * wind_speed
        - 0.7 * np.minimum(precipitation, 8.0)
        + 0.8 * z[:, _Z_PM]
    )
    pm25 = np.empty(n)
    previous = 8.0
    for t in range(n):
        previous = max(0.45 * previous + drivers[t], MIN_PM25)
        pm25[t] = previous

    return pd.DataFrame(
        {
            "date": dates,
            "temperature_2m_mean": temperature,
            "precipitation_sum": precipitation,
            "wind_speed_10m_max": wind_speed,
            "wind_direction_10m_dominant": wind_direction,
            "pm25": np.round(pm25, 2),
        }
    )
