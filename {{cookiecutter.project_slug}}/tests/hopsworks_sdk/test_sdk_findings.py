"""Findings of issue 11 on the real SDK's classes: each test fails on the code before its fix."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from fake_server import HOST, PROJECT, start_server, stop_server

from {{ cookiecutter.package_name }}.catalog import feature_groups, location_rows, utc_times
from {{ cookiecutter.package_name }}.features.air_quality import calendar_features
from {{ cookiecutter.package_name }}.features.weather import weather_features
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sources.base import Location
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource
from {{ cookiecutter.package_name }}.store import connect, disconnect


def weather_rows(days: int = 3, location: str = "oslo") -> pd.DataFrame:
    """Return ``days`` days of weather features from 2026-01-01, as the feature pipeline computes them."""
    place = Location(key=location, name=location.title(), latitude=59.9, longitude=10.7)
    start = dt.date(2026, 1, 1)
    raw = SyntheticSource(today=dt.date(2026, 2, 1)).fetch_weather(
        place, start, start + dt.timedelta(days - 1)
    )
    return calendar_features(weather_features(raw, location))


def test_sdk_location_is_a_property_not_the_feature(sdk_project):
    # The trap itself: fg.location is the table's storage path on hsfs, so comparing it gives a bool.
    weather, _ = feature_groups(sdk_project.get_feature_store())
    weather.insert(weather_rows())
    assert isinstance(weather.location, str) and weather.location.startswith("hopsfs://")
    assert (weather.location == "oslo") is False
    assert weather.get_feature("location").name == "location"


def test_location_rows_filters_by_the_feature_on_the_sdk(sdk_project):
    weather, _ = feature_groups(sdk_project.get_feature_store())
    weather.insert(pd.concat([weather_rows(), weather_rows(location="bergen")], ignore_index=True))
    rows = location_rows(weather, "oslo", start=pd.Timestamp("2026-01-02", tz="UTC"))
    assert rows["location"].tolist() == ["oslo", "oslo"]
    assert rows["date"].tolist() == list(pd.date_range("2026-01-02", periods=2, freq="D", tz="UTC"))


def test_location_rows_of_a_group_created_but_not_written_is_empty(sdk_project):
    weather, air_quality = feature_groups(sdk_project.get_feature_store())
    assert weather.get_feature("date") is None  # created, not written: no features yet
    assert location_rows(air_quality, "oslo").empty


def test_event_times_are_utc_aware_after_the_read_boundary(sdk_project):
    weather, _ = feature_groups(sdk_project.get_feature_store())
    weather.insert(weather_rows())
    raw = weather.read()
    assert raw["date"].dt.tz is None  # hsfs hands event times back naive (UTC)
    rows = location_rows(weather, "oslo")
    assert str(rows["date"].dt.tz) == "UTC"
    assert (rows["date"] >= pd.Timestamp("2026-01-02", tz="UTC")).sum() == 2  # tz-aware comparison works


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Oslo"])
def test_utc_times_takes_naive_and_aware_times(tz):
    stamps = pd.date_range("2026-03-01", periods=2, freq="D", tz=tz)
    frame = utc_times(pd.DataFrame({"date": stamps, "value": [1, 2]}))
    assert str(frame["date"].dt.tz) == "UTC"
    expected = stamps.tz_localize("UTC") if tz is None else stamps.tz_convert("UTC")
    assert frame["date"].tolist() == list(expected)


def test_connect_logs_in_once_per_process(server, hw_settings):
    first = connect(hw_settings)
    assert connect(hw_settings) is first
    assert connect(hw_settings.model_copy()) is first
    assert server.logins == 1
    assert type(first).__module__ == "hopsworks_common.project"  # the SDK's own Project


def test_blank_hopsworks_variables_count_as_unset(server, monkeypatch):
    # GitHub Actions gives "" for an unset vars.X; the SDK's login reads these variables itself.
    monkeypatch.setenv("HOPSWORKS_HOST", HOST)
    monkeypatch.setenv("HOPSWORKS_PROJECT", "")
    monkeypatch.setenv("HOPSWORKS_PORT", " ")
    monkeypatch.setenv("HOPSWORKS_API_KEY", server.api_key)
    monkeypatch.setenv("STORE_BACKEND", "hopsworks")
    settings = Settings(_env_file=None)
    assert settings.hopsworks_project is None
    assert Settings(_env_file=None, hopsworks_host="  ").hopsworks_host is None
    project = connect(settings)
    assert project.name == PROJECT  # the key's only project


def test_a_key_with_several_projects_needs_hopsworks_project(tmp_path, monkeypatch):
    disconnect()
    server = start_server(tmp_path, monkeypatch, projects=("air_quality", "sandbox"))
    try:
        settings = Settings(
            _env_file=None, store_backend="hopsworks", hopsworks_host=HOST, hopsworks_api_key=server.api_key
        )
        with pytest.raises(ValueError, match="several Hopsworks projects: set HOPSWORKS_PROJECT"):
            connect(settings)
    finally:
        stop_server(server)
        disconnect()
