"""Tests of the UI: nothing loads at import, the handlers read a real store, and the app serves a page."""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

from {{ cookiecutter.package_name }}.catalog import location_rows, predictions_group, utc_today
from {{ cookiecutter.package_name }}.lifecycle import aliases
from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect

OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
os.environ.update(OFFLINE)  # before anything imports gradio (the ui module is imported in the tests)

ROOT = Path(__file__).resolve().parents[1]


def make_settings(store_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        store_backend="local",
        store_dir=store_dir,
        data_source="synthetic",
        backfill_days=150,
        test_days=30,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store filled by the three pipelines, with two model versions; v2 is promoted: inference uses it."""
    settings = make_settings(tmp_path_factory.mktemp("store") / "store")
    feature.run(settings)
    training.run(settings)
    training.run(settings)  # the same data again: the gate refuses it, so v1 stays production
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    aliases.promote(
        fs,
        mr,
        settings.model_name,
        2,
        lock=aliases.move_lock(settings),
        force=True,
        note=aliases.MoveNote(reason="test"),
    )
    inference.run(settings)
    return settings


def test_import_touches_no_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "never"
    env = {**os.environ, **OFFLINE, "STORE_DIR": str(store_dir)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    code = "import {{ cookiecutter.package_name }}.ui, app"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert not store_dir.exists()


def test_handlers_on_empty_store_show_a_message(tmp_path: Path) -> None:
    from {{ cookiecutter.package_name }} import ui

    settings = make_settings(tmp_path / "empty")
    assert "run the pipelines first" in ui.load_overview(settings).lower()  # said once, at the top
    frame, note = ui.show_forecast(settings)
    assert frame.empty and note.startswith("**No forecast") and "pipelines" not in note
    frame, note = ui.show_hindcast(settings)
    assert frame.empty and note.startswith("**No hindcast") and "pipelines" not in note
    _, note = ui.date_choices(settings)
    assert note.startswith("**No") and "pipelines" not in note
    text, features = ui.show_prediction(settings, (utc_today() + dt.timedelta(days=1)).isoformat())
    assert text.startswith("**No prediction") and "pipelines" not in text and features.empty


def test_overview_names_newest_model(store: Settings) -> None:
    from {{ cookiecutter.package_name }} import ui

    text = ui.load_overview(store)
    assert f"`{store.model_name}` version **v2**" in text
    assert "air_quality_weather" in text and "MAE" in text and "baseline" in text


def test_forecast_has_the_coming_days(store: Settings) -> None:
    from {{ cookiecutter.package_name }} import ui

    frame = ui.forecast_frame(store)
    tomorrow = pd.Timestamp(utc_today() + dt.timedelta(days=1), tz="UTC")
    expected = list(pd.date_range(tomorrow, periods=store.forecast_days, freq="D"))
    assert list(frame["date"]) == expected
    assert (frame["model_version"] == 2).all()
    assert frame["predicted_pm25"].notna().all()
    assert list(frame["horizon_days"]) == list(range(1, store.forecast_days + 1))
    shown, note = ui.show_forecast(store)
    forecast = shown[shown["series"] == "forecast"]
    assert list(forecast["day"]) == [d.date().isoformat() for d in expected]  # one tick per day
    assert (forecast["pm25"] == forecast["pm25"].round(1)).all()
    assert set(shown["series"]) - {"forecast"} <= set(ui.BAND_COLORS)
    assert "v2" in note and ui.SCALE in note


def test_hindcast_has_rows(store: Settings) -> None:
    from {{ cookiecutter.package_name }} import ui

    frame = ui.hindcast_frame(store)
    assert not frame.empty
    assert set(frame["series"]) == {"observed", "predicted (v2, 1 day ahead)"}
    assert frame["pm25"].notna().all()
    _, note = ui.show_hindcast(store)
    assert "MAE" in note


def test_prediction_for_tomorrow_matches_the_stored_forecast(store: Settings) -> None:
    from {{ cookiecutter.package_name }} import ui

    tomorrow = utc_today() + dt.timedelta(days=1)
    dates = ui.prediction_dates(store)
    assert tomorrow.isoformat() in dates
    assert len([d for d in dates if d >= tomorrow.isoformat()]) == store.forecast_days

    result = ui.predict_for_date(store, tomorrow.isoformat())
    stored = location_rows(predictions_group(connect(store).get_feature_store()), store.location.key)
    row = stored[
        (stored["date"] == pd.Timestamp(tomorrow, tz="UTC"))
        & (stored["model_version"] == 2)
        & (stored["horizon_days"] == 1)
    ]
    assert len(row) == 1
    assert math.isfinite(result.value)
    assert result.value == pytest.approx(float(row["predicted_pm25"].iloc[0]), abs=1e-6)
    assert result.model_version == 2
    lags = result.features.set_index("feature").loc[["pm25_lag_1", "pm25_lag_2", "pm25_roll_mean_7"]]
    assert lags["value"].notna().all()
    assert (lags["source"] == "from observed and predicted PM2.5").all()

    later = ui.predict_for_date(store, dates[-1])  # lags partly from stored predictions
    assert math.isfinite(later.value)
    text, features = ui.show_prediction(store, tomorrow.isoformat())
    assert f"{result.value:.2f}" in text and not features.empty


@pytest.mark.parametrize("bad", ["2001-01-01", "tomorrow", "", None, "2024-13-45", "x" * 10_000])
def test_bad_date_gives_a_clear_error(store: Settings, bad: object) -> None:
    from {{ cookiecutter.package_name }} import ui

    with pytest.raises(ui.InvalidDateError):
        ui.predict_for_date(store, bad)
    text, features = ui.show_prediction(store, bad)
    assert text.startswith("**Invalid date:**") and "pick a date from the list" in text
    assert len(text) < 300 and features.empty


def test_app_serves_the_page(store: Settings) -> None:
    from {{ cookiecutter.package_name }} import ui

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = ui.build_app(store)
    try:
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        session = requests.Session()
        session.trust_env = False  # loopback only: never through a proxy
        response = session.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert response.status_code == 200
        assert "PM2.5" in response.text
    finally:
        demo.close()


@pytest.mark.parametrize(
    ("value", "category"),
    [
        (0.0, "good"),
        (9.0, "good"),
        (9.04, "good"),
        (9.1, "moderate"),
        (35.4, "moderate"),
        (35.5, "unhealthy for sensitive groups"),
        (125.5, "very unhealthy"),
        (500.0, "hazardous"),
    ],
)
def test_pm25_categories_follow_the_us_epa_breakpoints(value: float, category: str) -> None:
    from {{ cookiecutter.package_name }} import ui

    assert ui.pm25_category(value) == category


def test_user_input_is_shown_as_typed_never_as_markdown(store: Settings) -> None:
    from {{ cookiecutter.package_name }} import ui

    text, _ = ui.show_prediction(store, "[click](http://example.com) **x** <b>")
    assert "](" not in text and "**x**" not in text and "<b>" not in text
    assert r"\[click\]" in text and "&lt;b" in text


def test_endpoints_are_named_after_their_handlers_and_analytics_are_off(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from {{ cookiecutter.package_name }} import ui

    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED")  # off in code, whatever the environment says
    demo = ui.build_app(store)
    assert demo.analytics_enabled is False
    named = {dep.api_name: dep.fn.__name__ for dep in demo.fns.values()}
    assert named["forecast"] == "show_forecast" and named["predict"] == "show_prediction"
    assert "partial" not in named.values() and set(ui.LOADERS) <= set(named)
