"""The Hopsworks Query Service, faked: an Arrow Flight server on 127.0.0.1 that evaluates queries.

The SDK's ``ArrowFlightClient`` talks to it over gRPC as it would to the real service (health
check, version, flight info, ``do_get``); only TLS is dropped (the fake has no certificates).
The real service runs the server-built SQL in DuckDB; this one evaluates the query the client
PUT to ``/featurestores/query`` (selected features, left joins, point-in-time joins on event
time, filters) over the Delta tables with pandas, and returns Arrow with the tables' naive
(UTC) timestamps, as DuckDB's Delta scan does.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq

CONDITIONS = {
    "EQUALS": lambda c, v: c == v,
    "NOT_EQUALS": lambda c, v: c != v,
    "GREATER_THAN": lambda c, v: c > v,
    "GREATER_THAN_OR_EQUAL": lambda c, v: c >= v,
    "LESS_THAN": lambda c, v: c < v,
    "LESS_THAN_OR_EQUAL": lambda c, v: c <= v,
}


def fully_qualified(project: str, group: dict[str, Any], feature: str) -> str:
    """Return the server's qualified column name of a feature: ``<project>_<group>_<version>_<feature>``."""
    return f"{project}_{group['name']}_{group['version']}_{feature}"


class QueryEvaluator:
    """Evaluate query DTOs over the fake server's Delta tables."""

    def __init__(self, side: Any) -> None:
        self.side = side

    def table(self, group_id: int) -> pd.DataFrame:
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        group = self.side.group_by_id(group_id)
        try:
            frame = DeltaTable(self.side.local_table(group["location"])).to_pyarrow_table().to_pandas()
        except TableNotFoundError:
            frame = pd.DataFrame({f["name"]: [] for f in group["features"]})
        for column in frame.columns:
            if isinstance(
                frame[column].dtype, pd.DatetimeTZDtype
            ):  # DuckDB hands Delta timestamps back naive
                frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        return frame

    def value(self, feature: dict[str, Any], raw: Any) -> Any:
        kind = feature.get("type", "")
        if isinstance(raw, list):
            return [self.value(feature, v) for v in raw]
        if kind == "timestamp":
            number = pd.to_numeric(raw, errors="coerce")
            stamp = pd.Timestamp(int(number), unit="ms") if pd.notna(number) else pd.Timestamp(raw)
            return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
        if kind in ("bigint", "int", "double", "float"):
            return pd.to_numeric(raw)
        if kind == "boolean":
            return str(raw).lower() == "true"
        return raw

    def mask(
        self, frame: pd.DataFrame, logic: dict[str, Any] | None, names: dict[tuple[int, str], str]
    ) -> Any:
        if not logic:
            return pd.Series(True, index=frame.index)
        kind = logic.get("type")
        if kind in ("AND", "OR"):
            left = self.mask(frame, logic.get("leftFilter") or logic.get("leftLogic"), names)
            right_part = logic.get("rightFilter") or logic.get("rightLogic")
            right = self.mask(frame, right_part, names)
            return (left & right) if kind == "AND" else (left | right)
        if kind == "SINGLE":
            return self.mask(frame, logic.get("leftFilter") or logic.get("leftLogic"), names)
        if "condition" in logic:  # a Filter
            feature = logic["feature"]
            column = frame[names.get((feature.get("featureGroupId"), feature["name"]), feature["name"])]
            condition, value = logic["condition"], self.value(feature, logic.get("value"))
            if condition == "IN":
                values = json.loads(value) if isinstance(value, str) else value
                return column.isin(self.value(feature, values))
            if condition not in CONDITIONS:
                raise NotImplementedError(f"filter condition {condition}")
            if value is None:
                return column.isna() if condition == "EQUALS" else column.notna()
            return CONDITIONS[condition](column, value).fillna(False).astype(bool)
        raise NotImplementedError(f"filter node {logic}")

    def evaluate(self, query: dict[str, Any]) -> pa.Table:
        """Return the rows of a query DTO, with the columns the server would name."""
        project = self.side.store_dto_for(query["featureStoreId"])["projectName"]
        left_group = self.side.group_by_id(query["leftFeatureGroup"]["id"])
        frame = self.table(left_group["id"])
        names: dict[tuple[int, str], str] = {}
        selected = []
        for feature in query["leftFeatures"]:
            name = feature["name"]
            column = (
                fully_qualified(project, left_group, name) if feature.get("useFullyQualifiedName") else name
            )
            names[(left_group["id"], name)] = column
            if column != name:
                frame[column] = frame[name]
            selected.append(column)
        for name in frame.columns:
            names.setdefault((left_group["id"], name), name)
        event_time = left_group.get("eventTime")
        for join in query.get("joins") or []:
            frame, added = self.join(frame, left_group, event_time, join, names, project)
            selected += added
        frame = frame[self.mask(frame, query.get("filter"), names).to_numpy()]
        if query.get("limit"):
            frame = frame.head(int(query["limit"]))
        return pa.Table.from_pandas(frame[selected].reset_index(drop=True), preserve_index=False)

    def join(
        self,
        frame: pd.DataFrame,
        left_group: dict[str, Any],
        left_time: str | None,
        join: dict[str, Any],
        names: dict[tuple[int, str], str],
        project: str,
    ) -> tuple[pd.DataFrame, list[str]]:
        sub = join["query"]
        if sub.get("joins"):
            raise NotImplementedError("nested joins")
        if (join.get("type") or "LEFT").upper() not in ("LEFT", "INNER"):
            raise NotImplementedError(f"join type {join.get('type')}")
        group = self.side.group_by_id(sub["leftFeatureGroup"]["id"])
        right = self.table(group["id"])
        right = right[self.mask(right, sub.get("filter"), {}).to_numpy()]
        left_on = [f["name"] for f in join.get("leftOn") or join.get("on") or []]
        right_on = [f["name"] for f in join.get("rightOn") or join.get("on") or []]
        prefix = join.get("prefix") or ""
        added, renames = [], {}
        for feature in sub["leftFeatures"]:
            name = feature["name"]
            if feature.get("useFullyQualifiedName"):
                column = fully_qualified(project, group, name)
            else:
                column = prefix + name
            renames.setdefault(name, []).append(column)
            names[(group["id"], name)] = column
            added.append(column)
        keyed = pd.DataFrame({f"__key_{i}": right[r] for i, r in enumerate(right_on)})
        for name, columns in renames.items():
            for column in columns:
                keyed[column] = right[name]
        right_time = group.get("eventTime")
        keys = [f"__key_{i}" for i in range(len(right_on))]
        left = frame.assign(**{k: frame[name] for k, name in zip(keys, left_on, strict=True)})
        left = left.assign(__row=range(len(left)))
        how = (join.get("type") or "LEFT").lower()
        if left_time and right_time:
            # Point in time: each left row gets the latest right row at or before its event time.
            keyed = keyed.assign(__time=right[right_time]).dropna(subset=["__time"]).sort_values("__time")
            ordered = left.assign(__time=left[left_time]).sort_values("__time")
            merged = pd.merge_asof(ordered, keyed, on="__time", by=keys, direction="backward")
            merged = merged.sort_values("__row").drop(columns="__time")
            if how == "inner":
                merged = merged.dropna(subset=added, how="all")
        else:
            merged = left.merge(keyed, on=keys, how=how).sort_values("__row")
        return merged.drop(columns=[*keys, "__row"]).reset_index(drop=True), added


class FakeQueryService(flight.FlightServerBase):
    """An Arrow Flight server speaking the Query Service's actions and reads."""

    def __init__(self, evaluator: QueryEvaluator, queries: dict[str, dict[str, Any]]) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.evaluator, self.queries = evaluator, queries
        self.reads = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def list_actions(self, context: Any) -> list[tuple[str, str]]:
        return [("healthcheck", "is the service up"), ("get-version", "the server's version")]

    def do_action(self, context: Any, action: Any) -> Any:
        if action.type == "get-version":
            return [flight.Result(pa.py_buffer(b"4.2.0"))]
        return []  # healthcheck, register-client-certificates

    def result(self, command: bytes) -> pa.Table:
        """Return a read's rows: a query (its payload names the stored query) or a HopsFS file."""
        payload = json.loads(command)
        if "path" in payload:
            return pq.read_table(self.evaluator.side.local_path(payload["path"]))
        return self.evaluator.evaluate(self.queries[payload["query_id"]])

    def get_flight_info(self, context: Any, descriptor: Any) -> flight.FlightInfo:
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            command = json.dumps({"path": "/".join(p.decode() for p in descriptor.path)}).encode()
        else:
            command = descriptor.command
        table = self.result(command)
        endpoint = flight.FlightEndpoint(command, [self.url])
        return flight.FlightInfo(table.schema, descriptor, [endpoint], table.num_rows, -1)

    def do_get(self, context: Any, ticket: Any) -> flight.RecordBatchStream:
        self.reads += 1
        return flight.RecordBatchStream(self.result(ticket.ticket))
