"""Settings read from the environment and `.env`, in one place."""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .sources.base import Location


class Settings(BaseSettings):
    """Configuration of pipelines, store and UI: each field from its upper-case variable or ``.env``."""

    # env_ignore_empty: an empty variable is unset (GitHub Actions gives "" for an unset `vars.X`).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

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

    # A new model gets an alias only if its test MAE is below (1 - GATE_MAE_MARGIN) x the reference's and
    # no season/weekday slice of at least GATE_MIN_SLICE_ROWS days is GATE_SLICE_MAX_WORSE (relative) worse.
    gate_mae_margin: float = Field(0.02, gt=-1, lt=1)
    gate_slice_max_worse: float = Field(0.25, ge=0)
    gate_min_slice_rows: int = Field(5, ge=1)
    # promote --from-shadow needs this many days of shadow hindcast (after it became shadow).
    shadow_min_days: int = Field(7, ge=0)
    # PSI of the latest week against the training data; not the usual 0.25 (a large-sample rule): a week's
    # 7 values give a PSI (5 bins) of 0.34 at the median and 0.66 at the 95th percentile with no change.
    drift_psi_threshold: float = Field(0.7, gt=0)
    drift_bins: int = Field(5, ge=2, le=50)

    open_meteo_archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    open_meteo_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    open_meteo_air_quality_url: str = "https://air-quality-api.open-meteo.com/v1/air-quality"
    http_timeout_s: float = Field(30.0, gt=0)
    http_max_retries: int = Field(4, ge=0, le=10)
    # First retry delay; it doubles per attempt (a Retry-After header takes precedence), capped at 60 s.
    http_backoff_base_s: float = Field(1.0, ge=0, le=60)
    # Only for Open-Meteo's commercial API (customer-*.open-meteo.com URLs); the free API needs none.
    open_meteo_api_key: SecretStr | None = None

    hopsworks_host: str | None = None
    hopsworks_project: str | None = None
    hopsworks_api_key: SecretStr | None = None

    @field_validator("hopsworks_host", "hopsworks_project", "hopsworks_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """Treat a blank value given directly (env_ignore_empty covers only the environment) as unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @cached_property
    def location(self) -> Location:
        """Return the configured location with its store key."""
        key = location_key(self.location_name)
        if not key:
            raise ValueError(
                f"LOCATION_NAME {self.location_name!r} has no Latin letters or digits to build a store key "
                "from: give the name in Latin script (e.g. 'Beijing' for '北京')"
            )
        return Location(key=key, name=self.location_name, latitude=self.latitude, longitude=self.longitude)


def location_key(name: str) -> str:
    """Return a name's store key ('São Paulo' -> 'sao_paulo', '北京' -> ''), as the template's hook does."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
