"""Nobody in: no pickle, secrets never logged or stored, and a Gradio app that shares and serves nothing.

Template inputs are data (a project name cannot run as code): that is tested where the template
is, in the template repository's ``tests/test_hooks.py``.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support import SRC, FakeOpenMeteo, Fault, location_settings

from {{ cookiecutter.package_name }}.pipelines import feature
from {{ cookiecutter.package_name }}.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "{{ cookiecutter.package_name }}"
OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
os.environ.update(OFFLINE)  # before gradio is imported
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve"}
BANNED_CALLS = {"read_pickle", "to_pickle"}


def python_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if not any(part.startswith(".") or part in ("build", "dist", "__pycache__") for part in p.parts)
    )


# ------------------------------------------------------------------------------------------- pickle


def test_no_pickle_or_joblib_anywhere() -> None:
    found = []
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            if BANNED_MODULES & set(names):
                found.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: imports {sorted(BANNED_MODULES & set(names))}"
                )
            if isinstance(node, ast.Attribute) and node.attr in BANNED_CALLS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.attr}")
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: allow_pickle")
    assert not found, "\n".join(found)


def test_ci_lint_rejects_pickle_and_joblib(tmp_path: Path) -> None:
    """The project's own ruff configuration (what CI runs) flags every way in."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import joblib\nimport pickle\n\nimport pandas as pd\n\n"
        'a = pickle.loads(b"")\nb = joblib.load("m")\nc = pd.read_pickle("x")\n'
    )
    config = ["--no-cache", "--output-format", "json", "--config", str(ROOT / "pyproject.toml")]
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *config, str(probe)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    found = {(item["code"], item["location"]["row"]) for item in json.loads(done.stdout)}
    assert {("S403", 2), ("S301", 6), ("S301", 8)} <= found, found  # pickle import and loads, read_pickle
    assert {("TID251", 1), ("TID251", 2), ("TID251", 8)} <= found, found  # joblib, pickle, read_pickle banned


def test_stored_models_and_data_are_not_pickles(two_locations: Path) -> None:
    for path in two_locations.rglob("*"):
        if path.is_file():
            assert path.suffix not in (".pkl", ".pickle", ".joblib"), path
            with path.open("rb") as handle:
                head = handle.read(2)
            assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), path


# ------------------------------------------------------------------------------------------- secrets


def test_env_files() -> None:
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert ".env" in ignored
    names = set(Settings.model_fields)
    for number, line in enumerate((ROOT / ".env.example").read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and value == "", f".env.example:{number} holds a value: {line!r}"
        assert name.lower() in names, f".env.example:{number}: {name} is not a setting"


def test_settings_never_show_a_secret() -> None:
    marker = secrets.token_hex(16)
    settings = Settings(_env_file=None, hopsworks_api_key=marker, open_meteo_api_key=marker)
    assert marker not in repr(settings) and marker not in str(settings)
    assert marker not in settings.model_dump_json()


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh process with every logger at DEBUG (the worst case)."""
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        f"from {PACKAGE}.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_secret_is_never_logged_or_stored(tmp_path: Path, open_meteo: FakeOpenMeteo) -> None:
    key, hopsworks_key = secrets.token_hex(16), secrets.token_hex(16)
    env = {
        **{k: v for k, v in os.environ.items() if "PROXY" not in k.upper()},
        **OFFLINE,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "STORE_DIR": str(tmp_path / "store"),
        "DATA_SOURCE": "open-meteo",
        "BACKFILL_DAYS": "30",
        "OPEN_METEO_ARCHIVE_URL": open_meteo.url("archive"),
        "OPEN_METEO_FORECAST_URL": open_meteo.url("forecast"),
        "OPEN_METEO_AIR_QUALITY_URL": open_meteo.url("air-quality"),
        "OPEN_METEO_API_KEY": key,
        "HOPSWORKS_API_KEY": hopsworks_key,
        "HTTP_MAX_RETRIES": "0",
    }
    runs = [_cli(["feature"], env, tmp_path), _cli(["check"], env, tmp_path)]
    open_meteo.script("air-quality", Fault("echo"))  # a server that repeats the request, key included
    failed = _cli(["feature", "--start", "2025-01-01", "--end", "2025-01-02"], env, tmp_path)
    runs.append(failed)

    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    assert failed.returncode == 1 and "HTTP 400" in failed.stderr, failed.stderr[-3000:]
    assert all(q.get("apikey") == key for _, _, q in open_meteo.seen), "the key must reach the server"
    logs = "".join(run.stdout + run.stderr for run in runs)
    assert "DEBUG" in logs and "apikey=***" in logs, "the test must see the redacted request lines"
    for marker in (key, hopsworks_key):
        assert marker not in logs
        for path in (tmp_path / "store").rglob("*"):
            assert not path.is_file() or marker.encode() not in path.read_bytes(), path


# ------------------------------------------------------------------------------------------- the app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Path]]:
    """The app on a loopback port, over a store with weather for the coming days, run from a folder
    that holds a .env with a secret (it must never be served)."""
    from {{ cookiecutter.package_name }} import ui

    folder = tmp_path_factory.mktemp("app")
    settings = location_settings(folder / "store", backfill_days=30)
    feature.run(settings)
    (folder / ".env").write_text("HOPSWORKS_API_KEY=do-not-serve-me\n")
    cwd = Path.cwd()
    os.chdir(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = ui.build_app(settings)
    try:
        demo.launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False
        )
        yield f"http://127.0.0.1:{port}", demo, folder
    finally:
        demo.close()
        os.chdir(cwd)


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only
    return session


def _call(base: str, api: str, data: list[Any]) -> tuple[str, str]:
    """Call an event of the running app over its HTTP API; return (event, data) of the answer."""
    session = _session()
    posted = session.post(f"{base}/gradio_api/call/{api}", json={"data": data}, timeout=30)
    assert posted.status_code == 200, posted.text
    answer = session.get(f"{base}/gradio_api/call/{api}/{posted.json()['event_id']}", timeout=60).text
    event = answer.split("event: ")[-1].split("\n", 1)[0].strip()
    return event, answer.split("data: ", 1)[-1]


def test_app_never_shares_and_allows_no_extra_paths() -> None:
    calls = []
    for path in [ROOT / "app.py", *sorted((ROOT / "src").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                keywords = {k.arg: k.value for k in node.keywords}
                if isinstance(node.func, ast.Attribute) and node.func.attr == "launch":
                    calls.append((path.name, keywords))
                share = keywords.get("share")
                assert not (isinstance(share, ast.Constant) and share.value is True), f"{path}: share=True"
                assert "allowed_paths" not in keywords, f"{path}: allowed_paths opens files to the web"
    (app_launch,) = [k for name, k in calls if name == "app.py"]
    assert isinstance(app_launch.get("share"), ast.Constant) and app_launch["share"].value is False


def test_app_serves_no_file(served) -> None:
    base, _, folder = served
    session = _session()
    assert session.get(f"{base}/", timeout=30).status_code == 200
    store_files = [p for p in (folder / "store").rglob("*") if p.is_file()][:3]
    targets = ["/etc/passwd", str(folder / ".env"), ".env", "app.py", *map(str, store_files)]
    for target in targets:
        for prefix in ("/gradio_api/file=", "/file="):
            response = session.get(f"{base}{prefix}{target}", timeout=30)
            assert response.status_code in (403, 404), (target, response.status_code)
            assert "do-not-serve-me" not in response.text and "root:" not in response.text
    for traversal in ("/gradio_api/file=../../../../etc/passwd", "/static/../../../../etc/passwd"):
        assert session.get(f"{base}{traversal}", timeout=30).status_code in (403, 404)


@pytest.mark.parametrize(
    "value",
    ["2001-01-01", "9999-12-31", "not a date", "", "x" * 100_000, 12345, ["2025-01-01"], {"a": 1}, None],
    ids=["past", "far-future", "text", "empty", "huge", "number", "list", "object", "null"],
)
def test_out_of_range_inputs_get_a_clear_error(served, value) -> None:
    base, _, _ = served
    event, data = _call(base, "predict", [value])
    assert event == "complete", data[:500]
    assert data.startswith('["**Invalid date:**') and "pick a date from the list" in data, data[:500]
    assert len(data) < 1000 and "Traceback" not in data


def test_malformed_calls_are_refused_and_the_app_keeps_serving(served) -> None:
    base, _, _ = served
    event, data = _call(base, "predict", [])
    assert event == "error" and "Traceback" not in data
    event, _ = _call(base, "predict", ["2001-01-01"])
    assert event == "complete"


def test_the_queue_is_bounded(served) -> None:
    _, demo, _ = served
    assert demo._queue.max_size is not None and demo._queue.max_size <= 64
    assert demo._queue.default_concurrency_limit is not None and demo._queue.default_concurrency_limit <= 4
