"""Bake the template for every scheduler and a custom name; check what comes out.

Each variant is baked once per module (pytest-cookies) and then checked: the exact file
set, no Jinja left over, the recorded answers, ruff on the baked project with its own
config, and the baked project's own test suite (select it with
``-k baked_project_test_suite``, or leave it out with ``-k 'not baked_project_test_suite'``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO / "{{cookiecutter.project_slug}}"
TEMPLATE_JSON = json.loads((REPO / "cookiecutter.json").read_text(encoding="utf-8"))
SCHEDULERS: list[str] = TEMPLATE_JSON["scheduler"]

# Every file a bake generates, relative to the project root; "{package}" stands for the
# package name. Keep these in sync with the template: when test_generated_files fails it
# prints the lines to add or remove, ready to paste.
BASE_FILES = {
    ".cookiecutter.json",
    ".env.example",
    ".github/workflows/ci.yml",
    ".gitignore",
    "README.md",
    "app.py",
    "docs/architecture.md",
    "docs/design-decisions.md",
    "docs/reliability.md",
    "local-hopsworks/README.md",
    "local-hopsworks/benchmarks/bench_store.py",
    "local-hopsworks/docs/benchmarks.md",
    "local-hopsworks/docs/store.md",
    "local-hopsworks/pyproject.toml",
    "local-hopsworks/src/local_hopsworks/__init__.py",
    "local-hopsworks/src/local_hopsworks/erasure.py",
    "local-hopsworks/src/local_hopsworks/expectations.py",
    "local-hopsworks/src/local_hopsworks/feature_group.py",
    "local-hopsworks/src/local_hopsworks/feature_store.py",
    "local-hopsworks/src/local_hopsworks/feature_view.py",
    "local-hopsworks/src/local_hopsworks/health.py",
    "local-hopsworks/src/local_hopsworks/locks.py",
    "local-hopsworks/src/local_hopsworks/maintenance.py",
    "local-hopsworks/src/local_hopsworks/offline.py",
    "local-hopsworks/src/local_hopsworks/online.py",
    "local-hopsworks/src/local_hopsworks/query.py",
    "local-hopsworks/src/local_hopsworks/registry.py",
    "local-hopsworks/src/local_hopsworks/row_order.py",
    "local-hopsworks/src/local_hopsworks/schema.py",
    "local-hopsworks/src/local_hopsworks/sdk_names.py",
    "local-hopsworks/src/local_hopsworks/timeutil.py",
    "local-hopsworks/src/local_hopsworks/transformations.py",
    "local-hopsworks/src/local_hopsworks/validation.py",
    "local-hopsworks/tests/conftest.py",
    "local-hopsworks/tests/test_concurrency.py",
    "local-hopsworks/tests/test_damaged_files.py",
    "local-hopsworks/tests/test_erasure.py",
    "local-hopsworks/tests/test_feature_store.py",
    "local-hopsworks/tests/test_parity.py",
    "local-hopsworks/tests/test_read_order.py",
    "local-hopsworks/tests/test_sdk_semantics.py",
    "local-hopsworks/tests/test_store_properties.py",
    "local-hopsworks/tests/test_string_filters.py",
    "local-hopsworks/tests/test_transformations.py",
    "pyproject.toml",
    "requirements.txt",
    "src/{package}/__init__.py",
    "src/{package}/__main__.py",
    "src/{package}/catalog.py",
    "src/{package}/cli.py",
    "src/{package}/features/__init__.py",
    "src/{package}/features/air_quality.py",
    "src/{package}/features/expectations.py",
    "src/{package}/features/weather.py",
    "src/{package}/lifecycle/__init__.py",
    "src/{package}/lifecycle/aliases.py",
    "src/{package}/lifecycle/commands.py",
    "src/{package}/lifecycle/gate.py",
    "src/{package}/lifecycle/monitoring.py",
    "src/{package}/lifecycle/registration.py",
    "src/{package}/model.py",
    "src/{package}/ops/__init__.py",
    "src/{package}/ops/forget.py",
    "src/{package}/ops/freshness.py",
    "src/{package}/ops/redaction.py",
    "src/{package}/ops/secrets.py",
    "src/{package}/ops/space.py",
    "src/{package}/pipelines/__init__.py",
    "src/{package}/pipelines/feature.py",
    "src/{package}/pipelines/inference.py",
    "src/{package}/pipelines/training.py",
    "src/{package}/settings.py",
    "src/{package}/sources/__init__.py",
    "src/{package}/sources/base.py",
    "src/{package}/sources/open_meteo.py",
    "src/{package}/sources/synthetic.py",
    "src/{package}/store/__init__.py",
    "src/{package}/store/protocols.py",
    "src/{package}/ui.py",
    "tests/conftest.py",
    "tests/hopsworks_sdk/conftest.py",
    "tests/hopsworks_sdk/fake_featurestore.py",
    "tests/hopsworks_sdk/fake_online.py",
    "tests/hopsworks_sdk/fake_query.py",
    "tests/hopsworks_sdk/fake_registry.py",
    "tests/hopsworks_sdk/fake_server.py",
    "tests/hopsworks_sdk/test_first_run.py",
    "tests/hopsworks_sdk/test_sdk_findings.py",
    "tests/hopsworks_sdk/test_sdk_parity.py",
    "tests/reliability/conftest.py",
    "tests/reliability/support.py",
    "tests/reliability/test_concurrent_runs.py",
    "tests/reliability/test_crash.py",
    "tests/reliability/test_damaged_models.py",
    "tests/reliability/test_disk_faults.py",
    "tests/reliability/test_forget.py",
    "tests/reliability/test_idempotence.py",
    "tests/reliability/test_model_lifecycle.py",
    "tests/reliability/test_model_mismatch.py",
    "tests/reliability/test_readers_writer.py",
    "tests/reliability/test_security.py",
    "tests/reliability/test_source_faults.py",
    "tests/reliability/test_store_damage.py",
    "tests/reliability/test_validation.py",
    "tests/loopback_services.py",
    "tests/test_aliases.py",
    "tests/test_app.py",
    "tests/test_browser.py",
    "tests/test_cli.py",
    "tests/test_conformance.py",
    "tests/test_contract.py",
    "tests/test_drift.py",
    "tests/test_features.py",
    "tests/test_gate_and_drift.py",
    "tests/test_model_upgrades.py",
    "tests/test_ops.py",
    "tests/test_packaging.py",
    "tests/test_pipelines.py",
    "tests/test_protocols.py",
    "tests/test_secrets.py",
    "tests/test_sources.py",
    "tests/test_space.py",
    "tests/test_twin_surface.py",
    "tests/test_workflows.py",
    "zizmor.yml",
}
# Files only some answers keep (the complement of PRUNE in hooks/post_gen_project.py).
OPTION_FILES = {
    "modal": {"deploy.py", "docs/scheduling-modal.md", "tests/test_deploy.py"},
    "github-actions": {".github/workflows/pipelines.yml", "docs/scheduling-github-actions.md"},
}
# Words the README and docs of a bake may not contain: the other scheduler's (case-insensitive).
OTHER_SCHEDULER_WORDS = {"modal": ["pipelines.yml", "github actions"], "github-actions": ["modal"]}

# Jinja left in the output. In GitHub workflows `${{ ... }}` is GitHub's own syntax.
LEFTOVER_RE = re.compile(r"\{\{|\{%|\{#")
LEFTOVER_IN_WORKFLOW_RE = re.compile(r"(?<!\$)\{\{|\{%|\{#")

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@dataclass(frozen=True)
class Variant:
    id: str
    extra_context: dict[str, str]
    slug: str
    package: str

    @property
    def chosen_scheduler(self) -> str:
        return self.extra_context.get("scheduler", SCHEDULERS[0])


VARIANTS = [
    *(
        Variant(f"scheduler={name}", {"scheduler": name}, "air-quality-forecast", "air_quality_forecast")
        for name in SCHEDULERS
    ),
    Variant(
        "custom-name",
        {"project_name": "Zürich Air", "location_name": "Zürich", "latitude": "47.37", "longitude": "8.54"},
        "zurich-air",
        "zurich_air",
    ),
]


@dataclass(frozen=True)
class Baked:
    variant: Variant
    path: Path
    files: frozenset[str] = field(repr=False)  # right after the bake, before any tool ran in it
    empty_dirs: frozenset[str] = field(repr=False)


@pytest.fixture(scope="module", params=VARIANTS, ids=[v.id for v in VARIANTS])
def baked(request: pytest.FixtureRequest, cookies_session) -> Baked:
    variant: Variant = request.param
    result = cookies_session.bake(extra_context=variant.extra_context, template=str(REPO))
    if result.exit_code != 0 or result.exception is not None:
        pytest.fail(
            f"bake {variant.id} failed: exit {result.exit_code}: {result.exception!r}"
            " (a hook's ERROR lines are in the captured stderr)"
        )
    path = result.project_path
    files = frozenset(
        p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() or p.is_symlink()
    )
    empty = frozenset(
        p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_dir() and not any(p.iterdir())
    )
    return Baked(variant, path, files, empty)


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> tuple[int, str]:
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def tail(text: str, lines: int = 150) -> str:
    return "\n".join(text.splitlines()[-lines:])


# ----------------------------------------------------------------------- the template


def test_every_scheduler_has_option_files() -> None:
    assert set(OPTION_FILES) == set(SCHEDULERS)


def test_prune_table_paths_exist_in_template() -> None:
    """Every path hooks/post_gen_project.py may delete is in the template tree."""
    spec = importlib.util.spec_from_file_location("post_gen_project", REPO / "hooks" / "post_gen_project.py")
    assert spec is not None and spec.loader is not None
    post = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(post)
    missing = sorted({p for paths in post.PRUNE.values() for p in paths if not (TEMPLATE_DIR / p).exists()})
    assert not missing, f"PRUNE lists paths the template lacks: {missing}"


# ---------------------------------------------------------------------- each bake


def test_bake_succeeds(baked: Baked) -> None:
    assert baked.path.name == baked.variant.slug
    assert baked.path.is_dir()


def test_generated_files(baked: Baked) -> None:
    package = baked.variant.package
    expected = {p.format(package=package) for p in BASE_FILES | OPTION_FILES[baked.variant.chosen_scheduler]}
    missing = sorted(expected - baked.files)
    unexpected = sorted(baked.files - expected)

    def as_literals(paths: list[str]) -> str:
        placeholder = "src/{package}/"
        return "\n".join(f'    "{p.replace(f"src/{package}/", placeholder)}",' for p in paths)

    assert not missing and not unexpected, (
        f"generated files != BASE_FILES | OPTION_FILES[{baked.variant.chosen_scheduler!r}]"
        " (tests/test_bake.py)\n"
        f"missing (listed, not generated; remove from the sets or fix the template/PRUNE):\n"
        f"{as_literals(missing) or '    (none)'}\n"
        f"unexpected (generated, not listed; add to BASE_FILES or OPTION_FILES):\n"
        f"{as_literals(unexpected) or '    (none)'}"
    )


def test_no_empty_directories(baked: Baked) -> None:
    assert not baked.empty_dirs, f"empty directories in the baked project: {sorted(baked.empty_dirs)}"


def test_no_template_syntax_left(baked: Baked) -> None:
    leftovers = []
    for rel in sorted(baked.files):
        if LEFTOVER_RE.search(rel):
            leftovers.append(f"{rel}: in the path")
        try:
            text = (baked.path / rel).read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            continue  # binary files are copied, not rendered
        pattern = LEFTOVER_IN_WORKFLOW_RE if rel.startswith(".github/") else LEFTOVER_RE
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                leftovers.append(f"{rel}:{number}: {line.strip()}")
    assert not leftovers, "Jinja syntax left in the baked project:\n" + "\n".join(leftovers)


def test_docs_describe_only_this_bakes_scheduler(baked: Baked) -> None:
    """The README and docs name neither the other scheduler nor files this bake lacks."""
    docs = ["README.md", *sorted(f for f in baked.files if f.startswith("docs/") and f.endswith(".md"))]
    found = []
    for rel in docs:
        text = (baked.path / rel).read_text(encoding="utf-8").lower()
        words = OTHER_SCHEDULER_WORDS[baked.variant.chosen_scheduler]
        found += [f"{rel}: {word!r}" for word in words if word in text]
        for link in re.findall(r"\]\(([\w./-]+\.md)\)", text):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
            if target not in {f.lower() for f in baked.files}:
                found.append(f"{rel}: links to {link}, not in this bake")
    assert not found, "the docs describe what this bake does not contain:\n" + "\n".join(found)
    readme = (baked.path / "README.md").read_text(encoding="utf-8")
    assert f"docs/scheduling-{baked.variant.chosen_scheduler}.md" in readme


def test_recorded_answers(baked: Baked) -> None:
    variant = baked.variant
    expected = {key: value for key, value in TEMPLATE_JSON.items() if not key.startswith("_")}
    expected.update(variant.extra_context)
    expected.update(
        scheduler=variant.chosen_scheduler,
        project_slug=variant.slug,
        package_name=variant.package,
        _template=str(REPO),
    )
    text = (baked.path / ".cookiecutter.json").read_text(encoding="utf-8")
    assert json.loads(text) == expected
    assert text == json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _project_ruff_config(baked: Baked) -> None:
    pyproject = baked.path / "pyproject.toml"
    assert pyproject.is_file(), "the baked project has no pyproject.toml"
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    assert "ruff" in config.get("tool", {}), (
        "the baked pyproject.toml has no [tool.ruff]; ruff would use defaults"
    )


def test_ruff_check(baked: Baked) -> None:
    _project_ruff_config(baked)
    code, output = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=baked.path)
    assert code == 0, output


def test_ruff_format(baked: Baked) -> None:
    _project_ruff_config(baked)
    code, output = run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=baked.path)
    assert code == 0, output


def _suite_env(baked: Baked, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        **OFFLINE_ENV,
        # The bake's own package and twin, not the copies installed in the test venv.
        "PYTHONPATH": os.pathsep.join(str(baked.path / d) for d in ("src", "local-hopsworks/src")),
        "STORE_DIR": str(tmp_path / "store"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(tmp_path / "matplotlib"),
    }


def test_baked_project_test_suite(baked: Baked, tmp_path: Path) -> None:
    """The generated project's own tests pass, offline, against a throwaway store.

    For the first variant all of them: ``-m ''`` lifts the project's default ``-m 'not heavy'``, so
    the reliability tests and the browser test run (the browser test must find Chromium:
    REQUIRE_BROWSER=1). The heavy tests do not depend on the answers (the scheduler's and the
    names' tests are all in the default run), so the other variants run the default suite.
    """
    markers = "" if baked.variant is VARIANTS[0] else "not heavy"
    code, output = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", markers],
        cwd=baked.path,
        env={**_suite_env(baked, tmp_path), "REQUIRE_BROWSER": "1"},
        timeout=1800,
    )
    assert code == 0, f"pytest in the baked project exited {code}:\n{tail(output)}"


def test_baked_store_test_suite(baked: Baked, tmp_path: Path) -> None:
    """The embedded store's own tests (properties, concurrency, parity) pass, heavy ones included."""
    if baked.variant is not VARIANTS[0]:
        pytest.skip("local-hopsworks is the same in every bake: its suite runs for the first variant")
    code, output = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", ""],
        cwd=baked.path / "local-hopsworks",
        env=_suite_env(baked, tmp_path),
        timeout=1800,
    )
    assert code == 0, f"pytest in local-hopsworks exited {code}:\n{tail(output)}"
