"""Tests of the data sources: Open-Meteo against a loopback HTTP server, and the simulator."""

from __future__ import annotations

import datetime
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest
import requests

from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.sources import get_source
from {{ cookiecutter.package_name }}.sources.base import Location, SourceError
from {{ cookiecutter.package_name }}.sources.open_meteo import (
    DAILY_VARIABLES,
    USER_AGENT,
    OpenMeteoClient,
)
from {{ cookiecutter.package_name }}.sources.synthetic import ORIGIN, SyntheticSource

TODAY = datetime.date(2024, 3, 20)
STOCKHOLM = Location(key="stockholm", name="Stockholm", latitude=59.33, longitude=18.07)
WEATHER_COLUMNS = ["date", *DAILY_VARIABLES]


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


# ---------------------------------------------------------------------- fake Open-Meteo server


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Route = Reply | Callable[[dict[str, str]], Reply]


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    user_agent: str | None


class FakeOpenMeteo:
    """Serve scripted replies per path; the last reply of a path repeats."""

    def __init__(self) -> None:
        self.base = ""
        self.routes: dict[str, list[Route]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def script(self, path: str, *replies: Route) -> None:
        self.routes[path] = list(replies)

    def next_reply(self, path: str, params: dict[str, str], user_agent: str | None) -> Reply:
        with self.lock:
            self.seen.append(Seen(path, params, user_agent))
            queue = self.routes.get(path)
            if not queue:
                return Reply(404, {"error": True, "reason": f"no route {path}"})
            route = queue.pop(0) if len(queue) > 1 else queue[0]
        return route(params) if callable(route) else route

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


class Handler(BaseHTTPRequestHandler):
    server: Any

    def do_GET(self) -> None:  # noqa: N802 (name required by BaseHTTPRequestHandler)
        url = urlsplit(self.path)
        reply = self.server.fake.next_reply(url.path, dict(parse_qsl(url.query)), self.headers["User-Agent"])
        if reply.delay_s:
            time.sleep(reply.delay_s)
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def log_message(self, *args: Any) -> None:
        pass  # keep test output clean


@pytest.fixture
def server() -> Iterator[FakeOpenMeteo]:
    fake = FakeOpenMeteo()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def make_client(base: str, **kwargs: Any) -> tuple[OpenMeteoClient, list[float]]:
    session = requests.Session()
    session.trust_env = False  # ignore proxy variables: tests talk to loopback only
    sleeps: list[float] = []
    options: dict[str, Any] = {"timeout_s": 2.0, "max_retries": 3, "sleep": sleeps.append, "today": TODAY}
    options.update(kwargs)
    client = OpenMeteoClient(
        archive_url=f"{base}/v1/archive",
        forecast_url=f"{base}/v1/forecast",
        air_quality_url=f"{base}/v1/air-quality",
        session=session,
        **options,
    )
    return client, sleeps


def daily_reply(offset: float) -> Callable[[dict[str, str]], Reply]:
    """Answer a daily request for its date range; temperature = offset + day index."""

    def reply(params: dict[str, str]) -> Reply:
        days = pd.date_range(params["start_date"], params["end_date"], freq="D")
        n = len(days)
        daily: dict[str, list[Any]] = {"time": [d.strftime("%Y-%m-%d") for d in days]}
        daily["temperature_2m_mean"] = [offset + i for i in range(n)]
        daily["precipitation_sum"] = [0.5] * n
        daily["wind_speed_10m_max"] = [10] * n  # ints must come back as float64
        daily["wind_direction_10m_dominant"] = [None] + [270] * (n - 1)  # null -> NaN
        units = {"time": "iso8601", "temperature_2m_mean": "°C", "wind_speed_10m_max": "km/h"}
        return Reply(body={"latitude": 59.3, "longitude": 18.1, "daily_units": units, "daily": daily})

    return reply


def one_day_body(date: str = "2024-01-01") -> dict[str, Any]:
    return {"daily": {"time": [date], **{name: [1.0] for name in DAILY_VARIABLES}}}


# ---------------------------------------------------------------------- OpenMeteoClient


def test_weather_splits_archive_and_forecast(server: FakeOpenMeteo) -> None:
    server.script("/v1/archive", daily_reply(0.0))
    server.script("/v1/forecast", daily_reply(100.0))
    client, sleeps = make_client(server.base)

    frame = client.fetch_weather(STOCKHOLM, day("2024-03-01"), day("2024-03-25"))

    archive, forecast = server.seen
    assert archive.path == "/v1/archive"
    assert archive.params == {
        "latitude": "59.33",
        "longitude": "18.07",
        "start_date": "2024-03-01",
        "end_date": "2024-03-14",
        "daily": ",".join(DAILY_VARIABLES),
        "timezone": "UTC",
        "wind_speed_unit": "kmh",
    }
    assert forecast.path == "/v1/forecast"
    assert (forecast.params["start_date"], forecast.params["end_date"]) == ("2024-03-15", "2024-03-25")
    assert forecast.params["daily"] == archive.params["daily"]
    assert archive.user_agent == USER_AGENT
    assert "air-quality-forecast" in USER_AGENT

    assert list(frame.columns) == WEATHER_COLUMNS
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]"
    assert all(str(frame[c].dtype) == "float64" for c in DAILY_VARIABLES)
    expected_days = pd.date_range("2024-03-01", "2024-03-25", freq="D", tz="UTC")
    assert list(frame["date"]) == list(expected_days)
    assert frame["temperature_2m_mean"].tolist() == [float(i) for i in range(14)] + [
        100.0 + i for i in range(11)
    ]
    assert (
        frame["wind_direction_10m_dominant"].isna().tolist() == [True] + [False] * 13 + [True] + [False] * 10
    )
    assert sleeps == []


@pytest.mark.parametrize(
    ("start", "end", "paths"),
    [
        ("2024-01-01", "2024-03-14", ["/v1/archive"]),
        ("2024-03-15", "2024-04-05", ["/v1/forecast"]),  # today + 16 is the last day allowed
        ("2024-03-14", "2024-03-15", ["/v1/archive", "/v1/forecast"]),
    ],
)
def test_weather_uses_only_the_needed_endpoints(
    server: FakeOpenMeteo, start: str, end: str, paths: list[str]
) -> None:
    server.script("/v1/archive", daily_reply(0.0))
    server.script("/v1/forecast", daily_reply(100.0))
    client, _ = make_client(server.base)

    frame = client.fetch_weather(STOCKHOLM, day(start), day(end))

    assert server.paths() == paths
    assert len(frame) == (day(end) - day(start)).days + 1
    assert frame["date"].is_monotonic_increasing


def test_weather_rejects_bad_ranges_without_requests(server: FakeOpenMeteo) -> None:
    client, _ = make_client(server.base)
    with pytest.raises(SourceError, match="2024-04-05"):
        client.fetch_weather(STOCKHOLM, day("2024-03-20"), day("2024-04-06"))
    with pytest.raises(ValueError, match="after"):
        client.fetch_weather(STOCKHOLM, day("2024-03-02"), day("2024-03-01"))
    assert server.seen == []


def test_weather_with_a_missing_day_raises(server: FakeOpenMeteo) -> None:
    server.script("/v1/archive", Reply(body=one_day_body("2024-01-01")))
    client, _ = make_client(server.base)
    with pytest.raises(SourceError, match="missing in the answer: 2024-01-02"):
        client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-02"))


def hourly_body(values_by_day: dict[str, list[float | None]]) -> dict[str, Any]:
    times, values = [], []
    for date, hours in values_by_day.items():
        times += [f"{date}T{h:02d}:00" for h in range(24)]
        values += hours
    return {"latitude": 59.3, "hourly_units": {"pm2_5": "μg/m³"}, "hourly": {"time": times, "pm2_5": values}}


def test_pm25_daily_means_drop_incomplete_days(server: FakeOpenMeteo) -> None:
    full = [float(h) for h in range(24)]  # mean 11.5
    eighteen = [2.0] * 18 + [None] * 6  # just enough hours
    seventeen = [5.0] * 17 + [None] * 7  # too few: dropped
    empty = [None] * 24  # not yet available: dropped
    server.script(
        "/v1/air-quality",
        Reply(
            body=hourly_body(
                {"2024-03-17": full, "2024-03-18": eighteen, "2024-03-19": seventeen, "2024-03-20": empty}
            )
        ),
    )
    client, _ = make_client(server.base)

    frame = client.fetch_pm25(STOCKHOLM, day("2024-03-17"), day("2024-03-30"))

    (seen,) = server.seen
    assert seen.params == {
        "latitude": "59.33",
        "longitude": "18.07",
        "hourly": "pm2_5",
        "start_date": "2024-03-17",
        "end_date": "2024-03-20",  # never beyond today: later values would be forecasts
        "timezone": "UTC",
    }
    assert list(frame.columns) == ["date", "pm25"]
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["pm25"].dtype) == "float64"
    assert list(frame["date"]) == list(pd.date_range("2024-03-17", periods=2, freq="D", tz="UTC"))
    assert frame["pm25"].tolist() == [11.5, 2.0]


def test_pm25_entirely_in_the_future_is_empty(server: FakeOpenMeteo) -> None:
    client, _ = make_client(server.base)
    frame = client.fetch_pm25(STOCKHOLM, day("2024-03-21"), day("2024-03-25"))
    assert frame.empty
    assert list(frame.columns) == ["date", "pm25"]
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]"
    assert server.seen == []


def test_429_honours_retry_after_then_succeeds(server: FakeOpenMeteo) -> None:
    server.script(
        "/v1/archive",
        Reply(429, {"error": True, "reason": "Too many requests"}, {"Retry-After": "7"}),
        Reply(429, {"error": True, "reason": "Too many requests"}, {"Retry-After": "3600"}),
        Reply(429, b"slow down"),
        Reply(body=one_day_body()),
    )
    client, sleeps = make_client(server.base, backoff_max_s=30.0)

    frame = client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-01"))

    # Retry-After wins but is capped; without it, exponential backoff applies (third attempt: 1 * 2**2).
    assert sleeps == [7.0, 30.0, 4.0]
    assert len(frame) == 1
    assert len(server.seen) == 4


def test_500_twice_then_success(server: FakeOpenMeteo) -> None:
    server.script("/v1/archive", Reply(500, b"oops"), Reply(502, b"bad gateway"), Reply(body=one_day_body()))
    client, sleeps = make_client(server.base, backoff_base_s=0.5)

    frame = client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-01"))

    assert sleeps == [0.5, 1.0]
    assert frame["temperature_2m_mean"].tolist() == [1.0]


def test_retries_give_up_with_capped_backoff(server: FakeOpenMeteo) -> None:
    server.script("/v1/archive", Reply(503, {"error": True, "reason": "maintenance"}))
    client, sleeps = make_client(server.base, max_retries=5, backoff_max_s=3.0)

    with pytest.raises(SourceError) as caught:
        client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-01"))

    assert sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert len(server.seen) == 6
    message = str(caught.value)
    assert f"{server.base}/v1/archive failed after 6 attempt(s)" in message
    assert "HTTP 503: maintenance" in message
    assert "?" not in message and "latitude" not in message


def test_timeout_is_retried(server: FakeOpenMeteo) -> None:
    server.script("/v1/archive", Reply(body=one_day_body(), delay_s=0.5), Reply(body=one_day_body()))
    client, sleeps = make_client(server.base, timeout_s=0.1)

    frame = client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-01"))

    assert sleeps == [1.0]
    assert len(frame) == 1


def test_timeout_every_time_raises(server: FakeOpenMeteo) -> None:
    server.script("/v1/archive", Reply(body=one_day_body(), delay_s=0.5))
    client, sleeps = make_client(server.base, timeout_s=0.1, max_retries=1)

    with pytest.raises(SourceError, match=r"/v1/archive failed after 2 attempt\(s\).*timeout"):
        client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-01"))
    assert sleeps == [1.0]


def test_connection_refused_is_retried_then_raises() -> None:
    with socket.socket() as sock:  # find a free port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client, sleeps = make_client(f"http://127.0.0.1:{port}", max_retries=2)

    with pytest.raises(SourceError, match="connection failed"):
        client.fetch_pm25(STOCKHOLM, day("2024-03-01"), day("2024-03-02"))
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"daily": {"time": ["2024-01-01"]', "not valid JSON"),
        (b"", "empty body"),
        (b"   \n", "empty body"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"hourly": {}}', "missing 'daily' object"),
        (
            json.dumps({"daily": {"time": ["2024-01-01"], "temperature_2m_mean": [1.0]}}).encode(),
            "missing 'daily.precipitation_sum' array",
        ),
        (
            json.dumps(
                {"daily": {"time": ["2024-01-01", "2024-01-02"], **{n: [1.0] for n in DAILY_VARIABLES}}}
            ).encode(),
            "different lengths",
        ),
        (
            json.dumps({"daily": {"time": ["01/01/2024"], **{n: [1.0] for n in DAILY_VARIABLES}}}).encode(),
            "unreadable time values",
        ),
        (
            json.dumps(
                {"daily": {"time": ["2024-01-01"], **{n: ["warm"] for n in DAILY_VARIABLES}}}
            ).encode(),
            "non-numeric values",
        ),
    ],
)
def test_unusable_answers_raise_without_retry(server: FakeOpenMeteo, body: bytes, problem: str) -> None:
    server.script("/v1/archive", Reply(body=body))
    client, sleeps = make_client(server.base)

    with pytest.raises(SourceError) as caught:
        client.fetch_weather(STOCKHOLM, day("2024-01-01"), day("2024-01-01"))

    message = str(caught.value)
    assert message.startswith(f"{server.base}/v1/archive (HTTP 200): ")
    assert problem in message
    assert sleeps == []


def test_pm25_with_mismatched_lengths_raises(server: FakeOpenMeteo) -> None:
    body = {"hourly": {"time": ["2024-03-01T00:00", "2024-03-01T01:00"], "pm2_5": [1.0]}}
    server.script("/v1/air-quality", Reply(body=body))
    client, _ = make_client(server.base)
    with pytest.raises(
        SourceError, match=r"/v1/air-quality \(HTTP 200\): 'hourly' arrays have different lengths"
    ):
        client.fetch_pm25(STOCKHOLM, day("2024-03-01"), day("2024-03-01"))


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (404, b"Not Found", "Not Found"),
        (
            400,
            {"error": True, "reason": "Cannot initialize WeatherVariable"},
            "Cannot initialize WeatherVariable",
        ),
    ],
)
def test_client_errors_raise_immediately(server: FakeOpenMeteo, status: int, body: Any, reason: str) -> None:
    server.script("/v1/forecast", Reply(status, body))
    client, sleeps = make_client(server.base)

    with pytest.raises(SourceError) as caught:
        client.fetch_weather(STOCKHOLM, day("2024-03-19"), day("2024-03-20"))

    assert str(caught.value) == f"{server.base}/v1/forecast answered HTTP {status}: {reason}"
    assert sleeps == []
    assert len(server.seen) == 1


# ---------------------------------------------------------------------- SyntheticSource

SYNTH_TODAY = datetime.date(2024, 6, 1)


def test_synthetic_is_deterministic_across_overlapping_windows() -> None:
    first = SyntheticSource(today=SYNTH_TODAY)
    second = SyntheticSource(today=SYNTH_TODAY)
    third = SyntheticSource(today=datetime.date(2030, 1, 1))  # longer series generated

    long = first.fetch_weather(STOCKHOLM, day("2023-01-01"), day("2024-06-17"))
    short = second.fetch_weather(STOCKHOLM, day("2024-02-01"), day("2024-02-10"))
    again = third.fetch_weather(STOCKHOLM, day("2024-02-01"), day("2024-02-10"))
    overlap = long[long["date"].between(short["date"].iloc[0], short["date"].iloc[-1])].reset_index(drop=True)
    pd.testing.assert_frame_equal(overlap, short)
    pd.testing.assert_frame_equal(again, short)

    pm_long = first.fetch_pm25(STOCKHOLM, day("2023-01-01"), day("2024-06-01"))
    pm_short = third.fetch_pm25(STOCKHOLM, day("2024-05-01"), day("2024-05-03"))
    pd.testing.assert_frame_equal(pm_long.iloc[-32:-29].reset_index(drop=True), pm_short)


def test_synthetic_depends_on_seed_and_location() -> None:
    window = (day("2024-01-01"), day("2024-01-31"))
    base = SyntheticSource(today=SYNTH_TODAY).fetch_weather(STOCKHOLM, *window)
    other_seed = SyntheticSource(seed=8, today=SYNTH_TODAY).fetch_weather(STOCKHOLM, *window)
    other_place = SyntheticSource(today=SYNTH_TODAY).fetch_weather(
        Location("uppsala", "Uppsala", 59.33, 18.07), *window
    )
    assert not base.equals(other_seed)
    assert not base.equals(other_place)


def test_synthetic_has_no_future_pm25_but_forecast_weather() -> None:
    source = SyntheticSource(today=SYNTH_TODAY)

    pm25 = source.fetch_pm25(STOCKHOLM, day("2024-05-25"), day("2024-06-10"))
    assert pm25["date"].iloc[-1] == pd.Timestamp("2024-06-01", tz="UTC")
    assert len(pm25) == 8

    future = source.fetch_pm25(STOCKHOLM, day("2024-06-02"), day("2024-06-10"))
    assert future.empty and list(future.columns) == ["date", "pm25"]
    assert str(future["date"].dtype) == "datetime64[ns, UTC]"

    weather = source.fetch_weather(STOCKHOLM, day("2024-06-01"), day("2024-06-17"))
    assert len(weather) == 17
    with pytest.raises(SourceError, match="2024-06-17"):
        source.fetch_weather(STOCKHOLM, day("2024-06-01"), day("2024-06-18"))
    with pytest.raises(ValueError, match="after"):
        source.fetch_pm25(STOCKHOLM, day("2024-06-01"), day("2024-05-31"))
    with pytest.raises(SourceError, match=str(ORIGIN)):
        source.fetch_weather(STOCKHOLM, day("2014-12-31"), day("2015-01-10"))


def test_synthetic_default_today_is_utc_today() -> None:
    today = datetime.datetime.now(datetime.UTC).date()
    pm25 = SyntheticSource().fetch_pm25(
        STOCKHOLM, today - datetime.timedelta(days=3), today + datetime.timedelta(3)
    )
    assert pm25["date"].iloc[-1].date() in {today, today - datetime.timedelta(days=1)}  # midnight race


def test_synthetic_shapes_and_value_ranges() -> None:
    source = SyntheticSource(today=SYNTH_TODAY)
    weather = source.fetch_weather(STOCKHOLM, day("2018-01-01"), day("2023-12-31"))
    pm25 = source.fetch_pm25(STOCKHOLM, day("2018-01-01"), day("2023-12-31"))

    assert list(weather.columns) == WEATHER_COLUMNS
    assert str(weather["date"].dtype) == "datetime64[ns, UTC]"
    assert all(str(weather[c].dtype) == "float64" for c in DAILY_VARIABLES)
    assert weather["date"].diff().dropna().eq(pd.Timedelta(days=1)).all()
    assert not weather.isna().any().any() and not pm25.isna().any().any()
    assert list(pm25.columns) == ["date", "pm25"] and str(pm25["pm25"].dtype) == "float64"

    assert (weather["precipitation_sum"] >= 0).all()
    assert 0.4 < (weather["precipitation_sum"] == 0).mean() < 0.85  # many dry days
    assert weather["precipitation_sum"].mean() > weather["precipitation_sum"].median()  # skewed
    assert (weather["wind_speed_10m_max"] >= 0).all()
    assert weather["wind_direction_10m_dominant"].between(0, 360, inclusive="left").all()
    assert (pm25["pm25"] >= 0.5).all()
    assert 3 < pm25["pm25"].mean() < 20

    month = weather["date"].dt.month
    january = weather.loc[month == 1, "temperature_2m_mean"].mean()
    july = weather.loc[month == 7, "temperature_2m_mean"].mean()
    assert january < 0 < july - 12  # cold Stockholm winters, mild summers

    south = source.fetch_weather(
        Location("sydney", "Sydney", -33.87, 151.21), day("2018-01-01"), day("2023-12-31")
    )
    south_month = south["date"].dt.month
    temperature = south["temperature_2m_mean"]
    assert temperature[south_month == 1].mean() > temperature[south_month == 7].mean()


def test_synthetic_pm25_rewards_weather_aware_models() -> None:
    source = SyntheticSource(today=SYNTH_TODAY)
    weather = source.fetch_weather(STOCKHOLM, day("2018-01-01"), day("2023-12-31"))
    frame = weather.merge(source.fetch_pm25(STOCKHOLM, day("2018-01-01"), day("2023-12-31")), on="date")
    pm = frame["pm25"].to_numpy()
    today_ = frame.iloc[1:]
    features = np.column_stack(
        [
            np.ones(len(today_)),
            pm[:-1],
            np.maximum(12 - today_["temperature_2m_mean"], 0),
            today_["precipitation_sum"],
            today_["wind_speed_10m_max"],
            today_["date"].dt.dayofweek < 5,
        ]
    ).astype(float)
    train = slice(0, 1500)
    test = slice(1500, None)
    coef = np.linalg.lstsq(features[train], pm[1:][train], rcond=None)[0]
    model_mae = np.abs(features[test] @ coef - pm[1:][test]).mean()
    persistence_mae = np.abs(pm[:-1][test] - pm[1:][test]).mean()
    assert model_mae < 0.6 * persistence_mae


# ---------------------------------------------------------------------- get_source


def test_get_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = Settings(
        open_meteo_archive_url="http://127.0.0.1:1/a",
        open_meteo_forecast_url="http://127.0.0.1:1/f",
        open_meteo_air_quality_url="http://127.0.0.1:1/q",
        http_timeout_s=5.0,
        http_max_retries=2,
    )

    assert isinstance(get_source("synthetic", settings), SyntheticSource)

    client = get_source("open-meteo", settings)
    assert isinstance(client, OpenMeteoClient)
    assert (client.archive_url, client.forecast_url, client.air_quality_url) == (
        "http://127.0.0.1:1/a",
        "http://127.0.0.1:1/f",
        "http://127.0.0.1:1/q",
    )
    assert (client.timeout_s, client.max_retries) == (5.0, 2)

    with pytest.raises(ValueError, match="'synthetic', 'open-meteo'"):
        get_source("openmeteo", settings)
