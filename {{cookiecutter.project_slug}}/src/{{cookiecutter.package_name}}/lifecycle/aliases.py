"""Model aliases (production, shadow), the green (promote) and red (rollback) buttons, and their history.

Every registration, gate verdict, alias move and load failure is an event of the append-only
``model_events`` group; the aliases are derived from the moves (``docs/reliability.md``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..catalog import utc_times, utc_today
from ..model import LoadedModel, load_model
from ..settings import Settings
from ..store import exclusive
from .gate import jsonable
from .monitoring import live_days, monitoring_rows

log = logging.getLogger(__name__)

PRODUCTION = "production"
SHADOW = "shadow"
MOVES = {"promote": PRODUCTION, "rollback": PRODUCTION, "shadow": SHADOW}  # event -> the alias it moves
HISTORY_ROWS = 20
EVENT_COLUMNS = ["model_name", "event_id", "at", "event", "model_version", "from_version", "alias", "actor"]
EVENT_COLUMNS += ["reason", "detail"]
METRICS = ["mae", "rmse", "r2", "baseline_mae"]  # the test metrics the tables show
# What a failed load raises: integrity (RuntimeError), unreadable files (ValueError, OSError), no version.
LOAD_ERRORS = (RuntimeError, ValueError, OSError, LookupError)
# Names both registries accept; anything else (a path such as ../models/x) is refused before use.
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
HELD = contextlib.nullcontext()  # pass as ``lock`` when the caller holds the move lock already
Lock = contextlib.AbstractContextManager[Any]


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


def alias_text(held: Alias | None) -> str:
    """Return an alias as ``v2 since 2026-11-30 by alice; rollback to v1`` (``(none)`` when unset)."""
    back = f"; rollback to v{held.previous[-1]}" if held and held.previous else ""
    return f"v{held.version} since {held.since} by {held.by}{back}" if held else "(none)"


@dataclass(frozen=True)
class MoveNote:
    """Who makes an alias move and why, and the day it takes effect (default: today, UTC)."""

    by: str | None = None  # default: the login name
    reason: str = ""
    today: dt.date | None = None


def move_lock(settings: Settings) -> Lock:
    """Return the store lock every alias decision holds from its read to its write (none on Hopsworks)."""
    return exclusive(settings, "model_aliases")


def _require_registered(name: str, version: int, events: pd.DataFrame) -> None:
    if int(version) not in registered_versions(events):
        raise LookupError(f"model {name!r} has no registered version {version}")


def known_model(fs: Any, mr: Any, name: str) -> pd.DataFrame:
    """Return the history of ``name``; ValueError for an invalid name, LookupError for an unknown one."""
    if not MODEL_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a model name: lowercase letters, digits and _, starting with a letter "
            "(e.g. pm25_xgboost)"
        )
    events = history(fs, name)
    if not registered_versions(events) and not mr.get_models(name):
        raise LookupError(
            f"no model named {name!r} in the registry: check the name (MODEL_NAME sets the default) "
            "or run the training pipeline first"
        )
    return events


def _detail(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) and raw else {}


def alias_moves(events: pd.DataFrame) -> list[Alias]:
    """Return every alias move in a model's history, oldest first."""
    moves = []
    for row in events[events["event"].isin(list(MOVES))].sort_values(["at", "event_id"]).to_dict("records"):
        detail = _detail(row["detail"])
        moves.append(
            Alias(
                MOVES[row["event"]],
                int(row["model_version"]),
                int(detail["seq"]),
                dt.date.fromisoformat(detail["since"]),
                pd.Timestamp(row["at"]).isoformat(),
                str(row["actor"]),
                str(row["reason"]),
                tuple(int(v) for v in detail["previous"]),
                str(row["event_id"]),
            )
        )
    return moves


def resolve(moves: list[Alias]) -> dict[str, Alias]:
    """Return the aliases the moves leave: the newest move per alias, one alias per version."""
    counted: dict[int, Alias] = {}  # of two moves with one number (a conflict), the earlier one counts
    for move in sorted(moves, key=lambda m: (m.seq, m.at, m.event_id)):
        counted.setdefault(move.seq, move)
    # In sequence order, so each alias and each version keeps its newest move.
    newest = {move.alias: move for move in counted.values()}
    touched = {move.version: move.seq for move in counted.values()}
    return {name: held for name, held in newest.items() if touched[held.version] == held.seq}


def aliases(fs: Any, name: str, events: pd.DataFrame | None = None) -> dict[str, Alias]:
    """Return the aliases of a model name: ``{"production": Alias, "shadow": Alias}`` where set."""
    return resolve(alias_moves(history(fs, name) if events is None else events))


def serving_version(fs: Any, mr: Any, name: str, events: pd.DataFrame | None = None) -> int:
    """Return the production version, or the newest registered one when there is no production alias."""
    events = history(fs, name) if events is None else events
    alias = aliases(fs, name, events).get(PRODUCTION)
    return alias.version if alias is not None else newest_registered(name, events)


def newest_registered(name: str, events: pd.DataFrame) -> int:
    """Return the newest version with a ``registered`` event (LookupError when there is none)."""
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
    """Return the feature view versions of production, shadow and the version a rollback would serve."""
    events = history(fs, name)
    found = aliases(fs, name, events)
    versions = {a.version for a in found.values()} | set(serving_candidates(found, None)[1:2])
    # From the ``registered`` events, so a damaged registry entry cannot stop the feature pipeline.
    used = {registration(events, v).get("feature_view_version") for v in versions}
    return sorted(int(v) for v in used if v is not None)


def _write_move(
    fs: Any, name: str, event: str, version: int, events: pd.DataFrame, note: MoveNote | None, **detail: Any
) -> dict[str, Any]:
    """Record a move numbered after every move so far, then re-read: a rival with its number conflicts."""
    note, moves = note or MoveNote(), alias_moves(events)
    replaced = {a.alias: a.version for a in resolve(moves).values()}.get(MOVES[event], 0)
    seq = 1 + max((m.seq for m in moves), default=0)
    detail = {"previous": (), **detail, "seq": seq, "since": (note.today or utc_today()).isoformat()}
    row = record_event(
        fs, name, event, version, from_version=replaced, by=note.by, reason=note.reason, detail=detail
    )
    rivals = [m for m in alias_moves(history(fs, name)) if m.seq == seq]
    if len(rivals) > 1:
        counted = min(rivals, key=lambda m: (m.at, m.event_id))
        fate = "counts" if counted.event_id == row["event_id"] else "was lost"
        others = [
            f"a {m.alias} move to v{m.version} by {m.by}" for m in rivals if m.event_id != row["event_id"]
        ]
        raise AliasConflictError(
            f"{name}: {event} of v{version} conflicts with {', '.join(others)} made at the same time "
            f"(both number {seq}); this move {fate}. Check `models {name}` and repeat the move still wanted."
        )
    return row


def _shadow_to_promote(
    fs: Any, name: str, found: dict[str, Alias], version: int | None, location: str | None, min_days: int
) -> tuple[int, dict[str, Any]]:
    """Return the shadow version and how it did since it became shadow, next to production those days."""
    shadow, production = found.get(SHADOW), found.get(PRODUCTION)
    if shadow is None:
        raise LookupError(f"model {name!r} has no shadow version to promote")
    if version is not None and version != shadow.version:
        raise ValueError(f"--from-shadow promotes the shadow version v{shadow.version}, not v{version}")
    if location is None:
        raise ValueError("promote --from-shadow needs the location whose hindcast counts")
    rows = monitoring_rows(fs, location, name)
    mine = live_days(rows, shadow.version, SHADOW, shadow.since)
    if len(mine) < min_days:
        raise ValueError(
            f"shadow {name} v{shadow.version} has {len(mine)} day(s) of hindcast since it became shadow on "
            f"{shadow.since}; promote --from-shadow needs at least {min_days} (SHADOW_MIN_DAYS)"
        )
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
    return shadow.version, evidence


def promote(
    fs: Any,
    mr: Any,
    name: str,
    version: int | None = None,
    *,
    lock: Lock,
    note: MoveNote | None = None,
    from_shadow: bool = False,
    min_shadow_days: int = 0,
    location: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """The green button: make ``version`` (or the shadow) production, holding ``lock``; return the event."""
    with lock:
        events = known_model(fs, mr, name)
        found = aliases(fs, name, events)
        evidence: dict[str, Any] = {}
        if from_shadow:
            version, evidence = _shadow_to_promote(fs, name, found, version, location, min_shadow_days)
        if version is None:
            raise ValueError("name the version to promote, or use --from-shadow")
        version = int(version)
        production = found.get(PRODUCTION)
        if production is not None and production.version == version:
            raise ValueError(f"{name} v{version} is production already")
        _require_registered(name, version, events)
        mr.get_model(name, version=version)  # unreadable metadata raises here, naming the file
        verdicts = events.query("model_version == @version and event in ('gate_failed', 'promote')")
        if not (force or from_shadow) and not verdicts.empty and verdicts["event"].iloc[-1] == "gate_failed":
            raise ValueError(
                f"{name} v{version} failed the training gate ({verdicts['reason'].iloc[-1].split('; ')[0]}); "
                "promote --force to make it production anyway"
            )
        stack = (*production.previous, production.version) if production is not None else ()
        previous = tuple(v for v in stack if v != version)
        detail = {**evidence, "from_shadow": from_shadow, "forced": force, "previous": previous}
        return _write_move(fs, name, "promote", version, events, note, **detail)


def rollback(fs: Any, mr: Any, name: str, *, lock: Lock, note: MoveNote | None = None) -> dict[str, Any]:
    """The red button: make the previous production version production again; return the event."""
    with lock:
        events = known_model(fs, mr, name)
        production = aliases(fs, name, events).get(PRODUCTION)
        if production is None:
            raise LookupError(f"model {name!r} has no production version to roll back")
        if not production.previous:
            raise LookupError(
                f"{name} v{production.version} has no previous production version to roll back to"
            )
        *previous, version = production.previous
        return _write_move(fs, name, "rollback", version, events, note, previous=tuple(previous))


def set_shadow(
    fs: Any, mr: Any, name: str, version: int, *, lock: Lock, note: MoveNote | None = None
) -> dict[str, Any]:
    """Make ``version`` the shadow (it replaces any shadow); return the event."""
    with lock:
        events = known_model(fs, mr, name)
        production = aliases(fs, name, events).get(PRODUCTION)
        if production is not None and production.version == version:
            raise ValueError(f"{name} v{version} is production: it cannot be its own shadow")
        _require_registered(name, version, events)
        return _write_move(fs, name, "shadow", int(version), events, note)


def events_group(fs: Any) -> Any:
    """Return the append-only ``model_events`` feature group, creating it on first use."""
    return fs.get_or_create_feature_group(
        name="model_events",
        version=1,
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
    by: str | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one event (a new primary key: nothing is ever overwritten; ``by`` defaults to the login)."""
    try:
        by = by or getpass.getuser()
    except (KeyError, OSError):  # no user database entry (containers)
        by = "unknown"
    at = pd.Timestamp.now(tz="UTC")
    row = {
        "model_name": name,
        "event_id": f"{at.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}",
        "at": at,
        "event": event,
        "model_version": int(version),
        "from_version": int(from_version),
        "alias": MOVES.get(event, ""),
        "actor": by,
        "reason": reason,
        "detail": json.dumps(jsonable(detail or {}), sort_keys=True),
    }
    # wait_for_job: on Hopsworks the history is readable when the command returns (ignored locally).
    events_group(fs).insert(pd.DataFrame([row]), write_options={"wait_for_job": True})
    log.info("model event: %s %s v%s by %s: %s", event, name, version, row["actor"], reason)
    return row


def history(fs: Any, name: str) -> pd.DataFrame:
    """Return the events of a model name, oldest first (empty with ``EVENT_COLUMNS`` when none)."""
    group = events_group(fs)
    model_name = group.get_feature("model_name")  # None: nothing written yet, so no schema
    rows = utc_times(group.filter(model_name == name).read()) if model_name is not None else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return rows[EVENT_COLUMNS].sort_values(["at", "event_id"], ignore_index=True)


def registered_versions(events: pd.DataFrame) -> set[int]:
    """Return the versions whose registration completed (they have a ``registered`` event)."""
    return {int(v) for v in events.loc[events["event"] == "registered", "model_version"]}


def registration(events: pd.DataFrame, version: int) -> dict[str, Any]:
    """Return the detail of ``version``'s ``registered`` event (sha256, feature view), or ``{}``."""
    mine = events[(events["event"] == "registered") & (events["model_version"] == version)]
    return _detail(mine["detail"].iloc[-1]) if not mine.empty else {}


def registered_files(events: pd.DataFrame, version: int) -> dict[str, str] | None:
    """Return the sha256 of each file recorded when ``version`` was registered, or None."""
    files = registration(events, version).get("sha256")
    return dict(files) if files else None


def load_checked(
    fs: Any, mr: Any, name: str, version: int, events: pd.DataFrame | None = None
) -> LoadedModel:
    """Load a registered version, checking its files against the sha256 recorded at registration."""
    events = history(fs, name) if events is None else events
    _require_registered(name, version, events)
    return load_model(mr, name, version, expected_sha256=registered_files(events, version))


@dataclass
class Serving:
    """The models inference serves: production (or the fallback for it) and the shadow, if any."""

    production: LoadedModel
    shadow: LoadedModel | None
    problems: list[str]


def load_serving(fs: Any, mr: Any, name: str, *, record: bool = True) -> Serving:
    """Load production and shadow; when production fails to load, serve the previous good version.

    Failures are logged, listed in ``problems`` and (with ``record``) recorded as ``load_failure`` events;
    the aliases stay: moving production is a human decision.
    """
    events = known_model(fs, mr, name)
    found = aliases(fs, name, events)
    newest = None if PRODUCTION in found else newest_registered(name, events)
    if newest is not None:
        log.warning("model %s has no production alias: serving the newest version v%s", name, newest)
    problems: list[str] = []

    def attempt(version: int, role: str) -> LoadedModel | None:
        try:
            return load_checked(fs, mr, name, version, events)
        except LOAD_ERRORS as exc:
            what = "skipped" if role == SHADOW else "cannot serve"
            problems.append(f"{'shadow ' if role == SHADOW else ''}{name} v{version} {what}: {exc}")
            log.error("%s", problems[-1])
            if record:
                record_event(
                    fs, name, "load_failure", version, by="inference pipeline", reason=str(exc)[:500]
                )
            return None

    candidates = serving_candidates(found, newest)
    production = next((m for m in (attempt(v, PRODUCTION) for v in candidates) if m is not None), None)
    if production is None:
        raise RuntimeError(f"no version of {name} can serve: " + "; ".join(problems))
    if production.version != candidates[0]:
        problems.append(f"serving the previous production version {name} v{production.version} instead")
        log.error("%s", problems[-1])
    shadow = found.get(SHADOW)
    return Serving(production, attempt(shadow.version, SHADOW) if shadow is not None else None, problems)


def created_text(value: Any) -> str:
    """Return a model's creation time as ``YYYY-MM-DD HH:MM`` (ISO text locally, epoch ms on Hopsworks)."""
    if value is None or pd.isna(value):
        return ""
    unit = "ms" if isinstance(value, (int, float)) else None
    return pd.to_datetime(value, unit=unit, utc=True).strftime("%Y-%m-%d %H:%M")


def registered_models(fs: Any, mr: Any, name: str, events: pd.DataFrame) -> pd.DataFrame:
    """Return a row per registered version, oldest first, with its registry entry (``meta``) or problem."""
    listed = {int(m.version): m for m in mr.get_models(name) or []}
    held = {alias.version: alias.alias for alias in aliases(fs, name, events).values()}
    rows = []
    for version in sorted(registered_versions(events)):
        meta, problem = listed.get(version), ""
        if meta is None:
            try:
                meta = mr.get_model(name, version=version)
                problem = "" if meta is not None else "missing from the registry"
            except LOAD_ERRORS as exc:
                problem = f"metadata unreadable: {exc}"  # the error names the file
        recorded, metrics = registration(events, version), getattr(meta, "training_metrics", None) or {}
        fv, created = recorded.get("feature_view_version"), created_text(getattr(meta, "created", None))
        row = [version, held.get(version, ""), f"{recorded.get('feature_view_name', '?')} v{fv}", fv]
        row += [recorded.get("training_dataset_version"), created, *(metrics.get(key) for key in METRICS)]
        rows.append([*row, problem, meta])
    return pd.DataFrame(
        rows, columns=["version", "alias", "feature_view", "fv", "td", "created", *METRICS, "problem", "meta"]
    )


def versions_table(fs: Any, mr: Any, name: str, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per registered version: alias, feature view, training dataset, created, test MAE."""
    table = registered_models(fs, mr, name, history(fs, name) if events is None else events)
    return table.drop(columns=["fv", "rmse", "r2", "meta"]).rename(columns={"td": "training_dataset"})


def history_table(
    events: pd.DataFrame, rows: int = HISTORY_ROWS, reason_chars: int | None = 100
) -> pd.DataFrame:
    """Return the newest ``rows`` events, newest first, for display (reasons cut at ``reason_chars``)."""
    if events.empty:
        return pd.DataFrame(columns=["at", "event", "version", "from", "alias", "by", "reason"])
    recent = events.sort_values(["at", "event_id"], ascending=False).head(rows)
    cut = float("inf") if reason_chars is None else reason_chars
    return pd.DataFrame(
        {
            "at": recent["at"].map(lambda t: pd.Timestamp(t).strftime("%Y-%m-%d %H:%M:%S")),
            "event": recent["event"],
            "version": recent["model_version"].map(lambda v: f"v{v}"),
            "from": recent["from_version"].map(lambda v: f"v{v}" if v else ""),
            "alias": recent["alias"],
            "by": recent["actor"],
            "reason": recent["reason"].map(lambda r: r if len(r) <= cut else r[: int(cut) - 3] + "..."),
        }
    ).reset_index(drop=True)


def models_document(fs: Any, mr: Any, name: str) -> dict[str, Any]:
    """Return versions, aliases and the whole history of a model as JSON-ready data (``models --json``)."""
    events = known_model(fs, mr, name)
    shown = ("version", "since", "at", "by", "reason", "seq")
    held = {
        key: {**{field: getattr(a, field) for field in shown}, "rollback_stack": list(a.previous)}
        for key, a in aliases(fs, name, events).items()
    }
    history_rows = events.assign(detail=events["detail"].map(_detail)).to_dict("records")
    versions = versions_table(fs, mr, name, events).to_dict("records")
    return jsonable({"model": name, "versions": versions, "aliases": held, "history": history_rows})
