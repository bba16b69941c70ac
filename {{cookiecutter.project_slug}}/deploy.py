"""Run the three pipelines on Modal on a schedule, against Hopsworks.

Deploy once from the project root, with the package installed (``pip install -e '.[modal]'``)
and logged in to Modal (``modal token new``):

    {{ cookiecutter.project_slug }} secrets    # the Modal secret `hopsworks`: key, project, host
    modal deploy deploy.py

``secrets`` sends the values through Modal's Python SDK. To make the secret by hand instead,
use Modal's dashboard (Secrets > Custom, the keys HOPSWORKS_API_KEY, HOPSWORKS_PROJECT and
HOPSWORKS_HOST), not ``modal secret create hopsworks KEY=value``: process lists and shell
history keep command lines.

Modal then runs each function on its cron schedule (UTC). Each function is a thin wrapper
around the same ``main()`` that the command line runs locally, so
``{{ cookiecutter.project_slug }} feature`` on a laptop and ``feature_daily`` on Modal execute
the same code. Importing this file only builds Modal objects: nothing connects to Modal or
Hopsworks until Modal runs a function.
"""

from __future__ import annotations

from pathlib import Path

import modal

HERE = Path(__file__).resolve().parent
MINUTES = 60  # seconds

app = modal.App("{{ cookiecutter.project_slug }}")

# What every container sees besides the secret: Hopsworks as the store, the real data source.
CONTAINER_ENV = {"STORE_BACKEND": "hopsworks", "DATA_SOURCE": "open-meteo", "MPLBACKEND": "Agg"}

# One pinned image for all three functions; the package and the twin it checks batches with
# (local_hopsworks, no index release) are added last, so a code change rebuilds only that layer.
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install_from_requirements(str(HERE / "requirements.txt"))
    .env(CONTAINER_ENV)
    .add_local_python_source("{{ cookiecutter.package_name }}", "local_hopsworks")
)

# Made by `{{ cookiecutter.project_slug }} secrets`: HOPSWORKS_API_KEY, and HOPSWORKS_PROJECT
# and HOPSWORKS_HOST when they are set. Deploying fails early if the key is missing.
hopsworks_secret = modal.Secret.from_name("hopsworks", required_keys=["HOPSWORKS_API_KEY"])

# Retried after 30 s, then 60 s. Modal caps every delay at max_delay, and max_delay at 60 s,
# so a larger first delay would make the backoff coefficient do nothing. Retries are safe:
# feature and prediction rows are upserts on primary key + event time, so a retried run
# rewrites the same rows; a retried training run at worst registers one more model version.
RETRIES = modal.Retries(max_retries=2, initial_delay=30.0, backoff_coefficient=2.0, max_delay=60.0)


def run(command: str) -> None:
    """Run one pipeline through the project's command line; raise if it fails.

    Raising (rather than returning the exit code) is what makes Modal mark the run failed
    and retry it.
    """
    from {{ cookiecutter.package_name }}.cli import main

    code = main([command])
    if code != 0:
        raise RuntimeError(f"{{ cookiecutter.project_slug }} {command} exited with status {code}")


# Daily at 06:00 UTC: fetch the new days' weather and PM2.5 and upsert the feature groups.
@app.function(
    image=image,
    secrets=[hopsworks_secret],
    schedule=modal.Cron("0 6 * * *"),
    retries=RETRIES,
    timeout=15 * MINUTES,
)
def feature_daily() -> None:
    """Run the feature pipeline."""
    run("feature")


# Daily at 06:30 UTC, past the feature run's 15-minute limit, so it scores the features just
# written (if the feature run is still retrying, it uses those stored so far).
@app.function(
    image=image,
    secrets=[hopsworks_secret],
    schedule=modal.Cron("30 6 * * *"),
    retries=RETRIES,
    timeout=15 * MINUTES,
)
def inference_daily() -> None:
    """Run the inference pipeline: forecast with the production model, store the predictions."""
    run("inference")


# Mondays at 05:00 UTC, done before the daily runs start.
@app.function(
    image=image,
    secrets=[hopsworks_secret],
    schedule=modal.Cron("0 5 * * 1"),
    retries=RETRIES,
    timeout=30 * MINUTES,
)
def training_weekly() -> None:
    """Run the training pipeline: train, evaluate and register a new model version."""
    run("training")
