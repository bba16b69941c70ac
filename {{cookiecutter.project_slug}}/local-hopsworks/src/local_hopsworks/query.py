"""Features, filters and queries, with point-in-time correct joins.

A join of feature groups that both have an event time is point-in-time
correct as Hopsworks defines it: for each row of the leftmost feature group,
each joined group contributes its latest row whose event time is at or before
the left row's event time (nulls when there is none; the left row is kept).
Filters on the leftmost group are pushed down into its read; filters on joined
groups filter the joined result, because pushing them below a point-in-time
join would change which row is "latest".
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .row_order import read_order
from .schema import ARROW_TYPES
from .timeutil import to_utc_timestamp

if TYPE_CHECKING:
    from .feature_group import FeatureGroup

FgKey = tuple[str, int]
ColumnMap = dict[tuple[FgKey, str], str]
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
PIT_JOIN_TYPES = ("left", "inner")
PLAIN_JOIN_TYPES = {"left": "left", "inner": "inner", "right": "right", "full": "outer", "outer": "outer"}


class Feature:
    """A feature of a feature group; comparing it with a value gives a ``Filter``."""

    def __init__(self, name: str, type: str, fg_key: FgKey, description: str = "") -> None:
        self.name = name
        self.type = type
        self._fg_key = fg_key
        self.description = description

    def __repr__(self) -> str:
        return f"Feature({self.name!r}, {self.type!r}, fg={self._fg_key[0]}_v{self._fg_key[1]})"

    def __hash__(self) -> int:
        return hash((self._fg_key, self.name))

    def _filter(self, op: str, value: Any) -> Filter:
        if isinstance(value, Feature):
            raise NotImplementedError(
                "comparing two features is not supported; compare a feature with a value"
            )
        return Filter(self, op, value)

    def __eq__(self, other: Any) -> Filter:  # type: ignore[override]
        return self._filter("==", other)

    def __ne__(self, other: Any) -> Filter:  # type: ignore[override]
        return self._filter("!=", other)

    def __lt__(self, other: Any) -> Filter:
        return self._filter("<", other)

    def __le__(self, other: Any) -> Filter:
        return self._filter("<=", other)

    def __gt__(self, other: Any) -> Filter:
        return self._filter(">", other)

    def __ge__(self, other: Any) -> Filter:
        return self._filter(">=", other)

    def isin(self, values: list[Any]) -> Filter:
        """Return a filter keeping rows whose value is one of ``values``."""
        return Filter(self, "isin", list(values))


def _is_null(value: Any) -> bool:
    """Return whether a filter value is null (None or a float NaN)."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


class _Condition:
    def __and__(self, other: _Condition) -> Logic:
        return Logic("AND", self, other)

    def __or__(self, other: _Condition) -> Logic:
        return Logic("OR", self, other)

    def _fg_keys(self) -> set[FgKey]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _evaluate(self, df: pd.DataFrame, columns: ColumnMap) -> pd.Series:  # pragma: no cover - overridden
        raise NotImplementedError

    def _to_arrow(self, columns: ColumnMap) -> ds.Expression:  # pragma: no cover - overridden
        raise NotImplementedError


class Filter(_Condition):
    """A comparison of one feature with a value."""

    def __init__(self, feature: Feature, op: str, value: Any) -> None:
        if op not in _OPS and op != "isin":
            raise ValueError(f"unknown filter operator {op!r}")
        self.feature = feature
        self._op = op
        self.value = value

    def __repr__(self) -> str:
        return f"Filter({self.feature.name} {self._op} {self.value!r})"

    def __bool__(self) -> bool:
        raise TypeError("a Filter has no truth value: combine filters with & and |, not 'and'/'or'")

    def _fg_keys(self) -> set[FgKey]:
        return {self.feature._fg_key}

    def _typed(self, value: Any) -> Any:
        if self.feature.type == "timestamp":
            return to_utc_timestamp(value, f"filter value for {self.feature.name!r}")
        return value

    def _evaluate(self, df: pd.DataFrame, columns: ColumnMap) -> pd.Series:
        col = df[columns[(self.feature._fg_key, self.feature.name)]]
        if self._op == "isin":
            return col.isin([self._typed(v) for v in self.value if not _is_null(v)]) & col.notna()
        if _is_null(self.value):
            return pd.Series(False, index=df.index)  # SQL: x = NULL, x != NULL, x < NULL are never true
        # SQL semantics: a comparison with null is not true, for != as well.
        return _OPS[self._op](col, self._typed(self.value)) & col.notna()

    def _to_arrow(self, columns: ColumnMap) -> ds.Expression:
        field_ = pc.field(columns[(self.feature._fg_key, self.feature.name)])
        arrow_type = ARROW_TYPES[self.feature.type]
        if pa.types.is_string(arrow_type):
            # delta-rs' merges may write a string column as string_view in some files: Arrow has no
            # kernel comparing the two, so the column is cast to the table's type before comparing.
            field_ = field_.cast(arrow_type)

        def fractional(v: Any) -> bool:
            # A double such as 0.5 compared with a bigint feature: casting it to int64 would
            # truncate it (n < 0.5 would become n < 0), so it is compared as a double instead.
            return arrow_type == pa.int64() and isinstance(v, float) and not float(v).is_integer()

        def scalar(v: Any) -> pa.Scalar:
            v = self._typed(v)
            if fractional(v):
                return pa.scalar(float(v), type=pa.float64())
            return pa.scalar(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v, type=arrow_type)

        if self._op == "isin":
            # A fractional double never equals a bigint value, and (SQL) NULL equals nothing:
            # neither can match. Arrow's isin would match null rows to a null in the list.
            values = [scalar(v).as_py() for v in self.value if not _is_null(v) and not fractional(v)]
            return field_.isin(pa.array(values, type=arrow_type))
        if _is_null(self.value):
            return pc.scalar(False)
        return _OPS[self._op](field_, scalar(self.value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature.name,
            "type": self.feature.type,
            "fg": list(self.feature._fg_key),
            "op": self._op,
            "value": _json_value(self.value),
        }


class Logic(_Condition):
    """Two conditions combined with AND or OR."""

    def __init__(self, op: str, left: _Condition, right: _Condition) -> None:
        self._op = op
        self._left = left
        self._right = right

    def __repr__(self) -> str:
        return f"({self._left!r} {self._op} {self._right!r})"

    def __bool__(self) -> bool:
        raise TypeError("a filter has no truth value: combine filters with & and |, not 'and'/'or'")

    def _fg_keys(self) -> set[FgKey]:
        return self._left._fg_keys() | self._right._fg_keys()

    def _evaluate(self, df: pd.DataFrame, columns: ColumnMap) -> pd.Series:
        left, right = self._left._evaluate(df, columns), self._right._evaluate(df, columns)
        return (left & right) if self._op == "AND" else (left | right)

    def _to_arrow(self, columns: ColumnMap) -> ds.Expression:
        left, right = self._left._to_arrow(columns), self._right._to_arrow(columns)
        return (left & right) if self._op == "AND" else (left | right)

    def to_dict(self) -> dict[str, Any]:
        return {"logic": self._op, "left": self._left.to_dict(), "right": self._right.to_dict()}


def condition_from_dict(data: dict[str, Any]) -> _Condition:
    """Rebuild a filter tree saved with ``to_dict``."""
    if "logic" in data:
        return Logic(data["logic"], condition_from_dict(data["left"]), condition_from_dict(data["right"]))
    feature = Feature(data["feature"], data["type"], (data["fg"][0], int(data["fg"][1])))
    return Filter(feature, data["op"], data["value"])


def conjuncts(condition: _Condition | None) -> list[_Condition]:
    """Split a condition into the parts joined by top-level ANDs."""
    if condition is None:
        return []
    if isinstance(condition, Logic) and condition._op == "AND":
        return conjuncts(condition._left) + conjuncts(condition._right)
    return [condition]


def and_all(conditions: list[_Condition]) -> _Condition | None:
    """Combine conditions with AND (None for an empty list)."""
    result: _Condition | None = None
    for condition in conditions:
        result = condition if result is None else Logic("AND", result, condition)
    return result


class FeatureStoreException(Exception):  # noqa: N818 - the name of the exception hsfs raises
    """What hsfs raises for a feature name a query does not have, or has in several groups."""


@dataclass
class Join:
    """One joined sub-query and how it is joined."""

    query: Query
    left_on: list[str]
    right_on: list[str]
    join_type: str
    prefix: str | None


@dataclass
class OutputColumn:
    """A column of a query's result and the feature it comes from."""

    name: str
    fg_key: FgKey
    feature: str
    type: str
    is_primary_key: bool
    is_event_time: bool


@dataclass
class _Node:
    fg: FeatureGroup
    features: list[str]
    prefix: str
    parent: int | None
    left_on: list[str] = field(default_factory=list)
    right_on: list[str] = field(default_factory=list)
    join_type: str = "left"


class Query:
    """A selection of features from a feature group, joined with other queries."""

    def __init__(
        self,
        fg: FeatureGroup,
        features: list[str],
        filter: _Condition | None = None,
        joins: list[Join] | None = None,
        wallclock_time: pd.Timestamp | None = None,
    ) -> None:
        self._left_feature_group = fg
        self._features = list(features)
        self._filter = filter
        self._joins = list(joins or [])
        self._wallclock_time = wallclock_time

    def __repr__(self) -> str:
        joins = "".join(f" JOIN {j.query!r}" for j in self._joins)
        fg = self._left_feature_group
        return f"Query({fg.name}_v{fg.version}: {self._features}{joins})"

    @property
    def featuregroups(self) -> list[FeatureGroup]:
        """Return every feature group the query reads, leftmost first."""
        return [node.fg for node in self._nodes()]

    @property
    def features(self) -> list[Feature]:
        """Return the features of the result, in order."""
        return [Feature(c.feature, c.type, c.fg_key) for c in self._output_columns()]

    def get_feature(self, feature_name: str) -> Feature:
        """Return the feature of that name from the query's groups, resolved as hsfs does.

        A name found in several groups resolves to the one joined without a prefix; a joined
        feature is also found as ``<prefix><name>``.

        Raises:
            FeatureStoreException: If no group of the query has the feature, or several do ambiguously.
        """
        found: dict[str, list[tuple[Feature, str | None]]] = {}

        def add(query: Query, prefix: str | None) -> None:
            fg = query._left_feature_group
            for name in query._features:
                feature = fg[name]
                found.setdefault(name, []).append((feature, prefix))
                if prefix:
                    found.setdefault(prefix + name, []).append((feature, prefix))
            for join in query._joins:
                add(join.query, join.prefix)

        add(self, None)
        matches = found.get(feature_name, [])
        if len(matches) != 1:
            matches = [match for match in matches if match[1] is None]
        if len(matches) == 1:
            return matches[0][0]
        if not found.get(feature_name):
            raise FeatureStoreException(f"Feature name '{feature_name}' could not found be found in query.")
        raise FeatureStoreException(
            f"Provided feature name '{feature_name}' is ambiguous and exists in more than one feature group. "
            "Consider prepending the prefix specified in the join."
        )

    def __getitem__(self, name: str) -> Feature:
        if not isinstance(name, str):
            raise TypeError(f"Expected type `str`, got `{type(name)}`. Features are accessible by name.")
        return self.get_feature(name)

    def __getattr__(self, name: str) -> Feature:
        if name.startswith("_"):  # copy, pickle and unset private attributes: never a feature
            raise AttributeError(name)
        try:
            return self.get_feature(name)
        except FeatureStoreException as err:
            raise AttributeError(f"'Query' object has no attribute '{name}'. ") from err

    def join(
        self,
        sub_query: Query,
        on: list[str] | None = None,
        left_on: list[str] | None = None,
        right_on: list[str] | None = None,
        join_type: str = "left",
        prefix: str | None = None,
    ) -> Query:
        """Return a new query with ``sub_query`` joined (point-in-time when both have event times).

        Args:
            sub_query: The query to join; its leftmost feature group is matched on the keys.
            on: Feature names present in both groups.
            left_on: Keys on this query's leftmost group (with ``right_on``).
            right_on: Keys on the sub-query's leftmost group.
            join_type: "left" or "inner" (also "right"/"full" when a side has no event time).
            prefix: Prefix for the joined features' names.

        Returns:
            A new Query; this one is unchanged.

        Raises:
            ValueError: If the keys are missing, of different counts or not features.
            NotImplementedError: For a join type the point-in-time join does not support.
        """
        if not isinstance(sub_query, Query):
            raise ValueError(f"join() takes a Query, got {type(sub_query).__name__}")
        left_fg, right_fg = self._left_feature_group, sub_query._left_feature_group
        left_keys, right_keys = _join_keys(left_fg, right_fg, on, left_on, right_on)
        pit = left_fg.event_time is not None and right_fg.event_time is not None
        allowed = PIT_JOIN_TYPES if pit else tuple(PLAIN_JOIN_TYPES)
        if join_type not in allowed:
            raise NotImplementedError(
                f"join_type={join_type!r} is not supported {'with point-in-time joins ' if pit else ''}"
                f"(use one of {list(allowed)})"
            )
        present = {node.fg._key for node in self._nodes()}
        again = present & {node.fg._key for node in sub_query._nodes()}
        if again:
            # Columns are tracked per feature group version, so a second copy would overwrite the first.
            raise NotImplementedError(
                f"joining feature group(s) {sorted(again)} twice in one query is not supported locally"
            )
        new = copy.copy(self)
        new._joins = [*self._joins, Join(sub_query, left_keys, right_keys, join_type, prefix)]
        return new

    def filter(self, f: _Condition) -> Query:
        """Return a new query that keeps only rows matching ``f``."""
        condition = f
        if not isinstance(condition, _Condition):
            # hsfs' own error: `fg.location == "x"` on a group property gives a bool, not a Filter.
            raise TypeError(f"Expected type `Filter` or `Logic`, got `{type(condition)}`")
        known = {node.fg._key for node in self._nodes()}
        stray = condition._fg_keys() - known
        if stray:
            raise ValueError(f"filter uses feature group(s) {sorted(stray)} that are not in this query")
        new = copy.copy(self)
        new._filter = condition if self._filter is None else Logic("AND", self._filter, condition)
        return new

    def as_of(self, wallclock_time: Any = None, exclude_until: Any = None) -> Query:
        """Return a new query reading every feature group as it was at ``wallclock_time``."""
        if exclude_until is not None:
            raise NotImplementedError("as_of(exclude_until=...) (incremental reads) is not supported locally")
        new = copy.copy(self)
        new._wallclock_time = to_utc_timestamp(wallclock_time, "wallclock_time")
        return new

    # -- planning --------------------------------------------------------------------------------------------
    def _nodes(self) -> list[_Node]:
        nodes = [_Node(self._left_feature_group, self._features, "", None)]

        def add(query: Query, parent: int, prefix: str) -> None:
            for join in query._joins:
                index = len(nodes)
                sub_prefix = prefix + (join.prefix or "")
                nodes.append(
                    _Node(
                        join.query._left_feature_group,
                        join.query._features,
                        sub_prefix,
                        parent,
                        join.left_on,
                        join.right_on,
                        join.join_type,
                    )
                )
                add(join.query, index, sub_prefix)

        add(self, 0, "")
        return nodes

    def _filters(self) -> list[_Condition]:
        result = list(conjuncts(self._filter))
        for join in self._joins:
            result.extend(join.query._filters())
        return result

    def _output_columns(self) -> list[OutputColumn]:
        """Return the result's columns: names after prefixes, with the feature each comes from."""
        out: list[OutputColumn] = []
        seen: dict[str, OutputColumn] = {}
        for node in self._nodes():
            fg = node.fg
            for name in node.features:
                column = node.prefix + name
                spec = fg._spec(name)
                if column in seen:
                    first = seen[column]
                    same_key = node.parent is not None and name in node.right_on and not node.prefix
                    same_time = name == fg.event_time and first.is_event_time and not node.prefix
                    if same_key or same_time:
                        # The joined copy of a join key or event time adds nothing: keep the left one.
                        continue
                    raise ValueError(
                        f"feature {name!r} of {fg.name} v{fg.version} clashes with column {column!r} "
                        "already in the query: join with prefix= or select fewer features"
                    )
                col = OutputColumn(
                    column, fg._key, name, spec.type, name in fg.primary_key, name == fg.event_time
                )
                seen[column] = col
                out.append(col)
        return out

    # -- execution -------------------------------------------------------------------------------------------
    def read(
        self,
        online: bool = False,
        dataframe_type: str = "default",
        read_options: dict | None = None,
        start_time: Any = None,
        end_time: Any = None,
    ) -> pd.DataFrame:
        """Run the query on the offline store and return a DataFrame."""
        if online:
            raise NotImplementedError("Query.read(online=True): use a feature view's get_feature_vector(s)")
        if dataframe_type not in ("default", "pandas"):
            raise NotImplementedError(
                f"dataframe_type={dataframe_type!r} (only 'pandas' is supported locally)"
            )
        # start_time/end_time select the leftmost group's event times, start inclusive, end exclusive.
        return self._execute(extra_filter=self._left_feature_group._time_range(start_time, end_time))

    def _execute(
        self,
        extra_filter: _Condition | None = None,
        versions: dict[FgKey, int] | None = None,
        extra_columns: list[OutputColumn] | None = None,
        select: bool = True,
    ) -> pd.DataFrame:
        """Run the query with an extra filter and pinned table versions (used by feature views).

        ``select=False`` returns every column read (helpers too), for a caller that selects.
        """
        nodes = self._nodes()
        outputs = self._output_columns() + list(extra_columns or [])
        filters = self._filters() + conjuncts(extra_filter)
        root = nodes[0].fg
        pushed = [f for f in filters if f._fg_keys() == {root._key}]
        post = [f for f in filters if f._fg_keys() != {root._key}]
        wanted = _columns_to_read(nodes, outputs, post)

        colmap: ColumnMap = {}
        frame: pd.DataFrame | None = None
        for i, node in enumerate(nodes):
            fg = node.fg
            mapping = wanted[i]
            part = self._read_group(fg, list(mapping), versions, pushed if i == 0 else [])
            # The part is a fresh frame: relabel it in place (rename would copy every column).
            part.columns = [mapping.get(c, c) for c in part.columns]
            for name, column in mapping.items():
                colmap[(fg._key, name)] = column
            if i == 0:
                frame = part if _has_default_index(part) else part.reset_index(drop=True)
                continue
            assert frame is not None  # noqa: S101 - set by the first node
            parent = nodes[node.parent or 0]
            left_keys = [colmap[(parent.fg._key, k)] for k in node.left_on]
            right_keys = [mapping[k] for k in node.right_on]
            frame = _join(frame, part, left_keys, right_keys, node, root, colmap, i)
            del part  # free this group's rows before the next group is read

        assert frame is not None  # noqa: S101 - there is always a root
        if post:
            frame = _renumbered(frame[and_all(post)._evaluate(frame, colmap).to_numpy()])
        return _renumbered(frame[[c.name for c in outputs]]) if select else frame  # a copy if selected

    def _table_version(self, fg: FeatureGroup, versions: dict[FgKey, int] | None) -> int | None:
        """Return the table version to read: pinned, as of the wallclock time (-1: none yet), or latest."""
        if versions is not None:
            return versions.get(fg._key)
        if self._wallclock_time is not None:
            v = fg._offline.version_at(self._wallclock_time)
            return -1 if v is None else v
        return None

    def _read_group(
        self,
        fg: FeatureGroup,
        columns: list[str],
        versions: dict[FgKey, int] | None,
        pushed: list[_Condition],
    ) -> pd.DataFrame:
        """Read ``columns`` of one group, filtered by ``pushed`` in the scan, in the row order joins need."""
        version = self._table_version(fg, versions)
        if version == -1:
            return fg._empty_frame(columns)
        arrow_filter = None
        if pushed:
            arrow_filter = and_all(pushed)._to_arrow({(fg._key, n): n for n in fg._feature_names})
        order_by = read_order(fg.event_time, fg.primary_key) if fg.event_time else None
        return fg._offline.read(
            version=version,
            columns=columns,
            filter=arrow_filter,
            schema=fg._arrow_schema(),
            order_by=order_by,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the query as JSON-ready data (for feature view metadata)."""
        return {
            "fg": [self._left_feature_group.name, self._left_feature_group.version],
            "features": self._features,
            "filter": None if self._filter is None else self._filter.to_dict(),
            "joins": [
                {
                    "query": j.query.to_dict(),
                    "left_on": j.left_on,
                    "right_on": j.right_on,
                    "join_type": j.join_type,
                    "prefix": j.prefix,
                }
                for j in self._joins
            ],
        }


def query_from_dict(data: dict[str, Any], get_fg: Callable[[str, int], FeatureGroup]) -> Query:
    """Rebuild a query saved with ``to_dict``."""
    fg = get_fg(data["fg"][0], int(data["fg"][1]))
    joins = [
        Join(query_from_dict(j["query"], get_fg), j["left_on"], j["right_on"], j["join_type"], j["prefix"])
        for j in data["joins"]
    ]
    condition = None if data["filter"] is None else condition_from_dict(data["filter"])
    return Query(fg, data["features"], condition, joins)


def _join_keys(
    left_fg: FeatureGroup,
    right_fg: FeatureGroup,
    on: list[str] | None,
    left_on: list[str] | None,
    right_on: list[str] | None,
) -> tuple[list[str], list[str]]:
    """Return a join's left and right keys: ``on``, ``left_on``/``right_on``, or the shared primary key.

    Raises:
        ValueError: If the keys are missing, of different counts or not features.
    """
    if on is not None and (left_on is not None or right_on is not None):
        raise ValueError("pass either on= or left_on=/right_on=, not both")
    if on is not None:
        left_keys, right_keys = list(on), list(on)
    elif left_on is not None or right_on is not None:
        if left_on is None or right_on is None or len(left_on) != len(right_on):
            raise ValueError("left_on and right_on must both be given, with the same number of features")
        left_keys, right_keys = list(left_on), list(right_on)
    else:
        common = [k for k in left_fg.primary_key if k in right_fg.primary_key]
        if not common:
            raise ValueError(
                f"{left_fg.name} and {right_fg.name} share no primary key: pass on= or left_on=/right_on="
            )
        left_keys, right_keys = common, common
    if not left_keys:
        raise ValueError("a join needs at least one key")
    for fg, keys, side in ((left_fg, left_keys, "left"), (right_fg, right_keys, "right")):
        unknown = [k for k in keys if k not in fg._feature_names]
        if unknown:
            raise ValueError(f"{side} join key(s) {unknown} are not features of {fg.name} v{fg.version}")
    return left_keys, right_keys


def _columns_to_read(
    nodes: list[_Node], outputs: list[OutputColumn], post: list[_Condition]
) -> list[dict[str, str]]:
    """Return, per node, the columns it reads (feature name -> frame column): selected, keys, filtered."""
    wanted: list[dict[str, str]] = [dict() for _ in nodes]
    for col in outputs:
        index = next(i for i, n in enumerate(nodes) if n.fg._key == col.fg_key)
        wanted[index][col.feature] = col.name
    for i, node in enumerate(nodes):
        # Rows are read in event time, then primary key order (see row_order): keys are read too.
        needs = set(node.right_on) | (
            {node.fg.event_time, *node.fg.primary_key} if node.fg.event_time else set()
        )
        for j in nodes[i + 1 :]:
            if j.parent == i:
                needs |= set(j.left_on)
        for f in post:
            for leaf in _leaves(f):
                if leaf.feature._fg_key == node.fg._key:
                    needs.add(leaf.feature.name)
        for name in needs:
            wanted[i].setdefault(name, f"__n{i}_{name}")
    return wanted


def _leaves(condition: _Condition) -> list[Filter]:
    if isinstance(condition, Filter):
        return [condition]
    assert isinstance(condition, Logic)  # noqa: S101 - only two kinds exist
    return _leaves(condition._left) + _leaves(condition._right)


def _join(
    left: pd.DataFrame,
    right: pd.DataFrame,
    left_keys: list[str],
    right_keys: list[str],
    node: _Node,
    root: FeatureGroup,
    colmap: ColumnMap,
    index: int,
) -> pd.DataFrame:
    """Join one node onto the accumulated frame, point-in-time when both sides have event times."""
    fg = node.fg
    if root.event_time is None or fg.event_time is None:
        return left.merge(
            right, how=PLAIN_JOIN_TYPES[node.join_type], left_on=left_keys, right_on=right_keys, sort=False
        )
    left_time = colmap[(root._key, root.event_time)]
    right_time = colmap[(fg._key, fg.event_time)]
    hit = f"__hit{index}"
    inner = node.join_type == "inner"
    if inner:
        right = right.assign(**{hit: True})
    # merge_asof needs both sides sorted by time. The right side is: reads return rows in
    # event-time order (row_order). So is the left, unless a plain join (right or outer, on a
    # group without event time) reordered it.
    row = None
    if not left[left_time].is_monotonic_increasing:
        # Sort the left side, remembering its order: the result keeps the left rows' order.
        row = "__row"
        left = left.assign(**{row: np.arange(len(left))}).sort_values(left_time, kind="stable")
    left, right = _common_key_dtypes(left, right, left_keys, right_keys)
    merged = pd.merge_asof(
        left,
        right,
        left_on=left_time,
        right_on=right_time,
        left_by=left_keys,
        right_by=right_keys,
        direction="backward",
        allow_exact_matches=True,
    )
    if row is not None:
        merged = merged.sort_values(row, kind="stable").drop(columns=[row])
    if inner:
        merged = merged[merged[hit].notna().to_numpy()].drop(columns=[hit])
    return merged if _has_default_index(merged) else merged.reset_index(drop=True)


def _common_key_dtypes(
    left: pd.DataFrame, right: pd.DataFrame, left_keys: list[str], right_keys: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give each pair of join keys one dtype, as merge_asof requires.

    A key that comes from an earlier join holds nulls where that join found nothing, which
    turns an int64 key into float64; such rows then match nothing, as in SQL.
    """
    for lk, rk in zip(left_keys, right_keys, strict=True):
        ltype, rtype = left[lk].dtype, right[rk].dtype
        if ltype == rtype:
            continue
        numeric = pd.api.types.is_numeric_dtype(ltype) and pd.api.types.is_numeric_dtype(rtype)
        common = "float64" if numeric else object
        left = left.astype({lk: common})
        right = right.astype({rk: common})
    return left, right


def _renumbered(frame: pd.DataFrame) -> pd.DataFrame:
    """Number the rows of ``frame``, a new frame of the caller's own, 0..n-1 in place (no copy)."""
    if not _has_default_index(frame):
        frame.index = pd.RangeIndex(len(frame))
    return frame


def _has_default_index(frame: pd.DataFrame) -> bool:
    """Return whether ``frame`` already has the index ``reset_index(drop=True)`` would give it."""
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None
