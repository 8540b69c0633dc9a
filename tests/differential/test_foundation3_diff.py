"""Core behaviour tables against nginx 1.22: ``satisfy``, rewrite flags with captures and
args, every ``return`` form, ``error_page`` chains and ``=`` forms (GET and HEAD), ``if``
conditions, ``add_header always`` on error codes, ``internal``, ``types``/``default_type``
edge cases and odd request lines.

One nginx and one trinx run the same config for the whole module (starting servers is what
costs); each request goes to both.  Compared: status line, the header list in order (Date
normalised, the port in Location normalised), body, and the error-log lines the request
wrote (time, pid, connection number and prefix normalised).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_responses,
                           request_methods, start_nginx, start_trinx)

pytestmark = pytest.mark.differential

MTIME = 1704164645

CONF = r"""
events {}
http {
    access_log off;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;

        location = /auth401 { internal; add_header WWW-Authenticate 'Basic realm="r"' always;
                              return 401; }
        location = /auth403 { internal; return 403; }
        location = /authok { internal; return 204; }
        location = /auth500 { internal; return 500; }
        location /sa/allow401/ { satisfy any; allow 127.0.0.1; deny all;
                                 auth_request /auth401; alias html/; }
        location /sa/deny401/ { satisfy any; deny all; auth_request /auth401; alias html/; }
        location /sa/deny403/ { satisfy any; deny all; auth_request /auth403; alias html/; }
        location /sa/denyok/ { satisfy any; deny all; auth_request /authok; alias html/; }
        location /sa/all/ { satisfy all; deny all; auth_request /authok; alias html/; }
        location /sa/allow500/ { satisfy any; allow all; auth_request /auth500; alias html/; }
        location /sa/deny500/ { satisfy any; deny all; auth_request /auth500; alias html/; }
        location /sa/none/ { satisfy any; alias html/; }
        location /sa/nomatch/ { satisfy any; allow 10.0.0.0/8; alias html/; }
        location /sa/ep/ { satisfy any; deny all; auth_request /auth403;
                           error_page 403 /f.txt; alias html/; }
        location /sa/inh/ { satisfy any;
            location /sa/inh/in/ { deny all; auth_request /authok; alias html/; } }
    }
}
"""

FILES = {
    "html/f.txt": b"file\n",
    "html/d/g.txt": b"dir file\n",
    "html/index.html": b"index\n",
}

_LOG_LINE = re.compile(r"^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")


class Pair:
    def __init__(self, nginx: ServerProcess, trinx: ServerProcess) -> None:
        self.servers = (nginx, trinx)

    def exchange(self, raw: bytes) -> list[tuple[object, ...]]:
        """The normalised answers and new log lines of each server, nginx first."""
        out = []
        for server in self.servers:
            log_before = len(server.error_log_text())
            data = http_request(server.port, raw, timeout=5)
            responses = []
            for resp in parse_responses(data, request_methods(raw)):
                headers = [(n, "<date>" if n in ("Date", "Last-Modified") else
                            v.replace(f":{server.port}", ":<port>")) for n, v in resp.headers]
                responses.append((resp.status, resp.reason, headers, resp.body))
            log = server.error_log_text()[log_before:].replace(str(server.prefix), "<prefix>")
            log = log.replace(f":{server.port}", ":<port>")
            lines = [m.groups() for m in map(_LOG_LINE.match, log.splitlines()) if m]
            out.append((responses, lines))
        return out


def _stamp(prefix: Path) -> None:
    for top, dirs, files in os.walk(prefix / "html"):
        for name in dirs + files:
            os.utime(os.path.join(top, name), (MTIME, MTIME), follow_symlinks=False)


def _start(tmp: Path, conf: str, files: dict[str, bytes]) -> tuple[ServerProcess, ServerProcess]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    procs = []
    for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
        prefix = tmp / name
        for rel, data in files.items():
            path = prefix / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _stamp(prefix)
        try:
            procs.append(start(conf, prefix))
        except BaseException:
            for p in procs:
                p.stop()
            raise
    return procs[0], procs[1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    nginx, trinx = _start(tmp_path_factory.mktemp("f3"), CONF, FILES)
    yield Pair(nginx, trinx)
    trinx.stop()
    nginx.stop()


def raw(target: str, method: str = "GET", host: str = "localhost",
        extra: str = "") -> bytes:
    return (f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}"
            "Connection: close\r\n\r\n").encode("latin-1")


SATISFY = ["/sa/allow401/f.txt", "/sa/deny401/f.txt", "/sa/deny403/f.txt",
           "/sa/denyok/f.txt", "/sa/all/f.txt", "/sa/allow500/f.txt", "/sa/deny500/f.txt",
           "/sa/none/f.txt", "/sa/nomatch/f.txt", "/sa/ep/f.txt", "/sa/inh/in/f.txt"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", SATISFY)
def test_satisfy(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(raw(target, method))
    assert trinx == nginx
