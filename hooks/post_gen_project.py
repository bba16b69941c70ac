"""Finish the generated project: drop the files the answers rule out, record the answers.

1. ``PRUNE`` is the one table of files that exist only for some answers. Every path it
   lists for the chosen answers must have been generated: a path that is not there is an
   error (exit 1, naming the path), so the table cannot silently rot as files move.
2. Tool caches copied from a developer's working tree (``__pycache__``, ``.ruff_cache``,
   ...) are removed: they are never part of the template.
3. The answers are written to ``.cookiecutter.json`` (sorted keys, indent 2) so that
   cruft / ``cookiecutter --replay-file`` can re-apply template updates later.

Runs with the generated project as working directory. Standard library only.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

# Cookiecutter renders this file with Jinja before it runs it. The assignment below holds
# the only template expression, inside a raw string, so the unrendered file is still valid
# Python that tests import with importlib. Only main() parses it (JSON once rendered).
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

# {% raw %} Everything from here to the end is copied verbatim.

# (answer field, answer value) -> paths, relative to the project root, deleted when the
# answer has that value. Every choice of a listed field needs an entry, even an empty one.
PRUNE: dict[tuple[str, str], list[str]] = {
    ("scheduler", "modal"): [".github/workflows/pipelines.yml", "docs/scheduling-github-actions.md"],
    ("scheduler", "github-actions"): ["deploy.py", "tests/test_deploy.py", "docs/scheduling-modal.md"],
}

TOOL_CACHES = ("__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis")
RECORD_FILE = ".cookiecutter.json"


class PruneError(Exception):
    """The prune table does not match the generated project or the answers."""


def paths_to_prune(answers: Mapping[str, object]) -> list[str]:
    """Return the PRUNE paths selected by the answers; fail if a value has no entry."""
    selected: list[str] = []
    for field in sorted({field for field, _ in PRUNE}):
        value = answers.get(field)
        if (field, value) not in PRUNE:
            raise PruneError(f"{field}: no PRUNE entry for {value!r} in hooks/post_gen_project.py")
        selected.extend(PRUNE[(field, value)])
    return selected


def _check_relative(path: str) -> None:
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or "\\" in path or ".." in parts:
        raise PruneError(f"{path}: PRUNE paths must be relative to the project root, without '..'")


def _remove_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and root in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def prune(project_dir: Path, answers: Mapping[str, object]) -> list[str]:
    """Delete the files the answers rule out, then any directories left empty.

    Checks every selected path before deleting anything, so a broken table leaves the
    project untouched. Returns the deleted paths.
    """
    project_dir = project_dir.resolve()
    selected = paths_to_prune(answers)
    for path in selected:
        _check_relative(path)
    missing = [path for path in selected if not (project_dir / path).exists()]
    if missing:
        raise PruneError(
            f"{', '.join(missing)}: listed in PRUNE (hooks/post_gen_project.py) but not generated; "
            "update the table when moving or removing template files"
        )
    for path in selected:
        target = project_dir / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
        _remove_empty_parents(target, project_dir)
    return selected


def remove_tool_caches(project_dir: Path) -> None:
    """Delete cache directories that a developer's tools left in the template tree."""
    for name in TOOL_CACHES:
        for cache in sorted(project_dir.rglob(name), reverse=True):
            if cache.is_dir() and not cache.is_symlink():
                shutil.rmtree(cache)


def record(answers: Mapping[str, object]) -> dict[str, object]:
    """Return the answers worth keeping: public keys, plus `_template` (where it came from)."""
    kept = {key: value for key, value in answers.items() if not key.startswith("_")}
    if "_template" in answers:
        kept["_template"] = answers["_template"]
    return kept


def write_record(project_dir: Path, answers: Mapping[str, object]) -> Path:
    path = project_dir / RECORD_FILE
    text = json.dumps(record(answers), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> None:
    answers = json.loads(ANSWERS_JSON)
    project_dir = Path.cwd()
    try:
        prune(project_dir, answers)
    except PruneError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(1)
    remove_tool_caches(project_dir)
    write_record(project_dir, answers)


if __name__ == "__main__":
    main()

# {% endraw %}
