"""Tests of deploy.py, offline: the Modal functions' settings, and the functions run locally.

deploy.py is imported as a file (it sits at the project root, outside the package). Nothing
here talks to Modal: building Modal objects is local, and ``.local()`` calls the wrapped
Python function in this process, without the image, its env or the secrets.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.catalog import predictions_group
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect

# The modal extra is optional: without it this module is skipped, not a collection error.
modal = pytest.importorskip("modal", reason="the modal extra is not installed: pip install -e '.[modal]'")

ROOT = Path(__file__).resolve().parents[1]
RUN_ORDER = ["feature_daily", "training_weekly", "inference_daily"]


@pytest.fixture(scope="module")
def deploy() -> ModuleType:
    """Import deploy.py from the project root without touching sys.path."""
    spec = importlib.util.spec_from_file_location("deploy", ROOT / "deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Deployed:
    """What Modal would deploy for one function."""

    cron: str
    timezone: str
    timeout: int
    max_retries: int
    backoff_coefficient: float
    initial_delay_s: float
    secrets: list[tuple[str, list[str]]]  # (name, required_keys)


def _closure(function: Any) -> dict[str, Any]:
    names, cells = function.__code__.co_freevars, function.__closure__
    return {name: cell.cell_contents for name, cell in zip(names, cells, strict=True)}


def deployed(function: modal.Function) -> Deployed:
    """Return a Modal function's schedule, timeout, retry policy and secrets, read offline.

    ``Function.info()`` is public and filled in locally, but it has only the schedule as
    text, the timeout, the retry count and the secrets' names. modal 1.6 keeps the rest
    (retry backoff and delay, a secret's required_keys) only in the closures of the loaders
    that build the deploy request. This helper is the one place that reads those internals:
    if a modal upgrade moves them, fix it here.
    """
    from modal._utils.async_utils import synchronizer

    info = function.info()
    cells = _closure(synchronizer._translate_in(function)._load)
    policy, schedule = cells["retry_policy"], cells["schedule"].proto_message.cron
    secrets = [
        (secret.name, list(_closure(synchronizer._translate_in(secret)._load)["required_keys"]))
        for secret in cells["secrets"]
    ]
    assert info.schedule == f"Cron({schedule.cron_string!r}, {schedule.timezone})"
    assert info.secrets == [f"modal.Secret.from_name({name!r})" for name, _ in secrets]
    assert (info.timeout, info.max_retries) == (cells["timeout"], policy.retries)
    return Deployed(
        cron=schedule.cron_string,
        timezone=schedule.timezone,
        timeout=info.timeout,
        max_retries=info.max_retries,
        backoff_coefficient=policy.backoff_coefficient,
        initial_delay_s=policy.initial_delay_ms / 1000,
        secrets=secrets,
    )


def minutes_of_day(cron: str) -> int:
    """Return the start of a 'M H ...' cron entry as minutes after midnight."""
    minute, hour = cron.split()[:2]
    return int(hour) * 60 + int(minute)


# ------------------------------------------------------------------ configuration


def test_app_and_functions(deploy: ModuleType) -> None:
    assert deploy.app.name == "{{ cookiecutter.project_slug }}"
    functions = {name for name, value in vars(deploy).items() if isinstance(value, modal.Function)}
    assert functions == set(deploy.SCHEDULES) == set(RUN_ORDER)


@pytest.mark.parametrize("name", RUN_ORDER)
def test_function_matches_schedule_table(deploy: ModuleType, name: str) -> None:
    entry = deploy.SCHEDULES[name]
    assert deployed(getattr(deploy, name)) == Deployed(
        cron=entry["cron"],
        timezone="UTC",
        timeout=entry["timeout"],
        max_retries=entry["retries"]["max_retries"],
        backoff_coefficient=entry["retries"]["backoff_coefficient"],
        initial_delay_s=entry["retries"]["initial_delay"],
        secrets=[("hopsworks", ["HOPSWORKS_API_KEY"])],
    )


def test_schedule_values(deploy: ModuleType) -> None:
    table = {
        name: (entry["command"], entry["cron"], entry["timeout"], entry["retries"])
        for name, entry in deploy.SCHEDULES.items()
    }
    retries = {"max_retries": 2, "backoff_coefficient": 2.0, "initial_delay": 60.0}
    assert table == {
        "feature_daily": ("feature", "0 6 * * *", 15 * 60, retries),
        "inference_daily": ("inference", "30 6 * * *", 15 * 60, retries),
        "training_weekly": ("training", "0 5 * * 1", 30 * 60, retries),
    }


def test_first_attempts_do_not_overlap(deploy: ModuleType) -> None:
    """Inference starts after the feature run's time limit; Monday's training ends before both."""
    table = deploy.SCHEDULES
    feature, inference, training = table["feature_daily"], table["inference_daily"], table["training_weekly"]
    feature_start = minutes_of_day(feature["cron"])
    assert feature_start + feature["timeout"] // 60 <= minutes_of_day(inference["cron"])
    assert minutes_of_day(training["cron"]) + training["timeout"] // 60 <= feature_start


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
