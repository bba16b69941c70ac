"""Run the three pipelines on Modal on a schedule, against Hopsworks.

Deploy once from the project root, with the package installed (``pip install -e
'.[modal]'``) and the secret created (``modal secret create hopsworks HOPSWORKS_API_KEY=...
HOPSWORKS_PROJECT=...``): ``modal deploy deploy.py``. Modal then runs each function on its
cron schedule. Each function is a thin wrapper around the same ``main()`` that the command line
runs locally, so ``{{ cookiecutter.project_slug }} feature`` on a laptop and ``feature_daily`` on Modal
execute the same code. Importing this file only builds the Modal objects: nothing connects
to Modal or Hopsworks until Modal runs a function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import modal

HERE = Path(__file__).resolve().parent
MINUTES = 60  # seconds

# The one table of schedules: deploy.py, its tests and the docs read it from here.
# Cron times are UTC (Modal's default), like the pipelines' notion of "today". Inference
# starts half an hour after the feature pipeline, past its 15-minute limit, so it scores the
# features just written (if the feature run is still retrying, inference uses the features
# stored so far, and the next feature run catches up). Training runs weekly, on Monday
# before the daily runs.
# Retries are safe: every pipeline is idempotent. Feature and prediction rows are upserts
# on primary key + event time, so a retried run rewrites the same rows instead of adding
# copies; a retried training run at worst registers one more model version.
SCHEDULES: dict[str, dict[str, Any]] = {
    "feature_daily": {
        "command": "feature",
        "cron": "0 6 * * *",
        "timeout": 15 * MINUTES,
        "retries": {"max_retries": 2, "backoff_coefficient": 2.0, "initial_delay": 60.0},
    },
    "inference_daily": {
        "command": "inference",
        "cron": "30 6 * * *",
        "timeout": 15 * MINUTES,
        "retries": {"max_retries": 2, "backoff_coefficient": 2.0, "initial_delay": 60.0},
    },
    "training_weekly": {
        "command": "training",
        "cron": "0 5 * * 1",
        "timeout": 30 * MINUTES,
        "retries": {"max_retries": 2, "backoff_coefficient": 2.0, "initial_delay": 60.0},
    },
}

app = modal.App("{{ cookiecutter.project_slug }}")

# One image for all three functions: the pinned deployment requirements, the settings that
# select Hopsworks and the real data source, and this project's package added last so a
# code change rebuilds only that final layer. The env applies inside Modal containers only.
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install_from_requirements(str(HERE / "requirements.txt"))
    .env({"STORE_BACKEND": "hopsworks", "DATA_SOURCE": "open-meteo", "MPLBACKEND": "Agg"})
    .add_local_python_source("{{ cookiecutter.package_name }}")
)

# Created once with `modal secret create hopsworks HOPSWORKS_API_KEY=...`; it may also hold
# HOPSWORKS_PROJECT and HOPSWORKS_HOST. Deploying fails early if the key is missing.
secrets = [modal.Secret.from_name("hopsworks", required_keys=["HOPSWORKS_API_KEY"])]


def cron(name: str) -> modal.Cron:
    """Return the Modal schedule of a function from SCHEDULES."""
    return modal.Cron(SCHEDULES[name]["cron"])


def retries(name: str) -> modal.Retries:
    """Return the Modal retry policy of a function from SCHEDULES."""
    return modal.Retries(**SCHEDULES[name]["retries"])


def run_command(name: str) -> None:
    """Run a function's pipeline through the project's command line; raise if it fails.

    Raising (rather than returning the exit code) is what makes Modal mark the run failed
    and retry it.
    """
    from {{ cookiecutter.package_name }}.cli import main

    command = SCHEDULES[name]["command"]
    code = main([command])
    if code != 0:
        raise RuntimeError(f"{{ cookiecutter.project_slug }} {command} exited with status {code}")


@app.function(
    image=image,
    secrets=secrets,
    schedule=cron("feature_daily"),
    retries=retries("feature_daily"),
    timeout=SCHEDULES["feature_daily"]["timeout"],
)
def feature_daily() -> None:
    """Fetch the new days' weather and PM2.5 and upsert the feature groups."""
    run_command("feature_daily")


@app.function(
    image=image,
    secrets=secrets,
    schedule=cron("inference_daily"),
    retries=retries("inference_daily"),
    timeout=SCHEDULES["inference_daily"]["timeout"],
)
def inference_daily() -> None:
    """Forecast the coming days with the newest registered model and store the predictions."""
    run_command("inference_daily")


@app.function(
    image=image,
    secrets=secrets,
    schedule=cron("training_weekly"),
    retries=retries("training_weekly"),
    timeout=SCHEDULES["training_weekly"]["timeout"],
)
def training_weekly() -> None:
    """Train, evaluate and register a new model version on all labels so far."""
    run_command("training_weekly")
