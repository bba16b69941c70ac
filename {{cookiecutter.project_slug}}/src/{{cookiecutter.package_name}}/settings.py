"""Settings read from the environment and `.env`, in one place."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .sources.base import Location


class Settings(BaseSettings):
    """Configuration of the pipelines, the store and the UI.

    Every field is read from an environment variable of the same name in upper
    case (``STORE_BACKEND``, ``STORE_DIR``, ...) or from a ``.env`` file in the
    working directory. Nothing is read until a ``Settings()`` is created.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    store_backend: Literal["local", "hopsworks"] = "local"
    store_dir: Path = Path("data/store")
    data_source: Literal["synthetic", "open-meteo"] = "synthetic"

    location_name: str = Field("{{ cookiecutter.location_name }}", min_length=1, max_length=100)
    latitude: float = Field({{ cookiecutter.latitude }}, ge=-90, le=90)
    longitude: float = Field({{ cookiecutter.longitude }}, ge=-180, le=180)

    backfill_days: int = Field(730, ge=30, le=20_000)
    forecast_days: int = Field(7, ge=1, le=16)
    test_days: int = Field(90, ge=14)
    model_name: str = Field("pm25_xgboost", pattern=r"^[a-z][a-z0-9_]*$")

    open_meteo_archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    open_meteo_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    open_meteo_air_quality_url: str = "https://air-quality-api.open-meteo.com/v1/air-quality"
    http_timeout_s: float = Field(30.0, gt=0)
    http_max_retries: int = Field(4, ge=0, le=10)
    # Only for Open-Meteo's commercial API (customer-*.open-meteo.com URLs); the free API needs none.
    open_meteo_api_key: SecretStr | None = None

    hopsworks_host: str | None = None
    hopsworks_project: str | None = None
    hopsworks_api_key: SecretStr | None = None

    @cached_property
    def location(self) -> Location:
        """Return the configured location with its store key."""
        key = re.sub(r"[^a-z0-9]+", "_", self.location_name.lower()).strip("_")
        if not key:
            raise ValueError(f"LOCATION_NAME {self.location_name!r} has no letters or digits to build a key from")
        return Location(key=key, name=self.location_name, latitude=self.latitude, longitude=self.longitude)
