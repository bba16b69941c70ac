"""One damaged model version stops nothing else, and every error about it names the file.

Kinds of damage tried on the registry's metadata file (``models/<name>/<version>/model.json``):
garbage bytes, truncated JSON, an empty file, JSON of another kind (a list), the metadata of
another version. On the model file itself (``files/model.json``): one changed byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from local_hopsworks import LocalProject
from support import TODAY, location_settings

from {{ cookiecutter.package_name }} import cli, ui
from {{ cookiecutter.package_name }}.lifecycle import aliases
from {{ cookiecutter.package_name }}.pipelines import inference, training

NAME = "pm25_xgboost"
DAMAGE = {
    "garbage": lambda text: "\x00\xff not json",
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "a list": lambda text: "[1, 2]",
    "another version": lambda text: text.replace('"version": 2', '"version": 1'),
}


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory, two_locations: Path) -> Path:
    """The reliability store with a second training: v1 production, v2 refused by the gate."""
    root = tmp_path_factory.mktemp("two_versions") / "store"
    shutil.copytree(two_locations, root)
    assert training.run(location_settings(root), today=TODAY)["version"] == 2
    return root


@pytest.fixture
def store(two_versions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    shutil.copytree(two_versions, root)
    monkeypatch.chdir(tmp_path)
    for key, value in {"STORE_DIR": str(root), "DATA_SOURCE": "synthetic", "BACKFILL_DAYS": "60"}.items():
        monkeypatch.setenv(key, value)
    return root


def metadata(root: Path, version: int) -> Path:
    return root / "models" / NAME / str(version) / "model.json"


@pytest.mark.heavy
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_old_version_stops_nothing(store: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    """Today a damaged v2 (never served) stopped inference, training, check, models, runs, monitor, the UI."""
    path = metadata(store, 2)
    path.write_text(DAMAGE[kind](path.read_text()))
    settings = location_settings(store)
    assert inference.run(settings, today=TODAY)["version"] == 1
    assert training.run(settings, today=TODAY)["version"] == 3
    for command in (["models"], ["runs"], ["monitor"], ["check"], ["models", "--json"]):
        code = cli.main(command)
        out, err = capsys.readouterr()
        assert "Traceback" not in err, (command, err)
        if command == ["check"]:  # the fixture's data are old: stale, and nothing else
            assert err.count("error") == 1 and "error: stale:" in err, err
        else:
            assert code == 0 and "error" not in err, (command, err)
        if command[0] in ("models", "runs"):
            assert str(path) in out, (command, out)  # the damaged version is listed with its file
    assert "v1" in ui.load_overview(settings)
    text, history = ui.show_models(settings)
    assert "production:** v1" in text and not history.empty
    for handler in (ui.show_forecast, ui.show_hindcast, ui.show_drift):  # their data may be old, not broken
        note = handler(settings)[1]
        assert "unreadable" not in note and "cannot serve" not in note, (handler.__name__, note)


@pytest.mark.heavy
def test_damage_to_the_serving_version_names_the_file(store: Path, capsys: pytest.CaptureFixture) -> None:
    path = metadata(store, 1)
    path.write_text(DAMAGE["truncated"](path.read_text()))
    assert cli.main(["inference"]) == 1
    err = capsys.readouterr().err
    assert f"metadata file {path} is unreadable" in err and "Traceback" not in err
    assert cli.main(["models"]) == 0  # the listing still works, and says which file
    assert str(path) in capsys.readouterr().out


@pytest.mark.heavy
def test_a_changed_model_file_of_an_old_version_stops_nothing(
    store: Path, capsys: pytest.CaptureFixture
) -> None:
    mr = LocalProject(store).get_model_registry()
    model_file = store / "models" / NAME / "2" / "files" / "model.json"
    model_file.write_text(model_file.read_text().replace('"', ' "', 1))
    settings = location_settings(store)
    assert inference.run(settings, today=TODAY)["version"] == 1
    assert cli.main(["runs"]) == 0
    assert "model.json: sha256 differs" in capsys.readouterr().out
    assert [m.version for m in mr.get_models(NAME)] == [1, 2]
    assert aliases.serving_version(LocalProject(store).get_feature_store(), mr, NAME) == 1
