"""``secrets``: put the Hopsworks settings where the scheduled runs and the UI read them.

Three targets, each independent: a failing one is reported and the others are still done,
and the exit status is 0 only when every requested target succeeded.

- ``modal``: the Modal secret ``hopsworks`` (HOPSWORKS_API_KEY, plus HOPSWORKS_PROJECT and
  HOPSWORKS_HOST when set), created or updated with Modal's Python SDK. deploy.py attaches it
  to every function, so each setting reaches the containers.
- ``github``: the repository secret HOPSWORKS_API_KEY (``gh secret set``, value on stdin) and
  the repository variables HOPSWORKS_PROJECT and HOPSWORKS_HOST (``gh api``, JSON on stdin),
  which pipelines.yml reads as ``vars.*``. ``gh api`` because ``gh variable`` is missing from
  gh before 2.31 (Debian 12 ships 2.23).
- ``space``: the Space secret and variables, through huggingface_hub.

Without ``--target`` the targets are this project's scheduler and, with ``--space``, the Space.
The key travels on standard input or in an API request body: never as a command argument
(process lists show those), never printed, never in a file.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import PROGRAM
from ..settings import Settings
from .redaction import redact
from .space import hopsworks_settings, set_space_settings

MODAL_SECRET = "hopsworks"  # noqa: S105 - the secret's name, not a value
SCHEDULER = "{{ cookiecutter.scheduler }}"  # where this project's pipelines run on a schedule
TARGETS = ("modal", "github", "space")
SCHEDULER_TARGET = {"modal": "modal", "github-actions": "github"}
GH_TIMEOUT_S = 120


class TargetError(Exception):
    """One target could not be updated; the message says why and is safe to print."""


@dataclass(frozen=True)
class Values:
    """What goes to each target: the key, and the settings that are not secret (project, host) when set."""

    key: str
    variables: dict[str, str] = field(default_factory=dict)

    def everything(self) -> dict[str, str]:
        """Return the key and the set variables, as one secret holds them."""
        return {"HOPSWORKS_API_KEY": self.key, **self.variables}


def to_modal(values: Values, dry_run: bool = False) -> str:
    """Create the Modal secret, or update its keys when it exists; return what was stored."""
    try:
        import modal
    except ImportError as exc:
        raise TargetError("the modal SDK is not installed (pip install -e '.[modal]')") from exc
    env = values.everything()
    names = ", ".join(env)
    if dry_run:
        return f"would create or update the Modal secret {MODAL_SECRET!r} with {names}"
    try:
        # create() leaves an existing secret as it is; update() then sets every key we hold.
        modal.Secret.objects.create(MODAL_SECRET, env, allow_existing=True)
        modal.Secret.from_name(MODAL_SECRET).update(env)
    except modal.exception.AuthError as exc:
        raise TargetError(f"not logged in to Modal (run: modal token new): {exc}") from exc
    return f"Modal secret {MODAL_SECRET!r} holds {names}"


def _gh(gh: str, args: list[str], stdin: str) -> subprocess.CompletedProcess:
    # gh is the executable found on PATH and args are fixed words of ours: no user input.
    return subprocess.run(  # noqa: S603
        [gh, *args], input=stdin, text=True, capture_output=True, check=False, timeout=GH_TIMEOUT_S
    )


def _gh_failure(args: list[str], proc: subprocess.CompletedProcess, secret: str) -> TargetError:
    """Return the error for a failed gh call: its own message, on one line, with the key masked."""
    message = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip())[:400]
    message = redact(message or "(no message)", [secret])
    return TargetError(f"'gh {' '.join(args[:3])}' exited {proc.returncode}: {message}")


def _set_variable(gh: str, repo: str | None, name: str, value: str, secret: str) -> None:
    """Update a repository variable, or create it when GitHub has none of that name."""
    base = f"repos/{repo or '{owner}/{repo}'}/actions/variables"
    body = json.dumps({"name": name, "value": value})
    update = ["api", "--method", "PATCH", f"{base}/{name}", "--input", "-"]
    proc = _gh(gh, update, body)
    if proc.returncode != 0 and "HTTP 404" in proc.stderr:
        create = ["api", "--method", "POST", base, "--input", "-"]
        proc = _gh(gh, create, body)
    if proc.returncode != 0:
        raise _gh_failure(update, proc, secret)


def to_github(values: Values, repo: str | None = None, dry_run: bool = False) -> str:
    """Set the repository secret and variables with the gh CLI; return what was stored."""
    gh = shutil.which("gh")
    if gh is None:
        raise TargetError("the gh CLI is not installed (https://cli.github.com), then: gh auth login")
    variables = values.variables
    stored = "secret HOPSWORKS_API_KEY" + "".join(f", variable {name}" for name in variables)
    where = repo or "the current repository"
    if dry_run:
        return f"would set in {where}: {stored} (values on stdin)"
    args = ["secret", "set", "HOPSWORKS_API_KEY", *(["--repo", repo] if repo else [])]
    proc = _gh(gh, args, values.key)
    if proc.returncode != 0:
        raise _gh_failure(args, proc, values.key)
    for name, value in variables.items():
        _set_variable(gh, repo, name, value, values.key)
    return f"{where}: {stored}"


def to_space(values: Values, space: str | None, dry_run: bool = False) -> str:
    """Set the Space secret and variables (the backend too) with huggingface_hub (ops/space.py)."""
    if not space:
        raise TargetError("no Space given (--space USER/NAME or HF_SPACE)")
    variables = {"STORE_BACKEND": "hopsworks", **values.variables}
    if dry_run:
        return f"would set in Space {space}: secret HOPSWORKS_API_KEY, variables {', '.join(variables)}"
    lines = set_space_settings(space, {"HOPSWORKS_API_KEY": values.key}, variables)
    return f"Space {space}: " + "; ".join(lines)


def run_targets(
    targets: list[str], values: Values, repo: str | None, space: str | None, dry_run: bool = False
) -> list[tuple[str, bool, str]]:
    """Update each target in turn; return (target, succeeded, line safe to print) for each."""
    actions: dict[str, Callable[[], str]] = {
        "modal": lambda: to_modal(values, dry_run),
        "github": lambda: to_github(values, repo, dry_run),
        "space": lambda: to_space(values, space, dry_run),
    }
    outcomes = []
    for target in targets:
        try:
            outcomes.append((target, True, actions[target]()))
        except Exception as exc:  # any failure of one target must not stop the others
            message = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            outcomes.append((target, False, f"FAILED: {redact(message, [values.key])}"))
    return outcomes


def read_values(prompt: Callable[[str], str] = getpass.getpass) -> Values:
    """Return the key (asked for on a terminal when unset), project and host from the settings."""
    key, variables = hopsworks_settings(Settings())
    if not key:
        if not sys.stdin.isatty():
            raise RuntimeError("HOPSWORKS_API_KEY is not set and there is no terminal to ask for it")
        key = prompt("HOPSWORKS_API_KEY (not shown): ").strip()
    if not key:
        raise RuntimeError("no key given")
    return Values(key, variables)


def default_targets(space: str | None) -> list[str]:
    """Return this project's scheduler, and the Space when one is named."""
    return [SCHEDULER_TARGET[SCHEDULER], *(["space"] if space else [])]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the secrets command."""
    parser = argparse.ArgumentParser(
        prog=f"{PROGRAM} secrets",
        description="Store HOPSWORKS_API_KEY (and HOPSWORKS_PROJECT, HOPSWORKS_HOST) in Modal, GitHub "
        "and the HuggingFace Space.",
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=TARGETS,
        help="where to store them (repeatable; default: this project's scheduler, and the Space if given)",
    )
    parser.add_argument("--repo", help="GitHub repository OWNER/NAME (default: the current one)")
    parser.add_argument("--space", default=os.environ.get("HF_SPACE") or None, help="Space USER/NAME")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, store nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Store the settings in every requested target; print one line each; 1 if any failed."""
    args = build_parser().parse_args(argv)
    values = read_values()
    targets = list(dict.fromkeys(args.target or default_targets(args.space)))
    outcomes = run_targets(targets, values, args.repo, args.space, dry_run=args.dry_run)
    for target, _, line in outcomes:
        print(f"{target}: {line}")
    return 0 if all(ok for _, ok, _ in outcomes) else 1
