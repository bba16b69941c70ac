"""The feature store side of the fake Hopsworks: feature store, groups, views, queries, training data.

Metadata is kept as the server's DTOs (camelCase JSON); offline data are Delta tables the
SDK's own delta-rs writer writes under ``<root>/warehouse``; the online store keeps the latest
row per primary key of each online-enabled group.
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import fake_query
import fastavro
from fake_server import CREATED, FakeHopsworks, Request, ServerError

FG_NOT_FOUND = 270009
FV_NOT_FOUND = 270181
TD_NOT_FOUND = 270012
WAREHOUSE_URL = "hopsfs://namenode.service.consul:8020/apps/hive/warehouse"
# The server's offline type -> the Avro type of the group's Kafka subject (timestamps: micros, UTC).
AVRO_TYPES: dict[str, Any] = {
    "string": "string",
    "bigint": "long",
    "int": "int",
    "double": "double",
    "float": "float",
    "boolean": "boolean",
    "timestamp": {"type": "long", "logicalType": "timestamp-micros"},
    "date": {"type": "int", "logicalType": "date"},
}
FS = r"project/(?P<pid>\d+)/featurestores/(?P<fsid>\d+)"


class FeatureStoreSide:
    """Feature store metadata and the storage behind it."""

    def __init__(self, server: FakeHopsworks) -> None:
        self.server = server
        self.groups: dict[int, dict[str, Any]] = {}
        self.views: dict[tuple[str, int], dict[str, Any]] = {}
        self.online: dict[int, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.queries: dict[str, dict[str, Any]] = {}
        self.warehouse = server.root / "warehouse"
        self.warehouse.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------------------ the store

    def store_dto(self, pid: int) -> dict[str, Any]:
        project = next(name for name, i in self.server.project_ids.items() if i == int(pid))
        return {
            "featurestoreId": 67,
            "featurestoreName": f"{project}_featurestore",
            "projectName": project,
            "projectId": int(pid),
            "offlineFeaturestoreName": f"{project}_featurestore",
            "onlineFeaturestoreName": project,
            "onlineEnabled": True,
            "created": CREATED,
        }

    def get_store(self, request: Request, pid: str, name: str) -> dict[str, Any]:
        dto = self.store_dto(int(pid))
        if name not in (dto["featurestoreName"], "67"):
            raise ServerError(404, 270006, f"Featurestore wasn't found: {name}")
        return dto

    # ------------------------------------------------------------------------------- feature groups

    def group_versions(self, name: str) -> list[dict[str, Any]]:
        return sorted((g for g in self.groups.values() if g["name"] == name), key=lambda g: g["version"])

    def get_groups(self, request: Request, pid: str, fsid: str, name: str) -> list[dict[str, Any]]:
        found = self.group_versions(name)
        version = request.arg("version")
        if version is not None:
            found = [g for g in found if g["version"] == int(version)]
        if not found:
            raise ServerError(404, FG_NOT_FOUND, f"Featuregroup wasn't found: {name} v{version}")
        return copy.deepcopy(found)

    def save_group(self, request: Request, pid: str, fsid: str) -> dict[str, Any]:
        dto = request.json()
        name, version = dto["name"], dto["version"]
        if any(g["version"] == version for g in self.group_versions(name)):
            raise ServerError(400, 270089, f"A feature group with name {name} and version {version} exists")
        fg_id = self.server.new_id()
        store = self.store_dto(int(pid))
        table = f"{name}_{version}"
        dto.update(
            id=fg_id,
            featurestoreId=store["featurestoreId"],
            featurestoreName=store["featurestoreName"],
            created=CREATED,
            creator={"email": "learner@example.com", "username": self.server.username},
            location=f"{WAREHOUSE_URL}/{store['featurestoreName']}.db/{table}",
            onlineTopicName=f"{pid}_{fg_id}_{table}_onlinefs" if dto.get("onlineEnabled") else None,
        )
        for feature in dto.get("features") or []:
            feature["featureGroupId"] = fg_id
        suite = dto.get("expectationSuite")
        if suite:  # saved with the group, as the server does
            suite.update(
                id=self.server.new_id(), featureStoreId=store["featurestoreId"], featureGroupId=fg_id
            )
            for expectation in suite.get("expectations") or []:
                expectation["id"] = self.server.new_id()
        self.groups[fg_id] = dto
        return copy.deepcopy(dto)

    def group_by_id(self, fg_id: int | str) -> dict[str, Any]:
        if int(fg_id) not in self.groups:
            raise ServerError(404, FG_NOT_FOUND, f"Featuregroup wasn't found: id {fg_id}")
        return self.groups[int(fg_id)]

    def get_group(self, request: Request, pid: str, fsid: str, fgid: str) -> dict[str, Any]:
        return copy.deepcopy(self.group_by_id(fgid))

    # ------------------------------------------------------------------------- expectation suites

    def get_suite(self, request: Request, pid: str, fsid: str, fgid: str) -> dict[str, Any]:
        suite = self.group_by_id(fgid).get("expectationSuite")
        return copy.deepcopy(suite) if suite else {"count": 0, "items": []}

    def save_suite(self, request: Request, pid: str, fsid: str, fgid: str, esid: str = "") -> dict[str, Any]:
        group = self.group_by_id(fgid)
        suite = request.json()
        suite.update(
            id=int(esid) if esid else self.server.new_id(), featureStoreId=67, featureGroupId=int(fgid)
        )
        for expectation in suite.get("expectations") or []:
            expectation.setdefault("id", self.server.new_id())
        group["expectationSuite"] = suite
        return copy.deepcopy(suite)

    def save_report(self, request: Request, pid: str, fsid: str, fgid: str) -> dict[str, Any]:
        report = request.json()
        report.update(id=self.server.new_id(), featureStoreId=67, featureGroupId=int(fgid))
        self.group_by_id(fgid).setdefault("_reports", []).append(report)
        return copy.deepcopy(report)

    # ------------------------------------------------------------------- commits, Kafka, OnlineFS

    def save_commit(self, request: Request, pid: str, fsid: str, fgid: str) -> dict[str, Any]:
        commit = request.json()
        commit_id = len(self.group_by_id(fgid).setdefault("_commits", [])) + 1
        href = f"/featurestores/{fsid}/featuregroups/{fgid}/commits/{commit_id}"
        commit.update(commitID=commit_id, commitDateString=CREATED, committime=CREATED, href=href)
        self.group_by_id(fgid)["_commits"].append(commit)
        return copy.deepcopy(commit)

    def subject(self, request: Request, pid: str, fsid: str, subject: str, version: str) -> dict[str, Any]:
        """Return the Kafka subject of a group: the Avro schema the server derives from its features."""
        name, _, number = subject.rpartition("_")
        group = next((g for g in self.group_versions(name) if str(g["version"]) == number), None)
        if group is None:
            raise ServerError(404, 270017, f"Subject not found: {subject}")
        fields = [
            {"name": f["name"], "type": ["null", AVRO_TYPES[f["type"]]]} for f in group.get("features") or []
        ]
        schema = {
            "type": "record",
            "name": subject,
            "namespace": f"{group['featurestoreName']}.db",
            "fields": fields,
        }
        return {"id": group["id"], "subject": subject, "version": 1, "schema": json.dumps(schema)}

    def create_ingestion(self, request: Request, pid: str, fsid: str, fgid: str) -> dict[str, Any]:
        ingestion = request.json() or {}
        ingestion.update(id=self.server.new_id(), featureGroupId=int(fgid))
        return ingestion

    def consume(self, topic: str, value: bytes, headers: dict[str, bytes]) -> None:
        """OnlineFS: decode one record of a group's topic and upsert it into the online table."""
        group = self.group_by_id(int(headers["featureGroupId"]))
        if headers.get("storage") == b"offline":
            return  # a row for the offline materialisation alone
        schema = fastavro.parse_schema(
            json.loads(self.subject(None, "", "", f"{group['name']}_{group['version']}", "1")["schema"])
        )
        row = fastavro.schemaless_reader(io.BytesIO(value), schema)
        keys = tuple(row[f["name"]] for f in group["features"] if f.get("primary"))
        self.online.setdefault(group["id"], {})[keys] = row

    def store_dto_for(self, fsid: int | str) -> dict[str, Any]:
        return self.store_dto(next(iter(self.server.project_ids.values())))

    def construct_query(self, request: Request, pid: str) -> dict[str, Any]:
        """Build the query: the Query Service payload names the stored query (the real one holds SQL)."""
        query_id = str(self.server.new_id())
        self.queries[query_id] = request.json()
        payload = json.dumps({"query_id": query_id})
        text = f"SELECT * FROM query_{query_id}"  # noqa: S608 - a label for logs, never executed
        return {
            "query": text,
            "queryOnline": text,
            "pitQuery": text,
            "hqsPayload": payload,
            "hqsPayloadSignature": "",
            "onDemandFeatureGroups": [],
            "hudiCachedFeatureGroups": [],
            "deltaCachedFeatureGroups": [],
        }

    def local_table(self, location: str) -> str:
        """Return the local folder of the Delta table the server keeps at ``location``."""
        if not location.startswith(WAREHOUSE_URL):
            raise ValueError(f"not a location of this fake server: {location}")
        return str(self.warehouse / location[len(WAREHOUSE_URL) + 1 :])


def register(server: FakeHopsworks) -> None:
    """Add the feature store routes to ``server``."""
    side = FeatureStoreSide(server)
    server.featurestore = side
    side.query_service = fake_query.FakeQueryService(fake_query.QueryEvaluator(side), side.queries)
    server.route("GET", r"project/(?P<pid>\d+)/featurestores/(?P<name>[^/]+)", side.get_store)
    server.route("GET", FS + r"/featuregroups/(?P<name>[^/\d][^/]*)", side.get_groups)
    server.route("POST", FS + r"/featuregroups", side.save_group)
    server.route("GET", FS + r"/featuregroups/(?P<fgid>\d+)", side.get_group)
    suite = FS + r"/featuregroups/(?P<fgid>\d+)/expectationsuite"
    server.route("GET", suite, side.get_suite)
    server.route("POST", suite, side.save_suite)
    server.route("PUT", suite + r"/(?P<esid>\d+)", side.save_suite)
    for method in ("POST", "PUT"):
        server.route(method, FS + r"/featuregroups/(?P<fgid>\d+)/validationreport", side.save_report)
    server.route("POST", FS + r"/featuregroups/(?P<fgid>\d+)/commits", side.save_commit)
    server.route("PUT", r"project/(?P<pid>\d+)/featurestores/query", side.construct_query)
    server.route("POST", FS + r"/featuregroups/(?P<fgid>\d+)/online_ingestion", side.create_ingestion)
    server.route("GET", FS + r"/kafka/subjects/(?P<subject>[^/]+)/versions/(?P<version>[^/]+)", side.subject)
