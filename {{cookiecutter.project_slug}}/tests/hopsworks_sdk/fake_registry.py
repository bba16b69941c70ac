"""The model registry and HopsFS file side of the fake Hopsworks, and the secrets API.

Model metadata is kept as the server's model DTOs; model files are uploaded through the dataset
API's chunked ``flow`` upload into ``<root>/hopsfs/Projects/<project>/Models/<name>/<version>`` and
downloaded through ``dataset/download/with_auth``, as the SDK's ``LocalEngine`` does outside Hopsworks.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import shutil
from typing import Any

from fake_server import FakeHopsworks, Request, ServerError

MODEL_NOT_FOUND = 360000
REGISTRY = r"project/(?P<pid>\d+)/modelregistries/(?P<rid>\d+)/models"


def form_fields(request: Request) -> dict[str, bytes]:
    """Return the parts of a multipart/form-data body by field name."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


class RegistrySide:
    """Models, their files on the fake HopsFS, and project secrets."""

    def __init__(self, server: FakeHopsworks) -> None:
        self.server = server
        self.models: dict[tuple[str, int], dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.chunks: dict[str, dict[int, bytes]] = {}

    @property
    def fs(self) -> Any:
        return self.server.featurestore

    def project_path(self, path: str) -> str:
        return path if path.startswith("/") else f"/Projects/{self.server.projects[0]}/{path}"

    # ------------------------------------------------------------------------------ HopsFS files

    def mkdir(self, request: Request, pid: str, path: str) -> dict[str, Any]:
        if request.arg("action") != "create":
            raise ServerError(400, 110011, f"unsupported dataset action {request.arg('action')}")
        self.fs.local_path(self.project_path(path)).mkdir(parents=True, exist_ok=True)
        return {"attributes": {"path": self.project_path(path), "dir": True}}

    def remove(self, request: Request, pid: str, path: str) -> None:
        local = self.fs.local_path(self.project_path(path))
        if local.is_dir():
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()

    def upload(self, request: Request, pid: str, path: str) -> dict[str, Any]:
        """One chunk of a ``flow`` upload; the file is written when its last chunk has arrived."""
        fields = form_fields(request)
        name = fields["flowFilename"].decode()
        target = f"{self.project_path(path)}/{name}"
        chunks = self.chunks.setdefault(target, {})
        chunks[int(fields["flowChunkNumber"])] = fields["file"]
        if len(chunks) == int(fields["flowTotalChunks"]):
            local = self.fs.local_path(target)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(b"".join(chunks[i] for i in sorted(chunks)))
            del self.chunks[target]
        return {"successMessage": "uploaded"}

    def download(self, request: Request, pid: str, path: str) -> bytes:
        local = self.fs.local_path(self.project_path(path))
        if not local.is_file():
            raise ServerError(404, 110018, f"Path not found: {path}")
        return local.read_bytes()

    # ---------------------------------------------------------------------------------- registry

    def registry(self, request: Request, pid: str) -> list[dict[str, Any]]:
        return [{"id": int(pid), "name": self.server.projects[0]}]

    def model_dto(self, name: str, version: int | str) -> dict[str, Any]:
        if (name, int(version)) not in self.models:
            raise ServerError(404, MODEL_NOT_FOUND, f"Model not found: {name} v{version}")
        return self.models[(name, int(version))]

    def put_model(self, request: Request, pid: str, rid: str, model_id: str) -> dict[str, Any]:
        dto = request.json()
        name, version = dto["name"], int(dto["version"])
        dto.update(
            id=model_id,
            modelRegistryId=int(rid),
            created=self.server.clock_ms(),
            creator="learner@example.com",
            projectName=self.server.projects[0],
            type="modelDTO",
            href=f"/project/{pid}/modelregistries/{rid}/models/{model_id}",
        )
        self.models[(name, version)] = dto
        return copy.deepcopy(dto)

    def get_model(self, request: Request, pid: str, rid: str, model_id: str) -> dict[str, Any]:
        name, _, version = model_id.rpartition("_")
        return copy.deepcopy(self.model_dto(name, version))

    def get_models(self, request: Request, pid: str, rid: str) -> dict[str, Any]:
        wanted = (request.arg("filter_by") or "").removeprefix("name_eq:")
        items = [copy.deepcopy(m) for (name, _), m in sorted(self.models.items()) if name == wanted]
        return {"count": len(items), "items": items, "type": "modelDTO"}

    def provenance(self, request: Request, pid: str, rid: str, model_id: str) -> dict[str, Any]:
        """Return a model's upstream links: its training dataset, and the feature view above it."""
        name, _, version = model_id.rpartition("_")
        model = self.model_dto(name, version)
        view_ref = model.get("featureView")
        if not view_ref:
            return {"upstream": [], "downstream": []}
        view = self.fs.view(view_ref["name"], view_ref["version"])

        def node(kind: str, artifact: dict[str, Any]) -> dict[str, Any]:
            return {
                "artifactType": kind,
                "accessible": True,
                "deleted": False,
                "artifact": copy.deepcopy(artifact),
            }

        view_link = {"node": node("FEATURE_VIEW", view), "upstream": []}
        number = model.get("trainingDatasetVersion")
        if number is None:
            return {"upstream": [view_link], "downstream": []}
        dataset = self.fs.training_dataset(view_ref["name"], view_ref["version"], number)
        return {
            "upstream": [{"node": node("TRAINING_DATASET", dataset), "upstream": [view_link]}],
            "downstream": [],
        }

    # ----------------------------------------------------------------------------------- secrets

    def get_secret(self, request: Request, name: str) -> dict[str, Any]:
        if name not in self.secrets:
            raise ServerError(404, 160048, f"Could not find secret {name}")
        return {"count": 1, "items": [{"name": name, "secret": self.secrets[name], "visibility": "PRIVATE"}]}


def register(server: FakeHopsworks) -> None:
    """Add the registry, file and secrets routes to ``server``."""
    side = RegistrySide(server)
    server.registry = side
    dataset = r"project/(?P<pid>\d+)/dataset/"
    server.route("POST", dataset + r"upload/(?P<path>.+)", side.upload)
    server.route("GET", dataset + r"download/with_auth/(?P<path>.+)", side.download)
    server.route("POST", dataset + r"(?P<path>.+)", side.mkdir)
    server.route("DELETE", dataset + r"(?P<path>.+)", side.remove)
    server.route("GET", r"project/(?P<pid>\d+)/modelregistries", side.registry)
    server.route("GET", REGISTRY, side.get_models)
    server.route("PUT", REGISTRY + r"/(?P<model_id>[^/]+)", side.put_model)
    server.route("GET", REGISTRY + r"/(?P<model_id>[^/]+)", side.get_model)
    server.route("GET", REGISTRY + r"/(?P<model_id>[^/]+)/provenance/links", side.provenance)
    server.route("GET", r"users/secrets/(?P<name>[^/]+)", side.get_secret)
    server.featurestore.local_path(f"/Projects/{server.projects[0]}/Models").mkdir(
        parents=True, exist_ok=True
    )
