"""The twin offers nothing the SDK lacks, and resolves ``fg.<name>`` as hsfs does.

Runs in the hopsworks environment (``make conformance``): every public name of a twin object
(class attributes and instance attributes alike) must exist on the SDK class it stands in for,
so code written against the twin cannot lean on API that Hopsworks does not have.
"""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip(
    "hopsworks", reason="the hopsworks extra is not installed (CI runs this in its own environment)"
)

import local_hopsworks as local  # noqa: E402
from local_hopsworks.query import Feature  # noqa: E402
from local_hopsworks.sdk_names import FEATURE_GROUP_ATTRIBUTES  # noqa: E402


def sdk_classes() -> dict[str, object]:
    """Return the SDK class (or module) each twin object stands in for."""
    from hopsworks_common.core.secret_api import SecretsApi
    from hopsworks_common.project import Project
    from hopsworks_common.secret import Secret
    from hsfs.constructor.filter import Filter, Logic
    from hsfs.constructor.query import Query
    from hsfs.feature import Feature
    from hsfs.feature_group import FeatureGroup
    from hsfs.feature_store import FeatureStore
    from hsfs.feature_view import FeatureView
    from hsfs.training_dataset_feature import TrainingDatasetFeature
    from hsml.model import Model
    from hsml.model_registry import ModelRegistry
    from hsml.python import signature as python_models

    return {
        "Project": Project,
        "FeatureStore": FeatureStore,
        "FeatureGroup": FeatureGroup,
        "FeatureView": FeatureView,
        "TrainingDatasetFeature": TrainingDatasetFeature,
        "Query": Query,
        "Feature": Feature,
        "Filter": Filter,
        "Logic": Logic,
        "ModelRegistry": ModelRegistry,
        "Model": Model,
        "python": python_models,
        "SecretsApi": SecretsApi,
        "Secret": Secret,
    }


def twin_objects(tmp_path, monkeypatch) -> dict[str, object]:
    """Build one live twin object of each kind: a written group, a view, a saved model, a secret."""
    project = local.LocalProject(tmp_path / "store")
    fs = project.get_feature_store()
    weather = fs.get_or_create_feature_group("weather", version=1, primary_key=["city"], event_time="day")
    air = fs.get_or_create_feature_group("air", version=1, primary_key=["city"], event_time="day")
    days = pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)
    weather.insert(pd.DataFrame({"city": ["a", "a"], "day": days, "temp": [1.0, 2.0]}))
    air.insert(pd.DataFrame({"city": ["a", "a"], "day": days, "pm25": [3.0, 4.0]}))
    query = weather.select_all().join(air.select(["pm25"]))
    fv = fs.get_or_create_feature_view(name="fv", query=query, version=1, labels=["pm25"])
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    mr = project.get_model_registry()
    model = mr.python.create_model("m", metrics={"mae": 1.0}, feature_view=fv, training_dataset_version=1)
    model.save(str(folder))
    monkeypatch.setenv("SURFACE_SECRET", "x")
    condition = weather.get_feature("temp") > 0
    return {
        "Project": project,
        "FeatureStore": fs,
        "FeatureGroup": weather,
        "FeatureView": fv,
        "TrainingDatasetFeature": fv.features[-1],
        "Query": query,
        "Feature": weather.get_feature("temp"),
        "Filter": condition,
        "Logic": condition & (weather.get_feature("temp") < 9),
        "ModelRegistry": mr,
        "Model": model,
        "python": mr.python,
        "SecretsApi": local.get_secrets_api(),
        "Secret": local.get_secrets_api().get_secret("SURFACE_SECRET"),
    }


def test_every_public_name_of_a_twin_object_exists_on_the_sdk_class(tmp_path, monkeypatch):
    sdk = sdk_classes()
    extra = {
        kind: sorted(name for name in dir(obj) if not name.startswith("_") and not hasattr(sdk[kind], name))
        for kind, obj in twin_objects(tmp_path, monkeypatch).items()
    }
    assert not any(extra.values()), {kind: names for kind, names in extra.items() if names}


def test_the_twin_knows_every_attribute_name_of_the_sdk_feature_group():
    from hsfs.feature_group import FeatureGroup

    assert {n for n in dir(FeatureGroup) if not n.startswith("_")} == set(FEATURE_GROUP_ATTRIBUTES)


@pytest.mark.parametrize("name", ["location", "name", "version", "id", "description", "event_time"])
def test_group_properties_win_over_features_of_the_same_name_as_on_the_sdk(tmp_path, name):
    from hsfs.feature_group import FeatureGroup as SdkFeatureGroup

    fs = local.LocalProject(tmp_path / "store").get_feature_store()
    fg = fs.get_or_create_feature_group("places", version=1, primary_key=["key"], event_time="date")
    row = {"key": ["k"], "date": pd.to_datetime(["2024-01-01"], utc=True), "x": [1.0]}
    fg.insert(pd.DataFrame({**row, **({} if name in row else {name: ["v"]})}))
    # A property on both: `fg.<name> == value` is a plain value comparison, never a Filter.
    assert isinstance(getattr(SdkFeatureGroup, name), property)
    assert isinstance(fg.location == "x", bool)
    assert not isinstance(getattr(fg, name), Feature)
    with pytest.raises(TypeError, match="Expected type `Filter` or `Logic`"):
        fg.filter(fg.location == "x")


def test_an_unwritten_group_has_no_features_as_on_the_sdk(tmp_path):
    fs = local.LocalProject(tmp_path / "store").get_feature_store()
    fg = fs.get_or_create_feature_group("air_quality", version=1, primary_key=["location"], event_time="date")
    assert fg.features == [] and fg.location is None and fg.id is None
    with pytest.raises(AttributeError):
        fg.date  # noqa: B018 - the attribute access is the test
