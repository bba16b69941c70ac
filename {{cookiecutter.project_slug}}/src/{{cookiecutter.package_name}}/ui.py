"""The web UI: forecast, hindcast, a prediction for a chosen day, the models' aliases and history,
their accuracy over time and feature drift, all read from the store.

Nothing is read when this module is imported or the app is built: every value comes from an
event handler (page load, buttons), so the app starts before the pipelines have ever run and
shows new data on every reload. Each handler calls ``connect(settings)``, which returns the
process's one connection (the first call logs in; the seven handlers of a page load share it).
The handlers are plain module-level functions of the settings, so tests call them without a browser.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import gradio as gr
import pandas as pd

from .catalog import FEATURES_VERSION, LABEL, day, feature_groups, location_rows, predictions_group, utc_today
from .features.air_quality import ALL_LAG_FEATURES
from .lifecycle import aliases, monitoring
from .lifecycle.aliases import history_table
from .lifecycle.monitoring import hindcast
from .model import HISTORY_DAYS, LoadedModel, feature_view_of, fill_lags
from .settings import Settings
from .store import connect

log = logging.getLogger(__name__)

Handler = Callable[..., Any]
RECENT_DAYS = 3  # past days offered for a prediction next to the coming ones
RUN_PIPELINES = "Run the pipelines first: `feature`, then `training`, then `inference`."
UNIT = "µg/m³"
PM25_AXIS = f"PM2.5 ({UNIT})"
DATES = "datetime64[us, UTC]"
# Column dtypes of the frames the UI shows, so a section with nothing to show gets an empty one.
PLOT_COLUMNS = {"day": "str", "pm25": "float64", "series": "str", "category": "str"}
FEATURES_SHOWN = {"feature": "str", "value": "float64", "source": "str"}
ACCURACY_SHOWN = {"day": "str", "rolling_mae": "float64", "series": "str"}
DRIFT_SHOWN = {"model": "str", "feature": "str", "psi": "float64", "typical_psi": "float64", "drift": "bool"}
# The air-quality categories of daily mean PM2.5 on the US EPA scale (24-hour breakpoints, 2024
# revision), as the course dashboards colour them: (upper bound in µg/m³, category, colour).
SCALE = "US EPA 24-hour PM2.5 categories"
CATEGORIES = [
    (9.0, "good", "#00e400"),
    (35.4, "moderate", "#e6c300"),
    (55.4, "unhealthy for sensitive groups", "#ff7e00"),
    (125.4, "unhealthy", "#ff0000"),
    (225.4, "very unhealthy", "#8f3f97"),
    (math.inf, "hazardous", "#7e0023"),
]
BAND_COLORS = {f"{name} above {low:g}": color for (low, _, _), (_, name, color) in pairwise(CATEGORIES)}
SERIES_COLORS = {
    "forecast": "#1f4e9c",
    "observed": "#333333",
    "predicted 1 day ahead": "#1f77b4",
    **BAND_COLORS,
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_MODEL_CACHE_SIZE = 4
_model_cache: dict[tuple[Any, ...], LoadedModel] = {}
_model_lock = threading.Lock()


class InvalidDateError(ValueError):
    """The requested date is not one of the dates the UI offers."""


class NothingYetError(Exception):
    """The store holds nothing to show in a section yet; the argument is the Markdown message."""


@dataclass
class PointPrediction:
    """A prediction for one day with the features it was made from."""

    date: dt.date
    value: float
    model_name: str
    model_version: int
    features: pd.DataFrame  # columns: feature, value, source


# ---------------------------------------------------------------------------------------------- reading


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _from_today(days: int) -> pd.Timestamp:
    return day(utc_today() + dt.timedelta(days=days))


def _iso_days(dates: Any) -> list[str]:
    """Return dates as ISO day text: string days give a plot one tick per day, no '12 PM'."""
    return [pd.Timestamp(d).date().isoformat() for d in dates]


def _offered_dates(fs: Any, settings: Settings) -> list[str]:
    """Return the days with stored weather from a few days ago to the end of the forecast, as ISO text."""
    weather, _ = feature_groups(fs)
    start, end = _from_today(-RECENT_DAYS), _from_today(settings.forecast_days + 1)
    rows = location_rows(weather, settings.location.key, start, end)
    return [] if rows.empty else _iso_days(rows["date"])


def _registered(mr: Any, name: str, version: int) -> Any:
    meta = mr.get_model(name, version=version)
    if meta is None:
        raise LookupError(f"model {name!r} has no version {version}")
    return meta


def _model(settings: Settings, fs: Any, mr: Any) -> LoadedModel:
    """Return the production model, or the previous production version when it fails to load."""
    events = aliases.history(fs, settings.model_name)
    found = aliases.aliases(fs, settings.model_name, events)
    newest = None if aliases.PRODUCTION in found else aliases.newest_registered(settings.model_name, events)
    problems = []
    for version in aliases.serving_candidates(found, newest):
        try:
            return _cached_model(settings, fs, mr, version)
        except aliases.LOAD_ERRORS as exc:
            problems.append(f"v{version}: {exc}")
            log.error("model %s v%s cannot serve: %s", settings.model_name, version, exc)
    raise RuntimeError(f"no version of {settings.model_name} can serve: " + "; ".join(problems))


def _cached_model(settings: Settings, fs: Any, mr: Any, version: int) -> LoadedModel:
    """Return a model version, loading (and checking) its files once per registration."""
    meta = _registered(mr, settings.model_name, version)
    store = (settings.store_backend, str(settings.store_dir), settings.hopsworks_host)
    # A store rebuilt from scratch re-registers version 1: the creation time tells them apart.
    key = (
        *store,
        settings.hopsworks_project,
        settings.model_name,
        version,
        str(getattr(meta, "created", "")),
    )
    with _model_lock:
        cached = _model_cache.get(key)
    if cached is None:
        cached = aliases.load_checked(fs, mr, settings.model_name, version)
        with _model_lock:
            while len(_model_cache) >= _MODEL_CACHE_SIZE:
                _model_cache.pop(next(iter(_model_cache)))
            _model_cache[key] = cached
    return cached  # the key pins name, version and registration: the cached model is this one


def _pm25_history(fs: Any, location: str, model: LoadedModel, target: pd.Timestamp) -> pd.Series:
    """Return PM2.5 by date before ``target``: observed, then stored predictions for later days."""
    start = target - pd.Timedelta(days=HISTORY_DAYS)
    _, air_quality = feature_groups(fs, model.feature_view[1])
    observed = location_rows(air_quality, location, start, target)
    history = observed.set_index("date")[LABEL].dropna() if not observed.empty else pd.Series(dtype="float64")
    stored = location_rows(predictions_group(fs), location, start, target)
    if not stored.empty:
        stored = stored[stored["model_name"] == model.meta.name]
        if not history.empty:
            stored = stored[stored["date"] > history.index.max()]
        # Per day: this model version first, then the newest other one; the smallest horizon wins.
        stored = stored.assign(_mine=stored["model_version"] == model.version).sort_values(
            ["_mine", "model_version", "horizon_days"], ascending=[False, False, True]
        )
        predicted = stored.drop_duplicates("date").set_index("date")["predicted_pm25"]
        history = pd.concat([history, predicted]) if not history.empty else predicted
    return history.sort_index().astype("float64")


def forecast_frame(settings: Settings) -> pd.DataFrame:
    """Return the stored forecast of the newest model for the coming days, one row per date.

    Raises:
        LookupError: If no model is registered yet.
    """
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    version = aliases.serving_version(fs, mr, settings.model_name)
    rows = location_rows(predictions_group(fs), settings.location.key, start=_from_today(1))
    columns = {"date": DATES, "predicted_pm25": "float64", "horizon_days": "int64", "model_version": "int64"}
    if rows.empty:
        return _empty(columns)
    rows = rows[(rows["model_name"] == settings.model_name) & (rows["model_version"] == version)]
    rows = rows.sort_values(["date", "horizon_days"]).drop_duplicates("date")
    return rows[list(columns)].reset_index(drop=True)


def hindcast_frame(settings: Settings) -> pd.DataFrame:
    """Return one-day-ahead predictions and observed PM2.5 in long form: date, pm25, series.

    Uses the production version's rows (the newest version with rows when production has none);
    empty when there are none.
    """
    project = connect(settings)
    mr = project.get_model_registry()
    serving = aliases.serving_version(project.get_feature_store(), mr, settings.model_name)
    meta = mr.get_model(settings.model_name, version=serving)
    features_version = feature_view_of(meta)[1] if meta is not None else FEATURES_VERSION
    past = hindcast(project, settings.location.key, settings.model_name, features_version=features_version)
    if past.empty:
        return _empty({"date": DATES, "pm25": "float64", "series": "str"})
    newest = serving if serving in set(past["model_version"]) else int(past["model_version"].max())
    mine = past[past["model_version"] == newest]
    observed = mine[["date", "actual_pm25"]].rename(columns={"actual_pm25": "pm25"}).assign(series="observed")
    predicted = mine[["date", "predicted_pm25"]].rename(columns={"predicted_pm25": "pm25"})
    predicted = predicted.assign(series=f"predicted (v{newest}, 1 day ahead)")
    return pd.concat([observed, predicted], ignore_index=True)


def prediction_dates(settings: Settings) -> list[str]:
    """Return the dates (YYYY-MM-DD) offered for an interactive prediction."""
    return _offered_dates(connect(settings).get_feature_store(), settings)


def _chosen_date(offered: list[str], date_text: Any) -> dt.date:
    """Return the offered date ``date_text`` names; raise InvalidDateError naming the offered span."""
    text = date_text.strip() if isinstance(date_text, str) else ""
    if not offered:
        raise LookupError("no weather is stored for the coming days")
    if text not in offered:
        span = f"{offered[0]} to {offered[-1]}"
        if not text:
            raise InvalidDateError(f"no date chosen: pick a date from the list ({span}).")
        raise InvalidDateError(
            f"{text[:40]!r} is not one of the offered dates ({span}): pick a date from the list."
        )
    return dt.date.fromisoformat(text)


def predict_for_date(settings: Settings, date_text: Any) -> PointPrediction:
    """Predict PM2.5 for an offered date from the online feature vector, filling unknown lags.

    Raises:
        InvalidDateError: If ``date_text`` is not one of ``prediction_dates(settings)``.
        LookupError: If the store has no model or no features for the date yet.
    """
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    chosen = _chosen_date(_offered_dates(fs, settings), date_text)
    target, location = day(chosen), settings.location.key
    model = _model(settings, fs, mr)
    fv = model.scoring_view(init=True, online=True)
    vector = fv.get_feature_vector(
        serving_keys={"location": location, "date": target}, return_type="pandas", allow_missing=True
    )
    row = vector.iloc[0].to_dict()
    if all(_missing(row.get(n)) for n in model.feature_names if n not in ALL_LAG_FEATURES):
        raise LookupError(f"the online store has no features for {chosen.isoformat()}")
    filled = fill_lags(row, _pm25_history(fs, location, model, target), target)
    value = max(float(model.predict(pd.DataFrame([filled]))[0]), 0.0)

    def source(name: str) -> str:
        if _missing(filled.get(name)):
            return "unknown (the model handles it as missing)"
        if name in ALL_LAG_FEATURES and _missing(row.get(name)):
            return "from observed and predicted PM2.5"
        return "online store"

    names = model.feature_names
    values = [math.nan if _missing(filled.get(n)) else float(filled[n]) for n in names]
    features = pd.DataFrame({"feature": names, "value": values, "source": [source(n) for n in names]})
    return PointPrediction(chosen, value, model.meta.name, model.version, features)


def _missing(value: Any) -> bool:
    try:
        return value is None or math.isnan(float(value))
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------ UI handlers


def _problem(what: str, exc: Exception) -> str:
    """Return a message for the UI: the reason for missing data, never a traceback.

    The hint to run the pipelines is shown once, in the overview, not under every section.
    """
    if isinstance(exc, NothingYetError):
        return str(exc)
    if isinstance(exc, InvalidDateError):
        return f"**Invalid date:** {plain(str(exc))}"  # the message quotes the user's text
    if isinstance(exc, LookupError):
        reason = exc.args[0] if exc.args else type(exc).__name__
        return f"**{what}:** {plain(str(reason))}."
    log.warning("%s: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
    return f"**{what}:** the store could not be read ({type(exc).__name__}, details in the server log)."


def _shows_problems(what: str, fallback: Callable[[str], Any]) -> Callable[[Handler], Handler]:
    """Return a decorator: when the handler raises, the UI gets ``fallback(message)`` instead.

    The message is a NothingYetError's own text, else ``what`` and the reason (see ``_problem``).
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def handled(settings: Settings, *inputs: Any) -> Any:
            try:
                return handler(settings, *inputs)
            except Exception as exc:
                return fallback(_problem(what, exc))

        return handled

    return decorate


def _no_plot(message: str) -> tuple[pd.DataFrame, str]:
    return _empty(PLOT_COLUMNS), message


def plain(text: str) -> str:
    """Return ``text`` escaped so that Markdown shows it as typed (no links, emphasis or HTML)."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return escaped.replace("&", "&amp;").replace("<", "&lt;")


def pm25_category(value: float) -> str:
    """Return the US EPA category of a daily mean PM2.5 in µg/m³ (the scale has one decimal)."""
    rounded = round(float(value), 1)
    return next(name for upper, name, _ in CATEGORIES if rounded <= upper)


def plot_frame(dates: pd.Series, values: pd.Series, series: Any) -> pd.DataFrame:
    """Return rows to plot: ISO day (one tick per day), PM2.5 to one decimal, series, category."""
    values = values.astype("float64").round(1)
    return pd.DataFrame(
        {
            "day": _iso_days(dates),
            "pm25": values.to_numpy(),
            "series": series if isinstance(series, str) else list(series),
            "category": [pm25_category(v) for v in values],
        }
    )


def with_category_lines(frame: pd.DataFrame) -> pd.DataFrame:
    """Return plot rows with flat lines at the category boundaries, up to the first at or above the data."""
    ends, top = (min(frame["day"]), max(frame["day"])), float(frame["pm25"].max())
    rows = []
    for (upper, _, _), (_, above, _) in pairwise(CATEGORIES):
        rows += [
            {"day": d, "pm25": upper, "series": f"{above} above {upper:g}", "category": above} for d in ends
        ]
        if upper >= top:
            break
    return pd.concat([frame, pd.DataFrame(rows, columns=list(PLOT_COLUMNS))], ignore_index=True)


@_shows_problems("No model yet", lambda message: f"{message} {RUN_PIPELINES}")
def load_overview(settings: Settings) -> str:
    """Return Markdown naming the model in use (production), its feature view and metrics, and the shadow."""
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    found = aliases.aliases(fs, settings.model_name)
    version = aliases.serving_version(fs, mr, settings.model_name)
    meta = _registered(mr, settings.model_name, version)
    view_name, view_version = feature_view_of(meta)
    role = "production" if found.get(aliases.PRODUCTION) else "newest; no production alias"
    lines = [
        f"**Model:** `{meta.name}` version **v{version}** ({role}), trained on feature view "
        f"`{view_name}` v{view_version}.",
    ]
    shadow = found.get(aliases.SHADOW)
    if shadow is not None:
        lines.append(
            f"**Shadow:** v{shadow.version} since {shadow.since}: scored beside production, not served."
        )
    metrics = meta.training_metrics or {}
    mae, baseline, days = metrics.get("mae"), metrics.get("baseline_mae"), metrics.get("test_rows")
    if isinstance(mae, (int, float)) and isinstance(baseline, (int, float)):
        window = f" over {int(days)} test days" if isinstance(days, (int, float)) else ""
        lines.append(
            f"**Test MAE{window}:** {mae:.2f} {UNIT} for the model vs {baseline:.2f} {UNIT} "
            "for the persistence baseline (tomorrow = today)."
        )
    if settings.data_source == "synthetic":
        lines.append("*Data source: the offline simulator, so the numbers are made up.*")
    return "\n\n".join(lines)


@_shows_problems("No forecast yet", _no_plot)
def show_forecast(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return the forecast plot data (with the category lines) and a message for the UI."""
    frame = forecast_frame(settings)
    if frame.empty:
        raise NothingYetError("**No forecast for the coming days yet.**")
    shown = plot_frame(frame["date"], frame["predicted_pm25"], "forecast")
    pairs = zip(frame["date"], shown["pm25"], shown["category"], strict=True)
    days = " · ".join(f"{d.strftime('%a %d %b')}: **{v:.1f}** ({c})" for d, v, c in pairs)
    version = int(frame["model_version"].iloc[0])
    note = f"Daily mean PM2.5 in {UNIT} by model v{version} ({SCALE} in brackets): {days}"
    return with_category_lines(shown), note


@_shows_problems("No hindcast yet", _no_plot)
def show_hindcast(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return the hindcast plot data (observed and predicted, with the category lines) and a message."""
    frame = hindcast_frame(settings)
    if frame.empty:
        raise NothingYetError("**No hindcast yet:** no stored predictions of past days.")
    wide = frame.pivot_table(index="date", columns="series", values="pm25")
    mae = float((wide.iloc[:, 0] - wide.iloc[:, 1]).abs().mean())
    version = frame["series"].str.extract(r"\(v(\d+)")[0].dropna()
    label = f"model v{version.iloc[0]}" if not version.empty else "the model"
    series = frame["series"].where(frame["series"] == "observed", "predicted 1 day ahead")
    shown = plot_frame(frame["date"], frame["pm25"], series)
    return with_category_lines(shown), f"MAE of {label} over {len(wide)} days: {mae:.2f} {UNIT}."


@_shows_problems("No dates to predict yet", lambda message: (gr.Dropdown(choices=[], value=None), message))
def date_choices(settings: Settings) -> tuple[Any, str]:
    """Return the date dropdown (offered dates, tomorrow selected) and a message for the UI."""
    dates = prediction_dates(settings)
    if not dates:
        raise NothingYetError("**No weather stored for the coming days yet.**")
    tomorrow = _from_today(1).date().isoformat()
    return gr.Dropdown(choices=dates, value=tomorrow if tomorrow in dates else dates[0]), ""


@_shows_problems("No prediction", lambda message: (message, _empty(FEATURES_SHOWN)))
def show_prediction(settings: Settings, date_text: Any) -> tuple[str, pd.DataFrame]:
    """Return the prediction for the chosen date as Markdown, and the features used, for the UI."""
    result = predict_for_date(settings, date_text)
    text = (
        f"### {result.value:.2f} {UNIT} ({pm25_category(result.value)})\n\nPredicted daily mean PM2.5 in "
        f"{settings.location_name} on {result.date.strftime('%A %d %B %Y')} by `{result.model_name}` "
        f"v{result.model_version}; the category is on the {SCALE} scale."
    )
    return text, result.features.round({"value": 2})


@_shows_problems("No models yet", lambda message: (message, history_table(pd.DataFrame())))
def show_models(settings: Settings) -> tuple[str, pd.DataFrame]:
    """Return the aliases as Markdown and the history of promotions, rollbacks and gate decisions."""
    fs = connect(settings).get_feature_store()
    events = aliases.history(fs, settings.model_name)
    found = aliases.aliases(fs, settings.model_name, events)
    lines = []
    for alias in (aliases.PRODUCTION, aliases.SHADOW):
        held = found.get(alias)
        if held is None:
            lines.append(f"**{alias}:** none")
            continue
        back = f"; `rollback` returns to v{held.previous[-1]}" if held.previous else ""
        lines.append(f"**{alias}:** v{held.version} since {held.since}, by {held.by}{back}")
    return "  \n".join(lines), history_table(events, reason_chars=None)  # the table wraps long reasons


@_shows_problems("No monitoring data yet", lambda message: (_empty(ACCURACY_SHOWN), message))
def show_accuracy(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return one-day-ahead error over time per model version (7-day rolling MAE) and a message."""
    fs = connect(settings).get_feature_store()
    rows = monitoring.monitoring_rows(fs, settings.location.key, settings.model_name)
    if rows.empty:
        raise NothingYetError("**No outcomes recorded yet:** the daily inference runs record them.")
    summary = monitoring.accuracy_by_version(rows).to_dict("records")
    parts = [f"v{r['version']} ({r['roles']}): MAE {r['mae']:.2f} over {r['days']} days" for r in summary]
    over_time = monitoring.accuracy_over_time(rows)
    days, mae = _iso_days(over_time["date"]), over_time["rolling_mae"].astype("float64").round(2)
    frame = over_time.assign(day=days, rolling_mae=mae)[list(ACCURACY_SHOWN)]
    return frame, "Per model version, as outcomes arrived: " + "; ".join(parts) + "."


@_shows_problems("No drift report", lambda message: (_empty(DRIFT_SHOWN), message))
def show_drift(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return PSI per feature of the latest week against the training data, for production and shadow."""
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    models = [("production", _model(settings, fs, mr))]
    shadow = aliases.aliases(fs, settings.model_name).get(aliases.SHADOW)
    if shadow is not None:
        models.append(("shadow", _cached_model(settings, fs, mr, shadow.version)))
    location, threshold = settings.location.key, settings.drift_psi_threshold
    frames = []
    for role, model in models:
        table, _ = monitoring.feature_drift(model, location, utc_today(), settings.drift_bins, threshold)
        frames.append(table.assign(model=f"v{model.version} ({role})"))
    frame = pd.concat(frames, ignore_index=True)[list(DRIFT_SHOWN)]
    if frame.empty:
        raise NothingYetError("**No recent features to compare yet.**")
    drifted = sorted(set(frame.loc[frame["drift"], "feature"]))
    verdict = f"drift in {', '.join(drifted)}" if drifted else "no feature drifted"
    return frame.round({"psi": 2, "typical_psi": 2}), (
        f"The latest {monitoring.DRIFT_DAYS} days against the training days of the same season "
        f"(±{monitoring.SEASON_DAYS} days of the year; calendar features left out). A feature drifts "
        f"when its PSI is at least {threshold:g} and above `typical_psi`, the largest "
        f"PSI of any {monitoring.DRIFT_DAYS} days of that reference: {verdict}."
    )


# ---------------------------------------------------------------------------------------------- the app


# The app has no file input, but Gradio opens an upload endpoint for every app: launch with this
# bound (``launch(max_file_size=MAX_FILE_SIZE)``, as app.py does) so it refuses every non-empty file.
MAX_FILE_SIZE = 0


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """Build the Gradio app; the store is read only when a page loads or a button is pressed.

    Analytics are off in code (not only by GRADIO_ANALYTICS_ENABLED): the app sends nothing anywhere.
    """
    settings = settings if settings is not None else Settings()
    name = settings.location_name
    with gr.Blocks(title=f"PM2.5 forecast for {name}", analytics_enabled=False) as demo:
        gr.Markdown(f"# PM2.5 air quality forecast for {name}")
        overview = gr.Markdown()
        refresh = gr.Button("Reload data", size="sm")
        # Components appear in the order they are made: forecast, hindcast, prediction, models.
        outputs = {"overview": [overview], **_forecast_section(settings)}
        date, predict, result, features = _predict_section(outputs)
        outputs.update(_models_section())
        for api_name, handler in LOADERS.items():
            gr.on(
                [demo.load, refresh.click],
                _bound(handler, settings),
                outputs=outputs[api_name],
                api_name=api_name,
            )
        predict.click(
            _bound(show_prediction, settings), inputs=date, outputs=[result, features], api_name="predict"
        )
    demo.queue(default_concurrency_limit=2, max_size=16)
    return demo


def _bound(handler: Callable[..., Any], settings: Settings) -> Callable[..., Any]:
    """Return ``handler`` with the settings bound, under the handler's own name and docstring.

    Gradio names and documents the endpoint from the function: a ``functools.partial`` shows as ``partial``.
    """

    def bound(*inputs: Any) -> Any:
        return handler(settings, *inputs)

    bound.__name__ = bound.__qualname__ = handler.__name__
    bound.__doc__ = handler.__doc__
    return bound


def _day_plot(
    y: str, title: str, y_title: str = PM25_AXIS, color_map: dict[str, str] | None = SERIES_COLORS
) -> gr.LinePlot:
    """Return a line plot of one value per day: string days give one tick per day, no '12 PM'."""
    return gr.LinePlot(
        x="day",
        y=y,
        color="series",
        color_map=color_map,
        title=title,
        x_title="day (UTC)",
        y_title=y_title,
        x_label_angle=-45,
        sort="x",
        tooltip=["day", y, "series", *(["category"] if y == "pm25" else [])],
        height=320,
    )


def _forecast_section(settings: Settings) -> dict[str, list[Any]]:
    """Add the forecast and hindcast plots; return their outputs by loader name."""
    bands = ", ".join(f"{name} up to {upper:g}" for upper, name, _ in CATEGORIES[:-1])
    caption = f"Lines mark the {SCALE} ({UNIT}): {bands}, hazardous above."
    gr.Markdown(f"## Forecast for the next {settings.forecast_days} days\n{caption}")
    forecast_plot = _day_plot("pm25", "Predicted daily mean PM2.5")
    forecast_note = gr.Markdown()
    gr.Markdown("## Hindcast: how good were past forecasts?")
    hindcast_plot = _day_plot("pm25", "Predicted (1 day ahead) vs observed PM2.5")
    hindcast_note = gr.Markdown()
    return {"forecast": [forecast_plot, forecast_note], "hindcast": [hindcast_plot, hindcast_note]}


def _predict_section(outputs: dict[str, list[Any]]) -> tuple[Any, Any, Any, Any]:
    """Add the one-day prediction; register the date loader's outputs; return its components."""
    gr.Markdown(
        "## Predict one day\nReads the day's features from the online store and fills the PM2.5 lags "
        "that are not observed yet from observations and stored predictions."
    )
    with gr.Row():
        # Choices arrive on page load; the handler checks the value itself, so Gradio need not.
        date = gr.Dropdown(
            choices=[], value=None, label="Date (UTC)", allow_custom_value=True, interactive=True, scale=3
        )
        predict = gr.Button("Predict", variant="primary", scale=1)
    outputs["dates"] = [date, gr.Markdown()]
    result = gr.Markdown()
    features = gr.Dataframe(headers=list(FEATURES_SHOWN), label="Features used", interactive=False)
    return date, predict, result, features


def _models_section() -> dict[str, list[Any]]:
    """Add the models, monitoring and drift sections; return their outputs by loader name."""
    gr.Markdown(
        "## Models: production, shadow and their history\n`promote` (the green button) and `rollback` "
        "(the red button) move production; the training gate sets the shadow."
    )
    models_note = gr.Markdown()
    history = gr.Dataframe(
        label="History (newest first)",
        interactive=False,
        wrap=True,  # the whole reason, on as many lines as it needs
        column_widths=["15%", "9%", "6%", "5%", "9%", "12%", "44%"],  # at, event, ..., reason
    )
    gr.Markdown("## Monitoring: hindcast accuracy per model version")
    accuracy_plot = _day_plot("rolling_mae", "One-day-ahead MAE, 7-day rolling", f"MAE ({UNIT})", None)
    accuracy_note = gr.Markdown()
    gr.Markdown("## Feature drift: the latest week against the same season in training")
    drift = gr.Dataframe(label="PSI per feature", interactive=False)
    drift_note = gr.Markdown()
    return {
        "models": [models_note, history],
        "accuracy": [accuracy_plot, accuracy_note],
        "drift": [drift, drift_note],
    }


# Loaders run on page load and on "Reload data"; each is an API endpoint of its name.
LOADERS: dict[str, Callable[..., Any]] = {
    "overview": load_overview,
    "forecast": show_forecast,
    "hindcast": show_hindcast,
    "dates": date_choices,
    "models": show_models,
    "accuracy": show_accuracy,
    "drift": show_drift,
}
