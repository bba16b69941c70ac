"""Every store-facing function of the package gives the same result on the SDK's real classes as on the twin.

The same three pipeline runs (feature, training, inference) go to both backends with the same
settings and day; then each read of the package is compared. Wall-clock columns (when a row
was written) are left out: they differ between any two runs.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.catalog import (
    batch_features,
    day,
    feature_groups,
    get_feature_view,
    location_rows,
    predictions_group,
)
from {{ cookiecutter.package_name }}.lifecycle import aliases, monitoring
from {{ cookiecutter.package_name }}.ops.freshness import freshness
from {{ cookiecutter.package_name }}.pipelines import feature, inference, training
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.store import connect, get_secret

TODAY = dt.date(2026, 6, 1)
WALL_CLOCK = ["predicted_at", "recorded_at", "at", "event_id"]


@pytest.fixture
def backends(server, hw_settings, tmp_path, monkeypatch):
    """Return (twin settings, SDK settings) after the same first run on each."""
    monkeypatch.setenv("OPEN_METEO_API_KEY", "k-123")  # the twin's secrets are the environment
    server.registry.secrets["OPEN_METEO_API_KEY"] = "k-123"
    common = {"backfill_days": 300, "test_days": 60}
    twin = Settings(_env_file=None, store_dir=tmp_path / "twin", data_source="synthetic", **common)
    sdk = hw_settings.model_copy(update=common)
    for settings in (twin, sdk):
        feature.run(settings, today=TODAY)
        training.run(settings, today=TODAY, boost_rounds=40)
        inference.run(settings, today=TODAY)
    return twin, sdk


def frames_equal(name: str, twin: pd.DataFrame, sdk: pd.DataFrame) -> None:
    twin, sdk = (f.drop(columns=[c for c in WALL_CLOCK if c in f.columns]) for f in (twin, sdk))
    assert list(sdk.columns) == list(twin.columns), f"{name}: columns differ"
    pd.testing.assert_frame_equal(
        sdk.reset_index(drop=True), twin.reset_index(drop=True), check_dtype=False, obj=name
    )


def test_every_store_read_agrees_on_the_sdk_and_the_twin(backends):
    twin, sdk = backends
    key = twin.location.key
    stores = {name: connect(s).get_feature_store() for name, s in (("twin", twin), ("sdk", sdk))}
    registries = {name: connect(s).get_model_registry() for name, s in (("twin", twin), ("sdk", sdk))}

    def both(read):
        return read(stores["twin"]), read(stores["sdk"])

    groups = both(
        lambda fs: [(g.name, g.version, list(g.primary_key), g.event_time) for g in feature_groups(fs)]
    )
    assert groups[0] == groups[1]
    for index, name in enumerate(("weather", "air_quality")):
        frames_equal(name, *both(lambda fs, i=index: location_rows(feature_groups(fs)[i], key)))
    window = day(TODAY - dt.timedelta(days=10)), day(TODAY)
    views = both(get_feature_view)
    assert [(v.name, v.version, list(v.labels)) for v in views] == [
        (views[0].name, views[0].version, ["pm25"])
    ] * 2
    # Keys the view does not select come back as <project>_<group>_<version>_<key>: the projects differ.
    projects = [connect(s).name for s in (twin, sdk)]
    batch = [
        batch_features(v, key, *window).rename(columns=lambda c, p=p: c.replace(f"{p}_", "<project>_", 1))
        for v, p in zip(views, projects, strict=True)
    ]
    assert "<project>_air_quality_1_location" in batch[1].columns
    frames_equal("batch_features", *batch)
    frames_equal("predictions", *both(lambda fs: location_rows(predictions_group(fs), key)))

    name = twin.model_name
    events = both(lambda fs: aliases.history(fs, name)[["event", "model_version", "alias"]])
    frames_equal("model events", *events)
    held = both(lambda fs: {a: held.version for a, held in aliases.aliases(fs, name).items()})
    assert held[0] == held[1] == {aliases.PRODUCTION: 1}
    versions = [sorted(int(m.version) for m in mr.get_models(name)) for mr in registries.values()]
    assert versions[0] == versions[1] == [1]
    frames_equal("monitoring", *both(lambda fs: monitoring.monitoring_rows(fs, key, name)))

    fresh = [[(row.what, row.ok) for row in freshness(s, today=TODAY)] for s in (twin, sdk)]
    assert fresh[0] == fresh[1]
    secrets = [
        (get_secret(connect(s), "OPEN_METEO_API_KEY"), get_secret(connect(s), "NO_SUCH")) for s in (twin, sdk)
    ]
    assert secrets[0] == secrets[1] == ("k-123", None)
