"""Stand-ins on 127.0.0.1 for the services the deployment paths call, and the login boundary.

``ModalStandIn`` is a gRPC server built on Modal's own service definition (``modal_proto``):
the real modal client (``MODAL_SERVER_URL``, ``MODAL_TOKEN_ID``, ``MODAL_TOKEN_SECRET``) talks
to it as to Modal's control plane. It answers the calls that secrets take (SecretGetOrCreate,
SecretUpdate), checking the token and a secret's required keys as Modal does; every other call
is UNIMPLEMENTED, so a test that strays fails loudly.

``write_console_script()`` writes the project's command as pip does, importing the package
found on PYTHONPATH (``inherited_pythonpath()`` passes it on to child processes).

``login_boundary()`` writes a ``hopsworks`` package whose ``login()`` records what it was given
(arguments and the HOPSWORKS_* environment it sees, which the real SDK also reads) and raises:
put its folder first on PYTHONPATH and a pipeline runs for real up to the call that would
leave the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

LOGIN_STAND_IN = '''"""Stand-in for hopsworks.login, written by tests/loopback_services.py."""
import json
import os


def login(**kwargs):
    """Record the arguments and the HOPSWORKS_* environment, then refuse like an unreachable host."""
    seen = {k: v for k, v in os.environ.items() if k.startswith("HOPSWORKS_")}
    with open(os.environ["LOGIN_RECORD"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"kwargs": kwargs, "environ": seen}) + "\\n")
    raise ConnectionRefusedError("hopsworks.login stand-in: the test stops at the login boundary")
'''


def write_console_script(folder: Path) -> Path:
    """Write the project's console script into ``folder`` as pip writes it; return its path.

    The tests run the command as a user does, by name, and this one imports the package found on
    PYTHONPATH (the bake under test), not whichever copy is installed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "{{ cookiecutter.project_slug }}"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom {{ cookiecutter.package_name }}.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def inherited_pythonpath(*first: Path) -> str:
    """Return PYTHONPATH for a child process: ``first``, then this process's own PYTHONPATH."""
    inherited = [part for part in os.environ.get("PYTHONPATH", "").split(os.pathsep) if part]
    return os.pathsep.join([*map(str, first), *inherited])


def login_boundary(folder: Path) -> tuple[Path, Path]:
    """Write the ``hopsworks`` stand-in under ``folder``; return (its PYTHONPATH entry, the record file)."""
    package = folder / "login-boundary" / "hopsworks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(LOGIN_STAND_IN, encoding="utf-8")
    return package.parent, folder / "logins.jsonl"


def logins(record: Path) -> list[dict[str, Any]]:
    """Return every login the stand-in recorded, oldest first."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


class ModalStandIn:
    """A loopback gRPC server that keeps named secrets the way Modal's control plane does."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, str]] = {}
        self.calls: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: Any = None

    def _servicer(self) -> Any:
        from grpclib.const import Status
        from grpclib.exceptions import GRPCError
        from modal_proto import api_grpc, api_pb2

        secrets, calls = self.secrets, self.calls
        fail_if_exists = api_pb2.OBJECT_CREATION_TYPE_CREATE_FAIL_IF_EXISTS
        created = {api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING, fail_if_exists}

        async def unimplemented(self: Any, stream: Any) -> None:
            raise GRPCError(Status.UNIMPLEMENTED, "not part of the stand-in")

        async def secret_get_or_create(self: Any, stream: Any) -> None:
            request = await stream.recv_message()
            if stream.metadata.get("x-modal-token-secret") != "as-test":
                raise GRPCError(Status.UNAUTHENTICATED, "Invalid token")
            name, kind = request.deployment_name, request.object_creation_type
            required = sorted(request.required_keys)
            calls.append(f"SecretGetOrCreate {name} {api_pb2.ObjectCreationType.Name(kind)} {required}")
            if kind == fail_if_exists and name in secrets:
                raise GRPCError(Status.ALREADY_EXISTS, f"Secret {name!r} already exists")
            if kind in created:
                secrets.setdefault(name, dict(request.env_dict))
            if name not in secrets:
                raise GRPCError(Status.NOT_FOUND, f"Secret {name!r} not found")
            missing = [key for key in required if key not in secrets[name]]
            if missing:
                raise GRPCError(Status.NOT_FOUND, f"Secret {name!r} is missing the keys {missing}")
            response = api_pb2.SecretGetOrCreateResponse(
                secret_id=f"st-{name}", metadata=api_pb2.SecretMetadata(name=name)
            )
            await stream.send_message(response)

        async def secret_update(self: Any, stream: Any) -> None:
            from google.protobuf import empty_pb2

            request = await stream.recv_message()
            name = request.secret_id.removeprefix("st-")
            calls.append(f"SecretUpdate {name} {sorted(u.key for u in request.updates)}")
            secrets[name].update({update.key: update.value for update in request.updates})
            await stream.send_message(empty_pb2.Empty())

        methods = {name: unimplemented for name in api_grpc.ModalClientBase.__abstractmethods__}
        methods.update(SecretGetOrCreate=secret_get_or_create, SecretUpdate=secret_update)
        return type("ModalServicer", (api_grpc.ModalClientBase,), methods)()

    async def _serve(self, sock: socket.socket) -> None:
        from grpclib.server import Server

        # Built inside the server's own event loop, which grpclib binds it to.
        self.server = Server([self._servicer()])
        await self.server.start(sock=sock)

    def start(self) -> str:
        """Start serving on a free port of 127.0.0.1; return the URL for MODAL_SERVER_URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # our own socket: the port is known without grpclib's internals
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(sock), self.loop).result(timeout=10)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.close()
        asyncio.run_coroutine_threadsafe(self.server.wait_closed(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
