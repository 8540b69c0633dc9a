"""proxy: how upstream responses are read, against Debian's nginx with the same raw backend.

The backend answers each path with bytes written here, whole or in small pieces, so the
response head parser (a fast path for the common shape, h11 for the rest; see
engine/modules/proxy.py HttpProxy) meets every framing: Content-Length, chunked, read to
close, no body (204, 304, HEAD), HTTP/1.0, ``Connection: close``, bytes past the
Content-Length, heads cut at any byte.  For each the client must get what nginx's client
gets, and the upstream connection must be reused exactly when nginx reuses it (counted as
connections the backend accepted over three requests).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx,
                           start_trinx)

CL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"

# path -> (response bytes, pieces to send them in (0: whole), close after sending)
REPLIES: dict[str, tuple[bytes, int, bool]] = {
    "/cl": (CL, 0, False),
    "/split": (CL, 1, False),  # one byte at a time
    "/split7": (CL * 1, 7, False),
    "/v10": (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, False),
    "/close": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 0,
               False),
    "/closelist": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, Close"
                   b"\r\n\r\nhello", 0, False),
    "/keepalive": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive"
                   b"\r\nKeep-Alive: timeout=5\r\n\r\nhello", 0, False),
    "/chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 2\r\n\r\n"
                 b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", 0, False),
    "/chunkedsplit": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", 5, False),
    "/eof": (b"HTTP/1.1 200 OK\r\nX-A: 3\r\n\r\nhello", 0, True),
    "/204": (b"HTTP/1.1 204 No Content\r\nX-A: 4\r\n\r\n", 0, False),
    "/304": (b'HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n\r\n', 0, False),
    "/headonly": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, False),
    "/empty": (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, False),
    "/ows": (b"HTTP/1.1 200 OK\r\nX-A:   two  words \t\r\nX-B:\r\nContent-Length: 5\r\n\r\n"
             b"hello", 0, False),
    "/lf": (b"HTTP/1.1 200 OK\nContent-Length: 5\nX-A: 5\n\nhello", 0, False),
    "/404": (b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!", 0, False),
    "/big": (b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"b" * 300000, 0, False),
    "/bigsplit": (b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"c" * 300000,
                  997, False),
    "/shortbody": (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this", 0, True),
    "/nohead": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, True),
    "/nul": (b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello", 0, True),
    "/extra": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", 0, False),
    "/stall": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 0, False),
    "/nothing": (b"", 0, False),  # never answers
}


@dataclass
class RawBackend:
    """Answers each request with REPLIES[path]; counts the connections it accepted."""

    port: int = 0
    connections: int = 0
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> "RawBackend":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._sock = s
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._sock is not None
        self._sock.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode().split("?")[0].rsplit("/", 1)[-1]
                reply, pieces, close = REPLIES["/" + path]
                try:
                    if pieces:
                        for i in range(0, len(reply), pieces):
                            conn.sendall(reply[i:i + pieces])
                            if i < 200:
                                time.sleep(0.001)
                    else:
                        conn.sendall(reply)
                except OSError:
                    return
                if close:
                    return


CONF = """
events {}
http {
    access_log off;
    upstream raw { server 127.0.0.1:RAW; keepalive 4; }
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://raw; proxy_http_version 1.1;
                     proxy_set_header Connection ""; proxy_read_timeout 5s; }
        location /t1/ { proxy_pass http://raw; proxy_read_timeout 1s; }
        location /t3/ { proxy_pass http://raw; proxy_read_timeout 3s; }
    }
}
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, tuple[ServerProcess, RawBackend]]]:
    """name -> (server, its own backend); nginx only where it is installed."""
    with RawBackend() as b1, RawBackend() as b2:
        tmp = tmp_path_factory.mktemp("proxy-responses")
        out = {"trinx": (start_trinx(CONF.replace("RAW", str(b1.port)), tmp / "trinx"), b1)}
        if NGINX_BIN.exists():
            out["nginx"] = (start_nginx(CONF.replace("RAW", str(b2.port)), tmp / "nginx"), b2)
        try:
            yield out
        finally:
            for server, _ in out.values():
                server.stop()


def outcome(server: ServerProcess, backend: RawBackend, method: str, path: str
            ) -> tuple[object, ...]:
    """What a client sees for three requests in a row, and how many upstream connections
    they took."""
    before = backend.connections
    seen = []
    for _ in range(3):
        raw = f"{method} {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode()
        data = http_request(server.port, raw, timeout=10)
        try:
            r = parse_response(data, method)
        except ValueError:  # cut short (IncompleteResponse is one)
            seen.append(("cut", data.split(b"\r\n", 1)[0], data.endswith(b"only this")))
            continue
        seen.append((r.status, r.body, r.header("X-A"), r.header("X-B"),
                     r.header("Content-Length"), r.header("ETag")))
    time.sleep(0.05)  # the last connection's close reaches the backend
    return seen[0], seen[1:] == seen[:-1], backend.connections - before


CASES = [("GET", p) for p in REPLIES if p not in ("/headonly", "/stall", "/nothing")] + [
    ("HEAD", "/headonly")]


@pytest.mark.differential
@pytest.mark.parametrize("method, path", CASES, ids=lambda v: v)
def test_same_as_nginx(servers: dict[str, tuple[ServerProcess, RawBackend]], method: str,
                       path: str) -> None:
    if "nginx" not in servers:
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    assert outcome(*servers["trinx"], method, path) == outcome(*servers["nginx"], method, path)


def test_reuse_as_expected(servers: dict[str, tuple[ServerProcess, RawBackend]]) -> None:
    """The reuse decisions themselves, for a machine without nginx."""
    trinx, backend = servers["trinx"]
    for path, conns in (("/cl", 1), ("/split", 1), ("/chunked", 1), ("/204", 1),
                        ("/v10", 3), ("/close", 3), ("/closelist", 3), ("/eof", 3)):
        got = outcome(trinx, backend, "GET", path)
        # a connection cached by the previous path may serve the first request
        assert got[2] <= 1 if conns == 1 else got[2] >= 2, (path, got)
        assert got[0][0] == 200 or path == "/204", (path, got)


def test_bytes_past_content_length(servers: dict[str, tuple[ServerProcess, RawBackend]]
                                   ) -> None:
    """The body stops at Content-Length and the connection is not reused: what came after
    would be read as the next response (nginx closes a cached connection with something to
    read)."""
    trinx, backend = servers["trinx"]
    first, same, conns = outcome(trinx, backend, "GET", "/extra")
    assert first[:2] == (200, b"hello") and same and conns >= 2


def once(server: ServerProcess, path: str) -> tuple[bytes, float]:
    started = time.monotonic()
    raw = f"GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode()
    return http_request(server.port, raw, timeout=10), time.monotonic() - started


@pytest.mark.differential
def test_body_read_timeout_same_as_nginx(servers: dict[str, tuple[ServerProcess, RawBackend]]
                                         ) -> None:
    """Half the body, then silence: the header is sent at once, the half body stays in
    the buffers (nginx's proxy_buffering), the client connection is closed after
    proxy_read_timeout."""
    if "nginx" not in servers:
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    got = {name: once(server, "/t1/stall") for name, (server, _) in servers.items()}
    for data, took in got.values():
        assert 0.9 < took < 2.5
    heads = {name: parse_response(data + b"hello" * 2).status for name, (data, _) in got.items()}
    assert heads == {"trinx": 200, "nginx": 200}
    assert got["trinx"][0].endswith(b"\r\n\r\n") and got["nginx"][0].endswith(b"\r\n\r\n")
    assert "upstream timed out (110: Connection timed out) while reading upstream" in \
        servers["trinx"][0].error_log_text()


def test_read_timeouts_of_different_lengths(
        servers: dict[str, tuple[ServerProcess, RawBackend]]) -> None:
    """A shorter timeout started while a longer one is pending still fires on time (the
    read timeouts share one timer)."""
    trinx, _ = servers["trinx"]
    results: dict[str, tuple[bytes, float]] = {}
    slow = threading.Thread(target=lambda: results.update(t3=once(trinx, "/t3/nothing")))
    slow.start()
    time.sleep(0.2)
    results["t1"] = once(trinx, "/t1/nothing")
    slow.join()
    assert results["t1"][0].startswith(b"HTTP/1.1 504 ") and 0.9 < results["t1"][1] < 1.6
    assert results["t3"][0].startswith(b"HTTP/1.1 504 ") and 2.9 < results["t3"][1] < 3.6
