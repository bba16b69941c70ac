"""The feature store and model registry, behind one call: ``connect()``.

``connect()`` returns a project object with ``get_feature_store()`` and
``get_model_registry()``. With ``STORE_BACKEND=local`` (the default) that is the
embedded twin of the Hopsworks SDK (the ``local-hopsworks``
package beside this one) in ``STORE_DIR``; with ``STORE_BACKEND=hopsworks`` it is the
project returned by ``hopsworks.login()``. The pipelines use only the Hopsworks
API subset both speak, so they are the same code for both backends.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings
    from .protocols import Project


_connections: dict[tuple[Any, ...], Any] = {}
_connect_lock = threading.Lock()


def _connection_key(settings: Settings) -> tuple[Any, ...]:
    """Return what identifies a connection: the process, the backend and where and as whom it connects."""
    key = settings.hopsworks_api_key.get_secret_value() if settings.hopsworks_api_key is not None else ""
    return (
        os.getpid(),  # a forked worker opens its own connection
        settings.store_backend,
        str(settings.store_dir) if settings.store_backend == "local" else "",
        settings.hopsworks_host,
        settings.hopsworks_project,
        hashlib.sha256(key.encode()).hexdigest(),
    )


def connect(settings: Settings | None = None) -> Project:
    """Connect to the configured backend once per process and return its project.

    Every later call with the same backend, store and credentials returns the same project: a UI
    page load runs seven handlers, and on Hopsworks each ``hopsworks.login()`` is a new session
    (and logs the previous one out).

    Args:
        settings: The settings to use; read from the environment when omitted.

    Returns:
        A project with ``get_feature_store()`` and ``get_model_registry()``.

    Raises:
        ValueError: If the hopsworks backend is chosen without an API key, or without a project
            when the key sees several.
    """
    if settings is None:
        from ..settings import Settings

        settings = Settings()
    key = _connection_key(settings)
    with _connect_lock:  # UI handlers run in threads: the first one logs in, the others wait for it
        if key not in _connections:
            _connections[key] = _open(settings)
        return _connections[key]


def disconnect() -> None:
    """Forget this process's connections; the next ``connect()`` opens a new one."""
    with _connect_lock:
        _connections.clear()


def _open(settings: Settings) -> Project:
    if settings.store_backend == "hopsworks":
        from .hopsworks_backend import login

        return login(settings)
    try:
        from local_hopsworks import LocalProject
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "STORE_BACKEND=local needs the embedded store: pip install -e '.[local]' "
            "(or set STORE_BACKEND=hopsworks and install '.[hopsworks]')"
        ) from exc

    return LocalProject(settings.store_dir)


def get_secret(project: Any, name: str) -> str | None:
    """Return a secret from the backend's secret store, or None when it holds no such secret.

    Locally that is the environment (``local_hopsworks.get_secrets_api()``); on Hopsworks it is the
    secrets API of the logged-in project (``hopsworks.get_secrets_api()``), so a key can live in
    Hopsworks instead of in every scheduler's environment.
    """
    if type(project).__module__.startswith("local_hopsworks"):
        import local_hopsworks as backend
    else:
        import hopsworks as backend
    api = backend.get_secrets_api()
    try:
        secret = api.get_secret(name)
    except KeyError:
        return None
    return None if secret is None else secret.value


@contextlib.contextmanager
def exclusive(settings: Settings, name: str) -> Iterator[None]:
    """Run the block as the only holder of the lock ``name`` on the store (e.g. one feature run at a time).

    On the embedded store this is a lock file in ``STORE_DIR/locks`` that the next holder waits
    for; the operating system releases it when its holder exits, even when killed. Hopsworks has
    no lock for clients: there the scheduler runs one pipeline at a time (the workflows'
    ``concurrency:`` group, one Modal schedule per pipeline); see docs/reliability.md.
    """
    if settings.store_backend != "local":
        yield
        return
    from local_hopsworks.locks import store_lock

    with store_lock(settings.store_dir, name):
        yield
