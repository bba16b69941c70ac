"""Model aliases, the green button (promote) and the red button (rollback), and their history.

Each model name has a ``production`` alias and at most one ``shadow`` alias. An alias is a tag
(``model_alias``) on the model version that holds it, so it lives in the registry's own
metadata on both backends. The tag value is JSON text with a sequence number: when a move is
interrupted between tagging the new holder and untagging the old one, the higher number wins.
The production tag also carries the rollback stack (the production versions before it), so the
red button needs nothing but the registry.

Every registration, gate decision, promotion, rollback and load failure is appended to the
``model_events`` feature group (who, when, why): the history the ``models`` command and the UI
show, and where the training pipeline records each version's file checksums (sha256) so that
loading a model verifies them on any backend.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..catalog import utc_today
from ..model import LoadedModel, feature_view_of, latest_model_version, load_model
from .gate import jsonable
from .monitoring import live_days, monitoring_rows

log = logging.getLogger(__name__)

ALIAS_TAG = "model_alias"
PRODUCTION = "production"
SHADOW = "shadow"
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


@dataclass(frozen=True)
class Alias:
    """An alias held by a model version, as stored in its ``model_alias`` tag."""

    alias: str
    version: int
    seq: int
    since: dt.date  # the day it took effect: shadow days are counted after it
    at: str  # wall-clock time of the move (UTC, ISO)
    by: str
    reason: str
    previous: tuple[int, ...] = field(default=())  # production versions before this one, oldest first

    def to_tag(self) -> str:
        """Return the tag value: JSON text (a plain string tag schema suffices on Hopsworks)."""
        return json.dumps(
            {
                "alias": self.alias,
                "seq": self.seq,
                "since": self.since.isoformat(),
                "at": self.at,
                "by": self.by,
                "reason": self.reason,
                "previous": list(self.previous),
            },
            sort_keys=True,
        )

    @classmethod
    def from_tag(cls, version: int, raw: Any) -> Alias | None:
        """Return the alias in a tag value (JSON text or a dict), or None when it holds none."""
        if raw is None:
            return None
        try:
            data = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if data.get("alias") not in (PRODUCTION, SHADOW):
                return None
            return cls(
                alias=data["alias"],
                version=int(version),
                seq=int(data.get("seq", 0)),
                since=dt.date.fromisoformat(str(data.get("since"))[:10]),
                at=str(data.get("at", "")),
                by=str(data.get("by", "")),
                reason=str(data.get("reason", "")),
                previous=tuple(int(v) for v in data.get("previous") or ()),
            )
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable %s tag on version %s: %s", ALIAS_TAG, version, exc)
            return None


def default_actor() -> str:
    """Return who is acting: the login name, or ``unknown``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user database entry (containers)
        return "unknown"


# ------------------------------------------------------------------------------------------------ aliases


def _tagged(mr: Any, name: str) -> list[tuple[Any, Alias]]:
    """Return every version of ``name`` whose tag holds an alias, with that alias."""
    tagged = []
    for model in mr.get_models(name) or []:
        alias = Alias.from_tag(int(model.version), model.get_tag(ALIAS_TAG))
        if alias is not None:
            tagged.append((model, alias))
    return tagged


def _resolve(tagged: list[tuple[Any, Alias]]) -> dict[str, Alias]:
    found: dict[str, Alias] = {}
    for _, alias in tagged:
        current = found.get(alias.alias)
        if current is None or alias.seq > current.seq:
            found[alias.alias] = alias
    return found


def aliases(mr: Any, name: str) -> dict[str, Alias]:
    """Return the aliases of a model name: ``{"production": Alias, "shadow": Alias}`` where set."""
    return _resolve(_tagged(mr, name))


def production_model(mr: Any, name: str) -> Any | None:
    """Return the registry's production version of ``name`` (its metadata), or None."""
    alias = aliases(mr, name).get(PRODUCTION)
    return None if alias is None else mr.get_model(name, version=alias.version)


def shadow_model(mr: Any, name: str) -> Any | None:
    """Return the registry's shadow version of ``name`` (its metadata), or None."""
    alias = aliases(mr, name).get(SHADOW)
    return None if alias is None else mr.get_model(name, version=alias.version)


def serving_version(mr: Any, name: str) -> int:
    """Return the production version, or the newest one in a registry that has no production alias yet.

    Raises:
        LookupError: If no version of ``name`` is registered.
    """
    alias = aliases(mr, name).get(PRODUCTION)
    return alias.version if alias is not None else latest_model_version(mr, name)


def serving_candidates(found: dict[str, Alias], newest: int | None) -> list[int]:
    """Return the versions to try for serving, in order: production, then its rollback stack."""
    production = found.get(PRODUCTION)
    if production is None:
        return [] if newest is None else [newest]
    return list(dict.fromkeys([production.version, *reversed(production.previous)]))


def feature_versions_in_use(mr: Any, name: str) -> list[int]:
    """Return the feature view versions of production, shadow and the version a rollback would serve.

    The feature pipeline keeps these fresh, so every model that may serve tomorrow has features.
    """
    found = aliases(mr, name)
    versions = [a.version for a in found.values()]
    production = found.get(PRODUCTION)
    if production is not None and production.previous:
        versions.append(production.previous[-1])
    used = set()
    for version in versions:
        model = mr.get_model(name, version=version)
        if model is not None:
            used.add(feature_view_of(model)[1])
    return sorted(used)


def _next_seq(tagged: list[tuple[Any, Alias]]) -> int:
    return 1 + max((alias.seq for _, alias in tagged), default=0)


def _write_alias(mr: Any, name: str, alias: Alias, tagged: list[tuple[Any, Alias]]) -> None:
    """Tag the new holder first (its higher sequence number wins at once), then untag the old ones."""
    model = mr.get_model(name, version=alias.version)
    if model is None:
        raise LookupError(f"model {name!r} has no version {alias.version}")
    add_tag = getattr(model, "add_tag", None) or model.set_tag  # Hopsworks 5.2 deprecates set_tag
    add_tag(ALIAS_TAG, alias.to_tag())
    for other, held in tagged:
        if held.alias == alias.alias and held.version != alias.version:
            other.delete_tag(ALIAS_TAG)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def promote(
    fs: Any,
    mr: Any,
    name: str,
    version: int | None = None,
    *,
    from_shadow: bool = False,
    min_shadow_days: int = 0,
    location: str | None = None,
    by: str | None = None,
    reason: str = "",
    today: dt.date | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The green button: make ``version`` (or the shadow version) production; return the event.

    The version it replaces goes on the rollback stack. With ``from_shadow``, the shadow
    version is promoted only when the monitoring group holds at least ``min_shadow_days`` days
    of its hindcast (days after it became shadow with a prediction and an observation).

    Raises:
        LookupError: If the version, or with ``from_shadow`` a shadow version, does not exist.
        ValueError: If the version is production already, or the shadow has too few days.
    """
    tagged = _tagged(mr, name)
    found = _resolve(tagged)
    production, shadow = found.get(PRODUCTION), found.get(SHADOW)
    extra = dict(detail or {})
    if from_shadow:
        if shadow is None:
            raise LookupError(f"model {name!r} has no shadow version to promote")
        if version is not None and version != shadow.version:
            raise ValueError(f"--from-shadow promotes the shadow version v{shadow.version}, not v{version}")
        if location is None:
            raise ValueError("promote --from-shadow needs the location whose hindcast counts")
        version = shadow.version
        extra.update(shadow_evidence(fs, location, name, shadow, production))
        days = extra["shadow_days"]
        if days < min_shadow_days:
            raise ValueError(
                f"shadow {name} v{version} has {days} day(s) of hindcast since it became shadow on "
                f"{shadow.since}; promote --from-shadow needs at least {min_shadow_days} (SHADOW_MIN_DAYS)"
            )
    if version is None:
        raise ValueError("name the version to promote, or use --from-shadow")
    if mr.get_model(name, version=version) is None:
        raise LookupError(f"model {name!r} has no version {version}")
    if production is not None and production.version == version:
        raise ValueError(f"{name} v{version} is production already")
    stack = (*production.previous, production.version) if production is not None else ()
    by = by or default_actor()
    alias = Alias(
        alias=PRODUCTION,
        version=int(version),
        seq=_next_seq(tagged),
        since=today or utc_today(),
        at=_now().isoformat(),
        by=by,
        reason=reason,
        previous=tuple(v for v in stack if v != version),
    )
    _write_alias(mr, name, alias, tagged)
    return record_event(
        fs,
        name,
        "promote",
        int(version),
        from_version=production.version if production is not None else 0,
        alias=PRODUCTION,
        by=by,
        reason=reason,
        detail={**extra, "from_shadow": from_shadow, "rollback_to": list(alias.previous[-1:])},
    )


def rollback(
    fs: Any, mr: Any, name: str, *, by: str | None = None, reason: str = "", today: dt.date | None = None
) -> dict[str, Any]:
    """The red button: make the previous production version production again; return the event.

    Raises:
        LookupError: If there is no production version or nothing to roll back to.
    """
    tagged = _tagged(mr, name)
    production = _resolve(tagged).get(PRODUCTION)
    if production is None:
        raise LookupError(f"model {name!r} has no production version to roll back")
    if not production.previous:
        raise LookupError(f"{name} v{production.version} has no previous production version to roll back to")
    by = by or default_actor()
    alias = Alias(
        alias=PRODUCTION,
        version=production.previous[-1],
        seq=_next_seq(tagged),
        since=today or utc_today(),
        at=_now().isoformat(),
        by=by,
        reason=reason,
        previous=production.previous[:-1],
    )
    _write_alias(mr, name, alias, tagged)
    return record_event(
        fs,
        name,
        "rollback",
        alias.version,
        from_version=production.version,
        alias=PRODUCTION,
        by=by,
        reason=reason,
        detail={"rollback_to": list(alias.previous[-1:])},
    )


def set_shadow(
    fs: Any,
    mr: Any,
    name: str,
    version: int,
    *,
    by: str | None = None,
    reason: str = "",
    today: dt.date | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make ``version`` the shadow (it replaces any shadow); return the event.

    Raises:
        ValueError: If ``version`` is the production version.
    """
    tagged = _tagged(mr, name)
    found = _resolve(tagged)
    production, old = found.get(PRODUCTION), found.get(SHADOW)
    if production is not None and production.version == version:
        raise ValueError(f"{name} v{version} is production: it cannot be its own shadow")
    by = by or default_actor()
    alias = Alias(
        SHADOW, int(version), _next_seq(tagged), today or utc_today(), _now().isoformat(), by, reason
    )
    _write_alias(mr, name, alias, tagged)
    return record_event(
        fs,
        name,
        "shadow",
        int(version),
        from_version=old.version if old is not None else 0,
        alias=SHADOW,
        by=by,
        reason=reason,
        detail=detail,
    )


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
    try:
        condition = group.model_name == name
    except AttributeError:
        return pd.DataFrame(columns=EVENT_COLUMNS)  # nothing written yet, so no schema
    rows = group.filter(condition).read()
    if rows.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return rows[EVENT_COLUMNS].sort_values(["at", "event_id"], ignore_index=True)


def registered_files(events: pd.DataFrame, version: int) -> dict[str, str] | None:
    """Return the sha256 of each file recorded when ``version`` was registered, or None."""
    if events.empty:
        return None
    mine = events[(events["event"] == "registered") & (events["model_version"] == version)]
    if mine.empty:
        return None
    files = json.loads(mine["detail"].iloc[-1]).get("sha256")
    return dict(files) if files else None


# ------------------------------------------------------------------------------------------------ loading


def load_checked(
    fs: Any, mr: Any, name: str, version: int, events: pd.DataFrame | None = None
) -> LoadedModel:
    """Load a model version, checking its files against the sha256 recorded at registration.

    Raises:
        ModelIntegrityError: (a RuntimeError) If a file differs from its registration.
    """
    events = history(fs, name) if events is None else events
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


def load_serving(fs: Any, mr: Any, name: str, *, record: bool = True, with_shadow: bool = True) -> Serving:
    """Load production and shadow; when production fails to load, serve the previous good version.

    A failure is logged, listed in ``problems`` and (with ``record``) appended to the history
    as a ``load_failure`` event; the aliases are not changed: moving production stays a human
    decision (``rollback``).

    Raises:
        LookupError: If no model is registered.
        RuntimeError: If no version on the rollback stack can be loaded either.
    """
    found = aliases(mr, name)
    newest = None if PRODUCTION in found else latest_model_version(mr, name)
    if newest is not None:
        log.warning("model %s has no production alias: serving the newest version v%s", name, newest)
    events = history(fs, name)
    problems: list[str] = []
    production = None
    candidates = serving_candidates(found, newest)
    for position, version in enumerate(candidates):
        try:
            production = load_checked(fs, mr, name, version, events)
        except LOAD_ERRORS as exc:
            problems.append(f"{name} v{version} cannot serve: {exc}")
            log.error("%s", problems[-1])
            if record:
                record_event(
                    fs, name, "load_failure", version, by="inference pipeline", reason=str(exc)[:500]
                )
            continue
        if position > 0:
            problems.append(f"serving the previous production version {name} v{version} instead")
            log.error("%s", problems[-1])
        break
    if production is None:
        raise RuntimeError(f"no version of {name} can serve: " + "; ".join(problems))
    shadow = None
    shadow_alias = found.get(SHADOW)
    if with_shadow and shadow_alias is not None:
        try:
            shadow = load_checked(fs, mr, name, shadow_alias.version, events)
        except LOAD_ERRORS as exc:
            problems.append(f"shadow {name} v{shadow_alias.version} skipped: {exc}")
            log.error("%s", problems[-1])
            if record:
                record_event(
                    fs,
                    name,
                    "load_failure",
                    shadow_alias.version,
                    by="inference pipeline",
                    reason=str(exc)[:500],
                )
    return Serving(production, shadow, found, problems, fallback=production.version != candidates[0])


# ------------------------------------------------------------------------------------------------ tables


def created_text(value: Any) -> str:
    """Return a model's creation time as ``YYYY-MM-DD HH:MM`` (ISO text locally, epoch ms on Hopsworks)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    stamp = pd.Timestamp(value, unit="ms") if isinstance(value, (int, float)) else pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M")


def versions_table(mr: Any, name: str) -> pd.DataFrame:
    """Return one row per version: alias, feature view and training dataset versions, created, test MAE."""
    found = aliases(mr, name)
    by_version = {alias.version: alias.alias for alias in found.values()}
    rows = []
    for model in sorted(mr.get_models(name) or [], key=lambda m: int(m.version)):
        metrics = model.training_metrics or {}
        rows.append(
            {
                "version": int(model.version),
                "alias": by_version.get(int(model.version), ""),
                "feature_view": "{} v{}".format(*feature_view_of(model)),
                "training_dataset": model.training_dataset_version,
                "created": created_text(getattr(model, "created", None)),
                "mae": metrics.get("mae"),
                "baseline_mae": metrics.get("baseline_mae"),
            }
        )
    columns = ["version", "alias", "feature_view", "training_dataset", "created", "mae", "baseline_mae"]
    return pd.DataFrame(rows, columns=columns)


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
