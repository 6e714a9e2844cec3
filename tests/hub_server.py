"""A small stand-in for the Hugging Face Hub HTTP API, served on 127.0.0.1.

It implements just what ``huggingface_hub`` (2.x, also 0.2x) needs for ``hf_hub_download``
and ``HfApi.create_repo`` / ``upload_folder`` / ``create_commit``:

* ``HEAD``/``GET /{repo_id}/resolve/{revision}/{path}``: a file at a branch or a full
  commit sha, with ``X-Repo-Commit``, ``ETag`` (the git blob sha1, as the Hub gives for
  non-LFS files) and ``Content-Length``; 404s carry ``X-Error-Code`` ``RepoNotFound``,
  ``RevisionNotFound`` or ``EntryNotFound`` so that the client raises the matching error.
* ``POST /api/repos/create``: a new model repo with an initial commit (409 if it exists).
* ``POST /api/models/{repo_id}/preupload/{revision}``: every file is ``"regular"``, so
  the client never tries LFS or Xet storage.
* ``POST /api/models/{repo_id}/commit/{revision}``: the NDJSON commit payload (base64 file
  contents, deletions) becomes a new commit on that branch.
* ``POST /api/validate-yaml``: accepts any model card.

Anything else is a plain 404. Repos, commits and files live in memory. Each request is
answered on its own connection (HTTP/1.0), so nothing is served once ``stop()`` returns.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, bytes]


@dataclass
class Repo:
    commits: list[Commit] = field(default_factory=list)
    branches: dict[str, str] = field(default_factory=dict)

    def find(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision, revision)
        return next((c for c in self.commits if c.sha == sha), None)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubServer:
    """In-memory Hub on ``http://127.0.0.1:<free port>``; ``requests`` logs every call."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None  # keep .url failing loudly after stop

    # -- store ---------------------------------------------------------------------
    def create_repo(self, repo_id: str) -> Repo:
        repo = Repo()
        self.repos[repo_id] = repo
        self.commit(repo_id, "main", {".gitattributes": b"*.safetensors filter=lfs\n"}, [], "init")
        return repo

    def commit(
        self, repo_id: str, branch: str, added: dict[str, bytes], deleted: list[str], message: str
    ) -> Commit:
        repo = self.repos[repo_id]
        parent = repo.find(branch)
        files = dict(parent.files) if parent else {}
        for path in deleted:
            files.pop(path, None)
        files.update(added)
        seed = f"{repo_id}\n{len(repo.commits)}\n{parent.sha if parent else ''}\n{message}"
        digest = hashlib.sha1(seed.encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + git_blob_sha1(files[path]).encode())
        commit = Commit(digest.hexdigest(), message, files)
        repo.commits.append(commit)
        repo.branches[branch] = commit.sha
        return commit


class _Handler(BaseHTTPRequestHandler):
    server_hub: HubServer
    protocol_version = "HTTP/1.0"  # one request per connection: stop() really stops

    def log_message(self, format, *args):  # quiet test output
        pass

    # -- plumbing ------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **(headers or {})}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None, message: str, headers=None) -> None:
        extra = {"X-Error-Message": message, **(headers or {})}
        if code:
            extra["X-Error-Code"] = code
        self._json(status, {"error": message}, extra)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self) -> None:
        hub = self.server_hub
        path = urlsplit(self.path).path
        with hub.lock:
            hub.requests.append((self.command, path))
        try:
            if path.startswith("/api/"):
                self._api(path[len("/api/") :])
            elif "/resolve/" in path and self.command in ("GET", "HEAD"):
                self._resolve(path)
            else:
                self._error(404, None, "Not found")
        except Exception as exc:  # surface server bugs as 500s, not hangs
            self._error(500, None, f"{type(exc).__name__}: {exc}")

    do_GET = do_HEAD = do_POST = _dispatch

    # -- downloads -----------------------------------------------------------------
    def _resolve(self, path: str) -> None:
        repo_id, _, rest = path.lstrip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        revision, filename = unquote(revision), unquote(filename)
        hub = self.server_hub
        with hub.lock:
            repo = hub.repos.get(repo_id)
            commit = repo.find(revision) if repo else None
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        if commit is None:
            return self._error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        data = commit.files.get(filename)
        if data is None:
            headers = {"X-Repo-Commit": commit.sha}
            return self._error(404, "EntryNotFound", "Entry not found", headers)
        self._send(
            200,
            data,
            {
                "Content-Type": "application/octet-stream",
                "ETag": f'"{git_blob_sha1(data)}"',
                "X-Repo-Commit": commit.sha,
            },
        )

    # -- API -----------------------------------------------------------------------
    def _api(self, route: str) -> None:
        hub = self.server_hub
        if self.command != "POST":
            return self._error(404, None, "Not found")
        if route == "validate-yaml":
            self._body()
            return self._json(200, {"errors": [], "warnings": []})
        if route == "repos/create":
            payload = json.loads(self._body())
            if payload.get("type", "model") != "model":
                return self._error(400, None, "only model repos are served")
            org, name = payload.get("organization"), payload["name"]
            repo_id = f"{org}/{name}" if org else name
            url = f"{hub.url}/{repo_id}"
            with hub.lock:
                if repo_id in hub.repos:  # the Hub's 409 also names the repo's url
                    message = "You already created this model repo"
                    body = {"error": message, "url": url}
                    return self._json(409, body, {"X-Error-Message": message})
                hub.create_repo(repo_id)
            return self._json(200, {"url": url, "name": repo_id})
        if not route.startswith("models/"):
            return self._error(404, None, "Not found")
        # models/{repo_id}/{preupload|commit}/{revision}
        parts = route[len("models/") :].split("/")
        if len(parts) < 3 or parts[-2] not in ("preupload", "commit"):
            return self._error(404, None, "Not found")
        repo_id, action, revision = "/".join(parts[:-2]), parts[-2], unquote(parts[-1])
        body = self._body()
        with hub.lock:
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if revision not in repo.branches:
                return self._error(404, "RevisionNotFound", "Invalid rev id: " + revision)
            if action == "preupload":
                files = json.loads(body)["files"]
                answer = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in files
                ]
                return self._json(200, {"files": answer, "commitOid": repo.branches[revision]})
            added, deleted, message = {}, [], ""
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    message = value["summary"]
                elif key == "file" and value.get("encoding") == "base64":
                    added[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    deleted.append(value["path"])
                else:
                    return self._error(400, None, f"unsupported commit operation {key!r}")
            commit = hub.commit(repo_id, revision, added, deleted, message)
        self._json(
            200,
            {
                "commitUrl": f"{hub.url}/{repo_id}/commit/{commit.sha}",
                "commitOid": commit.sha,
                "pullRequestUrl": None,
            },
        )
