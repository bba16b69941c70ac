"""Tests of the embedded feature store and model registry (the Hopsworks API subset)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from local_hopsworks.maintenance import arrow_schema, offline_table, store_folder
from local_hopsworks.registry import ModelIntegrityError
from local_hopsworks.schema import SchemaError


def _fg(fs, name="weather", version=1, pk=("location", "date"), online=True):
    return fs.get_or_create_feature_group(
        name=name, version=version, primary_key=list(pk), event_time="date", online_enabled=online
    )


def _frame(days, value0=0.0, location="a"):
    dates = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    return pd.DataFrame({"location": location, "date": dates, "x": value0 + np.arange(days, dtype="float64")})


def test_insert_is_an_idempotent_upsert_on_key_and_event_time(project):
    fg = _fg(project.get_feature_store())
    fg.insert(_frame(5))
    fg.insert(_frame(5))
    changed = _frame(2, value0=100.0)
    fg.insert(changed)
    df = fg.read().sort_values("date", ignore_index=True)
    assert len(df) == 5
    assert df["x"].tolist() == [100.0, 101.0, 2.0, 3.0, 4.0]
    assert str(df["date"].dtype) == "datetime64[us, UTC]"


def test_duplicate_keys_in_one_insert_keep_the_last_row(project):
    fg = _fg(project.get_feature_store())
    frame = pd.concat([_frame(1), _frame(1, value0=7.0)], ignore_index=True)
    fg.insert(frame)
    assert fg.read()["x"].tolist() == [7.0]


@pytest.mark.parametrize("column", ["location", "date"])
def test_insert_without_a_key_column_names_it_and_writes_nothing(project, column):
    fg = _fg(project.get_feature_store())
    fg.insert(_frame(2))
    with pytest.raises(SchemaError, match=repr(column)):
        fg.insert(_frame(3, value0=50.0).drop(columns=[column]))
    assert fg.read().sort_values("date")["x"].tolist() == [0.0, 1.0]


def test_schema_is_enforced_on_later_inserts(project):
    fg = _fg(project.get_feature_store())
    fg.insert(_frame(2))
    with pytest.raises(SchemaError, match="'x' has type string"):
        fg.insert(_frame(1).assign(x="high"))
    with pytest.raises(SchemaError, match=r"unexpected column\(s\) \['y'\]"):
        fg.insert(_frame(1).assign(y=1.0))
    with pytest.raises(SchemaError, match=r"missing column\(s\) \['x'\]"):
        fg.insert(_frame(1).drop(columns=["x"]))
    with pytest.raises(SchemaError, match="null"):
        fg.insert(_frame(1).assign(location=None))
    assert len(fg.read()) == 2


def test_naive_and_aware_times_are_stored_in_utc(project):
    fg = _fg(project.get_feature_store(), pk=("location",))
    naive = pd.DataFrame({"location": ["n"], "date": [pd.Timestamp("2024-03-01 12:00")], "x": [1.0]})
    aware = pd.DataFrame(
        {"location": ["a"], "date": [pd.Timestamp("2024-03-01 12:00", tz="Europe/Stockholm")], "x": [2.0]}
    )
    fg.insert(naive)
    fg.insert(aware)
    df = fg.read().set_index("location")
    assert df.loc["n", "date"] == pd.Timestamp("2024-03-01 12:00", tz="UTC")
    assert df.loc["a", "date"] == pd.Timestamp("2024-03-01 11:00", tz="UTC")


def test_versions_are_separate_tables_and_latest_is_default(project):
    fs = project.get_feature_store()
    _fg(fs, version=1).insert(_frame(3))
    _fg(fs, version=2).insert(_frame(1))
    assert fs.get_feature_group("weather").version == 2
    assert len(fs.get_feature_group("weather", 1).read()) == 3
    with pytest.raises(ValueError, match="no feature group"):
        fs.get_feature_group("nope")
    with pytest.raises(ValueError, match="primary_key"):
        fs.get_or_create_feature_group(name="weather", version=1, primary_key=["location"], event_time="date")


def test_filters_select_and_time_range(project):
    fg = _fg(project.get_feature_store())
    fg.insert(_frame(10))
    got = fg.filter(((fg.x > 2) & (fg.x < 5)) | (fg.x == 9)).read()
    assert sorted(got["x"]) == [3.0, 4.0, 9.0]
    assert list(fg.select(["x"]).read().columns) == ["x"]
    assert list(fg.select_except(["x"]).read().columns) == ["location", "date"]
    ranged = fg.read(start_time="2024-01-03", end_time="2024-01-05")
    assert sorted(ranged["x"]) == [2.0, 3.0]
    with pytest.raises(TypeError, match="&"):
        bool(fg.x > 1)


def test_point_in_time_join_keeps_every_left_row(project):
    fs = project.get_feature_store()
    labels = fs.get_or_create_feature_group(name="labels", version=1, primary_key=["id"], event_time="t")
    feats = fs.get_or_create_feature_group(name="feats", version=1, primary_key=["id"], event_time="t")
    labels.insert(
        pd.DataFrame(
            {
                "id": [1, 1, 2],
                "t": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-01-02"], utc=True),
                "y": [1, 2, 3],
            }
        )
    )
    feats.insert(
        pd.DataFrame(
            {
                "id": [1, 1, 1, 2],
                "t": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-06", "2024-01-03"], utc=True),
                "f": [10.0, 50.0, 60.0, 30.0],
            }
        )
    )
    df = labels.select_all().join(feats.select(["f"]), on=["id"]).read().sort_values(["id", "t"])
    # Exact-time ties count (01-05 sees 50); an entity whose rows all come later gets null.
    assert df["f"].tolist()[:2] == [10.0, 50.0]
    assert np.isnan(df["f"].tolist()[2])
    assert len(df) == 3


def test_remove_rows_deletes_offline_and_online(project):
    fs = project.get_feature_store()
    fg = _fg(fs)
    fg.insert(pd.concat([_frame(3), _frame(3, location="b")], ignore_index=True))
    fv = fs.get_or_create_feature_view(name="v", version=1, query=fg.select_all())
    fv.init_serving()
    assert fv.get_feature_vector({"location": "b", "date": "2024-01-02"}) == [1.0]
    with pytest.raises(SchemaError, match=r"\['date'\] missing"):
        fg.remove_rows(pd.DataFrame({"location": ["b"]}))  # like Hopsworks: the whole primary key
    rows = fg.filter(fg.get_feature("location") == "b").read()
    assert fg.remove_rows(rows) == 3
    assert set(fg.read()["location"]) == {"a"}
    with pytest.raises(KeyError, match="no online row"):
        fv.get_feature_vector({"location": "b", "date": "2024-01-02"})


def test_online_store_heals_after_a_crash_between_offline_and_online_writes(project):
    fs = project.get_feature_store()
    fg = _fg(fs)
    fg.insert(_frame(2))
    # Simulate a writer that died after its offline commit, before its online sync.
    offline_table(fg).upsert(
        pd.DataFrame({"location": ["a"], "date": [pd.Timestamp("2024-01-09", tz="UTC")], "x": [9.0]}).pipe(
            lambda d: __import__("pyarrow").Table.from_pandas(
                d, schema=arrow_schema(fg), preserve_index=False
            )
        ),
        ["location", "date"],
    )
    fv = fs.get_or_create_feature_view(name="v", version=1, query=fg.select_all())
    fv.init_serving()  # catches up from the offline table
    assert fv.get_feature_vector({"location": "a", "date": "2024-01-09"}) == [9.0]


def test_feature_view_training_data_and_pinned_training_dataset(project):
    fs = project.get_feature_store()
    fg = _fg(fs)
    fg.insert(_frame(10))
    fv = fs.get_or_create_feature_view(name="v", version=1, query=fg.select_all(), labels=["x"])
    x, y = fv.training_data(start_time="2024-01-01", end_time="2024-01-04")
    assert len(x) == 3 and list(y.columns) == ["x"]
    assert list(x.columns) == []  # keys and event time are excluded unless asked for
    x, _ = fv.training_data(event_time=True, primary_key=True)
    assert list(x.columns) == ["location", "date"]
    version, job = fv.create_train_test_split(
        train_start="2024-01-01", train_end="2024-01-08", test_start="2024-01-08", test_end="2024-01-11"
    )
    assert job is None
    fg.insert(_frame(10, value0=1000.0))  # later inserts must not change a materialised dataset
    x_train, x_test, y_train, y_test = fv.get_train_test_split(version)
    assert len(y_train) == 7 and len(y_test) == 3
    assert y_test["x"].tolist() == [7.0, 8.0, 9.0]
    with pytest.raises(ValueError, match="overlap"):
        fv.train_test_split(train_end="2024-01-08", test_start="2024-01-05")


def test_training_data_x_and_y_are_the_callers_to_write(project):
    fs = project.get_feature_store()
    weather = _fg(fs)
    weather.insert(_frame(5))
    air = _fg(fs, name="air")
    air.insert(_frame(5, value0=100.0).rename(columns={"x": "pm25"}))
    query = air.select_all().join(weather.select(["x"]), on=["location"])
    fv = fs.get_or_create_feature_view(name="pm", version=1, query=query, labels=["pm25"])
    x, y = fv.training_data(primary_key=True, event_time=True)
    assert list(x.index) == list(range(5)) and list(y.index) == list(range(5))
    x.loc[0, "x"] = -1.0
    x["x"] *= 10
    y.loc[1, "pm25"] = -2.0
    assert x["x"].tolist() == [-10.0, 10.0, 20.0, 30.0, 40.0]
    assert y["pm25"].tolist() == [100.0, -2.0, 102.0, 103.0, 104.0]  # a write into X is not in y
    x_again, y_again = fv.training_data(primary_key=True, event_time=True)
    assert x_again["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert y_again["pm25"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_a_wide_views_x_takes_a_new_column_without_a_warning(project):
    fs = project.get_feature_store()
    wide = pd.concat([_frame(3), pd.DataFrame({f"f{i}": [float(i)] * 3 for i in range(120)})], axis=1)
    fg = _fg(fs, name="wide")
    fg.insert(wide)
    fv = fs.get_or_create_feature_view(name="wide", version=1, query=fg.select_all(), labels=["x"])
    x, _ = fv.training_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas warns on an insert into a frame of over 100 blocks
        x["extra"] = 1.0
    assert x.shape == (3, 121)


def test_feature_vector_errors_are_clear(project):
    fs = project.get_feature_store()
    fg = _fg(fs)
    fg.insert(_frame(2))
    fv = fs.get_or_create_feature_view(name="v", version=1, query=fg.select_all())
    fv.init_serving()
    with pytest.raises(ValueError, match=r"serving key\(s\) \['date'\] missing"):
        fv.get_feature_vector({"location": "a"})
    assert np.isnan(fv.get_feature_vector({"location": "zz", "date": "2024-01-01"}, allow_missing=True)[0])
    vectors = fv.get_feature_vectors(
        [{"location": "a", "date": "2024-01-01"}, {"location": "a", "date": "2024-01-02"}]
    )
    assert vectors == [[0.0], [1.0]]
    assert fv.get_feature_vector({"location": "a", "date": "2024-01-01"}, passed_features={"x": 5.0}) == [5.0]


def test_model_registry_versions_and_integrity(project, tmp_path):
    mr = project.get_model_registry()
    path = tmp_path / "m"
    path.mkdir()
    (path / "model.json").write_text(json.dumps({"w": 1}))
    first = mr.python.create_model("m", metrics={"mae": 2.0}).save(str(path))
    second = mr.python.create_model("m", metrics={"mae": 1.0}).save(str(path))
    assert (first.version, second.version) == (1, 2)
    assert mr.get_best_model("m", "mae", "min").version == 2
    assert [m.version for m in mr.get_models("m")] == [1, 2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert mr.get_model("m").version == 1  # like Hopsworks: no version means version 1
    assert "defaulting to `1`" in str(caught[0].message)
    assert mr.get_model("m", version=9) is None
    stored = store_folder(project) / "models" / "m" / "2" / "files" / "model.json"
    stored.write_text(json.dumps({"w": 666}))
    with pytest.raises(ModelIntegrityError, match="model.json: sha256 differs"):
        mr.get_model("m", version=2).download()
    assert (tmp_path / "out").exists() is False
    assert json.loads(
        (__import__("pathlib").Path(first.download(str(tmp_path / "out"))) / "model.json").read_text()
    )


def test_bad_names_and_unsupported_options_are_refused(project):
    fs = project.get_feature_store()
    with pytest.raises(ValueError, match="lowercase"):
        fs.get_or_create_feature_group(name="Bad-Name", version=1, primary_key=["id"])
    with pytest.raises(ValueError, match="version"):
        fs.get_or_create_feature_group(name="ok", version=0, primary_key=["id"])
    fg = _fg(fs)
    with pytest.raises(NotImplementedError, match="operation"):
        fg.insert(_frame(1), operation="insert")


def test_nested_join_with_unmatched_rows(project):
    fs = project.get_feature_store()
    trips = fs.get_or_create_feature_group(name="trips", version=1, primary_key=["trip"], event_time="t")
    cars = fs.get_or_create_feature_group(name="cars", version=1, primary_key=["car"], event_time="t")
    makers = fs.get_or_create_feature_group(name="makers", version=1, primary_key=["maker"], event_time="t")
    t = pd.Timestamp("2024-01-02", tz="UTC")
    trips.insert(pd.DataFrame({"trip": [1, 2], "t": [t, t], "car": [10, 99]}))
    cars.insert(pd.DataFrame({"car": [10], "t": [t], "maker": [7]}))
    makers.insert(pd.DataFrame({"maker": [7], "t": [t], "country": ["se"]}))
    # The second hop's key (maker) is null for the trip whose car is unknown.
    query = trips.select_all().join(
        cars.select(["maker"]).join(makers.select(["country"]), on=["maker"]), on=["car"]
    )
    df = query.read().sort_values("trip", ignore_index=True)
    assert df["country"].tolist()[0] == "se"
    assert pd.isna(df["country"].tolist()[1])
