"""The project's command line: one console script, one subcommand per pipeline or task."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "feature": ("pipelines.feature", "fetch data, compute features, upsert feature groups"),
    "training": ("pipelines.training", "train and register a model"),
    "inference": ("pipelines.inference", "forecast with the registered model and store predictions"),
    "check": ("check", "fail when observations, predictions or the model are older than the schedule allows"),
    "secrets": ("deploy_secrets", "store HOPSWORKS_API_KEY in Modal, GitHub and the HuggingFace Space"),
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
    module = importlib.import_module(f"{__package__}.{COMMANDS[command][0]}")
    try:
        return int(module.main(rest) or 0)
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        print(f"{prog} {command}: error: {exc}", file=sys.stderr)
        return 1
