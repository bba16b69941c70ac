"""The store API the pipelines use, the subset of the Hopsworks SDK (hsfs/hsml 5.2) both backends speak,
with the SDK's names; the SDK's objects and the twin satisfy it structurally (nothing inherits from it)."""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd


class Filter(Protocol):
    """A condition on a feature (``fg["location"] == "x"``); ``&`` and ``|`` combine conditions."""

    def __and__(self, other: Filter) -> Filter: ...
    def __or__(self, other: Filter) -> Filter: ...


class Feature(Protocol):
    """A feature of a group: comparing it with a value gives a ``Filter``."""

    name: str

    def __eq__(self, other: object) -> Filter: ...  # type: ignore[override]
    def __ge__(self, other: object) -> Filter: ...
    def __lt__(self, other: object) -> Filter: ...


class Query(Protocol):
    """A selection of features (``read()`` returns its rows), possibly joined with other groups."""

    def filter(self, f: Filter) -> Query: ...
    def read(self) -> pd.DataFrame: ...
    def join(self, sub_query: Query, on: list[str] | None = None, prefix: str | None = None) -> Query:
        """Return a point-in-time left join: each left row gets the latest right row at or before it."""


class FeatureGroup(Protocol):
    """A versioned table of features with a primary key and an event time; ``fg[name]`` is a feature
    (never ``fg.<name>``: on the SDK the group's own properties, ``location``, ``name``, ..., win)."""

    name: str
    version: int
    primary_key: list[str]
    event_time: str | None

    def __getitem__(self, name: str) -> Feature: ...
    def get_feature(self, name: str) -> Feature | None: ...
    def read(self) -> pd.DataFrame: ...
    def select_all(self) -> Query: ...
    def select(self, features: list[str]) -> Query: ...
    def filter(self, f: Filter) -> Query: ...
    def insert(self, features: pd.DataFrame, write_options: dict[str, Any] | None = None) -> Any:
        """Upsert rows on primary key + event time, offline and (if online enabled) online.

        Args:
            features: Rows with every feature of the group.
            write_options: Backend options; ``{"wait_for_job": True}`` waits for the job on Hopsworks.

        Returns:
            ``(job, validation_report)``; either may be None.

        Raises:
            Exception: The backend's own error when the batch breaks the schema or, with the ``strict``
                policy, its expectation suite; nothing is written then.
        """


class FeatureView(Protocol):
    """A query over feature groups with a label. Every window (``train_start``/``train_end``, ...,
    ``start_time``/``end_time``) is ``[start, end)``; a split is ``(training_dataset_version, job)`` when
    created and ``X_train, X_test, y_train, y_test`` when read."""

    name: str
    version: int

    def create_train_test_split(self, **kwargs: Any) -> tuple[int, Any]:
        """Materialise a time split.

        Args:
            **kwargs: ``train_start``, ``train_end``, ``test_start``, ``test_end``, ``description``.

        Returns:
            ``(training_dataset_version, job)``.
        """

    def get_train_test_split(self, training_dataset_version: int, **kwargs: Any) -> tuple[Any, ...]:
        """Read a materialised split.

        Args:
            training_dataset_version: What ``create_train_test_split`` returned.
            **kwargs: ``event_time=True`` and ``primary_key=True`` keep those columns in X.

        Returns:
            ``X_train, X_test, y_train, y_test``; with keys, the joined groups' keys too, qualified.
        """

    def get_batch_data(self, start_time: Any = None, end_time: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Return the features of the rows with event time in ``[start_time, end_time)``."""


class FeatureStore(Protocol):
    """Feature groups and views by name and version (``version=None``: the latest group); ``get_or_create_*``
    makes the handle on first use (``primary_key``, ``event_time``, ``labels``, ... in kwargs)."""

    def get_or_create_feature_group(self, name: str, version: int, **kwargs: Any) -> FeatureGroup:
        """Return the group; a new one gets its schema from its first insert.

        Args:
            version: A new version is a new, empty table.
            **kwargs: ``primary_key``, ``event_time``, ``online_enabled``, ``description``, ...
        """

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup: ...
    def get_or_create_feature_view(
        self, name: str, version: int, query: Query, **kwargs: Any
    ) -> FeatureView: ...


class Model(Protocol):
    """A registered model version: its files (``download()`` returns their folder), metrics and the feature
    view (at its version) it was trained on."""

    name: str
    version: int
    training_metrics: dict[str, Any]
    training_dataset_version: int | None

    def download(self, local_path: str | None = None) -> str: ...
    def get_feature_view(self) -> FeatureView: ...


class ModelRegistry(Protocol):
    """Model versions by name (``version=None``: the first); ``python.create_model(...)`` registers one."""

    python: Any

    def get_models(self, name: str) -> list[Model]: ...
    def get_model(self, name: str, version: int | None = None) -> Model | None:
        """Return one version of a model.

        Args:
            version: None gives the *first* version on both backends, not the latest.

        Returns:
            The version's entry, or None when there is no such version.
        """


class Project(Protocol):
    """What ``connect()`` returns: ``hopsworks.login()``'s project, or the local twin's."""

    def get_feature_store(self, name: str | None = None) -> FeatureStore: ...
    def get_model_registry(self) -> ModelRegistry: ...
