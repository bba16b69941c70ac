"""Reads give the same rows in the same order whatever history of inserts wrote them.

The twin sorts each insert by event time then primary key, merges upserts keeping that order,
compacts small files, and reads sorted runs back in order (``row_order``). Three histories of
the same final rows must give identical training data and reads: one time-ordered insert, one
shuffled insert, and daily appends with an out-of-order backfill and upserted corrections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local_hopsworks import LocalProject
from local_hopsworks.maintenance import offline_table
from local_hopsworks.offline import COMPACT_AT_FILES
from local_hopsworks.row_order import order_rows

LOCATIONS = ["oslo", "bergen", "tromsø", "o'k"]
DAYS = 40  # more daily appends than COMPACT_AT_FILES: compaction runs
BACKFILL = range(10, 14)  # days that arrive last, out of order


def weather_rows(rng: np.random.Generator) -> pd.DataFrame:
    """Return one row per location and day, all locations at the same instant (ties in time)."""
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D", tz="UTC")
    frame = pd.DataFrame([(loc, date) for date in dates for loc in LOCATIONS], columns=["location", "date"])
    frame["temp"] = rng.standard_normal(len(frame))
    frame["wind"] = rng.integers(0, 40, len(frame))
    return frame


def label_rows(rng: np.random.Generator) -> pd.DataFrame:
    """Return labels at noon, two days a week per location (later than the weather rows)."""
    dates = pd.date_range("2024-01-03 12:00", periods=DAYS - 2, freq="D", tz="UTC")
    frame = pd.DataFrame(
        [(loc, date) for date in dates for loc in LOCATIONS if (date.day + len(loc)) % 3 == 0],
        columns=["location", "date"],
    )
    frame["pm25"] = rng.standard_normal(len(frame))
    return frame


def daily_history(frame: pd.DataFrame, rng: np.random.Generator) -> list[pd.DataFrame]:
    """Return daily shuffled appends (backfill days held back), the backfill, then corrections."""
    day = ((frame["date"] - frame["date"].min()) // pd.Timedelta(days=1)).to_numpy()
    backfill = np.isin(day, list(BACKFILL))
    wrong = rng.random(len(frame)) < 0.1
    arrived = frame.copy()
    values = [c for c in frame.columns if c not in ("location", "date")]
    arrived.loc[wrong, values] = arrived.loc[wrong, values] + 100
    batches = [
        arrived.iloc[rng.permutation(np.flatnonzero((day == d) & ~backfill))]
        for d in range(int(day.max()) + 1)
        if ((day == d) & ~backfill).any()
    ]
    batches.append(frame.iloc[rng.permutation(np.flatnonzero(backfill))])
    batches.append(frame.iloc[rng.permutation(np.flatnonzero(wrong))])
    return batches


def build(folder, history: str, weather: pd.DataFrame, labels: pd.DataFrame):
    """Write both groups with ``history``; return the store and a training view joining them."""
    fs = LocalProject(folder).get_feature_store()
    rng = np.random.default_rng(3)
    groups = {}
    for name, frame, online in (("weather", weather, True), ("air_quality", labels, False)):
        fg = fs.get_or_create_feature_group(
            name=name, version=1, primary_key=["location", "date"], event_time="date", online_enabled=online
        )
        if history == "ordered":
            batches = [frame]
        elif history == "shuffled":
            batches = [frame.iloc[rng.permutation(len(frame))]]
        else:
            batches = daily_history(frame, rng)
        for batch in batches:
            fg.insert(batch.reset_index(drop=True))
        groups[name] = fg
    query = (
        groups["air_quality"].select_all().join(groups["weather"].select(["temp", "wind"]), on=["location"])
    )
    fv = fs.get_or_create_feature_view(name="training", version=1, query=query, labels=["pm25"])
    return fs, groups, fv


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    """Return, per history, the store's training data and both groups' reads."""
    rng = np.random.default_rng(11)
    weather, labels = weather_rows(rng), label_rows(rng)
    results = {}
    for history in ("ordered", "shuffled", "daily"):
        fs, groups, fv = build(tmp_path_factory.mktemp(history), history, weather, labels)
        x, y = fv.training_data(primary_key=True, event_time=True)
        results[history] = (x, y, groups["weather"].read(), groups["air_quality"].read())
    return weather, labels, results


@pytest.mark.parametrize("history", ["shuffled", "daily"])
def test_training_data_and_reads_do_not_depend_on_the_insert_history(histories, history) -> None:
    _, _, results = histories
    for got, want in zip(results[history], results["ordered"], strict=True):
        pd.testing.assert_frame_equal(got, want)  # content, order, dtypes, index


def test_reads_come_in_event_time_then_primary_key_order(histories) -> None:
    weather, labels, results = histories
    x, y, weather_read, label_read = results["daily"]
    want = weather.sort_values(["date", "location"], ignore_index=True)
    pd.testing.assert_frame_equal(weather_read, want, check_dtype=False)
    assert list(x["date"]) == sorted(x["date"])
    assert len(x) == len(y) == len(labels)
    keys = list(zip(label_read["date"], label_read["location"], strict=True))
    assert keys == sorted(keys)


def test_daily_appends_are_compacted(project) -> None:
    fs = project.get_feature_store()
    fg = fs.get_or_create_feature_group(name="daily", version=1, primary_key=["k"], event_time="t")
    days = pd.date_range("2024-01-01", periods=COMPACT_AT_FILES + 5, freq="D", tz="UTC")
    for i, day in enumerate(days):
        fg.insert(pd.DataFrame({"k": [1, 2], "t": [day, day], "v": [float(i), -float(i)]}))
    assert len(offline_table(fg).open().file_uris()) < COMPACT_AT_FILES  # one file per append without it
    want = pd.DataFrame(
        {
            "k": [1, 2] * len(days),
            "t": days.repeat(2),
            "v": [s * i for i in range(len(days)) for s in (1.0, -1.0)],
        }
    )
    pd.testing.assert_frame_equal(fg.read(), want, check_dtype=False)


def tables(draw_rows: list[tuple[int, int, str]], cuts: list[int], sorted_parts: list[bool]) -> pa.Table:
    """Return the rows as a table of several chunks, some of them sorted runs."""
    frame = pd.DataFrame(draw_rows, columns=["t", "k", "s"]).drop_duplicates(ignore_index=True)
    frame["t"] = pd.to_datetime(frame["t"], unit="s", utc=True)
    frame["v"] = np.arange(len(frame), dtype=np.float64)
    schema = pa.Table.from_pandas(frame, preserve_index=False).schema
    bounds = sorted({0, len(frame), *(c % (len(frame) + 1) for c in cuts)})
    parts = [frame.iloc[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    parts = [
        p.sort_values(["t", "k", "s"]) if flag else p for p, flag in zip(parts, sorted_parts, strict=False)
    ]
    return pa.concat_tables(
        [pa.Table.from_pandas(p, schema=schema, preserve_index=False) for p in parts]
        or [pa.Table.from_pandas(frame, schema=schema, preserve_index=False)]
    )


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 3), st.sampled_from(["a", "b", "é"])), max_size=40
    ),
    cuts=st.lists(st.integers(0, 40), max_size=5),
    sorted_parts=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_order_rows_sorts_like_a_full_sort(rows, cuts, sorted_parts) -> None:
    table = tables(rows, cuts, sorted_parts)
    ordered, order = order_rows(table, ["t", "k", "s"])
    got = (ordered if order is None else ordered.take(pa.array(order))).to_pandas()
    want = table.to_pandas().sort_values(["t", "k", "s"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(got, want)


def test_a_correction_into_the_past_in_a_folder_with_spaces_reads_in_order(tmp_path) -> None:
    fs = LocalProject(tmp_path / "my store {v1}").get_feature_store()
    fg = fs.get_or_create_feature_group(name="daily", version=1, primary_key=["k"], event_time="t")
    days = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    for day in days:
        fg.insert(pd.DataFrame({"k": [2, 1], "t": [day, day], "v": [0.0, 0.0]}))
    fg.insert(pd.DataFrame({"k": [1, 2], "t": [days[2], days[0]], "v": [7.0, 5.0]}))  # corrections
    fg.insert(pd.DataFrame({"k": [3], "t": [days[1]], "v": [1.0]}))  # a backfill
    got = fg.read()
    assert list(zip(got["t"], got["k"], strict=True)) == sorted(zip(got["t"], got["k"], strict=True))
    assert got["v"].tolist() == [0.0, 5.0, 0.0, 0.0, 1.0, 7.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("second", [[2, 4], [3, 4]], ids=["step back", "tie"])
def test_order_rows_sees_a_step_back_or_a_tie_where_two_chunks_meet(second) -> None:
    times = pa.timestamp("us", tz="UTC")
    chunks = [
        pa.table({"t": pa.array([1, 2, 3], times), "k": [5, 4, 3]}),
        pa.table({"t": pa.array(second, times), "k": [1, 0]}),
    ]
    table = pa.concat_tables(chunks)  # each chunk strictly increasing in time on its own
    ordered, order = order_rows(table, ["t", "k"])
    got = (ordered if order is None else ordered.take(pa.array(order))).to_pandas()
    want = table.to_pandas().sort_values(["t", "k"], ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
