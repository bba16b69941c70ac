"""Model commands: ``promote`` (green button), ``rollback`` (red button), ``models``, ``runs``, ``monitor``.

Each is one command that reads or moves the registry's aliases and prints what it did; the
logic is in ``aliases.py`` and ``monitoring.py``.
"""

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
from . import aliases, gate, monitoring
from .aliases import HISTORY_ROWS, history_table


def _registry(settings: Settings) -> tuple[Any, Any]:
    project = connect(settings)
    return project.get_feature_store(), project.get_model_registry()


def _table(frame: pd.DataFrame) -> str:
    """Return a frame as text: numbers right-aligned, text left-aligned, no index."""
    if frame.empty:
        return "  (none)"
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            text = shown[column].map(lambda v: "" if v is None else str(v))
            width = max(len(str(column)), *text.map(len))
            shown[column] = text.str.ljust(width)
    return shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3f}", justify="left")


def _who_and_why(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", "-m", default="", help="why (recorded in the history)")
    parser.add_argument("--by", help="who (recorded in the history); default: the login name")


def promote_main(argv: list[str] | None = None) -> int:
    """``promote MODEL VERSION`` or ``promote MODEL --from-shadow``: move the production alias."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} promote",
        description="The green button: make a model version production. The replaced version becomes the "
        "rollback target. --from-shadow promotes the shadow version, only after SHADOW_MIN_DAYS days of "
        "shadow hindcast. A version the training gate failed needs --force.",
    )
    parser.add_argument("model", help="model name, e.g. pm25_xgboost")
    parser.add_argument("version", type=int, nargs="?", help="version to promote (not with --from-shadow)")
    parser.add_argument("--from-shadow", action="store_true", help="promote the shadow version")
    parser.add_argument("--force", action="store_true", help="promote a version the training gate failed")
    _who_and_why(parser)
    args = parser.parse_args(argv)
    if args.version is None and not args.from_shadow:
        parser.error("name a VERSION or use --from-shadow")
    settings = Settings()
    fs, mr = _registry(settings)
    event = aliases.promote(
        fs,
        mr,
        aliases.check_model_name(args.model),
        args.version,
        lock=aliases.move_lock(settings),
        from_shadow=args.from_shadow,
        min_shadow_days=settings.shadow_min_days,
        location=settings.location.key,
        force=args.force,
        by=args.by,
        reason=args.reason,
    )
    before = f"v{event['from_version']}" if event["from_version"] else "none"
    print(
        f"promote: {args.model} v{event['model_version']} is production (was {before}); "
        f"by {event['actor']}: {event['reason'] or '(no reason given)'}"
    )
    detail = json.loads(event["detail"])
    if args.from_shadow:
        print(
            f"  shadow evidence: {detail['shadow_days']} day(s) since {detail['shadow_since']}, "
            f"MAE {detail.get('shadow_mae')} vs production {detail.get('production_mae_same_days')} "
            "on the same days"
        )
    return 0


def rollback_main(argv: list[str] | None = None) -> int:
    """``rollback MODEL``: move the production alias back to the previous production version."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} rollback",
        description="The red button: make the previous production version production again, at once.",
    )
    parser.add_argument("model", help="model name, e.g. pm25_xgboost")
    _who_and_why(parser)
    args = parser.parse_args(argv)
    settings = Settings()
    fs, mr = _registry(settings)
    name = aliases.check_model_name(args.model)
    event = aliases.rollback(fs, mr, name, lock=aliases.move_lock(settings), by=args.by, reason=args.reason)
    print(
        f"rollback: {args.model} v{event['model_version']} is production again "
        f"(v{event['from_version']} withdrawn); by {event['actor']}: {event['reason'] or '(no reason given)'}"
    )
    return 0


def _model_parser(command: str, description: str) -> argparse.ArgumentParser:
    """Return the parser of a command whose model name is optional (default: ``MODEL_NAME``)."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} {command}", description=description)
    parser.add_argument("model", nargs="?", help="model name; default: MODEL_NAME")
    return parser


def _open_model(args: argparse.Namespace) -> tuple[Settings, str, Any, Any]:
    """Return the settings, the model name the command is about, the feature store and the registry."""
    settings = Settings()
    return settings, args.model or settings.model_name, *_registry(settings)


def models_main(argv: list[str] | None = None) -> int:
    """``models [MODEL] [--json]``: list versions, aliases and the history."""
    parser = _model_parser("models", "List model versions, aliases and history.")
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
    print(f"model {name}: versions")
    print(_table(aliases.versions_table(fs, mr, name, events)))
    found = aliases.aliases(fs, name, events)
    print("aliases:")
    for alias in (aliases.PRODUCTION, aliases.SHADOW):
        held = found.get(alias)
        if held is None:
            print(f"  {alias:<11}(none)")
            continue
        stack = f", rollback to v{held.previous[-1]}" if held.previous else ""
        print(f"  {alias:<11}v{held.version} since {held.since} by {held.by}{stack}")
    print("history (newest first):")
    print(_table(history_table(events, args.history)))
    return 0


def _run_files(model: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Return a version's ``run.json`` (or ``params.json``), its gate report and a note on any problem."""
    info: dict[str, Any] = {}
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = Path(model.download(tmp))
            if (folder / "run.json").exists():
                info = json.loads((folder / "run.json").read_text())
            elif (folder / "params.json").exists():  # a version trained before run.json existed
                info = {"params": json.loads((folder / "params.json").read_text())}
            if (folder / gate.REPORT_FILE).exists():
                report = json.loads((folder / gate.REPORT_FILE).read_text())
        except aliases.LOAD_ERRORS as exc:
            return {}, {}, f"files unreadable: {exc}"
    return info, report, ""


def runs_table(fs: Any, mr: Any, name: str) -> pd.DataFrame:
    """Return one row per training run (registered version): data versions, parameters, metrics, gate."""
    events = aliases.known_model(fs, mr, name)
    rows = []
    for entry in aliases.registered_models(fs, mr, name, events):
        info, report, note = _run_files(entry.meta) if entry.meta is not None else ({}, {}, entry.problem)
        params, data, metrics = info.get("params") or {}, info.get("data") or {}, entry.metrics
        verdict = "" if not report else ("passed" if report.get("passed") else "failed")
        train_last = ""  # shown inclusive, like the test window (run.json keeps the exclusive end)
        if data.get("train_end"):
            train_last = (pd.Timestamp(data["train_end"]) - pd.Timedelta(days=1)).date().isoformat()
        day = {key: str(data.get(key, ""))[:10] for key in ("train_start", "test_start", "test_end")}
        rows.append(
            {
                "version": entry.version,
                "alias": entry.alias,
                "created": entry.created,
                "fv": entry.recorded.get("feature_view_version"),
                "td": entry.recorded.get("training_dataset_version"),
                "train": f"{day['train_start']}..{train_last}" if data else "",
                "test": f"{day['test_start']}..{day['test_end']}" if data else "",
                "rounds": params.get("num_boost_round"),
                "depth": params.get("max_depth"),
                "eta": params.get("eta"),
                **{key: metrics.get(key) for key in ("mae", "rmse", "r2", "baseline_mae")},
                "gate": verdict or note,
            }
        )
    columns = ["version", "alias", "created", "fv", "td", "train", "test", "rounds", "depth", "eta"]
    return pd.DataFrame(rows, columns=[*columns, "mae", "rmse", "r2", "baseline_mae", "gate"])


def runs_main(argv: list[str] | None = None) -> int:
    """``runs [MODEL]``: compare every training run's data versions, parameters, metrics and gate verdict."""
    parser = _model_parser(
        "runs", "Compare training runs: data versions, parameters, test metrics, gate verdict."
    )
    _, name, fs, mr = _open_model(parser.parse_args(argv))
    table = runs_table(fs, mr, name)
    print(f"training runs of {name} (fv: feature view version, td: training dataset version):")
    print(_table(table))
    return 0


def monitor_main(argv: list[str] | None = None) -> int:
    """``monitor [MODEL]``: hindcast accuracy per model version and feature drift of the latest week."""
    parser = _model_parser(
        "monitor",
        "Hindcast accuracy per model version (from the monitoring group) and feature drift "
        "(PSI of the latest week against the training data) of production and shadow.",
    )
    settings, name, fs, mr = _open_model(parser.parse_args(argv))
    aliases.known_model(fs, mr, name)
    rows = monitoring.monitoring_rows(fs, settings.location.key, name)
    print(f"hindcast accuracy of {name} at {settings.location.key} (one day ahead):")
    print(_table(monitoring.accuracy_by_version(rows)))
    serving = aliases.load_serving(fs, mr, name, record=False)
    models = [(aliases.PRODUCTION, serving.production)]
    if serving.shadow is not None:
        models.append((aliases.SHADOW, serving.shadow))
    for role, model in models:
        table, info = monitoring.feature_drift(
            model, settings.location.key, utc_today(), settings.drift_bins, settings.drift_psi_threshold
        )
        print(
            f"feature drift of {role} v{model.version} ({info['feature_view']}): "
            f"latest {info['recent_rows']} "
            f"day(s) vs {info['training_rows']} training days, PSI >= {info['threshold']:g} marks drift"
        )
        print(_table(table))
    for problem in serving.problems:
        print(f"monitor: warning: {problem}")
    return 0
