"""The ``check`` command (freshness) and the pipelines' secrets (``secrets``: test_secrets.py)."""

from __future__ import annotations

import datetime as dt

from {{ cookiecutter.package_name }}.ops import freshness
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
    assert [row.ok for row in fresh[:2]] == [True, True], freshness.table(fresh)
    later = freshness.freshness(settings, today=TODAY + dt.timedelta(days=5), model_max_age_days=10_000)
    assert [row.ok for row in later[:2]] == [False, False]
    assert "STALE" in freshness.table(later[:1])


def test_check_on_an_empty_store_reports_never(settings):
    rows = freshness.freshness(settings, today=TODAY)
    assert not any(row.ok for row in rows)
    assert all("never" in freshness.table([row]) for row in rows)


def test_secrets_for_the_pipelines_come_from_the_backend(project, monkeypatch):
    from {{ cookiecutter.package_name }}.store import get_secret

    monkeypatch.setenv("OPEN_METEO_API_KEY", KEY)
    assert get_secret(project, "OPEN_METEO_API_KEY") == KEY
    assert get_secret(project, "NOT_SET_ANYWHERE") is None
    import local_hopsworks

    assert KEY not in repr(local_hopsworks.get_secrets_api().get_secret("OPEN_METEO_API_KEY"))
