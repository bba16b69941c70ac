"""Tests of deploy.py: the Modal functions' settings, read through modal's public API, and each
function's body run under the environment Modal gives its container.

deploy.py is imported as a file (it sits at the project root, outside the package). Building
Modal objects is local; the secret is resolved by the real modal client against the loopback
stand-in for Modal's API (``modal_server``), and ``.local()`` runs a function's body in a
subprocess whose environment is the image's env plus the secret, as in a Modal container.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from loopback_services import inherited_pythonpath, login_boundary, logins, write_console_script

from {{ cookiecutter.package_name }}.catalog import predictions_group
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect

# The modal extra is optional: without it this module is skipped, not a collection error.
modal = pytest.importorskip("modal", reason="the modal extra is not installed: pip install -e '.[modal]'")

ROOT = Path(__file__).resolve().parents[1]
RUN_ORDER = ["feature_daily", "training_weekly", "inference_daily"]
COMMANDS = {"feature_daily": "feature", "training_weekly": "training", "inference_daily": "inference"}
KEY = "hw-MARKER-deploy-91c2"
IMPORT_DEPLOY = (
    "import importlib.util; "
    f"spec = importlib.util.spec_from_file_location('deploy', {str(ROOT / 'deploy.py')!r}); "
    "deploy = importlib.util.module_from_spec(spec); spec.loader.exec_module(deploy); "
)


@pytest.fixture(scope="module")
def deploy() -> ModuleType:
    """Import deploy.py from the project root without touching sys.path."""
    spec = importlib.util.spec_from_file_location("deploy", ROOT / "deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cron_of(function: modal.Function) -> str:
    """Return a function's cron string from its public info (``Cron('0 6 * * *', UTC)``)."""
    match = re.fullmatch(r"Cron\('([^']+)', UTC\)", function.info().schedule or "")
    assert match, function.info().schedule
    return match.group(1)


def minutes_of_day(cron: str) -> int:
    """Return the start of a 'M H ...' cron entry as minutes after midnight."""
    minute, hour = cron.split()[:2]
    return int(hour) * 60 + int(minute)


# ------------------------------------------------------------------ configuration


def test_app_and_functions(deploy: ModuleType) -> None:
    assert deploy.app.name == "{{ cookiecutter.project_slug }}"
    functions = {name for name, value in vars(deploy).items() if isinstance(value, modal.Function)}
    assert functions == set(RUN_ORDER)


def test_function_settings(deploy: ModuleType) -> None:
    settings = {
        name: (cron_of(fn), fn.info().timeout, fn.info().max_retries, fn.info().secrets)
        for name in RUN_ORDER
        for fn in [getattr(deploy, name)]
    }
    secret = ["modal.Secret.from_name('hopsworks')"]
    assert settings == {
        "feature_daily": ("0 6 * * *", 15 * 60, 2, secret),
        "training_weekly": ("0 5 * * 1", 30 * 60, 2, secret),
        "inference_daily": ("30 6 * * *", 15 * 60, 2, secret),
    }


def test_retry_delays_grow_with_the_backoff_coefficient(deploy: ModuleType) -> None:
    """Modal waits min(initial_delay x coefficient^n, max_delay) before retry n+1."""
    policy = deploy.RETRIES
    initial, cap = policy.initial_delay.total_seconds(), policy.max_delay.total_seconds()
    delays = [min(initial * policy.backoff_coefficient**n, cap) for n in range(policy.max_retries)]
    assert delays == [30.0, 60.0]
    assert len(set(delays)) == policy.max_retries  # the coefficient changes every delay
    assert all(getattr(deploy, name).info().max_retries == policy.max_retries for name in RUN_ORDER)


def test_first_attempts_do_not_overlap(deploy: ModuleType) -> None:
    """Inference starts after the feature run's time limit; Monday's training ends before both."""
    feature, inference, training = deploy.feature_daily, deploy.inference_daily, deploy.training_weekly
    feature_start = minutes_of_day(cron_of(feature))
    assert feature_start + feature.info().timeout // 60 <= minutes_of_day(cron_of(inference))
    assert minutes_of_day(cron_of(training)) + training.info().timeout // 60 <= feature_start


# ------------------------------------------------- in the container's environment


def modal_env(modal_server, tmp_path: Path) -> dict[str, str]:
    """Return an environment where the modal client reaches only the stand-in."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHONPATH": inherited_pythonpath(),
        "MODAL_SERVER_URL": modal_server.url,
        "MODAL_TOKEN_ID": "ak-test",
        "MODAL_TOKEN_SECRET": "as-test",
        "MODAL_CONFIG_PATH": str(home / ".modal.toml"),
    }


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python code in a fresh process with exactly ``env``, away from any .env file."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=env["HOME"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_secret_requires_the_key(deploy: ModuleType, modal_server, tmp_path: Path) -> None:
    """Resolving the functions' secret (as `modal deploy` does) fails without HOPSWORKS_API_KEY."""
    env = modal_env(modal_server, tmp_path)
    modal_server.secrets["hopsworks"] = {"HOPSWORKS_PROJECT": "air_quality"}
    proc = python(IMPORT_DEPLOY + "deploy.hopsworks_secret.hydrate()", env)
    assert proc.returncode != 0 and "missing the keys ['HOPSWORKS_API_KEY']" in proc.stderr, proc.stderr
    modal_server.secrets["hopsworks"]["HOPSWORKS_API_KEY"] = KEY
    assert python(IMPORT_DEPLOY + "deploy.hopsworks_secret.hydrate()", env).returncode == 0
    lookup = "SecretGetOrCreate hopsworks OBJECT_CREATION_TYPE_UNSPECIFIED ['HOPSWORKS_API_KEY']"
    assert modal_server.calls[-1] == lookup


@pytest.mark.parametrize("settings", ["all", "key only"])
def test_functions_get_every_hopsworks_setting(deploy, modal_server, tmp_path, settings) -> None:
    """`secrets` fills the Modal secret; each body then logs in with every setting it holds.

    The container's environment is the image's env plus the secret's keys. Each body runs
    with exactly that (``.local()``, in a subprocess) and stops at hopsworks.login.
    """
    given = {"HOPSWORKS_API_KEY": KEY}
    if settings == "all":
        given |= {"HOPSWORKS_PROJECT": "air_quality", "HOPSWORKS_HOST": "eu-west.cloud.hopsworks.ai"}
    env = modal_env(modal_server, tmp_path)
    script = write_console_script(tmp_path / "project-bin")
    proc = subprocess.run(
        [str(script), "secrets", "--target", "modal"],
        cwd=tmp_path, env={**env, **given}, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secret = modal_server.secrets["hopsworks"]
    assert secret == given

    boundary, record = login_boundary(tmp_path)
    container = {**deploy.CONTAINER_ENV, **secret, "LOGIN_RECORD": str(record)}
    container["PYTHONPATH"] = inherited_pythonpath(boundary)
    container |= {"PATH": os.environ["PATH"], "HOME": env["HOME"]}
    # One process runs the three bodies in turn (each launch of modal costs a second of CPU); each
    # body's failure is printed under its name, and no body may change the environment it was given.
    bodies = (
        "import os, sys; given = dict(os.environ)\n"
        f"for name in {RUN_ORDER!r}:\n"
        "    print(f'=== {name}', file=sys.stderr, flush=True)\n"
        "    try:\n"
        "        getattr(deploy, name).local()\n"
        "    except RuntimeError as error:\n"
        "        print(error, file=sys.stderr, flush=True)\n"
        "    assert dict(os.environ) == given, name\n"
    )
    proc = python(IMPORT_DEPLOY + "\n" + bodies, container)
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    parts = dict(part.split("\n", 1) for part in proc.stderr.split("=== ")[1:])
    assert list(parts) == RUN_ORDER, proc.stderr
    for name, stderr in parts.items():
        assert f"{{ cookiecutter.project_slug }} {COMMANDS[name]} exited with status 1" in stderr, stderr
        assert "login boundary" in stderr
    expected = {"api_key_value": KEY}
    if settings == "all":
        expected |= {"host": given["HOPSWORKS_HOST"], "project": given["HOPSWORKS_PROJECT"]}
    assert [login["kwargs"] for login in logins(record)] == [expected] * len(RUN_ORDER)
    assert all(login["environ"] == secret for login in logins(record))


# ------------------------------------------------------------- running locally


@pytest.fixture
def local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the pipelines at an empty embedded store and the offline simulator."""
    store = tmp_path / "store"
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    monkeypatch.setenv("STORE_BACKEND", "local")
    monkeypatch.setenv("STORE_DIR", str(store))
    monkeypatch.setenv("DATA_SOURCE", "synthetic")
    monkeypatch.setenv("BACKFILL_DAYS", "400")  # enough labels for TEST_DAYS=60, and quick
    monkeypatch.setenv("TEST_DAYS", "60")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return store


def test_scheduled_functions_run_locally(deploy: ModuleType, local_store: Path) -> None:
    for name in RUN_ORDER:
        assert getattr(deploy, name).local() is None

    settings = Settings()
    assert settings.store_dir == local_store and settings.store_backend == "local"
    project = connect(settings)
    models = project.get_model_registry().get_models(settings.model_name)
    assert [int(m.version) for m in models] == [1]
    predictions = predictions_group(project.get_feature_store()).read()
    assert not predictions.empty
    assert set(predictions["model_version"]) == {1}
    assert (predictions["predicted_pm25"] >= 0).all()


def test_failed_pipeline_raises_for_retry(deploy: ModuleType, local_store: Path) -> None:
    """A failing pipeline raises, so Modal marks the run failed and retries it."""
    with pytest.raises(RuntimeError, match="inference exited with status 1"):
        deploy.inference_daily.local()  # no model registered yet
