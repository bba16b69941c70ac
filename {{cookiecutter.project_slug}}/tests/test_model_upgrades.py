"""The green and the red button: feature v2, shadow, promote, rollback, integrity, gate and commands."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import cli
from {{ cookiecutter.package_name }}.catalog import feature_groups, location_rows, predictions_group, utc_today
from {{ cookiecutter.package_name }}.lifecycle import aliases, gate, monitoring
from {{ cookiecutter.package_name }}.model import load_model
from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource
from {{ cookiecutter.package_name }}.store import connect

TODAY = dt.date(2025, 6, 30)
# A deliberately small v1, so that v2 beats it on its merits, on every slice too, with the default gate.
WEAK_ROUNDS = 10
SHADOW_DAYS = 3


def make_settings(store_dir: Path, **changes) -> Settings:
    return Settings(
        _env_file=None,
        store_dir=store_dir,
        data_source="synthetic",
        backfill_days=150,
        test_days=30,
        shadow_min_days=SHADOW_DAYS,
        **changes,
    )


def registry(settings: Settings) -> tuple:
    project = connect(settings)
    return project.get_feature_store(), project.get_model_registry()


def alias_versions(settings: Settings) -> dict[str, int]:
    fs, _ = registry(settings)
    return {name: alias.version for name, alias in aliases.aliases(fs, settings.model_name).items()}


def logged(settings: Settings, summary: dict) -> set[tuple[int, int]]:
    """Return (model version, feature view version) of every prediction row written by one inference run."""
    fs, _ = registry(settings)
    rows = location_rows(predictions_group(fs), settings.location.key)
    mine = rows[rows["predicted_at"] == summary["predicted_at"]]
    assert len(mine) == summary["rows_written"]
    return set(zip(mine["model_version"].astype(int), mine["feature_view_version"].astype(int), strict=True))


@pytest.fixture(scope="module")
def full_then_weak_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build once: v1 with the default rounds (production), then a weak v2 the gate refuses (no alias)."""
    settings = make_settings(tmp_path_factory.mktemp("full_then_weak") / "store")
    feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY))
    training.run(settings, today=TODAY)
    training.run(settings, today=TODAY, boost_rounds=WEAK_ROUNDS)
    return settings.store_dir


@pytest.fixture
def full_then_weak(full_then_weak_store: Path, tmp_path: Path) -> Settings:
    """Return settings of this test's own copy of that store: the tests write to it."""
    shutil.copytree(full_then_weak_store, tmp_path / "store")
    return make_settings(tmp_path / "store")


def one_day(settings: Settings, day: dt.date) -> tuple[dict, dict]:
    """The daily schedule: the feature pipeline (default versions), then inference."""
    features = feature.run(settings, today=day, source=SyntheticSource(today=day))
    return features, inference.run(settings, today=day)


@pytest.mark.heavy  # the whole worked example of the README: several trainings
def test_feature_upgrade_shadow_promote_and_rollback(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    fs, mr = registry(settings)
    name, location = settings.model_name, settings.location.key

    # 1. Model v1 on feature view v1 becomes production (there is none yet).
    feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY))
    first = training.run(settings, today=TODAY, boost_rounds=WEAK_ROUNDS)
    assert (first["version"], first["alias"]) == (1, "production")
    assert first["feature_view"] == "air_quality_weather v1"
    assert alias_versions(settings) == {"production": 1}
    assert logged(settings, inference.run(settings, today=TODAY)) == {(1, 1)}

    # 2. Ship air_quality v2 (one more feature) and train v2 on feature view v2: the gate makes it shadow.
    shipped = feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY), feature_versions=[2])
    assert shipped["feature_versions"] == [2] and shipped["air_quality_rows"] == 151
    _, aq2 = feature_groups(fs, 2)
    assert "pm25_roll_max_7" in aq2.read().columns
    _, aq1 = feature_groups(fs, 1)
    assert "pm25_roll_max_7" not in aq1.read().columns
    second = training.run(settings, today=TODAY, feature_version=2)
    report = second["gate"]
    assert second["alias"] == "shadow", report["reasons"]
    assert second["feature_view"] == "air_quality_weather v2"
    assert report["passed"] and report["reference"]["version"] == 1
    assert report["reference"]["feature_view_version"] == 1
    assert alias_versions(settings) == {"production": 1, "shadow": 2}
    assert "pm25_roll_max_7" in load_model(mr, name, 2).feature_names

    # The green button from shadow is refused before enough days of shadow hindcast.
    lock = aliases.move_lock(settings)
    with pytest.raises(ValueError, match=f"0 day\\(s\\) of hindcast .* needs at least {SHADOW_DAYS}"):
        aliases.promote(
            fs,
            mr,
            name,
            lock=lock,
            from_shadow=True,
            min_shadow_days=SHADOW_DAYS,
            location=location,
            note=aliases.MoveNote(today=TODAY),
        )

    # 3. Daily runs: the feature pipeline keeps both versions fresh; production and shadow both score.
    for offset in range(1, SHADOW_DAYS + 1):
        features, summary = one_day(settings, TODAY + dt.timedelta(days=offset))
        assert features["feature_versions"] == [1, 2]
        assert summary["served"] == [("production", 1, 1), ("shadow", 2, 2)]
        assert logged(settings, summary) == {(1, 1), (2, 2)}
        assert summary["version"] == 1 and summary["shadow"]["version"] == 2
    outcomes = monitoring.monitoring_rows(fs, location, name)
    shadow_live = monitoring.live_days(outcomes, 2, "shadow", TODAY)
    assert len(shadow_live) == SHADOW_DAYS
    assert set(shadow_live["feature_view_version"]) == {2}
    assert set(outcomes.loc[outcomes["model_version"] == 1, "role"]) == {"production"}

    # 4. The green button: the shadow becomes production and serves alone, on feature view v2.
    day = TODAY + dt.timedelta(days=SHADOW_DAYS)
    event = aliases.promote(
        fs,
        mr,
        name,
        lock=aliases.move_lock(settings),
        from_shadow=True,
        min_shadow_days=SHADOW_DAYS,
        location=location,
        note=aliases.MoveNote(reason="v1", today=day),
    )
    detail = json.loads(event["detail"])
    assert (event["model_version"], event["from_version"], detail["shadow_days"]) == (2, 1, SHADOW_DAYS)
    assert detail["production_mae_same_days"] is not None
    assert alias_versions(settings) == {"production": 2}
    features, summary = one_day(settings, day + dt.timedelta(days=1))
    assert features["feature_versions"] == [1, 2]  # v1 stays fresh: it is the rollback target
    assert summary["served"] == [("production", 2, 2)] and summary["shadow"] is None
    assert logged(settings, summary) == {(2, 2)}

    # 5. The red button: v1 serves again at once, on feature view v1.
    event = aliases.rollback(
        fs, mr, name, lock=aliases.move_lock(settings), note=aliases.MoveNote("oncall", "drill")
    )
    assert (event["model_version"], event["from_version"], event["actor"]) == (1, 2, "oncall")
    assert alias_versions(settings) == {"production": 1}
    features, summary = one_day(settings, day + dt.timedelta(days=2))
    assert summary["served"] == [("production", 1, 1)]
    assert logged(settings, summary) == {(1, 1)}
    with pytest.raises(LookupError, match="no previous production version"):
        aliases.rollback(fs, mr, name, lock=aliases.move_lock(settings))

    # The history records every step with who and why, in order.
    events = aliases.history(fs, name)
    steps = list(zip(events["event"], events["model_version"], strict=True))
    assert steps == [
        ("registered", 1),
        ("promote", 1),
        ("registered", 2),
        ("shadow", 2),
        ("promote", 2),
        ("rollback", 1),
    ]
    assert events.loc[events["event"] == "promote", "reason"].iloc[-1] == "v1"
    assert events.loc[events["event"] == "rollback", "actor"].iloc[0] == "oncall"


@pytest.mark.heavy  # a reliability test: two trainings and a tampered model file
def test_tampered_model_is_a_clear_error_and_the_previous_version_keeps_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    today = utc_today()  # the command line forecasts from the real today
    settings = make_settings(tmp_path / "store")
    fs, mr = registry(settings)
    name = settings.model_name
    feature.run(settings, today=today, source=SyntheticSource(today=today))
    training.run(settings, today=today)
    training.run(settings, today=today)
    aliases.promote(
        fs, mr, name, 2, lock=aliases.move_lock(settings), force=True, note=aliases.MoveNote(reason="test")
    )
    model_file = settings.store_dir / "models" / name / "2" / "files" / "model.json"  # the stored file
    model_file.write_text(model_file.read_text().replace('"', ' "', 1))  # one changed byte, still JSON

    with pytest.raises(RuntimeError, match="version 2 failed its integrity check: model.json: sha256"):
        aliases.load_checked(fs, mr, name, 2)
    summary = inference.run(settings, today=today)
    assert summary["served"] == [("production", 1, 1)]
    assert logged(settings, summary) == {(1, 1)}
    assert any("v2 cannot serve" in p and "integrity check" in p for p in summary["problems"])
    assert any("previous production version pm25_xgboost v1" in p for p in summary["problems"])
    # No automatic alias move: rollback is a human decision.
    assert alias_versions(settings) == {"production": 2}
    assert "load_failure" in set(aliases.history(fs, name)["event"])

    # The command serves with the fallback, prints one clear error line and exits 1 (so schedules alert).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORE_DIR", str(settings.store_dir))
    monkeypatch.setenv("BACKFILL_DAYS", "150")
    monkeypatch.setenv("TEST_DAYS", "30")
    assert cli.main(["inference"]) == 1
    out, err = capsys.readouterr()
    assert "pm25_xgboost v1 (production)" in out
    assert "inference: error: pm25_xgboost v2 cannot serve: model pm25_xgboost version 2 failed" in err
    assert "model.json: sha256 differs from registration" in err
    assert "Traceback" not in err

    # The red button takes the broken version out of production for good.
    assert cli.main(["rollback", name, "--reason", "v2 files changed"]) == 0
    assert "pm25_xgboost v1 is production again (v2 withdrawn)" in capsys.readouterr().out
    assert inference.run(settings, today=today)["problems"] == []


def test_a_failing_shadow_never_stops_production(
    full_then_weak: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = full_then_weak  # v2 was refused by the gate: no alias
    fs, mr = registry(settings)
    aliases.set_shadow(
        fs,
        mr,
        settings.model_name,
        2,
        lock=aliases.move_lock(settings),
        note=aliases.MoveNote(reason="test", today=TODAY),
    )
    assert alias_versions(settings) == {"production": 1, "shadow": 2}
    with pytest.raises(ValueError, match="cannot be its own shadow"):
        aliases.set_shadow(fs, mr, settings.model_name, 1, lock=aliases.move_lock(settings))
    real_score = inference.score

    def score(fs, model, *args):
        if model.version == 2:
            raise ValueError("feature(s) ['temperature_2m_mean'] missing for 1 row(s); no prediction made")
        return real_score(fs, model, *args)

    monkeypatch.setattr(inference, "score", score)
    summary = inference.run(settings, today=TODAY)
    assert summary["served"] == [("production", 1, 1)] and summary["shadow"] is None
    assert logged(settings, summary) == {(1, 1)}
    assert summary["problems"] == [
        "shadow pm25_xgboost v2 not scored: feature(s) ['temperature_2m_mean'] missing for 1 row(s); "
        "no prediction made"
    ]


def test_registered_checksums_are_checked_on_any_backend(tmp_path: Path) -> None:
    """load_model checks the sha256 recorded at registration itself, not only the local registry's check."""

    class Meta:  # a registry whose download() checks nothing, as Hopsworks' does not
        name, version = "m", 1

        def download(self, local_path: str | None = None) -> str:
            return str(tmp_path)

    class Registry:
        def get_model(self, name: str, version: int) -> Meta:
            return Meta()

    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(RuntimeError, match=r"m version 1 failed its integrity check: model.json: sha256"):
        load_model(Registry(), "m", 1, expected_sha256={"model.json": "0" * 64})
    with pytest.raises(RuntimeError, match="plot.png: missing"):
        load_model(Registry(), "m", 1, expected_sha256={"plot.png": "0" * 64})


def test_gate_reports_for_a_passing_and_a_failing_candidate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    fs, mr = registry(settings)
    feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY))
    first = training.run(settings, today=TODAY, boost_rounds=WEAK_ROUNDS)
    assert first["gate"]["informational"]
    assert first["gate"]["reasons"][0].startswith("no production model yet")

    passing = training.run(settings, today=TODAY)  # the full model against the weak production v1
    failing = training.run(settings, today=TODAY, boost_rounds=WEAK_ROUNDS)  # the same as v1: no better
    for summary, passed in ((passing, True), (failing, False)):
        folder = Path(mr.get_model(settings.model_name, version=summary["version"]).download())
        saved = json.loads((folder / gate.REPORT_FILE).read_text())
        assert saved["passed"] is passed and saved["reference"]["version"] == 1
        assert saved["window"]["rows"] == 30 and saved["slices"]
        assert saved["decision"] == ("shadow" if passed else None)
        assert json.loads((folder / "run.json").read_text())["gate"]["passed"] is passed
    better, same = passing["gate"]["overall"], failing["gate"]["overall"]
    assert better["candidate_mae"] < 0.98 * better["reference_mae"]
    assert same["candidate_mae"] == pytest.approx(same["reference_mae"])
    assert any("is not below" in reason for reason in failing["gate"]["reasons"])
    assert "training gate: FAILED -> no alias" in training.format_metrics(failing)
    assert "training gate: PASSED -> shadow" in training.format_metrics(passing)
    assert alias_versions(settings) == {"production": 1, "shadow": 2}
    events = aliases.history(fs, settings.model_name)
    assert list(events.loc[events["event"] == "gate_failed", "model_version"]) == [3]


def test_commands_list_models_runs_and_move_aliases(
    full_then_weak: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    settings = full_then_weak
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORE_DIR", str(settings.store_dir))
    name = settings.model_name

    assert cli.main(["promote", name, "2", "--reason", "try the small one", "--by", "alice"]) == 1
    assert "v2 failed the training gate (training gate failed: MAE" in capsys.readouterr().err
    assert cli.main(["promote", name, "2", "--force", "-m", "try the small one", "--by", "alice"]) == 0
    assert "pm25_xgboost v2 is production (was v1); by alice: try the small one" in capsys.readouterr().out
    assert cli.main(["promote", name, "2"]) == 1
    assert "is production already" in capsys.readouterr().err
    assert cli.main(["promote", name, "--from-shadow"]) == 1
    assert "no shadow version to promote" in capsys.readouterr().err
    assert cli.main(["rollback", name, "-m", "too small"]) == 0
    capsys.readouterr()

    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "production v1 since" in out and "shadow     (none)" in out
    assert "rollback" in out and "too small" in out and "alice" in out
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "400" in lines["1"] and str(WEAK_ROUNDS) in lines["2"]  # parameters differ between the runs
    assert "production" in lines["1"] and "failed" in lines["2"]
    assert "2025-01-31..2025-05-31" in lines["1"]  # the train window (data version) of the run
    assert cli.main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert all(f"  {command} " in usage for command in ("promote", "rollback", "models", "runs", "monitor"))


def test_monitor_command_and_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    today = utc_today()
    settings = make_settings(tmp_path / "store")
    feature.run(settings, today=today - dt.timedelta(days=2), source=SyntheticSource(today=today))
    training.run(settings, today=today)
    for offset in (2, 1, 0):
        one_day(settings, today - dt.timedelta(days=offset))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORE_DIR", str(settings.store_dir))
    assert cli.main(["monitor"]) == 0
    out = capsys.readouterr().out
    assert "hindcast accuracy of pm25_xgboost" in out and "production" in out
    assert "feature drift of production v1 (air_quality_weather v1)" in out
    assert "temperature_2m_mean" in out and "pm25_lag_1" in out

    model = aliases.load_serving(*registry(settings), settings.model_name, record=False).production
    table, info = monitoring.feature_drift(model, settings.location.key, today, bins=5, threshold=0.25)
    assert info["recent_rows"] == 7
    # Calendar features are not compared: a week of day_of_year is never distributed like a season.
    assert set(table["feature"]) == set(model.feature_names) - monitoring.CALENDAR_FEATURES
    expected = (table["psi"] >= 0.25) & (table["psi"] > table["typical_psi"].fillna(0.0))
    assert (table["drift"] == expected).all()


def test_shadow_days_count_only_days_after_it_became_shadow() -> None:
    rows = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-03"], utc=True),
            "model_version": [2, 2, 2, 1],
            "role": ["shadow", "shadow", "shadow", "production"],
            "actual_pm25": [1.0, 2.0, 3.0, 3.0],
        }
    )
    assert len(monitoring.live_days(rows, 2, "shadow", dt.date(2025, 1, 1))) == 2
    assert len(monitoring.live_days(rows, 2, "shadow", dt.date(2025, 1, 3))) == 0
    assert len(monitoring.live_days(rows, 1, "shadow", dt.date(2024, 12, 1))) == 0
