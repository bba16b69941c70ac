"""One contract for the store API, run against every backend that can be reached.

The embedded store always runs. Hopsworks runs when HOPSWORKS_API_KEY is set (and the
``hopsworks`` extra is installed); otherwise its cases are skipped with that reason. The
pipelines rely on exactly these behaviours, so a backend that passes can run them.
"""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect

WRITE = {"wait_for_job": True}  # Hopsworks materialises offline data in a job: wait for it


@pytest.fixture(params=["local", "hopsworks"])
def project(request, tmp_path):
    """Return a project on each backend (Hopsworks only with a key)."""
    if request.param == "hopsworks":
        if not os.environ.get("HOPSWORKS_API_KEY"):
            pytest.skip("HOPSWORKS_API_KEY is not set: the contract runs on the embedded store only")
        pytest.importorskip("hopsworks", reason="the hopsworks extra is not installed")
        return connect(Settings(store_backend="hopsworks"))
    return connect(Settings(_env_file=None, store_dir=tmp_path / "store"))


@pytest.fixture
def names():
    """Return unique names, so runs against a shared Hopsworks project never collide."""
    suffix = uuid.uuid4().hex[:8]
    return {"a": f"contract_a_{suffix}", "b": f"contract_b_{suffix}", "fv": f"contract_fv_{suffix}"}


def _missing_row_error(project) -> type[Exception]:
    """Return what each backend raises for a key with no online row (without allow_missing)."""
    if type(project).__module__.startswith("local_hopsworks"):
        return KeyError
    from hsfs.client.exceptions import FeatureStoreException

    return FeatureStoreException


def _groups(fs, names):
    a = fs.get_or_create_feature_group(
        name=names["a"], version=1, primary_key=["id"], event_time="t", online_enabled=True
    )
    b = fs.get_or_create_feature_group(
        name=names["b"], version=1, primary_key=["id"], event_time="t", online_enabled=True
    )
    t = pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-05"], utc=True)
    a.insert(pd.DataFrame({"id": [1, 1, 2], "t": t, "label": [10.0, 11.0, 20.0]}), write_options=WRITE)
    b.insert(pd.DataFrame({"id": [1, 1, 2], "t": t, "f": [1.0, 2.0, 3.0]}), write_options=WRITE)
    return a, b


def test_insert_read_and_upsert(project, names):
    fs = project.get_feature_store()
    a, _ = _groups(fs, names)
    again = pd.DataFrame({"id": [1], "t": pd.to_datetime(["2024-01-01"], utc=True), "label": [99.0]})
    a.insert(again, write_options=WRITE)
    df = a.read().sort_values(["id", "t"], ignore_index=True)
    assert df["label"].tolist() == [99.0, 11.0, 20.0]
    assert fs.get_feature_group(names["a"], version=1).primary_key == ["id"]


def test_point_in_time_join_training_batch_and_online(project, names):
    fs = project.get_feature_store()
    a, b = _groups(fs, names)
    late = pd.DataFrame({"id": [2], "t": pd.to_datetime(["2024-01-06"], utc=True), "f": [30.0]})
    b.insert(late, write_options=WRITE)
    query = a.select_all().join(b.select(["f"]), on=["id"])
    fv = fs.get_or_create_feature_view(name=names["fv"], version=1, query=query, labels=["label"])
    x, y = fv.training_data(event_time=True, primary_key=True)
    got = pd.concat([x, y], axis=1).sort_values(["id", "t"], ignore_index=True)
    assert got["f"].tolist() == [1.0, 2.0, 3.0]  # the 01-06 row comes after every label time
    batch = fv.get_batch_data(start_time="2024-01-02", end_time="2024-01-06")
    assert sorted(batch["f"]) == [2.0, 3.0]
    fv.init_serving()
    assert fv.get_feature_vector({"id": 2}) == [30.0]  # online: the latest row per key
    with pytest.raises(_missing_row_error(project)):
        fv.get_feature_vector({"id": 404})


def test_model_round_trip(project, names, tmp_path):
    mr = project.get_model_registry()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"w": [1, 2]}))
    model = mr.python.create_model(name=names["fv"], metrics={"mae": 1.5}, description="contract")
    model.save(str(folder))
    version = model.version
    again = mr.get_model(names["fv"], version=version)
    assert again.training_metrics["mae"] == pytest.approx(1.5)
    path = again.download()
    assert json.loads((__import__("pathlib").Path(path) / "model.json").read_text()) == {"w": [1, 2]}
    assert np.isclose(mr.get_best_model(names["fv"], "mae", "min").training_metrics["mae"], 1.5)
