"""Connection numbers (``$connection``, the ``*N`` of error-log lines) against nginx: an
upstream connection takes a number from the same sequence as accepted ones (nginx's
``ngx_event_connect_peer``), a reused keepalive one does not, a failed connect does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness import NGINX_BIN, http_request, start_nginx, start_trinx

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    log_format c "$connection $connection_requests $request_uri $status";
    access_log logs/c.log c;
    upstream ka { server 127.0.0.1:{port}; keepalive 2; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /p/ { proxy_pass http://127.0.0.1:{port}/; }
        location /k/ { proxy_pass http://ka/; proxy_http_version 1.1;
                       proxy_set_header Connection ""; }
        location /m/ { proxy_pass http://127.0.0.1:1/; }
    }
}
"""
PATHS = ("/a.html", "/p/a.html", "/a.html", "/k/a.html", "/k/a.html", "/m/a.html", "/a.html")


def access_lines(start: object, prefix: Path) -> list[str]:
    with start(CONF, prefix, {"html/a.html": b"hello"}) as server:  # type: ignore[operator]
        for path in PATHS:
            raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            http_request(server.port, raw)
        deadline = time.monotonic() + 5
        log = prefix / "logs" / "c.log"
        while time.monotonic() < deadline and log.read_text().count("\n") < 10:
            time.sleep(0.05)  # the access-log line follows the response
    return log.read_text().splitlines()


def test_upstream_connections_take_numbers(tmp_path: Path) -> None:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    nginx = access_lines(start_nginx, tmp_path / "nginx")
    assert len(nginx) == 10  # 7 client requests, 3 proxied ones
    assert access_lines(start_trinx, tmp_path / "trinx") == nginx
