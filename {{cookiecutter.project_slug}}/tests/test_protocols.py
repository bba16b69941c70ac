"""The store protocols describe what the twin really offers: every listed member exists on its class."""

from __future__ import annotations

import inspect
import re
from typing import Protocol

import local_hopsworks
import pytest
from local_hopsworks import feature_group, feature_view, query, registry

from {{ cookiecutter.package_name }}.store import protocols

TWIN = {
    protocols.Project: local_hopsworks.LocalProject,
    protocols.FeatureStore: local_hopsworks.FeatureStore,
    protocols.FeatureGroup: feature_group.FeatureGroup,
    protocols.FeatureView: feature_view.FeatureView,
    protocols.Query: query.Query,
    protocols.ModelRegistry: registry.ModelRegistry,
    protocols.Model: registry.Model,
}


def members(proto: type) -> set[str]:
    """Return a protocol's public methods and attributes."""
    names = {name for name, _ in inspect.getmembers(proto, inspect.isfunction) if not name.startswith("_")}
    return names | set(getattr(proto, "__annotations__", {}))


def test_every_protocol_has_a_twin_class() -> None:
    declared = {
        obj for _, obj in inspect.getmembers(protocols, inspect.isclass) if Protocol in obj.__mro__[1:]
    }
    assert declared - {protocols.Filter, protocols.Feature} == set(TWIN)


@pytest.mark.parametrize("proto", list(TWIN), ids=lambda p: p.__name__)
def test_twin_class_has_every_protocol_member(proto: type) -> None:
    cls = TWIN[proto]
    missing = sorted(
        name for name in members(proto) if not hasattr(cls, name) and name not in _instance_only(cls)
    )
    assert not missing, f"{cls.__qualname__} lacks {missing} of protocols.{proto.__name__}"


def _instance_only(cls: type) -> set[str]:
    """Return the attributes ``__init__`` sets (``self.name = ...``), invisible on the class itself."""
    source = inspect.getsource(cls.__init__) if "__init__" in vars(cls) else ""
    return set(re.findall(r"self\.(\w+)\s*[:=]", source))
