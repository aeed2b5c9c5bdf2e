"""A loopback fake of the Hugging Face Hub endpoints that ``huggingface_hub`` calls to upload.

It speaks the Hub's real HTTP protocol over real HTTP on 127.0.0.1, so the real client runs
unchanged (pointed here with ``HF_ENDPOINT``):

* ``GET  /api/whoami-v2``                                   who the bearer token belongs to
* ``POST /api/repos/create``                                a repository (409 when it exists)
* ``GET  /api/{type}s/{repo}/tree/{rev}``                   the file tree, with LFS sha256s
* ``GET  /api/{type}s/{repo}/revision/{rev}``               repository info
* ``POST /api/{type}s/{repo}/preupload/{rev}``              regular or LFS, and remote oids
* ``POST /api/validate-yaml``                               the card's front matter
* ``POST /{prefix}{repo}.git/info/lfs/objects/batch``       the git-LFS batch API
* ``PUT  /lfs/{oid}``, ``POST /lfs-verify``                 the "S3" upload and its check
* ``POST /api/{type}s/{repo}/commit/{rev}``                 an ndjson commit

Every request is recorded (method, path, whether it carried the token, its body), so tests
can assert what was sent, and what never was. Uploads use git-LFS: tests set
``HF_HUB_DISABLE_XET=1``, as the Xet protocol's content store is a separate service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

# Like the Hub's default .gitattributes: binary media and weights go through LFS.
LFS_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".wav", ".flac", ".mp3", ".safetensors", ".bin")
LFS_MIN_SIZE = 10 * 1024 * 1024
REPO_ROUTE = re.compile(
    r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/(tree|revision|preupload|commit)/([^/]+)(/.*)?$"
)
LFS_BATCH_ROUTE = re.compile(r"^/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$")
SIZE_CATEGORIES = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "n>1M", "n>1T"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)
    commits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def head(self) -> str:
        return hashlib.sha1(str(len(self.commits)).encode(), usedforsecurity=False).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    authorized: bool
    body: bytes


@dataclass
class FakeHub:
    """The fake's state: users by token, repositories, LFS objects, and every request."""

    tokens: dict[str, str] = field(default_factory=dict)  # token -> user name
    repos: dict[tuple[str, str], Repo] = field(default_factory=dict)  # (type, id) -> repo
    lfs: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    commits_allowed: int | None = None  # fail commits past this many (an interrupted upload)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def serve(hub: FakeHub) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start ``hub`` on a free loopback port; ``hub.url`` is its endpoint."""
    handler = type("Handler", (HubHandler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


class HubHandler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # the recorded requests are the log

    # -- plumbing ----------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        self._send(status, {"error": message}, {"X-Error-Code": code} if code else None)

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        return self.hub.tokens.get(token)

    def _handle(self, method: str) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        user = self._user()
        with self.hub.lock:
            self.hub.requests.append(Request(method, path, user is not None, body))
        try:
            self._route(method, path, user, body)
        except (ValueError, KeyError) as exc:
            self._error(400, f"bad request: {exc}")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # -- routes ------------------------------------------------------------------------------

    def _route(self, method: str, path: str, user: str | None, body: bytes) -> None:
        if method == "PUT" and path.startswith("/lfs/"):
            return self._lfs_put(path.removeprefix("/lfs/"), body)
        if user is None:
            return self._error(401, "Invalid credentials in Authorization header")
        if path == "/api/whoami-v2":
            return self._send(200, {"type": "user", "name": user, "orgs": [], "auth": {}})
        if path == "/api/repos/create" and method == "POST":
            return self._create(user, json.loads(body))
        if path == "/api/validate-yaml" and method == "POST":
            return self._validate_yaml(json.loads(body))
        if path == "/lfs-verify" and method == "POST":
            oid = json.loads(body)["oid"]
            return self._send(200 if oid in self.hub.lfs else 404, {})
        batch = LFS_BATCH_ROUTE.match(path)
        if batch and method == "POST":
            return self._lfs_batch(json.loads(body))
        route = REPO_ROUTE.match(path)
        if not route:
            return self._error(404, f"no route {method} {path}")
        repo_type, repo_id, action = route.group(1)[:-1], route.group(2), route.group(3)
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None:
            return self._error(404, "Repository not found", "RepoNotFound")
        if unquote(route.group(4)) != "main":
            return self._error(404, "Revision not found", "RevisionNotFound")
        if action == "tree":
            return self._send(200, self._tree(repo))
        if action == "revision":
            return self._send(200, {"id": repo_id, "sha": repo.head, "private": repo.private})
        if action == "preupload":
            return self._preupload(repo, json.loads(body))
        return self._commit(repo, body)

    def _create(self, user: str, payload: dict[str, Any]) -> None:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.hub.repos:
            return self._send(409, {"error": "You already created this repo", "url": url})
        private = payload.get("private") is True or payload.get("visibility") == "private"
        repo = Repo(repo_id, repo_type, private)
        # Like the Hub: a new repository starts with one commit holding .gitattributes.
        repo.files[".gitattributes"] = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        repo.commits.append({"summary": "initial commit", "files": [".gitattributes"]})
        self.hub.repos[(repo_type, repo_id)] = repo
        self._send(200, {"url": url, "name": repo_id})

    def _tree(self, repo: Repo) -> list[dict[str, Any]]:
        entries = []
        for path, data in sorted(repo.files.items()):
            entry: dict[str, Any] = {
                "type": "file",
                "path": path,
                "size": len(data),
                "oid": git_blob_sha1(data),
            }
            if path in repo.lfs_paths:
                sha = hashlib.sha256(data).hexdigest()
                entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
            entries.append(entry)
        return entries

    def _preupload(self, repo: Repo, payload: dict[str, Any]) -> None:
        answers = []
        for item in payload["files"]:
            path, size = item["path"], item["size"]
            sample = base64.b64decode(item["sample"])
            lfs = path.lower().endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE or b"\0" in sample
            existing = repo.files.get(path)
            oid = None
            if existing is not None:
                lfs_existing = path in repo.lfs_paths
                oid = hashlib.sha256(existing).hexdigest() if lfs_existing else None
                oid = oid or git_blob_sha1(existing)
            answers.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._send(200, {"files": answers, "commitOid": repo.head})

    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        content = payload["content"]
        errors = []
        match = re.match(r"\A---\n(.*?)\n---\n", content, re.S)
        if not match:  # the Hub accepts a card without metadata, with a warning
            return self._send(200, {"errors": [], "warnings": [{"message": "empty metadata"}]})
        meta = yaml.safe_load(match.group(1))
        if not isinstance(meta, dict):
            errors.append("front matter is not a mapping")
        else:
            errors += _metadata_errors(meta)
        if errors:
            return self._send(400, {"errors": [{"message": e} for e in errors]})
        self._send(200, {"errors": [], "warnings": []})

    def _lfs_batch(self, payload: dict[str, Any]) -> None:
        objects = []
        for obj in payload["objects"]:
            answer: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs:  # already stored: no actions, nothing to send
                answer["actions"] = {
                    "upload": {"href": f"{self.hub.url}/lfs/{obj['oid']}"},
                    "verify": {"href": f"{self.hub.url}/lfs-verify"},
                }
            objects.append(answer)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, "content does not match its oid")
        with self.hub.lock:
            self.hub.lfs[oid] = body
        self._send(200, {})

    def _commit(self, repo: Repo, body: bytes) -> None:
        if self.hub.commits_allowed is not None:
            if self.hub.commits_allowed <= 0:
                return self._error(503, "the Hub went away")
            self.hub.commits_allowed -= 1
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = lines[0]
        if header["key"] != "header":
            return self._error(400, "the first line must be the header")
        changed: list[str] = []
        staged: dict[str, tuple[bytes, bool]] = {}
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                staged[value["path"]] = (base64.b64decode(value["content"]), False)
            elif line["key"] == "lfsFile":
                data = self.hub.lfs.get(value["oid"])
                if data is None:
                    return self._error(400, f"LFS object {value['oid']} was never uploaded")
                staged[value["path"]] = (data, True)
            else:
                return self._error(400, f"unsupported operation {line['key']}")
        with self.hub.lock:
            for path, (data, is_lfs) in staged.items():
                repo.files[path] = data
                (repo.lfs_paths.add if is_lfs else repo.lfs_paths.discard)(path)
                changed.append(path)
            repo.commits.append({"summary": header["value"]["summary"], "files": changed})
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._send(
            200,
            {
                "success": True,
                "commitOid": repo.head,
                "commitUrl": f"{self.hub.url}/{prefix}{repo.repo_id}/commit/{repo.head}",
                "pullRequestUrl": None,
            },
        )


def _metadata_errors(meta: dict[str, Any]) -> list[str]:
    """A few of the Hub's checks on card metadata."""
    errors = []
    if "license" in meta and not isinstance(meta["license"], (str, list)):
        errors.append('"license" must be a string or a list of strings')
    for size in meta.get("size_categories") or []:
        if size not in SIZE_CATEGORIES:
            errors.append(f'"size_categories" has an unknown value {size!r}')
    for config in meta.get("configs") or []:
        if not isinstance(config, dict) or "config_name" not in config:
            errors.append('"configs" entries need a "config_name"')
    return errors
