"""Damaged store files through the project's commands: each is found, named by file, and never served.

``check --deep`` is tried with six kinds of damage (a truncated Delta commit, a truncated Parquet
file, overwritten SQLite pages, an online value changed behind the store's back, a changed model
file, an interrupted erasure); ``check --repair-online`` rebuilds a damaged online file.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from deltalake import DeltaTable
from support import SRC, location_settings

from {{ cookiecutter.package_name }} import cli
from {{ cookiecutter.package_name }}.model import load_model
from {{ cookiecutter.package_name }}.ops.freshness import deep_findings

AGES = [
    "--feature-max-age-days",
    "100000",
    "--prediction-max-age-days",
    "100000",
    "--model-max-age-days",
    "100000",
]
ROOT = SRC.parent


@pytest.fixture
def store(store_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the two-location store, as STORE_DIR, run from its parent folder."""
    monkeypatch.setenv("STORE_DIR", str(store_copy))
    monkeypatch.setenv("DATA_SOURCE", "synthetic")
    monkeypatch.chdir(store_copy.parent)
    return store_copy


def _checkpoint(root: Path) -> Path:
    path = root / "online.sqlite"
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


def test_a_feature_run_over_a_missing_delta_log_fails_naming_the_table(store: Path, capsys) -> None:
    """Today the run exited 0 and started a new weather table over 730 days of old files."""
    table = store / "feature_groups" / "weather_1" / "offline"
    files = sorted(table.glob("*.parquet"))
    shutil.rmtree(table / "_delta_log")
    assert cli.main(["feature"]) == 1
    error = capsys.readouterr().err
    assert "feature group weather v1" in error and str(table) in error and "_delta_log" in error
    assert sorted(table.glob("*.parquet")) == files and not (table / "_delta_log").exists()
    assert cli.main(["check", "--deep", *AGES]) == 1
    assert f"DAMAGED {table}" in capsys.readouterr().out


def _truncate_commit(root: Path) -> Path:
    commit = sorted((root / "feature_groups" / "weather_1" / "offline" / "_delta_log").glob("*.json"))[-1]
    commit.write_text(commit.read_text()[:100])
    return commit


def _truncate_parquet(root: Path) -> Path:
    # A file the table's current version reads: compaction leaves older files for time travel only.
    table = root / "feature_groups" / "air_quality_1" / "offline"
    data = Path(sorted(DeltaTable(str(table)).file_uris())[0])
    data.write_bytes(data.read_bytes()[:-30])
    return data


def _overwrite_pages(root: Path) -> Path:
    path = _checkpoint(root)
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(data), 4096 * 3):
        data[offset : offset + 128] = b"\x5a" * 128
    path.write_bytes(bytes(data))
    return path


def _change_online_value(root: Path) -> Path:
    path = _checkpoint(root)
    con = sqlite3.connect(path)
    con.execute("UPDATE air_quality_1 SET pm25_lag_1 = pm25_lag_1 + 0.3")
    con.commit()
    con.close()
    return path


def _change_model_file(root: Path) -> Path:
    model = sorted(root.glob("models/*/1/files/model.json"))[0]
    model.write_text(model.read_text().replace("1", "2", 1))
    return model.parent


def _interrupted_erasure(root: Path) -> Path:
    intent = root / "audit" / "pending" / "0123.json"
    intent.parent.mkdir(parents=True)
    intent.write_text('{"run": "0123", "entity": {"id": "sha256:x"}, "deleted": []}')
    return intent


DAMAGE: dict[str, Callable[[Path], Path]] = {
    "delta-commit": _truncate_commit,
    "parquet-footer": _truncate_parquet,
    "sqlite-pages": _overwrite_pages,
    "online-value": _change_online_value,
    "model-file": _change_model_file,
    "pending-erasure": _interrupted_erasure,
}


def test_check_deep_passes_a_sound_store(store: Path, capsys) -> None:
    assert deep_findings(location_settings(store)) == []
    assert cli.main(["check", "--deep", *AGES]) == 0
    assert "ok    store files" in capsys.readouterr().out


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_check_deep_names_each_damaged_file(store: Path, capsys, kind: str) -> None:
    """Today `check` exited 0 over every one of these."""
    damaged = DAMAGE[kind](store)
    assert cli.main(["check", "--deep", *AGES]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("DAMAGED")]
    assert any(str(damaged) in line for line in lines), captured.out
    assert "problem(s) in the store's files" in captured.err


@pytest.mark.parametrize("option", ["--deep", "--repair-online"])
def test_the_file_checks_refuse_hopsworks_clearly(store: Path, monkeypatch, capsys, option: str) -> None:
    """On Hopsworks there are no store files to read: one clear line, before any login."""
    monkeypatch.setenv("STORE_BACKEND", "hopsworks")
    assert cli.main(["check", option]) == 1
    assert f"check {option} reads the embedded store's files (STORE_BACKEND=local)" in capsys.readouterr().err


def test_check_repair_online_rebuilds_a_damaged_online_store(store: Path, capsys) -> None:
    """Today a corrupt online file went unnoticed by `check` and served filled-in lags."""
    _overwrite_pages(store)
    assert cli.main(["check", *AGES]) == 1, "plain check notices the damaged online file"
    assert "online.sqlite" in capsys.readouterr().out
    assert cli.main(["check", "--repair-online", "--deep", *AGES]) == 0
    out = capsys.readouterr().out
    assert "online store was damaged: rebuilt" in out and "ok    store files" in out
    assert list(store.glob("online.sqlite.damaged-*")), "the damaged file is kept for inspection"


def test_model_loads_leave_no_temp_copies(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today every load left an up to 800 KB copy of the model's files in the temp folder."""
    from local_hopsworks import LocalProject

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    settings = location_settings(store)
    mr = LocalProject(store).get_model_registry()
    for _ in range(3):
        loaded = load_model(mr, settings.model_name)
        assert loaded.feature_names
    assert list(temp.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.heavy
def test_the_app_refuses_uploads(store: Path, tmp_path: Path) -> None:
    """``python app.py`` as a Space runs it: its upload endpoint refuses files and keeps none.

    Today it accepted 100 MB in 1.1 s from anyone and kept it in the temp folder.
    """
    port, uploads = _free_port(), tmp_path / "gradio"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(uploads),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    session = requests.Session()
    session.trust_env = False  # loopback only
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # bounded by attempts; the timeout only stops a hang
            try:
                if session.get(f"{base}/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError(
                f"app.py never served: {app.stderr.read() if app.poll() is not None else ''}"
            )
        payload = b"x" * (2 << 20)
        answer = session.post(f"{base}/gradio_api/upload", files={"files": ("big.bin", payload)}, timeout=30)
        assert answer.status_code == 413, answer.text
        kept = [p for p in uploads.rglob("*") if p.is_file() and p.stat().st_size >= len(payload) // 2]
        assert kept == []
    finally:
        app.terminate()
        app.wait(30)
