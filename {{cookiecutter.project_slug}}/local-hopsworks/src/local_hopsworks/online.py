"""Online storage: the latest row per primary key of each feature group, in SQLite (WAL).

The offline Delta table is the truth. Each online table records the offline
version it reflects (``_online_sync``); a writer applies its own batch only when
the online side is exactly one version behind its commit, and otherwise
rebuilds from the offline table. A crash between the two writes therefore
heals on the next write or read instead of leaving them disagreeing.
"""

from __future__ import annotations

import contextlib
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import SQLITE_TYPES, FeatureSpec

# Lookups of more keys than this run as one query per chunk of CHUNK_KEYS keys.
FEW_KEYS = 4
CHUNK_KEYS = 500


# SQLite's result codes for a damaged file: SQLITE_CORRUPT and SQLITE_NOTADB.
DAMAGE_CODES = {11, 26}
# How often (seconds) a connection checks whether a repair replaced the file under it.
REOPEN_CHECK_S = 1.0


class OnlineStoreDamagedError(RuntimeError):
    """The online SQLite file is corrupt or not a database; it can be rebuilt from the offline tables."""


def is_damage(exc: BaseException) -> bool:
    """Return whether a SQLite error says the file is damaged (not locked, full or missing a table)."""
    if isinstance(exc, OnlineStoreDamagedError):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc).lower()
    return (
        (code is not None and code & 0xFF in DAMAGE_CODES) or "malformed" in text or "not a database" in text
    )


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


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
            values = col.to_numpy(dtype=object)
            nulls = col.isna().to_numpy()
            if nulls.any():
                values[nulls] = None
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


def _to_double(value: object) -> object:
    return np.nan if value is None else float(value)  # type: ignore[arg-type]


def _to_boolean(value: object) -> object:
    return None if value is None else bool(value)


def _to_timestamp(value: object) -> object:
    return pd.NaT if value is None else pd.Timestamp(value, unit="us", tz="UTC").as_unit("us")  # type: ignore[call-overload]


_FROM_SQLITE: dict[str, Callable[[object], object] | None] = {
    "double": _to_double,
    "boolean": _to_boolean,
    "timestamp": _to_timestamp,
    "bigint": None,
    "string": None,
}


def sqlite_row_reader(
    specs: Sequence[FeatureSpec], columns: Collection[str] | None = None
) -> Callable[[Sequence[object]], dict[str, object]]:
    """Return a function giving one SQLite row as ``from_sqlite_rows([row], specs).iloc[0].to_dict()`` does.

    Without building a DataFrame per row: the same values, including pandas' upcast of a row
    holding only ints and floats (its ints come back as floats). With ``columns``, only those
    columns (in ``specs`` order) are converted and returned.
    """
    names = [s.name for s in specs]
    plan = [
        (name, j, _FROM_SQLITE[spec.type])
        for j, (name, spec) in enumerate(zip(names, specs, strict=True))
        if columns is None or name in columns
    ]
    types = {s.type for s in specs}
    ints = [j for j, s in enumerate(specs) if s.type == "bigint"]
    returned_ints = [name for name, j, _ in plan if j in ints]
    upcast = bool(returned_ints) and types <= {"bigint", "double"}
    has_double = "double" in types

    def read(row: Sequence[object]) -> dict[str, object]:
        values = {name: row[j] if convert is None else convert(row[j]) for name, j, convert in plan}
        if upcast:
            kinds = {type(row[j]) for j in ints}
            if kinds <= {int, float} and (has_double or float in kinds):
                for name in returned_ints:
                    values[name] = float(values[name])  # type: ignore[arg-type]
        return values

    return read


def sqlite_value_reader(specs: Sequence[FeatureSpec], column: str) -> Callable[[Sequence[object]], object]:
    """Return a function giving one column of a SQLite row as ``sqlite_row_reader(specs)`` does."""
    position = [s.name for s in specs].index(column)
    convert = _FROM_SQLITE[specs[position].type]
    types = {s.type for s in specs}
    ints = [j for j, s in enumerate(specs) if s.type == "bigint"]
    if specs[position].type == "bigint" and types <= {"bigint", "double"}:
        has_double = "double" in types

        def read_int(row: Sequence[object]) -> object:
            kinds = {type(row[j]) for j in ints}
            if kinds <= {int, float} and (has_double or float in kinds):
                return float(row[position])  # type: ignore[arg-type]
            return row[position]

        return read_int
    if convert is None:
        return operator.itemgetter(position)
    if convert is _to_double:
        return lambda row: np.nan if row[position] is None else float(row[position])  # type: ignore[arg-type]
    return lambda row: convert(row[position])


class OnlineStore:
    """All online tables of one store folder, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._checked: set[int | None] = set()  # the files (inodes) that passed quick_check
        self._lookups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Callable] = {}

    def connection(self) -> sqlite3.Connection:
        """Return this thread's connection (WAL, autocommit, waits for the write lock).

        The file is checked (``PRAGMA quick_check``) when this store first opens it, and again
        whenever it was replaced (a repair): a damaged file raises ``OnlineStoreDamagedError``.
        """
        con = getattr(self._local, "con", None)
        # A stat costs about a tenth of a lookup: look for a replaced file at most once a second.
        if con is not None and time.monotonic() >= self._local.next_check:
            self._local.next_check = time.monotonic() + REOPEN_CHECK_S
            if self._local.inode != _inode(self.path):
                con.close()  # the file was rebuilt by a repair: read the new one
                con = self._local.con = None
        if con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                con = self._open()
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                raise self.damaged(str(exc)) from exc
            self._local.con, self._local.inode = con, _inode(self.path)
            self._local.next_check = time.monotonic() + REOPEN_CHECK_S
        return con

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            # Up to 64 MiB of page cache (default 8 MiB): a large write then stays in memory until
            # its commit instead of spilling pages to the WAL in the middle; about 2x faster syncs.
            con.execute("PRAGMA cache_size=-65536")
            inode = _inode(self.path)
            if inode not in self._checked:
                problems = [row[0] for row in con.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise self.damaged("; ".join(problems[:3]))
                self._checked.add(inode)
            con.execute(
                "CREATE TABLE IF NOT EXISTS _online_sync "
                "(tbl TEXT PRIMARY KEY, offline_version INTEGER NOT NULL)"
            )
        except BaseException:
            con.close()
            raise
        return con

    def problems(self, full: bool = True) -> list[str]:
        """Return what SQLite's ``integrity_check`` (``quick_check`` unless ``full``) finds; [] if sound.

        Opens the file afresh, read-only, whatever this store's connections have checked before.
        """
        if not self.path.exists():
            return []
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
            try:
                pragma = "integrity_check" if full else "quick_check"
                found = [str(row[0]) for row in con.execute(f"PRAGMA {pragma}")]
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            return [str(exc)]
        return [] if found == ["ok"] else found

    def damaged(self, detail: str) -> OnlineStoreDamagedError:
        """Return the error saying the online file is damaged, naming it and how to rebuild it."""
        return OnlineStoreDamagedError(
            f"the online store {self.path} is damaged ({detail}). The offline tables are the truth: "
            "rebuild it from them with local_hopsworks.health.repair_online() (the project's "
            "`check --repair-online`); "
            "the next feature-group write rebuilds it by itself"
        )

    def move_aside(self) -> Path | None:
        """Move the online file (and its WAL) out of the way, keeping it for inspection; return where."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
        if not self.path.exists():
            return None
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        kept = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{os.getpid()}")
        for suffix in ("-wal", "-shm"):  # a WAL of the old file must never be applied to the new one
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, kept.with_name(kept.name + suffix))
        os.replace(self.path, kept)
        return kept

    def synced_version(self, table: str) -> int | None:
        """Return the offline version the online table reflects (None if never synced)."""
        try:
            row = (
                self.connection()
                .execute("SELECT offline_version FROM _online_sync WHERE tbl = ?", (table,))
                .fetchone()
            )
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) and not isinstance(exc, OnlineStoreDamagedError):
                raise self.damaged(str(exc)) from exc
            raise
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
        sql = f"INSERT INTO {_q(table)} ({', '.join(map(_q, names))}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608 - quoted names
        if updates:
            sql += f" ON CONFLICT ({', '.join(map(_q, pk))}) DO UPDATE SET {updates}"
            if event_time is not None:
                # An older row (a backfill) must not replace a newer one.
                sql += f" WHERE excluded.{_q(event_time)} >= {_q(table)}.{_q(event_time)}"
        else:
            sql += " ON CONFLICT DO NOTHING"
        if len(rows) > 1:
            # Writing in key order makes the B-tree inserts local: about 1.5x faster. The sort is
            # stable, so rows with one key (whose order decides which wins) keep their order.
            with contextlib.suppress(TypeError):
                rows = rows.sort_values(list(pk), kind="stable")
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
        try:
            con.execute("BEGIN IMMEDIATE")
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
                con.execute(f"DELETE FROM {_q(table)}")  # noqa: S608 - a quoted name
                self._upsert(con, table, specs, pk, event_time, latest)
            con.execute(
                "INSERT INTO _online_sync (tbl, offline_version) VALUES (?, ?) "
                "ON CONFLICT (tbl) DO UPDATE SET offline_version = excluded.offline_version",
                (table, new_version),
            )
            con.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            if is_damage(exc) and not isinstance(exc, OnlineStoreDamagedError):
                raise self.damaged(str(exc)) from exc
            raise

    def get(
        self, table: str, specs: Sequence[FeatureSpec], pk: Sequence[str], keys: Sequence[Sequence[object]]
    ) -> list[tuple | None]:
        """Return the stored row (as SQLite values, in ``specs`` order) for each key, None if absent."""
        names = tuple(s.name for s in specs)
        cache_key = (table, names, tuple(pk))
        lookup = self._lookups.get(cache_key)
        if lookup is None:
            lookup = self._lookups[cache_key] = self.lookup(table, specs, pk)
        return lookup(keys)

    def lookup(
        self, table: str, specs: Sequence[FeatureSpec], pk: Sequence[str]
    ) -> Callable[[Sequence[Sequence[object]]], list[tuple | None]]:
        """Return ``keys -> get(table, specs, pk, keys)``, its SQL prepared once (for serving)."""
        names = [s.name for s in specs]
        where = " AND ".join(f"{_q(k)} = ?" for k in pk)
        single = f"SELECT {', '.join(map(_q, names))} FROM {_q(table)} WHERE {where}"  # noqa: S608 - quoted names
        # More keys: one query per chunk, the keys joined to the table on its primary key. Columns
        # of a VALUES list have no affinity, so each comparison applies the column's affinity as
        # ``k = ?`` does.
        key_columns = [f"k{j}" for j in range(len(pk))]
        on = " AND ".join(f"t.{_q(k)} = v.{c}" for k, c in zip(pk, key_columns, strict=True))
        head = f"WITH v(i, {', '.join(key_columns)}) AS (VALUES "
        selected = ", ".join(f"t.{_q(n)}" for n in names)
        tail = f") SELECT v.i, {selected} FROM v CROSS JOIN {_q(table)} AS t ON {on}"  # noqa: S608 - quoted names
        placeholder = "(" + ", ".join("?" * (len(pk) + 1)) + ")"

        def run(keys: Sequence[Sequence[object]]) -> list[tuple | None]:
            con = self.connection()
            try:
                if len(keys) <= FEW_KEYS:
                    return [con.execute(single, tuple(key)).fetchone() for key in keys]
                found: list[tuple | None] = [None] * len(keys)
                for start in range(0, len(keys), CHUNK_KEYS):
                    chunk = keys[start : start + CHUNK_KEYS]
                    params: list[object] = []
                    for offset, key in enumerate(chunk):
                        params.append(start + offset)
                        params.extend(key)
                    for row in con.execute(head + ", ".join([placeholder] * len(chunk)) + tail, params):
                        if found[row[0]] is None:
                            found[row[0]] = row[1:]
                return found
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return [None] * len(keys)
                if is_damage(exc):
                    raise self.damaged(str(exc)) from exc
                raise
            except sqlite3.DatabaseError as exc:
                if is_damage(exc):
                    raise self.damaged(str(exc)) from exc
                raise

        return run

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
