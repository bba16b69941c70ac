"""The training gate: may a new model serve? Pure functions on predictions and actuals, and the report.

A candidate is compared with a reference on the same test days: the production model when
there is one (scored on its own feature view version), else the persistence baseline
(tomorrow = today). It passes when its MAE is below ``(1 - margin)`` times the reference's
and no slice of the test days (season, weekday) with enough rows is more than ``slice_max_worse``
(relative) worse than the reference on that slice. The report says which rule decided.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPORT_FILE = "gate_report.json"
SEASONS = {12: "Dec-Feb", 1: "Dec-Feb", 2: "Dec-Feb", 3: "Mar-May", 4: "Mar-May", 5: "Mar-May"}
SEASONS |= {6: "Jun-Aug", 7: "Jun-Aug", 8: "Jun-Aug", 9: "Sep-Nov", 10: "Sep-Nov", 11: "Sep-Nov"}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
COLUMNS = ["date", "actual", "candidate", "reference"]


def slice_labels(dates: pd.Series) -> dict[str, pd.Series]:
    """Return the slices of each date: ``season`` (month groups, hemisphere-neutral) and ``weekday``."""
    days = pd.to_datetime(dates, utc=True)
    return {
        "season": days.dt.month.map(SEASONS),
        "weekday": days.dt.dayofweek.map(dict(enumerate(WEEKDAYS))),
    }


def _mae(error: pd.Series) -> float:
    return float(error.abs().mean()) if len(error) else math.nan


def slice_table(frame: pd.DataFrame, slice_max_worse: float, min_slice_rows: int) -> pd.DataFrame:
    """Return MAE of candidate and reference per slice, and whether each judged slice is within bounds.

    ``frame`` has the ``COLUMNS``; a slice with fewer than ``min_slice_rows`` rows is listed but
    not judged (its MAE is mostly noise).
    """
    rows = []
    for kind, labels in slice_labels(frame["date"]).items():
        for value in sorted(labels.dropna().unique(), key=_slice_order):
            part = frame[(labels == value).to_numpy()]
            candidate = _mae(part["candidate"] - part["actual"])
            reference = _mae(part["reference"] - part["actual"])
            judged = len(part) >= min_slice_rows
            ratio = candidate / reference if reference > 0 else (1.0 if candidate == 0 else math.inf)
            rows.append(
                {
                    "slice": kind,
                    "value": value,
                    "rows": len(part),
                    "candidate_mae": candidate,
                    "reference_mae": reference,
                    "ratio": ratio,
                    "judged": judged,
                    "ok": (not judged) or ratio <= 1.0 + slice_max_worse,
                }
            )
    return pd.DataFrame(
        rows,
        columns=["slice", "value", "rows", "candidate_mae", "reference_mae", "ratio", "judged", "ok"],
    )


def _slice_order(value: str) -> int:
    order = [*dict.fromkeys(SEASONS.values()), *WEEKDAYS]
    return order.index(value) if value in order else len(order)


def evaluate(
    frame: pd.DataFrame,
    *,
    margin: float,
    slice_max_worse: float,
    min_slice_rows: int,
    candidate: dict[str, Any] | None = None,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Judge a candidate against a reference on the same rows; return the gate report.

    Args:
        frame: One row per test day with ``date``, ``actual``, ``candidate`` and ``reference``
            predictions; rows where any of them is missing are left out.
        margin: Relative MAE improvement required (0.02: at least 2% lower; negative: a worse
            candidate is allowed by that much).
        slice_max_worse: How much (relative) worse than the reference a judged slice may be.
        min_slice_rows: Slices with fewer rows are reported but not judged.
        candidate: Description of the candidate (name, feature view version), copied to the report.
        reference: Description of the reference, copied to the report.

    Returns:
        The report: ``passed``, ``reasons`` (why it passed or failed), ``overall``, ``slices``,
        the test ``window`` and the ``settings`` used. JSON-serialisable.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"gate frame is missing column(s) {missing}")
    rows = frame[COLUMNS].dropna().sort_values("date", ignore_index=True)
    settings = {"mae_margin": margin, "slice_max_worse": slice_max_worse, "min_slice_rows": min_slice_rows}
    report: dict[str, Any] = {
        "candidate": dict(candidate or {}),
        "reference": dict(reference or {}),
        "settings": settings,
        "window": _window(rows),
    }
    if rows.empty:
        reasons = ["no test day has both a candidate and a reference prediction and an observed value"]
        return {**report, "passed": False, "reasons": reasons, "overall": {}, "slices": []}
    overall = _overall(rows, margin)
    slices = slice_table(rows, slice_max_worse, min_slice_rows)
    verdict = "below" if overall["ok"] else "not below"
    reasons = [
        f"MAE {overall['candidate_mae']:.3f} is {verdict} {overall['required_below']:.3f} "
        f"= {1 - margin:g} x reference MAE {overall['reference_mae']:.3f} (margin {margin:g})",
        *_slice_reasons(slices, slice_max_worse),
    ]
    passed = bool(overall["ok"] and slices["ok"].all())
    slice_rows = jsonable(slices.to_dict("records"))
    return {**report, "passed": passed, "reasons": reasons, "overall": overall, "slices": slice_rows}


def _overall(rows: pd.DataFrame, margin: float) -> dict[str, Any]:
    """Return the MAE of candidate and reference on all rows, the bound and whether it is met."""
    candidate_mae = _mae(rows["candidate"] - rows["actual"])
    reference_mae = _mae(rows["reference"] - rows["actual"])
    required = reference_mae * (1.0 - margin)
    return {
        "candidate_mae": candidate_mae,
        "reference_mae": reference_mae,
        "required_below": required,
        "ok": bool(candidate_mae < required),
    }


def _window(rows: pd.DataFrame) -> dict[str, Any]:
    """Return the first and last test day and the number of rows."""
    return {
        "start": rows["date"].min().date().isoformat() if len(rows) else None,
        "end": rows["date"].max().date().isoformat() if len(rows) else None,
        "rows": len(rows),
    }


def _slice_reasons(slices: pd.DataFrame, slice_max_worse: float) -> list[str]:
    """Return one reason per slice out of bounds, or one saying none is."""
    bad = slices[~slices["ok"]]
    if bad.empty:
        judged = int(slices["judged"].sum())
        return [f"no slice worse than +{slice_max_worse:.0%} ({judged} of {len(slices)} slices judged)"]
    return [
        f"slice {record['slice']}={record['value']}: MAE {record['candidate_mae']:.3f} is "
        f"{record['ratio'] - 1:+.0%} vs reference {record['reference_mae']:.3f} "
        f"(bound +{slice_max_worse:.0%}, {record['rows']} days)"
        for record in bad.to_dict("records")
    ]


def format_report(report: dict[str, Any]) -> str:
    """Return the report as a table for the logs."""
    reference = report.get("reference") or {}
    window = report.get("window") or {}
    verdict = "PASSED" if report.get("passed") else "FAILED"
    decision = report.get("decision")
    lines = [
        f"training gate: {verdict}" + (f" -> {decision}" if decision else " -> no alias"),
        f"reference: {reference.get('label', 'n/a')}; test days {window.get('start')}..{window.get('end')} "
        f"({window.get('rows', 0)} days)",
        f"{'':<20}{'rows':>6}{'candidate':>11}{'reference':>11}{'change':>9}  verdict",
    ]
    overall = report.get("overall") or {}
    info = bool(report.get("informational"))  # no production model: the rows are for information
    if overall:
        change = (
            overall["candidate_mae"] / overall["reference_mae"] - 1 if overall["reference_mae"] else math.nan
        )
        lines.append(
            f"{'MAE (all days)':<20}{window.get('rows', 0):>6}{overall['candidate_mae']:>11.3f}"
            f"{overall['reference_mae']:>11.3f}{change:>+9.1%}  {_verdict(overall['ok'], True, info)}"
        )
    for record in report.get("slices") or []:
        verdict_text = _verdict(record["ok"], record["judged"], info)
        ratio = record["ratio"] if record["ratio"] is not None else math.nan
        lines.append(
            f"{record['slice'] + '=' + str(record['value']):<20}{record['rows']:>6}"
            f"{record['candidate_mae']:>11.3f}"
            f"{record['reference_mae']:>11.3f}{ratio - 1:>+9.1%}  {verdict_text}"
        )
    lines += [f"  - {reason}" for reason in report.get("reasons") or []]
    return "\n".join(lines)


def _verdict(ok: bool, judged: bool, informational: bool) -> str:
    if not judged:
        return "(too few days)"
    text = "ok" if ok else "FAIL"
    return f"({text}, info)" if informational else text


def write_report(report: dict[str, Any], folder: Path) -> Path:
    """Write the report as ``gate_report.json`` into ``folder`` and return the path."""
    path = Path(folder) / REPORT_FILE
    path.write_text(json.dumps(jsonable(report), indent=2, sort_keys=True))
    return path


def jsonable(value: Any) -> Any:
    """Return ``value`` ready for JSON: numpy scalars as numbers, NaN/inf as None, dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    return value
