"""The training gate: pure functions on predictions and actuals deciding whether a new model may serve.

A candidate passes when its MAE is below ``(1 - margin)`` x the reference's and no slice (season, weekday)
with enough rows is more than ``slice_max_worse`` worse than the reference there.
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
SEASONS = ["Dec-Feb", "Mar-May", "Jun-Aug", "Sep-Nov"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
COLUMNS = ["date", "actual", "candidate", "reference"]


def slice_labels(dates: pd.Series) -> dict[str, pd.Series]:
    """Return each date's ``season`` (month groups, hemisphere-neutral) and ``weekday``, in calendar order."""
    days = pd.to_datetime(dates, utc=True)
    codes = {"season": (days.dt.month % 12 // 3, SEASONS), "weekday": (days.dt.dayofweek, WEEKDAYS)}
    return {
        kind: pd.Series(pd.Categorical.from_codes(code, names), index=days.index)
        for kind, (code, names) in codes.items()
    }


def slice_table(frame: pd.DataFrame, slice_max_worse: float, min_slice_rows: int) -> pd.DataFrame:
    """Return MAE of candidate and reference per slice of ``frame``, and whether each is within bounds."""
    errors = frame[["candidate", "reference"]].sub(frame["actual"], axis=0).abs()
    parts = []
    for kind, labels in slice_labels(frame["date"]).items():
        groups = errors.groupby(labels, observed=True)
        parts.append(groups.mean().add_suffix("_mae").assign(rows=groups.size(), slice=kind))
    table = pd.concat(parts).rename_axis("value").reset_index()
    # 0/0 (both perfect) is a tie; x/0 is infinitely worse
    table["ratio"] = (table["candidate_mae"] / table["reference_mae"]).fillna(1.0)
    table["judged"] = table["rows"] >= min_slice_rows  # smaller: listed, not judged (mostly noise)
    table["ok"] = ~table["judged"] | (table["ratio"] <= 1.0 + slice_max_worse)
    return table[["slice", "value", "rows", "candidate_mae", "reference_mae", "ratio", "judged", "ok"]]


def evaluate(
    frame: pd.DataFrame,
    *,
    margin: float,
    slice_max_worse: float,
    min_slice_rows: int,
    candidate: dict[str, Any] | None = None,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Judge a candidate against a reference on the same days; return the (JSON-ready) gate report.

    ``frame`` has one row per test day with the ``COLUMNS``; rows missing any are left out. ``margin``
    is the relative MAE improvement required (negative: a worse candidate is allowed by that much).
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"gate frame is missing column(s) {missing}")
    rows = frame[COLUMNS].dropna().sort_values("date", ignore_index=True)
    days = [day.date().isoformat() for day in rows["date"]] or [None]
    settings = {"mae_margin": margin, "slice_max_worse": slice_max_worse, "min_slice_rows": min_slice_rows}
    report: dict[str, Any] = {
        "candidate": dict(candidate or {}),
        "reference": dict(reference or {}),
        "settings": settings,
        "window": {"start": days[0], "end": days[-1], "rows": len(rows)},
    }
    if rows.empty:
        reasons = ["no test day has both a candidate and a reference prediction and an observed value"]
        return {**report, "passed": False, "reasons": reasons, "overall": {}, "slices": []}
    mae = rows[["candidate", "reference"]].sub(rows["actual"], axis=0).abs().mean()
    required = mae["reference"] * (1.0 - margin)
    overall = {
        "candidate_mae": float(mae["candidate"]),
        "reference_mae": float(mae["reference"]),
        "required_below": float(required),
        "ok": bool(mae["candidate"] < required),
    }
    slices = slice_table(rows, slice_max_worse, min_slice_rows)
    limit = f"+{slice_max_worse:.0%}"
    slice_reasons = [
        f"slice {s['slice']}={s['value']}: MAE {s['candidate_mae']:.3f} is {s['ratio'] - 1:+.0%} vs "
        f"reference {s['reference_mae']:.3f} (bound {limit}, {s['rows']} days)"
        for s in slices[~slices["ok"]].to_dict("records")
    ]
    judged = f"{int(slices['judged'].sum())} of {len(slices)} slices judged"
    reasons = [
        f"MAE {overall['candidate_mae']:.3f} is {'below' if overall['ok'] else 'not below'} {required:.3f} "
        f"= {1 - margin:g} x reference MAE {overall['reference_mae']:.3f} (margin {margin:g})",
        *(slice_reasons or [f"no slice worse than {limit} ({judged})"]),
    ]
    passed = bool(overall["ok"] and not slice_reasons)
    slice_rows = jsonable(slices.to_dict("records"))
    return {**report, "passed": passed, "reasons": reasons, "overall": overall, "slices": slice_rows}


def format_report(report: dict[str, Any]) -> str:
    """Return the report as a table for the logs."""
    window, overall, decision = report["window"], report["overall"], report.get("decision")
    info = bool(report.get("informational"))  # no production model: the verdicts are for information
    lines = [
        f"training gate: {'PASSED' if report['passed'] else 'FAILED'} -> {decision or 'no alias'}",
        f"reference: {report['reference'].get('label', 'n/a')}; test days {window['start']}..{window['end']} "
        f"({window['rows']} days)",
        f"{'':<20}{'rows':>6}{'candidate':>11}{'reference':>11}{'change':>9}  verdict",
    ]
    entries = [{**s, "name": f"{s['slice']}={s['value']}"} for s in report["slices"]]
    if overall:
        ratio = overall["candidate_mae"] / overall["reference_mae"] if overall["reference_mae"] else None
        total = {**overall, "name": "MAE (all days)", "rows": window["rows"], "judged": True, "ratio": ratio}
        entries.insert(0, total)
    for e in entries:
        verdict = ("ok" if e["ok"] else "FAIL") if e["judged"] else "(too few days)"
        verdict = f"({verdict}, info)" if info and e["judged"] else verdict
        change = math.nan if e["ratio"] is None else e["ratio"] - 1
        lines.append(
            f"{e['name']:<20}{e['rows']:>6}{e['candidate_mae']:>11.3f}{e['reference_mae']:>11.3f}"
            f"{change:>+9.1%}  {verdict}"
        )
    lines += [f"  - {reason}" for reason in report["reasons"]]
    return "\n".join(lines)


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
    return value.isoformat() if isinstance(value, dt.date) else value  # pd.Timestamp is a dt.date too
