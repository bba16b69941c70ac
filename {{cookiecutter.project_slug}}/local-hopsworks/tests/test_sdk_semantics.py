"""Where hsfs/hsml 5.2 behave strangely, the twin does the same: code that breaks there breaks here."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from local_hopsworks.maintenance import create_tag_schema
from local_hopsworks.query import Feature, FeatureStoreException, Filter
from local_hopsworks.registry import TagSchemaError

DAYS = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True)


def _places(fs, name="places", online=False):
    fg = fs.get_or_create_feature_group(
        name, version=1, primary_key=["location"], event_time="date", online_enabled=online
    )
    return fg


def test_a_group_property_wins_over_a_feature_of_the_same_name(project):
    fg = _places(project.get_feature_store())
    fg.insert(pd.DataFrame({"location": ["a", "b", "b"], "date": DAYS, "name": ["x", "y", "z"]}))
    # hsfs: `fg.location` is the table's storage path and `fg.name` the group's name, not features.
    assert isinstance(fg.location, str) and fg.name == "places"
    assert isinstance(fg.location == "b", bool)
    with pytest.raises(TypeError, match="Expected type `Filter` or `Logic`"):
        fg.filter(fg.location == "b")
    assert isinstance(fg.get_feature("location") == "b", Filter) and isinstance(fg["name"], Feature)
    assert list(fg.filter(fg["location"] == "b").read()["name"]) == ["y", "z"]


def test_other_sdk_attribute_names_never_resolve_to_features(project):
    fg = _places(project.get_feature_store())
    fg.insert(pd.DataFrame({"location": ["a"], "date": DAYS[:1], "ttl": [1.0], "pm25": [2.0]}))
    with pytest.raises(AttributeError, match=r"fg.get_feature\('ttl'\)"):
        fg.ttl  # noqa: B018 - hsfs' FeatureGroup.ttl is a property: never the feature
    assert isinstance(fg.pm25, Feature)  # a name hsfs does not use is a feature, as there


def test_a_group_not_yet_written_has_no_features_and_no_location(project):
    fg = _places(project.get_feature_store())
    assert fg.features == [] and fg.location is None and fg.id is None
    with pytest.raises(AttributeError, match="get_feature"):
        fg.date  # noqa: B018 - on hsfs too: no features before the first insert


def test_get_feature_of_a_missing_feature_is_none_and_indexing_raises_key_error(project):
    fg = _places(project.get_feature_store())
    assert fg.get_feature("date") is None  # hsfs: None before the first insert, and for any unknown name
    fg.insert(pd.DataFrame({"location": ["a"], "date": DAYS[:1], "x": [1.0]}))
    assert fg.get_feature("nope") is None and fg.get_feature("x").name == "x"
    with pytest.raises(KeyError, match="no feature or transformation called 'nope'"):
        fg["nope"]
    with pytest.raises(TypeError, match="Expected type `str`"):
        fg[1]


def test_a_query_resolves_features_as_hsfs_does(project):
    fs = project.get_feature_store()
    weather = fs.get_or_create_feature_group("weather", version=1, primary_key=["city"], event_time="day")
    air = fs.get_or_create_feature_group("air", version=1, primary_key=["city"], event_time="day")
    weather.insert(pd.DataFrame({"city": ["a"] * 3, "day": DAYS, "temp": [1.0, 2.0, 3.0]}))
    air.insert(pd.DataFrame({"city": ["a"] * 3, "day": DAYS, "temp": [7.0, 8.0, 9.0], "pm25": [5.0] * 3}))
    query = weather.select_all().join(air.select(["temp", "pm25"]), on=["city", "day"], prefix="air_")
    # Found in both groups: the one joined without a prefix; the joined one under its prefix.
    assert query.get_feature("temp")._fg_key == weather["temp"]._fg_key
    assert query["air_temp"]._fg_key == air["temp"]._fg_key and query.pm25.name == "pm25"
    assert list(query.filter(query.temp >= 2.0).read()["temp"]) == [2.0, 3.0]
    with pytest.raises(FeatureStoreException, match="could not found be found in query"):
        query.get_feature("nope")
    with pytest.raises(AttributeError, match="'Query' object has no attribute 'nope'"):
        query.nope  # noqa: B018
    # In two joined groups, each under a prefix, and not in the left one: ambiguous, as on hsfs.
    twice = weather.select(["city", "day"]).join(air.select(["temp"]), on=["city", "day"], prefix="a_")
    other = fs.get_or_create_feature_group("other", version=1, primary_key=["city"], event_time="day")
    other.insert(pd.DataFrame({"city": ["a"], "day": DAYS[:1], "temp": [0.0]}))
    twice = twice.join(other.select(["temp"]), on=["city", "day"], prefix="b_")
    assert twice.get_feature("b_temp")._fg_key == other["temp"]._fg_key
    with pytest.raises(FeatureStoreException, match="ambiguous"):
        twice.get_feature("temp")


def test_a_model_knows_its_feature_view_only_through_get_feature_view(project, tmp_path):
    fs = project.get_feature_store()
    fg = _places(fs)
    fg.insert(pd.DataFrame({"location": ["a"] * 3, "date": DAYS, "x": [1.0, 2.0, 3.0]}))
    fv = fs.get_or_create_feature_view(name="view", query=fg.select_all(), version=1, labels=["x"])
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({}))
    mr = project.get_model_registry()
    mr.python.create_model("m", feature_view=fv, training_dataset_version=1).save(str(folder))
    model = mr.get_model("m", version=1)
    assert not hasattr(model, "feature_view_name") and not hasattr(model, "feature_view_version")
    view = model.get_feature_view(init=False)
    assert (view.name, view.version, model.training_dataset_version) == ("view", 1, 1)


def _joined_view(fs):
    weather = fs.get_or_create_feature_group("weather", version=1, primary_key=["city"], event_time="day")
    air = fs.get_or_create_feature_group("air", version=1, primary_key=["city"], event_time="day")
    weather.insert(pd.DataFrame({"city": ["a"] * 3, "day": DAYS, "temp": [1.0, 2.0, 3.0]}))
    air.insert(pd.DataFrame({"city": ["a"] * 2, "day": DAYS[:2], "pm25": [5.0, 6.0], "lag": [4.0, 5.0]}))
    query = weather.select_all().join(air.select(["pm25", "lag"]), on=["city", "day"])
    return fs.get_or_create_feature_view(name="joined", query=query, version=1, labels=["pm25"])


def test_training_and_batch_data_carry_the_joined_groups_keys_under_qualified_names(project):
    fv = _joined_view(project.get_feature_store())
    qualified = ["local_air_1_city", "local_air_1_day"]  # <project>_<group>_<version>_<key>, as in hsfs
    x, y = fv.training_data(primary_key=True, event_time=True)
    assert list(x.columns) == ["city", "day", "temp", "lag", *qualified] and list(y.columns) == ["pm25"]
    # The joined group's key is its matched row's key: missing where the point-in-time join found none.
    assert list(x["local_air_1_city"].isna()) == [False, False, True]
    assert list(fv.get_batch_data(primary_key=True).columns) == ["city", "temp", "lag", "local_air_1_city"]
    assert list(fv.get_batch_data().columns) == ["temp", "lag"]
    version, _ = fv.create_train_test_split(train_end="2024-01-03", test_start="2024-01-03")
    x_train, *_ = fv.get_train_test_split(version, primary_key=True, event_time=True)
    assert list(x_train.columns) == list(x.columns)


def test_model_tags_need_a_schema_only_an_administrator_creates(project, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    mr = project.get_model_registry()
    with pytest.raises(TagSchemaError, match="administrator"):
        mr.python.create_model("m", tags={"alias": "production"})
    model = mr.python.create_model("m").save(str(folder))
    with pytest.raises(TagSchemaError, match=r"\['alias'\]"):
        model.set_tag("alias", {"name": "production"})
    assert model.get_tags() == {} and model.get_tag("alias") is None
    create_tag_schema(project, "alias")  # the platform administrator's step
    model.set_tag("alias", {"name": "production"})
    assert mr.get_model("m", version=1).get_tag("alias") == {"name": "production"}


def test_a_views_features_are_training_dataset_features_as_in_hsfs(project):
    fv = _joined_view(project.get_feature_store())
    roles = [(f.name, f.type, f.label) for f in fv.features]
    assert roles == [
        ("city", "string", False),
        ("day", "timestamp", False),
        ("temp", "double", False),
        ("pm25", "double", True),
        ("lag", "double", False),
    ]
    assert fv.features[3].feature_group.name == "air" and fv.features[3].index == 3
