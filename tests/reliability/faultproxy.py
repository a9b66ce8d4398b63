"""A fault-injecting HTTP proxy for S3 tests: s3fs/boto3 -> FaultProxy -> moto_server.

It forwards every request unchanged and, according to a :class:`FaultPlan`, instead (or after)
does what real object stores and networks do on a bad day:

* ``500``      HTTP 500 ``InternalError`` (S3 XML error body)
* ``503``      HTTP 503 ``ServiceUnavailable``
* ``slowdown`` HTTP 503 ``SlowDown`` ("Please reduce your request rate.")
* ``reset``    connection reset (TCP RST) before the request reaches the server
* ``reset_after``  the request IS executed by the server, then the connection is reset before
  the client sees the response (a PUT that "failed" but landed; the client retries)
* ``truncate`` the response headers announce the full body but only half of it is sent, then
  the connection closes (a download cut short; must never be mistaken for a short file)
* ``delay``    the response is held back for ``delay_s`` seconds (slow, but succeeds)

Faults are drawn with a seeded RNG at ``rate`` per request, so a run is reproducible up to
thread scheduling. ``deny`` rules are *permanent*: every matching request gets the same
error forever (an object whose ACL/bucket policy denies reads, a key the store keeps failing
on). Every request and fault is counted in ``stats`` so tests can prove faults really happened.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "403": (403, "AccessDenied", "Access Denied"),
    "404": (404, "NoSuchKey", "The specified key does not exist."),
}


@dataclass
class Deny:
    """Permanent failure: requests whose method is in ``methods`` and whose key contains ``key``."""

    key: str
    kind: str = "403"  # a key of _ERRORS
    methods: tuple[str, ...] = ("GET", "HEAD")


@dataclass
class FaultPlan:
    rate: float = 0.0
    kinds: tuple[str, ...] = ("500", "503", "slowdown", "reset", "reset_after", "truncate", "delay")
    methods: tuple[str, ...] = ("GET", "HEAD", "PUT", "POST", "DELETE")
    delay_s: float = 0.5
    seed: int = 0
    deny: list[Deny] = field(default_factory=list)
    only_keys: tuple[str, ...] = ()  # random faults only on keys containing one of these ("" = all)


def error_xml(code: str, message: str, resource: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<Resource>{resource}</Resource><RequestId>faultproxy</RequestId></Error>").encode()


class FaultProxy:
    def __init__(self, upstream: str, plan: FaultPlan | None = None) -> None:
        up = urlsplit(upstream)
        self.upstream_host, self.upstream_port = up.hostname, up.port
        self.plan = plan or FaultPlan()
        self.stats: Counter = Counter()
        self.log: list[tuple[str, str, str]] = []  # (method, path, fault or "")
        self.bytes_sent: Counter = Counter()  # object key -> response body bytes served
        self._lock = threading.Lock()
        self._rng = random.Random(self.plan.seed)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _reset(self) -> None:
                # SO_LINGER with a zero timeout turns close() into a TCP RST.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.close()

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, *, send_body: bool = True,
                      truncate: bool = False) -> None:
                self.send_response_only(status)
                for k, v in headers:
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body and body:
                    chunk = body[: len(body) // 2] if truncate else body
                    with proxy._lock:
                        proxy.bytes_sent[unquote(urlsplit(self.path).path).lstrip("/")] += len(chunk)
                    self.wfile.write(chunk)
                    self.wfile.flush()
                if truncate:
                    self._reset()

            def _handle(self) -> None:
                method, path = self.command, self.path
                body = self._body()
                fault = proxy._decide(method, path)
                proxy._record(method, path, fault)
                if fault == "reset":
                    self._reset()
                    return
                if fault in _ERRORS:
                    status, code, message = _ERRORS[fault]
                    xml = error_xml(code, message, unquote(urlsplit(path).path))
                    self._send(status, [("Content-Type", "application/xml")], xml, send_body=method != "HEAD")
                    return
                if fault == "delay":
                    time.sleep(proxy.plan.delay_s)
                status, headers, resp = proxy._forward(method, path, self.headers, body)
                if fault == "reset_after":
                    self._reset()
                    return
                self._send(status, headers, resp, send_body=method != "HEAD",
                           truncate=fault == "truncate" and method == "GET" and len(resp) > 1)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):  # resets are expected, not errors
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="faultproxy", daemon=True)

    # ----------------------------------------------------------------- plumbing
    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _decide(self, method: str, path: str) -> str:
        key = unquote(urlsplit(path).path)
        for rule in self.plan.deny:
            if method in rule.methods and rule.key in key:
                return rule.kind
        if self.plan.rate <= 0 or method not in self.plan.methods:
            return ""
        if self.plan.only_keys and not any(k in key for k in self.plan.only_keys):
            return ""
        with self._lock:
            if self._rng.random() >= self.plan.rate:
                return ""
            return self._rng.choice(self.plan.kinds)

    def _record(self, method: str, path: str, fault: str) -> None:
        with self._lock:
            self.stats["requests"] += 1
            self.stats[f"requests_{method}"] += 1
            if fault:
                self.stats[f"fault_{fault}"] += 1
                self.stats["faults"] += 1
            self.log.append((method, path, fault))

    _local = threading.local()

    def _forward(self, method: str, path: str, headers, body: bytes):
        conn = getattr(self._local, "conn", None)
        for attempt in range(2):  # a stale keep-alive connection to moto is reopened once
            if conn is None:
                conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
                self._local.conn = conn
            try:
                fwd = {k: v for k, v in headers.items() if k.lower() not in _HOP}
                if body or method in ("PUT", "POST"):
                    fwd["Content-Length"] = str(len(body))
                conn.request(method, path, body=body or None, headers=fwd)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, resp.getheaders(), data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                conn = self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")
