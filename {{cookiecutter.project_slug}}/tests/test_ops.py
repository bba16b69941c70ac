"""The operational commands: ``check`` (freshness) and ``secrets`` (key distribution)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from {{ cookiecutter.package_name }}.ops import freshness, secrets
from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource

KEY = "hw-MARKER-5f1e2d"  # a marker: it must never show up in arguments or output
TODAY = dt.datetime.now(dt.UTC).date()  # predictions carry the real time they were made


def test_check_passes_after_runs_and_fails_when_runs_stop(settings):
    settings = settings.model_copy(update={"backfill_days": 150, "test_days": 30})
    feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY))
    training.run(settings, today=TODAY)
    inference.run(settings, today=TODAY)
    fresh = freshness.freshness(settings, today=TODAY, model_max_age_days=10_000)
    assert [row.ok for row in fresh[:2]] == [True, True], [r.line() for r in fresh]
    later = freshness.freshness(settings, today=TODAY + dt.timedelta(days=5), model_max_age_days=10_000)
    assert [row.ok for row in later[:2]] == [False, False]
    assert "STALE" in later[0].line()


def test_check_on_an_empty_store_reports_never(settings):
    rows = freshness.freshness(settings, today=TODAY)
    assert not any(row.ok for row in rows)
    assert all("never" in row.line() for row in rows)


class FakeRunner:
    """Record the commands that would run, with what they get on stdin."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv, input=None, **kwargs):  # noqa: A002 - subprocess.run's own name
        self.calls.append((argv, input))
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_secrets_never_put_the_key_in_arguments_or_output(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".modal.toml").write_text("[default]\n")
    which = {"modal": "/usr/bin/modal", "gh": "/usr/bin/gh"}.get
    steps = [
        secrets.modal_step({"HOPSWORKS_API_KEY": KEY, "HOPSWORKS_PROJECT": "p"}, which=which),
        secrets.github_step(KEY, "me/repo", which=which, logged_in=lambda argv: True),
        secrets.space_step(KEY, None),
    ]
    runner = FakeRunner()
    lines = secrets.run_steps(steps, runner=runner)
    assert lines == [
        "modal: stored",
        "github: stored",
        "huggingface: skipped (no Space given (--space USER/NAME or HF_SPACE))",
    ]
    assert [argv for argv, _ in runner.calls] == [
        ["modal", "secret", "create", "hopsworks", "--from-json", "/dev/stdin", "--force"],
        ["gh", "secret", "set", "HOPSWORKS_API_KEY", "--repo", "me/repo"],
    ]
    assert json.loads(runner.calls[0][1]) == {"HOPSWORKS_API_KEY": KEY, "HOPSWORKS_PROJECT": "p"}
    assert runner.calls[1][1] == KEY
    dry = secrets.run_steps(steps, dry_run=True, runner=runner)
    assert all(KEY not in line for line in lines + dry)
    assert all(KEY not in " ".join(argv) for argv, _ in runner.calls)


def test_secrets_skip_tools_that_are_missing_or_logged_out(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    assert "not installed" in secrets.modal_step({}, which=lambda name: None).skipped
    assert "not logged in" in secrets.modal_step({}, which=lambda name: "/bin/" + name).skipped
    step = secrets.github_step(KEY, None, which=lambda name: "/bin/gh", logged_in=lambda argv: False)
    assert "gh auth login" in step.skipped


def test_secrets_failures_do_not_echo_tool_output():
    step = secrets.Step("github", argv=["gh", "secret", "set", "X"], stdin=KEY)

    def failing(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 1, KEY, KEY)

    with pytest.raises(RuntimeError) as caught:
        secrets.run_steps([step], runner=failing)
    assert KEY not in str(caught.value)


def test_secrets_key_comes_from_the_environment_or_a_terminal(monkeypatch):
    assert secrets.read_key({"HOPSWORKS_API_KEY": f" {KEY} "}) == KEY
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(RuntimeError, match="no terminal"):
        secrets.read_key({})


def test_secrets_for_the_pipelines_come_from_the_backend(project, monkeypatch):
    from {{ cookiecutter.package_name }}.store import get_secret

    monkeypatch.setenv("OPEN_METEO_API_KEY", KEY)
    assert get_secret(project, "OPEN_METEO_API_KEY") == KEY
    assert get_secret(project, "NOT_SET_ANYWHERE") is None
    assert KEY not in repr(project.get_secrets_api().get_secret("OPEN_METEO_API_KEY"))
