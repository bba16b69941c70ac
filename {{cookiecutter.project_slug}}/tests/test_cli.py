"""The command line as a newcomer meets it: usage lines, refused arguments, the check table, location keys."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import PROGRAM, cli
from {{ cookiecutter.package_name }}.catalog import utc_today
from {{ cookiecutter.package_name }}.ops.freshness import Freshness, table
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture
def store_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("DATA_SOURCE", "synthetic")
    return tmp_path / "store"


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_each_usage_line_names_the_program(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {PROGRAM} {command} ")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (["--start", (utc_today() + dt.timedelta(days=3)).isoformat()], "is in the future"),
        (["--start", "2025-03-10", "--end", "2025-03-01"], "--start 2025-03-10 is after --end 2025-03-01"),
    ],
    ids=["future", "after-end"],
)
def test_a_window_without_days_is_an_error(
    window: list[str], message: str, store_dir, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["feature", *window])
    assert done.value.code == 2
    assert message in capsys.readouterr().err
    assert not store_dir.exists(), "nothing may be written"


@pytest.mark.parametrize("rounds", ["0", "-3", "many"])
def test_boost_rounds_below_one_are_refused(rounds: str, store_dir, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["training", "--boost-rounds", rounds])
    assert done.value.code == 2
    assert "argument --boost-rounds" in capsys.readouterr().err
    assert not store_dir.exists()


def test_check_table_has_no_negative_age_and_aligned_columns() -> None:
    now = pd.Timestamp.now(tz="UTC")
    rows = [
        Freshness("PM2.5 observations", now.floor("D"), 0.4, 2),
        Freshness("a model with a long name ahead of the clock", now, 0.0, 9),
        Freshness("predictions", None, None, 2),
    ]
    lines = table(rows).splitlines()
    header = lines[0]
    for column in ("newest", "age", "limit"):
        starts = {header.index(column)}
        for line, row in zip(lines[1:], rows, strict=True):
            cell = row.cells()[["", "", "newest", "age", "limit"].index(column)]
            starts.add(line.index(cell, len(row.what)))
        assert len(starts) == 1, f"column {column!r} does not line up:\n{table(rows)}"
    assert "-" not in "".join(row.cells()[3] for row in rows)


@pytest.mark.parametrize(
    ("name", "key"), [("Zürich", "zurich"), ("São Paulo", "sao_paulo"), ("Kraków", "krakow")]
)
def test_location_keys_drop_accents(name: str, key: str) -> None:
    assert Settings(_env_file=None, location_name=name).location.key == key


def test_a_location_without_latin_letters_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no Latin letters or digits"):
        _ = Settings(_env_file=None, location_name="北京").location
