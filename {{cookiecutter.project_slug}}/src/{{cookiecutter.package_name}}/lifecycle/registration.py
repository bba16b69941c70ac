"""A trained candidate's way into the registry: judged by the gate, saved, recorded, given its alias."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import batch_features
from ..model import file_hashes
from ..settings import Settings
from . import aliases, gate
from .aliases import HELD, PRODUCTION, SHADOW

log = logging.getLogger(__name__)
BY = "training pipeline"  # the actor of the events a training records


def judge_candidate(
    settings: Settings, fs: Any, mr: Any, rows: pd.DataFrame, feature_version: int
) -> dict[str, Any]:
    """Run the training gate on a candidate's test ``rows`` (date, actual, candidate, baseline).

    Returns the report with ``decision``: the alias the candidate gets, None when it fails. Hold
    ``aliases.move_lock(settings)`` until ``register`` so a concurrent training is judged against this one.
    """
    name = settings.model_name
    events = aliases.history(fs, name)
    production = aliases.aliases(fs, name, events).get(PRODUCTION)
    judge = functools.partial(
        gate.evaluate,
        candidate={"model": name, "feature_view_version": feature_version},
        margin=settings.gate_mae_margin,
        slice_max_worse=settings.gate_slice_max_worse,
        min_slice_rows=settings.gate_min_slice_rows,
    )
    if production is None:  # nothing to protect: the comparison with the baseline is for information
        label = "persistence baseline (tomorrow = today): no production model"
        reference = {"kind": "baseline", "label": label}
        report = judge(rows.rename(columns={"baseline": "reference"}), reference=reference)
        lead = "no production model yet: the candidate becomes production"
        reasons = [f"{lead} (against the baseline it would {'pass' if report['passed'] else 'fail'})"]
        reasons += report["reasons"]
        return {**report, "reasons": reasons, "passed": True, "informational": True, "decision": PRODUCTION}
    label = f"production {name} v{production.version}"
    reference = {"kind": "production", "version": production.version, "label": label}
    try:
        model = aliases.load_checked(fs, mr, name, production.version, events)
        # Production reads the feature view version it was trained on, whatever the candidate's is.
        end = rows["date"].max() + pd.Timedelta(days=1)
        batch = batch_features(model.scoring_view(), settings.location.key, rows["date"].min(), end)
        scored = rows[["date"]].assign(reference=np.nan)  # no batch rows: no day to compare
        if not batch.empty:
            scored = batch[["date"]].assign(reference=model.predict(batch).clip(min=0.0))
    except aliases.LOAD_ERRORS as exc:
        report = judge(rows.assign(reference=np.nan), reference=reference)
        reasons = [f"{label} could not be scored, so nothing shows the candidate is better: {exc}"]
        return {**report, "reasons": reasons, "decision": None}
    frame = rows.drop(columns="baseline").merge(scored, on="date", how="inner")
    # Days production was trained on would flatter it: compare on its out-of-sample days only.
    train_end = ((model.run or {}).get("data") or {}).get("train_end")
    in_sample = frame["date"] < pd.Timestamp(train_end) if train_end else frame["date"].isna()
    fv_version = aliases.registration(events, production.version).get("feature_view_version")
    reference |= {"feature_view_version": fv_version, "label": f"{label} on feature view v{fv_version}"}
    reference["in_sample_days_excluded"] = int(in_sample.sum())
    report = judge(frame[~in_sample], reference=reference)
    return {**report, "decision": SHADOW if report["passed"] else None}


def register(
    fs: Any, mr: Any, folder: Path, model_args: dict[str, Any], report: dict[str, Any], today: Any
) -> int:
    """Register the files in ``folder`` with their sha256, give the gate's alias; return the version."""
    hashes = file_hashes(folder)
    registered = mr.python.create_model(**model_args)
    registered.save(str(folder))
    name, version = model_args["name"], int(registered.version)
    fv, td_version = model_args["feature_view"], model_args["training_dataset_version"]
    detail = {
        "sha256": hashes,
        "feature_view_name": fv.name,
        "feature_view_version": int(fv.version),
        "training_dataset_version": td_version,
        # The verdict travels with the registration: a run killed before the alias move keeps it.
        "gate": {"passed": bool(report["passed"]), "decision": report["decision"]},
    }
    reason = f"trained on {fv.name} v{fv.version}, training dataset v{td_version}"
    # After the files: until this event nothing lists, serves or promotes the version (a killed run: none).
    aliases.record_event(fs, name, "registered", version, by=BY, reason=reason, detail=detail)
    report["candidate"]["version"] = version
    # The full table is printed by the training pipeline; the log keeps the verdict for schedulers' logs.
    log.info("training gate for %s v%s: %s", name, version, report["decision"])
    verdict = "; ".join(report["reasons"])
    move = {PRODUCTION: aliases.promote, SHADOW: aliases.set_shadow}.get(report["decision"])
    if move is None:
        aliases.record_event(
            fs, name, "gate_failed", version, by=BY, reason=f"training gate failed: {verdict}"
        )
    else:
        note = aliases.MoveNote(BY, f"training gate passed: {verdict}", today)
        move(fs, mr, name, version, lock=HELD, note=note)
    return version
