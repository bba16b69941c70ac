"""The project's command line: one console script, one subcommand per pipeline or task."""

from __future__ import annotations

import sys
from collections.abc import Callable

from . import PROGRAM
from .lifecycle import commands
from .ops import forget, freshness, redaction, secrets, space
from .pipelines import feature, inference, training

# name -> (the function it runs with the rest of argv, one line of help)
COMMANDS: dict[str, tuple[Callable[[list[str]], int | None], str]] = {
    "feature": (feature.main, "fetch data, compute features, upsert feature groups"),
    "training": (training.main, "train and register a model"),
    "inference": (inference.main, "forecast with the registered model and store predictions"),
    "promote": (commands.promote_main, "the green button: make a model version (or the shadow) production"),
    "rollback": (commands.rollback_main, "the red button: make the previous production version production"),
    "models": (commands.models_main, "list model versions, aliases and their history"),
    "runs": (commands.runs_main, "compare training runs: data versions, parameters, metrics, gate"),
    "monitor": (commands.monitor_main, "hindcast accuracy per model version and feature drift (PSI)"),
    "check": (freshness.main, "fail when observations, predictions or the model are older than allowed"),
    "secrets": (secrets.main, "store the Hopsworks key, project and host for the schedule and the Space"),
    "space": (space.main, "publish the UI as a HuggingFace Space (dry run; --push to publish)"),
    "forget": (forget.main, "delete a location everywhere it is stored (--purge-history: also from history)"),
}


def usage() -> str:
    """Return the help text listing every subcommand."""
    lines = [f"usage: {PROGRAM} COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<12}{help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join([*lines, "", f"Run '{PROGRAM} COMMAND --help' for a command's options."])


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand's ``main()``; errors print one clear line and exit 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"{PROGRAM}: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    redaction.install()  # no secret reaches a log line, whichever library logs it
    try:
        return int(COMMANDS[command][0](rest) or 0)
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        print(f"{PROGRAM} {command}: error: {redaction.redact(str(exc))}", file=sys.stderr)
        return 1
