"""The model in one place: loading it from the registry (checked by sha256) and forecasting with it."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from .features import air_quality

MODEL_FILE = "model.json"
HISTORY_DAYS = 14  # days of PM2.5 before the first forecast day that the forecast reads (lags need 7)


class ModelIntegrityError(RuntimeError):
    """A downloaded model file differs from the sha256 recorded when the model was registered."""


def linked_view(meta: Any, **options: Any) -> Any:
    """Return ``meta.get_feature_view(**options)``; raise LookupError if the model is linked to none."""
    if (view := meta.get_feature_view(**options)) is None:
        raise LookupError(f"model {meta.name} v{meta.version} is not linked to a feature view")
    return view


def feature_view_of(model: Any) -> tuple[str, int]:
    """Return (name, version) of the feature view a registered model was trained on."""
    # The SDK's Model knows its view only through provenance; init=False skips setting it up for reading.
    view = linked_view(model, init=False)
    return str(view.name), int(view.version)


def file_hashes(folder: Path) -> dict[str, str]:
    """Return the sha256 of every file under ``folder``, by relative POSIX path."""
    files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


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

    @property
    def feature_view_label(self) -> str:
        """Return the feature view as people read it: ``name vN``."""
        return "{} v{}".format(*self.feature_view)

    def scoring_view(self, **options: Any) -> Any:
        """Return the feature view the model was trained on, set up for reading (``get_feature_view``)."""
        return linked_view(self.meta, **options)

    def predict(self, features: pd.DataFrame) -> Any:
        """Predict with columns in the model's own order; raise naming missing features or values."""
        what = f"model {self.meta.name} v{self.version} (feature view {self.feature_view_label})"
        if missing := [f for f in self.feature_names if f not in features.columns]:
            raise ValueError(f"{what} needs feature(s) {missing} that the feature view did not return")
        # Lags may be unknown (missing days; the model was trained with gaps). Any other feature missing
        # would make XGBoost silently take its "missing" branch: refuse instead of predicting wrongly.
        empty = features[[f for f in self.feature_names if f not in air_quality.ALL_LAG_FEATURES]].isna()
        if (rows := empty.any(axis=1).to_numpy()).any():
            where = (features["date"] if "date" in features.columns else features.index.to_series())[rows]
            days = ", ".join(str(day)[:10] for day in where.head(5))
            raise ValueError(
                f"{what}: feature(s) {sorted(empty.columns[empty.any()])} missing for {int(rows.sum())} "
                f"row(s) ({days}); no prediction made"
            )
        return self.booster.inplace_predict(features[self.feature_names].astype("float64"))


def load_model(
    mr: Any, name: str, version: int | None = None, expected_sha256: dict[str, str] | None = None
) -> LoadedModel:
    """Download a version (default: the newest), check its files against ``expected_sha256``, load it."""
    import xgboost as xgb

    if version is None:
        if not (models := mr.get_models(name)):
            raise LookupError(f"no model named {name!r} in the registry: run the training pipeline first")
        version = max(int(m.version) for m in models)
    if (meta := mr.get_model(name, version=version)) is None:
        raise LookupError(f"model {name!r} has no version {version}")
    # A private temporary folder, removed once the files are read: loads leave no copies behind.
    with tempfile.TemporaryDirectory(prefix="model-load-") as tmp:
        folder = Path(meta.download(tmp))
        found = file_hashes(folder) if expected_sha256 else {}
        problems = [
            f"{file}: {'missing' if file not in found else 'sha256 differs from registration'}"
            for file, digest in sorted((expected_sha256 or {}).items())
            if found.get(file) != digest
        ]
        if problems:
            raise ModelIntegrityError(
                f"model {name} version {version} failed its integrity check: " + "; ".join(problems)
            )
        booster = xgb.Booster(model_file=folder / MODEL_FILE)
        names = booster.feature_names or json.loads((folder / "features.json").read_text())
        run_file = folder / "run.json"
        run = json.loads(run_file.read_text()) if run_file.exists() else None
    return LoadedModel(meta, booster, list(names), run)


def fill_lags(row: dict[str, Any], history: pd.Series, target: pd.Timestamp) -> dict[str, Any]:
    """Fill a row's missing lag features from a PM2.5 history (observed and predicted)."""
    newest = max(air_quality.LAG_FEATURES_BY_VERSION)
    lags = air_quality.lag_features_from_history(history, target=target, version=newest)
    # LAG_FEATURES always; the lags of later feature versions only when the row has them.
    wanted = [n for n in air_quality.ALL_LAG_FEATURES if n in air_quality.LAG_FEATURES or n in row]
    return {**row, **{n: lags[n] for n in wanted if pd.isna(row.get(n))}}


def recursive_forecast(model: LoadedModel, features: pd.DataFrame, history: pd.Series) -> pd.DataFrame:
    """Predict day by day, each prediction filling the next day's lags (``history``: observed PM2.5)."""
    history = history.copy()
    rows = []
    for record in features.sort_values("date").to_dict("records"):
        filled = fill_lags(record, history[history.index < record["date"]], record["date"])
        prediction = float(model.predict(pd.DataFrame([filled]))[0])
        history.loc[record["date"]] = prediction
        rows.append({**filled, "predicted_pm25": max(prediction, 0.0)})
    return pd.DataFrame(rows)
