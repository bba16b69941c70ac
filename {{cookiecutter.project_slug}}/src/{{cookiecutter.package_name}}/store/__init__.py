"""The feature store and model registry, behind one call: ``connect()``.

``connect()`` returns a project object with ``get_feature_store()`` and
``get_model_registry()``. With ``STORE_BACKEND=local`` (the default) that is the
embedded twin of the Hopsworks SDK (the ``local-hopsworks``
package beside this one) in ``STORE_DIR``; with ``STORE_BACKEND=hopsworks`` it is the
project returned by ``hopsworks.login()``. The pipelines use only the Hopsworks
API subset both speak, so they are the same code for both backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings
    from .protocols import Project


def connect(settings: Settings | None = None) -> Project:
    """Connect to the configured backend and return its project.

    Args:
        settings: The settings to use; read from the environment when omitted.

    Returns:
        A project with ``get_feature_store()`` and ``get_model_registry()``.

    Raises:
        ValueError: If the hopsworks backend is chosen without an API key.
    """
    if settings is None:
        from ..settings import Settings

        settings = Settings()
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

    Locally that is the environment (``LocalProject.get_secrets_api``); on Hopsworks it is the
    project's secrets API (``hopsworks.get_secrets_api()``), so a key can live in Hopsworks
    instead of in every scheduler's environment.
    """
    if hasattr(project, "get_secrets_api"):
        api = project.get_secrets_api()
    else:
        import hopsworks

        api = hopsworks.get_secrets_api()
    try:
        secret = api.get_secret(name)
    except KeyError:
        return None
    return None if secret is None else secret.value
