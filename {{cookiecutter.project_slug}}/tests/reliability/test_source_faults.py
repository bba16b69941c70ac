"""The feature pipeline against a misbehaving Open-Meteo (a loopback server): retry or fail, never half-write.

The pipeline runs exactly as in production (``DATA_SOURCE=open-meteo``), pointed at the fake
server by the ``OPEN_METEO_*_URL`` settings. ``tests/test_sources.py`` covers the client alone;
here the point is the store: after every failure it is exactly as before the run.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from local_hopsworks import LocalProject
from local_hopsworks.expectations import ValidationError
from support import FakeOpenMeteo, Fault, assert_same_state, location_settings, store_state

from {{ cookiecutter.package_name }}.pipelines import feature
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sources.base import SourceError

TODAY = dt.datetime.now(dt.UTC).date()  # the real client splits archive and forecast on the real date
SEED_END = TODAY - dt.timedelta(days=6)
START = TODAY - dt.timedelta(days=5)
BACKOFF_S = 0.2


def om_settings(root: Path, fake: FakeOpenMeteo, retries: int = 2) -> Settings:
    return location_settings(
        root,
        data_source="open-meteo",
        open_meteo_archive_url=fake.url("archive"),
        open_meteo_forecast_url=fake.url("forecast"),
        open_meteo_air_quality_url=fake.url("air-quality"),
        http_timeout_s=0.5,
        http_max_retries=retries,
        http_backoff_base_s=BACKOFF_S,
    )


@pytest.fixture
def fake(open_meteo: FakeOpenMeteo, monkeypatch: pytest.MonkeyPatch) -> FakeOpenMeteo:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    open_meteo.timeout_s = 0.5
    return open_meteo


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled by one good run (through the fake server), up to six days ago."""
    from support import serve_fake_open_meteo

    server, stop = serve_fake_open_meteo()
    try:
        root = tmp_path_factory.mktemp("om") / "store"
        feature.run(om_settings(root, server), end=SEED_END)
    finally:
        stop()
    return root


@pytest.fixture
def seeded(seeded_template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(seeded_template, root)
    return root


def run_window(root: Path, fake: FakeOpenMeteo, retries: int = 2) -> dict:
    return feature.run(om_settings(root, fake, retries), start=START, end=TODAY)


FAILURES = [
    pytest.param("air-quality", [Fault("timeout")] * 3, "no answer within 0.5 s (timeout)", 3, id="timeouts"),
    pytest.param("forecast", [Fault("status", 500)] * 3, "failed after 3 attempt(s)", 3, id="http-500"),
    pytest.param("air-quality", [Fault("status", 503)] * 3, "HTTP 503", 3, id="http-503"),
    pytest.param("forecast", [Fault("status", 404)], "answered HTTP 404", 1, id="http-404-no-retry"),
    pytest.param("air-quality", [Fault("malformed")], "", 1, id="malformed-json"),
    pytest.param("forecast", [Fault("empty")], "", 1, id="empty-body"),
    pytest.param(
        "forecast", [Fault("missing_days", days=2)], "2 requested day(s) missing", 1, id="missing-days"
    ),
]


@pytest.mark.parametrize(("path", "faults", "message", "requests"), FAILURES)
def test_a_failing_source_writes_nothing(seeded, fake, path, faults, message, requests) -> None:
    before = store_state(seeded)
    fake.script(path, *faults)
    with pytest.raises(SourceError) as caught:
        run_window(seeded, fake)
    assert message in str(caught.value) and f"/v1/{path}" in str(caught.value)
    assert "latitude=" not in str(caught.value), "errors must not carry query strings"
    assert len(fake.requests_to(path)) == requests  # retried only where a retry can help
    assert_same_state(before, store_state(seeded))
    assert not (seeded / "quarantine").exists()


def test_429_honours_retry_after_then_writes_everything(seeded, fake, tmp_path) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(seeded, reference)
    run_window(reference, fake)  # the same run without a fault
    fake.seen.clear()
    fake.script("air-quality", Fault("status", 429, retry_after="1"))
    summary = run_window(seeded, fake)
    (first, _), (second, _) = fake.requests_to("air-quality")
    assert second - first >= 1.0, "Retry-After: 1 must be waited for"
    assert summary["air_quality_rows"] == (TODAY - START).days + 1
    assert_same_state(store_state(reference), store_state(seeded))


def test_server_errors_are_retried_with_growing_backoff(seeded, fake) -> None:
    fake.script("forecast", Fault("status", 500), Fault("status", 502))
    summary = run_window(seeded, fake)
    times = [t for t, _ in fake.requests_to("forecast")]
    assert len(times) == 3
    assert times[1] - times[0] >= BACKOFF_S and times[2] - times[1] >= 2 * BACKOFF_S
    assert summary["weather_rows"] > 0


def test_nan_for_the_latest_weather_days_is_refused_whole(seeded, fake) -> None:
    before = store_state(seeded)
    fake.script("forecast", Fault("nan_latest", days=2))
    with pytest.raises(ValidationError) as caught:
        run_window(seeded, fake)
    message = str(caught.value)
    assert "weather v1" in message and "expect_column_values_to_not_be_null(temperature_2m_mean" in message
    assert_same_state(before, store_state(seeded))  # the valid PM2.5 batch was not written either
    assert len(list((seeded / "quarantine" / "weather_1").iterdir())) == 1


def test_nan_for_the_latest_pm25_days_writes_whole_days_only_and_catches_up(seeded, fake) -> None:
    fake.script("air-quality", Fault("nan_latest", days=2))
    run_window(seeded, fake)
    air = LocalProject(seeded).get_feature_store().get_feature_group("air_quality", 1).read()
    assert air["pm25"].notna().all()
    last = air["date"].max().date()
    assert last == TODAY - dt.timedelta(days=2), "days without data are left out, not stored half"
    summary = feature.run(om_settings(seeded, fake))  # the next scheduled run continues from there
    assert summary["start"] == (TODAY - dt.timedelta(days=1)).isoformat()
    air = LocalProject(seeded).get_feature_store().get_feature_group("air_quality", 1).read()
    assert air["date"].max().date() == TODAY and not air.duplicated(["location", "date"]).any()
    assert (air["date"] >= pd.Timestamp(START, tz="UTC")).sum() == (TODAY - START).days + 1
