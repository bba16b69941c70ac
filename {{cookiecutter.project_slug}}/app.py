"""Start the forecast UI: the entry point of a Hugging Face Space (``python app.py``).

Listens on 127.0.0.1:7860 unless GRADIO_SERVER_NAME / GRADIO_SERVER_PORT say otherwise (Spaces
sets GRADIO_SERVER_NAME=0.0.0.0). With HOPSWORKS_API_KEY set it serves what the pipelines stored
in the configured backend. Without a key it serves the embedded store (a demo Space needs no
account), and when that store holds no model yet it first runs the three pipelines on the
synthetic source: feature, training, inference, a few seconds.

The package must be importable: installed (``pip install .``) or, on a Space, laid out next to
this file by the ``space`` command (with ``local_hopsworks``, the embedded store).
"""

import os

from {{ cookiecutter.package_name }}.ops import redaction
from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect
from {{ cookiecutter.package_name }}.ui import MAX_FILE_SIZE, build_app


def app_settings(settings: Settings | None = None) -> Settings:
    """Return the settings to serve: as configured, or the embedded store when there is no key."""
    settings = settings if settings is not None else Settings()
    if settings.store_backend != "local" and settings.hopsworks_api_key is None:
        print("app: HOPSWORKS_API_KEY is not set: serving the embedded store (a demo) instead of Hopsworks")
        return settings.model_copy(update={"store_backend": "local"})
    return settings


def bootstrap(settings: Settings) -> bool:
    """Fill an embedded store that holds no model: the three pipelines on synthetic data.

    Returns:
        True when the pipelines ran; False on Hopsworks or when a model is already registered.
    """
    if settings.store_backend != "local":
        return False
    if connect(settings).get_model_registry().get_models(settings.model_name):
        return False
    demo = settings.model_copy(update={"data_source": "synthetic"})
    print(f"app: no model in {settings.store_dir}: feature -> training -> inference on synthetic data")
    feature.run(demo)
    training.run(demo)
    inference.run(demo)
    return True


if __name__ == "__main__":
    redaction.install()
    served = app_settings()
    bootstrap(served)
    # share=False whatever GRADIO_SHARE says (no public tunnel); no allowed_paths: Gradio serves no
    # file of this folder, the store or the system (tests/reliability/test_security.py checks it).
    # max_file_size: the UI takes no files, so its upload endpoint refuses them (413).
    build_app(served).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        share=False,
        max_file_size=MAX_FILE_SIZE,
    )
