"""Client for the free Open-Meteo APIs: https://open-meteo.com/en/docs (forecast),
https://open-meteo.com/en/docs/historical-weather-api and https://open-meteo.com/en/docs/air-quality-api."""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import requests

from .base import DAILY_VARIABLES, Location, Source, SourceError

# The archive (ERA5 reanalysis) trails real time by about five days; newer days come from the
# forecast API, which also serves the recent past.
ARCHIVE_DELAY_DAYS = 5
# A daily mean built from a few hours would be biased by the diurnal cycle (rush hours, night-time
# inversions), so days with fewer valid hours are dropped and treated as missing instead.
MIN_HOURS_PER_DAY = 18
USER_AGENT = "air-quality-forecast (cookiecutter template; +https://open-meteo.com/en/terms)"


class OpenMeteoClient(Source):
    """Fetch daily weather and mean PM2.5 from Open-Meteo, retrying 429, 5xx, timeouts and lost connections
    after ``backoff_base_s * 2**attempt`` (or a 429's ``Retry-After``) seconds, at most ``backoff_max_s``."""

    def __init__(
        self,
        archive_url: str = "https://archive-api.open-meteo.com/v1/archive",
        forecast_url: str = "https://api.open-meteo.com/v1/forecast",
        air_quality_url: str = "https://air-quality-api.open-meteo.com/v1/air-quality",
        *,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        today: datetime.date | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__(today)
        self.archive_url, self.forecast_url, self.air_quality_url = archive_url, forecast_url, air_quality_url
        self.timeout_s, self.max_retries, self._sleep = timeout_s, max_retries, sleep
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        # Open-Meteo's commercial plans take the key only as a query parameter (no header); error
        # messages show URLs without their query string, so the key never reaches a log.
        self._api_key = api_key
        self.session = session if session is not None else requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def weather(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return daily weather for ``start``..``end``: the archive's days, then the forecast API's."""
        first_recent = self.today() - datetime.timedelta(days=ARCHIVE_DELAY_DAYS)
        parts = []
        if start < first_recent:
            archive_end = min(end, first_recent - datetime.timedelta(days=1))
            parts.append(self._fetch_daily(self.archive_url, location, start, archive_end))
        if end >= first_recent:
            parts.append(self._fetch_daily(self.forecast_url, location, max(start, first_recent), end))
        return pd.concat(parts, ignore_index=True).sort_values("date", ignore_index=True)

    def pm25(self, location: Location, start: datetime.date, end: datetime.date) -> pd.DataFrame:
        """Return daily mean PM2.5 for the days in ``start``..``end`` that have enough hourly data."""
        payload, where = self._get_json(self.air_quality_url, location, start, end, hourly="pm2_5")
        hourly = _table(payload, "hourly", ("pm2_5",), "%Y-%m-%dT%H:%M", where)
        hourly["date"] = hourly["date"].dt.floor("D")
        daily = _within(hourly, start, end).groupby("date", sort=True)["pm2_5"].agg(["mean", "count"])
        daily = daily[daily["count"] >= MIN_HOURS_PER_DAY]
        dates = daily.index.astype("datetime64[ns, UTC]")
        return pd.DataFrame({"date": dates, "pm25": daily["mean"].to_numpy(dtype="float64")})

    def _fetch_daily(
        self, url: str, location: Location, start: datetime.date, end: datetime.date
    ) -> pd.DataFrame:
        daily = {"daily": ",".join(DAILY_VARIABLES), "wind_speed_unit": "kmh"}
        payload, where = self._get_json(url, location, start, end, **daily)
        frame = _table(payload, "daily", DAILY_VARIABLES, "%Y-%m-%d", where)
        if frame["date"].duplicated().any():
            raise SourceError(f"{where}: daily.time has duplicate days")
        frame = _within(frame, start, end)
        missing = pd.date_range(start, end, freq="D", tz="UTC").difference(pd.DatetimeIndex(frame["date"]))
        if len(missing):
            days = ", ".join(d.date().isoformat() for d in missing[:5])
            raise SourceError(f"{where}: {len(missing)} requested day(s) missing in the answer: {days}")
        return frame.sort_values("date", ignore_index=True)

    def _get_json(
        self, url: str, location: Location, start: datetime.date, end: datetime.date, **extra: str
    ) -> tuple[Any, str]:
        """GET ``url`` for a place and days, with retries; return the JSON and ``"<url> (HTTP <status>)"``."""
        where = url.split("?", 1)[0]  # messages never carry query parameters
        params = {"latitude": location.latitude, "longitude": location.longitude, **extra}
        params.update(start_date=start.isoformat(), end_date=end.isoformat(), timezone="UTC")
        if self._api_key:
            params["apikey"] = self._api_key
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                response = self.session.get(url, params=params, timeout=self.timeout_s)
            except requests.Timeout:
                problem = f"no answer within {self.timeout_s:g} s (timeout)"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _decode(response, f"{where} (HTTP {status})")
                if status != 429 and status < 500:
                    raise SourceError(f"{where} answered HTTP {status}: {_reason(response)}")
                problem = f"HTTP {status}: {_reason(response)}"
                retry_after = _retry_after_s(response) if status == 429 else None
            if attempt < attempts - 1:
                delay = self.backoff_base_s * 2**attempt if retry_after is None else retry_after
                self._sleep(min(delay, self.backoff_max_s))
        raise SourceError(f"{where} failed after {attempts} attempt(s); last problem: {problem}")


def _within(frame: pd.DataFrame, start: datetime.date, end: datetime.date) -> pd.DataFrame:
    """Return the rows of ``frame`` dated ``start``..``end`` inclusive."""
    return frame[frame["date"].between(pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"))]


def _reason(response: requests.Response) -> str:
    """Return Open-Meteo's ``reason`` field if the body has one, else the start of the body."""
    with contextlib.suppress(ValueError, TypeError, KeyError):  # not JSON, not an object, or no reason
        if isinstance(reason := response.json()["reason"], str):
            return reason
    return (response.text or "").strip()[:200] or response.reason or "no details"


def _retry_after_s(response: requests.Response) -> float | None:
    """Return ``Retry-After`` in seconds, or None if absent or not a number (HTTP dates are ignored)."""
    with contextlib.suppress(ValueError):
        if np.isfinite(seconds := float(response.headers.get("Retry-After", "nan"))):
            return max(seconds, 0.0)
    return None


def _decode(response: requests.Response, where: str) -> tuple[Any, str]:
    """Return the JSON body and ``where``; raise SourceError naming ``where`` if there is none."""
    if not response.content.strip():
        raise SourceError(f"{where}: empty body")
    try:
        return json.loads(response.content), where
    except ValueError as exc:
        raise SourceError(f"{where}: body is not valid JSON ({exc})") from exc


def _table(payload: Any, block: str, names: tuple[str, ...], fmt: str, where: str) -> pd.DataFrame:
    """Return ``payload[block]`` as ``date`` (UTC, from ``time``) and ``names`` as float64 (null is NaN)."""
    if not isinstance(payload, dict):
        raise SourceError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    data = payload.get(block)
    if not isinstance(data, dict):
        raise SourceError(f"{where}: missing '{block}' object")
    for name in ("time", *names):
        if not isinstance(data.get(name), list):
            raise SourceError(f"{where}: missing '{block}.{name}' array")
    lengths = {name: len(data[name]) for name in ("time", *names)}
    if len(set(lengths.values())) > 1:
        raise SourceError(f"{where}: '{block}' arrays have different lengths {lengths}")
    try:
        dates = pd.to_datetime(pd.Series(data["time"], dtype="object"), format=fmt, utc=True)
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{where}: unreadable time values ({exc})") from exc
    if dates.isna().any():
        raise SourceError(f"{where}: null time values")
    try:
        values = {name: np.array(data[name], dtype="float64") for name in names}
    except (ValueError, TypeError) as exc:
        raise SourceError(f"{where}: non-numeric values ({exc})") from exc
    return pd.DataFrame({"date": dates.astype("datetime64[ns, UTC]"), **values})
