"""{{ cookiecutter.project_name | replace('"', "'") }}: feature, training and inference pipelines for PM2.5 forecasts."""

__version__ = "0.1.0"
# The console script: every subcommand's usage line starts with it ("air-quality-forecast feature ...").
PROGRAM = "{{ cookiecutter.project_slug }}"
