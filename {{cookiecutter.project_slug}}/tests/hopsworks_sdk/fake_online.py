"""RonDB, the online feature store, faked at the SDK's SQL boundary (``util_sql._create_async_engine``).

The server hands the client one prepared statement per feature group of a view (``SELECT `f` FROM
`<project>`.`<group>_<version>` WHERE `key` = ? AND ...``); the SDK's ``OnlineStoreSqlClient``
parametrises and runs them through an aiomysql pool. This pool answers them from the rows the fake
OnlineFS ingested from Kafka: the latest row per primary key, times naive (UTC), as MySQL gives them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

STATEMENT = re.compile(
    r"SELECT (?P<columns>.+) FROM `(?P<db>[^`]+)`\.`(?P<table>[^`]+)` WHERE (?P<where>.+)$", re.S
)


def key_value(value: Any) -> Any:
    """Return a key as RonDB compares it: times as naive UTC datetimes."""
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
        return stamp.to_pydatetime()
    return value


class Cursor:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def fetchall(self) -> list[dict[str, Any]]:
        return self.rows

    async def close(self) -> None:
        return None


class Connection:
    """One pooled connection: runs the server's prepared statements against the online rows."""

    def __init__(self, side: Any) -> None:
        self.side = side
        self._connection = self  # aiomysql's raw connection, which the client pings

    async def ping(self, reconnect: bool = False) -> None:
        return None

    async def execute(self, statement: Any, params: dict[str, Any]) -> Cursor:
        match = STATEMENT.match(str(statement).strip())
        if match is None:
            raise NotImplementedError(f"statement the fake RonDB does not know: {statement}")
        name, _, version = match["table"].rpartition("_")
        group = next(g for g in self.side.group_versions(name) if g["version"] == int(version))
        keys = re.findall(r"`([^`]+)` = :(\w+)", match["where"])
        wanted = tuple(key_value(params[param]) for _, param in keys)
        columns = re.findall(r"`([^`]+)`(?: AS `([^`]+)`)?", match["columns"])
        rows = []
        for row in self.side.online.get(group["id"], {}).values():
            if tuple(key_value(row[column]) for column, _ in keys) == wanted:
                rows.append({alias or column: key_value(row[column]) for column, alias in columns})
        return Cursor(rows)


class Pool:
    """An aiomysql pool of fake connections."""

    def __init__(self, side: Any) -> None:
        self.side = side

    def acquire(self) -> Pool:
        return self

    async def __aenter__(self) -> Connection:
        return Connection(self.side)

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None

    def terminate(self) -> None:
        return None


def prepared_statements(side: Any, view: dict[str, Any]) -> dict[str, Any]:
    """Return the server's serving prepared statements of a view: one per feature group, by join index."""
    labels = {f["name"] for f in view["features"] if f["label"]}
    query, items = view["query"], []
    parts = [(query, "")] + [(j["query"], j.get("prefix") or "") for j in query.get("joins") or []]
    for index, (part, prefix) in enumerate(parts):
        group = side.group_by_id(part["leftFeatureGroup"]["id"])
        keys = [f["name"] for f in group["features"] if f.get("primary")]
        selected = [f["name"] for f in part["leftFeatures"] if f["name"] not in labels]
        columns = ", ".join(
            f"`{n}` AS `{prefix}{n}`" if prefix else f"`{n}`" for n in dict.fromkeys([*keys, *selected])
        )
        where = " AND ".join(f"`{k}` = ?" for k in keys)
        table = f"`{side.server.projects[0]}`.`{group['name']}_{group['version']}`"
        items.append(
            {
                "featureGroupId": group["id"],
                "preparedStatementIndex": index,
                "prefix": prefix or None,
                "preparedStatementParameters": [{"name": k, "index": i + 1} for i, k in enumerate(keys)],
                "queryOnline": f"SELECT {columns} FROM {table} WHERE {where}",  # noqa: S608 - for the fake only
            }
        )
    return {"count": len(items), "items": items}
