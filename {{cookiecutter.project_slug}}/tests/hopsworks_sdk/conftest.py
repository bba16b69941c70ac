"""Fixtures for tests on the real Hopsworks SDK with the server side faked (see ``fake_server.py``)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("hopsworks", reason="the hopsworks extra is not installed (make conformance runs these)")

import fake_server  # noqa: E402

from {{ cookiecutter.package_name }}.settings import Settings  # noqa: E402
from {{ cookiecutter.package_name }}.store import connect, disconnect  # noqa: E402

PROJECT = "air_quality"


def start_server(tmp_path, monkeypatch, projects=(PROJECT,)) -> fake_server.FakeHopsworks:
    """Start a fake Hopsworks with ``projects`` and route the SDK's traffic to it."""
    monkeypatch.setenv("HOPSWORKS_CERT_FOLDER", str(tmp_path / "certs"))  # login writes PEM files there
    for name in [n for n in os.environ if n.startswith("HOPSWORKS_") and n != "HOPSWORKS_CERT_FOLDER"]:
        monkeypatch.delenv(name)
    server = fake_server.FakeHopsworks(tmp_path / "server", projects=tuple(projects))
    fake_server.install(server, monkeypatch)
    disconnect()
    return server


def stop_server(server: fake_server.FakeHopsworks) -> None:
    import hopsworks

    hopsworks.logout()
    disconnect()
    server.featurestore.query_service.shutdown()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Return a fake Hopsworks with one project; the SDK's REST, storage and query traffic goes to it."""
    server = start_server(tmp_path, monkeypatch)
    yield server
    stop_server(server)


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
