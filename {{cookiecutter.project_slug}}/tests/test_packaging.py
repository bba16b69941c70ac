"""Deployment metadata agrees with itself: Spaces front matter, requirements.txt, pyproject.toml."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def front_matter() -> dict[str, str]:
    """Return the README's YAML front matter as flat key/value strings."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "---", "README.md must start with the HuggingFace Spaces front matter"
    end = lines.index("---", 1)
    pairs = (line.split(":", 1) for line in lines[1:end] if ":" in line)
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def pins() -> dict[str, Requirement]:
    """Return requirements.txt as name -> requirement."""
    reqs = [
        Requirement(line.split("#")[0].strip())
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    return {r.name.lower(): r for r in reqs}


def pinned_version(req: Requirement) -> str:
    (spec,) = list(req.specifier)
    assert spec.operator == "==", f"{req} must be pinned with =="
    return spec.version


def test_spaces_front_matter():
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert meta["sdk_version"] == pinned_version(pins()["gradio"])
    assert (ROOT / meta["app_file"]).is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert SpecifierSet(project["requires-python"]).contains(meta["python_version"])


def test_requirements_pin_every_dependency_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for r in project["optional-dependencies"]["hopsworks"]]
    declared = [r for r in declared if not r.url]  # the twin comes from this tree, not from the index
    pinned = pins()
    for req in declared:
        assert req.name.lower() in pinned, f"requirements.txt lacks {req.name}"
        version = pinned_version(pinned[req.name.lower()])
        assert req.specifier.contains(version), (
            f"{req.name}=={version} is outside pyproject's {req.specifier}"
        )
    extra = set(pinned) - {r.name.lower() for r in declared}
    assert not extra, f"requirements.txt pins packages pyproject does not declare: {sorted(extra)}"


def test_deployments_never_install_both_deltalake_flavours():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hopsworks = " ".join(project["optional-dependencies"]["hopsworks"])
    assert "deltalake" not in hopsworks
    assert not any("deltalake" in r for r in project["dependencies"])
    assert "deltalake" not in pins()


def first_party_imports() -> set[str]:
    """Return the packages of this tree besides the learner's that ``src/`` imports (lazily or not)."""
    ours = {path.name for path in (ROOT / "local-hopsworks" / "src").iterdir() if path.is_dir()}
    found = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found & ours


def test_hopsworks_deployments_bring_the_twin_the_package_imports():
    """GitHub Actions installs '.[hopsworks]' and Modal's image adds local sources: both bring the twin."""
    needed = first_party_imports()
    assert needed == {"local_hopsworks"}  # features/expectations.py checks batches with its evaluator
    # The twin from this tree, without deltalake ({root:uri} is what the [local] extra's install proves).
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    twin = [Requirement(r) for r in extra["hopsworks"] if Requirement(r).name == "local-hopsworks"]
    assert twin, "the hopsworks extra does not install local-hopsworks"
    assert twin[0].url == "{root:uri}/local-hopsworks" and not twin[0].extras
    deploy = ROOT / "deploy.py"
    if deploy.exists():  # the modal scheduler
        added = {
            arg.value
            for node in ast.walk(ast.parse(deploy.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_local_python_source"
            for arg in node.args
            if isinstance(arg, ast.Constant)
        }
        assert needed | {"{{ cookiecutter.package_name }}"} <= added, f"the Modal image adds only {added}"
