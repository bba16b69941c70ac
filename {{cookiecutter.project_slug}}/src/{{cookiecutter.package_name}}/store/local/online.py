"""Online storage: the latest row per primary key of each feature group, in SQLite (WAL).

The offline Delta table is the truth. Each online table records the offline
version it reflects (``_online_sync``); a writer applies its own batch only when
the online side is exactly one version behind its commit, and otherwise
rebuilds from the offline table. A crash between the two writes therefore
heals on the next write or read instead of leaving them disagreeing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import SQLITE_TYPES, FeatureSpec


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def to_sqlite_frame(df: pd.DataFrame, specs: Sequence[FeatureSpec]) -> list[tuple]:
    """Return the rows of ``df`` as tuples of SQLite values, in the order of ``specs``."""
    columns = []
    for spec in specs:
        col = df[spec.name]
        if spec.type == "timestamp":
            values = col.astype("datetime64[us, UTC]").array.asi8.astype(object)
            values[col.isna().to_numpy()] = None
        elif spec.type == "boolean":
            values = col.map(lambda v: None if pd.isna(v) else int(bool(v))).to_numpy(dtype=object)
        else:
            values = col.astype(object).where(col.notna(), None).to_numpy(dtype=object)
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []


def from_sqlite_rows(rows: Iterable[tuple], specs: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Return SQLite rows as a DataFrame with the store's dtypes."""
    df = pd.DataFrame.from_records(list(rows), columns=[s.name for s in specs])
    for spec in specs:
        if spec.type == "timestamp":
            df[spec.name] = pd.to_datetime(df[spec.name].astype("Int64"), unit="us", utc=True).astype(
                "datetime64[us, UTC]"
            )
        elif spec.type == "double":
            df[spec.name] = df[spec.name].astype("float64")
        elif spec.type == "boolean":
            df[spec.name] = df[spec.name].map(lambda v: None if v is None else bool(v))
    return df


class OnlineStore:
    """All online tables of one store folder, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection (WAL, autocommit, waits for the write lock)."""
        con = getattr(self._local, "con", None)
        if con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS _online_sync (tbl TEXT PRIMARY KEY, offline_version INTEGER NOT NULL)"
            )
            self._local.con = con
        return con

    def synced_version(self, table: str) -> int | None:
        """Return the offline version the online table reflects (None if never synced)."""
        row = (
            self.connection()
            .execute("SELECT offline_version FROM _online_sync WHERE tbl = ?", (table,))
            .fetchone()
        )
        return None if row is None else int(row[0])

    def _create(
        self, con: sqlite3.Connection, table: str, specs: Sequence[FeatureSpec], pk: Sequence[str]
    ) -> None:
        cols = ", ".join(f"{_q(s.name)} {SQLITE_TYPES[s.type]}" for s in specs)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(table)} ({cols}, PRIMARY KEY ({', '.join(map(_q, pk))}))"
        )

    def _upsert(
        self,
        con: sqlite3.Connection,
        table: str,
        specs: Sequence[FeatureSpec],
        pk: Sequence[str],
        event_time: str | None,
        rows: pd.DataFrame,
    ) -> None:
        names = [s.name for s in specs]
        updates = ", ".join(f"{_q(n)} = excluded.{_q(n)}" for n in names if n not in pk)
        sql = f"INSERT INTO {_q(table)} ({', '.join(map(_q, names))}) VALUES ({', '.join('?' * len(names))})"
        if updates:
            sql += f" ON CONFLICT ({', '.join(map(_q, pk))}) DO UPDATE SET {updates}"
            if event_time is not None:
                # An older row (a backfill) must not replace a newer one.
                sql += f" WHERE excluded.{_q(event_time)} >= {_q(table)}.{_q(event_time)}"
        else:
            sql += " ON CONFLICT DO NOTHING"
        con.executemany(sql, to_sqlite_frame(rows, specs))

    def sync(
        self,
        table: str,
        specs: Sequence[FeatureSpec],
        pk: Sequence[str],
        event_time: str | None,
        batch: pd.DataFrame | None,
        offline_version: int,
        rebuild: Callable[[], tuple[pd.DataFrame, int]],
    ) -> None:
        """Bring the online table up to ``offline_version``, applying ``batch`` when it is the only gap.

        ``batch`` holds the latest row per key of the commit that made ``offline_version``
        (None forces a rebuild, e.g. after a delete). ``rebuild`` returns the latest row per
        key of the whole offline table and the version it read.
        """
        con = self.connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            self._create(con, table, specs, pk)
            row = con.execute("SELECT offline_version FROM _online_sync WHERE tbl = ?", (table,)).fetchone()
            synced = None if row is None else int(row[0])
            if synced is not None and synced >= offline_version:
                con.execute("COMMIT")
                return
            first = synced is None and offline_version == 0
            if batch is not None and (first or synced == offline_version - 1):
                self._upsert(con, table, specs, pk, event_time, batch)
                new_version = offline_version
            else:
                latest, new_version = rebuild()
                con.execute(f"DELETE FROM {_q(table)}")
                self._upsert(con, table, specs, pk, event_time, latest)
            con.execute(
                "INSERT INTO _online_sync (tbl, offline_version) VALUES (?, ?) "
                "ON CONFLICT (tbl) DO UPDATE SET offline_version = excluded.offline_version",
                (table, new_version),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def get(
        self, table: str, specs: Sequence[FeatureSpec], pk: Sequence[str], keys: Sequence[Sequence[object]]
    ) -> list[tuple | None]:
        """Return the stored row (as SQLite values, in ``specs`` order) for each key, None if absent."""
        con = self.connection()
        names = ", ".join(_q(s.name) for s in specs)
        where = " AND ".join(f"{_q(k)} = ?" for k in pk)
        sql = f"SELECT {names} FROM {_q(table)} WHERE {where}"
        try:
            return [con.execute(sql, tuple(key)).fetchone() for key in keys]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return [None] * len(keys)
            raise

    def drop(self, table: str) -> None:
        """Delete an online table and its sync record."""
        con = self.connection()
        con.execute("BEGIN IMMEDIATE")
        con.execute(f"DROP TABLE IF EXISTS {_q(table)}")
        con.execute("DELETE FROM _online_sync WHERE tbl = ?", (table,))
        con.execute("COMMIT")


def to_sqlite_key(value: object, ftype: str) -> object:
    """Return a key value in the form stored online (timestamps as UTC microseconds)."""
    if ftype == "timestamp":
        from .timeutil import to_utc_timestamp

        ts = to_utc_timestamp(value, "serving key")
        return None if ts is None else int(ts.value // 1000)
    if ftype == "bigint":
        return int(value)  # type: ignore[call-overload]
    if ftype == "double":
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, np.generic):
        return value.item()
    return value
