"""Inference refuses, with a clear error, a model its feature view no longer fits: no silent wrong answer.

Each case changes the store under a trained model, runs the inference pipeline and checks that
it fails naming the model version and the feature view version, and that no prediction was written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from local_hopsworks import LocalProject
from support import TODAY, assert_same_state, location_settings, store_state

from {{ cookiecutter.package_name }}.catalog import FEATURE_VIEW, feature_groups
from {{ cookiecutter.package_name }}.pipelines import inference
from {{ cookiecutter.package_name }}.settings import Settings

MODEL = "pm25_xgboost"


def model_versions(root: Path) -> tuple[int, int]:
    """The newest model version and the feature view version it was trained on."""
    mr = LocalProject(root).get_model_registry()
    model = max(mr.get_models(MODEL), key=lambda m: m.version)
    return model.version, model.get_feature_view(init=False).version


def run_inference_expecting(root: Path, *fragments: str) -> str:
    before = store_state(root)
    with pytest.raises((ValueError, LookupError)) as caught:
        inference.run(location_settings(root), today=TODAY)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert_same_state(before, store_state(root))  # nothing written, predictions included
    return message


def test_feature_view_of_the_model_is_gone(store_copy: Path) -> None:
    version, fv_version = model_versions(store_copy)
    shutil.rmtree(store_copy / "feature_views" / f"{FEATURE_VIEW}_{fv_version}")
    run_inference_expecting(
        store_copy, f"model {MODEL} v{version}", f"feature view {FEATURE_VIEW} v{fv_version}", "no longer"
    )


def test_feature_view_no_longer_returns_a_feature_the_model_needs(store_copy: Path) -> None:
    version, fv_version = model_versions(store_copy)
    fs = LocalProject(store_copy).get_feature_store()
    weather, air = feature_groups(fs, fv_version)
    original = fs.get_feature_view(FEATURE_VIEW, fv_version)
    labels = original.labels
    # The view is redefined under the same version without one weather feature.
    other = fs.get_or_create_feature_view(
        name=FEATURE_VIEW,
        version=99,
        query=weather.select_except(["wind_dir_sin"]).join(
            air.select([c for c in [f.name for f in air.features] if c not in ("location", "date")]),
            on=["location", "date"],
        ),
        labels=labels,
    )
    views = store_copy / "feature_views"
    meta = json.loads((views / f"{other.name}_{other.version}" / "fv.json").read_text())
    meta["version"] = fv_version
    (views / f"{original.name}_{original.version}" / "fv.json").write_text(json.dumps(meta))
    shutil.rmtree(views / f"{other.name}_{other.version}")
    run_inference_expecting(
        store_copy, f"model {MODEL} v{version}", f"{FEATURE_VIEW} v{fv_version}", "wind_dir_sin"
    )


def test_missing_feature_values_are_refused_not_predicted(store_copy: Path) -> None:
    version, fv_version = model_versions(store_copy)
    fs = LocalProject(store_copy).get_feature_store()
    weather, _ = feature_groups(fs, fv_version)
    rows = weather.read()
    coming = rows[
        (rows["location"] == Settings(_env_file=None).location.key)
        & (rows["date"] > pd.Timestamp(TODAY, tz="UTC"))
    ].copy()
    coming.loc[coming.index[2:4], "temperature_2m_mean"] = np.nan
    # Data stored before validation existed (or with validation switched off) can still hold gaps.
    weather.insert(coming, validation_options={"run_validation": False})
    message = run_inference_expecting(
        store_copy,
        f"model {MODEL} v{version}",
        f"feature view {FEATURE_VIEW} v{fv_version}",
        "temperature_2m_mean",
    )
    assert "no prediction made" in message and str(coming["date"].iloc[2].date()) in message
