"""The project's command line: one console script, one subcommand per pipeline or task."""

from __future__ import annotations

import importlib
import sys

from . import redact

COMMANDS = {
    "feature": ("pipelines.feature", "fetch data, compute features, upsert feature groups"),
    "training": ("pipelines.training", "train and register a model"),
    "inference": ("pipelines.inference", "forecast with the registered model and store predictions"),
    "promote": (
        "model_commands:promote_main",
        "the green button: make a model version (or the shadow) production",
    ),
    "rollback": (
        "model_commands:rollback_main",
        "the red button: make the previous production version production",
    ),
    "models": ("model_commands:models_main", "list model versions, aliases and their history"),
    "runs": ("model_commands:runs_main", "compare training runs: data versions, parameters, metrics, gate"),
    "monitor": ("model_commands:monitor_main", "hindcast accuracy per model version and feature drift (PSI)"),
    "check": ("check", "fail when observations, predictions or the model are older than the schedule allows"),
    "secrets": ("deploy_secrets", "store HOPSWORKS_API_KEY in Modal, GitHub and the HuggingFace Space"),
    "forget": ("forget", "delete a location everywhere it is stored (--purge-history: also from history)"),
}


def usage(prog: str) -> str:
    """Return the help text listing every subcommand."""
    lines = [f"usage: {prog} COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<12}{help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", f"Run '{prog} COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand's ``main()``; errors print one clear line and exit 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "{{ cookiecutter.project_slug }}"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(prog))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"{prog}: unknown command {command!r}\n\n{usage(prog)}", file=sys.stderr)
        return 2
    module_name, _, function = COMMANDS[command][0].partition(":")  # "module" or "module:function"
    module = importlib.import_module(f"{__package__}.{module_name}")
    redact.install()  # no secret reaches a log line, whichever library logs it
    try:
        return int(getattr(module, function or "main")(rest) or 0)
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        print(f"{prog} {command}: error: {redact.redact(str(exc))}", file=sys.stderr)
        return 1
