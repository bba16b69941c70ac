"""Benchmarks of the embedded feature store, with a baseline measured in the same run.

Run from the project root (the daily history's 1,071 inserts dominate: at ``--scale 0.2``
about 3 minutes on 2 cores, at full scale much longer)::

    PYTHONPATH=src python benchmarks/bench_store.py --scale 0.2 --only join    # as in docs
    PYTHONPATH=src python benchmarks/bench_store.py --scale 0.01               # quick check
    PYTHONPATH=src python benchmarks/bench_store.py --only online --out figures.json

Phases (sizes at ``--scale 1``):

- join: ``fv.training_data()`` of a view joining 1M label rows point-in-time with two
  feature groups of 10M rows each (100k entities, 5 float features), read from Delta,
  against hand-written pandas (``read_parquet`` + two ``merge_asof``) on the same data in
  time-sorted Parquet. The same final rows are written into three stores, one per insert
  history (``--history`` picks some): ``ordered``, one time-ordered insert per group;
  ``unordered``, one shuffled insert; ``daily``, one shuffled append per day, ten days held
  back and inserted last as an out-of-order backfill, and 2% of the last 30 days' rows first
  written with wrong values, then corrected by one upsert. Per history, one process times
  pandas then the store ``--repeat`` times back to back (after a warm-up of each), and the
  table shows the medians of the times and of the pairs' ratios, wall-clock and CPU. Then
  ``--repeat`` cold pairs: each side runs once in a fresh process of its own (as a pipeline
  calls ``training_data()`` once), pandas then the store; they give the cold ratio and the peak
  RSS of each side (medians).
- online: ``get_feature_vector`` (one key) and ``get_feature_vectors`` (1,000 keys) on a
  view over the two feature groups, against raw sqlite3 point SELECTs on the same tables.
- insert: a 1M-row upsert (half updates, half new rows) into a group of 1M rows, online
  sync included.
- materialise: rebuilding the online tables of two 1M-row groups (``ensure_online()``
  after the online tables were dropped).

Data are generated with a fixed seed and written with the public ``fg.insert``. Nothing
here asserts on time: figures and goals are printed. See docs/benchmarks.md for results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from local_hopsworks import LocalProject
from local_hopsworks.maintenance import offline_table, online_store, online_table_name, resync_online

DATA_FORMAT = 2  # bump when the generated data change, so a kept --workdir is rebuilt
START = pd.Timestamp("2024-01-01", tz="UTC")
SPAN = pd.Timedelta(days=365)
FEATURES = 5
PHASES = ("join", "online", "insert", "materialise")
HISTORIES = ("ordered", "unordered", "daily")
BACKFILL_DAYS = (180, 190)  # days held back from the daily appends, inserted last
GOALS = {
    "join_ratio": 1.0,
    "online_single_p99_us": 100.0,
    "online_batch_p99_ms": 20.0,
    "materialise_s": 1.0,
}


# -- data ----------------------------------------------------------------------------------------------------
def sizes(scale: float) -> dict[str, int]:
    """Return the row and entity counts for ``scale`` (1.0 is the full benchmark)."""
    return {
        "entities": max(1_000, round(100_000 * scale)),
        "labels": max(10_000, round(1_000_000 * scale)),
        "features": max(100_000, round(10_000_000 * scale)),
        "insert": max(10_000, round(1_000_000 * scale)),
    }


def make_frame(
    rng: np.random.Generator, rows: int, entities: int, columns: list[str], start: pd.Timestamp = START
) -> pd.DataFrame:
    """Return ``rows`` time-ordered rows (strictly increasing event times) of random entities."""
    span_us = SPAN.value // 1000
    step = span_us // rows
    offsets = np.arange(rows, dtype=np.int64) * step + rng.integers(0, step, rows)
    micros = start.value // 1000 + offsets
    frame = pd.DataFrame(
        {
            "entity": rng.integers(0, entities, rows, dtype=np.int64),
            "ts": pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize("UTC"),
        }
    )
    values = rng.standard_normal((rows, len(columns)))
    for i, name in enumerate(columns):
        frame[name] = values[:, i]
    return frame


def feature_names(prefix: str) -> list[str]:
    return [f"{prefix}_f{i}" for i in range(1, FEATURES + 1)]


def create_group(fs: Any, name: str, online: bool) -> Any:
    return fs.get_or_create_feature_group(
        name=name, version=1, primary_key=["entity"], event_time="ts", online_enabled=online
    )


def store_folder(workdir: Path, history: str) -> Path:
    """Return the store written with ``history`` (the ordered one also serves the online phase)."""
    return workdir / ("store" if history == "ordered" else f"store_{history}")


def daily_batches(frame: pd.DataFrame, rng: np.random.Generator) -> list[pd.DataFrame]:
    """Return the inserts that grow a group to ``frame``: daily appends, a backfill, corrections.

    Each day's rows arrive in one append, in random order, except ten days in the middle that
    come last as one out-of-order backfill. 2% of the rows of the last 30 days first arrive with
    wrong values; one upsert at the end corrects them. The group then holds exactly ``frame``.
    """
    day = ((frame["ts"] - frame["ts"].iloc[0]) // pd.Timedelta(days=1)).to_numpy()
    last = int(day.max())
    backfill = (day >= BACKFILL_DAYS[0]) & (day < BACKFILL_DAYS[1])
    wrong = (day > last - 30) & (rng.random(len(frame)) < 0.02)
    arrived = frame.copy()
    values = [c for c in frame.columns if c not in ("entity", "ts")]
    arrived.loc[wrong, values] = arrived.loc[wrong, values] + 1000.0
    batches = []
    for d in range(last + 1):
        rows = np.flatnonzero((day == d) & ~backfill)
        if rows.size:
            batches.append(arrived.iloc[rng.permutation(rows)].reset_index(drop=True))
    batches.append(frame.iloc[rng.permutation(np.flatnonzero(backfill))].reset_index(drop=True))
    batches.append(frame.iloc[rng.permutation(np.flatnonzero(wrong))].reset_index(drop=True))
    return batches


def write_history(fg: Any, frame: pd.DataFrame, history: str, rng: np.random.Generator) -> tuple[float, int]:
    """Insert ``frame`` into ``fg`` as ``history`` says; return the seconds and the number of inserts."""
    if history == "ordered":
        batches = [frame]
    elif history == "unordered":
        batches = [frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)]
    else:
        batches = daily_batches(frame, rng)
    t0 = time.perf_counter()
    for batch in batches:
        fg.insert(batch)
    return time.perf_counter() - t0, len(batches)


def build_stores(workdir: Path, scale: float, seed: int, histories: list[str]) -> dict[str, float]:
    """Create (or reuse) the Parquet copies and, per history, a store with the same rows and two views."""
    marker = workdir / "data.json"
    wanted = {"scale": scale, "seed": seed, "format": DATA_FORMAT}
    kept = json.loads(marker.read_text()) if marker.exists() else {}
    if kept.get("params") != wanted:
        for folder in [workdir / "parquet", *(store_folder(workdir, h) for h in HISTORIES)]:
            shutil.rmtree(folder, ignore_errors=True)
        kept = {"params": wanted, "generation": {}, "histories": []}
        n = sizes(scale)
        rng = np.random.default_rng(seed)
        label_start = START + pd.Timedelta(days=7)  # most labels have earlier feature rows, some none
        (workdir / "parquet").mkdir(parents=True)
        for name, rows, columns, start in (
            ("labels", n["labels"], ["label"], label_start),
            ("fa", n["features"], feature_names("a"), START),
            ("fb", n["features"], feature_names("b"), START),
        ):
            make_frame(rng, rows, n["entities"], columns, start).to_parquet(
                workdir / "parquet" / f"{name}.parquet", index=False
            )
    for history in histories:
        if history not in kept["histories"]:
            kept["generation"].update(build_history(workdir, history, seed))
            kept["histories"].append(history)
            marker.write_text(json.dumps(kept))
    return kept["generation"]


def build_history(workdir: Path, history: str, seed: int) -> dict[str, float]:
    """Write the three groups into a fresh store with ``history``; create the two views."""
    folder = store_folder(workdir, history)
    shutil.rmtree(folder, ignore_errors=True)
    fs = LocalProject(folder).get_feature_store()
    rng = np.random.default_rng(seed + 10)
    generation: dict[str, float] = {}
    for name, online in (("labels", False), ("fa", True), ("fb", True)):
        frame = pd.read_parquet(workdir / "parquet" / f"{name}.parquet")
        seconds, inserts = write_history(create_group(fs, name, online), frame, history, rng)
        generation[f"insert_{history}_{name}_s"] = seconds
        generation[f"insert_{history}_{name}_rows"] = float(len(frame))
        generation[f"insert_{history}_{name}_inserts"] = float(inserts)
        del frame
    labels, fa, fb = (fs.get_feature_group(g, 1) for g in ("labels", "fa", "fb"))
    query = (
        labels.select_all()
        .join(fa.select(feature_names("a")), on=["entity"])
        .join(fb.select(feature_names("b")), on=["entity"])
    )
    fs.get_or_create_feature_view(name="training", version=1, query=query, labels=["label"])
    serving = fa.select(["entity", *feature_names("a")]).join(fb.select(feature_names("b")), on=["entity"])
    fs.get_or_create_feature_view(name="serving", version=1, query=serving)
    generation[f"files_{history}"] = float(
        sum(len(offline_table(fg).open().file_uris()) for fg in (labels, fa, fb))
    )
    return generation


# -- join ----------------------------------------------------------------------------------------------------
def peak_mib() -> float:
    """Return this process's peak RSS in MiB.

    Linux: VmHWM, the peak of this program alone. ``ru_maxrss`` would do elsewhere, but on Linux
    a spawned child inherits its parent's peak at the spawn (the kernel carries it across exec),
    which after the data generation would hide the phase's own peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # KiB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, else KiB


def store_join(fv: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``fv.training_data()``'s X and y: the call timed, nothing else."""
    return fv.training_data(primary_key=True, event_time=True)


def pandas_join(folder: Path) -> pd.DataFrame:
    result = pd.read_parquet(folder / "labels.parquet")
    for name in ("fa", "fb"):
        right = pd.read_parquet(folder / f"{name}.parquet")
        result = pd.merge_asof(result, right, on="ts", by="entity", direction="backward")
        del right
    return result


def clocked(call: Any, *args: Any) -> tuple[Any, float, float]:
    """Return the result, the wall-clock and the CPU seconds (all threads) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = call(*args)
    return result, time.perf_counter() - t0, time.process_time() - c0


def training_view(workdir: Path, history: str) -> Any:
    return LocalProject(store_folder(workdir, history)).get_feature_store().get_feature_view("training", 1)


def run_join_store(workdir: Path, history: str, repeat: int = 1) -> dict[str, float]:
    """Run the store's join once in this fresh process: its peak RSS, and its result kept."""
    (x, y), seconds, _ = clocked(store_join, training_view(workdir, history))
    peak = peak_mib()
    # X and y side by side, to compare with pandas' one frame: after the clock and the peak.
    result = pd.concat([x, y], axis=1)
    del x, y
    result.to_parquet(workdir / f"result_store_{history}.parquet", index=False)
    return {"seconds": seconds, "peak_mib": peak, "rows": float(len(result))}


def run_join_pandas(workdir: Path, history: str = "", repeat: int = 1) -> dict[str, float]:
    """Run the pandas join once in this fresh process: its peak RSS, and its result kept."""
    pd.read_parquet(workdir / "parquet" / "labels.parquet", columns=["entity"])  # imports pyarrow
    result, seconds, _ = clocked(pandas_join, workdir / "parquet")
    peak = peak_mib()
    result.to_parquet(workdir / "result_pandas.parquet", index=False)
    return {"seconds": seconds, "peak_mib": peak, "rows": float(len(result))}


def run_join_pairs(workdir: Path, history: str, repeat: int) -> dict[str, list[float]]:
    """Time pandas then the store, ``repeat`` times in this one process, after one warm-up each.

    Each pair runs back to back, so both sides see the same machine load: on a shared machine
    the ratio of a pair is steadier than either time.
    """
    fv, folder = training_view(workdir, history), workdir / "parquet"
    pandas_join(folder)
    store_join(fv)
    times: dict[str, list[float]] = {"pandas_s": [], "pandas_cpu": [], "store_s": [], "store_cpu": []}
    for _ in range(repeat):
        for side, call, arg in (("pandas", pandas_join, folder), ("store", store_join, fv)):
            _, seconds, cpu = clocked(call, arg)
            times[f"{side}_s"].append(seconds)
            times[f"{side}_cpu"].append(cpu)
    return times


def subprocess_phase(phase: str, workdir: Path, history: str, repeat: int = 1) -> dict[str, Any]:
    """Run one measured phase in a fresh interpreter and return the JSON it prints last."""
    args = ["--phase", phase, "--workdir", str(workdir), "--history", history, "--repeat", str(repeat)]
    out = subprocess.run(  # noqa: S603 - this very script, with our own arguments
        [sys.executable, __file__, *args],
        check=False,
        capture_output=True,
        text=True,
    )
    # The figures are printed before the interpreter shuts down; a crash after that (seen with
    # native threads at exit on a loaded machine) does not make them wrong.
    lines = out.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        raise RuntimeError(f"phase {phase} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def same_rows(workdir: Path, history: str) -> bool:
    """Return whether the store and pandas results hold the same rows (after sorting).

    With ``primary_key=True`` the store also returns each joined group's keys and event time
    under qualified names, as the SDK does; pandas' result has no such columns to compare.
    """
    store = pd.read_parquet(workdir / f"result_store_{history}.parquet")
    hand = pd.read_parquet(workdir / "result_pandas.parquet")
    if not set(hand.columns) <= set(store.columns) or len(store) != len(hand):
        return False
    store = store[list(hand.columns)]
    store = store.sort_values(["entity", "ts"], kind="stable", ignore_index=True)
    hand = hand.sort_values(["entity", "ts"], kind="stable", ignore_index=True)
    return bool(store.equals(hand))


def bench_join(workdir: Path, repeat: int, histories: list[str]) -> dict[str, Any]:
    """Time each history's ``training_data()`` against pandas in warm and cold pairs; peaks cold."""
    fig: dict[str, Any] = {}
    for history in histories:
        key = f"join_{history}"
        pairs = subprocess_phase("join-pairs", workdir, history, repeat)
        cold = [
            tuple(subprocess_phase(f"join-{side}", workdir, history) for side in ("pandas", "store"))
            for _ in range(repeat)
        ]
        hand, store = ({k: float(np.median([run[i][k] for run in cold])) for k in cold[0][i]} for i in (0, 1))
        fig[f"{key}_cold_store_s"], fig[f"{key}_cold_pandas_s"] = store["seconds"], hand["seconds"]
        fig[f"{key}_cold_ratio"] = float(np.median([s["seconds"] / h["seconds"] for h, s in cold]))
        for side in ("store", "pandas"):
            fig[f"{key}_{side}_s"] = float(np.median(pairs[f"{side}_s"]))
        fig[f"{key}_ratio"] = float(np.median(np.divide(pairs["store_s"], pairs["pandas_s"])))
        fig[f"{key}_cpu_ratio"] = float(np.median(np.divide(pairs["store_cpu"], pairs["pandas_cpu"])))
        fig[f"{key}_ratios"] = [round(r, 3) for r in np.divide(pairs["store_s"], pairs["pandas_s"])]
        # Best of each side: on a shared machine the least disturbed run is the closest to the cost.
        fig[f"{key}_best_ratio"] = min(pairs["store_s"]) / min(pairs["pandas_s"])
        fig[f"{key}_store_peak_mib"] = store["peak_mib"]
        fig[f"{key}_pandas_peak_mib"] = hand["peak_mib"]
        fig[f"{key}_rows"] = int(store["rows"])
        fig[f"{key}_equal"] = same_rows(workdir, history)
    first = pd.read_parquet(workdir / f"result_store_{histories[0]}.parquet")
    fig["join_histories_identical"] = all(
        pd.read_parquet(workdir / f"result_store_{h}.parquet").equals(first) for h in histories[1:]
    )
    fig["join_ratio"] = max(fig[f"join_{h}_ratio"] for h in histories)
    fig["join_cold_ratio"] = max(fig[f"join_{h}_cold_ratio"] for h in histories)
    fig["join_peak_over_pandas"] = max(
        fig[f"join_{h}_store_peak_mib"] / fig[f"join_{h}_pandas_peak_mib"] for h in histories
    )
    return fig


# -- online --------------------------------------------------------------------------------------------------
def percentiles(samples_ns: list[int], unit: float) -> tuple[float, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / unit
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def timed(call: Any, *args: Any) -> tuple[int, int]:
    """Return the wall-clock and the CPU time (ns) of one call.

    CPU time leaves out the time the thread waited for a core: on a machine shared with
    other work it shows the cost of the code path that wall-clock percentiles blur.
    """
    wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
    call(*args)
    return time.perf_counter_ns() - wall, time.thread_time_ns() - cpu


def bench_online(workdir: Path, scale: float, seed: int, lookups: int, batches: int) -> dict[str, Any]:
    entities = sizes(scale)["entities"]
    fs = LocalProject(workdir / "store").get_feature_store()
    fv = fs.get_feature_view("serving", 1)
    fv.init_serving()
    rng = np.random.default_rng(seed + 1)
    singles = rng.integers(0, entities, 500 + lookups).tolist()
    key_batches = [rng.integers(0, entities, 1_000).tolist() for _ in range(20 + batches)]

    # Baseline: the same lookups as raw sqlite3 point SELECTs, one per table (two per vector).
    con = sqlite3.connect(workdir / "store" / "online.sqlite")
    sqls = []
    for table, prefix in (("fa_1", "a"), ("fb_1", "b")):
        columns = ", ".join(f'"{c}"' for c in ["entity", "ts", *feature_names(prefix)])
        sqls.append(f'SELECT {columns} FROM "{table}" WHERE "entity" = ?')  # noqa: S608 - fixed names

    def raw(key: int) -> list:
        return [con.execute(sql, (key,)).fetchone() for sql in sqls]

    def raw_batch(keys: list[int]) -> list:
        return [raw(key) for key in keys]

    def store_batch(keys: list[int]) -> list:
        vectors = fv.get_feature_vectors([{"entity": key} for key in keys])
        assert len(vectors) == len(keys)  # noqa: S101 - a sanity check, not a timed assert
        return vectors

    # Store and baseline alternate call by call, so that both see the same machine load.
    samples: dict[str, list[tuple[int, int]]] = {"single": [], "raw_single": [], "batch": [], "raw_batch": []}
    for i, key in enumerate(singles):  # the first 500 warm up the connection and caches
        store, base = timed(fv.get_feature_vector, {"entity": key}), timed(raw, key)
        if i >= 500:
            samples["single"].append(store)
            samples["raw_single"].append(base)
    for i, keys in enumerate(key_batches):
        store, base = timed(store_batch, keys), timed(raw_batch, keys)
        if i >= 20:
            samples["batch"].append(store)
            samples["raw_batch"].append(base)
    con.close()

    fig: dict[str, Any] = {}
    for name, unit, suffix in (
        ("single", 1e3, "us"),
        ("raw_single", 1e3, "us"),
        ("batch", 1e6, "ms"),
        ("raw_batch", 1e6, "ms"),
    ):
        prefix = name if name.startswith("raw") else f"online_{name}"
        walls, cpus = zip(*samples[name], strict=True)
        fig[f"{prefix}_p50_{suffix}"], fig[f"{prefix}_p99_{suffix}"] = percentiles(list(walls), unit)
        fig[f"{prefix}_cpu_p50_{suffix}"], fig[f"{prefix}_cpu_p99_{suffix}"] = percentiles(list(cpus), unit)
    fig["online_single_ratio_p50"] = fig["online_single_p50_us"] / fig["raw_single_p50_us"]
    fig["online_batch_ratio_p50"] = fig["online_batch_p50_ms"] / fig["raw_batch_p50_ms"]
    return fig


# -- writes --------------------------------------------------------------------------------------------------
def bench_insert(workdir: Path, scale: float, seed: int) -> dict[str, Any]:
    folder = workdir / "insert_store"
    shutil.rmtree(folder, ignore_errors=True)
    n = sizes(scale)
    rng = np.random.default_rng(seed + 2)
    fs = LocalProject(folder).get_feature_store()
    fg = create_group(fs, "ins", online=True)
    base = make_frame(rng, n["insert"], n["entities"], feature_names("i"))
    t0 = time.perf_counter()
    fg.insert(base)
    first = time.perf_counter() - t0
    # Half of the batch rewrites existing (key, time) rows, half adds rows after the existing ones.
    half = n["insert"] // 2
    updates = base.iloc[np.sort(rng.choice(len(base), half, replace=False))].reset_index(drop=True)
    for name in feature_names("i"):
        updates[name] = rng.standard_normal(half)
    fresh = make_frame(rng, n["insert"] - half, n["entities"], feature_names("i"), START + SPAN)
    batch = pd.concat([updates, fresh], ignore_index=True)
    t0 = time.perf_counter()
    fg.insert(batch)
    upsert = time.perf_counter() - t0
    rows = offline_table(fg).info()["rows"]
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "insert_first_rows_per_s": n["insert"] / first,
        "insert_upsert_s": upsert,
        "insert_upsert_rows_per_s": len(batch) / upsert,
        "insert_rows_after": int(rows),
        "insert_rows_expected": int(len(base) + len(fresh)),
    }


def bench_materialise(workdir: Path, scale: float, seed: int, repeat: int) -> dict[str, Any]:
    folder = workdir / "materialise_store"
    shutil.rmtree(folder, ignore_errors=True)
    n = sizes(scale)
    rng = np.random.default_rng(seed + 3)
    fs = LocalProject(folder).get_feature_store()
    groups = []
    for name in ("m1", "m2"):
        fg = create_group(fs, name, online=True)
        fg.insert(make_frame(rng, n["insert"], n["entities"], feature_names(name)))
        groups.append(fg)
    best = float("inf")
    for _ in range(repeat):
        for fg in groups:
            online_store(fs).drop(online_table_name(fg))  # clears the table and its sync record
        t0 = time.perf_counter()
        for fg in groups:
            resync_online(fg)  # rebuilds from the offline table
        best = min(best, time.perf_counter() - t0)
    con = online_store(fs).connection()
    online_rows = sum(
        con.execute(f'SELECT COUNT(*) FROM "{online_table_name(fg)}"').fetchone()[0]  # noqa: S608
        for fg in groups
    )
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "materialise_s": best,
        "materialise_offline_rows": 2 * n["insert"],
        "materialise_online_rows": int(online_rows),
    }


# -- report --------------------------------------------------------------------------------------------------
def join_report(fig: dict[str, Any]) -> list[str]:
    """Return the join table: per history, store and pandas time, ratio, peaks and insert cost."""
    histories = [h for h in HISTORIES if f"join_{h}_ratio" in fig]
    if not histories:
        return []
    lines = [
        "join     history     inserts  insert s  files   store s  pandas s  ratio  CPU ratio  best  "
        "cold store s  cold pandas s  cold ratio  store MiB  pandas MiB  same rows",
    ]
    for h in histories:
        inserts = sum(fig.get(f"insert_{h}_{g}_inserts", 0) for g in ("labels", "fa", "fb"))
        insert_s = sum(fig.get(f"insert_{h}_{g}_s", 0) for g in ("labels", "fa", "fb"))
        lines.append(
            f"join     {h:10s} {inserts:8,.0f} {insert_s:9.1f} {fig.get(f'files_{h}', 0):6,.0f} "
            f"{fig[f'join_{h}_store_s']:9.2f} {fig[f'join_{h}_pandas_s']:9.2f} {fig[f'join_{h}_ratio']:6.2f} "
            f"{fig[f'join_{h}_cpu_ratio']:10.2f} {fig[f'join_{h}_best_ratio']:5.2f} "
            f"{fig[f'join_{h}_cold_store_s']:13.2f} {fig[f'join_{h}_cold_pandas_s']:14.2f} "
            f"{fig[f'join_{h}_cold_ratio']:11.2f} "
            f"{fig[f'join_{h}_store_peak_mib']:10,.0f} {fig[f'join_{h}_pandas_peak_mib']:11,.0f}  "
            f"{fig[f'join_{h}_equal']}"
        )
    lines.append(
        f"join     {fig[f'join_{histories[0]}_rows']:,} rows; training data identical across histories: "
        f"{fig['join_histories_identical']}"
    )
    return lines


def report(fig: dict[str, Any]) -> list[str]:
    lines = []
    lines += join_report(fig)
    if "online_single_p50_us" in fig:
        rows = (
            ("get_feature_vector      ", "online_single", "us"),
            ("raw sqlite3 (2 SELECTs) ", "raw_single", "us"),
            ("get_feature_vectors 1k  ", "online_batch", "ms"),
            ("raw sqlite3 1k keys     ", "raw_batch", "ms"),
        )
        for label, key, unit in rows:
            lines.append(
                f"online   {label} p50 {fig[f'{key}_p50_{unit}']:8.2f} {unit}   "
                f"p99 {fig[f'{key}_p99_{unit}']:8.2f} {unit}   (CPU time: p50 "
                f"{fig[f'{key}_cpu_p50_{unit}']:.2f}, p99 {fig[f'{key}_cpu_p99_{unit}']:.2f})"
            )
        lines.append(
            f"online   ratio store/raw at p50      single {fig['online_single_ratio_p50']:.2f}, "
            f"batch {fig['online_batch_ratio_p50']:.2f}"
        )
    if "insert_upsert_s" in fig:
        lines += [
            f"insert   first insert             {fig['insert_first_rows_per_s']:10,.0f} rows/s",
            f"insert   upsert (+ online sync)   {fig['insert_upsert_rows_per_s']:10,.0f} rows/s"
            f"   ({fig['insert_upsert_s']:.2f} s; rows after {fig['insert_rows_after']:,},"
            f" expected {fig['insert_rows_expected']:,})",
        ]
    if "materialise_s" in fig:
        lines.append(
            f"insert   materialise 2 groups     {fig['materialise_s']:8.2f} s   "
            f"({fig['materialise_offline_rows']:,} offline rows -> {fig['materialise_online_rows']:,} online)"
        )
    checks = [
        ("join_ratio", "join ratio store/pandas <= 1.0 (all)", lambda v: v <= GOALS["join_ratio"]),
        ("join_cold_ratio", "cold join ratio <= 1.0 (all)", lambda v: v <= GOALS["join_ratio"]),
        ("join_peak_over_pandas", "join peak memory <= pandas'", lambda v: v <= 1.0),
        ("online_single_p99_us", "single vector p99 <= 100 us", lambda v: v <= GOALS["online_single_p99_us"]),
        ("online_batch_p99_ms", "1,000 vectors p99 <= 20 ms", lambda v: v <= GOALS["online_batch_p99_ms"]),
        ("materialise_s", "materialise 2x1M rows <= 1 s", lambda v: v <= GOALS["materialise_s"]),
    ]
    if "load_before" in fig:
        lines.append(
            f"machine  load average (1 min)     {fig['load_before']:.1f} before, "
            f"{fig['load_after']:.1f} after"
        )
    if fig.get("scale") != 1.0:
        lines.append("goal     (the goals are for --scale 1: this smaller run only checks the script)")
    for key, text, ok in checks:
        if key in fig:
            lines.append(f"goal     {text:34s} {'met' if ok(fig[key]) else 'MISSED'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the data sizes (1.0: full)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=PHASES, help="run one phase")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--repeat", type=int, default=5, help="join pairs (median) and rebuilds (best)")
    parser.add_argument(
        "--history",
        choices=HISTORIES,
        action="append",
        help="insert history of the join (default: all three)",
    )
    parser.add_argument("--lookups", type=int, default=5_000, help="timed single-key lookups")
    parser.add_argument("--batches", type=int, default=300, help="timed batches of 1,000 keys")
    parser.add_argument("--workdir", type=Path, help="keep and reuse generated data here (default: temp)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: one measured subprocess
    args = parser.parse_args(argv)

    if args.phase:
        runner = {"join-store": run_join_store, "join-pandas": run_join_pandas, "join-pairs": run_join_pairs}
        print(json.dumps(runner[args.phase](args.workdir, args.history[0], args.repeat)), flush=True)
        return 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_store_"))
    workdir.mkdir(parents=True, exist_ok=True)
    phases = [args.only] if args.only else list(PHASES)
    histories = args.history or list(HISTORIES)
    fig: dict[str, Any] = {"scale": args.scale, "seed": args.seed, **sizes(args.scale)}
    fig["load_before"] = os.getloadavg()[0]
    try:
        if {"join", "online"} & set(phases):
            t0 = time.perf_counter()
            wanted = histories if "join" in phases else ["ordered"]
            fig.update(build_stores(workdir, args.scale, args.seed, wanted))
            print(f"data     ready in {time.perf_counter() - t0:.1f} s ({workdir})", flush=True)
        if "join" in phases:
            fig.update(bench_join(workdir, args.repeat, histories))
        if "online" in phases:
            fig.update(bench_online(workdir, args.scale, args.seed, args.lookups, args.batches))
        if "insert" in phases:
            fig.update(bench_insert(workdir, args.scale, args.seed))
        if "materialise" in phases:
            fig.update(bench_materialise(workdir, args.scale, args.seed, args.repeat))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    fig["load_after"] = os.getloadavg()[0]
    print("\n".join(report(fig)))
    if args.out:
        args.out.write_text(json.dumps(fig, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
