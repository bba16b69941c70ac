"""The embedded feature store and model registry: the Hopsworks API subset on local files.

Offline data are Delta Lake tables, online data a SQLite file, models versioned
folders; everything lives under one folder (``STORE_DIR``). See docs/store.md.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import deltalake  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "local-hopsworks needs a `deltalake` module: pip install 'deltalake>=1,<2' "
        "(or hops-deltalake, which hopsworks[python] brings)"
    ) from exc

from .feature_store import FeatureStore  # noqa: E402
from .registry import ModelRegistry  # noqa: E402


class LocalSecret:
    """A secret read from the environment: the local stand-in for Hopsworks' secrets API."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"LocalSecret({self.name!r}, value=***)"


class LocalSecretsApi:
    """Secrets by name from environment variables (never stored in the store folder)."""

    def get_secret(self, name: str) -> LocalSecret:
        """Return the secret ``name`` from the environment variable of the same name.

        Raises:
            KeyError: If the variable is not set.
        """
        value = os.environ.get(name)
        if value is None:
            raise KeyError(
                f"secret {name!r} is not set: export it as an environment variable or put it in .env"
            )
        return LocalSecret(name, value)


class LocalProject:
    """The local stand-in for a Hopsworks project."""

    def __init__(self, root: Path | str) -> None:
        self._root = Path(root)
        self.name = "local"
        self._fs: FeatureStore | None = None
        self._mr: ModelRegistry | None = None

    def __repr__(self) -> str:
        return f"LocalProject({str(self._root)!r})"

    def get_feature_store(self, name: str | None = None) -> FeatureStore:
        """Return the project's feature store."""
        if self._fs is None:
            self._fs = FeatureStore(self._root)
        return self._fs

    def get_model_registry(self) -> ModelRegistry:
        """Return the project's model registry."""
        if self._mr is None:
            self._mr = ModelRegistry(self._root / "models", self.get_feature_store())
        return self._mr


def get_secrets_api() -> LocalSecretsApi:
    """Return the secrets API (environment variables locally), as ``hopsworks.get_secrets_api()`` does."""
    return LocalSecretsApi()


__all__ = ["FeatureStore", "LocalProject", "ModelRegistry", "get_secrets_api"]
