"""Erasure: ``forget LOCATION`` deletes a location everywhere it is stored, and keeps an audit record.

The strongest check reads every file under the store folder afterwards: none may contain the
location's key (raw bytes, so Delta logs, statistics, SQLite pages and JSON are covered), and no
table-shaped file (parquet, SQLite) may hold one of its rows, decoded.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from local_hopsworks import LocalProject, erasure
from local_hopsworks.expectations import ValidationError
from local_hopsworks.maintenance import offline_table
from support import OTHER, TODAY, location_settings

from {{ cookiecutter.package_name }} import cli
from {{ cookiecutter.package_name }}.catalog import AIR_QUALITY_FG, feature_groups
from {{ cookiecutter.package_name }}.pipelines import inference
from {{ cookiecutter.package_name }}.settings import Settings, location_key

KEY = location_key(OTHER["location_name"])  # "forgetme_town"
HOME = Settings(_env_file=None).location.key  # the generated default location


def all_rows(root: Path) -> dict[str, pd.DataFrame]:
    """Every feature group's current rows, by folder name."""
    fs = LocalProject(root).get_feature_store()
    out = {}
    for meta_path in sorted((root / "feature_groups").glob("*/fg.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("features"):
            out[meta_path.parent.name] = fs.get_feature_group(meta["name"], meta["version"]).read()
    return out


def quarantine_rows(root: Path) -> None:
    """Refused batches: one of the location alone, one mixing it with the home location."""
    fs = LocalProject(root).get_feature_store()
    _, air = feature_groups(fs)
    stored = air.read()
    for locations in ([KEY], [KEY, HOME]):
        bad = stored[stored["location"].isin(locations)].groupby("location").head(3).copy()
        bad["pm25"] = -1.0
        with pytest.raises(ValidationError):
            air.insert(bad)


def register_model_for_the_location(root: Path) -> None:
    """A model version trained for the location (its run record names it)."""
    mr = LocalProject(root).get_model_registry()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "run.json").write_text(json.dumps({"location": KEY, "mae": 1.0}))
        mr.python.create_model(name="pm25_xgboost", metrics={"mae": 1.0}).save(tmp)


def scan(root: Path, entity_rows: pd.DataFrame) -> list[str]:
    """Return every place under ``root`` that still holds the location: bytes, parquet rows, SQLite rows."""
    found = []
    needle = KEY.encode()
    pairs = set(zip(entity_rows["date"].astype("int64"), entity_rows["pm25"], strict=True))
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            # SQLite removes its -shm/-wal side files when a connection closes between listing and reading.
            if path.name.endswith(("-shm", "-wal", "-journal")):
                continue
            raise
        if needle in data:
            found.append(f"{rel}: contains the key")
        if path.suffix == ".parquet":
            table = pq.read_table(path).to_pandas()
            if "location" in table.columns and (table["location"] == KEY).any():
                found.append(f"{rel}: has a row of the location")
            if {"date", "pm25"} <= set(table.columns):
                dates = pd.to_datetime(table["date"], utc=True).astype("datetime64[us, UTC]").astype("int64")
                if pairs & set(zip(dates, table["pm25"], strict=True)):
                    found.append(f"{rel}: has a (date, pm25) row of the location")
        if path.name == "online.sqlite":
            con = sqlite3.connect(path)
            for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                count = f'SELECT COUNT(*) FROM "{table}" WHERE location = ?'  # noqa: S608 (names from the file)
                if "location" in columns and con.execute(count, (KEY,)).fetchone()[0]:
                    found.append(f"{rel}: table {table} has a row of the location")
            con.close()
    return found


def entity_pm25(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The location's (date, pm25) observations that the home location does not share."""
    air = rows[f"{AIR_QUALITY_FG}_1"]
    air = air.assign(date=air["date"].astype("datetime64[us, UTC]"))
    mine, home = air[air["location"] == KEY], air[air["location"] == HOME]
    shared = set(zip(home["date"], home["pm25"], strict=True))
    return mine[[(d, v) not in shared for d, v in zip(mine["date"], mine["pm25"], strict=True)]]


def test_forget_with_purge_leaves_no_trace(store_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    root = store_copy
    quarantine_rows(root)
    register_model_for_the_location(root)
    before = all_rows(root)
    entity = entity_pm25(before)
    assert len(entity) > 30
    assert scan(root, entity), "the scan must find the location before it is forgotten"
    counts = {name: int((df["location"] == KEY).sum()) for name, df in before.items() if "location" in df}
    assert all(counts[f"{name}_1"] > 0 for name in ("weather", "air_quality", "predictions"))

    monkeypatch.setenv("STORE_DIR", str(root))
    monkeypatch.chdir(root.parent)
    assert cli.main(["forget", OTHER["location_name"], "--purge-history"]) == 0
    output = capsys.readouterr().out
    assert f"forget {KEY}: deleted" in output and "audit record appended" in output

    assert scan(root, entity) == []
    after = all_rows(root)
    for name, df in before.items():  # the other location is untouched, row for row
        if "location" in df:
            kept = df[df["location"] != KEY].sort_values(list(df.columns), ignore_index=True)
            pd.testing.assert_frame_equal(after[name].sort_values(list(df.columns), ignore_index=True), kept)

    # Time travel cannot bring it back: only the current table version is left.
    fs = LocalProject(root).get_feature_store()
    for fg in feature_groups(fs):
        first = offline_table(fg).read(version=0)
        assert first.empty or not (first["location"] == KEY).any()
        assert not (
            fg.as_of(pd.Timestamp("2000-01-01", tz="UTC")).read().get("location", pd.Series()) == KEY
        ).any()

    (line,) = (root / "audit" / "forget.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["entity"] == {"column": "location", "id": erasure.entity_hash(KEY)}
    assert record["purge_history"] is True and record["residual_files"] == []
    by_group = {
        (e["name"], e["version"]): e["rows"] for e in record["deleted"] if e["what"] == "feature_group"
    }
    for name, count in counts.items():
        group, _, version = name.rpartition("_")
        assert by_group[(group, int(version))] == count
    kinds = {e["what"] for e in record["deleted"]}
    assert {"feature_group", "training_dataset", "model", "quarantine"} <= kinds
    models = {e["version"]: e["action"] for e in record["deleted"] if e["what"] == "model"}
    assert any(a.startswith("deleted") for a in models.values())
    assert any("input example removed" in a for a in models.values())

    # The mixed quarantined batch keeps the home location's rows; the location's own batch is gone.
    batches = [pd.read_parquet(p) for p in (root / "quarantine").rglob("batch.parquet")]
    assert [set(b["location"]) for b in batches] == [{HOME}]

    # The system carries on for the remaining location.
    summary = inference.run(location_settings(root), today=TODAY)
    assert summary["rows_written"] > 0


def test_forget_without_purge_keeps_history_until_purged(store_copy: Path) -> None:
    root = store_copy
    entity = entity_pm25(all_rows(root))
    record = erasure.forget(root, KEY)
    assert all((df["location"] != KEY).all() for df in all_rows(root).values() if "location" in df)
    # Current data is clean, but old table versions (and freed online pages) still hold it: reported.
    residual = record["residual_files"]
    assert any("/offline/" in p for p in residual), residual
    assert all("/offline/" in p or p.startswith("online.sqlite") for p in residual), residual
    fs = LocalProject(root).get_feature_store()
    _, air = feature_groups(fs)
    table = offline_table(air)
    old = table.read(version=table.version() - 1)  # time travel to before the delete
    assert (old["location"] == KEY).any()

    dry = erasure.forget(root, KEY, dry_run=True)
    assert dry["rows"] == 0
    record = erasure.forget(root, KEY, purge_history=True)
    assert record["residual_files"] == [] and scan(root, entity) == []
    assert len((root / "audit" / "forget.jsonl").read_text().splitlines()) == 2


def test_dry_run_changes_nothing(store_copy: Path) -> None:
    before = all_rows(store_copy)
    record = erasure.forget(store_copy, KEY, dry_run=True)
    assert record["rows"] > 0
    after = all_rows(store_copy)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name])
    assert not (store_copy / "audit").exists()


def test_forget_keys_a_name_as_the_settings_do(
    store_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Today `forget Zürich` looked for 'z_rich', a key no row has (the store keys it 'zurich')."""
    monkeypatch.setenv("STORE_DIR", str(store_copy))
    monkeypatch.chdir(store_copy.parent)
    assert cli.main(["forget", "Zürich", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("forget zurich: would delete 0 row(s)")
