"""The local model registry: versioned folders with a metadata JSON and sha256 of every file."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .feature_group import check_name, write_json_atomic
from .timeutil import utc_now

if TYPE_CHECKING:
    from .feature_store import FeatureStore
    from .feature_view import FeatureView

log = logging.getLogger(__name__)
DEFAULT_VERSION = 1  # what Hopsworks' get_model(name) returns when no version is given


def _alive(pid: int) -> bool:
    """Return whether a process ``pid`` exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ModelIntegrityError(RuntimeError):
    """A stored model file does not match the sha256 recorded when it was registered."""


class TagSchemaError(RuntimeError):
    """A tag was set whose schema does not exist: on Hopsworks only an administrator creates schemas."""


TAG_SCHEMAS_FILE = "tag_schemas.json"  # what a Hopsworks administrator defines, kept beside the store


def _check_tag_schemas(registry: ModelRegistry, names: Any) -> None:
    """Raise ``TagSchemaError`` unless every tag name has a schema (as the Hopsworks server requires)."""
    path = registry._root.parent / TAG_SCHEMAS_FILE
    schemas = set(json.loads(path.read_text())) if path.exists() else set()
    missing = sorted(set(names) - schemas)
    if missing:
        raise TagSchemaError(
            f"tag schema(s) {missing} do not exist: on Hopsworks only a platform administrator can create "
            f"tag schemas, so a project cannot rely on them (locally they are listed in {path})"
        )


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class Model:
    """A model version: its files, metrics and the feature view it was trained on."""

    def __init__(self, registry: ModelRegistry, meta: dict[str, Any]) -> None:
        self._registry = registry
        self._meta = meta

    @property
    def name(self) -> str:
        return self._meta["name"]

    @property
    def version(self) -> int | None:
        return self._meta.get("version")

    @property
    def description(self) -> str:
        return self._meta.get("description") or ""

    @property
    def training_metrics(self) -> dict[str, Any]:
        return dict(self._meta.get("metrics") or {})

    @property
    def training_dataset_version(self) -> int | None:
        return self._meta.get("training_dataset_version")

    @property
    def created(self) -> str | None:
        return self._meta.get("created")

    @property
    def input_example(self) -> Any:
        return self._meta.get("input_example")

    @property
    def model_schema(self) -> Any:
        return self._meta.get("model_schema")

    def _files(self) -> dict[str, str]:
        return dict(self._meta.get("files") or {})

    def _path(self) -> Path:
        if self.version is None:
            raise ValueError(f"model {self.name} is not saved yet")
        return self._registry._model_path(self.name, self.version)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, version={self.version})"

    def save(
        self,
        model_path: str | Path,
        await_registration: int = 480,
        keep_original_files: bool = False,
        upload_configuration: dict[str, Any] | None = None,
    ) -> Model:
        """Copy a file or folder into the registry as a new version; return this model.

        Args:
            model_path: The model file or a folder of files (plots, schema, ...).
            await_registration: Ignored locally: registration is synchronous.
            keep_original_files: Ignored locally: the originals are always kept.
            upload_configuration: Ignored locally.

        Returns:
            This model, now with its version.

        Raises:
            FileNotFoundError: If ``model_path`` does not exist.
            ValueError: If the requested version exists already.
        """
        source = Path(model_path)
        if not source.exists():
            raise FileNotFoundError(f"model_path {source} does not exist")
        folder, version = self._registry._reserve(self.name, self._meta.get("version"))
        # Everything is written into a private folder, renamed onto the reserved (empty) version
        # folder last: a save killed at any point leaves no version with files but no metadata.
        partial = self._registry._partial_path(self.name, version)
        try:
            files_dir = partial / "files"
            if source.is_dir():
                shutil.copytree(source, files_dir)
            else:
                files_dir.mkdir(parents=True)
                shutil.copy2(source, files_dir / source.name)
            hashes = {
                p.relative_to(files_dir).as_posix(): sha256_file(p)
                for p in sorted(files_dir.rglob("*"))
                if p.is_file()
            }
            self._meta.update(version=version, files=hashes, created=utc_now().isoformat())
            write_json_atomic(partial / "model.json", _jsonable(self._meta))
            os.replace(partial, folder)  # POSIX: atomic onto an empty directory
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self

    def _verify(self) -> None:
        """Check every stored file against its registered sha256.

        Raises:
            ModelIntegrityError: If a file is missing, changed or added.
        """
        files_dir = self._path() / "files"
        found = {p.relative_to(files_dir).as_posix() for p in files_dir.rglob("*") if p.is_file()}
        expected = self._files()
        problems = [f"{n}: missing" for n in sorted(set(expected) - found)]
        problems += [f"{n}: not registered" for n in sorted(found - set(expected))]
        problems += [
            f"{n}: sha256 differs from registration"
            for n in sorted(set(expected) & found)
            if sha256_file(files_dir / n) != expected[n]
        ]
        if problems:
            raise ModelIntegrityError(
                f"model {self.name} version {self.version} failed its integrity check: " + "; ".join(problems)
            )

    def download(self, local_path: str | Path | None = None) -> str:
        """Verify the files and copy them to ``local_path`` (a new temp folder by default); return it."""
        self._verify()
        target = (
            Path(local_path) if local_path is not None else Path(tempfile.mkdtemp(prefix=f"{self.name}_"))
        )
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self._path() / "files", target, dirs_exist_ok=True)
        return str(target)

    def get_feature_view(self, init: bool = True, online: bool = False) -> FeatureView | None:
        """Return the feature view the model was trained on, ready for batch scoring (and serving)."""
        lineage = self._meta.get("feature_view") or {}
        if lineage.get("name") is None:
            return None
        fs = self._registry._feature_store
        try:
            fv = fs.get_feature_view(lineage["name"], lineage["version"])
        except ValueError as exc:
            raise ValueError(
                f"model {self.name} v{self.version} was trained on feature view {lineage['name']} "
                f"v{lineage['version']}, which the store no longer has: {exc}"
            ) from exc
        if init:
            fv.init_batch_scoring(self.training_dataset_version)
            if online:
                fv.init_serving(self.training_dataset_version)
        return fv

    def set_tag(self, name: str, value: Any) -> None:
        """Attach a JSON-serialisable tag to the model version (its tag schema must exist).

        Raises:
            TagSchemaError: If no administrator created a tag schema called ``name``.
        """
        _check_tag_schemas(self._registry, [name])
        self._registry._update_meta(
            self, lambda meta: meta.setdefault("tags", {}).__setitem__(name, _jsonable(value))
        )

    def get_tag(self, name: str) -> Any:
        """Return a tag's value, or None."""
        return (self._meta.get("tags") or {}).get(name)

    def get_tags(self) -> dict[str, Any]:
        """Return every tag."""
        return dict(self._meta.get("tags") or {})

    def delete_tag(self, name: str) -> None:
        """Remove a tag."""
        self._registry._update_meta(self, lambda meta: (meta.get("tags") or {}).pop(name, None))

    def delete(self) -> None:
        """Delete this model version."""
        shutil.rmtree(self._path(), ignore_errors=True)


class ModelApi:
    """The ``mr.python`` / ``mr.sklearn`` entry point that creates model handles."""

    def __init__(self, registry: ModelRegistry, framework: str) -> None:
        self._registry = registry
        self._framework = framework

    def create_model(
        self,
        name: str,
        version: int | None = None,
        metrics: dict[str, Any] | None = None,
        description: str | None = None,
        input_example: Any = None,
        model_schema: Any = None,
        feature_view: FeatureView | None = None,
        training_dataset_version: int | None = None,
        tags: Any = None,
    ) -> Model:
        """Return an unsaved model handle; ``save()`` registers it.

        Raises:
            ValueError: For a bad name or version, or non-numeric metrics.
        """
        check_name("model", name, version if version is not None else 1)
        if isinstance(tags, dict):
            _check_tag_schemas(self._registry, tags)
        for key, value in (metrics or {}).items():
            if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
                raise ValueError(f"metric {key!r} must be a number, got {value!r}")
        if isinstance(input_example, pd.DataFrame):
            input_example = input_example.head(1).to_dict(orient="records")
        elif isinstance(input_example, (pd.Series, np.ndarray)):
            input_example = input_example.tolist()
        if model_schema is not None and hasattr(model_schema, "to_dict"):
            model_schema = model_schema.to_dict()
        meta = {
            "name": name,
            "version": version,
            "framework": self._framework,
            "metrics": _jsonable(dict(metrics or {})),
            "description": description or "",
            "input_example": _jsonable(input_example),
            "model_schema": _jsonable(model_schema),
            "feature_view": None
            if feature_view is None
            else {"name": feature_view.name, "version": feature_view.version},
            "training_dataset_version": training_dataset_version,
            "tags": _jsonable(dict(tags)) if isinstance(tags, dict) else {},
        }
        return Model(self._registry, meta)


class ModelRegistry:
    """Model versions kept under ``<store>/models/<name>/<version>/``."""

    def __init__(self, root: Path, feature_store: FeatureStore) -> None:
        self._root = Path(root)
        self._feature_store = feature_store
        self.python = ModelApi(self, "python")
        self.sklearn = ModelApi(self, "sklearn")

    def _model_path(self, name: str, version: int) -> Path:
        """Return a version's folder (the name is checked: it is a path component)."""
        check_name("model", name, int(version))
        return self._root / name / str(version)

    def _partial_path(self, name: str, version: int) -> Path:
        """Return the private folder a save of ``version`` writes into (named by this process)."""
        return self._root / name / f".{version}.partial-{os.getpid()}"

    def _clean_partials(self, name: str) -> None:
        """Remove what saves killed mid-way left: their private folders and reserved empty versions."""
        for partial in (self._root / name).glob(".*.partial-*"):
            pid = int(partial.name.rsplit("-", 1)[1])
            if pid != os.getpid() and _alive(pid):
                continue  # another process is saving right now
            shutil.rmtree(partial, ignore_errors=True)
            reserved = self._root / name / partial.name[1:].split(".", 1)[0]
            if reserved.is_dir() and not any(reserved.iterdir()):
                reserved.rmdir()

    def _reserve(self, name: str, version: int | None) -> tuple[Path, int]:
        """Create the folder of a new version atomically; return it and the version number."""
        check_name("model", name, version if version is not None else 1)
        (self._root / name).mkdir(parents=True, exist_ok=True)
        self._clean_partials(name)
        if version is not None:
            folder = self._model_path(name, version)
            try:
                folder.mkdir()
            except FileExistsError:
                raise ValueError(f"model {name} version {version} exists already") from None
            return folder, version
        candidate = 1 + max(self._versions(name, complete=False), default=0)
        while True:
            folder = self._model_path(name, candidate)
            try:
                folder.mkdir()  # atomic: two concurrent saves get different versions
                return folder, candidate
            except FileExistsError:
                candidate += 1

    def _versions(self, name: str, complete: bool = True) -> list[int]:
        check_name("model", name, 1)
        folder = self._root / name
        if not folder.exists():
            return []
        return sorted(
            int(p.name)
            for p in folder.iterdir()
            if p.name.isdigit() and (not complete or (p / "model.json").exists())
        )

    def _load(self, name: str, version: int) -> Model | None:
        """Return a saved version, or None when it does not exist.

        Raises:
            ValueError: If its metadata file is unreadable (the error names the file).
        """
        path = self._model_path(name, version) / "model.json"
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict) or meta.get("name") != name or meta.get("version") != version:
                raise ValueError(f"it describes {meta.get('name') if isinstance(meta, dict) else meta!r}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"model {name} version {version}: metadata file {path} is unreadable: {exc}"
            ) from None
        return Model(self, meta)

    def _update_meta(self, model: Model, change: Any) -> None:
        """Apply ``change`` to a saved model's metadata and write it back atomically."""
        path = model._path() / "model.json"
        meta = json.loads(path.read_text())
        change(meta)
        write_json_atomic(path, meta)
        model._meta = meta

    def get_model(self, name: str, version: int | None = None) -> Model | None:
        """Return a model version, or None if it does not exist.

        As in Hopsworks, no version means version 1 (with a warning): pass the version
        you mean, or use ``get_models``/``get_best_model``.
        """
        if version is None:
            warnings.warn(
                f"No version provided for getting model `{name}`, defaulting to `{DEFAULT_VERSION}`.",
                stacklevel=2,
            )
            version = DEFAULT_VERSION
        return self._load(name, version)

    def get_models(self, name: str) -> list[Model]:
        """Return every saved version of a model, oldest first."""
        models = []
        for version in self._versions(name):
            try:
                model = self._load(name, version)
            except ValueError as exc:  # the server lists only what it can read: skip it, say which
                log.warning("skipping %s", exc)
                continue
            if model is not None:
                models.append(model)
        return models

    def get_best_model(self, name: str, metric: str, direction: str) -> Model | None:
        """Return the version with the best value of ``metric`` ("max" or "min")."""
        if direction not in ("max", "min"):
            raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
        scored = [
            m for m in self.get_models(name) if isinstance(m.training_metrics.get(metric), (int, float))
        ]
        if not scored:
            return None
        pick = max if direction == "max" else min
        return pick(scored, key=lambda m: m.training_metrics[metric])
