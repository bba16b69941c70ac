"""Local maintenance of a feature group's storage: what the SDK leaves to the platform.

The twin's classes offer only the SDK's names; jobs that work on the local files themselves
(history purges, crash checks, benchmarks) reach the storage through these functions.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .feature_group import write_json_atomic

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from . import LocalProject
    from .feature_group import FeatureGroup
    from .feature_store import FeatureStore
    from .offline import OfflineTable
    from .online import OnlineStore
    from .schema import FeatureSpec


def offline_table(fg: FeatureGroup) -> OfflineTable:
    """Return the Delta table holding a feature group's offline rows."""
    return fg._offline


def online_table_name(fg: FeatureGroup) -> str:
    """Return the name of a feature group's table in the online SQLite file."""
    return fg._online_table


def resync_online(fg: FeatureGroup) -> None:
    """Bring a group's online table up to its offline table (after a crash or a history purge)."""
    fg._ensure_online()


def feature_specs(fg: FeatureGroup) -> list[FeatureSpec]:
    """Return the stored schema of a feature group (names, store types, descriptions)."""
    return fg._specs()


def arrow_schema(fg: FeatureGroup) -> pa.Schema:
    """Return the Arrow schema of a feature group's offline table."""
    return fg._arrow_schema()


def store_folder(project: LocalProject) -> Path:
    """Return the folder a local project keeps everything in."""
    return project._root


def online_store(fs: FeatureStore) -> OnlineStore:
    """Return the SQLite online store of a local feature store."""
    return fs._online


def create_tag_schema(project: LocalProject, name: str) -> None:
    """Create a tag schema, the administrator's step on Hopsworks that models' tags need first."""
    from .registry import TAG_SCHEMAS_FILE

    path = project._root / TAG_SCHEMAS_FILE
    schemas = set(json.loads(path.read_text())) if path.exists() else set()
    write_json_atomic(path, sorted(schemas | {name}))
