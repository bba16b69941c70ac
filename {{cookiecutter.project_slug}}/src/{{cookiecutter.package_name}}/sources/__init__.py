"""Data sources: Open-Meteo over HTTP, or an offline simulator with the same interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Source
from .open_meteo import OpenMeteoClient
from .synthetic import SyntheticSource

if TYPE_CHECKING:
    from ..settings import Settings

SOURCE_NAMES = ("synthetic", "open-meteo")


def get_source(name: str, settings: Settings, api_key: str | None = None) -> Source:
    """Build the data source called ``name`` ("synthetic" or "open-meteo") from ``settings``."""
    if name == "synthetic":
        return SyntheticSource()
    if name != "open-meteo":
        allowed = ", ".join(repr(n) for n in SOURCE_NAMES)
        raise ValueError(f"unknown data source {name!r}; allowed values: {allowed}")
    if settings.open_meteo_api_key:
        api_key = settings.open_meteo_api_key.get_secret_value()
    return OpenMeteoClient(
        archive_url=settings.open_meteo_archive_url,
        forecast_url=settings.open_meteo_forecast_url,
        air_quality_url=settings.open_meteo_air_quality_url,
        timeout_s=settings.http_timeout_s,
        max_retries=settings.http_max_retries,
        backoff_base_s=settings.http_backoff_base_s,
        api_key=api_key,
    )
