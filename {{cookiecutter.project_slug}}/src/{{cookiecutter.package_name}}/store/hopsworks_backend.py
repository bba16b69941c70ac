"""The Hopsworks backend: a thin, checked call of ``hopsworks.login()``."""

from __future__ import annotations

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
        ValueError: If no API key is set; checked before any network call
            because the SDK would otherwise prompt on stdin and hang in CI.
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
    kwargs: dict[str, Any] = {"api_key_value": settings.hopsworks_api_key.get_secret_value()}
    if settings.hopsworks_host:
        kwargs["host"] = settings.hopsworks_host
    if settings.hopsworks_project:
        kwargs["project"] = settings.hopsworks_project
    return hopsworks.login(**kwargs)
