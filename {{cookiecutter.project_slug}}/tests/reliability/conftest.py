"""Fixtures of the reliability tests: one store with two locations and a model, built once per run.

Every test in this folder is marked ``heavy``: the default ``pytest`` skips them (see
``[tool.pytest.ini_options]``), ``pytest -m heavy`` runs them, ``make test`` and CI run everything.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import OTHER, TODAY, FakeOpenMeteo, location_settings, serve_fake_open_meteo

from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m filter reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``heavy``."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.heavy)


@pytest.fixture(scope="session")
def two_locations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store (built once) with features of two locations, a model and predictions for both."""
    root = tmp_path_factory.mktemp("two_locations") / "store"
    home, other = location_settings(root), location_settings(root, **OTHER)
    source = SyntheticSource(today=TODAY)
    for settings in (home, other):
        feature.run(settings, today=TODAY, source=source)
    training.run(home, today=TODAY)
    for settings in (home, other):
        inference.run(settings, today=TODAY)
    return root


@pytest.fixture
def store_copy(two_locations: Path, tmp_path: Path) -> Path:
    """A private copy of the two-location store."""
    root = tmp_path / "store"
    shutil.copytree(two_locations, root)
    return root


@pytest.fixture
def open_meteo() -> Iterator[FakeOpenMeteo]:
    """The fake Open-Meteo server on loopback."""
    fake, stop = serve_fake_open_meteo()
    yield fake
    stop()
