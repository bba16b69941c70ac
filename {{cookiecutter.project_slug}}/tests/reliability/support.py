"""Helpers of the reliability tests: store snapshots, a fake Open-Meteo server, a killable writer.

Run as a script (``python support.py ...``) it is the writer process the crash tests kill: it
performs one store operation and can stop at a chosen point inside it, announcing
``PAUSE <point>`` on stdout, so the test kills it exactly there (see ``writer_main``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
from local_hopsworks import LocalProject
from local_hopsworks.maintenance import feature_specs, offline_table, online_store, online_table_name
from local_hopsworks.online import from_sqlite_rows

from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sources.base import Location
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource

PACKAGE = "{{ cookiecutter.package_name }}"
SRC = Path(__file__).resolve().parents[2] / "src"
TODAY = dt.date(2025, 6, 30)
OTHER = {"location_name": "Forgetme Town", "latitude": 10.0, "longitude": 20.0}


def location_settings(store_dir: Path, **changes: Any) -> Settings:
    """Settings for a store and location, small enough for quick pipeline runs."""
    values: dict[str, Any] = {"data_source": "synthetic", "backfill_days": 60, "test_days": 14, **changes}
    return Settings(_env_file=None, store_dir=store_dir, **values)


# ------------------------------------------------------------------------------------------ store state


def sorted_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Return ``df`` with columns by name and rows by ``keys``: a canonical form to compare."""
    if df.empty:
        return df.reset_index(drop=True)
    return df[sorted(df.columns)].sort_values(keys, ignore_index=True)


def latest_per_key(df: pd.DataFrame, pk: list[str], event_time: str | None) -> pd.DataFrame:
    """Return the newest row per primary key (what the online store must hold)."""
    if event_time:
        df = df.sort_values(event_time, kind="stable")
    return df.drop_duplicates(subset=pk, keep="last")


def online_rows(fg: Any) -> pd.DataFrame:
    """Read a group's online table straight from SQLite (a read-only connection, no healing)."""
    path = online_store(fg.feature_store).path
    specs = feature_specs(fg)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = ", ".join(f'"{s.name}"' for s in specs)
        rows = con.execute(f'SELECT {names} FROM "{online_table_name(fg)}"').fetchall()  # noqa: S608 (test helper)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        rows = []
    finally:
        con.close()
    return from_sqlite_rows(rows, specs)


def assert_online_matches_offline(fg: Any) -> None:
    """Fail unless the online table holds exactly the newest offline row per key."""
    keys = fg.primary_key
    expected = sorted_rows(latest_per_key(fg.read(), keys, fg.event_time), keys)
    actual = sorted_rows(online_rows(fg), keys)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)


def store_state(root: Path) -> dict[str, Any]:
    """Return every feature group's offline version and rows, and every online table, of a store."""
    fs = LocalProject(root).get_feature_store()
    state: dict[str, Any] = {}
    folder = root / "feature_groups"
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        meta = json.loads((path / "fg.json").read_text())
        fg = fs.get_feature_group(meta["name"], meta["version"])
        keys = fg.primary_key + ([fg.event_time] if fg.event_time else [])
        rows = sorted_rows(fg.read(), keys) if meta.get("features") else pd.DataFrame()
        online = sorted_rows(online_rows(fg), fg.primary_key) if meta.get("features") else pd.DataFrame()
        state[path.name] = {"version": offline_table(fg).version(), "rows": rows, "online": online}
    return state


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Fail unless two ``store_state`` results are identical."""
    assert before.keys() == after.keys(), (sorted(before), sorted(after))
    for name in before:
        assert before[name]["version"] == after[name]["version"], f"{name}: a commit happened"
        pd.testing.assert_frame_equal(before[name]["rows"], after[name]["rows"])
        pd.testing.assert_frame_equal(before[name]["online"], after[name]["online"])


# ------------------------------------------------------------------------------ fake Open-Meteo server

DAILY = ("temperature_2m_mean", "precipitation_sum", "wind_speed_10m_max", "wind_direction_10m_dominant")


@dataclass
class Fault:
    """One scripted misbehaviour for a path: ``kind`` is timeout, status, malformed, empty,
    missing_days, nan_latest or echo (a 400 whose reason repeats the query string)."""

    kind: str
    status: int = 500
    retry_after: str | None = None
    days: int = 2


@dataclass
class FakeOpenMeteo:
    """Open-Meteo's three endpoints on loopback, serving the simulator's data, with scripted faults."""

    base: str = ""
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    seen: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    timeout_s: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"{self.base}/v1/{name}"

    def script(self, path: str, *faults: Fault) -> None:
        """Answer the next requests to ``/v1/<path>`` with ``faults`` in turn, then normally."""
        self.faults[f"/v1/{path}"] = list(faults)

    def requests_to(self, path: str) -> list[tuple[float, dict[str, str]]]:
        return [(t, q) for t, p, q in self.seen if p == f"/v1/{path}"]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes, dict[str, str], float]:
        with self.lock:
            self.seen.append((time.monotonic(), path, query))
            queue = self.faults.get(path) or []
            fault = queue.pop(0) if queue else None
        if path not in ("/v1/archive", "/v1/forecast", "/v1/air-quality"):
            return 404, b'{"error": true, "reason": "no such endpoint"}', {}, 0.0
        if fault is not None and fault.kind == "timeout":
            return 200, b"{}", {}, self.timeout_s * 3
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return fault.status, b'{"error": true, "reason": "scripted failure"}', headers, 0.0
        if fault is not None and fault.kind == "malformed":
            return 200, b'{"daily": {"time": ["2024-01-01", ', {}, 0.0
        if fault is not None and fault.kind == "empty":
            return 200, b"", {}, 0.0
        if fault is not None and fault.kind == "echo":
            reason = json.dumps({"error": True, "reason": f"bad request: {sorted(query.items())}"})
            return 400, reason.encode(), {}, 0.0
        body = self._data(path, query, fault)
        return 200, json.dumps(body).encode(), {}, 0.0

    def _data(self, path: str, query: dict[str, str], fault: Fault | None) -> dict[str, Any]:
        location = Location("x", "x", float(query["latitude"]), float(query["longitude"]))
        start = dt.date.fromisoformat(query["start_date"])
        end = dt.date.fromisoformat(query["end_date"])
        source = SyntheticSource(today=dt.datetime.now(dt.UTC).date())
        nan_from = (
            None if fault is None or fault.kind != "nan_latest" else end - dt.timedelta(days=fault.days - 1)
        )
        if path == "/v1/air-quality":
            daily = source.fetch_pm25(location, start, end)
            times, values = [], []
            for day, pm25 in zip(daily["date"], daily["pm25"], strict=True):
                for hour in range(24):
                    times.append(f"{day.date().isoformat()}T{hour:02d}:00")
                    values.append(None if nan_from and day.date() >= nan_from else float(pm25))
            return {"hourly": {"time": times, "pm2_5": values}}
        frame = source.fetch_weather(location, start, end)
        if fault is not None and fault.kind == "missing_days":
            frame = frame.iloc[: -fault.days]
        out: dict[str, Any] = {"time": [d.date().isoformat() for d in frame["date"]]}
        for name in DAILY:
            out[name] = [
                None if (nan_from and d.date() >= nan_from) or math.isnan(v) else float(v)
                for d, v in zip(frame["date"], frame[name], strict=True)
            ]
        return {"daily": out}


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def do_GET(self) -> None:  # noqa: N802 (the name BaseHTTPRequestHandler calls)
        url = urlsplit(self.path)
        status, body, headers, delay = self.server.fake.answer(url.path, dict(parse_qsl(url.query)))
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeouts)

    def log_message(self, *args: Any) -> None:
        pass


def serve_fake_open_meteo() -> tuple[FakeOpenMeteo, Callable[[], None]]:
    """Start the fake server on a free loopback port; return it and a function that stops it."""
    fake = FakeOpenMeteo()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()

    return fake, stop


# ---------------------------------------------------------------------------------- the killable writer


class Writer:
    """A writer subprocess whose stdout lines arrive on a queue."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,  # the tests' own folder: never a developer's .env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def wait_for(self, prefix: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            if line.startswith(prefix):
                return line
        stderr = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(f"writer never printed {prefix!r} (exit {self.proc.poll()}): {stderr[-2000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        assert self.proc.returncode == -signal.SIGKILL


EVENTS = {"name": "events", "version": 1, "primary_key": ["k"], "event_time": "t", "online_enabled": True}
T0 = pd.Timestamp("2024-01-01", tz="UTC")
ROWS_DEFAULT = 200


def events_group(root: Path) -> Any:
    """Return the crash tests' feature group (online-enabled, key ``k``, event time ``t``)."""
    return LocalProject(root).get_feature_store().get_or_create_feature_group(**EVENTS)


def events(keys: range | list[int], generation: int, payload: int = 0) -> pd.DataFrame:
    """Return one row per key; every value derives from ``generation`` so a torn row is detectable."""
    keys = list(keys)
    return pd.DataFrame(
        {
            "k": keys,
            "t": [T0 + pd.Timedelta(minutes=k % 7) for k in keys],
            "a": [float(generation)] * len(keys),
            "b": [f"g{generation}" + "x" * payload] * len(keys),
            "c": [2 * generation] * len(keys),
        }
    )


def operation(fg: Any, op: str, step: int, rows: int) -> None:
    """Run step ``step`` of a crash scenario: ``insert`` new keys, ``upsert`` all keys, ``delete`` some."""
    if op == "insert":
        fg.insert(events(range(rows * step, rows * (step + 1)), step))
    elif op == "upsert":
        fg.insert(events(range(rows), step))
    elif op == "delete":
        fg.remove_rows(pd.DataFrame({"k": list(range(step, rows, 3))}))
    else:
        raise ValueError(op)


def pause(point: str) -> None:
    """Announce ``PAUSE <point>`` and wait to be killed."""
    print(f"PAUSE {point}", flush=True)
    time.sleep(120)
    raise SystemExit("not killed")


def install_pipeline_pause(point: str) -> None:
    """Stop the feature pipeline ``between-groups`` (weather written, air quality not) or in
    ``air-quality-online`` (air quality committed offline, not yet online)."""
    from local_hopsworks.feature_group import FeatureGroup

    method = {"between-groups": "insert", "air-quality-online": "_sync_online"}[point]
    original = getattr(FeatureGroup, method)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == "air_quality":
            pause(point)
        return original(self, *args, **kwargs)

    setattr(FeatureGroup, method, wrapper)


def install_pause(point: str) -> None:
    """Make this process stop at ``point`` of the next write, announce it and wait to be killed.

    Points: ``before-offline`` (nothing committed yet), ``after-offline`` (the Delta commit is done,
    the online sync has not started) and ``in-online`` (inside the SQLite transaction, its rows applied).
    """
    from local_hopsworks.feature_group import FeatureGroup
    from local_hopsworks.offline import OfflineTable
    from local_hopsworks.online import OnlineStore

    def wrap(cls: type, name: str, before: bool) -> None:
        original = getattr(cls, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if before:
                pause(point)
            result = original(*args, **kwargs)
            if not before:
                pause(point)
            return result

        setattr(cls, name, wrapper)

    if point == "before-offline":
        for name in ("upsert", "delete_keys"):
            wrap(OfflineTable, name, before=True)
    elif point == "after-offline":
        wrap(FeatureGroup, "_sync_online", before=True)
    elif point == "in-online":
        wrap(OnlineStore, "_upsert", before=False)
    elif point != "none":
        raise ValueError(point)


def big_batch(rows: int, generation: int) -> pd.DataFrame:
    """Rows whose parquet cannot be compressed much (random text): a write of a known, large size."""
    import secrets

    frame = events(range(rows), generation)
    frame["b"] = [secrets.token_hex(600) for _ in range(rows)]
    return frame


def disk_main(root: Path) -> int:
    """Probe whether the store folder is writable, read it, then try to write a large batch."""
    probe = root / "probe"
    try:
        probe.write_text("x")
        probe.unlink()
        print("PROBE writable", flush=True)
    except OSError as exc:
        print(f"PROBE refused {exc.errno}", flush=True)
    fg = events_group(root)
    print(f"READ {len(fg.read())}", flush=True)
    try:
        fg.insert(big_batch(300, 1))
    except Exception as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 3
    print("WROTE", flush=True)
    return 0


def writer_main(argv: list[str]) -> int:
    """``support.py ROOT OP STEP ROWS POINT``: run one operation, stopping at POINT; or
    ``support.py ROOT sequence N ROWS``: run N upsert/insert/delete steps, printing ``STEP i`` after each."""
    root, op = Path(argv[0]), argv[1]
    if op == "disk":
        return disk_main(root)
    if op == "pipeline":  # the feature pipeline as Modal runs it, through the command line
        from {{ cookiecutter.package_name }} import cli

        install_pipeline_pause(argv[2])
        print("START", flush=True)
        return cli.main(["feature"])
    fg = events_group(root)
    if op == "sequence":
        steps, rows = int(argv[2]), int(argv[3])
        print("START", flush=True)
        for step in range(1, steps + 1):
            operation(fg, sequence_op(step), step, rows)
            print(f"STEP {step}", flush=True)
        return 0
    step, rows, point = int(argv[2]), int(argv[3]), argv[4]
    install_pause(point)
    print("START", flush=True)
    operation(fg, op, step, rows)
    print("DONE", flush=True)
    return 0


def sequence_op(step: int) -> str:
    """The operation of step ``step`` of the long crash sequence (mostly upserts)."""
    return "delete" if step % 5 == 0 else "insert" if step % 3 == 0 else "upsert"


if __name__ == "__main__":
    raise SystemExit(writer_main(sys.argv[1:]))
