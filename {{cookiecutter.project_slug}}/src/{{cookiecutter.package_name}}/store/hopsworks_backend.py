"""The Hopsworks backend: a thin, checked call of ``hopsworks.login()``."""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings


def login(settings: Settings) -> Any:
    """Log in to Hopsworks with the key from the settings and return the project.

    Args:
        settings: Settings holding ``HOPSWORKS_API_KEY`` and optionally
            ``HOPSWORKS_HOST`` and ``HOPSWORKS_PROJECT``.

    Returns:
        The ``hopsworks`` project object.

    Raises:
        ValueError: If no API key is set (checked before any network call: the SDK would
            prompt for one on stdin), or if no project is set and the key sees several.
        ImportError: If the ``hopsworks`` extra is not installed.
    """
    if settings.hopsworks_api_key is None or not settings.hopsworks_api_key.get_secret_value():
        raise ValueError(
            "STORE_BACKEND=hopsworks needs HOPSWORKS_API_KEY (set it in the environment or .env); "
            "HOPSWORKS_HOST and HOPSWORKS_PROJECT are optional"
        )
    try:
        import hopsworks
    except ImportError as exc:  # pragma: no cover - depends on the installed extra
        raise ImportError(
            "STORE_BACKEND=hopsworks needs the hopsworks extra: pip install -e '.[hopsworks]'"
        ) from exc
    # hopsworks.login() reads HOPSWORKS_* variables itself and takes "" for a value (host "",
    # project ""): drop the blank ones, which Settings already treats as unset.
    for name in [n for n, v in os.environ.items() if n.startswith("HOPSWORKS_") and not v.strip()]:
        del os.environ[name]
    kwargs: dict[str, Any] = {"api_key_value": settings.hopsworks_api_key.get_secret_value()}
    if settings.hopsworks_host:
        kwargs["host"] = settings.hopsworks_host
    if settings.hopsworks_project:
        kwargs["project"] = settings.hopsworks_project
        return hopsworks.login(**kwargs)
    # No project: the SDK takes the key's only project, or asks on stdin which one. A scheduled run
    # has no stdin (EOFError) and a server must not wait on one: answer with an empty stdin instead.
    stdin = sys.stdin
    sys.stdin = io.StringIO()
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
