"""Model aliases, the green button (promote) and the red button (rollback), and their history.

Every registration, gate decision, promotion, rollback and load failure is appended to the
``model_events`` feature group (who, when, why): the history the ``models`` command and the UI
show, and where the training pipeline records each version's file checksums (sha256) so that
loading a model verifies them on any backend. A version with no ``registered`` event (a training
killed between saving and recording it) is not listed, served or promoted.

Each model name has a ``production`` alias and at most one ``shadow`` alias. The aliases are
derived from that history, so they need nothing an administrator must set up (model tags need a
tag schema on Hopsworks): every move is an event carrying a sequence number, the day it took
effect and, for production, the rollback stack. The newest move per alias decides, and a version
holds one alias at a time (a later move onto it clears the other).

Moves are read-decide-write. On the embedded store they hold a lock file across all three, so
concurrent moves (and first trainings) apply one after the other. Hopsworks has no such lock: each
move re-reads the history after writing, and a move that finds another one with its sequence
number raises ``AliasConflictError`` (see ``docs/reliability.md`` for the limits).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import logging
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..catalog import feature_of, utc_times, utc_today
from ..model import LoadedModel, load_model
from ..settings import Settings
from ..store import exclusive
from .gate import jsonable
from .monitoring import live_days, monitoring_rows

log = logging.getLogger(__name__)

PRODUCTION = "production"
SHADOW = "shadow"
MOVES = {"promote": PRODUCTION, "rollback": PRODUCTION, "shadow": SHADOW}  # event -> the alias it moves
EVENTS_FG = "model_events"
EVENTS_VERSION = 1
HISTORY_ROWS = 20
EVENT_COLUMNS = [
    "model_name",
    "event_id",
    "at",
    "event",
    "model_version",
    "from_version",
    "alias",
    "actor",
    "reason",
    "detail",
]
# What failing to load a model raises: integrity (RuntimeError), unreadable files (ValueError,
# OSError), a missing version (LookupError).
LOAD_ERRORS = (RuntimeError, ValueError, OSError, LookupError)
# Names both registries accept; anything else (a path such as ../models/x) is refused before use.
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
HELD = contextlib.nullcontext()  # pass as ``lock`` when the caller holds the move lock already


class AliasConflictError(RuntimeError):
    """Another alias move was recorded with the same sequence number: one of the two was lost."""


@dataclass(frozen=True)
class Alias:
    """An alias held by a model version, as recorded by the move event that set it."""

    alias: str
    version: int
    seq: int
    since: dt.date  # the day it took effect: shadow days are counted after it
    at: str  # wall-clock time of the move (UTC, ISO)
    by: str
    reason: str
    previous: tuple[int, ...] = ()  # production versions before this one, oldest first
    event_id: str = ""


def default_actor() -> str:
    """Return who is acting: the login name, or ``unknown``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user database entry (containers)
        return "unknown"


def move_lock(settings: Settings) -> contextlib.AbstractContextManager[Any]:
    """Return the store lock every alias decision holds from its read to its write (none on Hopsworks)."""
    return exclusive(settings, "model_aliases")


def check_model_name(name: str) -> str:
    """Return ``name`` when it is a valid model name.

    Raises:
        ValueError: If it is not (a path, capitals, spaces): it would name another file or nothing.
    """
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a model name: lowercase letters, digits and _, starting with a letter "
            "(e.g. pm25_xgboost)"
        )
    return name


def _require_registered(name: str, version: int, events: pd.DataFrame) -> None:
    if int(version) not in registered_versions(events):
        raise LookupError(f"model {name!r} has no registered version {version}")


def known_model(fs: Any, mr: Any, name: str) -> pd.DataFrame:
    """Check that ``name`` is a valid name the registry knows; return its history.

    Raises:
        ValueError: If the name is not valid.
        LookupError: If no version of it is registered.
    """
    events = history(fs, check_model_name(name))
    if not registered_versions(events) and not mr.get_models(name):
        raise LookupError(
            f"no model named {name!r} in the registry: check the name (MODEL_NAME sets the default) "
            "or run the training pipeline first"
        )
    return events


# ------------------------------------------------------------------------------------------------ aliases


def _detail(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def alias_moves(events: pd.DataFrame) -> list[Alias]:
    """Return every alias move in a model's history, oldest first.

    Moves recorded before they carried a sequence number are numbered by their order.
    """
    if events.empty:
        return []
    rows = events[events["event"].isin(list(MOVES))].sort_values(["at", "event_id"])
    moves = []
    for order, row in enumerate(rows.to_dict("records"), start=1):
        detail = _detail(row["detail"])
        at = pd.Timestamp(row["at"])
        moves.append(
            Alias(
                alias=MOVES[row["event"]],
                version=int(row["model_version"]),
                seq=int(detail.get("seq", order)),
                since=dt.date.fromisoformat(str(detail.get("since") or at.date().isoformat())[:10]),
                at=at.isoformat(),
                by=str(row["actor"]),
                reason=str(row["reason"]),
                previous=tuple(int(v) for v in detail.get("previous", detail.get("rollback_to")) or ()),
                event_id=str(row["event_id"]),
            )
        )
    return moves


def _first_per_seq(moves: list[Alias]) -> list[Alias]:
    """Return the moves that count: of two with one sequence number (a conflict), the earlier one."""
    kept: dict[int, Alias] = {}
    for move in sorted(moves, key=lambda m: (m.seq, m.at, m.event_id)):
        kept.setdefault(move.seq, move)
    return list(kept.values())


def resolve(moves: list[Alias]) -> dict[str, Alias]:
    """Return the aliases the moves leave: the newest move per alias, one alias per version."""
    counted = _first_per_seq(moves)
    newest: dict[str, Alias] = {}
    for move in counted:
        newest[move.alias] = move  # counted is in sequence order
    return {
        name: held
        for name, held in newest.items()
        if not any(m.alias != name and m.version == held.version and m.seq > held.seq for m in counted)
    }


def aliases(fs: Any, name: str, events: pd.DataFrame | None = None) -> dict[str, Alias]:
    """Return the aliases of a model name: ``{"production": Alias, "shadow": Alias}`` where set."""
    return resolve(alias_moves(history(fs, name) if events is None else events))


def serving_version(fs: Any, mr: Any, name: str) -> int:
    """Return the production version, or the newest registered one when there is no production alias.

    Raises:
        LookupError: If no version of ``name`` is registered.
    """
    events = history(fs, name)
    alias = aliases(fs, name, events).get(PRODUCTION)
    return alias.version if alias is not None else newest_registered(name, events)


def newest_registered(name: str, events: pd.DataFrame) -> int:
    """Return the newest version with a ``registered`` event.

    Raises:
        LookupError: If there is none.
    """
    versions = registered_versions(events)
    if not versions:
        raise LookupError(f"no model named {name!r} in the registry: run the training pipeline first")
    return max(versions)


def serving_candidates(found: dict[str, Alias], newest: int | None) -> list[int]:
    """Return the versions to try for serving, in order: production, then its rollback stack."""
    production = found.get(PRODUCTION)
    if production is None:
        return [] if newest is None else [newest]
    return list(dict.fromkeys([production.version, *reversed(production.previous)]))


def feature_versions_in_use(fs: Any, name: str) -> list[int]:
    """Return the feature view versions of production, shadow and the version a rollback would serve.

    The feature pipeline keeps these fresh, so every model that may serve tomorrow has features.
    Read from the ``registered`` events, so a damaged registry entry cannot stop the pipeline.
    """
    events = history(fs, name)
    found = aliases(fs, name, events)
    versions = {a.version for a in found.values()}
    production = found.get(PRODUCTION)
    if production is not None and production.previous:
        versions.add(production.previous[-1])
    used = {registration(events, v).get("feature_view_version") for v in versions}
    return sorted(int(v) for v in used if v is not None)


# -------------------------------------------------------------------------------------------------- moves


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _new_alias(
    alias: str,
    version: int,
    events: pd.DataFrame,
    by: str | None,
    reason: str,
    today: dt.date | None,
    previous: tuple[int, ...] = (),
) -> Alias:
    """Return the alias a move sets, numbered after every move so far (conflicting ones included)."""
    seq = 1 + max((m.seq for m in alias_moves(events)), default=0)
    at = _now().isoformat()
    return Alias(alias, int(version), seq, today or utc_today(), at, by or default_actor(), reason, previous)


def _write_move(
    fs: Any, name: str, event: str, alias: Alias, from_version: int, detail: dict[str, Any]
) -> dict[str, Any]:
    """Record a move, then re-read the history: a concurrent move with its number is a conflict.

    Raises:
        AliasConflictError: If another move has the same sequence number (says which one counts).
    """
    state = {"seq": alias.seq, "since": alias.since.isoformat(), "previous": list(alias.previous)}
    row = record_event(
        fs,
        name,
        event,
        alias.version,
        from_version=from_version,
        alias=alias.alias,
        by=alias.by,
        reason=alias.reason,
        detail={**detail, **state},
    )
    rivals = [m for m in alias_moves(history(fs, name)) if m.seq == alias.seq]
    if len(rivals) > 1:
        counted = _first_per_seq(rivals)[0]
        others = [m for m in rivals if m.event_id != row["event_id"]]
        fate = "this move counts" if counted.event_id == row["event_id"] else "this move was lost"
        raise AliasConflictError(
            f"{name}: {event} of v{alias.version} conflicts with "
            + ", ".join(f"a {m.alias} move to v{m.version} by {m.by}" for m in others)
            + f" made at the same time (both number {alias.seq}); {fate}. "
            f"Check `models {name}` and repeat the move that is still wanted."
        )
    return row


def _shadow_to_promote(
    fs: Any,
    name: str,
    found: dict[str, Alias],
    version: int | None,
    location: str | None,
    min_shadow_days: int,
) -> tuple[int, dict[str, Any]]:
    """Return the shadow version and its evidence, when it has enough days of hindcast.

    Raises:
        LookupError: If there is no shadow version.
        ValueError: If ``version`` is another one, the location is missing or the days are too few.
    """
    shadow = found.get(SHADOW)
    if shadow is None:
        raise LookupError(f"model {name!r} has no shadow version to promote")
    if version is not None and version != shadow.version:
        raise ValueError(f"--from-shadow promotes the shadow version v{shadow.version}, not v{version}")
    if location is None:
        raise ValueError("promote --from-shadow needs the location whose hindcast counts")
    evidence = shadow_evidence(fs, location, name, shadow, found.get(PRODUCTION))
    days = evidence["shadow_days"]
    if days < min_shadow_days:
        raise ValueError(
            f"shadow {name} v{shadow.version} has {days} day(s) of hindcast since it became shadow on "
            f"{shadow.since}; promote --from-shadow needs at least {min_shadow_days} (SHADOW_MIN_DAYS)"
        )
    return shadow.version, evidence


def _check_promotable(mr: Any, name: str, version: int, events: pd.DataFrame, force: bool) -> None:
    """Refuse a version that is not (completely) registered, or that the gate failed without ``force``."""
    _require_registered(name, version, events)
    mr.get_model(name, version=version)  # unreadable metadata raises here, naming the file
    verdicts = events[(events["model_version"] == version) & events["event"].isin(["gate_failed", "promote"])]
    if not force and not verdicts.empty and verdicts["event"].iloc[-1] == "gate_failed":
        raise ValueError(
            f"{name} v{version} failed the training gate ({verdicts['reason'].iloc[-1].split('; ')[0]}); "
            "promote --force to make it production anyway"
        )


def promote(
    fs: Any,
    mr: Any,
    name: str,
    version: int | None = None,
    *,
    lock: contextlib.AbstractContextManager[Any],
    from_shadow: bool = False,
    min_shadow_days: int = 0,
    location: str | None = None,
    force: bool = False,
    by: str | None = None,
    reason: str = "",
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The green button: make ``version`` (or the shadow version) production; return the event.

    The version it replaces goes on the rollback stack. With ``from_shadow``, the shadow version is
    promoted only when the monitoring group holds at least ``min_shadow_days`` days of its hindcast.
    ``lock`` (``move_lock(settings)``, or ``HELD``) is held from reading the aliases to the write.

    Raises:
        LookupError: If the version, or with ``from_shadow`` a shadow version, does not exist.
        ValueError: If the version is production already, failed the gate (without ``force``), or
            the shadow has too few days.
        AliasConflictError: If a concurrent move got the same sequence number (Hopsworks).
    """
    with lock:
        events = known_model(fs, mr, name)
        found = aliases(fs, name, events)
        evidence: dict[str, Any] = {}
        if from_shadow:
            version, evidence = _shadow_to_promote(fs, name, found, version, location, min_shadow_days)
        if version is None:
            raise ValueError("name the version to promote, or use --from-shadow")
        production = found.get(PRODUCTION)
        if production is not None and production.version == version:
            raise ValueError(f"{name} v{version} is production already")
        _check_promotable(mr, name, int(version), events, force or from_shadow)
        stack = (*production.previous, production.version) if production is not None else ()
        previous = tuple(v for v in stack if v != version)
        alias = _new_alias(PRODUCTION, int(version), events, by, reason, today, previous)
        detail = {**evidence, "from_shadow": from_shadow, "forced": force, "rollback_to": list(previous[-1:])}
        return _write_move(fs, name, "promote", alias, production.version if production else 0, detail)


def rollback(
    fs: Any,
    mr: Any,
    name: str,
    *,
    lock: contextlib.AbstractContextManager[Any],
    by: str | None = None,
    reason: str = "",
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The red button: make the previous production version production again; return the event.

    Raises:
        LookupError: If there is no production version or nothing to roll back to.
        AliasConflictError: If a concurrent move got the same sequence number (Hopsworks).
    """
    with lock:
        events = known_model(fs, mr, name)
        production = aliases(fs, name, events).get(PRODUCTION)
        if production is None:
            raise LookupError(f"model {name!r} has no production version to roll back")
        if not production.previous:
            raise LookupError(
                f"{name} v{production.version} has no previous production version to roll back to"
            )
        previous = production.previous[:-1]
        alias = _new_alias(PRODUCTION, production.previous[-1], events, by, reason, today, previous)
        detail = {"rollback_to": list(previous[-1:])}
        return _write_move(fs, name, "rollback", alias, production.version, detail)


def set_shadow(
    fs: Any,
    mr: Any,
    name: str,
    version: int,
    *,
    lock: contextlib.AbstractContextManager[Any],
    by: str | None = None,
    reason: str = "",
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Make ``version`` the shadow (it replaces any shadow); return the event.

    Raises:
        ValueError: If ``version`` is the production version.
        AliasConflictError: If a concurrent move got the same sequence number (Hopsworks).
    """
    with lock:
        events = known_model(fs, mr, name)
        found = aliases(fs, name, events)
        production, old = found.get(PRODUCTION), found.get(SHADOW)
        if production is not None and production.version == version:
            raise ValueError(f"{name} v{version} is production: it cannot be its own shadow")
        _require_registered(name, version, events)
        alias = _new_alias(SHADOW, int(version), events, by, reason, today)
        return _write_move(fs, name, "shadow", alias, old.version if old is not None else 0, {})


def shadow_evidence(
    fs: Any, location: str, name: str, shadow: Alias, production: Alias | None
) -> dict[str, Any]:
    """Return how the shadow did since it became shadow, next to production on the same days."""
    rows = monitoring_rows(fs, location, name)
    mine = live_days(rows, shadow.version, SHADOW, shadow.since)
    evidence: dict[str, Any] = {
        "shadow_version": shadow.version,
        "shadow_since": shadow.since.isoformat(),
        "shadow_days": len(mine),
        "shadow_mae": float(mine["abs_error"].mean()) if len(mine) else None,
    }
    if production is not None and len(mine):
        theirs = rows[(rows["model_version"] == production.version) & rows["date"].isin(mine["date"])]
        theirs = theirs.drop_duplicates("date")
        evidence["production_version"] = production.version
        evidence["production_mae_same_days"] = float(theirs["abs_error"].mean()) if len(theirs) else None
    return evidence


# ------------------------------------------------------------------------------------------------ history


def events_group(fs: Any) -> Any:
    """Return the append-only ``model_events`` feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name=EVENTS_FG,
        version=EVENTS_VERSION,
        description="Append-only history of model registrations, gate decisions, promotions and rollbacks",
        primary_key=["model_name", "event_id"],
        event_time="at",
        online_enabled=False,
    )


def record_event(
    fs: Any,
    name: str,
    event: str,
    version: int,
    *,
    from_version: int = 0,
    alias: str = "",
    by: str | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one event (a new primary key: nothing is ever overwritten) and return it.

    ``from_version`` 0 means none.
    """
    at = _now()
    row = {
        "model_name": name,
        "event_id": f"{at.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}",
        "at": at,
        "event": event,
        "model_version": int(version),
        "from_version": int(from_version),
        "alias": alias,
        "actor": by or default_actor(),
        "reason": reason,
        "detail": json.dumps(jsonable(detail or {}), sort_keys=True),
    }
    # wait_for_job: on Hopsworks the history is readable when the command returns (ignored locally).
    events_group(fs).insert(pd.DataFrame([row]), write_options={"wait_for_job": True})
    log.info(
        "model event: %s %s v%s (%s) by %s: %s", event, name, version, alias or "-", row["actor"], reason
    )
    return row


def history(fs: Any, name: str) -> pd.DataFrame:
    """Return the events of a model name, oldest first (empty with ``EVENT_COLUMNS`` when none)."""
    group = events_group(fs)
    model_name = feature_of(group, "model_name")  # None: nothing written yet, so no schema
    rows = utc_times(group.filter(model_name == name).read()) if model_name is not None else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return rows[EVENT_COLUMNS].sort_values(["at", "event_id"], ignore_index=True)


def registered_versions(events: pd.DataFrame) -> set[int]:
    """Return the versions whose registration completed (they have a ``registered`` event)."""
    if events.empty:
        return set()
    return {int(v) for v in events.loc[events["event"] == "registered", "model_version"]}


def registration(events: pd.DataFrame, version: int) -> dict[str, Any]:
    """Return the detail of ``version``'s ``registered`` event (sha256, feature view), or ``{}``."""
    if events.empty:
        return {}
    mine = events[(events["event"] == "registered") & (events["model_version"] == version)]
    return _detail(mine["detail"].iloc[-1]) if not mine.empty else {}


def registered_files(events: pd.DataFrame, version: int) -> dict[str, str] | None:
    """Return the sha256 of each file recorded when ``version`` was registered, or None."""
    files = registration(events, version).get("sha256")
    return dict(files) if files else None


# ------------------------------------------------------------------------------------------------ loading


def load_checked(
    fs: Any, mr: Any, name: str, version: int, events: pd.DataFrame | None = None
) -> LoadedModel:
    """Load a registered model version, checking its files against the sha256 recorded at registration.

    Raises:
        LookupError: If ``version`` has no ``registered`` event (its registration never completed).
        ModelIntegrityError: (a RuntimeError) If a file differs from its registration.
    """
    events = history(fs, name) if events is None else events
    _require_registered(name, version, events)
    expected = registered_files(events, version)
    if expected is None:
        log.warning(
            "no registered sha256 for %s v%s in %s: relying on the registry's check", name, version, EVENTS_FG
        )
    return load_model(mr, name, version, expected_sha256=expected)


@dataclass
class Serving:
    """The models inference serves: production (or the fallback for it) and the shadow, if any."""

    production: LoadedModel
    shadow: LoadedModel | None
    aliases: dict[str, Alias]
    problems: list[str]
    fallback: bool = False


def _load_or_report(
    fs: Any,
    mr: Any,
    name: str,
    version: int,
    events: pd.DataFrame,
    problems: list[str],
    record: bool,
    role: str = PRODUCTION,
) -> LoadedModel | None:
    """Return the loaded version, or None after noting (and with ``record`` recording) why it failed."""
    try:
        return load_checked(fs, mr, name, version, events)
    except LOAD_ERRORS as exc:
        what = "skipped" if role == SHADOW else "cannot serve"
        problems.append(f"{'shadow ' if role == SHADOW else ''}{name} v{version} {what}: {exc}")
        log.error("%s", problems[-1])
        if record:
            record_event(fs, name, "load_failure", version, by="inference pipeline", reason=str(exc)[:500])
        return None


def load_serving(fs: Any, mr: Any, name: str, *, record: bool = True, with_shadow: bool = True) -> Serving:
    """Load production and shadow; when production fails to load, serve the previous good version.

    A failure is logged, listed in ``problems`` and (with ``record``) appended to the history
    as a ``load_failure`` event; the aliases are not changed: moving production stays a human
    decision (``rollback``).

    Raises:
        LookupError: If no model is registered.
        RuntimeError: If no version on the rollback stack can be loaded either.
    """
    events = known_model(fs, mr, name)
    found = aliases(fs, name, events)
    newest = None if PRODUCTION in found else newest_registered(name, events)
    if newest is not None:
        log.warning("model %s has no production alias: serving the newest version v%s", name, newest)
    problems: list[str] = []
    candidates = serving_candidates(found, newest)
    production = None
    for version in candidates:
        production = _load_or_report(fs, mr, name, version, events, problems, record)
        if production is not None:
            break
    if production is None:
        raise RuntimeError(f"no version of {name} can serve: " + "; ".join(problems))
    fallback = production.version != candidates[0]
    if fallback:
        problems.append(f"serving the previous production version {name} v{production.version} instead")
        log.error("%s", problems[-1])
    shadow_alias = found.get(SHADOW)
    shadow = None
    if with_shadow and shadow_alias is not None:
        shadow = _load_or_report(fs, mr, name, shadow_alias.version, events, problems, record, SHADOW)
    return Serving(production, shadow, found, problems, fallback)


# ------------------------------------------------------------------------------------------------ tables


def created_text(value: Any) -> str:
    """Return a model's creation time as ``YYYY-MM-DD HH:MM`` (ISO text locally, epoch ms on Hopsworks)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    stamp = pd.Timestamp(value, unit="ms") if isinstance(value, (int, float)) else pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Registered:
    """A registered version as the tables show it; ``meta`` is None when its entry cannot be read."""

    version: int
    meta: Any
    problem: str  # why the registry entry cannot be read, or ""
    alias: str
    recorded: dict[str, Any]  # the ``registered`` event's detail (sha256, feature view, training dataset)
    metrics: dict[str, Any]
    created: str


def registered_models(fs: Any, mr: Any, name: str, events: pd.DataFrame) -> list[Registered]:
    """Return every registered version, oldest first.

    A version whose metadata cannot be read is listed with the error (it names the file), so one
    damaged entry never hides the others.
    """
    listed = {int(m.version): m for m in mr.get_models(name) or []}
    by_version = {alias.version: alias.alias for alias in aliases(fs, name, events).values()}
    out = []
    for version in sorted(registered_versions(events)):
        meta, problem = listed.get(version), ""
        if meta is None:
            try:
                meta = mr.get_model(name, version=version)
                problem = "" if meta is not None else "missing from the registry"
            except LOAD_ERRORS as exc:
                problem = f"metadata unreadable: {exc}"
        metrics = (meta.training_metrics if meta is not None else None) or {}
        created = created_text(getattr(meta, "created", None))
        alias, recorded = by_version.get(version, ""), registration(events, version)
        out.append(Registered(version, meta, problem, alias, recorded, metrics, created))
    return out


def versions_table(fs: Any, mr: Any, name: str, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per registered version: alias, feature view and training dataset versions,
    created, test MAE, and any problem with its registry entry."""
    events = history(fs, name) if events is None else events
    rows = [
        {
            "version": entry.version,
            "alias": entry.alias,
            "feature_view": f"{entry.recorded.get('feature_view_name', '?')} "
            f"v{entry.recorded.get('feature_view_version')}",
            "training_dataset": entry.recorded.get("training_dataset_version"),
            "created": entry.created,
            "mae": entry.metrics.get("mae"),
            "baseline_mae": entry.metrics.get("baseline_mae"),
            "problem": entry.problem,
        }
        for entry in registered_models(fs, mr, name, events)
    ]
    columns = ["version", "alias", "feature_view", "training_dataset", "created", "mae", "baseline_mae"]
    return pd.DataFrame(rows, columns=[*columns, "problem"])


def _shortened(text: str, chars: int | None) -> str:
    return text if chars is None or len(text) <= chars else text[: chars - 3] + "..."


def history_table(
    events: pd.DataFrame, rows: int = HISTORY_ROWS, reason_chars: int | None = 100
) -> pd.DataFrame:
    """Return the newest ``rows`` events, newest first, for display (reasons cut at ``reason_chars``)."""
    if events.empty:
        return pd.DataFrame(columns=["at", "event", "version", "from", "alias", "by", "reason"])
    recent = events.sort_values(["at", "event_id"], ascending=False).head(rows)
    return pd.DataFrame(
        {
            "at": recent["at"].map(lambda t: pd.Timestamp(t).strftime("%Y-%m-%d %H:%M:%S")),
            "event": recent["event"],
            "version": recent["model_version"].map(lambda v: f"v{v}"),
            "from": recent["from_version"].map(lambda v: f"v{v}" if v else ""),
            "alias": recent["alias"],
            "by": recent["actor"],
            "reason": recent["reason"].map(lambda r: _shortened(r, reason_chars)),
        }
    ).reset_index(drop=True)


def models_document(fs: Any, mr: Any, name: str) -> dict[str, Any]:
    """Return versions, aliases and the whole history of a model as JSON-ready data (``models --json``)."""
    events = known_model(fs, mr, name)
    found = aliases(fs, name, events)
    history_rows = events.assign(detail=events["detail"].map(_detail)).to_dict("records")
    return jsonable(
        {
            "model": name,
            "versions": versions_table(fs, mr, name, events).to_dict("records"),
            "aliases": {
                key: {
                    "version": a.version,
                    "since": a.since,
                    "at": a.at,
                    "by": a.by,
                    "reason": a.reason,
                    "seq": a.seq,
                    "rollback_stack": list(a.previous),
                }
                for key, a in found.items()
            },
            "history": history_rows,
        }
    )
