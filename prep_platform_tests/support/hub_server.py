"""A loopback HTTP server that speaks the part of the Hugging Face Hub protocol that file downloads use.

It serves folders as repos at `/datasets/<repo_id>/resolve/<revision>/<path>` (dataset repos) and
`/<repo_id>/resolve/<revision>/<path>` (model repos), HEAD and GET with Range, answers with the Hub's error codes (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo for a repo in
`gated` asked without a token), and can drop a
connection part-way through a file to exercise resume. The real `huggingface_hub` client talks to it through
HF_ENDPOINT; nothing is mocked on the client side.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?:datasets/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")


@dataclass
class Fault:
    """Drop the connection after `after_bytes` of the body, for the next `times` GETs of a file;
    with `then_unavailable`, answer 503 to every later request for it until cleared."""

    after_bytes: int
    times: int = 1
    then_unavailable: bool = False


@dataclass
class RequestLog:
    method: str
    path: str
    range: str | None
    authorization: str | None
    status: int


@dataclass
class LoopbackHub:
    repos: dict[str, Path] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    gated: set[str] = field(default_factory=set)  # repo ids that answer 401 GatedRepo to a request without a token
    log: list[RequestLog] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _etags: dict[Path, str] = field(default_factory=dict)
    _connections: set = field(default_factory=set)

    _endpoint: str = ""

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def etag(self, file: Path) -> str:
        if file not in self._etags:
            self._etags[file] = hashlib.sha256(file.read_bytes()).hexdigest()
        return self._etags[file]

    def gets(self, filename: str) -> list[RequestLog]:
        return [entry for entry in self.log if entry.method == "GET" and entry.path.endswith("/" + filename)]

    def start(self) -> LoopbackHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def setup(self) -> None:
                super().setup()
                hub._connections.add(self.connection)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _reply_error(self, status: int, code: str, message: str) -> None:
                payload = f'{{"error": "{message}"}}'.encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(payload)
                hub._record(self, status)

            def _serve(self, body: bool) -> None:
                match = _RESOLVE.match(unquote(self.path.split("?")[0]))
                if not match:
                    return self._reply_error(404, "RepoNotFound", "Repository not found")
                repo, revision, rel = match["repo"], match["revision"], match["path"]
                if repo not in hub.repos:
                    return self._reply_error(404, "RepoNotFound", "Repository not found")
                if repo in hub.gated and not self.headers.get("Authorization"):
                    return self._reply_error(401, "GatedRepo", "Access to this model is restricted")
                if revision not in ("main", COMMIT):
                    return self._reply_error(404, "RevisionNotFound", "Invalid rev id")
                file = hub.repos[repo] / rel
                if not file.is_file():
                    return self._reply_error(404, "EntryNotFound", "Entry not found")
                if rel in hub.unavailable:
                    return self._reply_error(503, "ServiceUnavailable", "Service temporarily unavailable")
                data = file.read_bytes()
                start = 0
                range_header = self.headers.get("Range")
                if range_header:
                    start = int(re.match(r"bytes=(\d+)-", range_header).group(1))
                status = 206 if range_header else 200
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hub.etag(file)}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if range_header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                hub._record(self, status)
                if not body:
                    return
                fault = hub.faults.get(rel)
                if fault and fault.times > 0:
                    fault.times -= 1
                    if fault.then_unavailable:
                        hub.unavailable.add(rel)
                    self.wfile.write(data[start : start + fault.after_bytes])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the client sees the body end early
                    return
                self.wfile.write(data[start:])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._endpoint = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _record(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        self.log.append(
            RequestLog(handler.command, handler.path, handler.headers.get("Range"), handler.headers.get("Authorization"), status)
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            # Keep-alive connections have threads of their own: close them so the endpoint is really gone.
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
