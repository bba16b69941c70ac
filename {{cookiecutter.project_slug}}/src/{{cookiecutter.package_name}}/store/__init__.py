"""``connect()``: the embedded twin of the Hopsworks SDK (``STORE_BACKEND=local``, in ``STORE_DIR``) or
``hopsworks.login()``'s project; the pipelines use only the API subset both speak (``protocols.py``)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings
    from .protocols import Project


_connections: dict[tuple[Any, ...], Any] = {}
_connect_lock = threading.Lock()


def connect(settings: Settings | None = None) -> Project:
    """Return the configured backend's project, connecting once per process.

    Args:
        settings: Which backend and credentials; default: the environment's (``Settings()``).

    Returns:
        The same project for the same store and credentials (each ``hopsworks.login()`` ends the last).

    Raises:
        ValueError: Hopsworks without an API key, or no project set when the key sees several.
        ImportError: The backend's extra is not installed (says which to install).
    """
    if settings is None:
        from ..settings import Settings

        settings = Settings()
    secret = settings.hopsworks_api_key.get_secret_value() if settings.hopsworks_api_key else ""
    where = str(settings.store_dir) if settings.store_backend == "local" else settings.hopsworks_host
    whom = (settings.hopsworks_project, hashlib.sha256(secret.encode()).digest())
    key = (os.getpid(), settings.store_backend, where, whom)  # a forked worker opens its own connection
    with _connect_lock:  # UI handlers run in threads: the first one logs in, the others wait for it
        if key not in _connections:
            _connections[key] = _open(settings, secret)
        return _connections[key]


def _open(settings: Settings, key: str) -> Project:
    """Return a new project: the twin's, or the one ``hopsworks.login()`` returns for ``key``."""
    if settings.store_backend == "local":
        try:
            from local_hopsworks import LocalProject
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "STORE_BACKEND=local needs the embedded store: pip install -e '.[local]'"
            ) from exc
        return LocalProject(settings.store_dir)
    if not key:  # checked before any call: the SDK would prompt for one on stdin
        raise ValueError(
            "STORE_BACKEND=hopsworks needs HOPSWORKS_API_KEY (set it in the environment or .env); "
            "HOPSWORKS_HOST and HOPSWORKS_PROJECT are optional"
        )
    try:
        import hopsworks
    except ImportError as exc:  # pragma: no cover - depends on the installed extra
        raise ImportError("STORE_BACKEND=hopsworks needs its extra: pip install -e '.[hopsworks]'") from exc
    # login() reads HOPSWORKS_* itself and takes "" for a value: drop the blank ones (unset in Settings).
    for name in [n for n, v in os.environ.items() if n.startswith("HOPSWORKS_") and not v.strip()]:
        del os.environ[name]
    options = {"host": settings.hopsworks_host, "project": settings.hopsworks_project}
    kwargs: dict[str, Any] = {"api_key_value": key, **{k: v for k, v in options.items() if v}}
    if settings.hopsworks_project:
        return hopsworks.login(**kwargs)
    # Without a project the SDK takes the key's only one, or asks on stdin which: a scheduled run has
    # no stdin (EOFError) and a server must not wait on one, so it gets an empty stdin.
    stdin, sys.stdin = sys.stdin, io.StringIO()
    try:
        return hopsworks.login(**kwargs)
    except EOFError:
        hopsworks.logout()
        raise ValueError(
            "HOPSWORKS_API_KEY gives access to several Hopsworks projects: set HOPSWORKS_PROJECT "
            "to the one to use (the projects are listed above)"
        ) from None
    finally:
        sys.stdin = stdin


def disconnect() -> None:
    """Forget this process's connections; the next ``connect()`` opens a new one."""
    with _connect_lock:
        _connections.clear()


def get_secret(project: Any, name: str) -> str | None:
    """Return a secret from the backend's secret store (locally the environment), or None if it has none."""
    local = type(project).__module__.startswith("local_hopsworks")
    backend = importlib.import_module("local_hopsworks" if local else "hopsworks")
    try:
        secret = backend.get_secrets_api().get_secret(name)
    except KeyError:
        return None
    return None if secret is None else secret.value


def exclusive(settings: Settings, name: str) -> contextlib.AbstractContextManager[Any]:
    """Return a context that holds the store lock ``name`` (a lock file the OS releases when its holder
    dies); Hopsworks has no client lock: its scheduler runs one pipeline at a time."""
    if settings.store_backend != "local":
        return contextlib.nullcontext()
    from local_hopsworks.locks import store_lock

    return store_lock(settings.store_dir, name)
