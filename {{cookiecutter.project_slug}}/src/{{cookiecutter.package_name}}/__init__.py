"""{{ cookiecutter.project_name | replace('"', "'") }}: feature, training and inference pipelines for PM2.5 forecasts."""

__version__ = "0.1.0"
