"""``secrets``: put HOPSWORKS_API_KEY where the scheduled runs and the UI need it.

Stores the key in Modal (secret ``hopsworks``), in GitHub Actions (repository secret) and in
the HuggingFace Space (Space secret), each only when its tool is installed and logged in.
The key travels on standard input or through an API call: it is never an argument of a
command (process lists show those), never printed and never written to a file.
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
from dataclasses import dataclass
from pathlib import Path

MODAL_SECRET = "hopsworks"  # noqa: S105 - the secret's name, not a value


@dataclass
class Step:
    """One place to store the key: a command fed on stdin, or a Python call."""

    target: str
    argv: list[str] | None = None
    stdin: str | None = None
    call: Callable[[], None] | None = None
    skipped: str | None = None

    def describe(self) -> str:
        """Return a line safe to print: the command or call, never the key."""
        if self.skipped:
            return f"{self.target}: skipped ({self.skipped})"
        if self.argv is not None:
            return f"{self.target}: {' '.join(self.argv)}  (key on stdin)"
        return f"{self.target}: API call (key in the request body)"


def _logged_in(argv: list[str]) -> bool:
    try:
        # argv is one of our fixed login checks (gh auth status), never user input.
        return subprocess.run(argv, capture_output=True, check=False, timeout=30).returncode == 0  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return False


def modal_step(values: dict[str, str], which: Callable[[str], str | None] = shutil.which) -> Step:
    """Return the Modal step: ``modal secret create hopsworks --from-json /dev/stdin --force``."""
    if which("modal") is None:
        return Step("modal", skipped="the modal CLI is not installed (pip install -e '.[modal]')")
    logged_in = bool(os.environ.get("MODAL_TOKEN_ID")) or (Path.home() / ".modal.toml").exists()
    if not logged_in:
        return Step("modal", skipped="not logged in (run: modal token new)")
    argv = ["modal", "secret", "create", MODAL_SECRET, "--from-json", "/dev/stdin", "--force"]
    return Step("modal", argv=argv, stdin=json.dumps(values))


def github_step(
    key: str,
    repo: str | None,
    which: Callable[[str], str | None] = shutil.which,
    logged_in: Callable = _logged_in,
) -> Step:
    """Return the GitHub step: ``gh secret set HOPSWORKS_API_KEY`` reading the value from stdin."""
    if which("gh") is None:
        return Step("github", skipped="the gh CLI is not installed")
    if not logged_in(["gh", "auth", "status"]):
        return Step("github", skipped="not logged in (run: gh auth login)")
    argv = ["gh", "secret", "set", "HOPSWORKS_API_KEY", *(["--repo", repo] if repo else [])]
    return Step("github", argv=argv, stdin=key)


def space_step(key: str, space: str | None) -> Step:
    """Return the HuggingFace step: a Space secret and the STORE_BACKEND variable, via huggingface_hub."""
    if not space:
        return Step("huggingface", skipped="no Space given (--space USER/NAME or HF_SPACE)")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        return Step("huggingface", skipped="huggingface_hub is not installed")
    api = HfApi()

    def store() -> None:
        api.add_space_secret(space, "HOPSWORKS_API_KEY", key)
        api.add_space_variable(space, "STORE_BACKEND", "hopsworks")

    return Step("huggingface", call=store)


def plan(key: str, project: str | None, repo: str | None, space: str | None) -> list[Step]:
    """Return every step, available or skipped, in order."""
    values = {"HOPSWORKS_API_KEY": key, **({"HOPSWORKS_PROJECT": project} if project else {})}
    return [modal_step(values), github_step(key, repo), space_step(key, space)]


def run_steps(steps: list[Step], dry_run: bool = False, runner: Callable = subprocess.run) -> list[str]:
    """Carry out the steps (or only describe them); return one safe line per step."""
    lines = []
    for step in steps:
        lines.append(step.describe())
        if dry_run or step.skipped:
            continue
        if step.argv is not None:
            result = runner(step.argv, input=step.stdin, text=True, capture_output=True, check=False)
            if result.returncode != 0:
                # The tools' own messages are not shown: they could echo what they were given.
                raise RuntimeError(
                    f"{step.target}: '{' '.join(step.argv)}' failed with status {result.returncode}"
                )
        elif step.call is not None:
            step.call()
        lines[-1] = f"{step.target}: stored"
    return lines


def read_key(environ: dict[str, str] | None = None, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """Return HOPSWORKS_API_KEY from the environment, or ask for it when a terminal is attached."""
    environ = dict(os.environ) if environ is None else environ
    key = environ.get("HOPSWORKS_API_KEY", "").strip()
    if key:
        return key
    if not sys.stdin.isatty():
        raise RuntimeError("HOPSWORKS_API_KEY is not set and there is no terminal to ask for it")
    key = prompt("HOPSWORKS_API_KEY (not shown): ").strip()
    if not key:
        raise RuntimeError("no key given")
    return key


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the secrets command."""
    parser = argparse.ArgumentParser(
        prog="secrets", description="Store HOPSWORKS_API_KEY in Modal, GitHub and the HuggingFace Space."
    )
    parser.add_argument("--repo", help="GitHub repository OWNER/NAME (default: the current one)")
    parser.add_argument("--space", default=os.environ.get("HF_SPACE"), help="HuggingFace Space USER/NAME")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, store nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Store the key everywhere available and print one line per target."""
    args = build_parser().parse_args(argv)
    key = read_key()
    steps = plan(key, os.environ.get("HOPSWORKS_PROJECT"), args.repo, args.space)
    for line in run_steps(steps, dry_run=args.dry_run):
        print(line)
    return 0
