"""A loopback Hugging Face Hub for tests, speaking the resolve protocol huggingface_hub uses.

Two listeners on 127.0.0.1 share one state: the "hub" and a "cdn" (another origin, as the Hub's
LFS storage is). Routes:

  HEAD/GET /{org}/{name}/resolve/{revision}/{path}   the Hub (X-Repo-Commit, ETag, sizes, errors)
  HEAD/GET /cdn/{etag}                                 blobs the Hub redirects LFS-style files to
  HEAD/GET /files/{name}                               plain URLs (for url sources)

Every GET honours one ``Range: bytes=a-b`` (or ``a-``, or ``-n``) with 206 and Content-Range, unless
the payload is told to ignore ranges (then 200 and the whole body, as some servers do); the body
bytes each payload sends are counted (``served``), and ``bandwidth`` (bytes per second) slows every
listener down so that timings mean something. A payload can be served corrupted (same size, other bytes),
cut off mid-body (after a silence, if asked) for its next few GETs, announced with a size it does
not have, or refused to HEAD requests. The whole server can stop answering (``answering``):
"hang" reads requests and never answers, "hang_up" closes connections without an answer.
Every request is recorded. The listeners run in daemon threads and stop by themselves after
``lifetime`` seconds if nobody stops them.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

import pytest

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 16


@dataclass
class Payload:
    data: bytes
    corrupt: bool = False  # serve len(data) bytes that are not data
    drops: int = 0  # how many upcoming GETs are cut off ...
    drop_after: int = 0  # ... after this many body bytes
    stall: float = 0.0  # seconds of silence before a cut-off (to make the client time out)
    via_cdn: bool = False  # the Hub answers with a redirect to the cdn listener
    announced: int | None = None  # the size headers claim (the body is still ``data``, then a hang-up)
    head: bool = True  # False: HEAD requests get 405, as some servers answer
    ranges: bool = True  # False: a Range header is ignored (200 and the whole body)
    served: int = 0  # body bytes sent so far, by every GET

    @cached_property
    def sha256(self) -> str:  # once: every request for a payload names it (ETag), some find it by it
        return hashlib.sha256(self.data).hexdigest()

    def body(self) -> bytes:
        return bytes(b ^ 0x5A for b in self.data) if self.corrupt else self.data

    @property
    def size(self) -> int:
        return len(self.data) if self.announced is None else self.announced


@dataclass
class Repo:
    commit: str
    files: dict[str, Payload]
    token: str | None = None  # private: only this Bearer token may read it
    gated: bool = False  # gated: without the token the answer is 403 GatedRepo


@dataclass(frozen=True)
class Request:
    listener: str  # "hub" or "cdn"
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HubServer:
    lifetime: float = 60.0
    repos: dict[str, Repo] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)  # old repo id -> new repo id
    urls: dict[str, Payload] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    answering: str = "yes"  # or "hang": never answer; or "hang_up": close without answering
    bandwidth: float | None = None  # bytes per second each response is sent at; None: as fast as it goes

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._timer: threading.Timer | None = None

    # --- content ---

    def add_repo(self, repo_id: str, files: dict[str, bytes | Payload], *, commit: str | None = None,
                 token: str | None = None, gated: bool = False) -> Repo:
        commit = commit or hashlib.sha1(repo_id.encode()).hexdigest()
        payloads = {k: v if isinstance(v, Payload) else Payload(v) for k, v in files.items()}
        self.repos[repo_id] = repo = Repo(commit, payloads, token, gated)
        return repo

    def add_url(self, name: str, data: bytes | Payload) -> str:
        self.urls[name] = data if isinstance(data, Payload) else Payload(data)
        return f"{self.endpoint}/files/{quote(name)}"

    def payload(self, repo_id: str, filename: str) -> Payload:
        return self.repos[repo_id].files[filename]

    def seen(self, method: str | None = None, listener: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (listener is None or r.listener == listener)]

    # --- lifecycle ---

    @property
    def endpoint(self) -> str:
        return self._origin("hub")

    @property
    def cdn(self) -> str:
        return self._origin("cdn")

    def _origin(self, listener: str) -> str:
        host, port = self._servers[listener].server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        for listener in ("hub", "cdn"):
            server = _Listener(("127.0.0.1", 0), _Handler)
            server.hub, server.listener = self, listener
            self._servers[listener] = server
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name=f"test-{listener}", daemon=True).start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.shutdown()
            server.server_close()

    def _record(self, listener: str, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Request(listener, handler.command, unquote(urlsplit(handler.path).path), headers))

    def _count(self, payload: Payload, sent: int) -> None:
        with self._lock:
            payload.served += sent

    def _take_drop(self, payload: Payload) -> bool:
        with self._lock:
            if payload.drops > 0:
                payload.drops -= 1
                return True
            return False


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    hub: HubServer
    listener: str

    def handle_error(self, request, client_address):  # a client hanging up is part of the tests
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Listener

    def log_message(self, format, *args):
        pass

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def _route(self, head: bool) -> None:
        hub = self.server.hub
        hub._record(self.server.listener, self)
        if hub.answering == "hang":
            hub._stopped.wait()
            return self._hang_up()
        if hub.answering == "hang_up":
            return self._hang_up()
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/files/"):
            payload = hub.urls.get(path[len("/files/"):])
            if payload is None:
                return self._error(404, None)
            return self._send(payload, head)
        if path.startswith("/cdn/"):
            etag = path[len("/cdn/"):]
            for repo in hub.repos.values():
                for payload in repo.files.values():
                    if payload.sha256 == etag:
                        return self._send(payload, head)
            return self._error(404, None)
        match = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if match is None:
            return self._error(404, None)
        org, name, revision, filename = match.groups()
        self._resolve(f"{org}/{name}", revision, filename, head)

    def _resolve(self, repo_id: str, revision: str, filename: str, head: bool) -> None:
        hub = self.server.hub
        if repo_id in hub.renamed:
            new = hub.renamed[repo_id]
            return self._redirect(307, f"/{new}/resolve/{quote(revision)}/{quote(filename)}", {})
        repo = hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound")
        if repo.token is not None and self.headers.get("Authorization") != f"Bearer {repo.token}":
            if repo.gated:
                return self._error(403, "GatedRepo", "Access to this model is restricted")
            return self._error(401, "RepoNotFound", "Invalid username or password.")
        if revision not in (repo.commit, "main"):
            return self._error(404, "RevisionNotFound")
        commit = {"X-Repo-Commit": repo.commit}
        payload = repo.files.get(filename)
        if payload is None:
            return self._error(404, "EntryNotFound", headers=commit)
        if payload.via_cdn:
            linked = {**commit, "X-Linked-Etag": f'"{payload.sha256}"', "X-Linked-Size": str(payload.size)}
            return self._redirect(302, f"{hub.cdn}/cdn/{payload.sha256}", linked)
        self._send(payload, head, {**commit, "ETag": f'"{payload.sha256}"'})

    def _redirect(self, status: int, location: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: int, code: str | None, message: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        body = (message or code or "not found").encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if message:
            self.send_header("X-Error-Message", message)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send(self, payload: Payload, head: bool, headers: dict[str, str] | None = None) -> None:
        if head and not payload.head:
            return self._error(405, None, headers=headers)
        data = payload.body()
        start, end, status = 0, payload.size, 200  # end: exclusive, in the announced size's terms
        wanted = None if head or not payload.ranges else _RANGE.match(self.headers.get("Range", "").strip())
        if wanted and any(wanted.groups()):
            span = _span(*wanted.groups(), payload.size)
            if span is None:
                return self._error(416, None, headers={**(headers or {}), "Content-Range": f"bytes */{payload.size}"})
            (start, end), status = span, 206
        body = data[start:end]
        length = end - start
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{payload.size}")
        self.send_header("Accept-Ranges", "bytes" if payload.ranges else "none")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if head:
            return
        if length != len(body):
            self._write(payload, body)
            return self._hang_up()
        if self.server.hub._take_drop(payload):
            self._write(payload, body[: payload.drop_after])
            time.sleep(payload.stall)
            return self._hang_up()
        self._write(payload, body)

    def _write(self, payload: Payload, body: bytes) -> None:
        """Send ``body`` in chunks at the hub's bandwidth, counting each chunk as it is sent."""
        bandwidth = self.server.hub.bandwidth
        for offset in range(0, len(body), _CHUNK):
            chunk = body[offset : offset + _CHUNK]
            began = time.monotonic()
            self.server.hub._count(payload, len(chunk))  # before: a client may have it before write returns
            self.wfile.write(chunk)
            if bandwidth:
                time.sleep(max(0.0, len(chunk) / bandwidth - (time.monotonic() - began)))

    def _hang_up(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _span(first: str, last: str, size: int) -> tuple[int, int] | None:
    """The bytes [start, end) that ``bytes=first-last`` asks for of ``size``; None if none of them exist."""
    if not first:  # the last ``last`` bytes
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), min(size, int(last) + 1) if last else size
    return (start, end) if start < end else None


def unused_endpoint() -> str:
    """An http origin on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A running loopback Hub that HF_ENDPOINT points at, with empty Hub and sefa-zoo caches."""
    from huggingface_hub import constants

    server = HubServer().start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("SEFA_ZOO_CACHE", str(tmp_path / "sefa-zoo-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.stop()


class _NoWaitTime:
    """The ``time`` module, with sleep recorded instead of waited (huggingface_hub's retry back-off)."""

    def __init__(self, real):
        self._real = real
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def no_retry_wait(monkeypatch):
    """huggingface_hub retries network failures with back-off sleeps (about 25 s in all): skip the
    waiting, keep the retries. Yields the list of waits that would have happened."""
    import time

    from huggingface_hub import file_download
    from huggingface_hub.utils import _http

    clock = _NoWaitTime(time)
    monkeypatch.setattr(file_download, "time", clock)
    monkeypatch.setattr(_http, "time", clock)
    return clock.waits
