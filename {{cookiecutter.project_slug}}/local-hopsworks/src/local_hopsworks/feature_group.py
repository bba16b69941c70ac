"""Feature groups: versioned tables with a primary key and event time, offline and online."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sqlite3
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
import pyarrow as pa
from deltalake.exceptions import DeltaError

from .expectations import evaluate
from .offline import OfflineTable
from .online import OnlineStoreDamagedError
from .query import Feature, Query, _Condition
from .row_order import order_rows, read_order
from .schema import ARROW_TYPES, FeatureSpec, SchemaError, check_feature_names, infer_type, to_arrow
from .sdk_names import FEATURE_GROUP_ATTRIBUTES
from .timeutil import to_utc_timestamp
from .transformations import Udf, udf_from_dict
from .validation import ExpectationSuite, to_local_suite
from .validation import save_report as store_report

if TYPE_CHECKING:
    from .feature_store import FeatureStore

log = logging.getLogger(__name__)
# hsfs' default for get_expectation_suite(ge_type=...): whether Great Expectations is installed.
HAS_GREAT_EXPECTATIONS = importlib.util.find_spec("great_expectations") is not None
T = TypeVar("T")
# How full, read-only or forbidden storage shows up in OS, Delta (Rust) and SQLite errors.
STORAGE_PROBLEMS = {
    "no space left on device": "disk full",
    "os error 28": "disk full",
    "database or disk is full": "disk full",
    "file too large": "file size limit reached",
    "os error 27": "file size limit reached",
    "disk quota exceeded": "disk quota exceeded",
    "read-only file system": "read-only file system",
    "os error 30": "read-only file system",
    "readonly database": "read-only",
    "permission denied": "permission denied",
    "os error 13": "permission denied",
    "unable to open database file": "cannot open the online database file",
}


class StoreWriteError(OSError):
    """The store folder cannot be written (disk full, read-only, no permission); says what was written."""


def storage_problem(exc: BaseException) -> str | None:
    """Return what storage problem ``exc`` reports (disk full, read-only, ...), or None for other errors."""
    text = str(exc).lower()
    return next((what for marker, what in STORAGE_PROBLEMS.items() if marker in text), None)


NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# write_options keys that steer Hopsworks jobs and cannot change what is stored.
IGNORED_WRITE_OPTIONS = {"wait_for_job", "start_offline_materialization", "start_offline_backfill"}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: concurrent writers (UI handlers, pipelines) must not share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def check_name(kind: str, name: str, version: Any) -> None:
    """Raise ValueError unless ``name`` and ``version`` are valid for a store object."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be lowercase letters, digits and _, starting with a letter"
        )
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{kind} version must be an integer >= 1, got {version!r}")


class FeatureGroup:
    """A versioned feature group stored as a Delta table, with an optional online table."""

    def __init__(self, fs: FeatureStore, meta: dict[str, Any]) -> None:
        self._fs = fs
        self._meta = meta

    # -- metadata ------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._meta["name"]

    @property
    def version(self) -> int:
        return int(self._meta["version"])

    @property
    def _key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @property
    def description(self) -> str:
        return self._meta.get("description", "")

    @property
    def primary_key(self) -> list[str]:
        return list(self._meta["primary_key"])

    @property
    def event_time(self) -> str | None:
        return self._meta.get("event_time")

    @property
    def online_enabled(self) -> bool:
        return bool(self._meta.get("online_enabled"))

    @property
    def feature_store(self) -> FeatureStore:
        """Return the feature store the group belongs to."""
        return self._fs

    @property
    def location(self) -> str | None:
        """Return the offline table's storage path (None before the first insert saves the group)."""
        return self._offline.path.as_uri() if self._meta.get("features") else None

    @property
    def id(self) -> int | None:
        """Return the group's id (None before the first insert saves the group, as on Hopsworks)."""
        if not self._meta.get("features"):
            return None
        return zlib.crc32(f"{self.name}_{self.version}".encode())  # stable: same group, same id

    @property
    def _path(self) -> Path:
        return self._fs._fg_path(self.name, self.version)

    @property
    def _offline(self) -> OfflineTable:
        return OfflineTable(self._path / "offline", f"feature group {self.name} v{self.version}")

    @property
    def _online_table(self) -> str:
        return f"{self.name}_{self.version}"

    def _specs(self) -> list[FeatureSpec]:
        """Return the schema, or raise if nothing was inserted yet."""
        if not self._meta.get("features"):
            raise SchemaError(
                f"feature group {self.name} v{self.version} has no schema yet: insert data first"
            )
        return [FeatureSpec(**f) for f in self._meta["features"]]

    @property
    def features(self) -> list[Feature]:
        """Return the features ([] for a group not yet written, as hsfs returns)."""
        if not self._meta.get("features"):
            return []
        return [Feature(s.name, s.type, self._key, s.description) for s in self._specs()]

    @property
    def columns(self) -> list[Feature]:
        """Return the features: hsfs 5.2's name for them (``features`` is deprecated there and warns)."""
        return self.features

    @property
    def _feature_names(self) -> list[str]:
        return [s.name for s in self._specs()] if self._meta.get("features") else []

    @property
    def schema(self) -> list[Feature]:
        return self.features

    @property
    def transformation_functions(self) -> list[Udf]:
        """Return the on-demand transformation functions of this group."""
        return [udf_from_dict(d) for d in self._meta.get("transformation_functions") or []]

    def _apply_on_demand(self, features: pd.DataFrame) -> pd.DataFrame:
        """Add on-demand features computed from the inserted columns; drop request-only inputs."""
        functions = self.transformation_functions
        if not functions:
            return features
        out = features.copy()
        for fn in functions:
            result = fn.execute(features, None, on_demand=True)
            for column in result.columns:
                out[column] = result[column].to_numpy()
        dropped = {d for fn in functions for d in fn.dropped_features}
        return out.drop(columns=[d for d in dropped if d in out.columns])

    def _compute_on_demand(self, row: dict[str, Any], request_parameters: dict[str, Any]) -> dict[str, Any]:
        """Return ``row`` with on-demand features recomputed from ``request_parameters`` (serving time)."""
        functions = [
            fn
            for fn in self.transformation_functions
            if set(fn.transformation_features) & set(request_parameters)
        ]
        if not functions:
            return row
        frame = pd.DataFrame([{**row, **request_parameters}])
        out = dict(row)
        for fn in functions:
            out.update(fn.execute(frame, None, on_demand=True).iloc[0].to_dict())
        return out

    def _spec(self, name: str) -> FeatureSpec:
        for spec in self._specs():
            if spec.name == name:
                return spec
        raise ValueError(f"{name!r} is not a feature of {self.name} v{self.version}: {self._feature_names}")

    def _arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(s.name, ARROW_TYPES[s.type]) for s in self._specs()])

    def _empty_frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        table = self._arrow_schema().empty_table()
        return (table.select(columns) if columns else table).to_pandas()

    def get_feature(self, name: str) -> Feature | None:
        """Return the feature called ``name``, or None when the group has none (none yet), as hsfs does."""
        try:
            return self[name]
        except KeyError:
            return None

    def __getitem__(self, name: str) -> Feature:
        if not isinstance(name, str):
            raise TypeError(f"Expected type `str`, got `{type(name)}`. Features are accessible by name.")
        for spec in self.__dict__.get("_meta", {}).get("features") or []:
            if spec["name"] == name:
                return Feature(spec["name"], spec["type"], self._key, spec.get("description", ""))
        raise KeyError(f"'FeatureGroup' object has no feature or transformation called '{name}'.")

    def __getattr__(self, name: str) -> Feature:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in FEATURE_GROUP_ATTRIBUTES:
            # On hsfs this name is the group's own attribute, never a feature: fail as code would there.
            raise AttributeError(
                f"'FeatureGroup' attribute {name!r} of hsfs is not implemented locally; on Hopsworks "
                f"fg.{name} is that attribute, not a feature: use fg.get_feature({name!r}) or fg[{name!r}]"
            )
        meta = self.__dict__.get("_meta", {})
        if any(f["name"] == name for f in meta.get("features") or []):
            return self[name]
        raise AttributeError(
            f"'FeatureGroup' object has no attribute {name!r}. If you are trying to access a feature, "
            "fall back on using the `get_feature` method."
        )

    def __repr__(self) -> str:
        return f"FeatureGroup({self.name!r}, version={self.version}, primary_key={self.primary_key})"

    def update_feature_description(self, feature_name: str, description: str) -> FeatureGroup:
        """Set the description of one feature."""
        self._spec(feature_name)
        for f in self._meta["features"]:
            if f["name"] == feature_name:
                f["description"] = description
        self._save_meta()
        return self

    def _save_meta(self) -> None:
        write_json_atomic(self._path / "fg.json", self._meta)

    # -- expectation suite ---------------------------------------------------------------------------------
    def save_expectation_suite(
        self,
        expectation_suite: Any,
        run_validation: bool = True,
        validation_ingestion_policy: str = "always",
        overwrite: bool = False,
    ) -> ExpectationSuite:
        """Attach an expectation suite, replacing any attached one; it runs on every insert.

        Args:
            expectation_suite: A local or hsfs ``ExpectationSuite``, a Great Expectations suite,
                a dict with ``expectations`` or a list of GE-shaped expectations.
            run_validation: Validate inserts (``validation_options={"run_validation": ...}`` overrides).
            validation_ingestion_policy: "strict" refuses a failing batch whole (nothing is written,
                the batch is quarantined); "always" writes it and keeps the report.
            overwrite: Accepted for compatibility: a saved suite always replaces the attached one.

        Returns:
            The attached suite.

        Raises:
            NotImplementedError: For an expectation type the local store does not evaluate.
        """
        suite = to_local_suite(
            expectation_suite, run_validation, validation_ingestion_policy, f"{self.name}_{self.version}"
        )
        # Re-read the metadata first: another process may have fixed the schema since this object was loaded.
        path = self._path / "fg.json"
        if path.exists():
            self._meta = json.loads(path.read_text())
        self._meta["expectation_suite"] = suite.to_json_dict()
        self._save_meta()
        return suite

    def get_expectation_suite(self, ge_type: bool = HAS_GREAT_EXPECTATIONS) -> ExpectationSuite | None:
        """Return the attached suite (a local ``ExpectationSuite`` whatever ``ge_type``), or None."""
        data = self._meta.get("expectation_suite")
        return None if not data else ExpectationSuite.from_json_dict(data)

    def delete_expectation_suite(self) -> None:
        """Detach the expectation suite: inserts are no longer validated."""
        path = self._path / "fg.json"
        if path.exists():
            self._meta = json.loads(path.read_text())
        self._meta["expectation_suite"] = None
        self._save_meta()

    def validate(
        self,
        dataframe: pd.DataFrame | None = None,
        expectation_suite: Any = None,
        save_report: bool = False,
        validation_options: dict[str, Any] | None = None,
        ingestion_result: str = "UNKNOWN",
        ge_type: bool = True,
    ) -> dict[str, Any] | None:
        """Validate ``dataframe`` (default: the stored rows) without writing it.

        Args:
            dataframe: The rows to check; None reads the feature group.
            expectation_suite: A suite to use instead of the attached one.
            save_report: Keep the report: with ``ingestion_result="REJECTED"`` the rows are
                quarantined next to it, as a refused insert would be.
            validation_options: ``{"run_validation": False}`` skips validation.
            ingestion_result: Recorded in the report.
            ge_type: Ignored: the report is a dict in Great Expectations' JSON shape.

        Returns:
            The report, or None when there is no suite or validation is switched off.
        """
        suite = (
            self.get_expectation_suite(False)
            if expectation_suite is None
            else to_local_suite(expectation_suite, True, "always", f"{self.name}_{self.version}")
        )
        options = dict(validation_options or {})
        if suite is None or not options.get("run_validation", True):
            return None
        frame = self.read() if dataframe is None else dataframe
        keys = self.primary_key + ([self.event_time] if self.event_time else [])
        rules = [e.to_json_dict() for e in suite.expectations]
        report = evaluate(frame, rules, keys=keys, suite_name=suite.expectation_suite_name)
        report["meta"].update(feature_group=self.name, version=self.version)
        report["ingestion_result"] = str(ingestion_result).upper()
        if save_report:
            rejected = frame if report["ingestion_result"] == "REJECTED" else None
            report["meta"]["saved_to"] = str(store_report(self._fs._root, self, report, rejected))
        return report

    # -- writes --------------------------------------------------------------------------------------------
    def _prepare(self, features: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(features, pd.DataFrame):
            raise TypeError(f"insert() takes a pandas DataFrame, got {type(features).__name__}")
        required = self.primary_key + ([self.event_time] if self.event_time else [])
        for column in required:
            role = "event time" if column == self.event_time else "primary key"
            if column not in features.columns:
                raise SchemaError(
                    f"{self.name} v{self.version}: {role} column {column!r} is missing from the DataFrame"
                )
            if features[column].isna().any():
                raise SchemaError(f"{self.name} v{self.version}: {role} column {column!r} has null values")
        if features.columns.duplicated().any():
            raise SchemaError(
                f"duplicate column names: {list(features.columns[features.columns.duplicated()])}"
            )
        if not self._meta.get("features"):
            check_feature_names(list(features.columns), f"{self.name} v{self.version}")
            specs = []
            for column in features.columns:
                ftype = "timestamp" if column == self.event_time else infer_type(features[column], column)
                desc = self._meta.get("feature_descriptions", {}).get(column, "")
                specs.append(FeatureSpec(str(column), ftype, desc).to_dict())
            # In memory only: insert saves the schema once the batch converted, so a refused first
            # batch leaves the group without a schema, as it was.
            self._meta["features"] = specs
        return features

    def _dedupe(self, table: pa.Table) -> pd.DataFrame:
        df = table.to_pandas()
        keys = self.primary_key + ([self.event_time] if self.event_time else [])
        # Rule (documented): within one insert, the last row for a (primary key, event time) wins.
        return df.drop_duplicates(subset=keys, keep="last").reset_index(drop=True)

    def insert(
        self,
        features: pd.DataFrame,
        overwrite: bool = False,
        operation: str = "upsert",
        storage: str | None = None,
        write_options: dict[str, Any] | None = None,
        validation_options: dict[str, Any] | None = None,
        wait: bool = False,
        transformation_context: dict[str, Any] | None = None,
        transform: bool = True,
        n_processes: int | None = None,
    ) -> tuple[None, Any]:
        """Upsert rows on (primary key, event time), offline and online.

        Args:
            features: The rows; their columns must match the schema (set by the first insert).
            overwrite: Replace all stored rows with ``features``.
            operation: Only "upsert" is supported.
            storage: Only None (offline and online) is supported.
            write_options: Job options; ones that cannot change the result are ignored.
            validation_options: ``{"run_validation": False}`` skips the expectation suite.
            wait: Ignored: local writes are synchronous.
            transformation_context: Not supported (must be None).
            transform: Compute on-demand features on insert (the default).
            n_processes: Ignored.

        Returns:
            ``(None, validation_report)``: no job runs locally.

        Raises:
            SchemaError: If a key column is missing or null, or a column is missing, extra or
                of the wrong type. Nothing is written then.
            NotImplementedError: For options that would change results and are not supported.
        """
        if operation != "upsert":
            raise NotImplementedError(f"insert(operation={operation!r}): only 'upsert' is supported locally")
        if storage is not None:
            raise NotImplementedError(f"insert(storage={storage!r}): local inserts write offline and online")
        unknown = set(write_options or {}) - IGNORED_WRITE_OPTIONS
        if unknown:
            raise NotImplementedError(f"insert(write_options=...): unsupported option(s) {sorted(unknown)}")
        if transformation_context:
            raise NotImplementedError("insert(transformation_context=...) is not supported locally")
        features = self._apply_on_demand(features) if transform else features
        # Validate the batch as given, before a first batch fixes the schema (a refused batch fixes nothing).
        report = self._fs._validate(self, features, validation_options or {})
        before = json.loads(json.dumps(self._meta))
        rows, data = self._convert(features, before)
        try:
            return self._store(data, rows, overwrite, report)
        except BaseException:
            if not before.get("features") and self._offline.version() is None:
                self._meta = before  # the first write failed: the schema it fixed goes with it
                self._save_meta()
            raise

    def _convert(self, features: pd.DataFrame, before: dict[str, Any]) -> tuple[pd.DataFrame, pa.Table]:
        """Return a batch as deduplicated rows and stored Arrow; save the schema a first batch fixes.

        A refused batch changes nothing, the metadata included (``before`` is restored).
        """
        try:
            features = self._prepare(features)
            rows = self._dedupe(to_arrow(features, self._specs()))
            data = self._stored_batch(rows)
        except BaseException:
            self._meta = before
            raise
        if not before.get("features"):
            self._meta.pop("feature_descriptions", None)
            self._save_meta()
        return rows, data

    def _store(self, data: pa.Table, rows: pd.DataFrame, overwrite: bool, report: Any) -> tuple[None, Any]:
        """Write a converted batch offline, then online; return insert's result."""
        if overwrite:
            version = self._write(lambda: self._offline.overwrite(data))
            self._write(lambda: self._sync_online(None, version), committed=version)
        else:
            if data.num_rows == 0:
                return None, report
            keys = self.primary_key + ([self.event_time] if self.event_time else [])
            version = self._write(lambda: self._offline.upsert(data, keys, self.event_time))
            self._write(lambda: self._sync_online(rows, version), committed=version)
        return None, report

    def _stored_batch(self, rows: pd.DataFrame) -> pa.Table:
        """Return the rows as Arrow, sorted as reads order them (event time, then primary key).

        Sorted on write, files hold sorted runs that reads put in order without a sort (row_order).
        """
        data = pa.Table.from_pandas(rows, schema=self._arrow_schema(), preserve_index=False)
        if not self.event_time:
            return data
        data, order = order_rows(data, read_order(self.event_time, self.primary_key))
        return data if order is None else data.take(pa.array(order))

    def _write(self, action: Callable[[], T], committed: int | None = None) -> T:
        """Run a storage write; turn a full, read-only or forbidden store folder into ``StoreWriteError``.

        ``committed`` is the offline version already written when the failing step is the online sync.
        """
        try:
            return action()
        except (OSError, DeltaError, sqlite3.Error) as exc:
            problem = storage_problem(exc)
            if problem is None:
                raise
            if committed is None:
                state = f"nothing was written (the table is still at version {self._offline.version()})"
            else:
                state = (
                    f"the offline table was written (version {committed}); the online copy was not and "
                    "catches up on the next write or read"
                )
            raise StoreWriteError(
                f"{self.name} v{self.version}: the store folder {self._fs._root} cannot be written "
                f"({problem}): {state}. Free space or fix the folder's permissions, then run again."
            ) from exc

    def _latest_per_key(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.event_time and not df[self.event_time].is_monotonic_increasing:  # time-ordered: no sort
            df = df.sort_values(self.event_time, kind="stable")
        return df.drop_duplicates(subset=self.primary_key, keep="last")

    def _sync_online(self, batch: pd.DataFrame | None, version: int, repair: bool = True) -> None:
        if not self.online_enabled:
            return

        def rebuild() -> tuple[pd.DataFrame, int]:
            current = self._offline.open()
            if current is None:
                return self._empty_frame(), -1
            frame = self._offline.read(version=current.version())
            return self._latest_per_key(frame), current.version()

        latest = None if batch is None else self._latest_per_key(batch)
        try:
            self._fs._online.sync(
                self._online_table, self._specs(), self.primary_key, self.event_time, latest, version, rebuild
            )
        except OnlineStoreDamagedError:
            if not repair:
                raise
            # Safe to do here: the offline tables are the truth and this writer's commit is among them.
            log.warning("%s v%s: the online store is damaged: rebuilding it", self.name, self.version)
            self._fs._repair_online(force=True)

    def _ensure_online(self) -> None:
        """Bring the online table up to the offline table (heals after a crash between the two writes)."""
        if not self.online_enabled or not self._meta.get("features"):
            return
        version = self._offline.version()
        if version is None:
            return
        try:
            synced = self._fs._online.synced_version(self._online_table)
        except OnlineStoreDamagedError:
            synced = None  # _sync_online below rebuilds the damaged file
        if synced is None or synced < version:
            self._sync_online(None, version)

    def remove_rows(
        self, delete_df: pd.DataFrame, write_options: dict[str, Any] | None = None, storage: str | None = None
    ) -> int:
        """Delete rows by primary key (and event time, when given) offline and online.

        Args:
            delete_df: Rows holding at least the primary key columns. With the event time
                column too, only those (key, time) rows go; without it, every row of the keys.
            write_options: Ignored keys as for insert.
            storage: Only None (both storages) is supported.

        Returns:
            The number of offline rows deleted.

        Raises:
            SchemaError: If a primary key column is missing.
        """
        if storage is not None:
            raise NotImplementedError(f"remove_rows(storage={storage!r}): local deletes cover both storages")
        unknown = set(write_options or {}) - IGNORED_WRITE_OPTIONS
        if unknown:
            raise NotImplementedError(
                f"remove_rows(write_options=...): unsupported option(s) {sorted(unknown)}"
            )
        missing = [k for k in self.primary_key if k not in delete_df.columns]
        if missing:
            raise SchemaError(f"remove_rows: primary key column(s) {missing} missing from the DataFrame")
        keys = list(self.primary_key)
        if self.event_time and self.event_time in delete_df.columns and self.event_time not in keys:
            keys.append(self.event_time)
        specs = [self._spec(k) for k in keys]
        table = to_arrow(delete_df[keys].drop_duplicates(), specs)
        version, deleted = self._write(lambda: self._offline.delete_keys(table, keys))
        if version >= 0:
            self._write(lambda: self._sync_online(None, version), committed=version)
        return deleted

    def delete(self, force: bool = False, delete_feature_views: bool = False) -> None:
        """Drop the feature group: its offline table, online table and metadata."""
        if delete_feature_views:
            raise NotImplementedError("delete(delete_feature_views=True): delete the feature views first")
        import shutil

        self._fs._online.drop(self._online_table)
        shutil.rmtree(self._path, ignore_errors=True)

    # -- reads ---------------------------------------------------------------------------------------------
    def select_all(
        self,
        include_primary_key: bool = True,
        include_foreign_key: bool = True,
        include_partition_key: bool = True,
        include_event_time: bool = True,
    ) -> Query:
        """Return a query of all features (optionally without keys or event time)."""
        names = [
            n
            for n in self._feature_names or [s.name for s in self._specs()]
            if (include_primary_key or n not in self.primary_key)
            and (include_event_time or n != self.event_time)
        ]
        return Query(self, names)

    def select(self, features: list[str | Feature]) -> Query:
        """Return a query of the named features."""
        names = [f.name if isinstance(f, Feature) else f for f in features]
        for name in names:
            self._spec(name)
        return Query(self, names)

    def select_features(self) -> Query:
        """Return a query of all features except the primary key and event time."""
        return self.select_all(include_primary_key=False, include_event_time=False)

    def select_except(self, features: list[str | Feature] | None = None) -> Query:
        """Return a query of all features but the named ones."""
        drop = {f.name if isinstance(f, Feature) else f for f in features or []}
        for name in drop:
            self._spec(name)
        return Query(self, [n for n in self._feature_names if n not in drop])

    def filter(self, f: _Condition) -> Query:
        """Return a query of all features filtered by ``f``."""
        return self.select_all().filter(f)

    def as_of(self, wallclock_time: Any = None, exclude_until: Any = None) -> Query:
        """Return a query of all features as they were at ``wallclock_time``."""
        return self.select_all().as_of(wallclock_time, exclude_until)

    def read(
        self,
        wallclock_time: Any = None,
        online: bool = False,
        dataframe_type: str = "default",
        read_options: dict | None = None,
        start_time: Any = None,
        end_time: Any = None,
    ) -> pd.DataFrame:
        """Read the feature group, optionally as of ``wallclock_time`` and within an event-time range.

        ``start_time`` is inclusive and ``end_time`` exclusive (the local store's documented rule).
        """
        if not self._meta.get("features"):
            return pd.DataFrame()
        query = self.select_all()
        if wallclock_time is not None:
            query = query.as_of(wallclock_time)
        condition = self._time_range(start_time, end_time)
        if online:
            raise NotImplementedError(
                "FeatureGroup.read(online=True): use a feature view's get_feature_vector(s)"
            )
        if condition is not None:
            query = query.filter(condition)
        return query.read(dataframe_type=dataframe_type)

    def _time_range(self, start_time: Any, end_time: Any) -> _Condition | None:
        """Return the filter ``start_time <= event_time < end_time`` (None when both are empty)."""
        start = to_utc_timestamp(start_time, "start_time")
        end = to_utc_timestamp(end_time, "end_time")
        if (start is not None or end is not None) and self.event_time is None:
            raise ValueError(
                f"{self.name} v{self.version} has no event time: start_time/end_time cannot apply"
            )
        parts = []
        if start is not None:
            parts.append(self[self.event_time] >= start)  # type: ignore[index]
        if end is not None:
            parts.append(self[self.event_time] < end)  # type: ignore[index]
        if start is not None and end is not None and start >= end:
            raise ValueError(f"start_time {start} is not before end_time {end}")
        result: _Condition | None = None
        for part in parts:
            result = part if result is None else result & part
        return result
