"""The ``space`` command, the Space folder and the demo app, with the real huggingface_hub client.

A loopback HTTP server stands in for the Hugging Face Hub API (huggingface_hub sends every request
to HF_ENDPOINT); the command runs in a subprocess, as a user runs it, and the tests assert the
requests the server received: paths, methods and payloads.
"""

from __future__ import annotations

import base64
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from pydantic import SecretStr

from {{ cookiecutter.package_name }}.ops import space
from {{ cookiecutter.package_name }}.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
KEY = "hw-key-0123456789abcdef"  # a stand-in Hopsworks key: it must reach only the secrets request
TOKEN = "hf_loopback_token_0123"  # noqa: S105 - a stand-in Hub token for the loopback server
REPO = "learner/air-quality"
STALE = f"{PACKAGE}/removed_module.py"  # on the "Hub" from an earlier push; the new push deletes it
OID = "0123456789abcdef0123456789abcdef01234567"


class Hub(ThreadingHTTPServer):
    """A loopback stand-in for the Hub API: records every request, answers like the Hub."""

    def __init__(self, refuse: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.requests: list[dict[str, Any]] = []
        self.refuse = refuse  # a path suffix answered with 401, as the Hub does for a bad token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HubHandler(BaseHTTPRequestHandler):
    server: Hub

    def log_message(self, *args: Any) -> None:  # the record goes to server.requests, not stderr
        pass

    def _body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Type", "").startswith("application/x-ndjson"):
            return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        return json.loads(raw) if raw else None

    def _answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requests.append({"method": "GET", "path": self.path, "body": None})
        if self.path.startswith(f"/api/spaces/{REPO}/tree/main"):
            self._answer(200, [{"type": "file", "oid": OID, "size": 10, "path": STALE}])
        else:
            self._answer(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self._body()
        self.server.requests.append({"method": "POST", "path": self.path, "body": body})
        base = self.server.url
        if self.server.refuse and self.path.endswith(self.server.refuse):
            self._answer(401, {"error": "Invalid credentials"})
        elif self.path == "/api/repos/create":
            self._answer(200, {"url": f"{base}/spaces/{REPO}", "name": REPO})
        elif self.path == "/api/validate-yaml":
            self._answer(200, {"errors": [], "warnings": []})
        elif self.path in (f"/api/spaces/{REPO}/secrets", f"/api/spaces/{REPO}/variables"):
            self._answer(200, {})
        elif self.path == f"/api/spaces/{REPO}/preupload/main":
            files = [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body["files"]
            ]
            self._answer(200, {"files": files})
        elif self.path == f"/api/spaces/{REPO}/commit/main":
            self._answer(200, {"commitUrl": f"{base}/spaces/{REPO}/commit/{OID}", "commitOid": OID})
        else:
            self._answer(404, {"error": f"no route {self.path}"})


@pytest.fixture
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    server = Hub(refuse=getattr(request, "param", None))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_space(hub: Hub, tmp_path: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
    """Run ``python -m <package> space ...`` from the project root against the loopback Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HOPSWORKS_", "STORE_"))}
    env = {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HUB_DISABLE_TELEMETRY="1", HOME=str(tmp_path))
    env.update(HOPSWORKS_PROJECT="aq_project", HOPSWORKS_HOST="eu-west.cloud.hopsworks.ai", NO_PROXY="*")
    if key is not None:
        env["HOPSWORKS_API_KEY"] = key
    argv = [sys.executable, "-m", PACKAGE, "space", REPO, *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def app() -> Any:
    """The project's app.py as a module (it lies beside the package, not in it)."""
    spec = importlib.util.spec_from_file_location("space_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layout_files(tmp_path: Path) -> list[str]:
    return space.lay_out(ROOT, tmp_path / "expected")


def test_push_sends_create_settings_and_one_commit(hub: Hub, tmp_path: Path) -> None:
    done = run_space(hub, tmp_path, "--push")
    assert done.returncode == 0, done.stderr
    (tmp_path / "hub-requests.json").write_text(json.dumps(hub.requests, indent=1))
    calls = [(r["method"], r["path"].split("?")[0]) for r in hub.requests]
    assert calls == [
        ("POST", "/api/repos/create"),
        ("POST", f"/api/spaces/{REPO}/secrets"),
        ("POST", f"/api/spaces/{REPO}/variables"),
        ("POST", f"/api/spaces/{REPO}/variables"),
        ("POST", f"/api/spaces/{REPO}/variables"),
        ("GET", f"/api/spaces/{REPO}/tree/main"),
        ("POST", "/api/validate-yaml"),
        ("POST", f"/api/spaces/{REPO}/preupload/main"),
        ("POST", f"/api/spaces/{REPO}/commit/main"),
    ]
    create = hub.requests[0]["body"]
    assert (create["name"], create["organization"], create["type"], create["sdk"]) == (
        "air-quality",
        "learner",
        "space",
        "gradio",
    )
    assert hub.requests[1]["body"] == {"key": "HOPSWORKS_API_KEY", "value": KEY}
    assert [r["body"] for r in hub.requests[2:5]] == [
        {"key": "STORE_BACKEND", "value": "hopsworks"},
        {"key": "HOPSWORKS_PROJECT", "value": "aq_project"},
        {"key": "HOPSWORKS_HOST", "value": "eu-west.cloud.hopsworks.ai"},
    ]
    assert hub.requests[6]["body"]["content"].startswith("---\n")  # the client checks the front matter
    commit = hub.requests[-1]["body"]
    files = {e["value"]["path"]: e["value"] for e in commit if e["key"] == "file"}
    assert sorted(files) == layout_files(tmp_path)
    assert [e["value"]["path"] for e in commit if e["key"] == "deletedFile"] == [STALE]
    app = base64.b64decode(files["app.py"]["content"]).decode()
    assert app == (ROOT / "app.py").read_text(encoding="utf-8")
    readme = base64.b64decode(files["README.md"]["content"]).decode()
    assert 'sdk: gradio\nsdk_version: "' in readme and "app_file: app.py\n" in readme
    assert "secret HOPSWORKS_API_KEY: set" in done.stdout
    assert "variable HOPSWORKS_HOST=eu-west.cloud.hopsworks.ai: set" in done.stdout
    assert f"/spaces/{REPO}/commit/{OID}" in done.stdout
    assert KEY not in done.stdout + done.stderr
    assert all(KEY not in json.dumps(r["body"]) for i, r in enumerate(hub.requests) if i != 1)


def test_push_without_a_key_publishes_a_demo(hub: Hub, tmp_path: Path) -> None:
    done = run_space(hub, tmp_path, "--push", key=None)
    assert done.returncode == 0, done.stderr
    paths = [r["path"] for r in hub.requests]
    assert f"/api/spaces/{REPO}/secrets" not in paths
    assert {"key": "STORE_BACKEND", "value": "local"} in [r["body"] for r in hub.requests]
    assert "the Space is a demo on the embedded store" in done.stdout


def test_dry_run_lists_the_files_and_sends_nothing(hub: Hub, tmp_path: Path) -> None:
    done = run_space(hub, tmp_path, "--out", str(tmp_path / "space"))
    assert done.returncode == 0, done.stderr
    assert hub.requests == []
    files = layout_files(tmp_path)
    assert f"Space {REPO}: {len(files)} files" in done.stdout
    assert all(f"  {name}\n" in done.stdout for name in files)
    assert "secret HOPSWORKS_API_KEY: from the environment (value not shown)" in done.stdout
    assert "variable STORE_BACKEND=hopsworks" in done.stdout and "nothing sent" in done.stdout
    assert KEY not in done.stdout
    assert (
        sorted(
            p.relative_to(tmp_path / "space").as_posix()
            for p in (tmp_path / "space").rglob("*")
            if p.is_file()
        )
        == files
    )


@pytest.mark.parametrize("hub", ["/secrets"], indirect=True)
def test_a_refused_secret_is_named_and_nothing_is_uploaded(hub: Hub, tmp_path: Path) -> None:
    done = run_space(hub, tmp_path, "--push")
    assert done.returncode == 1
    assert f"Space {REPO}: setting secret HOPSWORKS_API_KEY failed (HTTP 401)" in done.stderr
    assert KEY not in done.stdout + done.stderr
    assert not any("/commit/" in r["path"] for r in hub.requests)


def test_push_without_a_token_says_how_to_log_in(hub: Hub, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", PACKAGE, "space", REPO, "--push"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HOPSWORKS_"))}
    env.update(HF_ENDPOINT=hub.url, HOME=str(tmp_path / "nobody"))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "no Hugging Face token" in done.stderr and "HF_TOKEN" in done.stderr
    assert hub.requests == []


def test_bad_space_name_and_missing_project_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not USER/NAME"):
        space.main(["not-a-space"])
    with pytest.raises(FileNotFoundError, match="missing .*app.py"):
        space.lay_out(tmp_path, tmp_path / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not empty"):
        space.lay_out(ROOT, tmp_path / "full")


def test_space_folder_imports_the_package_and_the_store_from_its_root(tmp_path: Path) -> None:
    folder = tmp_path / "space"
    files = space.lay_out(ROOT, folder)
    assert {
        "app.py",
        "README.md",
        "requirements.txt",
        f"{PACKAGE}/ui.py",
        "local_hopsworks/__init__.py",
    } <= set(files)
    assert not any("__pycache__" in name for name in files)
    code = (
        f"import app, {PACKAGE}, local_hopsworks; print({PACKAGE}.__file__); print(local_hopsworks.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": "", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert [Path(line).resolve().parent.parent for line in done.stdout.split()] == [folder.resolve()] * 2
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("---\n") and readme.count("sdk_version:") == 1
    assert (folder / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()


def test_requirements_satisfy_what_gradio_oauth_mcp_needs() -> None:
    """A Space installs requirements.txt with gradio[oauth,mcp]==sdk_version: each pin fits those."""
    requirements = (ROOT / "requirements.txt").read_text()
    version = space.pinned_gradio(requirements)
    if importlib.metadata.version("gradio") != version:
        pytest.skip(f"installed gradio is not the pinned {version}: its metadata would be another's")
    pins = {}
    for line in requirements.splitlines():
        if line.split("#")[0].strip():
            req = Requirement(line.split("#")[0].strip())
            pins[req.name.lower()] = next(iter(req.specifier)).version
    needs = [Requirement(r) for r in importlib.metadata.requires("gradio") or []]
    for extra in ("", "oauth", "mcp"):
        for req in needs:
            applies = req.marker is None or req.marker.evaluate({"extra": extra})
            if applies and req.name.lower() in pins:
                assert req.specifier.contains(pins[req.name.lower()]), (
                    f"requirements.txt pins {req.name}=={pins[req.name.lower()]}, gradio[{extra}] needs {req}"
                )


def test_without_a_key_the_app_serves_the_embedded_store(app: Any, tmp_path: Path) -> None:
    hosted = Settings(
        _env_file=None, store_backend="hopsworks", store_dir=tmp_path / "s", hopsworks_project="p"
    )
    assert app.app_settings(hosted).store_backend == "local"
    keyed = hosted.model_copy(update={"hopsworks_api_key": SecretStr("k")})
    assert app.app_settings(keyed).store_backend == "hopsworks"
    assert app.bootstrap(keyed) is False  # never writes features on Hopsworks by itself


def test_bootstrap_fills_an_empty_store_once(app: Any, tmp_path: Path) -> None:
    from {{ cookiecutter.package_name }} import ui

    settings = Settings(
        _env_file=None,
        store_dir=tmp_path / "store",
        data_source="open-meteo",
        backfill_days=150,
        test_days=30,
    )
    assert app.bootstrap(settings) is True  # synthetic whatever DATA_SOURCE says: no network
    frame = ui.forecast_frame(settings)
    assert len(frame) == settings.forecast_days and frame["predicted_pm25"].notna().all()
    assert app.bootstrap(settings) is False
    assert len(ui.forecast_frame(settings)) == settings.forecast_days
