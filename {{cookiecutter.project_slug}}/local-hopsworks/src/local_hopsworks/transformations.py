"""Transformation functions: ``@udf`` and the built-in scalers and encoders, as in Hopsworks.

Model-dependent transformations are attached to a feature view. Their statistics (min, max,
mean, standard deviation, unique values) are fitted on the training split and stored with
the training dataset, then the same fitted functions run in ``get_batch_data`` and
``get_feature_vector(s)``, so offline and online features are transformed identically.

On-demand transformations are attached to a feature group: they are computed on insert and
stored offline, and computed again at serving time from ``request_parameters``.

A custom ``@udf`` must be a module-level function so the feature view can find it again by
module and name when it is loaded in another process.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

RESERVED = ("statistics", "context")


@dataclass
class FeatureStatistics:
    """Statistics of one feature on the training split."""

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std_dev: float | None = None
    unique_values: list[Any] = field(default_factory=list)

    @classmethod
    def fit(cls, series: pd.Series) -> FeatureStatistics:
        """Return the statistics of ``series`` (nulls ignored)."""
        values = series.dropna()
        numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)

        def number(value: Any) -> float | None:
            return None if value is None or pd.isna(value) else float(value)

        uniques = sorted({v.item() if isinstance(v, np.generic) else v for v in values.tolist()}, key=repr)
        return cls(
            min=number(values.min()) if numeric and len(values) else None,
            max=number(values.max()) if numeric and len(values) else None,
            mean=number(values.mean()) if numeric and len(values) else None,
            std_dev=number(values.std(ddof=0)) if numeric and len(values) else None,
            unique_values=uniques if len(uniques) <= 10_000 else [],
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the statistics as JSON-ready data."""
        return {
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std_dev": self.std_dev,
            "unique_values": self.unique_values,
        }


class TransformationStatistics:
    """Statistics by argument name: ``statistics.feature.min`` inside a udf."""

    def __init__(self, *names: str, values: dict[str, FeatureStatistics] | None = None) -> None:
        self._names = names
        self._values = values or {}

    def __getattr__(self, name: str) -> FeatureStatistics:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"no statistics for {name!r}")


class Udf:
    """A transformation function: a Python function plus the features it is bound to."""

    def __init__(
        self,
        func: Callable[..., Any],
        return_type: Any,
        drop: list[str] | None = None,
        mode: str = "default",
        builtin: bool = False,
    ) -> None:
        if mode not in ("default", "pandas", "python"):
            raise ValueError(f"udf mode must be 'default', 'pandas' or 'python', got {mode!r}")
        self.func = func
        self.return_type = return_type
        self.mode = mode
        self.builtin = builtin
        params = [p for p in inspect.signature(func).parameters if p not in RESERVED]
        self._params = params
        self._drop = list(drop or [])
        unknown = [d for d in self._drop if d not in params]
        if unknown:
            raise ValueError(f"udf {func.__name__}: drop={unknown} are not arguments of the function")
        self.transformation_features: list[str] = list(params)
        self.needs_statistics = "statistics" in inspect.signature(func).parameters
        self.transformation_context: dict[str, Any] | None = None

    @property
    def function_name(self) -> str:
        return self.func.__name__

    def __call__(self, *features: Any) -> Udf:
        """Return a copy bound to the given feature names (strings or Feature objects)."""
        if len(features) != len(self._params):
            raise ValueError(
                f"udf {self.function_name} takes {len(self._params)} feature(s) {self._params}, "
                f"got {len(features)}"
            )
        bound = copy.copy(self)
        bound.transformation_features = [getattr(f, "name", f) for f in features]
        return bound

    def __repr__(self) -> str:
        return f"udf {self.function_name}({', '.join(self.transformation_features)})"

    @property
    def dropped_features(self) -> list[str]:
        """Return the bound names of the features this function drops."""
        return [self.transformation_features[self._params.index(d)] for d in self._drop]

    def output_column_names(self, on_demand: bool = False) -> list[str]:
        """Return the output column names, by Hopsworks' rule."""
        name = self.function_name
        if name in self.transformation_features and name not in self.dropped_features:
            return [name]  # the function replaces the feature of the same name
        return [name if on_demand else f"{name}_{'_'.join(self.transformation_features)}_"]

    def execute(
        self,
        frame: pd.DataFrame,
        statistics: dict[str, dict[str, Any]] | None = None,
        on_demand: bool = False,
    ) -> pd.DataFrame:
        """Return the output columns computed from ``frame``."""
        missing = [f for f in self.transformation_features if f not in frame.columns]
        if missing:
            raise ValueError(f"transformation {self!r} needs column(s) {missing} that are not in the data")
        kwargs: dict[str, Any] = {}
        if self.needs_statistics:
            if statistics is None:
                raise ValueError(
                    f"transformation {self!r} needs training statistics: pass training_dataset_version to "
                    "init_batch_scoring/init_serving (or create a training dataset first)"
                )
            values = {
                param: FeatureStatistics(**statistics[feature])
                for param, feature in zip(self._params, self.transformation_features, strict=True)
            }
            kwargs["statistics"] = TransformationStatistics(*self._params, values=values)
        if "context" in inspect.signature(self.func).parameters:
            kwargs["context"] = self.transformation_context
        inputs = [frame[f] for f in self.transformation_features]
        if self.mode == "python":
            result = pd.Series(
                [self.func(*row, **kwargs) for row in zip(*inputs, strict=True)],
                index=frame.index,
                dtype=object,
            )
        else:
            result = self.func(*inputs, **kwargs)
        names = self.output_column_names(on_demand)
        if isinstance(result, pd.DataFrame):
            result.columns = names if len(names) == result.shape[1] else list(result.columns)
            return result
        out = pd.Series(result, index=frame.index)
        if self.return_type in (float, "float", "double"):
            out = out.astype("float64")
        return out.to_frame(names[0])

    def to_dict(self) -> dict[str, Any]:
        """Return how to find this function again, and what it is bound to."""
        module, qualname = self.func.__module__, self.func.__qualname__
        if "<locals>" in qualname or "<lambda>" in qualname:
            raise ValueError(
                f"udf {self.function_name} is defined inside a function: define it at module level "
                "so it can be loaded again with the feature view"
            )
        return {"module": module, "name": qualname, "features": self.transformation_features}


def udf(return_type: Any, drop: str | list[str] | None = None, mode: str = "default") -> Callable[..., Udf]:
    """Turn a function into a transformation function (``@udf(float)``), as ``hopsworks.udf`` does."""

    def wrap(func: Callable[..., Any]) -> Udf:
        return Udf(func, return_type, [drop] if isinstance(drop, str) else drop, mode)

    return wrap


def udf_from_dict(data: dict[str, Any]) -> Udf:
    """Load a transformation function saved with ``to_dict``."""
    try:
        target: Any = importlib.import_module(data["module"])
        for part in data["name"].split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(
            f"cannot load transformation function {data['module']}.{data['name']}: {exc}"
        ) from exc
    if not isinstance(target, Udf):
        raise ValueError(f"{data['module']}.{data['name']} is not a @udf transformation function")
    return target(*data["features"])


def fit_statistics(frame: pd.DataFrame, functions: list[Udf]) -> dict[str, dict[str, Any]]:
    """Return the statistics every function needs, fitted on ``frame``."""
    needed = {f for fn in functions if fn.needs_statistics for f in fn.transformation_features}
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ValueError(f"transformation input(s) {missing} are not columns of the feature view")
    return {name: FeatureStatistics.fit(frame[name]).to_dict() for name in sorted(needed)}


def apply_transformations(
    frame: pd.DataFrame, functions: list[Udf], statistics: dict[str, dict[str, Any]] | None
) -> pd.DataFrame:
    """Return ``frame`` with every function's outputs added and its dropped inputs removed."""
    if not functions:
        return frame
    out = frame.copy()
    dropped: list[str] = []
    for fn in functions:
        result = fn.execute(frame, statistics)
        for column in result.columns:
            out[column] = result[column].to_numpy()
        dropped += [d for d in fn.dropped_features if d not in result.columns]
    return out.drop(columns=[d for d in dict.fromkeys(dropped) if d in out.columns])


# -- built-ins: the same definitions as hopsworks.hsfs.builtin_transformations ------------------------


def _min_max_scaler(feature: pd.Series, statistics: Any = None) -> pd.Series:
    min_val, max_val = statistics.feature.min, statistics.feature.max
    if min_val is None or max_val is None or max_val == min_val:
        return feature - (min_val if min_val is not None else 0)
    return (feature - min_val) / (max_val - min_val)


def _standard_scaler(feature: pd.Series, statistics: Any = None) -> pd.Series:
    mean, stddev = statistics.feature.mean, statistics.feature.std_dev
    if mean is None:
        return feature
    if stddev is None or stddev == 0:
        return feature - mean
    return (feature - mean) / stddev


def _label_encoder(feature: pd.Series, statistics: Any = None) -> pd.Series:
    value_to_index = {
        value: index for index, value in enumerate(sorted(statistics.feature.unique_values, key=repr))
    }
    # Categories unseen in training are encoded as -1.
    return pd.Series(
        [value_to_index.get(v, -1) if not pd.isna(v) else pd.NA for v in feature],
        dtype="Int64",
        index=feature.index,
    )


for _f, _name in (
    (_min_max_scaler, "min_max_scaler"),
    (_standard_scaler, "standard_scaler"),
    (_label_encoder, "label_encoder"),
):
    _f.__name__ = _f.__qualname__ = _name

min_max_scaler = Udf(_min_max_scaler, float, drop=["feature"], builtin=True)
standard_scaler = Udf(_standard_scaler, float, drop=["feature"], builtin=True)
label_encoder = Udf(_label_encoder, int, drop=["feature"], mode="pandas", builtin=True)
BUILTINS = {
    "min_max_scaler": min_max_scaler,
    "standard_scaler": standard_scaler,
    "label_encoder": label_encoder,
}
