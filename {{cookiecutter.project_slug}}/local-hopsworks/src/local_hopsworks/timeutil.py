"""Time handling at the store's boundary: everything is stored as UTC microseconds.

Rule (documented in docs/store.md): a naive timestamp, date or string is read as
UTC; an aware one is converted to UTC. Reads return ``datetime64[us, UTC]``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

UTC_DTYPE = "datetime64[us, UTC]"


def to_utc_series(series: pd.Series, column: str) -> pd.Series:
    """Return ``series`` as UTC microsecond timestamps, or raise naming ``column``."""
    try:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            out = series.dt.tz_localize("UTC")
        elif pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            raise TypeError(f"numbers of dtype {series.dtype} are not timestamps")
        else:
            # format="ISO8601": without it pandas guesses one format from the first string and
            # rejects ISO strings of other precisions ("2024-01-01" next to "2024-01-01 10:00").
            out = pd.to_datetime(series, utc=True, format="ISO8601")
        return out.astype(UTC_DTYPE)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"column {column!r} cannot be read as timestamps: {exc}") from exc


def to_utc_timestamp(value: Any, name: str) -> pd.Timestamp | None:
    """Return ``value`` (str, date, datetime, Timestamp or None) as a UTC Timestamp."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"{name}={value!r}: pass a date, datetime or ISO string, not a number")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}={value!r} is not a timestamp: {exc}") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name} is NaT")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


def utc_now() -> pd.Timestamp:
    """Return the current time in UTC."""
    return pd.Timestamp(dt.datetime.now(dt.UTC)).as_unit("us")
