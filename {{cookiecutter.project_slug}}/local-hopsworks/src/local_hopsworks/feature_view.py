"""Feature views: a saved query with labels, training datasets, batch and online retrieval."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .feature_group import write_json_atomic
from .online import sqlite_row_reader, sqlite_value_reader, to_sqlite_key
from .query import OutputColumn, Query, _Condition, _renumbered, query_from_dict
from .timeutil import to_utc_timestamp, utc_now
from .transformations import Udf, apply_transformations, fit_statistics, udf_from_dict

if TYPE_CHECKING:
    from .feature_group import FeatureGroup
    from .feature_store import FeatureStore
    from .online import OnlineStore


def _unsupported(**params: Any) -> None:
    """Raise for parameters whose non-default value would change results but is not supported."""
    for name, value in params.items():
        if value is not None and value is not False and value != "" and value != {}:
            raise NotImplementedError(f"{name}={value!r} is not supported by the local feature store")


MAX_BLOCKS = 100  # pandas' PerformanceWarning "DataFrame is highly fragmented" starts past this


def _own_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return ``columns`` of ``frame``, a frame of the caller's own that it drops, as a new frame.

    The columns are taken as they are, nothing copied (``frame[columns]`` would first merge the
    joined frame's blocks, then copy every column: two copies of the result). X and y take
    different columns of it, so writing into one never shows in the other. Past 100 columns
    (each its own block), pandas would warn on every column the caller adds: those are copied.
    """
    if len(columns) > MAX_BLOCKS:
        return _renumbered(frame[columns])
    out = pd.DataFrame({name: frame[name] for name in columns}, index=frame.index, copy=False)
    return _renumbered(out)


def _frame_type(df: pd.DataFrame, dataframe_type: str | None) -> Any:
    if dataframe_type in (None, "default", "pandas"):
        return df
    if dataframe_type == "numpy":
        return df.to_numpy()
    if dataframe_type == "python":
        return df.to_numpy().tolist()
    raise NotImplementedError(
        f"dataframe_type={dataframe_type!r} is not supported by the local feature store"
    )


class _ServingNode:
    """One feature group of a view as online lookups read it."""

    def __init__(
        self,
        fg: FeatureGroup,
        sources: list[tuple[str, str, int | None]],
        used: set[str],
        online: OnlineStore,
    ) -> None:
        self.fg = fg
        self.table = fg._online_table
        self._specs = fg._specs()
        self.primary_key = fg.primary_key
        self.lookup = online.lookup(self.table, self._specs, self.primary_key)
        # (key column, where its value comes from, parent node or None, key type)
        self.sources = [(k, source, parent, fg._spec(k).type) for k, source, parent in sources]
        # Only the columns the view's outputs and joined groups' keys use are converted, unless
        # an on-demand function gets the row (it sees every column).
        self.read_used: Callable[[Sequence[object]], dict[str, object]] = sqlite_row_reader(self._specs, used)
        self.read_all: Callable[[Sequence[object]], dict[str, object]] = sqlite_row_reader(self._specs)
        self.value: dict[str, Callable[[Sequence[object]], object]] = {
            name: sqlite_value_reader(self._specs, name) for name in used
        }


class _ServingState:
    """Everything online lookups of a view need, prepared once (``init_serving`` prepares it again)."""

    def __init__(self, view: FeatureView) -> None:
        query = view.query
        nodes = query._nodes()
        keys, plan = view._serving_plan()
        self.key_names = {name for name, _, _ in keys}
        outputs = query._output_columns()
        self.columns = [c.name for c in outputs]
        self.doubles = [c.name for c in outputs if c.type == "double"]
        self.sources = [
            (c.name, next(i for i, node in enumerate(nodes) if node.fg._key == c.fg_key), c.feature)
            for c in outputs
        ]
        used: list[set[str]] = [set() for _ in nodes]
        for _, index, feature in self.sources:
            used[index].add(feature)
        for _, sources in plan:
            for _, source, parent in sources:
                if parent is not None:
                    used[parent].add(source)
        self.nodes = [_ServingNode(nodes[i].fg, sources, used[i], view._fs._online) for i, sources in plan]
        self.vector_columns = view._vector_columns()
        where = {name: (index, feature) for name, index, feature in self.sources}
        self.vector_sources = [where[name] for name in self.vector_columns]
        self.vector_values = [
            (index, self.nodes[index].value[feature]) for index, feature in self.vector_sources
        ]
        types = {c.name: c.type for c in outputs}
        vector_types = [types[name] for name in self.vector_columns]
        # Vectors of these types come out of the DataFrame path unchanged, so lists can skip it.
        self.plain = set(vector_types) <= {"double", "bigint", "string", "boolean"}
        self.vector_ints = [j for j, t in enumerate(vector_types) if t == "bigint"]
        for j in self.vector_ints:
            if {spec.type for spec in self.nodes[self.vector_sources[j][0]]._specs} <= {"bigint", "double"}:
                self.plain = False  # pandas hands such a group's ints back as floats
        self.vector_strings = "string" in vector_types


class TrainingDatasetFeature:
    """A column of a feature view, with the names hsfs' ``TrainingDatasetFeature`` gives it."""

    def __init__(self, view: FeatureView, column: OutputColumn, index: int) -> None:
        self.name = column.name
        self.type = column.type
        self.index = index
        self.label = column.name in view.labels
        self.inference_helper_column = column.name in view.inference_helper_columns
        self.training_helper_column = column.name in view.training_helper_columns
        self.feature_group = view._fs.get_feature_group(*column.fg_key)
        self.feature_group_feature_name = column.feature

    def __repr__(self) -> str:
        return f"TrainingDatasetFeature({self.name!r}, {self.type!r}, label={self.label})"


class FeatureView:
    """A versioned feature view over a query of feature groups."""

    def __init__(self, fs: FeatureStore, meta: dict[str, Any]) -> None:
        self._fs = fs
        self._meta = meta
        self._serving_td: int | None = None
        self._batch_td: int | None = None
        self._fitted: dict[str, dict[str, Any]] | None = None  # statistics of the last in-memory split

    @property
    def name(self) -> str:
        return self._meta["name"]

    @property
    def version(self) -> int:
        return int(self._meta["version"])

    @property
    def description(self) -> str:
        return self._meta.get("description", "")

    @property
    def labels(self) -> list[str]:
        return list(self._meta.get("labels") or [])

    @property
    def inference_helper_columns(self) -> list[str]:
        return list(self._meta.get("inference_helper_columns") or [])

    @property
    def training_helper_columns(self) -> list[str]:
        return list(self._meta.get("training_helper_columns") or [])

    @property
    def _path(self) -> Path:
        return self._fs._fv_path(self.name, self.version)

    @property
    def transformation_functions(self) -> list[Udf]:
        """Return the model-dependent transformation functions, bound to their features."""
        return [udf_from_dict(d) for d in self._meta.get("transformation_functions") or []]

    def _statistics_for(self, training_dataset_version: int | None) -> dict[str, dict[str, Any]] | None:
        """Return fitted statistics: of a training dataset version, else of the latest one, else in memory."""
        if training_dataset_version is None:
            folder = self._path / "training_datasets"
            versions = (
                sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []
            )
            if not versions:
                return self._fitted
            training_dataset_version = versions[-1]
        return self._training_dataset_metadata(training_dataset_version).get("transformation_statistics")

    def _fit(self, train: pd.DataFrame) -> dict[str, dict[str, Any]] | None:
        functions = self.transformation_functions
        return fit_statistics(train, functions) if functions else None

    @property
    def query(self) -> Query:
        return query_from_dict(self._meta["query"], self._fs.get_feature_group)

    @property
    def features(self) -> list[TrainingDatasetFeature]:
        """Return every column of the view, labels included."""
        return [TrainingDatasetFeature(self, c, i) for i, c in enumerate(self.query._output_columns())]

    @property
    def schema(self) -> list[TrainingDatasetFeature]:
        return self.features

    def __repr__(self) -> str:
        return f"FeatureView({self.name!r}, version={self.version}, labels={self.labels})"

    # -- column roles ----------------------------------------------------------------------------------------
    def _columns(
        self,
        primary_key: bool,
        event_time: bool,
        helpers: list[str],
    ) -> tuple[list[OutputColumn], list[str], list[str]]:
        """Return (columns to read, feature columns, label columns)."""
        query = self.query
        outputs = query._output_columns()
        names = {c.name for c in outputs}
        extra = self._key_columns(query, names, primary_key, event_time)
        columns = outputs + extra
        keep: list[str] = []
        for c in columns:
            if c.name in self.labels:
                continue
            if (
                c.name in (self.inference_helper_columns + self.training_helper_columns)
                and c.name not in helpers
            ):
                continue
            wanted_as_key = (c.is_primary_key and primary_key) or (c.is_event_time and event_time)
            if (c.is_primary_key or c.is_event_time) and not wanted_as_key:
                continue
            keep.append(c.name)
        return columns, keep, list(self.labels)

    def _key_columns(
        self, query: Query, names: set[str], primary_key: bool, event_time: bool
    ) -> list[OutputColumn]:
        """Return the key and event-time columns hsfs adds to training and batch data.

        As ``FeatureViewEngine._get_primary_keys_from_query`` (and ``_get_eventtimes_from_query``): the
        keys of every group of the query, the joined ones too; a key the group's sub-query selects keeps
        its (prefixed) name, any other comes back as ``<project>_<group>_<version>_<key>``.
        """
        project = self._fs.name.removesuffix("_featurestore")
        extra: list[OutputColumn] = []
        for node in query._nodes():
            fg = node.fg
            wanted = (fg.primary_key if primary_key else []) + (
                [fg.event_time] if event_time and fg.event_time else []
            )
            for feature in wanted:
                selected = feature in node.features
                name = node.prefix + feature if selected else f"{project}_{fg.name}_{fg.version}_{feature}"
                if name in names:
                    continue
                names.add(name)
                is_key = feature in fg.primary_key
                spec = fg._spec(feature)
                is_time = feature == fg.event_time
                extra.append(OutputColumn(name, fg._key, feature, spec.type, is_key, is_time))
        return extra

    def _event_filter(self, start_time: Any, end_time: Any) -> _Condition | None:
        root = self.query.featuregroups[0]
        return root._time_range(start_time, end_time)

    def _read(
        self,
        start_time: Any,
        end_time: Any,
        extra_filter: _Condition | None,
        columns: list[OutputColumn],
        versions: dict[tuple[str, int], int] | None = None,
        select: bool = True,
    ) -> pd.DataFrame:
        """Read the view's rows; ``select=False``: with the helper columns, for a caller that selects."""
        query = self.query
        condition = self._event_filter(start_time, end_time)
        if extra_filter is not None:
            condition = extra_filter if condition is None else condition & extra_filter
        return query._execute(
            extra_filter=condition,
            versions=versions,
            extra_columns=columns[len(query._output_columns()) :],
            select=select,
        )

    # -- training data ---------------------------------------------------------------------------------------
    def training_data(
        self,
        start_time: Any = None,
        end_time: Any = None,
        description: str | None = "",
        extra_filter: _Condition | None = None,
        statistics_config: Any = None,
        read_options: dict | None = None,
        spine: Any = None,
        primary_key: bool = False,
        event_time: bool = False,
        training_helper_columns: bool = False,
        dataframe_type: str | None = "default",
        transformation_context: dict | None = None,
        **kwargs: Any,
    ) -> tuple[Any, Any]:
        """Return ``(X, y)`` for event times in ``[start_time, end_time)``, point-in-time correct."""
        _unsupported(spine=spine, transformation_context=transformation_context, **kwargs)
        helpers = self.training_helper_columns if training_helper_columns else []
        columns, keep, labels = self._columns(primary_key, event_time, helpers)
        df = self._read(start_time, end_time, extra_filter, columns, select=False)  # X, y: one copy
        self._fitted = self._fit(df)
        return self._xy(df, keep, labels, dataframe_type, self._fitted)

    def _xy(
        self,
        df: pd.DataFrame,
        keep: list[str],
        labels: list[str],
        dataframe_type: str | None,
        statistics: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[Any, Any]:
        x = apply_transformations(_own_rows(df, keep), self.transformation_functions, statistics)
        y = _own_rows(df, labels) if labels else None
        return _frame_type(x, dataframe_type), None if y is None else _frame_type(y, dataframe_type)

    def _split(
        self,
        df: pd.DataFrame,
        test_size: float | None,
        train_start: Any,
        train_end: Any,
        test_start: Any,
        test_end: Any,
        seed: int | None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        root = self.query.featuregroups[0]
        by_time = any(v not in (None, "") for v in (train_start, train_end, test_start, test_end))
        if by_time:
            if root.event_time is None:
                raise ValueError("a time-based split needs an event time on the leftmost feature group")
            times = df["__et"]

            def mask(start: Any, end: Any, name: str) -> np.ndarray:
                s = to_utc_timestamp(start, f"{name}_start")
                e = to_utc_timestamp(end, f"{name}_end")
                m = np.ones(len(df), dtype=bool)
                if s is not None:
                    m &= (times >= s).to_numpy()
                if e is not None:
                    m &= (times < e).to_numpy()
                return m

            train_mask, test_mask = mask(train_start, train_end, "train"), mask(test_start, test_end, "test")
            if (train_mask & test_mask).any():
                raise ValueError("the train and test time ranges overlap")
            return df[train_mask], df[test_mask]
        if test_size is None or not 0 < test_size < 1:
            raise ValueError(
                f"test_size must be between 0 and 1 (got {test_size!r}) when no time range is given"
            )
        order = np.random.default_rng(seed).permutation(len(df))
        n_test = int(round(len(df) * test_size))
        return df.iloc[np.sort(order[n_test:])], df.iloc[np.sort(order[:n_test])]

    def _split_frames(
        self,
        test_size: float | None,
        train_start: Any,
        train_end: Any,
        test_start: Any,
        test_end: Any,
        extra_filter: _Condition | None,
        seed: int | None,
        versions: dict[tuple[str, int], int] | None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        root = self.query.featuregroups[0]
        columns, _, _ = self._columns(True, True, self.training_helper_columns)
        df = self._read(None, None, extra_filter, columns, versions)
        if root.event_time is not None:
            df["__et"] = df[root.event_time]
        return self._split(df, test_size, train_start, train_end, test_start, test_end, seed)

    def train_test_split(
        self,
        test_size: float | None = None,
        train_start: Any = "",
        train_end: Any = "",
        test_start: Any = "",
        test_end: Any = "",
        description: str | None = "",
        extra_filter: _Condition | None = None,
        statistics_config: Any = None,
        read_options: dict | None = None,
        spine: Any = None,
        primary_key: bool = False,
        event_time: bool = False,
        training_helper_columns: bool = False,
        dataframe_type: str | None = "default",
        transformation_context: dict | None = None,
        **kwargs: Any,
    ) -> tuple[Any, Any, Any, Any]:
        """Return ``X_train, X_test, y_train, y_test`` split by time range or by ``test_size``.

        Time ranges are start-inclusive and end-exclusive; train and test must not overlap.
        """
        _unsupported(spine=spine, transformation_context=transformation_context, **kwargs)
        train, test = self._split_frames(
            test_size, train_start, train_end, test_start, test_end, extra_filter, None, None
        )
        helpers = self.training_helper_columns if training_helper_columns else []
        _, keep, labels = self._columns(primary_key, event_time, helpers)
        self._fitted = self._fit(train)  # fitted on the training split only: no test leakage
        x_train, y_train = self._xy(train, keep, labels, dataframe_type, self._fitted)
        x_test, y_test = self._xy(test, keep, labels, dataframe_type, self._fitted)
        return x_train, x_test, y_train, y_test

    def create_train_test_split(
        self,
        test_size: float | None = None,
        train_start: Any = "",
        train_end: Any = "",
        test_start: Any = "",
        test_end: Any = "",
        storage_connector: Any = None,
        location: str | None = "",
        description: str | None = "",
        extra_filter: _Condition | None = None,
        data_format: str | None = "parquet",
        coalesce: bool | None = False,
        seed: int | None = None,
        statistics_config: Any = None,
        write_options: dict | None = None,
        spine: Any = None,
        transformation_context: dict | None = None,
        **kwargs: Any,
    ) -> tuple[int, None]:
        """Materialise a numbered train/test split pinned to the current table versions.

        Returns:
            ``(training_dataset_version, None)``: no job runs locally.

        Raises:
            ValueError: If the split parameters are inconsistent or a split is empty.
        """
        _unsupported(
            storage_connector=storage_connector,
            location=location,
            spine=spine,
            transformation_context=transformation_context,
            **kwargs,
        )
        if data_format not in (None, "parquet"):
            raise NotImplementedError(f"data_format={data_format!r}: the local store writes parquet")
        versions = self._table_versions()
        train, test = self._split_frames(
            test_size, train_start, train_end, test_start, test_end, extra_filter, seed, versions
        )
        if train.empty or test.empty:
            raise ValueError(
                f"the split leaves {len(train)} training and {len(test)} test rows: widen the ranges"
            )
        split = {
            "test_size": test_size,
            "train_start": str(train_start or ""),
            "train_end": str(train_end or ""),
            "test_start": str(test_start or ""),
            "test_end": str(test_end or ""),
            "seed": seed,
        }
        return self._save_training_dataset(train, test, versions, description, split), None

    def _table_versions(self) -> dict[tuple[str, int], int]:
        """Return the current offline table version of each feature group of the query."""
        versions = {}
        for fg in self.query.featuregroups:
            v = fg._offline.version()
            if v is None:
                raise ValueError(f"feature group {fg.name} v{fg.version} is empty: nothing to train on")
            versions[fg._key] = v
        return versions

    def _save_training_dataset(
        self,
        train: pd.DataFrame,
        test: pd.DataFrame,
        versions: dict[tuple[str, int], int],
        description: str | None,
        split: dict[str, Any],
    ) -> int:
        """Write the split as the next training dataset version; return that version."""
        td_root = self._path / "training_datasets"
        td_root.mkdir(parents=True, exist_ok=True)
        version = 1 + max((int(p.name) for p in td_root.iterdir() if p.name.isdigit()), default=0)
        while True:
            try:
                (td_root / str(version)).mkdir()
                break
            except FileExistsError:
                version += 1
        folder = td_root / str(version)
        train.drop(columns=["__et"], errors="ignore").to_parquet(folder / "train.parquet", index=False)
        test.drop(columns=["__et"], errors="ignore").to_parquet(folder / "test.parquet", index=False)
        write_json_atomic(
            folder / "td.json",
            {
                "version": version,
                "description": description or "",
                "created": utc_now().isoformat(),
                "table_versions": [[k[0], k[1], v] for k, v in versions.items()],
                "split": split,
                "rows": {"train": len(train), "test": len(test)},
                "transformation_statistics": self._fit(train),
            },
        )
        return version

    def _training_dataset_metadata(self, training_dataset_version: int) -> dict[str, Any]:
        """Return the metadata of a materialised training dataset."""
        path = self._path / "training_datasets" / str(training_dataset_version) / "td.json"
        if not path.exists():
            raise ValueError(
                f"feature view {self.name} v{self.version} has no training dataset "
                f"version {training_dataset_version}"
            )
        return json.loads(path.read_text())

    def get_train_test_split(
        self,
        training_dataset_version: int,
        read_options: dict | None = None,
        primary_key: bool = False,
        event_time: bool = False,
        training_helper_columns: bool = False,
        dataframe_type: str | None = "default",
        transformation_context: dict | None = None,
        **kwargs: Any,
    ) -> tuple[Any, Any, Any, Any]:
        """Return the stored split ``X_train, X_test, y_train, y_test`` of a training dataset version."""
        _unsupported(transformation_context=transformation_context, **kwargs)
        self._training_dataset_metadata(training_dataset_version)
        folder = self._path / "training_datasets" / str(training_dataset_version)
        helpers = self.training_helper_columns if training_helper_columns else []
        _, keep, labels = self._columns(primary_key, event_time, helpers)
        train = pd.read_parquet(folder / "train.parquet")
        test = pd.read_parquet(folder / "test.parquet")
        statistics = self._statistics_for(training_dataset_version)
        x_train, y_train = self._xy(train, keep, labels, dataframe_type, statistics)
        x_test, y_test = self._xy(test, keep, labels, dataframe_type, statistics)
        return x_train, x_test, y_train, y_test

    # -- batch scoring ---------------------------------------------------------------------------------------
    def init_batch_scoring(
        self, training_dataset_version: int | None = None, n_processes: int | None = None
    ) -> None:
        """Prepare batch scoring with the transformations of a training dataset version."""
        if training_dataset_version is not None:
            self._training_dataset_metadata(training_dataset_version)
        self._batch_td = training_dataset_version

    def get_batch_data(
        self,
        start_time: Any = None,
        end_time: Any = None,
        read_options: dict | None = None,
        spine: Any = None,
        primary_key: bool | None = None,
        event_time: bool | None = None,
        inference_helper_columns: bool = False,
        dataframe_type: str | None = "default",
        transformed: bool | None = True,
        transformation_context: dict | None = None,
        logging_data: bool = False,
        extra_filter: _Condition | None = None,
        **kwargs: Any,
    ) -> Any:
        """Return the features (no labels) for event times in ``[start_time, end_time)``."""
        _unsupported(
            spine=spine, transformation_context=transformation_context, logging_data=logging_data, **kwargs
        )
        helpers = self.inference_helper_columns if inference_helper_columns else []
        columns, keep, _ = self._columns(bool(primary_key), bool(event_time), helpers)
        df = _own_rows(self._read(start_time, end_time, extra_filter, columns, select=False), keep)
        if transformed:
            df = apply_transformations(
                df, self.transformation_functions, self._statistics_for(self._batch_td)
            )
        return _frame_type(df, dataframe_type)

    # -- online serving --------------------------------------------------------------------------------------
    def init_serving(self, training_dataset_version: int | None = None, **kwargs: Any) -> None:
        """Prepare online serving (the local store needs no client set-up)."""
        if training_dataset_version is not None:
            self._training_dataset_metadata(training_dataset_version)
        self._serving_td = training_dataset_version
        self._serving_cache: _ServingState | None = None
        for fg in self.query.featuregroups:
            if not fg.online_enabled:
                raise ValueError(
                    f"feature group {fg.name} v{fg.version} is not online_enabled: it cannot serve"
                )
            fg._ensure_online()

    @property
    def serving_keys(self) -> list[str]:
        """Return the names of the keys a feature vector lookup needs."""
        return [name for name, _, _ in self._serving_plan()[0]]

    def _serving_plan(
        self,
    ) -> tuple[list[tuple[str, int, str]], list[tuple[int, list[tuple[str, str, int | None]]]]]:
        """Return (serving keys as (name, node, feature), per node the source of each primary key column)."""
        nodes = self.query._nodes()
        keys: list[tuple[str, int, str]] = []
        plan: list[tuple[int, list[tuple[str, str, int | None]]]] = []
        for i, node in enumerate(nodes):
            sources: list[tuple[str, str, int | None]] = []
            for k in node.fg.primary_key:
                if node.parent is not None and k in node.right_on:
                    left_name = node.left_on[node.right_on.index(k)]
                    sources.append((k, left_name, node.parent))
                else:
                    name = node.prefix + k
                    keys.append((name, i, k))
                    sources.append((k, name, None))
            plan.append((i, sources))
        return keys, plan

    def _serving_state(self) -> _ServingState:
        state = getattr(self, "_serving_cache", None)
        if state is None:
            state = self._serving_cache = _ServingState(self)
        return state

    def _lookup(
        self,
        serving_keys: list[dict[str, Any]],
        allow_missing: bool,
        request_parameters: list[dict[str, Any]] | None,
    ) -> tuple[list[dict[int, dict[str, Any]]], list[Exception | None]]:
        """Look up every key, one query per feature group and batch; return the rows and errors.

        Per key: the row values of each node (feature group) and the first error a key-by-key
        loop would have met (callers raise the first key's error, in key order).
        """
        state = self._serving_state()
        count = len(serving_keys)
        errors = _key_errors(state.key_names, serving_keys)
        found: list[dict[int, dict[str, Any]]] = [{} for _ in range(count)]
        for i, node in enumerate(state.nodes):
            live, keys = _keys_from_values(node, found, serving_keys, errors)
            rows: list[tuple | None] = [None] * count
            if not _fetch_rows(node, live, keys, rows, errors):
                continue
            for n in live:
                row = rows[n]
                params = request_parameters[n] if request_parameters and n < len(request_parameters) else None
                try:
                    if row is None:
                        if not allow_missing:
                            raise _missing_row(node, serving_keys[n])
                        values: dict[str, Any] = {}
                    else:
                        values = node.read_all(row) if params else node.read_used(row)
                    if params:
                        values = node.fg._compute_on_demand(values, params)
                except Exception as exc:  # raised by the caller, in key order
                    errors[n] = exc
                    continue
                found[n][i] = values
        return found, errors

    def _assemble(
        self,
        found: list[dict[int, dict[str, Any]]],
        errors: list[Exception | None],
        passed_features: list[dict[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        """Return one dict of output values per key; raise the first key's error."""
        state = self._serving_state()
        nan = np.nan
        result: list[dict[str, Any]] = []
        for n, nodes in enumerate(found):
            error = errors[n]
            if error is not None:
                raise error
            values = {name: nodes[index].get(feature, nan) for name, index, feature in state.sources}
            if passed_features is not None and n < len(passed_features) and passed_features[n]:
                unknown = set(passed_features[n]) - set(values)
                if unknown:
                    raise ValueError(f"passed_features {sorted(unknown)} are not features of this view")
                values.update(passed_features[n])
            result.append(values)
        return result

    def _vector_frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        state = self._serving_state()
        frame = pd.DataFrame(rows, columns=state.columns)
        for name in state.doubles:
            frame[name] = frame[name].astype("float64")
        return frame

    def _vector_rows(
        self,
        serving_keys: list[dict[str, Any]],
        passed_features: list[dict[str, Any]] | None,
        allow_missing: bool,
        request_parameters: list[dict[str, Any]] | None = None,
    ) -> pd.DataFrame:
        found, errors = self._lookup(serving_keys, allow_missing, request_parameters)
        return self._vector_frame(self._assemble(found, errors, passed_features))

    def _vectors_without_dataframe(
        self,
        serving_keys: list[dict[str, Any]],
        passed_features: list[dict[str, Any]] | None,
        allow_missing: bool,
        request_parameters: list[dict[str, Any]] | None,
    ) -> list[list[Any]] | None:
        """Return the vectors as lists without a DataFrame when that gives the same values, else None.

        A DataFrame column of doubles, strings or booleans hands back the values it was built
        from; one of bigints does only while every value is an int (else pandas makes it float).
        The lookups are those of ``_lookup``, keeping SQLite rows as they come (no dict per row).
        """
        state = self._serving_state()
        if not state.plain:
            return None
        for extra in (passed_features, request_parameters):
            if extra is not None and any(extra[: len(serving_keys)]):
                return None  # caller-supplied values may change the columns' dtypes
        if state.vector_strings and pd.get_option("future.infer_string"):
            return None
        count = len(serving_keys)
        errors = _key_errors(state.key_names, serving_keys)
        rows = _sqlite_rows(state, serving_keys, errors, allow_missing)
        for error in errors:
            if error is not None:
                raise error
        nan = np.nan
        getters = state.vector_values
        vectors = [
            [nan if rows[index][n] is None else value(rows[index][n]) for index, value in getters]  # type: ignore[arg-type]
            for n in range(count)
        ]
        for j in state.vector_ints:
            if any(type(vector[j]) is not int for vector in vectors):
                # A null or missing bigint: the DataFrame path decides the column's dtype.
                return self._vectors_via_dataframe(rows, errors)
        return vectors

    def _vectors_via_dataframe(
        self, rows: list[list[tuple | None]], errors: list[Exception | None]
    ) -> list[list[Any]]:
        """Return the vectors of SQLite rows (per node, per key) as the DataFrame path makes them."""
        state = self._serving_state()
        found = [
            {
                i: {} if node_rows[n] is None else state.nodes[i].read_used(node_rows[n])
                for i, node_rows in enumerate(rows)
            }
            for n in range(len(errors))
        ]
        frame = self._vector_frame(self._assemble(found, errors, None))[state.vector_columns]
        return frame.to_numpy(dtype=object).tolist()

    def _check_request_parameters(self, request_parameters: list[dict[str, Any]]) -> None:
        known = {
            name
            for fg in self.query.featuregroups
            for fn in fg.transformation_functions
            for name in fn.transformation_features
        }
        for params in request_parameters:
            unknown = sorted(set(params or {}) - known)
            if unknown:
                raise ValueError(
                    f"request parameter(s) {unknown} are not inputs of any on-demand transformation "
                    f"(inputs: {sorted(known)})"
                )

    def _vector_columns(self) -> list[str]:
        _, keep, _ = self._columns(False, False, [])
        return keep

    def get_feature_vectors(
        self,
        serving_keys: list[dict[str, Any]] | None = None,
        passed_features: list[dict[str, Any]] | None = None,
        external: bool | None = None,
        return_type: str = "list",
        allow_missing: bool = False,
        force_rest_client: bool = False,
        force_sql_client: bool = False,
        transform: bool | None = True,
        on_demand_features: bool | None = True,
        request_parameters: list[dict[str, Any]] | None = None,
        transformation_context: dict | None = None,
        logging_data: bool = False,
        n_processes: int | None = None,
        timeout: float | None = None,
        entry: list[dict[str, Any]] | None = None,
    ) -> Any:
        """Return one feature vector per serving key from the online store (latest rows).

        Raises:
            KeyError: If a key has no online row and ``allow_missing`` is False.
            ValueError: If a serving key is missing or a passed feature is unknown.
        """
        _unsupported(transformation_context=transformation_context)
        keys = serving_keys if serving_keys is not None else entry
        if keys is None:
            raise ValueError("serving_keys is required")
        if request_parameters is not None:
            self._check_request_parameters(request_parameters)
        keys = list(keys)
        if return_type == "list" and not (transform and self._meta.get("transformation_functions")):
            vectors = self._vectors_without_dataframe(
                keys, passed_features, allow_missing, request_parameters
            )
            if vectors is not None:
                return vectors
        frame = self._vector_rows(keys, passed_features, allow_missing, request_parameters)
        frame = frame[self._serving_state().vector_columns]
        if transform:
            frame = apply_transformations(
                frame, self.transformation_functions, self._statistics_for(self._serving_td)
            )
        if return_type == "list":
            return frame.to_numpy(dtype=object).tolist()
        if return_type == "pandas":
            return frame
        if return_type == "numpy":
            return frame.to_numpy()
        raise NotImplementedError(f"return_type={return_type!r}: use 'list', 'pandas' or 'numpy'")

    def get_feature_vector(
        self,
        serving_keys: dict[str, Any] | None = None,
        passed_features: dict[str, Any] | None = None,
        external: bool | None = None,
        return_type: str = "list",
        allow_missing: bool = False,
        force_rest_client: bool = False,
        force_sql_client: bool = False,
        transform: bool | None = True,
        on_demand_features: bool | None = True,
        request_parameters: dict[str, Any] | None = None,
        transformation_context: dict | None = None,
        logging_data: bool = False,
        n_processes: int | None = None,
        timeout: float | None = None,
        entry: dict[str, Any] | None = None,
    ) -> Any:
        """Return the feature vector for one serving key from the online store.

        Args:
            serving_keys: Values of the view's serving keys, e.g. ``{"location": "x", "date": "2024-01-01"}``.
            passed_features: Values that replace looked-up features.
            return_type: "list", "pandas" or "numpy".
            allow_missing: Return nulls for a key with no online row instead of raising.

        Returns:
            The features of the view (labels, keys and event time excluded) in view order.

        Raises:
            KeyError: If the key has no online row and ``allow_missing`` is False.
        """
        keys = serving_keys if serving_keys is not None else entry
        if keys is None:
            raise ValueError("serving_keys is required")
        result = self.get_feature_vectors(
            [keys],
            None if passed_features is None else [passed_features],
            return_type=return_type,
            allow_missing=allow_missing,
            transform=transform,
            request_parameters=None if request_parameters is None else [request_parameters],
            transformation_context=transformation_context,
        )
        if return_type == "pandas":
            return result
        return result[0]

    def delete(self, force: bool = False) -> None:
        """Delete the feature view and its training datasets."""
        import shutil

        shutil.rmtree(self._path, ignore_errors=True)


def _key_errors(key_names: set[str], serving_keys: list[Any]) -> list[Exception | None]:
    """Return, per serving key, the error its shape makes (not a dict, keys missing), or None."""
    errors: list[Exception | None] = [None] * len(serving_keys)
    for n, entry in enumerate(serving_keys):
        if not isinstance(entry, dict):
            errors[n] = ValueError(f"serving_keys must be dicts, got {type(entry).__name__}")
        elif not key_names <= entry.keys():
            missing = sorted(key_names - entry.keys())
            errors[n] = ValueError(f"serving key(s) {missing} missing; this view needs {sorted(key_names)}")
    return errors


def _missing_row(node: Any, entry: dict[str, Any]) -> KeyError:
    """Return the error for a key with no online row in ``node``'s feature group."""
    shown = {k: entry.get(s, "(from joined row)") for k, s, _, _ in node.sources}
    return KeyError(
        f"no online row in {node.fg.name} v{node.fg.version} for key {shown}; "
        "pass allow_missing=True to get nulls instead"
    )


def _fetch_rows(
    node: _ServingNode,
    live: list[int],
    keys: Sequence[Sequence[Any]],
    rows: list[tuple | None],
    errors: list[Exception | None],
) -> bool:
    """Set ``rows[n]`` to the online row of each live key ``n`` without a null, in one lookup.

    ``keys`` are those of ``live``, in its order. A null key has no row (no lookup). If the
    lookup fails, its error becomes every looked-up key's (raised by the caller, in key order)
    and False comes back.
    """
    complete = [j for j, key in enumerate(keys) if None not in key]
    if not complete:
        return True
    try:
        got = node.lookup([keys[j] for j in complete])
    except Exception as exc:  # raised by the caller, in key order
        for j in complete:
            errors[live[j]] = exc
        return False
    for j, row in zip(complete, got, strict=True):
        rows[live[j]] = row
    return True


def _keys_from_values(
    node: _ServingNode,
    found: list[dict[int, dict[str, Any]]],
    serving_keys: list[dict[str, Any]],
    errors: list[Exception | None],
) -> tuple[list[int], list[list[Any]]]:
    """Return the keys still without an error and ``node``'s key of each, a joined one from ``found``."""
    live: list[int] = []
    keys: list[list[Any]] = []
    for n, entry in enumerate(serving_keys):
        if errors[n] is not None:
            continue
        try:
            key = []
            for _, source, parent, key_type in node.sources:
                value = entry[source] if parent is None else (found[n].get(parent) or {}).get(source)
                key.append(None if value is None else to_sqlite_key(value, key_type))
        except Exception as exc:  # raised by the caller, in key order
            errors[n] = exc
            continue
        live.append(n)
        keys.append(key)
    return live, keys


def _sqlite_rows(
    state: _ServingState,
    serving_keys: list[dict[str, Any]],
    errors: list[Exception | None],
    allow_missing: bool,
) -> list[list[tuple | None]]:
    """Return per node the SQLite row of each key, a joined key read from its parent's row."""
    rows: list[list[tuple | None]] = []
    for node in state.nodes:
        node_rows: list[tuple | None] = [None] * len(serving_keys)
        rows.append(node_rows)
        # The loop of _keys_from_values, reading a parent's value from its row in place: passing
        # that read in as a function kept p50 but took the 1k-vector p99 from 4.4-5.0 to 25-28 ms.
        live: list[int] = []
        keys: list[list[Any]] = []
        for n, entry in enumerate(serving_keys):
            if errors[n] is not None:
                continue
            try:
                key = []
                for _, source, parent, key_type in node.sources:
                    if parent is None:
                        value = entry[source]
                    else:
                        parent_row = rows[parent][n]
                        value = None if parent_row is None else state.nodes[parent].value[source](parent_row)
                    key.append(None if value is None else to_sqlite_key(value, key_type))
            except Exception as exc:  # raised by the caller, in key order
                errors[n] = exc
                continue
            live.append(n)
            keys.append(key)
        if _fetch_rows(node, live, keys, node_rows, errors) and not allow_missing:
            for n in live:
                if node_rows[n] is None and errors[n] is None:
                    errors[n] = _missing_row(node, serving_keys[n])
    return rows


def feature_view_meta(
    name: str,
    version: int,
    query: Query,
    description: str,
    labels: list[str],
    inference_helper_columns: list[str],
    training_helper_columns: list[str],
) -> dict[str, Any]:
    """Return the metadata of a new feature view, checking labels and helper columns exist."""
    columns = [c.name for c in query._output_columns()]
    for kind, names in (
        ("label", labels),
        ("inference helper column", inference_helper_columns),
        ("training helper column", training_helper_columns),
    ):
        unknown = [n for n in names if n not in columns]
        if unknown:
            raise ValueError(f"{kind}(s) {unknown} are not columns of the query: {columns}")
    return {
        "name": name,
        "version": version,
        "description": description or "",
        "labels": labels,
        "inference_helper_columns": inference_helper_columns,
        "training_helper_columns": training_helper_columns,
        "query": query.to_dict(),
        "created": utc_now().isoformat(),
    }
