"""``secrets`` with the real clients: Modal's SDK and the gh CLI, each against a server on 127.0.0.1.

The command runs as the learner runs it (the console script, in a subprocess). Modal's client
reads MODAL_SERVER_URL and the token from the environment and speaks gRPC: the stand-in
(``modal_server``, tests/loopback_services.py) is a grpclib server built on Modal's own service
definition, answering the calls the SDK makes (SecretGetOrCreate, SecretUpdate). gh talks to a
GitHub Enterprise host when GH_HOST and GH_ENTERPRISE_TOKEN are set: the stand-in is an HTTPS
server with a throwaway certificate (Go reads SSL_CERT_FILE) that decrypts the sealed secret as
GitHub would.
A ``gh`` wrapper on PATH logs each command line before running the real gh, to show the key is
never one of its arguments.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loopback_services import inherited_pythonpath, write_console_script

KEY = "hw-MARKER-5f1e2d-secret"  # a marker: it must never show up in arguments or output
TOKEN = "ghe-test-token"  # noqa: S105 - the stand-in's token, not a credential


# ------------------------------------------------------------------ GitHub stand-in


class GitHubHandler(BaseHTTPRequestHandler):
    """The REST calls gh makes for repository secrets and variables (GitHub Enterprise paths)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _reply(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        """Return the request body; ``gh api --input -`` sends it in chunks."""
        if self.headers.get("Transfer-Encoding") != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def _handle(self) -> None:
        from nacl.public import SealedBox

        state = self.server.state
        body = json.loads(self._body() or b"{}")
        state["requests"].append(f"{self.command} {self.path}")
        if self.headers.get("Authorization") != f"token {TOKEN}":
            return self._reply(401, {"message": "Bad credentials"})
        base = "/api/v3/repos/owner/repo/actions"
        name = self.path.rsplit("/", 1)[-1]
        variables = state["variables"]
        if self.command == "GET" and self.path == f"{base}/secrets/public-key":
            key = base64.b64encode(bytes(state["private"].public_key)).decode()
            return self._reply(200, {"key_id": "key-1", "key": key})
        if self.command == "PUT" and self.path.startswith(f"{base}/secrets/"):
            sealed = base64.b64decode(body["encrypted_value"])
            state["secrets"][name] = SealedBox(state["private"]).decrypt(sealed).decode()
            return self._reply(201)
        if self.command == "PATCH" and self.path.startswith(f"{base}/variables/"):
            if name not in variables:
                return self._reply(404, {"message": "Not Found"})
            variables[name] = body["value"]
            return self._reply(204)
        if self.command == "POST" and self.path == f"{base}/variables":
            variables[body["name"]] = body["value"]
            return self._reply(201)
        return self._reply(404, {"message": "Not Found"})

    do_GET = do_PUT = do_PATCH = do_POST = _handle  # noqa: N815 - the names http.server calls


@pytest.fixture
def github_server(tmp_path: Path) -> Any:
    if shutil.which("gh") is None:
        pytest.skip("the gh CLI is not installed (Debian/Ubuntu: apt-get install gh)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: it makes the stand-in's certificate")
    nacl = pytest.importorskip("nacl.public", reason="pynacl is in the dev extra: pip install -e '.[dev]'")
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), GitHubHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.state = {"private": nacl.PrivateKey.generate(), "secrets": {}, "variables": {}, "requests": []}
    server.cert = cert
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=10)


# ------------------------------------------------------------------------ the command


@pytest.fixture
def modal_env(tmp_path: Path, modal_server: Any) -> dict[str, str]:
    """Return an environment where the modal client reaches only its stand-in."""
    home = tmp_path / "home"
    home.mkdir()
    keep = {name: os.environ[name] for name in ("PATH", "LANG") if name in os.environ}
    return {
        **keep,
        "HOME": str(home),
        "PYTHONPATH": inherited_pythonpath(),
        "HOPSWORKS_API_KEY": KEY,
        "HOPSWORKS_PROJECT": "air_quality",
        "HOPSWORKS_HOST": "eu-west.cloud.hopsworks.ai",
        "MODAL_SERVER_URL": modal_server.url,
        "MODAL_TOKEN_ID": "ak-test",
        "MODAL_TOKEN_SECRET": "as-test",
        "MODAL_CONFIG_PATH": str(home / ".modal.toml"),
        "HF_HUB_OFFLINE": "1",  # the real huggingface_hub refuses every request: the Space target fails
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


@pytest.fixture
def env(tmp_path: Path, modal_env: dict[str, str], github_server: Any) -> dict[str, str]:
    """Add to ``modal_env`` gh reaching only its stand-in, through a wrapper that logs gh's argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "gh"
    log = tmp_path / "gh-argv.log"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {shutil.which("gh")} "$@"\n')
    wrapper.chmod(0o755)
    return {
        **modal_env,
        "PATH": f"{bin_dir}{os.pathsep}{modal_env['PATH']}",
        "GH_HOST": f"127.0.0.1:{github_server.server_address[1]}",
        "GH_ENTERPRISE_TOKEN": TOKEN,
        "GH_CONFIG_DIR": str(tmp_path / "home" / "gh"),
        "GH_PROMPT_DISABLED": "1",
        "GH_NO_UPDATE_NOTIFIER": "1",
        "SSL_CERT_FILE": str(github_server.cert),
    }


def run_secrets(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``<project> secrets ARGS`` as a user does, in ``env`` only."""
    script = write_console_script(cwd / "project-bin")
    return subprocess.run(
        [str(script), "secrets", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_secrets_reach_modal_and_github_with_the_real_clients(env, tmp_path, modal_server, github_server):
    both = ["--target", "modal", "--target", "github", "--repo", "owner/repo"]
    proc = run_secrets(env, tmp_path, *both, "--target", "space", "--space", "me/air")
    variables = {"HOPSWORKS_PROJECT": "air_quality", "HOPSWORKS_HOST": env["HOPSWORKS_HOST"]}
    stored = {"HOPSWORKS_API_KEY": KEY, **variables}
    assert modal_server.secrets == {"hopsworks": stored}
    assert github_server.state["secrets"] == {"HOPSWORKS_API_KEY": KEY}
    assert github_server.state["variables"] == variables
    # The Space failed (huggingface_hub is offline), was reported, and did not stop the others.
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["modal", "github", "space"], proc.stdout + proc.stderr
    assert "FAILED" in lines[2] and "FAILED" not in lines[0] + lines[1]
    assert proc.returncode == 1
    assert KEY not in proc.stdout + proc.stderr
    assert KEY not in (tmp_path / "gh-argv.log").read_text()

    # A second run with a new key updates everything in place: Modal's update, GitHub's PATCH.
    proc = run_secrets({**env, "HOPSWORKS_API_KEY": "hw-second-key-7a"}, tmp_path, *both)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert modal_server.secrets["hopsworks"]["HOPSWORKS_API_KEY"] == "hw-second-key-7a"
    assert github_server.state["secrets"] == {"HOPSWORKS_API_KEY": "hw-second-key-7a"}
    patches = [r for r in github_server.state["requests"] if r.startswith("PATCH")]
    assert len(patches) == 4  # two variables, two runs; the first run's fell back to POST


def test_secrets_report_each_failure_and_still_do_the_rest(env, tmp_path, modal_server, github_server):
    both = ["--target", "modal", "--target", "github", "--repo", "owner/repo"]
    logged_out = {k: v for k, v in env.items() if not k.startswith("MODAL_TOKEN")}
    proc = run_secrets(logged_out, tmp_path, *both)
    assert proc.returncode == 1
    assert "modal: FAILED: not logged in to Modal (run: modal token new)" in proc.stdout
    assert github_server.state["secrets"] == {"HOPSWORKS_API_KEY": KEY}

    no_gh_token = {k: v for k, v in env.items() if k != "GH_ENTERPRISE_TOKEN"}
    proc = run_secrets(no_gh_token, tmp_path, *both)
    assert proc.returncode == 1
    assert "github: FAILED: 'gh secret set HOPSWORKS_API_KEY' exited" in proc.stdout, proc.stdout
    assert modal_server.secrets["hopsworks"]["HOPSWORKS_API_KEY"] == KEY
    assert KEY not in proc.stdout + proc.stderr


def test_secrets_dry_run_stores_nothing_and_picks_the_scheduler(env, tmp_path, modal_server, github_server):
    proc = run_secrets(env, tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scheduler = "{{ cookiecutter.scheduler }}".replace("github-actions", "github")
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == [scheduler]
    assert modal_server.calls == [] and github_server.state["requests"] == []
    assert KEY not in proc.stdout + proc.stderr


def test_secrets_without_a_key_or_terminal_fail_before_any_request(modal_env, tmp_path, modal_server):
    proc = run_secrets({**modal_env, "HOPSWORKS_API_KEY": ""}, tmp_path, "--target", "modal")
    assert proc.returncode == 1
    assert "HOPSWORKS_API_KEY is not set and there is no terminal" in proc.stderr
    assert modal_server.calls == []


def test_modal_cli_cannot_read_the_secret_from_stdin(modal_env, modal_server):
    """Why `secrets` uses the SDK: the real CLI refuses `--from-json /dev/stdin` (not a regular file)."""
    env = modal_env
    argv = [sys.executable, "-m", "modal", "secret", "create", "hopsworks"]
    argv += ["--from-json", "/dev/stdin", "--force"]
    stdin = json.dumps({"HOPSWORKS_API_KEY": KEY})
    proc = subprocess.run(argv, input=stdin, env=env, capture_output=True, text=True, timeout=99, check=False)
    assert proc.returncode == 2 and "Could not read JSON file" in proc.stderr, proc.stderr
    assert modal_server.secrets == {}
