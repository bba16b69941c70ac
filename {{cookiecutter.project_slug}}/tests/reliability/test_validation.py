"""Validation on insert: every rule of every suite refuses bad data, strict writes nothing and quarantines.

The suites are data (``expectations.py``); the embedded store evaluates them on every insert, the
feature pipeline checks both of its batches before writing either, and on Hopsworks the same
rules are attached as a Great Expectations suite (checked here against hsfs when it is installed).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from local_hopsworks import LocalProject
from local_hopsworks.expectations import ValidationError, evaluate
from support import assert_same_state, store_state

from {{ cookiecutter.package_name }}.catalog import (
    AIR_QUALITY_FG,
    PREDICTIONS_FG,
    WEATHER_FG,
    feature_groups,
    predictions_group,
)
from {{ cookiecutter.package_name }}.features import expectations
from {{ cookiecutter.package_name }}.features.air_quality import air_quality_features, calendar_features
from {{ cookiecutter.package_name }}.features.weather import weather_features
from {{ cookiecutter.package_name }}.pipelines import feature
from {{ cookiecutter.package_name }}.sources.base import Location
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource

TODAY = dt.date(2025, 3, 31)
BETWEEN = "expect_column_values_to_be_between"
PLACE = Location("testville", "Testville", 50.0, 10.0)


def good_batches(days: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return valid weather and air-quality rows for ``days`` days before TODAY."""
    source = SyntheticSource(today=TODAY)
    start = TODAY - dt.timedelta(days=days - 1)
    weather = calendar_features(weather_features(source.fetch_weather(PLACE, start, TODAY), PLACE.key))
    air = air_quality_features(source.fetch_pm25(PLACE, start, TODAY), PLACE.key)
    return weather, air


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Path, object, object]:
    """A store whose groups (created the pipelines' way, with suites) hold 20 good days."""
    root = tmp_path / "store"
    fs = LocalProject(root).get_feature_store()
    weather_fg, air_fg = feature_groups(fs)
    weather, air = good_batches()
    weather_fg.insert(weather)
    air_fg.insert(air)
    return root, weather_fg, air_fg


def _set(df: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    out = df.copy()
    if value is None or isinstance(value, str):
        out[column] = out[column].astype(object)
    out.loc[out.index[row], column] = value
    return out


def _future(df: pd.DataFrame, days: int) -> pd.DataFrame:
    out = df.copy()
    out.loc[out.index[-1], "date"] = pd.Timestamp.now(tz="UTC").normalize() + pd.Timedelta(days=days)
    return out


def case(group: str, breakage, rule: str, column: str):
    return pytest.param(group, breakage, rule, column, id=f"{group}-{rule.split('_', 1)[1]}-{column}")


BREAKAGES = [
    case(AIR_QUALITY_FG, lambda d: _set(d, 3, "pm25", -4.0), "expect_column_values_to_be_between", "pm25"),
    case(AIR_QUALITY_FG, lambda d: _set(d, 3, "pm25", 1500.0), "expect_column_values_to_be_between", "pm25"),
    case(AIR_QUALITY_FG, lambda d: _set(d, 3, "pm25", np.nan), "expect_column_values_to_not_be_null", "pm25"),
    case(
        AIR_QUALITY_FG,
        lambda d: _set(d, 5, "pm25_lag_1", -1.0),
        "expect_column_values_to_be_between",
        "pm25_lag_1",
    ),
    case(AIR_QUALITY_FG, lambda d: _set(d, 3, "pm25", "12.5"), "expect_column_values_to_be_of_type", "pm25"),
    case(AIR_QUALITY_FG, lambda d: _future(d, 3), "expect_column_max_to_be_between", "date"),
    case(
        AIR_QUALITY_FG,
        lambda d: pd.concat([d, d.iloc[[2]]], ignore_index=True),
        "expect_compound_columns_to_be_unique",
        "location, date",
    ),
    case(WEATHER_FG, lambda d: _set(d, 1, "wind_speed_10m_max", -3.0), BETWEEN, "wind_speed_10m_max"),
    case(WEATHER_FG, lambda d: _set(d, 1, "precipitation_sum", -0.1), BETWEEN, "precipitation_sum"),
    case(WEATHER_FG, lambda d: _set(d, 1, "temperature_2m_mean", 75.0), BETWEEN, "temperature_2m_mean"),
    case(
        WEATHER_FG,
        lambda d: _set(d, -1, "temperature_2m_mean", np.nan),
        "expect_column_values_to_not_be_null",
        "temperature_2m_mean",
    ),
    case(
        WEATHER_FG,
        lambda d: _set(d, 2, "wind_direction_10m_dominant", 400.0),
        BETWEEN,
        "wind_direction_10m_dominant",
    ),
    case(WEATHER_FG, lambda d: _future(d, 30), "expect_column_max_to_be_between", "date"),
]


@pytest.mark.parametrize(("group", "breakage", "rule", "column"), BREAKAGES)
def test_strict_refuses_the_whole_batch_and_quarantines_it(seeded, group, breakage, rule, column) -> None:
    root, weather_fg, air_fg = seeded
    fg = air_fg if group == AIR_QUALITY_FG else weather_fg
    weather, air = good_batches(days=10)
    batch = breakage(air if group == AIR_QUALITY_FG else weather)
    before = store_state(root)
    with pytest.raises(ValidationError) as caught:
        fg.insert(batch)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert f"{rule}({column}" in message, message
    assert "nothing was written" in message and "e.g. {" in message, message
    assert_same_state(before, store_state(root))

    (folder,) = (root / "quarantine" / f"{group}_1").iterdir()
    assert caught.value.quarantine == str(folder)
    stored = pd.read_parquet(folder / "batch.parquet")
    assert len(stored) == len(batch) and list(stored.columns) == list(batch.columns)
    report = json.loads((folder / "report.json").read_text())
    assert report["success"] is False and report["ingestion_result"] == "REJECTED"
    failed = [r for r in report["results"] if not r["success"]]
    assert any(r["expectation_config"]["expectation_type"] == rule for r in failed)
    assert all(r["result"].get("examples") or r.get("exception_info") for r in failed)


def test_error_names_every_failing_rule_with_example_rows(seeded) -> None:
    _, _, air_fg = seeded
    _, air = good_batches(days=10)
    bad = _future(_set(_set(air, 2, "pm25", -7.5), 4, "pm25", -8.5), 5)
    with pytest.raises(ValidationError) as caught:
        air_fg.insert(bad)
    lines = [line for line in str(caught.value).splitlines() if line.startswith("  - ")]
    assert len(lines) == 2, lines
    future, between = sorted(lines)
    assert "expect_column_values_to_be_between(pm25" in between and "2 of 10 rows unexpected" in between
    assert "'pm25': -7.5" in between and "'pm25': -8.5" in between and "'location': 'testville'" in between
    assert "expect_column_max_to_be_between(date" in future and "max_value=" in future


def test_policy_always_writes_and_keeps_the_report(tmp_path: Path) -> None:
    fs = LocalProject(tmp_path / "store").get_feature_store()
    fg = fs.get_or_create_feature_group(
        name=AIR_QUALITY_FG, version=2, primary_key=["location", "date"], event_time="date"
    )
    fg.save_expectation_suite(expectations.suite(AIR_QUALITY_FG), validation_ingestion_policy="always")
    _, air = good_batches(days=10)
    _, report = fg.insert(_set(air, 1, "pm25", -2.0))
    assert report["success"] is False and report["ingestion_result"] == "INGESTED"
    assert len(fg.read()) == 10
    (folder,) = (tmp_path / "store" / "validation_reports" / f"{AIR_QUALITY_FG}_2").iterdir()
    assert json.loads((folder / "report.json").read_text())["statistics"]["unsuccessful_expectations"] == 1
    assert not (tmp_path / "store" / "quarantine").exists()
    _, report = fg.insert(air, validation_options={"run_validation": False})
    assert report is None


def test_a_refused_first_batch_does_not_fix_the_schema(tmp_path: Path) -> None:
    fs = LocalProject(tmp_path / "store").get_feature_store()
    _, air_fg = feature_groups(fs)
    _, air = good_batches(days=10)
    as_text = air.assign(pm25=air["pm25"].map(str))
    with pytest.raises(ValidationError, match="expect_column_values_to_be_of_type"):
        air_fg.insert(as_text)
    air_fg = feature_groups(fs)[1]
    assert air_fg.features == []  # hsfs: a group not yet written has no features
    air_fg.insert(air)
    assert air_fg.get_feature("pm25").type == "double"


def test_pipelines_create_every_group_with_its_strict_suite(tmp_path: Path) -> None:
    fs = LocalProject(tmp_path / "store").get_feature_store()
    groups = [*feature_groups(fs), predictions_group(fs)]
    assert [fg.name for fg in groups] == [WEATHER_FG, AIR_QUALITY_FG, PREDICTIONS_FG]
    assert set(expectations.SUITES) == {WEATHER_FG, AIR_QUALITY_FG, PREDICTIONS_FG}
    for fg in groups:
        suite = fg.get_expectation_suite(ge_type=False)
        assert suite.validation_ingestion_policy == "STRICT" and suite.run_validation
        assert [e.to_json_dict()["kwargs"] for e in suite.expectations] == [
            e["kwargs"] for e in expectations.expectations(fg.name, fg.version)
        ]
        assert not expectations.ensure_suite(fg), "an identical suite must not be saved again"


def test_groups_without_a_suite_get_one_before_the_pipeline_writes(tmp_path: Path, settings) -> None:
    settings = settings.model_copy(update={"backfill_days": 30})
    fs = LocalProject(settings.store_dir).get_feature_store()
    old = fs.get_or_create_feature_group(
        name=AIR_QUALITY_FG,
        version=1,
        primary_key=["location", "date"],
        event_time="date",
        online_enabled=True,
    )
    assert old.get_expectation_suite(ge_type=False) is None
    feature.run(settings, today=TODAY, source=SyntheticSource(today=TODAY))
    suite = fs.get_feature_group(AIR_QUALITY_FG, 1).get_expectation_suite(ge_type=False)
    assert suite is not None and suite.validation_ingestion_policy == "STRICT"


class BadPm25Source(SyntheticSource):
    """The simulator with a broken sensor: one negative PM2.5 day."""

    def fetch_pm25(self, location, start, end):
        frame = super().fetch_pm25(location, start, end)
        if len(frame) > 3:
            frame.loc[frame.index[-3], "pm25"] = -12.0
        return frame


def test_the_feature_pipeline_writes_neither_group_when_one_batch_fails(settings) -> None:
    settings = settings.model_copy(update={"backfill_days": 30})
    feature.run(settings, today=TODAY - dt.timedelta(days=5), source=SyntheticSource(today=TODAY))
    before = store_state(settings.store_dir)
    with pytest.raises(ValidationError) as caught:
        feature.run(settings, today=TODAY, source=BadPm25Source(today=TODAY))
    message = str(caught.value)
    assert "air_quality v1" in message and "expect_column_values_to_be_between(pm25" in message
    assert "-12.0" in message and "weather v1" not in message
    assert_same_state(
        before, store_state(settings.store_dir)
    )  # the valid weather batch was not written either
    (folder,) = (settings.store_dir / "quarantine" / "air_quality_1").iterdir()
    assert (pd.read_parquet(folder / "batch.parquet")["pm25"] == -12.0).sum() == 1


# ------------------------------------------------------------------------------------- the evaluator


def test_evaluator_follows_great_expectations_semantics() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, None, 50.0], "k": [1, 2, 3, 3]})
    rules = [
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "x", "min_value": 0, "max_value": 10},
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "x", "max_value": 10, "mostly": 0.6},
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "x", "min_value": 1, "strict_min": True, "max_value": 100},
        },
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x", "mostly": 0.7}},
        {"expectation_type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["k"]}},
        {"expectation_type": "expect_column_max_to_be_between", "kwargs": {"column": "x", "max_value": 50}},
        {
            "expectation_type": "expect_column_values_to_be_of_type",
            "kwargs": {"column": "k", "type_": "int64"},
        },
        {"expectation_type": "expect_column_to_exist", "kwargs": {"column": "nope"}},
    ]
    report = evaluate(df, rules)
    assert [r["success"] for r in report["results"]] == [False, True, False, True, False, True, True, False]
    first = report["results"][0]["result"]
    # Nulls are not counted as unexpected (GE semantics): 1 of the 3 non-null values is out of range.
    assert first["unexpected_count"] == 1 and first["unexpected_percent"] == pytest.approx(100 / 3)
    assert first["partial_unexpected_list"] == [50.0]
    assert report["results"][4]["result"]["unexpected_count"] == 2
    assert report["statistics"]["unsuccessful_expectations"] == 4


def test_temporal_bound_is_resolved_at_validation_time() -> None:
    rule = expectations.not_after_now("date", 1)
    df = pd.DataFrame({"date": pd.to_datetime(["2030-01-05"], utc=True)})
    assert evaluate(df, [rule], now=pd.Timestamp("2030-01-04", tz="UTC"))["success"]
    assert not evaluate(df, [rule], now=pd.Timestamp("2030-01-03 23:00", tz="UTC"))["success"]


def test_unknown_expectations_are_refused_not_ignored(tmp_path: Path) -> None:
    fs = LocalProject(tmp_path / "store").get_feature_store()
    fg = fs.get_or_create_feature_group(name="g", version=1, primary_key=["k"])
    with pytest.raises(NotImplementedError, match="expect_column_values_to_match_regex"):
        fg.save_expectation_suite(
            [{"expectation_type": "expect_column_values_to_match_regex", "kwargs": {"column": "k"}}]
        )
    with pytest.raises(NotImplementedError, match="parse_strings_as_datetimes"):
        fg.save_expectation_suite(
            [
                {
                    "expectation_type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": "k", "parse_strings_as_datetimes": True},
                }
            ]
        )
    with pytest.raises(ValueError, match="'always' or 'strict'"):
        fg.save_expectation_suite([], validation_ingestion_policy="sometimes")


# --------------------------------------------------------------------------------- Hopsworks / GE


def test_suites_convert_to_hsfs_expectation_suites() -> None:
    pytest.importorskip(
        "hsfs", reason="the hopsworks extra is not installed (CI checks this in its own venv)"
    )
    from hsfs.expectation_suite import ExpectationSuite

    for name in expectations.SUITES:
        suite = expectations.hsfs_suite(name)
        assert isinstance(suite, ExpectationSuite)
        # hsfs reads the policy from the suite object, not from save_expectation_suite's arguments.
        assert suite.validation_ingestion_policy == "STRICT" and suite.run_validation is True
        portable = [e for e in expectations.expectations(name) if expectations.is_portable(e)]
        assert len(portable) == len(expectations.expectations(name)) - 1  # only the temporal rule stays local
        assert [(e.expectation_type, e.kwargs) for e in suite.expectations] == [
            (e["expectation_type"], e["kwargs"]) for e in portable
        ]
        data = suite.to_json_dict(decamelize=True)
        assert "$PARAMETER" not in json.dumps(data)


def test_great_expectations_agrees_with_the_local_evaluator() -> None:
    pytest.importorskip("hsfs", reason="the hopsworks extra is not installed")
    gx = pytest.importorskip("great_expectations", reason="great_expectations is not installed")
    weather, air = good_batches(days=10)
    cases = {
        WEATHER_FG: [
            weather,
            _set(_set(weather, 1, "wind_speed_10m_max", -3.0), 2, "temperature_2m_mean", np.nan),
        ],
        AIR_QUALITY_FG: [air, pd.concat([_set(air, 3, "pm25", 1500.0), air.iloc[[0]]], ignore_index=True)],
    }
    for name, frames in cases.items():
        ge_suite = expectations.hsfs_suite(name).to_ge_type()
        for frame in frames:
            context = gx.get_context(mode="ephemeral")
            batch = (
                context.data_sources.add_pandas("p")
                .add_dataframe_asset("a")
                .add_batch_definition_whole_dataframe("b")
                .get_batch(batch_parameters={"dataframe": frame})
            )
            ge = batch.validate(ge_suite)
            portable = [e for e in expectations.expectations(name) if expectations.is_portable(e)]
            ours = evaluate(frame, portable)
            ge_outcomes = {
                _rule_key(r.expectation_config.type, r.expectation_config.kwargs): r.success
                for r in ge.results
            }
            our_outcomes = {
                _rule_key(r["expectation_config"]["expectation_type"], r["expectation_config"]["kwargs"]): r[
                    "success"
                ]
                for r in ours["results"]
            }
            assert ge_outcomes == our_outcomes, name
            assert not all(our_outcomes.values()) or frame is frames[0]


def _rule_key(etype: str, kwargs: dict) -> tuple[str, str]:
    return etype, str(kwargs.get("column") or list(kwargs.get("column_list") or []))
