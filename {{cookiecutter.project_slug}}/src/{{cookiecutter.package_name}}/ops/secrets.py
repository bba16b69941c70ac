"""Store HOPSWORKS_API_KEY (and HOPSWORKS_PROJECT, HOPSWORKS_HOST) in Modal, GitHub and the Hugging Face
Space, each independently; the key goes on stdin or in a request body, never in arguments, output or files."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import subprocess
import sys

from .. import PROGRAM
from ..settings import Settings
from .redaction import redact
from .space import hopsworks_settings, set_space_settings

MODAL_SECRET = "hopsworks"  # noqa: S105 - the secret's name, not a value
SCHEDULER_TARGET = {"modal": "modal", "github-actions": "github"}["{{ cookiecutter.scheduler }}"]
GH_TIMEOUT_S = 120


class TargetError(Exception):
    """One target could not be updated; the message says why and is safe to print."""


def to_modal(key: str, variables: dict[str, str], args: argparse.Namespace) -> str:
    """Create the Modal secret, or update its keys when it exists; return what was stored."""
    try:
        import modal
    except ImportError as exc:
        raise TargetError("the modal SDK is not installed (pip install -e '.[modal]')") from exc
    env = {"HOPSWORKS_API_KEY": key, **variables}
    if args.dry_run:
        return f"would create or update the Modal secret {MODAL_SECRET!r} with {', '.join(env)}"
    try:
        # create() leaves an existing secret as it is; update() then sets every key we hold.
        modal.Secret.objects.create(MODAL_SECRET, env, allow_existing=True)
        modal.Secret.from_name(MODAL_SECRET).update(env)
    except modal.exception.AuthError as exc:
        raise TargetError(f"not logged in to Modal (run: modal token new): {exc}") from exc
    return f"Modal secret {MODAL_SECRET!r} holds {', '.join(env)}"


def _gh(gh: str, key: str, args: list[str], stdin: str, if_missing: list[str] | None = None) -> None:
    """Run ``gh ARGS`` (then ``gh IF_MISSING`` when GitHub answers 404); raise its message, key masked."""
    for argv in (args, if_missing):
        # gh is the executable found on PATH and argv holds fixed words of ours: no user input.
        proc = subprocess.run(  # noqa: S603
            [gh, *argv], input=stdin, text=True, capture_output=True, check=False, timeout=GH_TIMEOUT_S
        )
        if proc.returncode == 0 or if_missing is None or "HTTP 404" not in proc.stderr:
            break
    if proc.returncode != 0:
        message = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip())[:400]
        message = redact(message or "(no message)", [key])
        raise TargetError(f"'gh {' '.join(args[:3])}' exited {proc.returncode}: {message}")


def to_github(key: str, variables: dict[str, str], args: argparse.Namespace) -> str:
    """Set the repository secret and variables with gh; return what was stored."""
    gh = shutil.which("gh")
    if gh is None:
        raise TargetError("the gh CLI is not installed (https://cli.github.com), then: gh auth login")
    repo = args.repo
    stored = "secret HOPSWORKS_API_KEY" + "".join(f", variable {name}" for name in variables)
    where = repo or "the current repository"
    if args.dry_run:
        return f"would set in {where}: {stored} (values on stdin)"
    _gh(gh, key, ["secret", "set", "HOPSWORKS_API_KEY", *(["--repo", repo] if repo else [])], key)
    # Variables through `gh api`: `gh variable` is missing before gh 2.31 (Debian 12 ships 2.23).
    base = f"repos/{repo or '{owner}/{repo}'}/actions/variables"
    for name, value in variables.items():
        update = ["api", "--method", "PATCH", f"{base}/{name}", "--input", "-"]
        create = ["api", "--method", "POST", base, "--input", "-"]
        _gh(gh, key, update, json.dumps({"name": name, "value": value}), if_missing=create)
    return f"{where}: {stored}"


def to_space(key: str, variables: dict[str, str], args: argparse.Namespace) -> str:
    """Set the Space secret and variables (the backend too) with huggingface_hub."""
    space = args.space
    if not space:
        raise TargetError("no Space given (--space USER/NAME or HF_SPACE)")
    variables = {"STORE_BACKEND": "hopsworks", **variables}
    if args.dry_run:
        return f"would set in Space {space}: secret HOPSWORKS_API_KEY, variables {', '.join(variables)}"
    return f"Space {space}: " + "; ".join(set_space_settings(space, {"HOPSWORKS_API_KEY": key}, variables))


def main(argv: list[str] | None = None) -> int:
    """Store the settings in every requested target; print one line each; 1 if any failed."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} secrets", description=__doc__)
    where = "where to store them (repeatable; default: this project's scheduler, and the Space if given)"
    parser.add_argument("--target", action="append", choices=("modal", "github", "space"), help=where)
    parser.add_argument("--repo", help="GitHub repository OWNER/NAME (default: the current one)")
    parser.add_argument("--space", default=os.environ.get("HF_SPACE") or None, help="Space USER/NAME")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, store nothing")
    args = parser.parse_args(argv)
    key, variables = hopsworks_settings(Settings())
    if not key and not sys.stdin.isatty():
        raise RuntimeError("HOPSWORKS_API_KEY is not set and there is no terminal to ask for it")
    key = key or getpass.getpass("HOPSWORKS_API_KEY (not shown): ").strip()
    if not key:
        raise RuntimeError("no key given")
    targets = {"modal": to_modal, "github": to_github, "space": to_space}
    failed = False
    for target in dict.fromkeys(args.target or [SCHEDULER_TARGET, *(["space"] if args.space else [])]):
        try:
            line = targets[target](key, variables, args)
        except Exception as exc:  # any failure of one target must not stop the others
            message = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            line = f"FAILED: {redact(message, [key])}"
            failed = True
        print(f"{target}: {line}")
    return 1 if failed else 0
