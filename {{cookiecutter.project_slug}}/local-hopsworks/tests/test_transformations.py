"""Transformation functions: fitted on training data, applied identically in batch and online."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from local_hopsworks.transformations import (
    label_encoder,
    min_max_scaler,
    standard_scaler,
    udf,
)


@udf(float)
def doubled(x: pd.Series) -> pd.Series:
    """Return twice the value (a custom model-dependent transformation)."""
    return x * 2


@udf(float, drop=["amount"])
def amount_in_eur(amount: pd.Series, rate: pd.Series) -> pd.Series:
    """Return the amount converted with a rate given at request time (an on-demand feature)."""
    return amount * rate


def _store(project):
    fs = project.get_feature_store()
    fg = fs.get_or_create_feature_group(
        name="sales", version=1, primary_key=["shop"], event_time="t", online_enabled=True
    )
    fg.insert(
        pd.DataFrame(
            {
                "shop": ["a", "b", "c", "d"],
                "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], utc=True),
                "x": [0.0, 10.0, 20.0, 40.0],
                "kind": ["red", "blue", "red", "green"],
                "y": [1.0, 2.0, 3.0, 4.0],
            }
        )
    )
    return fs, fg


def test_builtins_fit_on_the_training_split_and_apply_everywhere(project):
    fs, fg = _store(project)
    fv = fs.get_or_create_feature_view(
        name="sales_view",
        version=1,
        query=fg.select_all(),
        labels=["y"],
        transformation_functions=[min_max_scaler("x"), label_encoder("kind"), doubled("x")],
    )
    version, _ = fv.create_train_test_split(train_end="2024-01-03", test_start="2024-01-03")
    x_train, x_test, _, _ = fv.get_train_test_split(version)
    # Fitted on the training rows only (x in [0, 10], kinds {blue, red}).
    assert list(x_train.columns) == ["min_max_scaler_x_", "label_encoder_kind_", "doubled_x_"]
    assert x_train["min_max_scaler_x_"].tolist() == [0.0, 1.0]
    assert x_test["min_max_scaler_x_"].tolist() == [2.0, 4.0]
    assert x_test["label_encoder_kind_"].tolist() == [1, -1]  # green was not seen in training
    fv.init_batch_scoring(version)
    batch = fv.get_batch_data(start_time="2024-01-03")
    fv.init_serving(version)
    online = fv.get_feature_vector({"shop": "d"}, return_type="pandas")
    assert batch.iloc[[1]].reset_index(drop=True).equals(online.reset_index(drop=True))
    raw = fv.get_batch_data(start_time="2024-01-03", transformed=False)
    assert raw["x"].tolist() == [20.0, 40.0]


def test_standard_scaler_in_memory_split(project):
    fs, fg = _store(project)
    fv = fs.get_or_create_feature_view(
        name="sales_view",
        version=1,
        query=fg.select(["shop", "t", "x", "y"]),
        labels=["y"],
        transformation_functions=[standard_scaler("x")],
    )
    x_train, x_test, _, _ = fv.train_test_split(train_end="2024-01-03", test_start="2024-01-03")
    assert np.allclose(x_train["standard_scaler_x_"], [-1.0, 1.0])
    assert np.allclose(x_test["standard_scaler_x_"], [3.0, 7.0])


def test_on_demand_feature_with_request_parameters(project):
    fs = project.get_feature_store()
    fg = fs.get_or_create_feature_group(
        name="orders",
        version=1,
        primary_key=["order"],
        event_time="t",
        online_enabled=True,
        transformation_functions=[amount_in_eur("amount", "rate")],
    )
    fg.insert(
        pd.DataFrame(
            {
                "order": [1, 2],
                "t": pd.to_datetime(["2024-01-01"] * 2, utc=True),
                "amount": [10.0, 20.0],
                "rate": [0.5, 2.0],
            }
        )
    )
    stored = fg.read().sort_values("order")
    assert "amount" not in stored.columns
    assert stored["amount_in_eur"].tolist() == [5.0, 40.0]
    fv = fs.get_or_create_feature_view(
        name="orders_view", version=1, query=fg.select(["rate", "amount_in_eur"])
    )
    fv.init_serving()
    assert fv.get_feature_vector({"order": 1}) == [0.5, 5.0]
    assert fv.get_feature_vector({"order": 1}, request_parameters={"amount": 100.0, "rate": 3.0}) == [
        0.5,
        300.0,
    ]
    with pytest.raises(ValueError, match=r"request parameter\(s\) \['bogus'\]"):
        fv.get_feature_vector({"order": 1}, request_parameters={"bogus": 1})


def test_bad_transformations_are_refused(project):
    fs, fg = _store(project)
    with pytest.raises(ValueError, match="not columns of the query"):
        fs.get_or_create_feature_view(
            name="bad",
            version=1,
            query=fg.select(["shop", "t", "y"]),
            transformation_functions=[min_max_scaler("x")],
        )

    @udf(float)
    def local_fn(x: pd.Series) -> pd.Series:
        return x

    with pytest.raises(ValueError, match="module level"):
        fs.get_or_create_feature_view(
            name="bad", version=2, query=fg.select_all(), transformation_functions=[local_fn("x")]
        )
    with pytest.raises(ValueError, match="takes 1 feature"):
        min_max_scaler("x", "y")
