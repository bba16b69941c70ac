"""Feature types, schema inference and the casting that enforces a schema on insert."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from .timeutil import to_utc_series

ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
SQLITE_TYPES = {
    "bigint": "INTEGER",
    "double": "REAL",
    "string": "TEXT",
    "boolean": "INTEGER",
    "timestamp": "INTEGER",
}


class SchemaError(ValueError):
    """A DataFrame does not fit a feature group's schema."""


@dataclass(frozen=True)
class FeatureSpec:
    """One column of a feature group: its name, type and description."""

    name: str
    type: str
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        """Return the spec as JSON-ready data."""
        return {"name": self.name, "type": self.type, "description": self.description}


def check_feature_names(columns: list[object], group: str) -> None:
    """Refuse column names the store cannot keep apart or quote (raise ``SchemaError`` naming them).

    Delta Lake (and Hopsworks, which lower-cases feature names and turns spaces into ``_``) cannot
    hold two columns that differ only in case; a backtick, a control character or an empty name
    breaks the SQL of later merges and lookups.
    """
    bad = [
        c
        for c in columns
        if not isinstance(c, str) or not c.strip() or "`" in c or any(ord(ch) < 32 for ch in c)
    ]
    if bad:
        raise SchemaError(
            f"{group}: column name(s) {bad!r} cannot be stored: a feature name must be a non-empty "
            "string without backticks or control characters"
        )
    seen: dict[str, str] = {}
    clashes = []
    for column in columns:
        folded = column.lower().replace(" ", "_")  # type: ignore[union-attr]
        if folded in seen:
            clashes.append((seen[folded], column))
        seen.setdefault(folded, column)  # type: ignore[arg-type]
    if clashes:
        pairs = ", ".join(f"{a!r} and {b!r}" for a, b in clashes)
        raise SchemaError(
            f"{group}: columns {pairs} differ only in case or spaces: Delta Lake and Hopsworks store "
            "them as one feature name; rename one"
        )


def infer_type(series: pd.Series, column: str) -> str:
    """Return the feature type of a pandas column, or raise naming the column."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_object_dtype(dtype):
        values = series.dropna()
        if values.empty:
            raise SchemaError(f"column {column!r} has only nulls: its type cannot be inferred")
        if values.map(lambda v: isinstance(v, str)).all():
            return "string"
        if values.map(
            lambda v: isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "isoformat")
        ).all():
            return "timestamp"
        if values.map(lambda v: isinstance(v, (bool, np.bool_))).all():
            return "boolean"
    raise SchemaError(f"column {column!r} has unsupported dtype {dtype}")


def cast_column(series: pd.Series, ftype: str, column: str) -> pa.Array:
    """Cast a pandas column to the Arrow type of ``ftype``, or raise naming the column."""
    actual = None if series.isna().all() else infer_type(series, column)
    compatible = actual is None or actual == ftype or (ftype == "double" and actual == "bigint")
    if ftype == "timestamp" and actual == "string":
        compatible = True  # ISO strings are accepted for timestamps, parsed as UTC when naive
    if not compatible:
        raise SchemaError(f"column {column!r} has type {actual}, the feature group expects {ftype}")
    if ftype == "timestamp":
        series = to_utc_series(series, column)
    elif ftype == "bigint" and series.isna().any():
        series = series.astype("Int64")
    try:
        return pa.array(series, type=ARROW_TYPES[ftype], from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"column {column!r} cannot be stored as {ftype}: {exc}") from exc


def to_arrow(df: pd.DataFrame, specs: list[FeatureSpec]) -> pa.Table:
    """Return ``df`` as an Arrow table with exactly the columns and types of ``specs``."""
    missing = [s.name for s in specs if s.name not in df.columns]
    extra = [c for c in df.columns if c not in {s.name for s in specs}]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"unexpected column(s) {extra}")
        raise SchemaError("DataFrame does not match the feature group schema: " + "; ".join(parts))
    arrays = [cast_column(df[s.name], s.type, s.name) for s in specs]
    schema = pa.schema([pa.field(s.name, ARROW_TYPES[s.type]) for s in specs])
    return pa.Table.from_arrays(arrays, schema=schema)
