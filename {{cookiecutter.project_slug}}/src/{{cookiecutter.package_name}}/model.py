"""The model in one place: loading it from the registry (checked by sha256) and forecasting with it."""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .features.air_quality import (
    ALL_LAG_FEATURES,
    LAG_FEATURES,
    LAG_FEATURES_BY_VERSION,
    lag_features_from_history,
)

MODEL_FILE = "model.json"
HISTORY_DAYS = 14  # days of PM2.5 before the first forecast day that the forecast reads (lags need 7)


class ModelIntegrityError(RuntimeError):
    """A downloaded model file differs from the sha256 recorded when the model was registered."""


def feature_view_of(model: Any) -> tuple[str, int]:
    """Return (name, version) of the feature view a registered model was trained on.

    The SDK's Model knows its view only through provenance (``get_feature_view()``), not as attributes;
    ``init=False`` skips setting the view up for scoring, which only the name and version do not need.

    Raises:
        LookupError: If the model is linked to no (accessible) feature view.
    """
    view = model.get_feature_view(init=False)
    if view is None:
        raise LookupError(f"model {model.name} v{model.version} is not linked to a feature view")
    return str(view.name), int(view.version)


def file_hashes(folder: Path) -> dict[str, str]:
    """Return the sha256 of every file under ``folder``, by relative POSIX path."""
    hashes = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
        hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


@dataclass
class LoadedModel:
    """A registered model, loaded and checked, with what it needs to score."""

    meta: Any
    booster: Any
    feature_names: list[str]
    run: dict[str, Any] | None = None  # the version's run.json (data window, parameters), if it has one

    @property
    def version(self) -> int:
        return int(self.meta.version)

    @cached_property
    def feature_view(self) -> tuple[str, int]:
        """Return (name, version) of the model's feature view, asked of the registry once."""
        return feature_view_of(self.meta)

    def scoring_view(self, **options: Any) -> Any:
        """Return the feature view the model was trained on, set up for reading (``get_feature_view``).

        Raises:
            LookupError: If the model is linked to no (accessible) feature view.
        """
        fv = self.meta.get_feature_view(**options)
        if fv is None:
            raise LookupError(f"model {self.meta.name} v{self.version} is not linked to a feature view")
        return fv

    @property
    def feature_view_label(self) -> str:
        """Return the feature view as people read it: ``name vN``."""
        name, version = self.feature_view
        return f"{name} v{version}"

    def predict(self, features: pd.DataFrame) -> Any:
        """Predict with columns in the model's own order; raise naming missing features or values."""
        missing = [f for f in self.feature_names if f not in features.columns]
        if missing:
            raise ValueError(
                f"model {self.meta.name} v{self.version} needs feature(s) {missing} that the feature view "
                f"{self.feature_view_label} did not return"
            )
        # Lags may be unknown (missing days; the model was trained with gaps). Any other feature missing
        # would make XGBoost silently take its "missing" branch: refuse instead of predicting wrongly.
        required = [f for f in self.feature_names if f not in ALL_LAG_FEATURES]
        empty = features[required].isna()
        if empty.to_numpy().any():
            rows = empty.any(axis=1).to_numpy()
            where = (features["date"] if "date" in features.columns else features.index.to_series())[rows]
            days = ", ".join(str(value)[:10] for value in where.head(5))
            raise ValueError(
                f"model {self.meta.name} v{self.version} (feature view {self.feature_view_label}): "
                f"feature(s) {sorted(empty.columns[empty.any()])} "
                f"missing for {int(rows.sum())} row(s) ({days}); no prediction made"
            )
        import xgboost as xgb

        matrix = xgb.DMatrix(features[self.feature_names].astype("float64"), feature_names=self.feature_names)
        return self.booster.predict(matrix)


def latest_model_version(mr: Any, name: str) -> int:
    """Return the newest registered version of a model (by number, never a hard-coded 1)."""
    models = mr.get_models(name)
    if not models:
        raise LookupError(f"no model named {name!r} in the registry: run the training pipeline first")
    return max(int(m.version) for m in models)


def load_model(
    mr: Any, name: str, version: int | None = None, expected_sha256: dict[str, str] | None = None
) -> LoadedModel:
    """Download, verify and load a model version (the newest when ``version`` is None).

    ``expected_sha256`` (file -> sha256 recorded at registration) is checked after the download,
    on any backend; the embedded registry also checks its own record in ``download()``.

    Raises:
        ModelIntegrityError: If a registered file is missing or changed (a RuntimeError).
    """
    import xgboost as xgb

    version = version if version is not None else latest_model_version(mr, name)
    meta = mr.get_model(name, version=version)
    if meta is None:
        raise LookupError(f"model {name!r} has no version {version}")
    # A private temporary folder, removed once the files are read: loads leave no copies behind.
    with tempfile.TemporaryDirectory(prefix="model-load-") as tmp:
        folder = Path(meta.download(tmp))
        if expected_sha256:
            found = file_hashes(folder)
            problems = [
                f"{file}: {'missing' if file not in found else 'sha256 differs from registration'}"
                for file, digest in sorted(expected_sha256.items())
                if found.get(file) != digest
            ]
            if problems:
                raise ModelIntegrityError(
                    f"model {name} version {version} failed its integrity check: " + "; ".join(problems)
                )
        booster = xgb.Booster()
        booster.load_model(folder / MODEL_FILE)
        names = booster.feature_names or json.loads((folder / "features.json").read_text())
        run_file = folder / "run.json"
        run = json.loads(run_file.read_text()) if run_file.exists() else None
    return LoadedModel(meta, booster, list(names), run)


def fill_lags(row: dict[str, Any], history: pd.Series, target: pd.Timestamp) -> dict[str, Any]:
    """Fill a row's missing lag features (any feature version) from a PM2.5 history (observed and predicted).

    The ``LAG_FEATURES`` are always filled; lags of later feature versions when the row has them.
    """
    lags = lag_features_from_history(history, target=target, version=max(LAG_FEATURES_BY_VERSION))
    out = dict(row)
    for name in ALL_LAG_FEATURES:
        if name not in LAG_FEATURES and name not in out:
            continue
        value = out.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[name] = lags[name]
    return out


def recursive_forecast(model: LoadedModel, features: pd.DataFrame, history: pd.Series) -> pd.DataFrame:
    """Predict day by day, feeding each prediction into the next day's lag features.

    ``features`` has a ``date`` column and the model's features for the days to forecast
    (lags of future days are unknown, so they are NaN); ``history`` is observed PM2.5 by date.
    """
    history = history.copy()
    rows = []
    for record in features.sort_values("date").to_dict("records"):
        target = record["date"]
        filled = fill_lags(record, history[history.index < target], target)
        prediction = float(model.predict(pd.DataFrame([filled]))[0])
        history.loc[target] = prediction
        history = history.sort_index()
        rows.append({**filled, "predicted_pm25": max(prediction, 0.0)})
    return pd.DataFrame(rows)
