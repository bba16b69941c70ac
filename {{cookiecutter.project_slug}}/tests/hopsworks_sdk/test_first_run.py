"""A learner's first run with STORE_BACKEND=hopsworks, on the SDK's real objects (server side faked).

feature -> training -> inference -> models -> monitor -> check -> runs -> a second training,
promote and rollback -> every UI handler, through the
console script's dispatch (what a scheduler and the Space run), in one process: one login.
"""

from __future__ import annotations

import datetime as dt

import fake_server
import pytest
from fake_server import PROJECT

from {{ cookiecutter.package_name }} import cli, ui
from {{ cookiecutter.package_name }}.catalog import utc_today
from {{ cookiecutter.package_name }}.settings import Settings

UI_PROBLEMS = ("could not be read", "Run the pipelines first")


@pytest.fixture
def hopsworks_env(server, tmp_path, monkeypatch):
    """Point the environment (what every command reads) at the fake Hopsworks."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    env = {
        "STORE_BACKEND": "hopsworks",
        "HOPSWORKS_HOST": fake_server.HOST,
        "HOPSWORKS_PROJECT": PROJECT,
        "HOPSWORKS_API_KEY": server.api_key,
        "DATA_SOURCE": "synthetic",
        "BACKFILL_DAYS": "400",
        "GITHUB_ACTIONS": "",  # blank, as Actions gives an unset variable
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server


def run(command: list[str], capsys) -> str:
    code = cli.main(command)
    out, err = capsys.readouterr()
    assert code == 0, f"{command}: exit {code}\n{out}\n{err}"
    return out


def test_first_run_on_the_sdk(hopsworks_env, capsys):
    server = hopsworks_env
    out = run(["feature"], capsys)
    assert "feature pipeline:" in out and "air-quality rows" in out
    out = run(["training"], capsys)
    assert "training pipeline: registered" in out
    out = run(["inference"], capsys)
    assert "prediction rows written" in out and "forecast:" in out
    out = run(["models"], capsys)
    assert "production" in out and "registered" in out
    assert "hindcast accuracy" in run(["monitor"], capsys)
    assert "STALE" not in run(["check"], capsys)
    assert "training runs of" in run(["runs"], capsys)
    # A second model, the green button and the red button, on the SDK's registry and history.
    run(["training", "--boost-rounds", "30"], capsys)
    out = run(["promote", "pm25_xgboost", "2", "--force", "-m", "first-run test"], capsys)
    assert "v2 is production" in out
    assert "v1 is production again" in run(["rollback", "pm25_xgboost", "-m", "first-run test"], capsys)

    settings = Settings()
    messages = {
        "overview": ui.load_overview(settings),
        "forecast": ui.show_forecast(settings)[1],
        "hindcast": ui.show_hindcast(settings)[1],
        "dates": ui.date_choices(settings)[1],
        "models": ui.show_models(settings)[0],
        "accuracy": ui.show_accuracy(settings)[1],
        "drift": ui.show_drift(settings)[1],
    }
    tomorrow = (utc_today() + dt.timedelta(days=1)).isoformat()
    messages["prediction"] = ui.show_prediction(settings, tomorrow)[0]
    problems = {k: v for k, v in messages.items() if any(p in v for p in UI_PROBLEMS)}
    assert not problems, problems
    assert "µg/m³" in messages["prediction"]
    assert server.logins == 1  # one connection for every command and handler of the process
