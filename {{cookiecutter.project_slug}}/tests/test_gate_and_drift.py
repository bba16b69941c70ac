"""Pure functions of the training gate, the aliases' tag format, PSI drift and the monitoring rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.lifecycle import gate, monitoring

GATE = {"margin": 0.02, "slice_max_worse": 0.25, "min_slice_rows": 5}


def frame(days: int = 28, start: str = "2025-06-02") -> pd.DataFrame:
    """Four weeks from a Monday: actual 10, reference off by 1 every day."""
    dates = pd.date_range(start, periods=days, freq="D", tz="UTC")
    return pd.DataFrame({"date": dates, "actual": 10.0, "reference": 11.0, "candidate": 11.0})


def test_a_better_candidate_passes_and_says_why() -> None:
    rows = frame().assign(candidate=10.5)
    report = gate.evaluate(rows, **GATE, reference={"label": "production v1"})
    assert report["passed"] is True
    assert report["overall"] == pytest.approx(
        {"candidate_mae": 0.5, "reference_mae": 1.0, "required_below": 0.98, "ok": True}
    )
    assert report["reasons"][0] == "MAE 0.500 is below 0.980 = 0.98 x reference MAE 1.000 (margin 0.02)"
    assert report["reasons"][1] == "no slice worse than +25% (1 of 8 slices judged)"  # weekdays: 4 days
    assert report["window"] == {"start": "2025-06-02", "end": "2025-06-29", "rows": 28}
    slices = {(s["slice"], s["value"]): s for s in report["slices"]}
    assert set(slices) == {("season", "Jun-Aug"), *(("weekday", d) for d in gate.WEEKDAYS)}
    assert slices[("weekday", "Mon")]["rows"] == 4 and not slices[("weekday", "Mon")]["judged"]


def test_an_equal_candidate_fails_the_margin() -> None:
    report = gate.evaluate(frame(), **GATE)
    assert report["passed"] is False and report["overall"]["ok"] is False
    assert report["reasons"][0] == "MAE 1.000 is not below 0.980 = 0.98 x reference MAE 1.000 (margin 0.02)"
    loose = gate.evaluate(frame(), **{**GATE, "margin": -0.05})  # a negative margin lets a tie through
    assert loose["passed"] is True


def test_a_worse_slice_fails_a_better_candidate() -> None:
    rows = frame(days=35).assign(candidate=10.2)
    sundays = rows["date"].dt.dayofweek == 6
    rows.loc[sundays, "candidate"] = 11.5  # 5 Sundays, each 50% worse than the reference
    report = gate.evaluate(rows, **GATE)
    assert report["overall"]["ok"] is True and report["passed"] is False
    reason = "slice weekday=Sun: MAE 1.500 is +50% vs reference 1.000 (bound +25%, 5 days)"
    assert report["reasons"][1] == reason
    # The same slice with fewer days than the minimum is reported, not judged.
    lenient = gate.evaluate(rows, **{**GATE, "min_slice_rows": 6})
    assert lenient["passed"] is True


def test_no_common_rows_fails_with_a_reason() -> None:
    report = gate.evaluate(frame().assign(reference=np.nan), **GATE)
    assert report["passed"] is False and report["window"]["rows"] == 0
    assert "no test day has both" in report["reasons"][0]
    with pytest.raises(ValueError, match="missing column"):
        gate.evaluate(frame().drop(columns="reference"), **GATE)


def test_report_is_written_as_json_and_printed_as_a_table(tmp_path) -> None:
    report = gate.evaluate(frame().assign(candidate=10.5), **GATE, reference={"label": "production v1"})
    report["decision"] = "shadow"
    path = gate.write_report(report, tmp_path)
    assert path.name == gate.REPORT_FILE
    assert json.loads(path.read_text())["overall"]["candidate_mae"] == 0.5
    table = gate.format_report(report)
    assert table.splitlines()[0] == "training gate: PASSED -> shadow"
    assert "MAE (all days)          28      0.500      1.000   -50.0%  ok" in table
    assert "weekday=Mon              4      0.500      1.000   -50.0%  (too few days)" in table


def test_season_slices_are_month_groups() -> None:
    dates = pd.Series(pd.to_datetime(["2025-01-15", "2025-04-01", "2025-12-31"], utc=True))
    labels = gate.slice_labels(dates)
    assert list(labels["season"]) == ["Dec-Feb", "Mar-May", "Dec-Feb"]
    assert list(labels["weekday"]) == ["Wed", "Tue", "Wed"]


def test_psi_known_values() -> None:
    expected = np.arange(100.0)  # quartiles: 25 values per bin
    actual = np.array([10.0] * 8 + [30.0] * 4 + [60.0] * 2 + [90.0] * 2)  # shares 1/2, 1/4, 1/8, 1/8
    # Textbook PSI: 0.25 ln 2 + 0 + 2 * 0.125 ln 2 = 0.5 ln 2
    assert monitoring.psi(expected, actual, bins=4, smoothing=0) == pytest.approx(0.5 * math.log(2))
    # Smoothed by 0.5 per bin: shares (8.5, 4.5, 2.5, 2.5) / 18 against 25.5 / 102 = 1/4.
    a = np.array([8.5, 4.5, 2.5, 2.5]) / 18
    by_hand = float(np.sum((a - 0.25) * np.log(a / 0.25)))
    assert by_hand == pytest.approx(0.27195, abs=1e-5)
    assert monitoring.psi(expected, actual, bins=4) == pytest.approx(by_hand)
    assert monitoring.psi(expected, expected, bins=4) == pytest.approx(0.0)
    assert monitoring.psi(expected, [200.0] * 5, bins=4, smoothing=0) == math.inf
    assert math.isnan(monitoring.psi(expected, [np.nan], bins=4))
    assert monitoring.psi([1.0] * 50, [1.0] * 7, bins=5) == pytest.approx(0.0)  # one distinct value: one bin
    with pytest.raises(ValueError, match="bins must be at least 2"):
        monitoring.psi(expected, actual, bins=1)


def test_drift_table_marks_features_at_the_threshold() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"stable": rng.normal(size=400), "shifted": rng.normal(size=400)})
    week = pd.DataFrame({"stable": rng.normal(size=7), "shifted": rng.normal(loc=4.0, size=7)})
    table = monitoring.drift_table(train, week, ["stable", "shifted", "absent"], bins=5, threshold=0.7)
    assert list(table["feature"]) == ["stable", "shifted"]
    assert table.set_index("feature")["drift"].to_dict() == {"stable": False, "shifted": True}


def test_outcome_rows_keep_the_first_recorded_outcome() -> None:
    dates = pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"], utc=True)
    predictions = pd.DataFrame(
        {
            "location": "x",
            "date": list(dates) * 2,
            "model_name": "m",
            "model_version": [1, 1, 1, 2, 2, 2],
            "horizon_days": 1,
            "predicted_pm25": [5.0, 6.0, 7.0, 5.5, 6.5, 7.5],
            "feature_view": "fv",
            "feature_view_version": [1, 1, 1, 2, 2, 2],
        }
    )
    actuals = pd.DataFrame({"date": dates[:2], "actual_pm25": [6.0, 6.0]})
    now = pd.Timestamp("2025-01-03", tz="UTC")
    rows = monitoring.outcome_rows(predictions, actuals, {1: "production", 2: "shadow"}, now)
    assert list(zip(rows["model_version"], rows["role"], rows["abs_error"], strict=True)) == [
        (1, "production", 1.0),
        (2, "shadow", 0.5),
        (1, "production", 0.0),
        (2, "shadow", 0.5),
    ]
    assert set(rows["feature_view_version"]) == {1, 2}
    # The next run records only what is new: v2 is production now, but its recorded days keep "shadow".
    again = monitoring.outcome_rows(predictions, actuals, {2: "production"}, now, known=rows)
    assert again.empty
    accuracy = monitoring.accuracy_over_time(rows)
    assert set(accuracy["series"]) == {"v1 (production)", "v2 (shadow)"}
    by_version = monitoring.accuracy_by_version(rows).set_index("version")
    assert by_version.loc[1, "mae"] == pytest.approx(0.5) and by_version.loc[2, "days"] == 2
