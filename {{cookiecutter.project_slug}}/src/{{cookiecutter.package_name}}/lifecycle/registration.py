"""A trained candidate's way into the registry: judged by the gate, saved, recorded, given its alias.

The gate compares the candidate with the production model on the same test days (production scored
on its own feature view version), or with the persistence baseline when there is no production model
yet. Passing makes it ``shadow`` (``production`` when there is none).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import batch_features
from ..model import LoadedModel, file_hashes
from ..settings import Settings
from . import gate
from .aliases import (
    HELD,
    LOAD_ERRORS,
    PRODUCTION,
    SHADOW,
    MoveNote,
    aliases,
    history,
    load_checked,
    promote,
    record_event,
    registration,
    set_shadow,
)

log = logging.getLogger(__name__)

BY = "training pipeline"  # the actor of the events a training records


def score_on_own_view(
    model: LoadedModel, location: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Return ``date`` and the model's one-day-ahead ``reference`` prediction for days in ``[start, end)``.

    The model reads the feature view version it was trained on, whatever the candidate's is.
    """
    fv = model.scoring_view()
    batch = batch_features(fv, location, start, end)
    if batch.empty:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[us, UTC]"), "reference": []})
    return pd.DataFrame({"date": batch["date"], "reference": model.predict(batch).clip(min=0.0)})


def _train_end(model: LoadedModel) -> pd.Timestamp | None:
    """Return the first day after a model's training data (from its ``run.json``), if recorded."""
    value = ((model.run or {}).get("data") or {}).get("train_end")
    return pd.Timestamp(value) if value else None


def _thresholds(settings: Settings) -> dict[str, Any]:
    return {
        "margin": settings.gate_mae_margin,
        "slice_max_worse": settings.gate_slice_max_worse,
        "min_slice_rows": settings.gate_min_slice_rows,
    }


def _first_model(rows: pd.DataFrame, candidate: dict[str, Any], thresholds: dict[str, Any]) -> dict[str, Any]:
    """Return the report of a candidate with no production model: it becomes production."""
    frame = rows.rename(columns={"baseline": "reference"})
    reference = {"kind": "baseline", "label": "persistence baseline (tomorrow = today): no production model"}
    report = gate.evaluate(frame, candidate=candidate, reference=reference, **thresholds)
    verdict = "would pass" if report["passed"] else "would fail"
    report["reasons"] = [
        f"no production model yet: the candidate becomes production (against the baseline it {verdict})",
        *report["reasons"],
    ]
    report.update(passed=True, informational=True, decision=PRODUCTION)
    return report


def judge_candidate(
    settings: Settings, fs: Any, mr: Any, rows: pd.DataFrame, feature_version: int
) -> dict[str, Any]:
    """Run the training gate for a candidate's test ``rows`` (date, actual, candidate, baseline).

    Call it holding ``aliases.move_lock(settings)`` until ``apply_decision``: a concurrent training
    is then judged against this one's outcome.

    Returns:
        The gate report with ``decision``: the alias the candidate gets, or None when it fails.
        With no production model there is nothing to protect: the candidate becomes production,
        and its comparison with the persistence baseline is reported for information.
    """
    name = settings.model_name
    events = history(fs, name)
    production = aliases(fs, name, events).get(PRODUCTION)
    thresholds = _thresholds(settings)
    candidate = {"model": name, "feature_view_version": feature_version}
    if production is None:
        return _first_model(rows, candidate, thresholds)
    label = f"production {name} v{production.version}"
    try:
        model = load_checked(fs, mr, name, production.version, events)
        end = rows["date"].max() + pd.Timedelta(days=1)
        scored = score_on_own_view(model, settings.location.key, rows["date"].min(), end)
    except LOAD_ERRORS as exc:
        reference = {"kind": "production", "version": production.version, "label": label}
        frame = rows.assign(reference=np.nan)
        report = gate.evaluate(frame, candidate=candidate, reference=reference, **thresholds)
        report["reasons"] = [f"{label} could not be scored, so nothing shows the candidate is better: {exc}"]
        report["decision"] = None
        return report
    frame = rows.drop(columns="baseline").merge(scored, on="date", how="inner")
    # Days production was trained on would flatter it: compare on its out-of-sample days only.
    train_end = _train_end(model)
    in_sample = int((frame["date"] < train_end).sum()) if train_end is not None else 0
    if train_end is not None:
        frame = frame[frame["date"] >= train_end]
    fv_version = registration(events, production.version).get("feature_view_version")
    reference = {
        "kind": "production",
        "version": production.version,
        "feature_view_version": fv_version,
        "label": f"{label} on feature view v{fv_version}",
        "in_sample_days_excluded": in_sample,
    }
    report = gate.evaluate(frame, candidate=candidate, reference=reference, **thresholds)
    report["decision"] = SHADOW if report["passed"] else None
    return report


def register(fs: Any, mr: Any, folder: Path, model_args: dict[str, Any], report: dict[str, Any]) -> int:
    """Register the model files in ``folder``, record the event with their sha256; return the version.

    The ``registered`` event is the last step: until it is written the version is listed, served and
    promoted by nothing (``aliases.registered_versions``), so a run killed half-way leaves no trace
    that counts.
    """
    hashes = file_hashes(folder)
    registered = mr.python.create_model(**model_args)
    registered.save(str(folder))
    version = int(registered.version)
    fv, td_version = model_args["feature_view"], model_args["training_dataset_version"]
    record_event(
        fs,
        model_args["name"],
        "registered",
        version,
        by=BY,
        reason=f"trained on {fv.name} v{fv.version}, training dataset v{td_version}",
        detail={
            "sha256": hashes,
            "feature_view_name": fv.name,
            "feature_view_version": int(fv.version),
            "training_dataset_version": td_version,
            # The verdict travels with the registration: a run killed before the alias move keeps it.
            "gate": {"passed": bool(report.get("passed")), "decision": report.get("decision")},
        },
    )
    report["candidate"]["version"] = version
    return version


def apply_decision(fs: Any, mr: Any, name: str, version: int, report: dict[str, Any], today: Any) -> None:
    """Give the candidate the alias the gate decided (``production`` or ``shadow``), or record its failure.

    The caller holds ``aliases.move_lock(settings)`` since ``judge_candidate``.
    """
    # The full table is printed by the training pipeline; the log keeps the verdict for schedulers' logs.
    log.info("training gate for %s v%s: %s", name, version, report["decision"])
    verdict = "; ".join(report["reasons"])
    move = {PRODUCTION: promote, SHADOW: set_shadow}
    if report["decision"] in move:
        note = MoveNote(BY, f"training gate passed: {verdict}", today)
        move[report["decision"]](fs, mr, name, version, lock=HELD, note=note)
    else:
        record_event(fs, name, "gate_failed", version, by=BY, reason=f"training gate failed: {verdict}")
