"""Erasure: ``erasure.forget`` deletes an entity from every table and its history, with an audit record."""

from __future__ import annotations

import json

import pandas as pd

from local_hopsworks import LocalProject, erasure
from local_hopsworks.health import deep_check
from local_hopsworks.maintenance import offline_table, store_folder


def _places(project: LocalProject):
    fs = project.get_feature_store()
    fg = fs.get_or_create_feature_group("places", 1, primary_key=["location", "day"], online_enabled=True)
    # One insert: the erasure's delete makes the next version, so the history still holds the rows.
    fg.insert(pd.DataFrame({"location": ["here", "gone", "gone"], "day": [1, 1, 2], "x": 1.0}))
    return fg


def test_forget_with_purge_leaves_only_the_other_entity(project: LocalProject) -> None:
    fg, root = _places(project), store_folder(project)
    assert erasure.forget(root, "gone", dry_run=True)["rows"] == 2
    assert not (root / "audit").exists(), "a dry run writes no record"

    record = erasure.forget(root, "gone", purge_history=True)
    assert record["rows"] == 2 and record["residual_files"] == []
    assert record["entity"] == {"column": "location", "id": erasure.entity_hash("gone")}
    assert fg.read()["location"].tolist() == ["here"]
    first = offline_table(fg).read(version=0)  # time travel cannot bring it back
    assert first.empty or not (first["location"] == "gone").any()
    (line,) = (root / erasure.AUDIT).read_text().splitlines()
    assert json.loads(line)["rows"] == 2 and "gone" not in line


def test_an_interrupted_erasure_is_listed_and_completed_by_the_next_run(project: LocalProject) -> None:
    fg, root = _places(project), store_folder(project)
    planned = {"what": "feature_group", "name": "places", "version": 1, "rows": 5}
    intent = {"run": "0123", "at": "2024-01-01T00:00:00+00:00", "entity": {"id": erasure.entity_hash("gone")}}
    (root / erasure.PENDING).mkdir(parents=True)
    (root / erasure.PENDING / "0123.json").write_text(json.dumps({**intent, "deleted": [planned]}))
    assert [f.path.name for f in deep_check(root)] == ["0123.json"]

    record = erasure.forget(root, "gone")
    assert record["rows"] == 5, "the killed run's planned count, as it may have deleted them already"
    assert record["resumes"] == [{"run": "0123", "at": intent["at"]}]
    assert erasure.pending_erasures(root) == [] and deep_check(root) == []
    assert set(fg.read()["location"]) == {"here"}
