"""Expectation suites of the feature groups: the rules every batch must pass before it is stored.

The rules are data, in Great Expectations' JSON shape, so the same suite runs in two places:

- attached to each feature group (``fg.save_expectation_suite``): Hopsworks runs it with Great
  Expectations on every insert, the embedded store with its own evaluator
  (``local_hopsworks.expectations``);
- before the feature pipeline writes anything (``check_batches``): both batches of a run are checked
  first, so a bad batch never leaves the other one written alone.

The policy is ``strict``: a failing batch is refused whole and nothing is written. The one rule
that depends on the clock ("no event time in the future") uses the temporal suite parameter
``now() + timedelta(days=N)``. Great Expectations resolves ``now()`` to a naive local time that
it cannot compare with UTC event times, so that rule is left out of the suite attached on
Hopsworks and enforced by ``check_batches`` on both backends.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
from local_hopsworks.expectations import ValidationError, describe_failures, evaluate

from .air_quality import LAG_FEATURES, LAG_FEATURES_BY_VERSION

log = logging.getLogger(__name__)

POLICY = "strict"
# Physical bounds: far outside anything measured, so only broken data trips them.
MAX_PM25 = 1000.0  # µg/m³; the worst daily means on record are a few hundred
TEMPERATURE_C = (-90.0, 60.0)  # the records are -89.2 and 56.7 °C
MAX_PRECIPITATION_MM = 2000.0  # per day; the record is 1825 mm
MAX_WIND_KMH = 500.0  # the highest gust on record is 408 km/h
FORECAST_HORIZON_DAYS = 16  # Open-Meteo forecasts at most 16 days ahead
FUTURE_ALLOWANCE_DAYS = 1  # clock skew and time zones


def not_null(column: str) -> dict[str, Any]:
    return {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}


def between(column: str, low: float | None, high: float | None) -> dict[str, Any]:
    return {
        "expectation_type": "expect_column_values_to_be_between",
        "kwargs": {"column": column, "min_value": low, "max_value": high, "mostly": 1.0},
    }


def of_type(column: str, type_: str) -> dict[str, Any]:
    return {
        "expectation_type": "expect_column_values_to_be_of_type",
        "kwargs": {"column": column, "type_": type_},
    }


def unique(columns: list[str]) -> dict[str, Any]:
    return {
        "expectation_type": "expect_compound_columns_to_be_unique",
        "kwargs": {"column_list": list(columns)},
    }


def not_after_now(column: str, days: int) -> dict[str, Any]:
    """No event time later than now + ``days`` (a temporal suite parameter, resolved at validation)."""
    return {
        "expectation_type": "expect_column_max_to_be_between",
        "kwargs": {"column": column, "max_value": {"$PARAMETER": f"now() + timedelta(days={days})"}},
    }


# Weather columns and their physical bounds (each is also non-null and float64).
_WEATHER_BOUNDS = {
    "temperature_2m_mean": TEMPERATURE_C,
    "precipitation_sum": (0.0, MAX_PRECIPITATION_MM),
    "wind_speed_10m_max": (0.0, MAX_WIND_KMH),
    "wind_direction_10m_dominant": (0.0, 360.0),
    "wind_dir_sin": (-1.0, 1.0),
    "wind_dir_cos": (-1.0, 1.0),
    "day_of_week": (0.0, 6.0),
    "day_of_year": (1.0, 366.0),
}


def _weather(version: int) -> list[dict[str, Any]]:
    return [
        *[not_null(c) for c in ("location", "date", *_WEATHER_BOUNDS)],
        *[of_type(c, "float64") for c in _WEATHER_BOUNDS],
        *[between(c, low, high) for c, (low, high) in _WEATHER_BOUNDS.items()],
        unique(["location", "date"]),
        not_after_now("date", FORECAST_HORIZON_DAYS + FUTURE_ALLOWANCE_DAYS),
    ]


def _air_quality(version: int) -> list[dict[str, Any]]:
    # A group version the feature code does not know (made by hand) is held to version 1's rules.
    lags = LAG_FEATURES_BY_VERSION.get(version, LAG_FEATURES)
    return [
        *[not_null(c) for c in ("location", "date", "pm25")],
        *[of_type(c, "float64") for c in ("pm25", *lags)],
        # lags may be null (missing days), never out of range
        *[between(c, 0.0, MAX_PM25) for c in ("pm25", *lags)],
        unique(["location", "date"]),
        not_after_now("date", FUTURE_ALLOWANCE_DAYS),  # observations, never forecasts
    ]


def _predictions(version: int) -> list[dict[str, Any]]:
    keys = ["location", "date", "model_name", "model_version", "horizon_days"]
    return [
        *[not_null(c) for c in (*keys, "predicted_pm25")],
        of_type("predicted_pm25", "float64"),
        between("predicted_pm25", 0.0, MAX_PM25),
        between("horizon_days", 1, FORECAST_HORIZON_DAYS),
        between("model_version", 1, None),
        unique(keys),
        not_after_now("date", FORECAST_HORIZON_DAYS + FUTURE_ALLOWANCE_DAYS),
    ]


# The suite of each feature group, by group version.
SUITES: dict[str, Callable[[int], list[dict[str, Any]]]] = {
    "weather": _weather,
    "air_quality": _air_quality,
    "predictions": _predictions,
}


def expectations(name: str, version: int = 1) -> list[dict[str, Any]]:
    """Return the expectations of feature group ``name`` v``version``.

    Raises:
        KeyError: If the group has no suite.
    """
    if name not in SUITES:
        raise KeyError(f"no expectation suite for feature group {name!r}; suites exist for {sorted(SUITES)}")
    return copy.deepcopy(SUITES[name](version))


def is_portable(expectation: dict[str, Any]) -> bool:
    """Return whether Great Expectations on Hopsworks can evaluate ``expectation`` (no temporal parameter)."""
    return "$PARAMETER" not in json.dumps(expectation["kwargs"])


def suite(name: str, policy: str = POLICY, version: int = 1) -> dict[str, Any]:
    """Return the suite of ``name`` v``version`` as data, for the embedded store."""
    return {
        "expectation_suite_name": f"{name}_{version}_suite",
        "expectations": expectations(name, version),
        "meta": {"notes": "generated by the project's features/expectations.py; edit the rules there"},
        "run_validation": True,
        "validation_ingestion_policy": policy.upper(),
    }


def hsfs_suite(name: str, policy: str = POLICY, version: int = 1) -> Any:
    """Return the suite of ``name`` as an ``hsfs`` ``ExpectationSuite`` (needs the hopsworks extra).

    hsfs takes ``run_validation`` and the policy from the suite object itself (the arguments of
    ``save_expectation_suite`` are ignored for hsfs suites), so both are set here.
    """
    from hsfs.expectation_suite import ExpectationSuite
    from hsfs.ge_expectation import GeExpectation

    data = suite(name, policy, version)
    return ExpectationSuite(
        expectation_suite_name=data["expectation_suite_name"],
        expectations=[
            GeExpectation(expectation_type=e["expectation_type"], kwargs=e["kwargs"], meta={})
            for e in data["expectations"]
            if is_portable(e)
        ],
        meta=data["meta"],
        run_validation=True,
        validation_ingestion_policy=policy.upper(),
    )


def is_hopsworks(fg_or_fs: Any) -> bool:
    """Return whether a store object comes from the Hopsworks SDK (rather than the embedded store)."""
    return type(fg_or_fs).__module__.split(".")[0] in ("hsfs", "hopsworks", "hopsworks_common")


def suite_for(fs: Any, name: str, version: int = 1, policy: str = POLICY) -> Any:
    """Return the suite of ``name`` v``version`` in the form ``fs`` takes: hsfs objects on Hopsworks,
    data locally."""
    return hsfs_suite(name, policy, version) if is_hopsworks(fs) else suite(name, policy, version)


def _signature(expectation_list: Iterable[Any]) -> list[str]:
    def number(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: number(v) for k, v in value.items()}
        if isinstance(value, list):
            return [number(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    out = []
    for e in expectation_list:
        etype = e["expectation_type"] if isinstance(e, dict) else e.expectation_type
        kwargs = e["kwargs"] if isinstance(e, dict) else e.kwargs
        out.append(json.dumps([etype, number(dict(kwargs))], sort_keys=True))
    return sorted(out)


def ensure_suite(fg: Any, policy: str = POLICY) -> bool:
    """Attach the group's suite unless the attached one has the same rules and policy; return True if saved.

    Groups created before suites existed, or with older rules, get the current ones.
    """
    wanted = suite_for(fg, fg.name, fg.version, policy)
    current = fg.get_expectation_suite(ge_type=False)
    if current is not None:
        same_rules = _signature(current.expectations) == _signature(
            wanted.expectations if is_hopsworks(fg) else wanted["expectations"]
        )
        if same_rules and str(current.validation_ingestion_policy).upper() == policy.upper():
            return False
    fg.save_expectation_suite(
        wanted, run_validation=True, validation_ingestion_policy=policy, overwrite=current is not None
    )
    log.info("%s v%s: expectation suite attached (policy %s)", fg.name, fg.version, policy)
    return True


def check_batches(batches: list[tuple[Any, pd.DataFrame]], now: Any = None) -> None:
    """Check every batch of one run before any is written; refuse them all if one fails.

    A failing batch is recorded where its store keeps rejected data (the embedded store
    quarantines it; Hopsworks keeps the validation report).

    Raises:
        ValidationError: Naming each failing group, rule and column, with example rows.
    """
    problems, reports = [], {}
    for fg, df in batches:
        keys = list(fg.primary_key) + ([fg.event_time] if fg.event_time else [])
        # Every rule, the temporal one included.
        rules = expectations(fg.name, fg.version)
        report = evaluate(df, rules, keys=keys, now=now, suite_name=f"{fg.name}_{fg.version}_suite")
        reports[fg.name] = report
        if report["success"]:
            continue
        where = _record_rejected(fg, df)
        lines = "\n".join(f"  - {line}" for line in describe_failures(report))
        problems.append(f"{fg.name} v{fg.version} ({len(df)} rows{where}):\n{lines}")
    if problems:
        raise ValidationError(
            "the batch failed validation and nothing was written (policy strict):\n" + "\n".join(problems),
            {"success": False, "feature_groups": reports},
        )


def _record_rejected(fg: Any, df: pd.DataFrame) -> str:
    try:
        report = fg.validate(dataframe=df, save_report=True, ingestion_result="REJECTED", ge_type=False)
    except Exception as exc:  # recording is best effort: the refusal itself must still be raised
        log.warning("%s v%s: could not record the rejected batch: %s", fg.name, fg.version, exc)
        return ""
    if report is None:
        return ""
    saved = report.get("meta", {}).get("saved_to") if isinstance(report, dict) else None
    return f"; batch and report quarantined in {saved}" if saved else "; report saved with the feature group"
