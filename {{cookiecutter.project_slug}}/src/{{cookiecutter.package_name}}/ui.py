"""The web UI: forecast, hindcast, a day's prediction, models, monitoring; only handlers read the store."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import gradio as gr
import pandas as pd

from .catalog import FEATURES_VERSION, LABEL, day, feature_groups, location_rows, predictions_group, utc_today
from .features.air_quality import ALL_LAG_FEATURES
from .lifecycle import aliases, monitoring
from .model import HISTORY_DAYS, LoadedModel, feature_view_of, fill_lags
from .settings import Settings
from .store import connect

log = logging.getLogger(__name__)

RUN_PIPELINES = "Run the pipelines first: `feature`, then `training`, then `inference`."
RECENT_DAYS = 3  # past days offered for a prediction next to the coming ones
UNIT = "µg/m³"
DATES = "datetime64[us, UTC]"
# Column dtypes of the frames the UI shows, so a section with nothing to show gets an empty one.
PLOT_COLUMNS = {"day": "str", "pm25": "float64", "series": "str", "category": "str"}
FEATURES_SHOWN = {"feature": "str", "value": "float64", "source": "str"}
ACCURACY_SHOWN = {"day": "str", "rolling_mae": "float64", "series": "str"}
DRIFT_SHOWN = {"model": "str", "feature": "str", "psi": "float64", "typical_psi": "float64", "drift": "bool"}
# US EPA categories of daily mean PM2.5 (2024 breakpoints), in the course dashboards' colours.
SCALE = "US EPA 24-hour PM2.5 categories"
CATEGORIES = [
    (9.0, "good", "#00e400"),
    (35.4, "moderate", "#e6c300"),
    (55.4, "unhealthy for sensitive groups", "#ff7e00"),
    (125.4, "unhealthy", "#ff0000"),
    (225.4, "very unhealthy", "#8f3f97"),
    (float("inf"), "hazardous", "#7e0023"),
]
# The plotted category boundaries: (value, series name, the category above it, its colour).
BOUNDARIES = [(low, f"{name} above {low:g}", name, c) for (low, _, _), (_, name, c) in pairwise(CATEGORIES)]
BAND_COLORS = {series: color for _, series, _, color in BOUNDARIES}
SERIES_COLORS = {"forecast": "#1f4e9c", "observed": "#333", "predicted 1 day ahead": "#1f77b4", **BAND_COLORS}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_serving_cache: dict[tuple[str, ...], aliases.Serving] = {}


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


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _iso_days(dates: Any) -> list[str]:
    """Return dates as ISO day text: string days give a plot one tick per day, no '12 PM'."""
    return [pd.Timestamp(d).date().isoformat() for d in dates]


def _serving(settings: Settings, fs: Any, mr: Any) -> aliases.Serving:
    """Return production (or the version it falls back to) and the shadow, loaded once per history."""
    # Every registration or move adds an event with a unique id: the ids name the state.
    key = tuple(aliases.history(fs, settings.model_name)["event_id"])
    if (serving := _serving_cache.get(key)) is None:
        serving = aliases.load_serving(fs, mr, settings.model_name, record=False)
        if not serving.problems:  # a version that failed to load is tried again next time
            _serving_cache.clear()  # one store per process: the older models are not needed again
            _serving_cache[key] = serving
    return serving


def _pm25_history(fs: Any, location: str, model: LoadedModel, target: pd.Timestamp) -> pd.Series:
    """Return PM2.5 by date before ``target``: observed, then stored predictions for later days."""
    start = target - pd.Timedelta(days=HISTORY_DAYS)
    observed = location_rows(feature_groups(fs, model.feature_view[1])[1], location, start, target)
    history = observed.set_index("date")[LABEL].dropna() if not observed.empty else pd.Series(dtype="float64")
    stored = location_rows(predictions_group(fs), location, start, target)
    if not stored.empty:
        later = stored["date"] > history.index.max() if not history.empty else True
        stored = stored[(stored["model_name"] == model.meta.name) & later]
        # Per day: this model version first, then the newest other one; the smallest horizon wins.
        stored = stored.assign(_mine=stored["model_version"] == model.version).sort_values(
            ["_mine", "model_version", "horizon_days"], ascending=[False, False, True]
        )
        predicted = stored.drop_duplicates("date").set_index("date")["predicted_pm25"]
        history = pd.concat([history, predicted]) if not history.empty else predicted
    return history.sort_index().astype("float64")


def forecast_frame(settings: Settings) -> pd.DataFrame:
    """Return the stored forecast of the serving model for the coming days, one row per date."""
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    version = aliases.serving_version(fs, mr, settings.model_name)
    tomorrow = day(utc_today()) + pd.Timedelta(days=1)
    rows = location_rows(predictions_group(fs), settings.location.key, start=tomorrow)
    kept = {"date": DATES, "predicted_pm25": "float64", "horizon_days": "int64", "model_version": "int64"}
    if rows.empty:
        return _empty(kept)
    rows = rows[(rows["model_name"] == settings.model_name) & (rows["model_version"] == version)]
    return rows.sort_values(["date", "horizon_days"]).drop_duplicates("date", ignore_index=True)[list(kept)]


def hindcast_frame(settings: Settings) -> pd.DataFrame:
    """Return the serving version's (else the newest) one-day-ahead and observed PM2.5: date, pm25, series."""
    project = connect(settings)
    mr = project.get_model_registry()
    serving = aliases.serving_version(project.get_feature_store(), mr, settings.model_name)
    meta = mr.get_model(settings.model_name, version=serving)
    view = feature_view_of(meta)[1] if meta is not None else FEATURES_VERSION
    past = monitoring.hindcast(project, settings.location.key, settings.model_name, features_version=view)
    if past.empty:
        return _empty({"date": DATES, "pm25": "float64", "series": "str"})
    newest = serving if serving in set(past["model_version"]) else int(past["model_version"].max())
    mine = past[past["model_version"] == newest]
    long = mine.melt("date", ["actual_pm25", "predicted_pm25"], var_name="series", value_name="pm25")
    names = {"actual_pm25": "observed", "predicted_pm25": f"predicted (v{newest}, 1 day ahead)"}
    return long.assign(series=long["series"].map(names))[["date", "pm25", "series"]]


def prediction_dates(settings: Settings) -> list[str]:
    """Return the days (YYYY-MM-DD) with stored weather from a few days ago to the end of the forecast."""
    weather, _ = feature_groups(connect(settings).get_feature_store())
    today = day(utc_today())
    start, end = today - pd.Timedelta(days=RECENT_DAYS), today + pd.Timedelta(days=settings.forecast_days + 1)
    rows = location_rows(weather, settings.location.key, start, end)
    return [] if rows.empty else _iso_days(rows["date"])


def predict_for_date(settings: Settings, date_text: Any) -> PointPrediction:
    """Predict PM2.5 for a day ``prediction_dates`` offers (else InvalidDateError), filling unknown lags."""
    offered, text = prediction_dates(settings), date_text.strip() if isinstance(date_text, str) else ""
    if not offered:
        raise LookupError("no weather is stored for the coming days")
    if text not in offered:
        problem = f"{text[:40]!r} is not one of the offered dates" if text else "no date chosen"
        raise InvalidDateError(f"{problem} ({offered[0]} to {offered[-1]}): pick a date from the list")
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    target, location = day(dt.date.fromisoformat(text)), settings.location.key
    model = _serving(settings, fs, mr).production
    vector = model.scoring_view(init=True, online=True).get_feature_vector(
        serving_keys={"location": location, "date": target}, return_type="pandas", allow_missing=True
    )
    row, names = vector.iloc[0].to_dict(), model.feature_names
    if all(pd.isna(row.get(n)) for n in names if n not in ALL_LAG_FEATURES):
        raise LookupError(f"the online store has no features for {text}")
    filled = fill_lags(row, _pm25_history(fs, location, model, target), target)
    value = max(float(model.predict(pd.DataFrame([filled]))[0]), 0.0)
    values = pd.Series([filled.get(n) for n in names], dtype="float64")
    lags_filled = pd.Series([n in ALL_LAG_FEATURES and pd.isna(row.get(n)) for n in names])
    source = lags_filled.map({True: "from observed and predicted PM2.5", False: "online store"})
    source = source.mask(values.isna(), "unknown (the model handles it as missing)")
    features = pd.DataFrame({"feature": names, "value": values, "source": source})
    return PointPrediction(target.date(), value, model.meta.name, model.version, features)


def _shows_problems(what: str, fallback: Callable[[str], Any]) -> Callable[[Callable[..., Any]], Any]:
    """Return a decorator: when the handler raises, the UI gets ``fallback(message)``, never a traceback."""
    # The hint to run the pipelines is shown once, in the overview, not under every section.

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def handled(settings: Settings, *inputs: Any) -> Any:
            try:
                return handler(settings, *inputs)
            except (InvalidDateError, LookupError) as exc:  # the reason may quote the user's text
                title = "Invalid date" if isinstance(exc, InvalidDateError) else what
                reason = exc.args[0] if exc.args else type(exc).__name__
                # Escaped, so that Markdown shows the text as typed: no links, emphasis or HTML.
                text = _MARKDOWN_SPECIAL.sub(r"\\\1", str(reason)).replace("&", "&amp;").replace("<", "&lt;")
                return fallback(f"**{title}:** {text}.")
            except Exception as exc:
                kind = type(exc).__name__
                log.warning("%s: %s: %s", what, kind, exc, exc_info=exc)
                return fallback(f"**{what}:** the store could not be read ({kind}: see the server log).")

        return handled

    return decorate


def pm25_category(value: float) -> str:
    """Return the US EPA category of a daily mean PM2.5 in µg/m³ (the scale has one decimal)."""
    rounded = round(float(value), 1)
    return next(name for upper, name, _ in CATEGORIES if rounded <= upper)


def plot_frame(dates: pd.Series, values: pd.Series, series: Any) -> pd.DataFrame:
    """Return rows to plot (ISO day, PM2.5, series, category) and category lines up to the first above all."""
    values = values.astype("float64").round(1)
    rows = pd.DataFrame({"day": _iso_days(dates), "pm25": values.to_numpy(), "series": series})
    rows["category"] = [pm25_category(v) for v in values]
    ends, top = (min(rows["day"]), max(rows["day"])), float(values.max())
    count = next((i + 1 for i, boundary in enumerate(BOUNDARIES) if boundary[0] >= top), len(BOUNDARIES))
    lines = [(d, low, series, above) for low, series, above, _ in BOUNDARIES[:count] for d in ends]
    return pd.concat([rows, pd.DataFrame(lines, columns=list(PLOT_COLUMNS))], ignore_index=True)


@_shows_problems("No model yet", lambda message: f"{message} {RUN_PIPELINES}")
def load_overview(settings: Settings) -> str:
    """Return Markdown naming the model in use (production), its feature view and metrics, and the shadow."""
    project = connect(settings)
    fs, mr = project.get_feature_store(), project.get_model_registry()
    events = aliases.history(fs, settings.model_name)  # read once: on Hopsworks each read is a query
    found = aliases.aliases(fs, settings.model_name, events)
    version = aliases.serving_version(fs, mr, settings.model_name, events)
    if (meta := mr.get_model(settings.model_name, version=version)) is None:
        raise LookupError(f"model {settings.model_name!r} has no version {version}")
    view_name, view_version = feature_view_of(meta)
    role = "production" if found.get(aliases.PRODUCTION) else "newest; no production alias"
    lines = [
        f"**Model:** `{meta.name}` version **v{version}** ({role}), trained on feature view "
        f"`{view_name}` v{view_version}."
    ]
    if (shadow := found.get(aliases.SHADOW)) is not None:
        lines.append(
            f"**Shadow:** v{shadow.version} since {shadow.since}: scored beside production, not served."
        )
    metrics = meta.training_metrics or {}
    mae, baseline, days = (metrics.get(key) for key in ("mae", "baseline_mae", "test_rows"))
    if isinstance(mae, (int, float)) and isinstance(baseline, (int, float)):
        window = f" over {int(days)} test days" if isinstance(days, (int, float)) else ""
        lines.append(
            f"**Test MAE{window}:** {mae:.2f} {UNIT} for the model vs {baseline:.2f} {UNIT} "
            "for the persistence baseline (tomorrow = today)."
        )
    if settings.data_source == "synthetic":
        lines.append("*Data source: the offline simulator, so the numbers are made up.*")
    return "\n\n".join(lines)


@_shows_problems("No forecast yet", lambda message: (_empty(PLOT_COLUMNS), message))
def show_forecast(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return the forecast plot data (with the category lines) and a message for the UI."""
    frame = forecast_frame(settings)
    if frame.empty:
        return _empty(PLOT_COLUMNS), "**No forecast for the coming days yet.**"
    pairs = zip(frame["date"], frame["predicted_pm25"], strict=True)
    days = " · ".join(f"{d:%a %d %b}: **{v:.1f}** ({pm25_category(v)})" for d, v in pairs)
    version = frame["model_version"].iloc[0]
    note = f"Daily mean PM2.5 in {UNIT} by model v{version} ({SCALE} in brackets): {days}"
    return plot_frame(frame["date"], frame["predicted_pm25"], "forecast"), note


@_shows_problems("No hindcast yet", lambda message: (_empty(PLOT_COLUMNS), message))
def show_hindcast(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return the hindcast plot data (observed and predicted, with the category lines) and a message."""
    frame = hindcast_frame(settings)
    if frame.empty:
        return _empty(PLOT_COLUMNS), "**No hindcast yet:** no stored predictions of past days."
    wide = frame.pivot_table(index="date", columns="series", values="pm25")
    mae = float((wide.iloc[:, 0] - wide.iloc[:, 1]).abs().mean())
    version = frame["series"].str.extract(r"\(v(\d+)")[0].dropna().iloc[0]
    series = frame["series"].where(frame["series"] == "observed", "predicted 1 day ahead")
    note = f"MAE of model v{version} over {len(wide)} days: {mae:.2f} {UNIT}."
    return plot_frame(frame["date"], frame["pm25"], series.to_numpy()), note


@_shows_problems("No dates to predict yet", lambda message: (gr.Dropdown(choices=[], value=None), message))
def date_choices(settings: Settings) -> tuple[Any, str]:
    """Return the date dropdown (offered dates, tomorrow selected) and a message for the UI."""
    dates = prediction_dates(settings)
    if not dates:
        return gr.Dropdown(choices=[], value=None), "**No weather stored for the coming days yet.**"
    tomorrow = (utc_today() + dt.timedelta(days=1)).isoformat()
    return gr.Dropdown(choices=dates, value=tomorrow if tomorrow in dates else dates[0]), ""


@_shows_problems("No prediction", lambda message: (message, _empty(FEATURES_SHOWN)))
def show_prediction(settings: Settings, date_text: Any) -> tuple[str, pd.DataFrame]:
    """Return the prediction for the chosen date as Markdown, and the features used, for the UI."""
    result = predict_for_date(settings, date_text)
    text = (
        f"### {result.value:.2f} {UNIT} ({pm25_category(result.value)})\n\nPredicted daily mean PM2.5 in "
        f"{settings.location_name} on {result.date:%A %d %B %Y} by `{result.model_name}` "
        f"v{result.model_version}; the category is on the {SCALE} scale."
    )
    return text, result.features.round({"value": 2})


@_shows_problems("No models yet", lambda message: (message, aliases.history_table(pd.DataFrame())))
def show_models(settings: Settings) -> tuple[str, pd.DataFrame]:
    """Return the aliases as Markdown and the history of promotions, rollbacks and gate decisions."""
    fs = connect(settings).get_feature_store()
    events = aliases.history(fs, settings.model_name)
    found = aliases.aliases(fs, settings.model_name, events)
    lines = [
        f"**{alias}:** {aliases.alias_text(found.get(alias))}"
        for alias in (aliases.PRODUCTION, aliases.SHADOW)
    ]
    table = aliases.history_table(events, reason_chars=None)  # the whole reasons: the table wraps them
    return "  \n".join(lines), table


@_shows_problems("No monitoring data yet", lambda message: (_empty(ACCURACY_SHOWN), message))
def show_accuracy(settings: Settings) -> tuple[pd.DataFrame, str]:
    """Return one-day-ahead error over time per model version (7-day rolling MAE) and a message."""
    fs = connect(settings).get_feature_store()
    rows = monitoring.monitoring_rows(fs, settings.location.key, settings.model_name)
    if rows.empty:
        return _empty(ACCURACY_SHOWN), "**No outcomes recorded yet:** the daily inference runs record them."
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
    serving = _serving(settings, project.get_feature_store(), project.get_model_registry())
    location, threshold = settings.location.key, settings.drift_psi_threshold
    frames = []
    for role, model in (("production", serving.production), ("shadow", serving.shadow)):
        if model is not None:
            table, _ = monitoring.feature_drift(model, location, utc_today(), settings.drift_bins, threshold)
            frames.append(table.assign(model=f"v{model.version} ({role})"))
    frame = pd.concat(frames, ignore_index=True)[list(DRIFT_SHOWN)]
    if frame.empty:
        return _empty(DRIFT_SHOWN), "**No recent features to compare yet.**"
    drifted = sorted(set(frame.loc[frame["drift"], "feature"]))
    verdict = f"drift in {', '.join(drifted)}" if drifted else "no feature drifted"
    return frame.round({"psi": 2, "typical_psi": 2}), (
        f"The latest {monitoring.DRIFT_DAYS} days against the training days of the same season "
        f"(±{monitoring.SEASON_DAYS} days of the year; calendar features left out). A feature drifts "
        f"when its PSI is at least {threshold:g} and above `typical_psi`, the largest "
        f"PSI of any {monitoring.DRIFT_DAYS} days of that reference: {verdict}."
    )


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
# Gradio opens an upload endpoint even for an app without file inputs: launched with this, it refuses files.
MAX_FILE_SIZE = 0
DAY_PLOT = dict(x="day", color="series", x_title="day (UTC)", x_label_angle=-45, sort="x", height=320)


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """Build the Gradio app, analytics off in code; only its event handlers read the store."""
    settings = settings if settings is not None else Settings()
    name, bands = settings.location_name, ", ".join(f"{n} up to {u:g}" for u, n, _ in CATEGORIES[:-1])
    with gr.Blocks(title=f"PM2.5 forecast for {name}", analytics_enabled=False) as demo:
        gr.Markdown(f"# PM2.5 air quality forecast for {name}")
        outputs = {"overview": [gr.Markdown()]}
        refresh = gr.Button("Reload data", size="sm")
        gr.Markdown(
            f"## Forecast for the next {settings.forecast_days} days\n"
            f"Lines mark the {SCALE} ({UNIT}): {bands}, hazardous above."
        )
        outputs["forecast"] = [_day_plot("pm25", "Predicted daily mean PM2.5"), gr.Markdown()]
        gr.Markdown("## Hindcast: how good were past forecasts?")
        outputs["hindcast"] = [_day_plot("pm25", "Predicted (1 day ahead) vs observed PM2.5"), gr.Markdown()]
        gr.Markdown(
            "## Predict one day\nReads the day's features from the online store and fills the PM2.5 lags "
            "that are not observed yet from observations and stored predictions."
        )
        with gr.Row():
            # Choices arrive on page load; the handler checks the value itself, so Gradio need not.
            date = gr.Dropdown(label="Date (UTC)", allow_custom_value=True, interactive=True, scale=3)
            predict = gr.Button("Predict", variant="primary", scale=1)
        outputs["dates"], result = [date, gr.Markdown()], gr.Markdown()
        features = gr.Dataframe(headers=list(FEATURES_SHOWN), label="Features used", interactive=False)
        gr.Markdown(
            "## Models: production, shadow and their history\n`promote` (the green button) and `rollback` "
            "(the red button) move production; the training gate sets the shadow."
        )
        widths = ["15%", "9%", "6%", "5%", "9%", "12%", "44%"]  # at, event, ..., the whole reason, wrapped
        outputs["models"] = [  # the aliases, above their history
            gr.Markdown(),
            gr.Dataframe(label="History (newest first)", interactive=False, wrap=True, column_widths=widths),
        ]
        gr.Markdown("## Monitoring: hindcast accuracy per model version")
        accuracy = _day_plot("rolling_mae", "One-day-ahead MAE, 7-day rolling", f"MAE ({UNIT})", None)
        outputs["accuracy"] = [accuracy, gr.Markdown()]
        gr.Markdown("## Feature drift: the latest week against the same season in training")
        outputs["drift"] = [gr.Dataframe(label="PSI per feature", interactive=False), gr.Markdown()]
        for api, handler in LOADERS.items():
            gr.on([demo.load, refresh.click], _bound(handler, settings), outputs=outputs[api], api_name=api)
        predict.click(_bound(show_prediction, settings), date, [result, features], api_name="predict")
    demo.queue(default_concurrency_limit=2, max_size=16)
    return demo


def _bound(handler: Callable[..., Any], settings: Settings) -> Callable[..., Any]:
    """Return ``handler`` with the settings bound, under its own name and docstring (not ``partial``)."""
    names = ("__name__", "__qualname__", "__doc__")
    bound = functools.update_wrapper(lambda *inputs: handler(settings, *inputs), handler, names, updated=())
    del bound.__wrapped__  # Gradio counts the inputs from the signature: only the inputs, not the settings
    return bound


def _day_plot(y: str, title: str, axis: str = f"PM2.5 ({UNIT})", colors: Any = SERIES_COLORS) -> gr.LinePlot:
    tooltip = ["day", y, "series", *(["category"] if y == "pm25" else [])]
    return gr.LinePlot(y=y, title=title, y_title=axis, color_map=colors, tooltip=tooltip, **DAY_PLOT)
