"""Publish the UI as a Hugging Face Space: this package and local_hopsworks at its top level, a demo on the
embedded store without HOPSWORKS_API_KEY. A dry run: nothing is sent without --push."""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import PROGRAM
from ..settings import Settings

PACKAGE = __name__.split(".")[0]
TWIN = "local_hopsworks"
COMMIT = f"Publish {PACKAGE} with the `space` command"
TOP_FILES = ("app.py", "README.md", "requirements.txt")
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
GRADIO_PIN = re.compile(r"^[ \t]*gradio(\[[^\]]*\])?[ \t]*==[ \t]*([\w.]+)[ \t]*(#.*)?$", re.MULTILINE)


def pinned_gradio(requirements: str) -> str:
    """Return the gradio version requirements.txt pins: the Space's ``sdk_version``."""
    found = GRADIO_PIN.search(requirements)
    if found is None:
        raise ValueError("requirements.txt pins no gradio==X.Y.Z: the Space's sdk_version is taken from it")
    return found.group(2)


def space_readme(readme: str, sdk_version: str) -> str:
    """Return the README with the Space front matter set: sdk gradio, ``sdk_version``, app_file app.py."""
    lines = readme.splitlines()
    meta: list[str] = []
    if lines and lines[0] == "---" and "---" in lines[1:]:
        end = lines.index("---", 1)
        meta, lines = lines[1:end], lines[end + 1 :]
    wanted = {"sdk": "gradio", "sdk_version": f'"{sdk_version}"', "app_file": "app.py"}
    kept = [line for line in meta if line.split(":", 1)[0].strip() not in wanted]
    head = [f"{key}: {value}" for key, value in wanted.items()]
    return "\n".join(["---", *kept, *head, "---", *lines]) + "\n"


def lay_out(root: Path, dest: Path) -> list[str]:
    """Write the Space folder ``dest`` from the project ``root``; return its files, relative and sorted."""
    folders = {PACKAGE: root / "src" / PACKAGE, TWIN: root / "local-hopsworks" / "src" / TWIN}
    needed = [*(root / name for name in TOP_FILES), *folders.values()]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        raise FileNotFoundError(
            f"{root} is not the project's root (run from the folder with app.py, or pass --root): "
            f"missing {', '.join(missing)}"
        )
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty: the Space folder is written to a new or empty folder")
    dest.mkdir(parents=True, exist_ok=True)
    requirements = (root / "requirements.txt").read_text(encoding="utf-8")
    readme = space_readme((root / "README.md").read_text(encoding="utf-8"), pinned_gradio(requirements))
    (dest / "README.md").write_text(readme, encoding="utf-8")
    for name in ("requirements.txt", "app.py"):
        shutil.copy2(root / name, dest / name)
    for name, folder in folders.items():
        shutil.copytree(folder, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return sorted(path.relative_to(dest).as_posix() for path in dest.rglob("*") if path.is_file())


def hopsworks_settings(settings: Settings) -> tuple[str, dict[str, str]]:
    """Return the Hopsworks API key ('' when unset) and HOPSWORKS_PROJECT, HOPSWORKS_HOST when set."""
    key = settings.hopsworks_api_key.get_secret_value().strip() if settings.hopsworks_api_key else ""
    pairs = {"HOPSWORKS_PROJECT": settings.hopsworks_project, "HOPSWORKS_HOST": settings.hopsworks_host}
    return key, {name: value.strip() for name, value in pairs.items() if value and value.strip()}


def set_space_settings(
    repo_id: str, secrets: dict[str, str], variables: dict[str, str], api: Any = None
) -> list[str]:
    """Upsert the Space's secrets and variables; return a line each, never a value (RuntimeError: refused)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = api or HfApi()
    calls = [("secret", key, value, api.add_space_secret) for key, value in secrets.items()]
    calls += [("variable", key, value, api.add_space_variable) for key, value in variables.items()]
    lines = []
    for kind, key, value, call in calls:
        try:
            call(repo_id, key, value)
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "no answer"
            raise RuntimeError(f"Space {repo_id}: setting {kind} {key} failed (HTTP {status})") from None
        lines.append(f"{kind} {key}: set" if kind == "secret" else f"{kind} {key}={value}: set")
    return lines


def push(repo_id: str, folder: Path, secrets: dict[str, str], variables: dict[str, str]) -> list[str]:
    """Create the Space if needed, set its secrets and variables, then upload ``folder`` in one commit."""
    from huggingface_hub import HfApi, get_token

    if not get_token():
        raise RuntimeError("no Hugging Face token: run `hf auth login` or set HF_TOKEN in the environment")
    api = HfApi()
    url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True)
    # Settings first: the build the upload starts then sees them (a later change restarts the Space).
    lines = [f"Space {repo_id}: ready ({url})", *set_space_settings(repo_id, secrets, variables, api)]
    removed = [f"{PACKAGE}/**", f"{TWIN}/**"]  # modules removed from the project leave the Space too
    commit = api.upload_folder(
        repo_id=repo_id, repo_type="space", folder_path=folder, commit_message=COMMIT, delete_patterns=removed
    )
    lines.append(f"uploaded {sum(1 for p in folder.rglob('*') if p.is_file())} files: {commit.commit_url}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Lay out the Space folder, print the files and settings, and with --push publish it."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} space", description=__doc__)
    parser.add_argument("space", help="the Space, USER/NAME (created if it does not exist)")
    parser.add_argument("--push", action="store_true", help="create or update the Space (default: dry run)")
    parser.add_argument("--root", type=Path, default=None, help="the project's root (default: this folder)")
    parser.add_argument("--out", type=Path, help="write the Space folder here and keep it (new or empty)")
    args = parser.parse_args(argv)
    if not REPO_ID.fullmatch(args.space):
        raise ValueError(f"Space {args.space!r} is not USER/NAME")
    key, variables = hopsworks_settings(Settings())
    secrets = {"HOPSWORKS_API_KEY": key} if key else {}
    variables = {"STORE_BACKEND": "hopsworks" if key else "local", **variables}
    with tempfile.TemporaryDirectory(prefix="space-") as scratch:
        folder = args.out if args.out is not None else Path(scratch) / "space"
        files = lay_out((args.root or Path.cwd()).resolve(), folder)
        print(f"Space {args.space}: {len(files)} files", *(f"  {name}" for name in files), sep="\n")
        demo = "not set here, so the Space is a demo on the embedded store"
        print("secret HOPSWORKS_API_KEY:", "from the environment (value not shown)" if key else demo)
        print(*(f"variable {name}={value}" for name, value in variables.items()), sep="\n")
        if not args.push:
            kept = f"; the folder is {folder}" if args.out is not None else ""
            print(f"dry run: nothing sent{kept}. Run again with --push to publish.")
            return 0
        print(*push(args.space, folder, secrets, variables), sep="\n")
    return 0
