"""The feature store side of the fake Hopsworks: feature store, groups, views, queries, training data.

Metadata is kept as the server's DTOs (camelCase JSON); offline data are Delta tables the
SDK's own delta-rs writer writes under ``<root>/warehouse``; the online store keeps the latest
row per primary key of each online-enabled group.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import fake_online
import fake_query
import fastavro
import pyarrow.parquet as pq
from fake_server import CREATED, HOST, FakeHopsworks, Request, ServerError

FG_NOT_FOUND = 270009
FV_NOT_FOUND = 270181
TD_NOT_FOUND = 270012
HOPSFS = "hopsfs://namenode.service.consul:8020"
WAREHOUSE_URL = f"{HOPSFS}/apps/hive/warehouse"
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

    def update_group(self, request: Request, pid: str, fsid: str, fgid: str) -> dict[str, Any]:
        """Update a group's metadata: descriptions (``updateMetadata``) and appended features."""
        group, update = self.group_by_id(fgid), request.json()
        if update.get("description") is not None:
            group["description"] = update["description"]
        known = {f["name"]: f for f in group["features"]}
        for feature in update.get("features") or []:
            if feature["name"] in known:
                known[feature["name"]]["description"] = feature.get("description")
            elif request.flag("updateMetadata") is False:
                group["features"].append({**feature, "featureGroupId": group["id"]})
        return copy.deepcopy(group)

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

    # ------------------------------------------------------------------------------ feature views

    def view(self, name: str, version: int | str) -> dict[str, Any]:
        if (name, int(version)) not in self.views:
            raise ServerError(404, FV_NOT_FOUND, f"Feature view wasn't found: {name} v{version}")
        return self.views[(name, int(version))]

    def view_features(self, query: dict[str, Any], labels: set[str]) -> list[dict[str, Any]]:
        """Return the view's schema as the server lists it: each selected feature with its group."""
        features, parts = [], [(query, "")]
        parts += [(join["query"], join.get("prefix") or "") for join in query.get("joins") or []]
        for part, prefix in parts:
            group = self.group_by_id(part["leftFeatureGroup"]["id"])
            for feature in part["leftFeatures"]:
                features.append(
                    {
                        "name": prefix + feature["name"],
                        "type": feature["type"],
                        "index": len(features),
                        "label": feature["name"] in labels,
                        "featureGroupFeatureName": feature["name"],
                        "featuregroup": copy.deepcopy(group),
                        "inferenceHelperColumn": False,
                        "trainingHelperColumn": False,
                    }
                )
        return features

    def serving_keys(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the view's serving keys: the root group's primary key, then each joined group's."""
        root = self.group_by_id(query["leftFeatureGroup"]["id"])
        keys = [
            {"featureName": f["name"], "joinIndex": 0, "featureGroup": copy.deepcopy(root), "required": True}
            for f in root["features"]
            if f.get("primary")
        ]
        for index, join in enumerate(query.get("joins") or [], start=1):
            group = self.group_by_id(join["query"]["leftFeatureGroup"]["id"])
            left_on = [f["name"] for f in join.get("leftOn") or join.get("on") or []]
            right_on = [f["name"] for f in join.get("rightOn") or join.get("on") or []]
            for name, joined in zip(right_on, left_on, strict=True):
                keys.append(
                    {
                        "featureName": name,
                        "joinIndex": index,
                        "featureGroup": copy.deepcopy(group),
                        "required": False,  # filled from the root group's key it is joined on
                        "prefix": join.get("prefix") or "",
                        "joinOn": joined,
                    }
                )
        return keys

    def save_view(self, request: Request, pid: str, fsid: str) -> dict[str, Any]:
        dto = request.json()
        name, version = (
            dto["name"],
            dto.get("version") or 1 + max((v for n, v in self.views if n == dto["name"]), default=0),
        )
        if (name, version) in self.views:
            raise ServerError(400, 270179, f"Feature view exists: {name} v{version}")
        labels = {f["name"] for f in dto.get("features") or [] if f.get("label")}
        for part in [dto["query"], *(join["query"] for join in dto["query"].get("joins") or [])]:
            part["leftFeatureGroup"] = copy.deepcopy(self.group_by_id(part["leftFeatureGroup"]["id"]))
        dto.update(
            id=self.server.new_id(),
            version=version,
            featurestoreId=int(fsid),
            featurestoreName=self.store_dto_for(fsid)["featurestoreName"],
            created=CREATED,
            features=self.view_features(dto["query"], labels),
        )
        dto["servingKeys"] = self.serving_keys(dto["query"])
        self.views[(name, version)] = dto
        return copy.deepcopy(dto)

    def get_view(self, request: Request, pid: str, fsid: str, name: str, version: str) -> dict[str, Any]:
        return copy.deepcopy(self.view(name, version))

    def get_views(self, request: Request, pid: str, fsid: str, name: str) -> dict[str, Any]:
        items = [copy.deepcopy(v) for (n, _), v in sorted(self.views.items()) if n == name]
        if not items:
            raise ServerError(404, FV_NOT_FOUND, f"Feature view wasn't found: {name}")
        return {"count": len(items), "items": items}

    def batch_query(self, request: Request, pid: str, fsid: str, name: str, version: str) -> dict[str, Any]:
        """Return the view's query for batch data: window filter, labels, keys and event times as asked."""
        return self.batch_dto(
            self.view(name, version),
            with_label=request.flag("with_label"),
            keys=request.flag("with_primary_keys"),
            times=request.flag("with_event_time"),
            start=request.arg("start_time"),
            end=request.arg("end_time"),
        )

    def batch_dto(
        self, view: dict[str, Any], *, with_label: bool, keys: bool, times: bool, start: Any, end: Any
    ) -> dict[str, Any]:
        """Return the view's query with or without labels; unselected keys and event times qualified."""
        query = copy.deepcopy(view["query"])
        labels = {f["name"] for f in view["features"] if f["label"]}
        for part in [query, *(join["query"] for join in query.get("joins") or [])]:
            group = self.group_by_id(part["leftFeatureGroup"]["id"])
            if not with_label:
                part["leftFeatures"] = [f for f in part["leftFeatures"] if f["name"] not in labels]
            selected = {f["name"] for f in part["leftFeatures"]}
            wanted = [
                f
                for f in group["features"]
                if (keys and f.get("primary")) or (times and f["name"] == group.get("eventTime"))
            ]
            for feature in wanted:
                if feature["name"] not in selected:
                    part["leftFeatures"].append({**feature, "useFullyQualifiedName": True})
                    selected.add(feature["name"])
        query["filter"] = self.window(query, start, end)
        return query

    def window(self, query: dict[str, Any], start: str | None, end: str | None) -> dict[str, Any] | None:
        """Return the query's filter with ``start <= event time < end`` of the root group added."""
        group = self.group_by_id(query["leftFeatureGroup"]["id"])
        event_time = next(f for f in group["features"] if f["name"] == group.get("eventTime"))
        logic = query.get("filter")
        for condition, value in (("GREATER_THAN_OR_EQUAL", start), ("LESS_THAN", end)):
            if value in (None, "", "None"):
                continue
            single = {"feature": event_time, "condition": condition, "value": value}
            if logic is None:
                logic = {"type": "SINGLE", "leftFilter": single}
            else:
                logic = {"type": "AND", "leftLogic": logic, "rightFilter": single}
        return logic

    def serving_statements(
        self, request: Request, pid: str, fsid: str, name: str, version: str
    ) -> dict[str, Any]:
        return fake_online.prepared_statements(self, self.view(name, version))

    def online_connector(self, request: Request, pid: str, fsid: str) -> dict[str, Any]:
        project = self.server.projects[0]
        return {
            "type": "featurestoreJdbcConnectorDTO",
            "storageConnectorType": "JDBC",
            "id": 1,
            "name": f"{project}_{self.server.username}_onlinefeaturestore",
            "featurestoreId": int(fsid),
            "connectionString": f"jdbc:mysql://mysqld.service.consul:3306/{project}",
            "arguments": [
                {"name": "user", "value": self.server.username},
                {"name": "password", "value": "fake"},
            ],
        }

    def view_provenance(
        self, request: Request, pid: str, fsid: str, name: str, version: str
    ) -> dict[str, Any]:
        """Return a view's upstream links: the feature groups its query reads."""
        query = self.view(name, version)["query"]
        parts = [query, *(join["query"] for join in query.get("joins") or [])]
        upstream = [
            {
                "node": {
                    "artifactType": "FEATURE_GROUP",
                    "accessible": True,
                    "deleted": False,
                    "artifact": copy.deepcopy(self.group_by_id(part["leftFeatureGroup"]["id"])),
                },
                "upstream": [],
            }
            for part in parts
        ]
        return {"upstream": upstream, "downstream": []}

    # -------------------------------------------------------------------------- training datasets

    def save_training_dataset(
        self, request: Request, pid: str, fsid: str, name: str, version: str
    ) -> dict[str, Any]:
        view = self.view(name, version)
        dto = request.json()
        number = 1 + len(view.setdefault("_datasets", {}))
        project = self.store_dto_for(fsid)["projectName"]
        dto.update(
            id=self.server.new_id(),
            name=f"{name}_{version}",
            version=number,
            featurestoreId=int(fsid),
            created=CREATED,
            type="trainingDatasetDTO",
            location=f"{HOPSFS}/Projects/{project}/{project}_Training_Datasets/{name}_{version}_{number}",
        )
        view["_datasets"][number] = dto
        return copy.deepcopy(dto)

    def training_dataset(self, name: str, version: str, number: str) -> dict[str, Any]:
        datasets = self.view(name, version).get("_datasets") or {}
        if int(number) not in datasets:
            raise ServerError(
                404, TD_NOT_FOUND, f"Training dataset wasn't found: {name} v{version} td{number}"
            )
        return datasets[int(number)]

    def get_training_dataset(
        self, request: Request, pid: str, fsid: str, name: str, version: str, number: str
    ) -> dict[str, Any]:
        return copy.deepcopy(self.training_dataset(name, version, number))

    def compute_training_dataset(
        self, request: Request, pid: str, fsid: str, name: str, version: str, number: str
    ) -> dict[str, Any]:
        """Run the materialisation job at once: each split's rows as Parquet under the dataset's location.

        Like the server's job, the files hold the labels, and every group's primary key and event
        time (qualified when the view does not select them); reads drop what they were not asked for.
        """
        view, dataset = self.view(name, version), self.training_dataset(name, version, number)
        splits = dataset.get("splits") or [{"name": dataset["name"], "startTime": None, "endTime": None}]
        for split in splits:
            query = self.batch_dto(
                view, with_label=True, keys=True, times=True, start=split["startTime"], end=split["endTime"]
            )
            folder = self.local_path(f"{dataset['location']}/{split['name']}")
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(self.query_service.evaluator.evaluate(query), folder / "part-00000.parquet")
        job = {
            "id": self.server.new_id(),
            "name": f"{name}_{version}_{number}_create_fv_td",
            "jobType": "SPARK",
            "creationTime": CREATED,
            "creator": {"username": self.server.username},
            "href": f"https://{HOST}/hopsworks-api/api/project/{pid}/jobs/{name}_{version}_{number}_create_fv_td",
            "config": {"type": "sparkJobConfiguration", "appName": f"{name}_{version}_{number}_create_fv_td"},
        }
        self.server.jobs[job["name"]] = job
        execution = self.server.execution(request, pid, job["name"])
        for log in (
            execution["stdoutPath"],
            execution["stderrPath"],
        ):  # the aggregated logs the client waits for
            self.local_path(log).parent.mkdir(parents=True, exist_ok=True)
            self.local_path(log).write_text("training dataset materialised by the fake server\n")
        return job

    def local_path(self, location: str) -> Path:
        """Return the local file or folder behind a HopsFS location (``hopsfs://...``, ``/Projects/...``)."""
        path = location[len(HOPSFS) :] if location.startswith(HOPSFS) else location
        if not path.startswith("/"):
            raise ValueError(f"not a HopsFS path of this fake server: {location}")
        return self.server.root / "hopsfs" / path.lstrip("/")

    def dataset(self, request: Request, pid: str, path: str) -> dict[str, Any]:
        """The dataset API's stat and listing of a HopsFS path."""
        if path in ("None", ""):
            raise ServerError(400, 110011, f"Not a valid path: {path}")
        if not path.startswith(("/", HOPSFS)):
            path = f"/Projects/{self.server.projects[0]}/{path}"  # relative to the project
        local = self.local_path(path)
        if not local.exists():
            raise ServerError(404, 110018, f"Path not found: {path}")
        hopsfs_path = path[len(HOPSFS) :] if path.startswith(HOPSFS) else path

        def inode(item: Path) -> dict[str, Any]:
            relative = "/" + item.relative_to(self.server.root / "hopsfs").as_posix()
            return {"attributes": {"name": item.name, "path": relative, "dir": item.is_dir(), "size": 0}}

        if request.arg("action") != "listing":
            return {**inode(local), "attributes": {**inode(local)["attributes"], "path": hopsfs_path}}
        items = [inode(item) for item in sorted(local.iterdir())]
        offset, limit = int(request.arg("offset") or 0), int(request.arg("limit") or 1000)
        return {"count": len(items), "items": items[offset : offset + limit]}

    def local_table(self, location: str) -> str:
        """Return the local folder of the Delta table the server keeps at ``location``."""
        if not location.startswith(WAREHOUSE_URL):
            raise ValueError(f"not a location of this fake server: {location}")
        return str(self.local_path(location))


def register(server: FakeHopsworks) -> None:
    """Add the feature store routes to ``server``."""
    side = FeatureStoreSide(server)
    server.featurestore = side
    side.query_service = fake_query.FakeQueryService(fake_query.QueryEvaluator(side), side.queries)
    server.route("GET", r"project/(?P<pid>\d+)/featurestores/(?P<name>[^/]+)", side.get_store)
    server.route("GET", FS + r"/featuregroups/(?P<name>[^/\d][^/]*)", side.get_groups)
    server.route("POST", FS + r"/featuregroups", side.save_group)
    server.route("GET", FS + r"/featuregroups/(?P<fgid>\d+)", side.get_group)
    server.route("PUT", FS + r"/featuregroups/(?P<fgid>\d+)", side.update_group)
    suite = FS + r"/featuregroups/(?P<fgid>\d+)/expectationsuite"
    server.route("GET", suite, side.get_suite)
    server.route("POST", suite, side.save_suite)
    server.route("PUT", suite + r"/(?P<esid>\d+)", side.save_suite)
    for method in ("POST", "PUT"):
        server.route(method, FS + r"/featuregroups/(?P<fgid>\d+)/validationreport", side.save_report)
    server.route("POST", FS + r"/featuregroups/(?P<fgid>\d+)/commits", side.save_commit)
    server.route("PUT", r"project/(?P<pid>\d+)/featurestores/query", side.construct_query)
    view = FS + r"/featureview/(?P<name>[^/]+)"
    server.route("POST", FS + r"/featureview", side.save_view)
    server.route("GET", view, side.get_views)
    server.route("GET", view + r"/version/(?P<version>\d+)", side.get_view)
    server.route("GET", view + r"/version/(?P<version>\d+)/query/batch", side.batch_query)
    server.route("GET", view + r"/version/(?P<version>\d+)/preparedstatement", side.serving_statements)
    server.route("GET", view + r"/version/(?P<version>\d+)/provenance/links", side.view_provenance)
    server.route("GET", FS + r"/storageconnectors/onlinefeaturestore", side.online_connector)
    datasets = view + r"/version/(?P<version>\d+)/trainingdatasets"
    server.route("POST", datasets, side.save_training_dataset)
    server.route("GET", datasets + r"/version/(?P<number>\d+)", side.get_training_dataset)
    server.route("POST", datasets + r"/version/(?P<number>\d+)/compute", side.compute_training_dataset)
    server.route("GET", r"project/(?P<pid>\d+)/dataset/(?!download/with_auth/)(?P<path>.+)", side.dataset)
    server.route("POST", FS + r"/featuregroups/(?P<fgid>\d+)/online_ingestion", side.create_ingestion)
    server.route("GET", FS + r"/kafka/subjects/(?P<subject>[^/]+)/versions/(?P<version>[^/]+)", side.subject)
