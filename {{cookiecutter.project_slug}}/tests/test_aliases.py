"""Aliases from the history: promote, rollback and shadow need no tag, names are checked, scripts get JSON.

A small registry of models with a one-file folder each (no training), so every rule of the green and
red buttons is checked in a fraction of a second.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from local_hopsworks import LocalProject

from {{ cookiecutter.package_name }} import cli
from {{ cookiecutter.package_name }}.lifecycle import aliases
from {{ cookiecutter.package_name }}.model import file_hashes
from {{ cookiecutter.package_name }}.ops import freshness
from {{ cookiecutter.package_name }}.settings import Settings

NAME = "pm25_xgboost"
DAY = dt.date(2025, 6, 30)


def register_tiny(root: Path, versions: int, name: str = NAME, gate_failed: tuple[int, ...] = ()) -> None:
    """Register ``versions`` one-file models as training does (saved, then a ``registered`` event)."""
    project = LocalProject(root)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    for number in range(1, versions + 1):
        folder = root.parent / f"files_{name}_{number}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({"tiny": number}))
        model = mr.python.create_model(name=name, metrics={"mae": float(number)})
        model.save(str(folder))
        detail = {"sha256": file_hashes(folder), "feature_view_name": "fv", "feature_view_version": 1}
        aliases.record_event(fs, name, "registered", int(model.version), by="test", detail=detail)
        if number in gate_failed:
            aliases.record_event(
                fs, name, "gate_failed", number, by="test", reason="training gate failed: MAE"
            )


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build once: a store with three registered versions, the third refused by the gate."""
    root = tmp_path_factory.mktemp("tiny") / "store"
    register_tiny(root, 3, gate_failed=(3,))
    return root


@pytest.fixture
def tiny(tiny_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of this test's own copy of that store; the CLI reads the same store."""
    root = tmp_path / "store"
    shutil.copytree(tiny_store, root)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STORE_DIR", str(root))
    return Settings(_env_file=None, store_dir=root)


def handles(settings: Settings) -> tuple:
    project = LocalProject(settings.store_dir)
    return project.get_feature_store(), project.get_model_registry()


def held(settings: Settings) -> dict[str, tuple[int, tuple[int, ...]]]:
    fs, _ = handles(settings)
    return {k: (a.version, a.previous) for k, a in aliases.aliases(fs, NAME).items()}


def test_moves_are_events_and_need_no_tag(tiny: Settings) -> None:
    """Finding 4 of issue 11: no tag (so no tag schema an administrator must create) on either backend."""
    fs, mr = handles(tiny)
    lock = aliases.move_lock(tiny)
    aliases.promote(fs, mr, NAME, 1, lock=lock, note=aliases.MoveNote(today=DAY))
    aliases.promote(fs, mr, NAME, 2, lock=aliases.move_lock(tiny), note=aliases.MoveNote(today=DAY))
    assert held(tiny) == {"production": (2, (1,))}
    aliases.set_shadow(fs, mr, NAME, 3, lock=aliases.move_lock(tiny), note=aliases.MoveNote(today=DAY))
    assert held(tiny) == {"production": (2, (1,)), "shadow": (3, ())}
    aliases.rollback(fs, mr, NAME, lock=aliases.move_lock(tiny))
    assert held(tiny) == {"production": (1, ()), "shadow": (3, ())}
    assert all(not m.get_tags() for m in mr.get_models(NAME))
    moves = aliases.alias_moves(aliases.history(fs, NAME))
    assert [(m.alias, m.version, m.seq) for m in moves] == [
        ("production", 1, 1),
        ("production", 2, 2),
        ("shadow", 3, 3),
        ("production", 1, 4),
    ]


def test_a_version_holds_one_alias_and_a_cleared_shadow_stays_cleared(tiny: Settings) -> None:
    fs, mr = handles(tiny)
    for version in (1, 2):
        aliases.promote(fs, mr, NAME, version, lock=aliases.move_lock(tiny))
    aliases.set_shadow(fs, mr, NAME, 3, lock=aliases.move_lock(tiny), note=aliases.MoveNote(today=DAY))
    aliases.promote(fs, mr, NAME, 3, lock=aliases.move_lock(tiny), force=True)  # the shadow is promoted
    assert held(tiny) == {"production": (3, (1, 2))}
    aliases.rollback(fs, mr, NAME, lock=aliases.move_lock(tiny))  # production leaves v3: no shadow returns
    assert held(tiny) == {"production": (2, (1,))}


def test_two_moves_with_one_number_count_once() -> None:
    """What a Hopsworks race leaves (no lock there): the earlier of the two counts, for every reader."""
    first = aliases.Alias("production", 3, 5, DAY, "2025-06-30T10:00:00+00:00", "a", "", (1, 2), "e1")
    second = aliases.Alias("production", 1, 5, DAY, "2025-06-30T10:00:01+00:00", "b", "", (), "e2")
    before = aliases.Alias("production", 2, 4, DAY, "2025-06-30T09:00:00+00:00", "c", "", (1,), "e0")
    assert aliases.resolve([second, before, first])["production"] is first
    assert aliases.serving_candidates({"production": first}, None) == [3, 2, 1]
    assert aliases.serving_candidates({}, 4) == [4]


def test_a_conflict_found_after_the_write_is_an_error(
    tiny: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a lock (Hopsworks), a move that finds another one with its number after writing says so."""
    fs, mr = handles(tiny)
    aliases.promote(fs, mr, NAME, 1, lock=aliases.move_lock(tiny))
    real_history = aliases.history
    calls = {"n": 0}

    def history_missing_the_rival(fs, name):  # the read-decide part saw the history before the rival's write
        calls["n"] += 1
        events = real_history(fs, name)
        return events if calls["n"] > 1 else events[events["event_id"] != "rival"]

    detail = json.dumps({"seq": 2, "since": DAY.isoformat(), "previous": [1]})
    rival = {
        **{c: "" for c in aliases.EVENT_COLUMNS},
        **{"model_name": NAME, "event_id": "rival", "at": pd.Timestamp.now(tz="UTC"), "event": "rollback"},
        **{"model_version": 2, "from_version": 1, "alias": "production", "actor": "bob", "detail": detail},
    }
    aliases.events_group(fs).insert(pd.DataFrame([rival]))
    monkeypatch.setattr(aliases, "history", history_missing_the_rival)
    with pytest.raises(aliases.AliasConflictError, match="conflicts with a production move to v2 by bob"):
        aliases.promote(fs, mr, NAME, 3, lock=aliases.HELD, force=True)


def test_promote_of_a_version_the_gate_failed_needs_force(
    tiny: Settings, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["promote", NAME, "3"]) == 1
    assert "v3 failed the training gate" in capsys.readouterr().err
    assert held(tiny) == {}
    assert cli.main(["promote", NAME, "3", "--force", "-m", "drill"]) == 0
    assert held(tiny) == {"production": (3, ())}


@pytest.mark.parametrize("command", ["promote", "rollback", "models", "runs", "monitor"])
@pytest.mark.parametrize("name", ["../models/pm25_xgboost", "PM25", "pm25 xgboost", "/etc/passwd"])
def test_model_names_are_checked_where_typed(
    tiny: Settings, capsys: pytest.CaptureFixture, command: str, name: str
) -> None:
    """``promote ../models/pm25_xgboost 1`` moved the real model's alias: a name is a name, never a path."""
    fs, _ = handles(tiny)
    before = len(aliases.history(fs, NAME))
    argv = [command, name, "1"] if command == "promote" else [command, name]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert f"{name!r} is not a model name" in err and "Traceback" not in err
    assert len(aliases.history(fs, NAME)) == before


@pytest.mark.parametrize("command", ["promote", "rollback", "models", "runs", "monitor"])
def test_an_unknown_model_is_the_same_clear_error_everywhere(
    tiny: Settings, capsys: pytest.CaptureFixture, command: str
) -> None:
    argv = [command, "no_such_model", "1"] if command == "promote" else [command, "no_such_model"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "no model named 'no_such_model' in the registry: check the name" in err, err


def test_the_twin_refuses_a_model_name_that_is_a_path(tmp_path: Path) -> None:
    mr = LocalProject(tmp_path / "store").get_model_registry()
    with pytest.raises(ValueError, match="model name '../x' must be lowercase"):
        mr.get_model("../x", version=1)


def test_models_json_for_scripts(tiny: Settings, capsys: pytest.CaptureFixture) -> None:
    """Item 13: versions, aliases and the whole history, as JSON."""
    fs, mr = handles(tiny)
    aliases.promote(fs, mr, NAME, 1, lock=aliases.move_lock(tiny), note=aliases.MoveNote(today=DAY))
    note = aliases.MoveNote(by="alice", reason="better", today=DAY)
    aliases.promote(fs, mr, NAME, 2, lock=aliases.move_lock(tiny), note=note)
    assert cli.main(["models", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in document["versions"]] == [1, 2, 3]
    assert document["versions"][1]["alias"] == "production" and document["versions"][0]["mae"] == 1.0
    production = document["aliases"]["production"]
    assert (production["version"], production["rollback_stack"], production["by"]) == (2, [1], "alice")
    assert production["since"] == DAY.isoformat()
    events = [(e["event"], e["model_version"]) for e in document["history"]]
    assert events[-2:] == [("promote", 1), ("promote", 2)] and events.count(("registered", 3)) == 1
    assert document["history"][-1]["detail"]["seq"] == 2


def test_a_version_without_its_registered_event_is_invisible(
    tiny: Settings, capsys: pytest.CaptureFixture
) -> None:
    """A training killed after saving v4, before recording it, leaves v4 in the registry: nothing uses it."""
    fs, mr = handles(tiny)
    folder = tiny.store_dir.parent / "v4"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    mr.python.create_model(name=NAME).save(str(folder))
    assert aliases.serving_version(fs, mr, NAME) == 3
    assert list(aliases.versions_table(fs, mr, NAME)["version"]) == [1, 2, 3]
    assert cli.main(["promote", NAME, "4"]) == 1
    assert "has no registered version 4" in capsys.readouterr().err
    model_age = freshness.freshness(tiny)[-1]  # check: the newest model is v3, not the leftover
    assert model_age.newest == pd.Timestamp(mr.get_model(NAME, version=3).created)
