"""The local feature store: finds, creates and validates feature groups and feature views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .feature_group import FeatureGroup, check_name, write_json_atomic
from .feature_view import FeatureView, feature_view_meta
from .locks import store_lock
from .online import OnlineStore
from .query import Query
from .timeutil import utc_now
from .transformations import Udf
from .validation import check_batch, suite_settings


def _check_group_args(
    name: str, version: int, primary_key: list[str] | None, event_time: str | None, kwargs: dict[str, Any]
) -> None:
    """Reject a bad name, version, primary key or event time, and arguments the twin does not support."""
    check_name("feature group", name, version)
    unsupported = {k: v for k, v in kwargs.items() if v not in (None, False, [], {})}
    if unsupported:
        raise NotImplementedError(
            f"get_or_create_feature_group: unsupported argument(s) {sorted(unsupported)}"
        )
    if not primary_key or not all(isinstance(k, str) and k for k in primary_key):
        raise ValueError(f"feature group {name}: primary_key must be a non-empty list of column names")
    if event_time is not None and not isinstance(event_time, str):
        raise ValueError(f"feature group {name}: event_time must be a column name")


def _feature_descriptions(features: list[Any] | None) -> dict[str, str]:
    """Return name -> description for features given as ``Feature`` objects or dicts."""
    descriptions = {}
    for f in features or []:
        fname = f["name"] if isinstance(f, dict) else f.name
        descriptions[fname] = (f.get("description") if isinstance(f, dict) else f.description) or ""
    return descriptions


class FeatureStore:
    """Feature groups and feature views kept under one folder."""

    def __init__(self, root: Path, name: str = "local_featurestore") -> None:
        self._root = Path(root)
        self.name = name
        self._online = OnlineStore(self._root / "online.sqlite")

    def __repr__(self) -> str:
        return f"FeatureStore({str(self._root)!r})"

    def _fg_path(self, name: str, version: int) -> Path:
        return self._root / "feature_groups" / f"{name}_{version}"

    def _fv_path(self, name: str, version: int) -> Path:
        return self._root / "feature_views" / f"{name}_{version}"

    @staticmethod
    def _versions(folder: Path, name: str) -> list[int]:
        if not folder.exists():
            return []
        prefix = f"{name}_"
        return sorted(
            int(p.name[len(prefix) :])
            for p in folder.iterdir()
            if p.name.startswith(prefix) and p.name[len(prefix) :].isdigit()
        )

    # -- feature groups --------------------------------------------------------------------------------------
    def get_or_create_feature_group(
        self,
        name: str,
        version: int,
        description: str | None = "",
        online_enabled: bool | None = False,
        *,
        primary_key: list[str] | None = None,
        event_time: str | None = None,
        expectation_suite: Any = None,
        statistics_config: Any = None,
        features: list[Any] | None = None,
        transformation_functions: list[Udf] | None = None,
        **kwargs: Any,
    ) -> FeatureGroup:
        """Return the feature group ``name`` v``version``, creating it when it does not exist.

        Args:
            name: Lowercase name.
            version: Version number (>= 1); a new version is a new table.
            description: Free text.
            online_enabled: Keep the latest row per primary key in the online store.
            primary_key: Key columns (at least one).
            event_time: The event-time column, if the data is time-stamped.
            expectation_suite: Validation rules checked on every insert.
            statistics_config: Ignored: statistics do not change stored data.
            features: Optional feature descriptions as ``Feature`` objects or dicts with name/description.
            transformation_functions: On-demand ``@udf`` functions computed on insert and, from
                ``request_parameters``, at serving time.

        Returns:
            The feature group.

        Raises:
            ValueError: For a bad name, version or primary key, or when an existing group
                has a different primary key or event time.
        """
        _check_group_args(name, version, primary_key, event_time, kwargs)
        meta_path = self._fg_path(name, version) / "fg.json"
        if meta_path.exists():
            return self._existing_feature_group(name, version, primary_key, event_time)
        meta = {
            "name": name,
            "version": version,
            "description": description or "",
            "primary_key": list(primary_key),
            "event_time": event_time,
            "online_enabled": bool(online_enabled),
            "features": None,
            "feature_descriptions": _feature_descriptions(features),
            "expectation_suite": None,
            "transformation_functions": [fn.to_dict() for fn in transformation_functions or []],
            "created": utc_now().isoformat(),
        }
        return self._create_feature_group(meta_path, meta, expectation_suite)

    def _existing_feature_group(
        self, name: str, version: int, primary_key: list[str], event_time: str | None
    ) -> FeatureGroup:
        """Return the stored group, which must have the primary key and event time asked for."""
        fg = self.get_feature_group(name, version)
        if fg.primary_key != list(primary_key) or fg.event_time != event_time:
            raise ValueError(
                f"feature group {name} v{version} exists with primary_key={fg.primary_key}, "
                f"event_time={fg.event_time!r}; create a new version to change them"
            )
        return fg

    def _create_feature_group(
        self, meta_path: Path, meta: dict[str, Any], expectation_suite: Any
    ) -> FeatureGroup:
        """Write a new group's metadata, then attach its expectation suite (if any)."""
        write_json_atomic(meta_path, meta)
        fg = FeatureGroup(self, meta)
        if expectation_suite is not None:
            run, policy = suite_settings(expectation_suite)
            fg.save_expectation_suite(
                expectation_suite, run_validation=run, validation_ingestion_policy=policy
            )
        return fg

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """Return a feature group; without a version, its latest version.

        Raises:
            ValueError: If it does not exist.
        """
        if version is None:
            versions = self._versions(self._root / "feature_groups", name)
            if not versions:
                raise ValueError(f"no feature group named {name!r} in {self._root}")
            version = versions[-1]
        path = self._fg_path(name, version) / "fg.json"
        if not path.exists():
            raise ValueError(f"no feature group {name!r} version {version} in {self._root}")
        return FeatureGroup(self, json.loads(path.read_text()))

    def get_feature_groups(self, name: str) -> list[FeatureGroup]:
        """Return every version of a feature group."""
        return [self.get_feature_group(name, v) for v in self._versions(self._root / "feature_groups", name)]

    def _feature_groups(self) -> list[FeatureGroup]:
        """Return every version of every feature group in the store."""
        folder = self._root / "feature_groups"
        metas = sorted(folder.glob("*/fg.json")) if folder.exists() else []
        return [FeatureGroup(self, json.loads(path.read_text())) for path in metas]

    def _repair_online(self, force: bool = False) -> dict[str, Any]:
        """Rebuild the online store from the offline tables when its file is damaged (or ``force``).

        The damaged file is kept beside the new one (``online.sqlite.damaged-<UTC time>-<pid>``).
        Repairs are serialised by a lock on the store; one that finds the file healthy (another
        process repaired it first) does nothing.

        Returns:
            ``{"damaged": bool, "moved_to": path or None, "tables": [online tables rebuilt]}``.
        """
        with store_lock(self._root, "online-repair"):
            problems = self._online.problems(full=False)
            if not problems and not force:
                return {"damaged": False, "moved_to": None, "tables": []}
            kept = self._online.move_aside()
            rebuilt = []
            for fg in self._feature_groups():
                version = fg._offline.version() if fg.online_enabled and fg._meta.get("features") else None
                if version is not None:
                    fg._sync_online(None, version, repair=False)
                    rebuilt.append(fg._online_table)
        return {"damaged": bool(problems), "moved_to": None if kept is None else str(kept), "tables": rebuilt}

    def _validate(self, fg: FeatureGroup, table: pa.Table | pd.DataFrame, options: dict[str, Any]) -> Any:
        """Check an insert against the group's expectation suite; return the report (None without a suite).

        Raises:
            ValidationError: If the suite's policy is strict and the batch fails it (nothing is
                written then; the batch and the report are quarantined).
        """
        frame = table.to_pandas() if isinstance(table, pa.Table) else table
        return check_batch(self._root, fg, frame, fg.get_expectation_suite(False), options)

    # -- feature views ---------------------------------------------------------------------------------------
    def get_or_create_feature_view(
        self,
        name: str,
        query: Query,
        version: int,
        description: str | None = "",
        labels: list[str] | None = None,
        inference_helper_columns: list[str] | None = None,
        training_helper_columns: list[str] | None = None,
        transformation_functions: Any = None,
        **kwargs: Any,
    ) -> FeatureView:
        """Return the feature view ``name`` v``version``, creating it from ``query`` when new.

        Raises:
            ValueError: For a bad name or version, or labels that are not columns of the query.
        """
        check_name("feature view", name, version)
        if not isinstance(query, Query):
            raise ValueError(f"query must be a Query (e.g. fg.select_all()), got {type(query).__name__}")
        if isinstance(transformation_functions, dict):
            raise NotImplementedError(
                "transformation_functions as a dict (hsfs 3.x style): pass a list of udfs"
            )
        functions = list(transformation_functions or [])
        columns = [c.name for c in query._output_columns()]
        for fn in functions:
            if not isinstance(fn, Udf):
                raise ValueError(f"transformation_functions must be @udf functions, got {type(fn).__name__}")
            missing = [f for f in fn.transformation_features if f not in columns]
            if missing:
                raise ValueError(f"transformation {fn!r}: {missing} are not columns of the query {columns}")
            if set(fn.transformation_features) & set(labels or []):
                raise NotImplementedError(f"transformation {fn!r} of a label is not supported locally")
        unsupported = {k: v for k, v in kwargs.items() if v not in (None, False, [], {})}
        if unsupported:
            raise NotImplementedError(
                f"get_or_create_feature_view: unsupported argument(s) {sorted(unsupported)}"
            )
        path = self._fv_path(name, version) / "fv.json"
        if path.exists():
            return self.get_feature_view(name, version)
        meta = feature_view_meta(
            name,
            version,
            query,
            description or "",
            list(labels or []),
            list(inference_helper_columns or []),
            list(training_helper_columns or []),
        )
        meta["transformation_functions"] = [fn.to_dict() for fn in functions]
        write_json_atomic(path, meta)
        return FeatureView(self, meta)

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        """Return a feature view; without a version, its latest version.

        Raises:
            ValueError: If it does not exist.
        """
        if version is None:
            versions = self._versions(self._root / "feature_views", name)
            if not versions:
                raise ValueError(f"no feature view named {name!r} in {self._root}")
            version = versions[-1]
        path = self._fv_path(name, version) / "fv.json"
        if not path.exists():
            raise ValueError(f"no feature view {name!r} version {version} in {self._root}")
        return FeatureView(self, json.loads(path.read_text()))
