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
import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
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

RECENT_DAYS = 3  # past days offered for a prediction next to the coming ones
RUN_PIPELINES = "Run the pipelines first: `feature`, then `training`, then `inference`."
UNIT = "µg/m³"
DATES = "datetime64[us, UTC]"
FEATURE_COLUMNS = ["feature", "value", "source"]
PLOT_COLUMNS = {"day": "str", "pm25": "float64", "series": "str", "category": "str"}
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
BAND_COLORS = {
    f"{name} above {low:g}": color
    for (low, _, _), (_, name, color) in zip(CATEGORIES, CATEGORIES[1:], strict=False)
}
SERIES_COLORS = {
    "forecast": "#1f4e9c",
    "observed": "#333333",
    "predicted 1 day ahead": "#1f77b4",
    **BAND_COLORS,
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_ONE_DAY = pd.Timedelta(days=1)
_MODEL_CACHE_SIZE = 4
_model_cache: dict[tuple[Any, ...], LoadedModel] = {}
_model_lock = threading.Lock()


class InvalidDateError(ValueError):
    """The requested date is not one of the dates the UI offers."""


@dataclass
class PointPrediction:
    """A prediction for one day with the features it was made from."""

    date: dt.date
    value: float
    model_name: str
    model_version: int
    features: pd.DataFrame  # columns: feature, value, source


# ---------------------------------------------------------------------------------------------- reading


def _empty(**dtypes: str) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _offered_dates(fs: Any, settings: Settings) -> list[str]:
    """Return the days with stored weather from a few days ago to the end of the forecast, as ISO text."""
    weather, _ = feature_groups(fs)
    today = utc_today()
    start = day(today - dt.timedelta(days=RECENT_DAYS))
    end = day(today + dt.timedelta(days=settings.forecast_days + 1))
    rows = location_rows(weather, settings.location.key, start, end)
    return [] if rows.empty else [d.date().isoformat() for d in rows["date"]]


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
    meta = mr.get_model(settings.model_name, version=version)
    if meta is None:
        raise LookupError(f"model {settings.model_name!r} has no version {version}")
    key = (
        settings.store_backend,
        str(settings.store_dir),
        settings.hopsworks_host,
        settings.hopsworks_project,
        settings.model_name,
        version,
        str(getattr(meta, "created", "")),  # a store rebuilt from scratch re-registers version 1
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


def load_overview(settings: Settings) -> str:
    """Return Markdown naming the model in use (production), its feature view and metrics, and the shadow."""
    try:
        project = connect(settings)
        fs, mr = project.get_feature_store(), project.get_model_registry()
        found = aliases.aliases(fs, settings.model_name)
        production = found.get(aliases.PRODUCTION)
        version = aliases.serving_version(fs, mr, settings.model_name)
        meta = mr.get_model(settings.model_name, version=version)
        if meta is None:
            raise LookupError(f"model {settings.model_name!r} has no version {version}")
        view_name, view_version = feature_view_of(meta)
    except Exception as exc:
        return f"{_problem('No model yet', exc)} {RUN_PIPELINES}"
    metrics = meta.training_metrics or {}
    role = "production" if production else "newest; no production alias"
    lines = [
        f"**Model:** `{meta.name}` version **v{version}** ({role}), trained on feature view "
        f"`{view_name}` v{view_version}.",
    ]
    shadow = found.get(aliases.SHADOW)
    if shadow is not None:
        lines.append(
            f"**Shadow:** v{shadow.version} since {shadow.since}: scored beside production, not served."
        )
    mae, baseline = metrics.get("mae"), metrics.get("baseline_mae")
    if isinstance(mae, (int, float)) and isinstance(baseline, (int, float)):
        days = metrics.get("test_rows")
        window = f" over {int(days)} test days" if isinstance(days, (int, float)) else ""
        lines.append(
            f"**Test MAE{window}:** {mae:.2f} {UNIT} for the model vs {baseline:.2f} {UNIT} "
            "for the persistence baseline (tomorrow = today)."
        )
    if settings.data_source == "synthetic":
        lines.append("*Data source: the offline simulator, so the numbers are made up.*")
    return "\n\n".join(lines)


def forecast_frame(settings: Settings) -> pd.DataFrame:
    """Return the stored forecast of the newest model for the coming days, one row per date.

    Raises:
        LookupError: If no model is registered yet.
    """
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    version = aliases.serving_version(fs, mr, settings.model_name)
    tomorrow = day(utc_today() + dt.timedelta(days=1))
    rows = location_rows(predictions_group(fs), settings.location.key, start=tomorrow)
    columns = ["date", "predicted_pm25", "horizon_days", "model_version"]
    if rows.empty:
        return _empty(date=DATES, predicted_pm25="float64", horizon_days="int64", model_version="int64")
    rows = rows[(rows["model_name"] == settings.model_name) & (rows["model_version"] == version)]
    rows = rows.sort_values(["date", "horizon_days"]).drop_duplicates("date")
    return rows[columns].reset_index(drop=True)


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
        return _empty(date=DATES, pm25="float64", series="str")
    newest = serving if serving in set(past["model_version"]) else int(past["model_version"].max())
    mine = past[past["model_version"] == newest]
    observed = mine[["date", "actual_pm25"]].rename(columns={"actual_pm25": "pm25"}).assign(series="observed")
    predicted = mine[["date", "predicted_pm25"]].rename(columns={"predicted_pm25": "pm25"})
    predicted = predicted.assign(series=f"predicted (v{newest}, 1 day ahead)")
    return pd.concat([observed, predicted], ignore_index=True)


def prediction_dates(settings: Settings) -> list[str]:
    """Return the dates (YYYY-MM-DD) offered for an interactive prediction."""
    return _offered_dates(connect(settings).get_feature_store(), settings)


def predict_for_date(settings: Settings, date_text: Any) -> PointPrediction:
    """Predict PM2.5 for an offered date from the online feature vector, filling unknown lags.

    Raises:
        InvalidDateError: If ``date_text`` is not one of ``prediction_dates(settings)``.
        LookupError: If the store has no model or no features for the date yet.
    """
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    offered = _offered_dates(fs, settings)
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
    chosen = dt.date.fromisoformat(text)
    target = day(chosen)
    location = settings.location.key

    model = _model(settings, fs, mr)
    fv = model.meta.get_feature_view(init=True, online=True)
    if fv is None:
        raise LookupError(f"model {model.meta.name} v{model.version} is not linked to a feature view")
    vector = fv.get_feature_vector(
        serving_keys={"location": location, "date": target}, return_type="pandas", allow_missing=True
    )
    row = vector.iloc[0].to_dict()
    looked_up = [n for n in model.feature_names if n not in ALL_LAG_FEATURES]
    if all(_missing(row.get(n)) for n in looked_up):
        raise LookupError(f"the online store has no features for {text}")
    filled = fill_lags(row, _pm25_history(fs, location, model, target), target)
    value = max(float(model.predict(pd.DataFrame([filled]))[0]), 0.0)

    def source(name: str) -> str:
        if _missing(filled.get(name)):
            return "unknown (the model handles it as missing)"
        if name in ALL_LAG_FEATURES and _missing(row.get(name)):
            return "from observed and predicted PM2.5"
        return "online store"

    features = pd.DataFrame(
        {
            "feature": model.feature_names,
            "value": [math.nan if _missing(filled.get(n)) else float(filled[n]) for n in model.feature_names],
            "source": [source(n) for n in model.feature_names],
        }
    )
    return PointPrediction(chosen, value, model.meta.name, model.version, features)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------ UI handlers


def _problem(what: str, exc: Exception) -> str:
    """Return a message for the UI: the reason for missing data, never a traceback.

    The hint to run the pipelines is shown once, in the overview, not under every section.
    """
    if isinstance(exc, LookupError):
        reason = exc.args[0] if exc.args else type(exc).__name__
        return f"**{what}:** {plain(str(reason))}."
    log.warning("%s: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
    return f"**{what}:** the store could not be read ({type(exc).__name__}, details in the server log)."


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
            "day": [pd.Timestamp(d).date().isoformat() for d in dates],
            "pm25": values.to_numpy(),
            "series": series if isinstance(series, str) else list(series),
            "category": [pm25_category(v) for v in values],
        }
    )


def category_lines(days: list[str], top: float) -> pd.DataFrame:
    """Return flat lines at the category boundaries, up to the first one at or above ``top``."""
    rows = []
    for (upper, _, _), (_, above, _) in zip(CATEGORIES, CATEGORIES[1:], strict=False):
        name = f"{above} above {upper:g}"
        rows += [{"day": d, "pm25": upper, "series": name, "category": above} for d in (days[0], days[-1])]
        if upper >= top:
            break
    return pd.DataFrame(rows, columns=list(PLOT_COLUMNS))


def _with_categories(frame: pd.DataFrame) -> pd.DataFrame:
    days = sorted(set(frame["day"]))
    return pd.concat([frame, category_lines(days, float(frame["pm25"].max()))], ignore_index=True)


def show_forecast(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return the forecast plot data (with the category lines) and a message for the UI."""
    try:
        frame = forecast_frame(settings)
    except Exception as exc:
        return _empty(**PLOT_COLUMNS), _problem("No forecast yet", exc)
    if frame.empty:
        return _empty(**PLOT_COLUMNS), "**No forecast for the coming days yet.**"
    shown = plot_frame(frame["date"], frame["predicted_pm25"], "forecast")
    pairs = zip(frame["date"], shown["pm25"], shown["category"], strict=True)
    days = " · ".join(f"{d.strftime('%a %d %b')}: **{v:.1f}** ({c})" for d, v, c in pairs)
    version = int(frame["model_version"].iloc[0])
    note = f"Daily mean PM2.5 in {UNIT} by model v{version} ({SCALE} in brackets): {days}"
    return _with_categories(shown), note


def show_hindcast(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return the hindcast plot data (observed and predicted, with the category lines) and a message."""
    try:
        frame = hindcast_frame(settings)
    except Exception as exc:
        return _empty(**PLOT_COLUMNS), _problem("No hindcast yet", exc)
    if frame.empty:
        return _empty(**PLOT_COLUMNS), "**No hindcast yet:** no stored predictions of past days."
    wide = frame.pivot_table(index="date", columns="series", values="pm25")
    mae = float((wide.iloc[:, 0] - wide.iloc[:, 1]).abs().mean())
    version = frame["series"].str.extract(r"\(v(\d+)")[0].dropna()
    label = f"model v{version.iloc[0]}" if not version.empty else "the model"
    series = frame["series"].where(frame["series"] == "observed", "predicted 1 day ahead")
    shown = plot_frame(frame["date"], frame["pm25"], series)
    return _with_categories(shown), f"MAE of {label} over {len(wide)} days: {mae:.2f} {UNIT}."


def date_choices(settings: Settings) -> tuple[Any, str]:
    """Return the date dropdown (offered dates, tomorrow selected) and a message for the UI."""
    none = gr.Dropdown(choices=[], value=None)
    try:
        dates = prediction_dates(settings)
    except Exception as exc:
        return none, _problem("No dates to predict yet", exc)
    if not dates:
        return none, "**No weather stored for the coming days yet.**"
    tomorrow = (utc_today() + dt.timedelta(days=1)).isoformat()
    return gr.Dropdown(choices=dates, value=tomorrow if tomorrow in dates else dates[0]), ""


def show_prediction(settings: Settings, date_text: Any) -> tuple[str, pd.DataFrame]:
    """Return the prediction for the chosen date as Markdown, and the features used, for the UI."""
    no_features = _empty(feature="str", value="float64", source="str")
    try:
        result = predict_for_date(settings, date_text)
    except InvalidDateError as exc:
        return f"**Invalid date:** {plain(str(exc))}", no_features  # the message quotes the user's text
    except Exception as exc:
        return _problem("No prediction", exc), no_features
    text = (
        f"### {result.value:.2f} {UNIT} ({pm25_category(result.value)})\n\nPredicted daily mean PM2.5 in "
        f"{settings.location_name} on {result.date.strftime('%A %d %B %Y')} by `{result.model_name}` "
        f"v{result.model_version}; the category is on the {SCALE} scale."
    )
    return text, result.features.round({"value": 2})


def show_models(settings: Settings) -> tuple[str, pd.DataFrame]:
    """Return the aliases as Markdown and the history of promotions, rollbacks and gate decisions."""
    no_history = history_table(pd.DataFrame())
    try:
        fs = connect(settings).get_feature_store()
        events = aliases.history(fs, settings.model_name)
        found = aliases.aliases(fs, settings.model_name, events)
    except Exception as exc:
        return _problem("No models yet", exc), no_history
    lines = []
    for alias in (aliases.PRODUCTION, aliases.SHADOW):
        held = found.get(alias)
        if held is None:
            lines.append(f"**{alias}:** none")
            continue
        back = f"; `rollback` returns to v{held.previous[-1]}" if held.previous else ""
        lines.append(f"**{alias}:** v{held.version} since {held.since}, by {held.by}{back}")
    return "  \n".join(lines), history_table(events, reason_chars=None)  # the table wraps long reasons


def show_accuracy(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return one-day-ahead error over time per model version (7-day rolling MAE) and a message."""
    empty = _empty(day="str", rolling_mae="float64", series="str")
    try:
        fs = connect(settings).get_feature_store()
        rows = monitoring.monitoring_rows(fs, settings.location.key, settings.model_name)
    except Exception as exc:
        return empty, _problem("No monitoring data yet", exc)
    if rows.empty:
        return empty, "**No outcomes recorded yet:** the daily inference runs record them."
    summary = monitoring.accuracy_by_version(rows).to_dict("records")
    parts = [f"v{r['version']} ({r['roles']}): MAE {r['mae']:.2f} over {r['days']} days" for r in summary]
    over_time = monitoring.accuracy_over_time(rows)
    frame = pd.DataFrame(
        {
            "day": [pd.Timestamp(d).date().isoformat() for d in over_time["date"]],
            "rolling_mae": over_time["rolling_mae"].astype("float64").round(2),
            "series": over_time["series"],
        }
    )
    return frame, "Per model version, as outcomes arrived: " + "; ".join(parts) + "."


def show_drift(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return PSI per feature of the latest week against the training data, for production and shadow."""
    empty = _empty(model="str", feature="str", psi="float64", typical_psi="float64", drift="bool")
    try:
        project = connect(settings)
        fs, mr = project.get_feature_store(), project.get_model_registry()
        models = [("production", _model(settings, fs, mr))]
        shadow = aliases.aliases(fs, settings.model_name).get(aliases.SHADOW)
        if shadow is not None:
            models.append(("shadow", _cached_model(settings, fs, mr, shadow.version)))
        frames = []
        for role, model in models:
            table, _ = monitoring.feature_drift(
                model, settings.location.key, utc_today(), settings.drift_bins, settings.drift_psi_threshold
            )
            frames.append(table.assign(model=f"v{model.version} ({role})"))
    except Exception as exc:
        return empty, _problem("No drift report", exc)
    frame = pd.concat(frames, ignore_index=True)[["model", "feature", "psi", "typical_psi", "drift"]]
    if frame.empty:
        return empty, "**No recent features to compare yet.**"
    drifted = sorted(set(frame.loc[frame["drift"], "feature"]))
    verdict = f"drift in {', '.join(drifted)}" if drifted else "no feature drifted"
    return frame.round({"psi": 2, "typical_psi": 2}), (
        f"The latest {monitoring.DRIFT_DAYS} days against the training days of the same season "
        f"(±{monitoring.SEASON_DAYS} days of the year; calendar features left out). A feature drifts "
        f"when its PSI is at least {settings.drift_psi_threshold:g} and above `typical_psi`, the largest "
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

    Gradio names the endpoint and documents it from the function: a ``functools.partial`` would
    show as ``partial`` with no description.
    """

    def bound(*inputs: Any) -> Any:
        return handler(settings, *inputs)

    bound.__name__ = bound.__qualname__ = handler.__name__
    bound.__doc__ = handler.__doc__
    return bound


def _day_plot(y: str, title: str, y_title: str, color_map: dict[str, str] | None = None) -> gr.LinePlot:
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
    forecast_plot = _day_plot("pm25", "Predicted daily mean PM2.5", f"PM2.5 ({UNIT})", SERIES_COLORS)
    forecast_note = gr.Markdown()
    gr.Markdown("## Hindcast: how good were past forecasts?")
    hindcast_plot = _day_plot(
        "pm25", "Predicted (1 day ahead) vs observed PM2.5", f"PM2.5 ({UNIT})", SERIES_COLORS
    )
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
    features = gr.Dataframe(headers=FEATURE_COLUMNS, label="Features used", interactive=False)
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
    accuracy_plot = _day_plot("rolling_mae", "One-day-ahead MAE, 7-day rolling", f"MAE ({UNIT})")
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
