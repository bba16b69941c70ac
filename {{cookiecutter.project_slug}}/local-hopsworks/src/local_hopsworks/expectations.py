"""Great Expectations-style expectation suites, evaluated locally on pandas DataFrames.

The rules are plain data in GE's own JSON shape (``{"expectation_type": ..., "kwargs": {...}}``)
so the same suite can be attached to a Hopsworks feature group (where Great Expectations runs
it) and checked here, without Great Expectations installed. Semantics follow GE: column-map
expectations ignore nulls and honour ``mostly``; aggregate expectations check one observed
value. A bound may be the temporal suite parameter ``{"$PARAMETER": "now() + timedelta(days=N)"}``,
resolved when the batch is validated.

This module needs only pandas: it is imported with either backend.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

EXAMPLES = 5  # example rows per failing expectation, in reports and error messages
SUPPORTED = (
    "expect_column_to_exist",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_of_type",
    "expect_compound_columns_to_be_unique",
    "expect_column_max_to_be_between",
    "expect_column_min_to_be_between",
)
# kwargs GE accepts on every expectation that cannot change the outcome here.
_PASSIVE_KWARGS = {"result_format", "include_config", "catch_exceptions", "meta"}
_KWARGS = {
    "expect_column_to_exist": {"column"},
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_between": {
        "column",
        "min_value",
        "max_value",
        "strict_min",
        "strict_max",
        "mostly",
    },
    "expect_column_values_to_be_of_type": {"column", "type_", "mostly"},
    "expect_compound_columns_to_be_unique": {"column_list", "ignore_row_if", "mostly"},
    "expect_column_max_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_min_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max"},
}
_NOW_RE = re.compile(
    r"^\s*now\(\)\s*(?:([+-])\s*timedelta\(\s*(days|hours|minutes)\s*=\s*(\d+(?:\.\d+)?)\s*\))?\s*$"
)


class ValidationError(ValueError):
    """A batch failed its feature group's expectation suite; ``report`` says how."""

    def __init__(self, message: str, report: dict[str, Any], quarantine: str | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.quarantine = quarantine


def normalise_expectation(expectation: Any) -> dict[str, Any]:
    """Return one expectation as ``{"expectation_type", "kwargs", "meta"}``.

    Accepts GE-shaped dicts (``expectation_type`` or GE 1.x ``type``) and objects with
    ``expectation_type`` and ``kwargs`` attributes (hsfs ``GeExpectation``, GE configurations).

    Raises:
        NotImplementedError: For an expectation type or keyword argument not evaluated locally.
        ValueError: For a malformed expectation.
    """
    if isinstance(expectation, Mapping):
        etype = expectation.get("expectation_type", expectation.get("type"))
        kwargs = expectation.get("kwargs")
        meta = expectation.get("meta") or {}
    else:
        etype = getattr(expectation, "expectation_type", None) or getattr(expectation, "type", None)
        kwargs = getattr(expectation, "kwargs", None)
        meta = getattr(expectation, "meta", None) or {}
    if not isinstance(etype, str) or not isinstance(kwargs, Mapping):
        raise ValueError(f"an expectation needs an expectation_type and kwargs, got {expectation!r}")
    if etype not in _KWARGS:
        raise NotImplementedError(
            f"expectation {etype!r} is not evaluated by the local store; supported: {', '.join(SUPPORTED)}"
        )
    unknown = set(kwargs) - _KWARGS[etype] - _PASSIVE_KWARGS
    if unknown:
        raise NotImplementedError(f"{etype}: keyword argument(s) {sorted(unknown)} are not supported locally")
    needed = "column_list" if etype == "expect_compound_columns_to_be_unique" else "column"
    if needed not in kwargs:
        raise ValueError(f"{etype} needs the keyword argument {needed!r}")
    return {"expectation_type": etype, "kwargs": dict(kwargs), "meta": {k: v for k, v in dict(meta).items()}}


def resolve(value: Any, now: pd.Timestamp) -> Any:
    """Resolve a temporal suite parameter (``now() + timedelta(days=2)``) to a UTC Timestamp."""
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        match = _NOW_RE.match(str(value["$PARAMETER"]))
        if not match:
            raise NotImplementedError(
                f"suite parameter {value['$PARAMETER']!r}: only 'now()' and 'now() +/- timedelta(days=N)' "
                "are evaluated locally"
            )
        sign, unit, amount = match.groups()
        if sign is None:
            return now
        delta = pd.Timedelta(**{unit: float(amount)})
        return now + delta if sign == "+" else now - delta
    return value


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _rows(df: pd.DataFrame, mask: pd.Series, columns: list[str] | None = None) -> list[dict[str, Any]]:
    picked = df.loc[mask.to_numpy(), columns or list(df.columns)].head(EXAMPLES)
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in picked.to_dict("records")]


def _as_comparable(series: pd.Series, bound: Any) -> tuple[pd.Series, Any]:
    """Return ``series`` and ``bound`` in comparable forms (timestamps as UTC)."""
    is_time = isinstance(bound, pd.Timestamp | dt.datetime | dt.date) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    )
    if not is_time:
        return pd.to_numeric(series, errors="raise"), bound
    values = pd.to_datetime(series, utc=True)
    if bound is None:
        return values, None
    ts = pd.Timestamp(bound)
    return values, ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _outside(values: pd.Series, kwargs: Mapping[str, Any], now: pd.Timestamp) -> tuple[pd.Series, dict]:
    """Return the mask of values outside [min_value, max_value] and the resolved bounds."""
    low, high = resolve(kwargs.get("min_value"), now), resolve(kwargs.get("max_value"), now)
    bad = pd.Series(False, index=values.index)
    if low is not None:
        series, low = _as_comparable(values, low)
        bad |= (series <= low) if kwargs.get("strict_min") else (series < low)
    if high is not None:
        series, high = _as_comparable(values, high)
        bad |= (series >= high) if kwargs.get("strict_max") else (series > high)
    return bad & values.notna(), {"min_value": _jsonable(low), "max_value": _jsonable(high)}


def _type_matches(series: pd.Series, type_: str) -> pd.Series:
    """Return, per value, whether it has the GE type name ``type_`` (nulls count as matching)."""
    dtype = series.dtype
    if type_ in ("str", "string"):
        return series.map(
            lambda v: v is None or (isinstance(v, float) and math.isnan(v)) or isinstance(v, str)
        )
    if type_.startswith("datetime64"):
        return pd.Series(pd.api.types.is_datetime64_any_dtype(dtype), index=series.index)
    ok = str(dtype) == type_ or getattr(getattr(dtype, "type", None), "__name__", None) == type_
    return pd.Series(ok, index=series.index)


def _check_one(
    df: pd.DataFrame, expectation: dict[str, Any], keys: list[str], now: pd.Timestamp
) -> dict[str, Any]:
    """Evaluate one normalised expectation on ``df``; return its outcome in GE's shape."""
    etype, kwargs = expectation["expectation_type"], expectation["kwargs"]
    result: dict[str, Any] = {"element_count": len(df)}
    columns = list(kwargs["column_list"]) if "column_list" in kwargs else [kwargs["column"]]
    missing = [c for c in columns if c not in df.columns]
    outcome = {"success": False, "expectation_config": expectation, "result": result, "exception_info": None}
    if missing:
        outcome["exception_info"] = {"exception_message": f"column(s) {missing} not in the DataFrame"}
        return outcome
    if etype == "expect_column_to_exist":
        outcome["success"] = True
        return outcome
    show = list(dict.fromkeys([*[k for k in keys if k in df.columns], *columns]))
    try:
        if etype in ("expect_column_max_to_be_between", "expect_column_min_to_be_between"):
            outcome["success"] = _check_aggregate(df, etype, kwargs, columns[0], show, now, result)
            return outcome
        bad, considered = _unexpected(df, etype, kwargs, columns, now, result)
    except (TypeError, ValueError, OverflowError) as exc:
        outcome["exception_info"] = {"exception_message": f"{type(exc).__name__}: {exc}"}
        return outcome
    unexpected = int(bad.sum())
    mostly = float(kwargs.get("mostly", 1.0))
    share_ok = 1.0 if considered == 0 else (considered - unexpected) / considered
    result.update(
        unexpected_count=unexpected,
        unexpected_percent=0.0 if considered == 0 else 100.0 * unexpected / considered,
        partial_unexpected_list=[_jsonable(v) for v in df.loc[bad.to_numpy(), columns[0]].head(EXAMPLES)],
        examples=_rows(df, bad, show),
    )
    outcome["success"] = unexpected == 0 or share_ok >= mostly
    return outcome


def _check_aggregate(
    df: pd.DataFrame,
    etype: str,
    kwargs: Mapping[str, Any],
    column: str,
    show: list[str],
    now: pd.Timestamp,
    result: dict[str, Any],
) -> bool:
    """Check a column's max or min against its bounds, filling ``result``; return success."""
    values = df[column].dropna()
    observed = None if values.empty else (values.max() if "max" in etype else values.min())
    bad_rows, bounds = _outside(df[column], kwargs, now)
    if observed is None:
        ok = True
    else:
        bad_one, _ = _outside(pd.Series([observed]), kwargs, now)
        ok = not bool(bad_one.iloc[0])
    if "min" in etype:
        bad_rows = bad_rows & (df[column] == observed)
    result.update(observed_value=_jsonable(observed), **bounds)
    result["unexpected_count"] = 0 if ok else int(bad_rows.sum())
    result["examples"] = [] if ok else _rows(df, bad_rows, show)
    return ok


def _unexpected(
    df: pd.DataFrame,
    etype: str,
    kwargs: Mapping[str, Any],
    columns: list[str],
    now: pd.Timestamp,
    result: dict[str, Any],
) -> tuple[pd.Series, int]:
    """Return the mask of unexpected rows of a column-map expectation and how many rows it considers."""
    if etype == "expect_column_values_to_not_be_null":
        return df[columns[0]].isna(), len(df)
    if etype == "expect_compound_columns_to_be_unique":
        frame = df[columns]
        considered_mask = ~frame.isna().all(axis=1)
        return frame.duplicated(keep=False) & considered_mask, int(considered_mask.sum())
    series = df[columns[0]]
    considered = int(series.notna().sum())
    if etype == "expect_column_values_to_be_between":
        bad, bounds = _outside(series, kwargs, now)
        result.update(bounds)
    else:
        bad = ~_type_matches(series, str(kwargs["type_"])) & series.notna()
        result["observed_value"] = str(series.dtype)
    return bad, considered


def evaluate(
    df: pd.DataFrame,
    expectations: Iterable[Any],
    *,
    keys: list[str] | None = None,
    now: pd.Timestamp | None = None,
    suite_name: str = "",
) -> dict[str, Any]:
    """Check ``df`` against ``expectations``; return a report in GE's validation-result shape.

    Args:
        df: The batch.
        expectations: GE-shaped expectations (see ``normalise_expectation``).
        keys: Columns shown first in example rows (the primary key and event time).
        now: The time temporal suite parameters are resolved against (default: the current UTC time).
        suite_name: Recorded in the report's meta.

    Returns:
        ``{"success", "statistics", "results": [...], "meta"}``; each result has the expectation,
        its success, counts and up to five example rows (``result.examples``).
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    normalised = [normalise_expectation(e) for e in expectations]
    results = [_check_one(df, e, list(keys or []), now) for e in normalised]
    passed = sum(1 for r in results if r["success"])
    return {
        "success": passed == len(results),
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 if not results else 100.0 * passed / len(results),
        },
        "results": results,
        "meta": {
            "expectation_suite_name": suite_name,
            "validation_time": now.isoformat(),
            "rows": len(df),
        },
    }


def describe_failures(report: dict[str, Any]) -> list[str]:
    """Return one line per failing expectation: rule, column, counts and example rows."""
    lines = []
    for outcome in report["results"]:
        if outcome["success"]:
            continue
        config = outcome["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k not in _PASSIVE_KWARGS}
        column = ", ".join(kwargs.pop("column_list", [])) or kwargs.pop("column", "")
        res = outcome["result"]
        for bound in ("min_value", "max_value"):
            if res.get(bound) is not None:
                kwargs[bound] = res[bound]  # resolved (a temporal bound shows its time)
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        rule = f"{config['expectation_type']}({column}{', ' + args if args else ''})"
        if outcome.get("exception_info"):
            lines.append(f"{rule}: {outcome['exception_info']['exception_message']}")
            continue
        if "observed_value" in res and "unexpected_percent" not in res:
            what = f"observed {res['observed_value']!r}"
        else:
            what = f"{res.get('unexpected_count', 0)} of {res['element_count']} rows unexpected"
        examples = "; ".join(str(row) for row in res.get("examples", [])[:3])
        lines.append(f"{rule}: {what}" + (f", e.g. {examples}" if examples else ""))
    return lines
