"""The Hopsworks server side, faked at the SDK's own boundaries, for tests of the real SDK offline.

What runs for real: every class of ``hopsworks``, ``hsfs`` and ``hsml`` the project touches
(``hopsworks.login``, ``Project``, ``FeatureStore``, ``FeatureGroup``, ``FeatureView``, ``Query``,
``TrainingDataset``, ``ModelRegistry``, ``Model``), their REST clients (URL building, JSON,
error codes, ``_catch_not_found``), Great Expectations validation on insert, the python engine's
dataframe preparation, its delta-rs writer (``hops-deltalake`` writes real Delta tables, here on
local disk), its Avro encoding of online rows, its Arrow Flight client, the online SQL client's
prepared statements and the model upload/download through the dataset API.

What is replaced, and where (one place each):

- REST: ``requests``' transport (``HTTPAdapter.send``), answered by ``FakeHopsworks`` with JSON
  shaped like the server's DTOs (field names as in ``logicalclocks/hopsworks-api``'s
  ``python/tests/fixtures``); any other host raises ``ConnectionError``: nothing reaches the network.
  ``fake_featurestore`` (groups, views, queries, training datasets, HopsFS listing) and
  ``fake_registry`` (models, file upload/download, secrets) hold the routes.
- HopsFS for delta-rs: ``DeltaEngine._get_delta_rs_location`` / ``_setup_delta_rs``, the two places
  that turn ``hopsfs://`` into the namenode's ``hdfs://`` address; the tables are local folders.
- Kafka: ``kafka_engine._init_kafka_producer`` returns a producer whose broker is the fake OnlineFS,
  which decodes each Avro record with the group's subject schema and keeps the latest row per key.
- The Query Service: a real Arrow Flight server on 127.0.0.1 (``fake_query``); only TLS is dropped
  (``ArrowFlightClient._initialize_flight_client``), the fake has no certificates.
- RonDB: ``util_sql._create_async_engine`` returns a pool that runs the server's prepared statements
  against the online rows (``fake_online``).
- Jobs: a training dataset's materialisation job runs at once when started; executions report
  FINISHED/SUCCEEDED with their log files present.

Not faked faithfully, and why:

- Query semantics are the fake's, not the server's: the real service runs server-built SQL in
  DuckDB; the fake evaluates the query DTO the client sent (selected features, left/inner joins,
  point-in-time joins on event time, filters) with pandas. Nested joins, ``as_of`` time travel and
  filter conditions beyond comparisons and ``IN`` raise ``NotImplementedError`` (the project uses none).
- The server's naming of unselected primary keys and event times
  (``<project>_<group>_<version>_<name>``) and the batch window (``start <= event time < end``) are
  reproduced from the client's code (``FeatureViewEngine._get_primary_keys_from_query``), not from
  the server's, which is not public in this form.
- Time zones on read: the fake's Query Service returns Delta timestamps naive (UTC), as DuckDB
  reads a Delta ``timestamp_ntz`` column written from naive Arrow (hsfs strips the zone on write).
  The SDK hands back whatever Arrow type the service sends (it casts only with
  ``read_options={"pandas_types": True}``), and which one the real service sends could not be
  checked offline; the project normalises every read at one boundary (``catalog.utc_times``), and
  ``test_utc_times_takes_naive_and_aware_times`` holds both cases.
- Kafka is synchronous: the online copy is current when ``insert`` returns, while on Hopsworks it
  lags by the OnlineFS consumer; a test of that lag cannot be written here.
- Statistics and validation reports are stored, not computed server-side; feature monitoring,
  tags, deployments and the UI links the SDK prints are not served.
- Login: certificates are placeholders (the python engine writes them to ``HOPSWORKS_CERT_FOLDER``
  and never opens them once TLS to the Query Service is dropped).
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.flight
import requests

HOST = "hopsworks.fake.test"
PROJECT = "air_quality"
PORT = 443
API = "/hopsworks-api/api/"
CREATED = "2026-01-05T10:00:00Z"

Handler = Callable[..., Any]


class ServerError(Exception):
    """An error response: HTTP status, Hopsworks error code and message (the server's error DTO)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Request:
    """One REST request as the server sees it."""

    method: str
    path: list[str]
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str) -> bool:
        """Return a boolean query parameter (``requests`` sends Python's ``True``)."""
        return (self.arg(name) or "").lower() == "true"


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


@dataclass
class FakeHopsworks:
    """The server: projects, feature store metadata, storage folders; answers REST requests."""

    root: Path
    projects: tuple[str, ...] = (PROJECT,)
    username: str = "learner"
    api_key: str = "fake-api-key"
    requests_seen: list[tuple[str, str]] = field(default_factory=list)
    logins: int = 0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ids = itertools.count(100)
        self.routes: list[Route] = []
        self.project_ids = {name: 119 + i for i, name in enumerate(self.projects)}
        import fake_featurestore  # noqa: PLC0415 - the route modules import this one
        import fake_registry  # noqa: PLC0415

        fake_featurestore.register(self)
        fake_registry.register(self)
        self.route("GET", r"variables/versions", self.versions)
        self.route("GET", r"project", self.project_teams)
        self.route("GET", r"project/getProjectInfo/(?P<name>[^/]+)", self.project_info)
        self.route("GET", r"project/(?P<pid>\d+)/credentials", self.credentials)
        self.route("GET", r"variables/(?P<name>[^/]+)", self.variable)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.route("GET", r"project/(?P<pid>\d+)/jobs/(?P<name>[^/]+)/executions", self.executions)
        self.route(
            "GET", r"project/(?P<pid>\d+)/jobs/(?P<name>[^/]+)/executions/(?P<eid>\d+)", self.execution
        )

    # -------------------------------------------------------------------------------------- plumbing

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path (after ``/hopsworks-api/api/``) matches ``pattern``."""
        self.routes.append(Route(method, re.compile(pattern + r"/?$"), handler))

    def handle(self, request: Request) -> tuple[int, Any]:
        path = "/".join(request.path)
        self.requests_seen.append((request.method, path))
        if request.headers.get("Authorization") != f"ApiKey {self.api_key}":
            return 401, {"errorCode": 160002, "errorMsg": "Authorization failed: invalid API key"}
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == request.method:
                try:
                    return 200, route.handler(request, **match.groupdict())
                except ServerError as exc:
                    return exc.status, {"errorCode": exc.code, "errorMsg": exc.message}
        raise NotImplementedError(f"the fake Hopsworks has no route for {request.method} /{path}")

    def send(self, prepared: requests.PreparedRequest) -> requests.Response:
        """Answer one prepared request of ``requests`` (what ``HTTPAdapter.send`` does over the network)."""
        url = urllib.parse.urlsplit(prepared.url)
        if url.hostname != HOST:
            raise requests.ConnectionError(f"tests never reach the network: {url.hostname}")
        path = urllib.parse.unquote(url.path)
        if not path.startswith(API):
            raise NotImplementedError(f"the fake Hopsworks serves only {API}, not {path}")
        segments = [urllib.parse.unquote(s) for s in url.path[len(API) :].split("/") if s]
        body = prepared.body or b""
        request = Request(
            prepared.method or "GET",
            segments,
            urllib.parse.parse_qs(url.query, keep_blank_values=True),
            body.encode() if isinstance(body, str) else body,
            dict(prepared.headers),
        )
        status, payload = self.handle(request)
        response = requests.Response()
        response.status_code = status
        response.url = prepared.url
        response.request = prepared
        response.reason = "OK" if status < 400 else "Error"
        if isinstance(payload, bytes):
            response._content = payload  # noqa: SLF001 - building a response, as an adapter does
            response.headers["Content-Type"] = "application/octet-stream"
        else:
            response._content = b"" if payload is None else json.dumps(payload).encode()  # noqa: SLF001
            response.headers["Content-Type"] = "application/json"
        response.encoding = "utf-8"
        response.raw = io.BytesIO(response.content)  # streamed reads (downloads) iterate over it
        response._content_consumed = True  # noqa: SLF001
        return response

    def new_id(self) -> int:
        return next(self.ids)

    def clock_ms(self) -> int:
        """Return the server's time in epoch milliseconds (how it reports ``created``)."""
        return int(time.time() * 1000)

    # ----------------------------------------------------------------------------------- login, project

    def project_dto(self, name: str) -> dict[str, Any]:
        if name not in self.project_ids:
            raise ServerError(404, 150004, f"Project wasn't found: {name}")
        return {
            "projectId": self.project_ids[name],
            "projectName": name,
            "owner": self.username,
            "created": CREATED,
            "description": "",
        }

    def versions(self, request: Request) -> list[dict[str, str]]:
        return [{"software": "hopsworks", "version": "5.2.0"}]

    def project_teams(self, request: Request) -> list[dict[str, Any]]:
        return [
            {
                "project": {"id": self.project_ids[name], "name": name, "created": CREATED},
                "user": {"username": self.username, "email": "learner@example.com"},
                "teamRole": "Data owner",
            }
            for name in self.projects
        ]

    def project_info(self, request: Request, name: str) -> dict[str, Any]:
        return self.project_dto(name)

    def credentials(self, request: Request, pid: str) -> dict[str, Any]:
        self.logins += 1  # every login of the python engine downloads the project's certificates
        pem = "-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n"
        store = base64.b64encode(
            b"\xfe\xed\xfe\xed not a keystore: never opened by the python engine"
        ).decode()
        return {
            "kStore": store,
            "tStore": store,
            "password": "fake",
            "caChain": pem,
            "clientCert": pem,
            "clientKey": pem,
        }

    def execution(self, request: Request, pid: str, name: str, eid: str = "1") -> dict[str, Any]:
        """Jobs run at once when started (``compute``): every execution has finished and succeeded."""
        if name not in self.jobs:
            raise ServerError(404, 130009, f"Job not found: {name}")
        return {
            "id": int(eid),
            "state": "FINISHED",
            "finalStatus": "SUCCEEDED",
            "submissionTime": CREATED,
            "progress": 1.0,
            "stdoutPath": f"/Projects/{self.projects[0]}/Logs/Spark/{name}/{eid}/stdout.log",
            "stderrPath": f"/Projects/{self.projects[0]}/Logs/Spark/{name}/{eid}/stderr.log",
            "duration": 1000,
            "href": f"/project/{pid}/jobs/{name}/executions/{eid}",
            "type": "executionDTO",
        }

    def executions(self, request: Request, pid: str, name: str) -> dict[str, Any]:
        return {"count": 1, "items": [self.execution(request, pid, name)]}

    def variable(self, request: Request, name: str) -> dict[str, Any]:
        values = {
            "loadbalancer_external_domain_datanode": "",
            "loadbalancer_external_domain_namenode": "",
            "service_discovery_domain": "consul",
            "enable_flyingduck": "true",
            "loadbalancer_external_domain_feature_query": "127.0.0.1",
            "loadbalancer_external_domain_mysqld": "127.0.0.1",
        }
        if name not in values:
            raise ServerError(404, 130007, f"Variable not found: {name}")
        return {"successMessage": values[name]}


def install(server: FakeHopsworks, monkeypatch: Any) -> None:
    """Route every ``requests`` call through ``server`` (other hosts: ConnectionError)."""

    def send(adapter: Any, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        return server.send(request)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    from hsfs.core import delta_engine

    def delta_location(engine: Any) -> str:
        # The SDK turns hopsfs:// into hdfs://<namenode>/...; the fake's HopsFS is a local folder.
        return server.featurestore.local_table(engine._feature_group.location)  # noqa: SLF001

    monkeypatch.setattr(delta_engine.DeltaEngine, "_get_delta_rs_location", delta_location)
    # Sets the HopsFS client's environment (PEMS_DIR, datanode address): nothing to set for a folder.
    monkeypatch.setattr(delta_engine.DeltaEngine, "_setup_delta_rs", lambda engine: None)
    from hsfs.core import arrow_flight_client, kafka_engine, util_sql

    async def mysql_pool(*args: Any, **kwargs: Any) -> Any:
        import fake_online  # noqa: PLC0415

        return fake_online.Pool(server.featurestore)

    monkeypatch.setattr(util_sql, "_create_async_engine", mysql_pool)

    def flight_client(client: Any) -> None:
        # The real client dials grpc+tls://<feature_query domain>:5005 with the project's certificates.
        client._connection = pyarrow.flight.FlightClient(server.featurestore.query_service.url)  # noqa: SLF001

    monkeypatch.setattr(arrow_flight_client.ArrowFlightClient, "_initialize_flight_client", flight_client)
    arrow_flight_client._close()  # noqa: SLF001 - a client of an earlier test would point elsewhere

    monkeypatch.setattr(kafka_engine, "_init_kafka_producer", lambda *args, **kwargs: FakeProducer(server))


class FakeProducer:
    """A Kafka producer whose broker is the fake server's OnlineFS: records are ingested on flush."""

    def __init__(self, server: FakeHopsworks) -> None:
        self.server = server
        self.pending: list[tuple[str, bytes, dict[str, bytes], Any]] = []

    def produce(
        self, topic: str, key: Any = None, value: bytes = b"", callback: Any = None, headers: Any = None
    ) -> None:
        self.pending.append((topic, value, dict(headers or {}), callback))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float | None = None) -> int:
        for topic, value, headers, callback in self.pending:
            self.server.featurestore.consume(topic, value, headers)
            if callback is not None:
                callback(None, None)
        self.pending.clear()
        return 0


def start_server(tmp_path: Path, monkeypatch: Any, projects: tuple[str, ...] = (PROJECT,)) -> FakeHopsworks:
    """Start a fake Hopsworks with ``projects`` and route the SDK's traffic to it."""
    monkeypatch.setenv("HOPSWORKS_CERT_FOLDER", str(tmp_path / "certs"))  # login writes PEM files there
    for name in [n for n in os.environ if n.startswith("HOPSWORKS_") and n != "HOPSWORKS_CERT_FOLDER"]:
        monkeypatch.delenv(name)
    server = FakeHopsworks(tmp_path / "server", projects=tuple(projects))
    install(server, monkeypatch)
    return server


def stop_server(server: FakeHopsworks) -> None:
    import hopsworks  # noqa: PLC0415

    hopsworks.logout()
    server.featurestore.query_service.shutdown()
