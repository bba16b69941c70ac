"""A string filter reads every file of a table, whatever string layout delta-rs gave each file."""

from __future__ import annotations

import pandas as pd


def test_a_string_filter_after_several_upserts_reads_every_file(project) -> None:
    """delta-rs' merge writes some files with string_view columns; filters on them must still work."""
    fs = project.get_feature_store()
    fg = fs.get_or_create_feature_group(
        "places", 1, primary_key=["location", "day"], event_time="t", online_enabled=True
    )
    for v in range(3):
        batch = {
            "location": ["here", "gone", "gone"],
            "day": [1 + 10 * v, 1 + 10 * v, 2 + 10 * v],
            "t": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=v),
            "x": float(v),
        }
        fg.insert(pd.DataFrame(batch))
    rows = fg.filter(fg["location"] == "gone").read()
    assert len(rows) == 6 and set(rows["location"]) == {"gone"}
    assert len(fg.filter(fg["location"].isin(["here"])).read()) == 3
