"""Shared fixture: an empty twin project in a temporary folder."""

from __future__ import annotations

import pytest

from local_hopsworks import LocalProject


@pytest.fixture
def project(tmp_path) -> LocalProject:
    """Return an empty local project."""
    return LocalProject(tmp_path / "store")
