"""Fixtures for tests on the real Hopsworks SDK with the server side faked (see ``fake_server.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import fake_server
import pytest
from fake_server import PROJECT, start_server, stop_server

from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect, disconnect

HERE = Path(__file__).parent
NO_SDK = "the hopsworks extra is not installed (make conformance runs these in .venv-hopsworks)"


def pytest_collection_modifyitems(config, items):
    """Skip this folder's tests, with the reason, where the SDK is not installed (the local venv)."""
    if importlib.util.find_spec("hopsworks") is not None:
        return
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=NO_SDK))


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Return a fake Hopsworks with one project; the SDK's REST, storage and query traffic goes to it."""
    disconnect()  # a connection of an earlier test points at its own server
    server = start_server(tmp_path, monkeypatch)
    yield server
    stop_server(server)
    disconnect()


@pytest.fixture
def hw_settings(server, tmp_path) -> Settings:
    """Return settings for STORE_BACKEND=hopsworks against the fake server."""
    return Settings(
        _env_file=None,
        store_backend="hopsworks",
        hopsworks_host=fake_server.HOST,
        hopsworks_project=PROJECT,
        hopsworks_api_key=server.api_key,
        store_dir=tmp_path / "unused-local-store",
        data_source="synthetic",
    )


@pytest.fixture
def sdk_project(hw_settings):
    """Return the SDK's real ``Project``, logged in through ``connect()``."""
    return connect(hw_settings)
