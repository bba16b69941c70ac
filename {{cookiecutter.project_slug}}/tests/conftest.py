"""Shared fixtures: an empty embedded store in a temporary folder, and offline-only settings."""

from __future__ import annotations

import os

import pytest
from local_hopsworks import LocalProject

from {{ cookiecutter.package_name }}.settings import Settings

# XGBoost's OpenMP threads spin while they wait for each other. On a busy machine a spinning thread
# holds a core another needs, and 400 rounds on 150 rows cost 4 s of CPU instead of 0.1 s. Passive
# waiting changes no result (the same trees, the same predictions). Set before xgboost loads; the
# subprocesses the tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never reach the internet, and never read a developer's .env by accident.
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for name in ("STORE_BACKEND", "HOPSWORKS_API_KEY", "DATA_SOURCE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path) -> LocalProject:
    """Return an empty local project."""
    return LocalProject(tmp_path / "store")


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Return settings for a fresh store with the offline simulator."""
    return Settings(_env_file=None, store_dir=tmp_path / "store", data_source="synthetic")


@pytest.fixture
def modal_server():
    """Start the loopback stand-in for Modal's API (tests/loopback_services.py); skip without modal."""
    pytest.importorskip("modal", reason="the modal extra is not installed: pip install -e '.[modal]'")
    from loopback_services import ModalStandIn

    server = ModalStandIn()
    server.url = server.start()
    yield server
    server.stop()
