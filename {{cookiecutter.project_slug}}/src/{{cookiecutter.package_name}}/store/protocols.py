"""The store API the pipelines use, written down: the subset of the Hopsworks SDK both backends speak.

``connect()`` returns a ``Project``: on Hopsworks the SDK's own objects (hsfs/hsml 5.2), locally the
``local-hopsworks`` twin. Both satisfy these protocols structurally; nothing inherits from them.
Only what the project calls is listed, with the SDK's names and argument names.
"""

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
    """A selection of features, possibly joined point-in-time with other groups."""

    def filter(self, f: Filter) -> Query:
        """Return the query restricted to rows matching ``f``."""
        ...

    def join(self, sub_query: Query, on: list[str] | None = None, prefix: str | None = None) -> Query:
        """Return a point-in-time left join: each left row gets the latest right row at or before it."""
        ...

    def read(self) -> pd.DataFrame:
        """Return the query's rows."""
        ...


class FeatureGroup(Protocol):
    """A versioned table of features with a primary key and an event time.

    Reach features with ``fg.get_feature(name)`` or ``fg[name]``, never ``fg.<name>``: on the SDK the
    group's own properties (``location``, ``name``, ``version``, ...) win over feature lookup.
    """

    name: str
    version: int
    primary_key: list[str]
    event_time: str | None

    def __getitem__(self, name: str) -> Feature: ...

    def get_feature(self, name: str) -> Feature:
        """Return the feature called ``name``."""
        ...

    def insert(self, features: pd.DataFrame, write_options: dict[str, Any] | None = None) -> Any:
        """Upsert rows on primary key + event time, offline and (if online enabled) online.

        Args:
            features: Rows with every feature of the group.
            write_options: Backend options; ``{"wait_for_job": True}`` waits on Hopsworks.

        Returns:
            ``(job, validation_report)``; either may be None.

        Raises:
            Exception: The backend's error when the batch breaks the schema or, with the ``strict``
                validation policy, its expectation suite; nothing is written then.
        """
        ...

    def read(self) -> pd.DataFrame:
        """Return every row of the group."""
        ...

    def select_all(self) -> Query:
        """Return a query of all features."""
        ...

    def select(self, features: list[str]) -> Query:
        """Return a query of the named features."""
        ...

    def filter(self, f: Filter) -> Query:
        """Return a query of the rows matching ``f``."""
        ...


class FeatureView(Protocol):
    """A query over feature groups, with a label, from which training and serving data are read."""

    name: str
    version: int

    def create_train_test_split(self, **kwargs: Any) -> tuple[int, Any]:
        """Materialise a time split; each window (``train_start``, ``train_end``, ...) is ``[start, end)``.

        Returns:
            ``(training_dataset_version, job)``.
        """
        ...

    def get_train_test_split(self, training_dataset_version: int, **kwargs: Any) -> tuple[Any, Any, Any, Any]:
        """Return ``X_train, X_test, y_train, y_test`` of a materialised split."""
        ...

    def get_batch_data(self, start_time: Any = None, end_time: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Return the features of rows with event time in ``[start_time, end_time)``."""
        ...


class FeatureStore(Protocol):
    """Feature groups and feature views, by name and version."""

    def get_or_create_feature_group(self, name: str, version: int, **kwargs: Any) -> FeatureGroup:
        """Return the group, creating its handle when it does not exist yet (written by the first insert).

        Args:
            **kwargs: ``primary_key``, ``event_time``, ``online_enabled``, ``description``, ...
        """
        ...

    def get_feature_group(self, name: str, version: int | None = None) -> FeatureGroup:
        """Return an existing group (``version=None``: the latest)."""
        ...

    def get_or_create_feature_view(self, name: str, version: int, query: Query, **kwargs: Any) -> FeatureView:
        """Return the view, creating it from ``query`` (and ``labels``) when it does not exist."""
        ...


class Model(Protocol):
    """A registered model version: its files, metrics and the feature view it was trained on."""

    name: str
    version: int
    training_metrics: dict[str, Any]
    training_dataset_version: int | None

    def get_feature_view(self) -> FeatureView:
        """Return the feature view (at the version) the model was trained on."""
        ...

    def download(self, local_path: str | None = None) -> str:
        """Download the model's files and return the local folder."""
        ...


class ModelRegistry(Protocol):
    """Model versions by name; ``python.create_model(...)`` registers a new one."""

    python: Any

    def get_model(self, name: str, version: int | None = None) -> Model:
        """Return one version (``version=None``: the first)."""
        ...

    def get_models(self, name: str) -> list[Model]:
        """Return every version of ``name``."""
        ...


class Project(Protocol):
    """What ``connect()`` returns: ``hopsworks.login()``'s project, or the local twin's."""

    def get_feature_store(self, name: str | None = None) -> FeatureStore:
        """Return the project's feature store."""
        ...

    def get_model_registry(self) -> ModelRegistry:
        """Return the project's model registry."""
        ...
