"""Alias moves and trainings at the same instant, and trainings killed while registering, in real processes.

Run as a script (``python test_model_lifecycle.py STORE KIND ...``) this file is the worker process:
``cli ARGS...`` runs one command of the command line, ``train`` one training run, both after
printing ``READY`` (the training: after fitting) and reading ``GO``, so that two workers start their
read-decide-write together; ``crash POINT`` trains and stops at ``POINT`` of registration, printing
``PAUSE POINT``, for the test to SIGKILL it there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from local_hopsworks import LocalProject
from support import SRC, TODAY, location_settings

from {{ cookiecutter.package_name }}.lifecycle import aliases
from {{ cookiecutter.package_name }}.model import file_hashes
from {{ cookiecutter.package_name }}.pipelines import feature, training
from {{ cookiecutter.package_name }}.sources.synthetic import SyntheticSource

NAME = "pm25_xgboost"
RACE_ROUNDS = 10  # today's rates: promote vs rollback 7 of 10, two promotes 3 of 5 (P(miss) < 1e-3)
TRAINING_ROUNDS = 3
CRASH_POINTS = ["files-copied", "metadata-written", "saved", "registered"]
CRASH_ROUNDS = 2  # kills per point


# ------------------------------------------------------------------------------------------------ workers


class Worker:
    """A worker process of this file that waits for ``GO`` after announcing it is ready."""

    def __init__(self, store: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
        env.update(STORE_DIR=str(store), DATA_SOURCE="synthetic", BACKFILL_DAYS="60", TEST_DAYS="14")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(store), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=store.parent,  # never a developer's .env
        )

    def wait_for(self, word: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(word):
                return line.strip()
        stderr = self.proc.stderr.read() if self.proc.stderr is not None else ""
        raise AssertionError(f"worker never printed {word}: {stderr[-3000:]}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("GO\n")
        self.proc.stdin.flush()

    def result(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=600)  # only to stop a hang
        return self.proc.returncode, out, err


def race(store: Path, *commands: list[str]) -> list[tuple[int, str, str]]:
    """Start one worker per command, let them all go at once; return their exit codes and output."""
    workers = [Worker(store, *command) for command in commands]
    for worker in workers:
        worker.wait_for("READY")
    for worker in workers:
        worker.go()
    return [worker.result() for worker in workers]


def worker_main(argv: list[str]) -> int:
    store, kind, rest = Path(argv[0]), argv[1], argv[2:]
    if kind == "crash":
        install_crash_point(rest[0])
        training.run(location_settings(store), today=TODAY)
        return 0
    if kind == "train":
        real_fit = training.fit

        def fit_then_wait(*args: Any, **kwargs: Any) -> Any:
            booster = real_fit(*args, **kwargs)
            print("READY", flush=True)
            sys.stdin.readline()
            return booster

        training.fit = fit_then_wait
        print("ALIAS", training.run(location_settings(store), today=TODAY)["alias"], flush=True)
        return 0
    from {{ cookiecutter.package_name }} import cli

    aliases.history(LocalProject(store).get_feature_store(), NAME)  # imports and first read done before GO
    print("READY", flush=True)
    sys.stdin.readline()
    return cli.main(rest)


def install_crash_point(point: str) -> None:
    """Stop the next registration at ``point``, announce ``PAUSE point`` and wait to be killed."""
    import time

    from local_hopsworks import registry

    from {{ cookiecutter.package_name }}.lifecycle import registration

    def pause() -> None:
        print(f"PAUSE {point}", flush=True)
        time.sleep(600)

    real_write, real_record = registry.write_json_atomic, aliases.record_event

    def write(path: Path, data: Any) -> None:
        if point == "files-copied" and path.name == "model.json":
            pause()
        real_write(path, data)
        if point == "metadata-written" and path.name == "model.json":
            pause()

    def record(fs: Any, name: str, event: str, *args: Any, **kwargs: Any) -> Any:
        if (point, event) == ("saved", "registered") or (
            point == "registered" and event in ("promote", "shadow", "gate_failed")
        ):
            pause()
        return real_record(fs, name, event, *args, **kwargs)

    registry.write_json_atomic = write
    aliases.record_event = registration.record_event = record


# ------------------------------------------------------------------------------------------------ stores


def tiny_store(root: Path) -> Path:
    """A store with three registered one-file versions; v2 is production, v1 its rollback target."""
    project = LocalProject(root)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    for number in (1, 2, 3):
        folder = root.parent / f"files_{number}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(json.dumps({"tiny": number}))
        model = mr.python.create_model(name=NAME, metrics={"mae": float(number)})
        model.save(str(folder))
        aliases.record_event(
            fs, NAME, "registered", number, by="test", detail={"sha256": file_hashes(folder)}
        )
    settings = location_settings(root)
    for number in (1, 2):
        aliases.promote(fs, mr, NAME, number, lock=aliases.move_lock(settings))
    return root


def production_moves(store: Path) -> list[dict[str, Any]]:
    events = aliases.history(LocalProject(store).get_feature_store(), NAME)
    return events[events["event"].isin(["promote", "rollback"])].to_dict("records")


def assert_moves_chain(store: Path, results: list[tuple[int, str, str]]) -> None:
    """Fail unless the moves form one chain (each replaced the one before it) and the winners are in it.

    A lost move shows as two moves replacing the same version, one alias overwriting the other.
    """
    moves = production_moves(store)
    for before, after in zip(moves, moves[1:], strict=False):
        assert after["from_version"] == before["model_version"], (
            f"two moves replaced v{before['from_version']}: "
            f"{[(m['event'], m['model_version']) for m in moves]}"
        )
    for code, _, err in results:
        assert code == 0 or "conflict" in err, err  # a refused move says why
    settled = aliases.aliases(LocalProject(store).get_feature_store(), NAME)["production"]
    assert settled.version == moves[-1]["model_version"]
    assert sum(code == 0 for code, _, _ in results) == len(moves) - 2  # the seed made two moves


@pytest.mark.heavy
def test_promote_and_rollback_at_the_same_instant(tmp_path: Path) -> None:
    """10 rounds (today: 7 of 10 gave two production aliases with one number, both reporting success)."""
    seed = tiny_store(tmp_path / "seed" / "store")
    for round_ in range(RACE_ROUNDS):
        store = tmp_path / f"round{round_}" / "store"
        shutil.copytree(seed, store)
        results = race(store, ["cli", "promote", NAME, "3"], ["cli", "rollback", NAME])
        assert_moves_chain(store, results)


@pytest.mark.heavy
def test_two_promotes_at_the_same_instant(tmp_path: Path) -> None:
    """10 rounds (today: 3 of 5 lost one of the two promotions)."""
    seed = tiny_store(tmp_path / "seed" / "store")
    for round_ in range(RACE_ROUNDS):
        store = tmp_path / f"round{round_}" / "store"
        shutil.copytree(seed, store)
        results = race(store, ["cli", "promote", NAME, "3"], ["cli", "promote", NAME, "1"])
        assert_moves_chain(store, results)


@pytest.fixture(scope="module")
def featured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with features and no model."""
    root = tmp_path_factory.mktemp("featured") / "store"
    feature.run(location_settings(root), today=TODAY, source=SyntheticSource(today=TODAY))
    return root


@pytest.mark.heavy
def test_two_first_trainings_at_once_are_judged_one_after_the_other(featured: Path, tmp_path: Path) -> None:
    """3 rounds: both fit, then decide at the same instant. Today both said "PASSED -> production"."""
    for round_ in range(TRAINING_ROUNDS):
        store = tmp_path / f"round{round_}" / "store"
        shutil.copytree(featured, store)
        results = race(store, ["train"], ["train"])
        assert all(code == 0 for code, _, _ in results), [err[-2000:] for _, _, err in results]
        said = [
            line.split()[1] for _, out, _ in results for line in out.splitlines() if line.startswith("ALIAS")
        ]
        assert sorted(said) in (["None", "production"], ["production", "shadow"]), said
        project = LocalProject(store)
        fs, mr = project.get_feature_store(), project.get_model_registry()
        second = aliases.history(fs, NAME).query("event in ('shadow', 'gate_failed')")["model_version"]
        report = json.loads(
            (
                Path(mr.get_model(NAME, version=int(second.iloc[0])).download()) / "gate_report.json"
            ).read_text()
        )
        assert report["reference"]["kind"] == "production", report["reference"]


def assert_nothing_half_registered(store: Path, production: int) -> None:
    """Nothing lists, serves or promotes a version whose registration did not complete."""
    project = LocalProject(store)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    events = aliases.history(fs, NAME)
    registered = aliases.registered_versions(events)
    assert set(aliases.versions_table(fs, mr, NAME)["version"]) == registered
    assert aliases.serving_version(fs, mr, NAME) == production
    for version in registered:
        assert aliases.registered_files(events, version), f"v{version} has no sha256 recorded"
        assert mr.get_model(NAME, version=version) is not None


@pytest.mark.heavy
@pytest.mark.parametrize("round_", range(CRASH_ROUNDS))
def test_sigkill_at_each_point_of_registration(featured: Path, tmp_path: Path, round_: int) -> None:
    """4 points x 2 rounds = 8 kills.

    Today: folders without metadata, and versions without a ``registered`` event, listed and served.
    """
    seed = tmp_path / "seed" / "store"
    shutil.copytree(featured, seed)
    training.run(location_settings(seed), today=TODAY)  # v1, production
    workers = {}
    for point in CRASH_POINTS:  # one store per point, killed concurrently to keep the test short
        store = tmp_path / point / "store"
        shutil.copytree(seed, store)
        workers[point] = (store, Worker(store, "crash", point))
    for point, (_, worker) in workers.items():
        assert worker.wait_for("PAUSE") == f"PAUSE {point}"
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(60)
    for point, (store, _) in workers.items():
        assert_nothing_half_registered(store, production=1)
        summary = training.run(location_settings(store), today=TODAY)  # the next run succeeds
        assert summary["version"] in aliases.registered_versions(
            aliases.history(LocalProject(store).get_feature_store(), NAME)
        ), point
        assert_nothing_half_registered(store, production=1)
        folder = store / "models" / NAME
        leftovers = [p.name for p in folder.iterdir() if not (p / "model.json").exists()]
        assert leftovers == [], f"{point}: {leftovers} left behind"


if __name__ == "__main__":
    raise SystemExit(worker_main(sys.argv[1:]))
