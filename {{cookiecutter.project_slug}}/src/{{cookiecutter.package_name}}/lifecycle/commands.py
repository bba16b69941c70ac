"""Model commands: promote (the green button), rollback (the red button), models, runs, monitor."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .. import PROGRAM
from ..catalog import utc_today
from ..settings import Settings
from ..store import connect
from . import aliases, monitoring
from .aliases import HISTORY_ROWS, history_table


def _table(frame: pd.DataFrame) -> str:
    """Return a frame as text: numbers right-aligned, text left-aligned, no index."""
    if frame.empty:
        return "  (none)"
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            text = shown[column].map(lambda v: "" if v is None else str(v))
            shown[column] = text.str.ljust(max(len(str(column)), *text.map(len)))
    return shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3f}", justify="left")


def _parser(command: str, description: str, *, moves: bool = False) -> argparse.ArgumentParser:
    """Return a command's parser: a move names its model and records who and why; others default it."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} {command}", description=description)
    if not moves:
        parser.add_argument("model", nargs="?", help="model name; default: MODEL_NAME")
        return parser
    parser.add_argument("model", help="model name, e.g. pm25_xgboost")
    parser.add_argument("--reason", "-m", default="", help="why (recorded in the history)")
    parser.add_argument("--by", help="who (recorded in the history); default: the login name")
    return parser


def _open_model(args: argparse.Namespace) -> tuple[Settings, str, Any, Any]:
    """Return the settings, the model name the command is about, the feature store and the registry."""
    settings = Settings()
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    return settings, args.model or settings.model_name, fs, mr


def promote_main(argv: list[str] | None = None) -> int:
    """``promote MODEL VERSION`` or ``promote MODEL --from-shadow``: move the production alias."""
    parser = _parser(
        "promote",
        "The green button: make a model version production. The replaced version becomes the rollback "
        "target. --from-shadow promotes the shadow version, only after SHADOW_MIN_DAYS days of shadow "
        "hindcast. A version the training gate failed needs --force.",
        moves=True,
    )
    parser.add_argument("version", type=int, nargs="?", help="version to promote (not with --from-shadow)")
    parser.add_argument("--from-shadow", action="store_true", help="promote the shadow version")
    parser.add_argument("--force", action="store_true", help="promote a version the training gate failed")
    args = parser.parse_args(argv)
    if args.version is None and not args.from_shadow:
        parser.error("name a VERSION or use --from-shadow")
    settings, name, fs, mr = _open_model(args)
    event = aliases.promote(
        fs,
        mr,
        name,
        args.version,
        lock=aliases.move_lock(settings),
        note=aliases.MoveNote(args.by, args.reason),
        from_shadow=args.from_shadow,
        min_shadow_days=settings.shadow_min_days,
        location=settings.location.key,
        force=args.force,
    )
    before = f"v{event['from_version']}" if event["from_version"] else "none"
    print(
        f"promote: {name} v{event['model_version']} is production (was {before}); "
        f"by {event['actor']}: {event['reason'] or '(no reason given)'}"
    )
    if args.from_shadow:
        detail = json.loads(event["detail"])
        print(
            f"  shadow evidence: {detail['shadow_days']} day(s) since {detail['shadow_since']}, MAE "
            f"{detail['shadow_mae']} vs production {detail.get('production_mae_same_days')} on the same days"
        )
    return 0


def rollback_main(argv: list[str] | None = None) -> int:
    """``rollback MODEL``: move the production alias back to the previous production version."""
    parser = _parser(
        "rollback",
        "The red button: make the previous production version production again, at once.",
        moves=True,
    )
    args = parser.parse_args(argv)
    settings, name, fs, mr = _open_model(args)
    event = aliases.rollback(
        fs, mr, name, lock=aliases.move_lock(settings), note=aliases.MoveNote(args.by, args.reason)
    )
    print(
        f"rollback: {name} v{event['model_version']} is production again (v{event['from_version']} "
        f"withdrawn); by {event['actor']}: {event['reason'] or '(no reason given)'}"
    )
    return 0


def models_main(argv: list[str] | None = None) -> int:
    """``models [MODEL] [--json]``: list versions, aliases and the history."""
    parser = _parser("models", "List model versions, aliases and history.")
    parser.add_argument("--history", type=int, default=HISTORY_ROWS, help="events to show (newest first)")
    parser.add_argument(
        "--json", action="store_true", help="print versions, aliases and the whole history as JSON"
    )
    args = parser.parse_args(argv)
    _, name, fs, mr = _open_model(args)
    if args.json:
        print(json.dumps(aliases.models_document(fs, mr, name), indent=2, sort_keys=True))
        return 0
    events = aliases.known_model(fs, mr, name)
    found = aliases.aliases(fs, name, events)
    print(f"model {name}: versions\n{_table(aliases.versions_table(fs, mr, name, events))}\naliases:")
    for alias in (aliases.PRODUCTION, aliases.SHADOW):
        print(f"  {alias:<11}{aliases.alias_text(found.get(alias))}")
    print(f"history (newest first):\n{_table(history_table(events, args.history))}")
    return 0


def _run_file(model: Any, problem: str) -> tuple[dict[str, Any], str]:
    """Return a version's ``run.json`` and why it cannot be read (or "")."""
    if model is None:
        return {}, problem
    with tempfile.TemporaryDirectory() as tmp:
        try:
            file = Path(model.download(tmp)) / "run.json"
            return (json.loads(file.read_text()) if file.exists() else {}), ""
        except aliases.LOAD_ERRORS as exc:
            return {}, f"files unreadable: {exc}"


def _run_row(entry: dict[str, Any]) -> dict[str, Any]:
    """Return a training run's row: data versions and windows, parameters, test metrics, gate verdict."""
    run, note = _run_file(entry["meta"], entry["problem"])
    params, data, verdict = run.get("params") or {}, run.get("data") or {}, run.get("gate")
    day = {key: str(data.get(key, ""))[:10] for key in ("train_start", "test_start", "test_end")}
    end = data.get("train_end")
    train_last = (pd.Timestamp(end) - pd.Timedelta(days=1)).date() if end else ""  # shown inclusive
    return {
        **{key: entry[key] for key in ("version", "alias", "created", "fv", "td")},
        "train": f"{day['train_start']}..{train_last}" if data else "",
        "test": f"{day['test_start']}..{day['test_end']}" if data else "",
        "rounds": params.get("num_boost_round"),
        "depth": params.get("max_depth"),
        "eta": params.get("eta"),
        **{key: entry[key] for key in aliases.METRICS},
        "gate": ("passed" if verdict["passed"] else "failed") if verdict else note,
    }


def runs_main(argv: list[str] | None = None) -> int:
    """``runs [MODEL]``: compare every training run's data versions, parameters, metrics and gate verdict."""
    parser = _parser("runs", "Compare training runs: data versions, parameters, test metrics, gate verdict.")
    _, name, fs, mr = _open_model(parser.parse_args(argv))
    entries = aliases.registered_models(fs, mr, name, aliases.known_model(fs, mr, name)).to_dict("records")
    print(f"training runs of {name} (fv: feature view version, td: training dataset version):")
    print(_table(pd.DataFrame([_run_row(entry) for entry in entries])))
    return 0


def monitor_main(argv: list[str] | None = None) -> int:
    """``monitor [MODEL]``: hindcast accuracy per model version and feature drift of the latest week."""
    parser = _parser(
        "monitor",
        "Hindcast accuracy per model version (from the monitoring group) and feature drift "
        "(PSI of the latest week against the training data) of production and shadow.",
    )
    settings, name, fs, mr = _open_model(parser.parse_args(argv))
    location = settings.location.key
    aliases.known_model(fs, mr, name)
    accuracy = monitoring.accuracy_by_version(monitoring.monitoring_rows(fs, location, name))
    print(f"hindcast accuracy of {name} at {location} (one day ahead):\n{_table(accuracy)}")
    serving = aliases.load_serving(fs, mr, name, record=False)
    threshold = settings.drift_psi_threshold
    for role, model in ((aliases.PRODUCTION, serving.production), (aliases.SHADOW, serving.shadow)):
        if model is None:
            continue
        table, info = monitoring.feature_drift(model, location, utc_today(), settings.drift_bins, threshold)
        print(
            f"feature drift of {role} v{model.version} ({model.feature_view_label}): "
            f"latest {info['recent_rows']} day(s) vs {info['training_rows']} training days, "
            f"PSI >= {threshold:g} marks drift"
        )
        print(_table(table))
    for problem in serving.problems:
        print(f"monitor: warning: {problem}")
    return 0
