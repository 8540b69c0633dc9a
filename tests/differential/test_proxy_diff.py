"""proxy_pass: trinx against Debian's nginx with the same real backends (tests/backends.py):
what the backend sees (request line, headers in order, body), what the client gets, the
round-robin sequence, retries and failures (reference/upstream.md)."""

from __future__ import annotations

import re
import socket
import subprocess
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.main import main
from tests.backends import Backend, dead_port
from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx,
                           start_trinx)

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    access_log off;
    upstream rr { server A weight=5; server B; server C; }
    upstream ka { server A; keepalive 4; }
    upstream retry { server DEAD; server B; }
    upstream r500 { server A; server B; server C; }
    server {
        listen 127.0.0.1:{port};
        location /nouri/ { proxy_pass http://A; }
        location /withuri/ { proxy_pass http://A/dst/; }
        location /withuri2 { proxy_pass http://A/dst; }
        location /rootpass/ { proxy_pass http://A/; }
        location ~ ^/rx/(.*)$ { proxy_pass http://A; }
        location /rw/ { rewrite ^/rw/(.*)$ /changed/$1 break; proxy_pass http://A/dst/; }
        location /var/ { set $b A; proxy_pass http://$b/v$uri; }
        location /var2/ { set $b A; proxy_pass http://$b; }
        location /hdr/ { proxy_pass http://A/; proxy_set_header X-Real-IP $remote_addr;
                         proxy_set_header Accept ""; }
        location /v11/ { proxy_pass http://ka/; proxy_http_version 1.1;
                         proxy_set_header Connection ""; }
        location /nohdr/ { proxy_pass http://A/; proxy_pass_request_headers off; }
        location /nobody/ { proxy_pass http://A/; proxy_pass_request_body off;
                            proxy_set_header Content-Length ""; }
        location /rr/ { proxy_pass http://rr/; }
        location /retry/ { proxy_pass http://retry/; }
        location /r500/ { proxy_pass http://r500/; proxy_next_upstream error timeout http_500; }
        location /r500u/ { proxy_pass http://r500/; proxy_next_upstream ERROR Timeout HTTP_500; }
        location /r500acc/ { proxy_pass http://r500/; proxy_next_upstream error;
                             proxy_next_upstream http_500; }
        location /r500off/ { proxy_pass http://r500/; proxy_next_upstream http_500 Off; }
        location /to/ { proxy_pass http://A/; proxy_read_timeout 1s; }
        location /dead/ { proxy_pass http://DEAD/; }
        location /hide/ { proxy_pass http://A/; proxy_hide_header X-Backend; }
        location /icpt/ { proxy_pass http://A/; proxy_intercept_errors on;
                          error_page 503 =200 /fallback.txt; }
        location = /fallback.txt { return 200 "fallback"; }
        location /static/ { root html; }
    }
}
"""


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[Backend, Backend, Backend]]:
    with Backend("a") as a, Backend("b") as b, Backend("c") as c:
        yield a, b, c


def _conf(backends: tuple[Backend, Backend, Backend], dead: int) -> str:
    a, b, c = backends
    return (CONF.replace("DEAD", f"127.0.0.1:{dead}").replace(" A", " " + a.address)
            .replace("//A", "//" + a.address).replace(" B", " " + b.address)
            .replace(" C", " " + c.address))


@pytest.fixture(scope="module")
def pair(backends: tuple[Backend, Backend, Backend], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    conf = _conf(backends, dead_port())
    tmp = tmp_path_factory.mktemp("proxy")
    files = {"html/static/s.txt": b"static"}
    nginx = start_nginx(conf, tmp / "nginx", files)
    trinx = start_trinx(conf, tmp / "trinx", files)
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


def exchange(server: ServerProcess, backend: Backend, raw: bytes) -> tuple[object, ...]:
    before = len(backend.seen)
    method = raw.split(b" ", 1)[0].decode()
    r = parse_response(http_request(server.port, raw, timeout=10), method)
    seen = backend.seen[before:]
    port = str(backend.port)
    return (r.status, r.body, r.header("X-Backend"), r.header("Content-Type"),
            [(s.method, s.target, s.version,
              [(n, v.replace(port, "PORT")) for n, v in s.headers], s.body) for s in seen])


REQUESTS = [
    b"GET /nouri/a%20b/../c?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /nouri//a/./b%2Fc?x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /withuri/a/b?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /withuri/a%20b/../c%3F?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /withuri//x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /withuri2/a/b?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /withuri2x?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /rootpass/a?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /rx/a%20b?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /rw/a%20b?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /var/a?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /var2/a%20b?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /hdr/ HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Foo\r\nKeep-Alive: 300\r\n"
    b"TE: trailers\r\nUpgrade: h2c\r\nX-Real-IP: fake\r\nUser-Agent: t/1\r\nAccept: */*\r\n"
    b"X-Custom: yes\r\n\r\n",
    b"GET /v11/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"POST /nouri/p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"POST /nouri/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close"
    b"\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    b"GET /nohdr/ HTTP/1.1\r\nHost: h\r\nX-Custom: 1\r\nConnection: close\r\n\r\n",
    b"HEAD /nouri/h HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /rootpass/chunked HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /rootpass/status/404 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /hide/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /icpt/status/503 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /rootpass/accel?to=/static/s.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /to/slow?ms=1500 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /dead/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
]


@pytest.mark.parametrize("raw", REQUESTS, ids=lambda b: b.split(b"\r\n")[0].decode())
def test_same_as_nginx(pair: tuple[ServerProcess, ServerProcess],
                       backends: tuple[Backend, Backend, Backend], raw: bytes) -> None:
    nginx, trinx = pair
    a = backends[0]
    assert exchange(trinx, a, raw) == exchange(nginx, a, raw)


def test_invalid_response_is_a_502(pair: tuple[ServerProcess, ServerProcess]) -> None:
    # On purpose unlike nginx 1.22, which passes a response without a status line through
    # as HTTP/0.9 (no status line, no headers, to an HTTP/1.1 client); reference/upstream.md
    # and trinx call it an invalid header: 502.
    nginx, trinx = pair
    raw = b"GET /to/invalid HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    assert http_request(nginx.port, raw).startswith(b"this is not HTTP")
    assert parse_response(http_request(trinx.port, raw)).status == 502
    assert "upstream sent invalid header" in trinx.error_log_text()


def test_round_robin_sequence(backends: tuple[Backend, Backend, Backend],
                              tmp_path: Path) -> None:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    conf = _conf(backends, dead_port())
    raw = b"GET /rr/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    sequences = []
    for start in (start_nginx, start_trinx):
        with start(conf, tmp_path / start.__name__) as server:
            sequences.append([parse_response(http_request(server.port, raw)).body
                              for _ in range(14)])
    assert sequences[1] == sequences[0] == [b"a", b"a", b"b", b"a", b"c", b"a", b"a"] * 2


def test_retries_and_status_retries(backends: tuple[Backend, Backend, Backend],
                                    tmp_path: Path) -> None:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    conf = _conf(backends, dead_port())
    results = []
    for start in (start_nginx, start_trinx):
        with start(conf, tmp_path / start.__name__) as server:
            out = []
            for target in ("/retry/", "/retry/", "/retry/", "/r500/status/500",
                           "/r500/status/500", "/r500u/status/500", "/r500acc/status/500",
                           "/r500off/status/500"):
                raw = f"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                r = parse_response(http_request(server.port, raw.encode()))
                out.append((r.status, r.body))
            results.append(out)
    assert results[1] == results[0]


# --- error-log lines of upstream failures -----------------------------------------------------

def _rst(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# path -> (bytes to answer, then: "close", "rst" or "hold" the connection a while)
FAILURES: dict[str, tuple[bytes, str]] = {
    "rst": (b"", "rst"),
    "close": (b"", "close"),
    "hang": (b"", "hold"),
    "midbody": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", "close"),
    "midrst": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", "rst"),
    "stall": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello", "hold"),
    "badchunk": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "hold"),
    "ok": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "close"),
    # memcached replies to "get /mcb/<name>\r\n"
    "end": (b"END\r\n", "hold"),
    "trailer": (b"VALUE /mcb/trailer 0 2\r\nokXXXXXXX", "hold"),
}


def _padded(size: int) -> bytes:
    """A head of ``size`` bytes (through its empty line), then a 2-byte body."""
    return (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: " + b"p" * (size - 47)
            + b"\r\n\r\nok")


# response heads nginx reads unlike h11 (ngx_http_parse_header_line), all answered then closed
HEADS: dict[str, bytes] = {
    "nocolon": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-NoColon\r\nX-B: b\r\n\r\nok",
    "nocolon-chunked": b"HTTP/1.1 200 OK\r\nX-N\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\nok\r\n0\r\n\r\n",
    "space-in-name": b"HTTP/1.1 200 OK\r\nX-NoColon value\r\nContent-Length: 2\r\n\r\nok",
    "cl-word": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello",
    "cl-list": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhello",
    "cl-negative": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
    "cl-repeated-up": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello",
    "cl-repeated-down": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 2\r\n\r\n"
                        b"hello",
    "cl-word-chunked": b"HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked"
                       b"\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "big": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 9000 + b"\r\nContent-Length: 2\r\n\r\nok",
    "head4094": _padded(4094),
    "head4097": _padded(4097),
    "nul-value": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "nul-name": b"HTTP/1.1 200 OK\r\nX-\x00A: ab\r\nContent-Length: 2\r\n\r\nok",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
    "spaces-cr": b"HTTP/1.1 200 OK\r\nX-A: a  \rb\r\nContent-Length: 2\r\n\r\nok",
    "folded": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "lf-only": b"HTTP/1.1 200 OK\nX-A: a\nX-NoColon\nContent-Length: 2\n\nok",
    "tabs": b"HTTP/1.1 200 OK\r\nX-A:\ta b\t\r\nContent-Length: 2\r\n\r\nok",
    "iis-status": b"HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nX-A: a\r\nContent-Length: 2\r\n\r\nok",
    "odd-name": b"HTTP/1.1 200 OK\r\nX(A): a\r\nX-B:\r\nContent-Length: 2\r\n\r\nok",
    "high-bytes": b"HTTP/1.1 200 OK\r\nX-\xe9: v\xe9\x01\r\nContent-Length: 2\r\n\r\nok",
    "high-bytes-nul": b"HTTP/1.1 200 OK\r\nX-\xe9: v\xe9\x00\r\nContent-Length: 2\r\n\r\nok",
}
FAILURES.update({name: (head, "close") for name, head in HEADS.items()})


class FailingBackend:
    """Answers the last path segment of each request with FAILURES[segment] (HTTP or
    memcached requests alike), then closes, resets or holds the connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data and not data.startswith(b"get "):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            target = data.split(b"\r\n", 1)[0].split(b" ")[1]
            reply, then = FAILURES[target.split(b"?")[0].rsplit(b"/", 1)[-1].decode()]
            conn.sendall(reply)
            if then == "rst":
                time.sleep(0.05)
                _rst(conn)
            elif then == "hold":
                time.sleep(1.5)


FAILURE_CONF = """
error_log stderr info;
events {}
http {
    access_log off;
    upstream dd { server 127.0.0.1:DEAD; server 127.0.0.2:DEAD; }
    upstream one { server 127.0.0.1:FAIL max_fails=0; }
    server {
        listen 127.0.0.1:{port};
        proxy_read_timeout 300ms;
        memcached_read_timeout 300ms;
        location /p/ { proxy_pass http://127.0.0.1:FAIL/x/; }
        location /pb/ { proxy_pass http://127.0.0.1:FAIL/x/; proxy_buffer_size 16k;
                       proxy_buffers 8 16k; }
        location /g/ { proxy_pass http://one; }
        location /dead/ { proxy_pass http://127.0.0.1:DEAD; }
        location /dd/ { proxy_pass http://dd; }
        location /mc/ { set $memcached_key $uri; memcached_pass 127.0.0.1:DEAD; }
        location /mcb/ { set $memcached_key $uri; memcached_pass 127.0.0.1:FAIL; }
        location /ep/ { proxy_pass http://127.0.0.1:DEAD; error_page 502 /missing.html; }
    }
}
"""


@pytest.fixture(scope="module")
def failing_pair(tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[ServerProcess, ServerProcess, dict[str, str]]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    backend = FailingBackend()
    dead = dead_port()
    conf = FAILURE_CONF.replace("FAIL", str(backend.port)).replace("DEAD", str(dead))
    tmp = tmp_path_factory.mktemp("proxyfail")
    nginx = start_nginx(conf, tmp / "nginx")
    trinx = start_trinx(conf, tmp / "trinx")
    names = {str(backend.port): "FAIL", str(dead): "DEAD", str(tmp / "nginx"): "PREFIX",
             str(tmp / "trinx"): "PREFIX"}
    yield nginx, trinx, names
    trinx.stop()
    nginx.stop()
    backend.sock.close()


def _request_log(server: ServerProcess, target: str, names: dict[str, str], whole: bool = False
                 ) -> tuple[bytes, list[str]]:
    """The response's status line (``whole``: the response without its Date) and the
    error-log lines the request wrote (without time, pid and connection number; ports and
    prefixes named)."""
    before = len(server.error_log_text())
    raw = f"GET {target} HTTP/1.1\r\nHost: h\r\nReferer: r\r\nConnection: close\r\n\r\n"
    response = http_request(server.port, raw.encode(), timeout=10)
    time.sleep(0.05)
    lines = []
    for line in server.error_log_text()[before:].splitlines():
        if "client closed connection" in line or "keepalive connection" in line:
            continue  # the harness's probes and keepalive closes
        line = re.sub(r"^\S+ \S+ (\[\w+\]) \d+#\d+: \*\d+ ", r"\1 ", line)
        for value, name in names.items():
            line = line.replace(value, name)
        lines.append(line)
    if whole:
        return re.sub(rb"\r\nDate: [^\r]*", b"", response), lines
    return response.split(b"\r\n", 1)[0], lines


@pytest.mark.parametrize("target", [
    "/p/rst", "/p/close", "/p/hang", "/p/midbody", "/p/midrst", "/p/stall", "/p/badchunk",
    "/g/close", "/dead/a", "/mc/k", "/mcb/end", "/mcb/trailer",
    "/ep/a",  # the error page's lines still name the upstream (nginx keeps r->upstream)
])
def test_error_log_lines_as_nginx(failing_pair: tuple[ServerProcess, ServerProcess,
                                                      dict[str, str]], target: str) -> None:
    """Upstream errors: bare messages, nginx's action (connecting to upstream, reading
    response header from upstream, reading upstream) and ``, upstream: "..."`` after the
    request line, for proxy and memcached."""
    nginx, trinx, names = failing_pair
    expected = _request_log(nginx, target + "?q=1", names)
    assert expected[1], "nginx logged nothing"
    assert _request_log(trinx, target + "?q=1", names) == expected


@pytest.mark.parametrize("target", [f"/p/{name}" for name in HEADS] + ["/pb/big"])
def test_response_heads_read_as_nginx(failing_pair: tuple[ServerProcess, ServerProcess,
                                                          dict[str, str]], target: str) -> None:
    """Heads read as ngx_http_parse_header_line reads them: a line without a colon is a
    header with an empty value, Content-Length the last one (no length if not all
    digits: read until close, chunked to the client), a head over proxy_buffer_size a 502
    "too big header", an invalid line a 502 naming the line up to the bad byte.  The
    whole response and the error-log lines are nginx's."""
    nginx, trinx, names = failing_pair
    expected = _request_log(nginx, target, names, whole=True)
    assert _request_log(trinx, target, names, whole=True) == expected


def test_no_live_upstreams_names_the_group(
        failing_pair: tuple[ServerProcess, ServerProcess, dict[str, str]]) -> None:
    """Both servers of dd fail (each "temporarily disabled"), then no live upstreams with
    the group as the peer: upstream: "http://dd/..."."""
    nginx, trinx, names = failing_pair
    results = [[_request_log(server, t, names) for t in ("/dd/a", "/dd/b")]
               for server in (nginx, trinx)]
    assert results[1] == results[0]
    assert 'no live upstreams while connecting to upstream' in results[0][1][1][0]


# --- directive values: nginx's slots (bitmask, enum, flag) ---------------------------------

@pytest.mark.parametrize("directives", [
    "proxy_next_upstream ERROR Timeout Invalid_Header HTTP_500 Non_Idempotent;",
    "proxy_next_upstream error off;",
    "proxy_next_upstream OFF;",
    "proxy_next_upstream error error;",
    "proxy_next_upstream error; proxy_next_upstream Error timeout;",
    "proxy_next_upstream error ERROR bogus;",
    "proxy_next_upstream http_501;",
    "memcached_next_upstream ERROR Not_Found Invalid_Response OFF;",
    "memcached_next_upstream timeout Timeout;",
    "memcached_next_upstream http_500;",
    "proxy_ignore_headers x-accel-redirect SET-COOKIE vary;",
    "proxy_ignore_headers set-cookie Set-Cookie;",
    "proxy_ignore_headers X-Foo;",
    "proxy_http_version 2.0;",
    "proxy_http_version 1.1; proxy_http_version 1.0;",
    "proxy_buffering ON; proxy_request_buffering Off;",
    "proxy_buffering maybe;",
    "proxy_buffering on; proxy_buffering off;",
    # buffer sizes: nginx's merge-time checks (proxy_buffer_size now bounds the head)
    "proxy_buffer_size 16k;",
    "proxy_buffer_size 16k; proxy_buffers 8 16k;",
    "proxy_buffer_size 8k;",
    "proxy_buffer_size 1k;",
    "proxy_buffer_size 4k; proxy_buffer_size 8k;",
    "proxy_buffer_size 4x;",
    "proxy_buffers 1 4k;",
    "proxy_buffers 0 4k;",
    "proxy_buffers 4 0;",
    "proxy_buffers 4 4k; proxy_buffers 8 4k;",
    "proxy_buffers 4 4k;",
    "proxy_busy_buffers_size 2k;",
    "proxy_busy_buffers_size 28k;",
    "proxy_busy_buffers_size 29k;",
])
def test_directive_values_as_nginx(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   directives: str) -> None:
    """``nginx -t`` on both: the same verdict and the same warn/emerg lines."""
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    conf = tmp_path / "conf" / "nginx.conf"
    conf.parent.mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    conf.write_text("events {} http { server { location / { %s } } }\n" % directives)
    argv = ["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"]
    rc = main(argv)
    ours = [re.sub(r"^.*?\[(\w+)\] (\d+#\d+: )?", r"[\1] ", line)
            for line in capsys.readouterr().err.splitlines() if "[warn]" in line
            or "[emerg]" in line]
    out = subprocess.run([str(NGINX_BIN), *argv], capture_output=True, text=True)
    theirs = [re.sub(r"^.*?\[(\w+)\] \d+#\d+: ", r"[\1] ", line)
              for line in out.stderr.splitlines() if "[warn]" in line or "[emerg]" in line]
    assert (rc, ours) == (out.returncode, theirs)
