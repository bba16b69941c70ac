"""Build a baked project's Hugging Face Space the way Spaces does, offline apart from the package index.

1. Lay out the Space folder with the project's own ``space`` command (a dry run with ``--out``).
2. Resolve the Space's install command with pip's resolver (a dry run against the package index):
   the folder's requirements.txt, ``gradio[oauth,mcp]==<sdk_version>`` and Spaces' own additions.
3. Build a fresh venv from the folder's requirements.txt alone, start its ``app.py`` with no
   Hopsworks key (the demo: the embedded store on hops-deltalake's ``deltalake``), wait for GET /
   to answer 200 on 127.0.0.1, then for the forecast through the app's HTTP API, and print the times.

Run by ``make space-check`` (part of ``make test``):
``python tests/space_build.py --cli CLI --project DIR --work DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

# What a Gradio Space installs besides requirements.txt, in the same pip command (Spaces' build log:
# pip install -r requirements.txt gradio[oauth,mcp]==<sdk_version> "uvicorn>=0.14.0" "websockets>=10.4"
# spaces).
SPACES_ADDITIONS = ["uvicorn>=0.14.0", "websockets>=10.4", "spaces"]
START_TIMEOUT_S = 600  # only to stop a hang: the check reports the time it measured
OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def sdk_version(space: Path) -> str:
    """Return the sdk_version of the Space folder's README front matter."""
    found = re.search(r'^sdk_version:\s*"?([\w.]+)"?\s*$', (space / "README.md").read_text(), re.MULTILINE)
    if not found:
        raise SystemExit(f"{space / 'README.md'}: no sdk_version in the front matter")
    return found.group(1)


def resolve(space: Path, work: Path) -> dict[str, str]:
    """Resolve the Space's install command with pip (dry run); return name -> version of the result."""
    gradio = f"gradio[oauth,mcp]=={sdk_version(space)}"
    command = ["-r", str(space / "requirements.txt"), gradio, *SPACES_ADDITIONS]
    report = work / "resolve.json"
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    done = subprocess.run([*argv, "--report", str(report), *command], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"space: the Space's install command does not resolve:\n{done.stderr[-3000:]}")
    installed = json.loads(report.read_text())["install"]
    versions = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in installed}
    if "deltalake" in versions:
        raise SystemExit("space: the Space would install the upstream deltalake next to hops-deltalake")
    print(f"space: pip resolves requirements.txt + {' '.join(command[2:])}: {len(versions)} packages")
    return versions


def build_venv(space: Path, work: Path) -> Path:
    """Create a fresh venv from the Space folder's requirements.txt alone; return its python."""
    venv = work / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, "-r", str(space / "requirements.txt")], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"space: pip install -r requirements.txt failed:\n{done.stderr[-3000:]}")
    print(f"space: venv from requirements.txt alone built in {time.monotonic() - t0:.0f} s")
    check = "import importlib.metadata as m; print(m.version('hops-deltalake'))"
    flavour = subprocess.run([str(python), "-c", check], capture_output=True, text=True, check=True)
    print(f"space: the venv's deltalake module is hops-deltalake {flavour.stdout.strip()}")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, session: requests.Session, log: Path) -> None:
    """Poll GET ``url`` until it answers 200; fail when the app exits or hangs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise SystemExit(f"space: app.py exited with status {proc.returncode} before serving:\n{tail}")
        try:
            if session.get(url, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"space: GET {url} did not answer 200 within {START_TIMEOUT_S} s")


def forecast_rows(base: str, session: requests.Session) -> int:
    """Call the app's ``forecast`` endpoint over Gradio's HTTP API; return the rows of the plot it serves."""
    posted = session.post(f"{base}/gradio_api/call/forecast", json={"data": []}, timeout=30)
    posted.raise_for_status()
    answer = session.get(f"{base}/gradio_api/call/forecast/{posted.json()['event_id']}", timeout=120).text
    if "event: complete" not in answer:
        raise SystemExit(f"space: the forecast call did not complete: {answer[:500]}")
    plot, note = json.loads(answer.split("data: ", 1)[1].splitlines()[0])
    rows = len(plot["data"])
    print(f"space: forecast served: {rows} rows, note {note!r}")
    return rows


def start(space: Path, python: Path, work: Path) -> None:
    """Start app.py as a Space does (no key) and time GET / and the first served forecast."""
    port = free_port()
    unset = ("HOPSWORKS_", "STORE_", "DATA_", "GRADIO_")  # a Space with no key and no settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    env.update(OFFLINE, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), PYTHONPATH="")
    log = (work / "app.log").open("w")  # noqa: SIM115 - open while the app runs
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy
    t0 = time.monotonic()
    proc = subprocess.Popen([str(python), "app.py"], cwd=space, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/", proc, session, work / "app.log")
        page = time.monotonic() - t0
        if forecast_rows(base, session) == 0:
            raise SystemExit(f"space: the demo served an empty forecast (log: {work / 'app.log'})")
        served = time.monotonic() - t0
        print(f"space: start -> GET / 200 in {page:.1f} s; start -> forecast served in {served:.1f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True, help="the baked project's console script")
    parser.add_argument("--project", type=Path, required=True, help="the baked project's root")
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder (emptied)")
    args = parser.parse_args()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    space = work / "space"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPSWORKS_")}  # the demo Space: no key
    plan = subprocess.run(
        [args.cli, "space", "demo/space-check", "--out", str(space)],
        cwd=args.project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    (work / "space-plan.txt").write_text(plan.stdout)
    print(f"space: {plan.stdout.splitlines()[0]} laid out in {space}")
    resolve(space, work)
    start(space, build_venv(space, work), work)


if __name__ == "__main__":
    main()
