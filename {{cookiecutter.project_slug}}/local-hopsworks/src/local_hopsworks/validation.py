"""Expectation suites of local feature groups: storage in fg.json, checks on insert, quarantine.

A suite is kept in the group's metadata. On insert it is evaluated on the batch (before anything
is written and before a first batch fixes the schema). With the ``STRICT`` ingestion policy a
failing batch is refused whole: nothing is written, the batch and the report go to
``<store>/quarantine/<group>_<version>/<UTC time>/`` and ``ValidationError`` names every failing
rule and column with example rows. With ``ALWAYS`` the batch is written and a failing report is
kept in ``<store>/validation_reports/<group>_<version>/``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .expectations import ValidationError, describe_failures, evaluate, normalise_expectation
from .timeutil import utc_now

if TYPE_CHECKING:
    from .feature_group import FeatureGroup

log = logging.getLogger(__name__)
POLICIES = ("ALWAYS", "STRICT")
QUARANTINE = "quarantine"
REPORTS = "validation_reports"


@dataclass
class LocalExpectation:
    """One expectation (the local stand-in for hsfs' ``GeExpectation``)."""

    expectation_type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {"expectation_type": self.expectation_type, "kwargs": self.kwargs, "meta": self.meta}


@dataclass
class ExpectationSuite:
    """An expectation suite attached to a local feature group (hsfs' ``ExpectationSuite`` subset)."""

    expectation_suite_name: str
    expectations: list[LocalExpectation]
    meta: dict[str, Any] = field(default_factory=dict)
    run_validation: bool = True
    validation_ingestion_policy: str = "ALWAYS"

    def to_json_dict(self, decamelize: bool = False) -> dict[str, Any]:
        """Return the suite as JSON-ready data (snake_case keys whatever ``decamelize`` says)."""
        return {
            "expectation_suite_name": self.expectation_suite_name,
            "expectations": [e.to_json_dict() for e in self.expectations],
            "meta": self.meta,
            "run_validation": self.run_validation,
            "validation_ingestion_policy": self.validation_ingestion_policy,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> ExpectationSuite:
        return cls(
            expectation_suite_name=data.get("expectation_suite_name") or "",
            expectations=[
                LocalExpectation(**normalise_expectation(e)) for e in data.get("expectations") or []
            ],
            meta=dict(data.get("meta") or {}),
            run_validation=bool(data.get("run_validation", True)),
            validation_ingestion_policy=str(data.get("validation_ingestion_policy", "ALWAYS")).upper(),
        )


def to_local_suite(
    suite: Any, run_validation: bool, validation_ingestion_policy: str, default_name: str
) -> ExpectationSuite:
    """Return ``suite`` (local, hsfs or GE suite, a dict or a list of expectations) as a local suite.

    Raises:
        ValueError: For an unknown ingestion policy or a malformed suite.
        NotImplementedError: For an expectation the local store does not evaluate.
    """
    policy = str(validation_ingestion_policy).strip().upper()
    if policy not in POLICIES:
        raise ValueError(
            f"validation_ingestion_policy must be 'always' or 'strict', got {validation_ingestion_policy!r}"
        )
    if isinstance(suite, list):
        name, expectations, meta = default_name, suite, {}
    elif isinstance(suite, dict):
        name = suite.get("expectation_suite_name") or suite.get("name") or default_name
        expectations, meta = suite.get("expectations") or [], suite.get("meta") or {}
    elif hasattr(suite, "expectations"):
        name = getattr(suite, "expectation_suite_name", None) or getattr(suite, "name", None) or default_name
        expectations, meta = list(suite.expectations or []), getattr(suite, "meta", None) or {}
    else:
        raise ValueError(
            f"expectation_suite must be a suite, a dict or a list of expectations, got {type(suite).__name__}"
        )
    return ExpectationSuite(
        expectation_suite_name=str(name),
        expectations=[LocalExpectation(**normalise_expectation(e)) for e in expectations],
        meta=json.loads(json.dumps(meta, default=str)),
        run_validation=bool(run_validation),
        validation_ingestion_policy=policy,
    )


def suite_settings(suite: Any) -> tuple[bool, str]:
    """Return the ``run_validation`` and ingestion policy a suite object or dict carries (or the defaults)."""
    if isinstance(suite, dict):
        return bool(suite.get("run_validation", True)), str(
            suite.get("validation_ingestion_policy", "always")
        )
    return bool(getattr(suite, "run_validation", True)), str(
        getattr(suite, "validation_ingestion_policy", "always")
    )


def _folder(root: Path, kind: str, fg: FeatureGroup) -> Path:
    """Create and return a new, unique, time-named folder for one report."""
    base = root / kind / f"{fg.name}_{fg.version}"
    base.mkdir(parents=True, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%dT%H%M%S.%fZ")
    for attempt in range(1000):
        path = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a report folder under {base}")


def _write_batch(df: pd.DataFrame, path: Path) -> None:
    """Write a (possibly badly typed) batch as parquet; columns Arrow cannot type become text."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_parquet(tmp, index=False)
    except (ValueError, TypeError, ArithmeticError) as exc:
        log.info("quarantined batch has columns parquet cannot type (%s): storing them as text", exc)
        safe = df.copy()
        for column in safe.columns:
            if safe[column].dtype == object:
                safe[column] = safe[column].map(lambda v: None if v is None else str(v))
        safe.columns = [str(c) for c in safe.columns]
        safe.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def save_report(root: Path, fg: FeatureGroup, report: dict[str, Any], batch: pd.DataFrame | None) -> Path:
    """Keep a report; with ``batch``, quarantine it next to the report. Return the folder."""
    from .feature_group import write_json_atomic

    folder = _folder(root, QUARANTINE if batch is not None else REPORTS, fg)
    if batch is not None:
        _write_batch(batch, folder / "batch.parquet")
    write_json_atomic(folder / "report.json", report)
    return folder


def check_batch(
    root: Path, fg: FeatureGroup, df: pd.DataFrame, suite: ExpectationSuite | None, options: dict[str, Any]
) -> dict[str, Any] | None:
    """Validate an insert; return the report, or raise ``ValidationError`` when STRICT refuses it."""
    if suite is None or not isinstance(df, pd.DataFrame):
        return None
    if not options.get("run_validation", suite.run_validation):
        return None
    keys = fg.primary_key + ([fg.event_time] if fg.event_time else [])
    report = evaluate(
        df, [e.to_json_dict() for e in suite.expectations], keys=keys, suite_name=suite.expectation_suite_name
    )
    report["meta"].update(feature_group=fg.name, version=fg.version)
    strict = suite.validation_ingestion_policy == "STRICT"
    report["ingestion_result"] = "REJECTED" if strict and not report["success"] else "INGESTED"
    if report["success"]:
        return report
    failures = describe_failures(report)
    if not strict:
        folder = save_report(root, fg, report, None)
        log.warning(
            "%s v%s: %d expectation(s) failed, batch written (policy always); report in %s: %s",
            fg.name,
            fg.version,
            len(failures),
            folder,
            " | ".join(failures),
        )
        return report
    folder = None
    try:
        folder = save_report(root, fg, report, df)
        where = f"batch and report saved in {folder}"
    except OSError as exc:
        where = f"the batch could not be quarantined ({exc})"
    message = (
        f"{fg.name} v{fg.version}: {len(failures)} of {report['statistics']['evaluated_expectations']} "
        f"expectation(s) failed on {len(df)} row(s); nothing was written (validation_ingestion_policy "
        f"strict); {where}\n" + "\n".join(f"  - {line}" for line in failures)
    )
    raise ValidationError(message, report, None if folder is None else str(folder))
