"""The harness itself, against nginx alone: starting, raw requests, response parsing.

Proves the differential machinery works before trinx can serve; trinx-side tests build on it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness import (
    NGINX_BIN,
    IncompleteResponse,
    ServerFactory,
    ServerStartError,
    http_request,
    parse_response,
    parse_responses,
    request_methods,
    start_nginx,
)

pytestmark = pytest.mark.differential

CONF = """
events { worker_connections 64; }
http {
    access_log logs/access.log;
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        root html;
        location = /hello { return 200 "hello\\n"; }
    }
}
"""

FILES = {"html/index.txt": b"index file\n" * 100}


def test_nginx_serves_file(run_nginx: ServerFactory) -> None:
    nginx = run_nginx(CONF, FILES)
    raw = http_request(nginx.port, b"GET /index.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    response = parse_response(raw)
    assert response.status == 200
    assert response.reason == "OK"
    assert response.body == FILES["html/index.txt"]
    assert response.header("content-length") == str(len(FILES["html/index.txt"]))
    assert (response.header("Server") or "").startswith("nginx/")
    assert response.raw == raw
    # nginx writes the line when the request ends, which can be just after the client
    # has read the response: poll for it
    log = nginx.prefix / "logs" / "access.log"
    deadline = time.monotonic() + 3
    while log.read_text().count("GET /index.txt") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.read_text().count("GET /index.txt") == 1


def test_pipelined_keepalive_with_head(run_nginx: ServerFactory) -> None:
    nginx = run_nginx(CONF, FILES)
    raw = (
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /index.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    assert request_methods(raw) == ["GET", "HEAD", "GET"]
    # Returns after the third response although nginx keeps the connection open.
    data = http_request(nginx.port, raw, timeout=3)
    hello, head, missing = parse_responses(data, ["GET", "HEAD", "GET"])
    assert (hello.status, hello.body) == (200, b"hello\n")
    assert (head.status, head.body) == (200, b"")
    assert head.header("Content-Length") == str(len(FILES["html/index.txt"]))
    assert missing.status == 404
    assert b"".join(r.raw for r in (hello, head, missing)) == data


def test_bad_request_closes(run_nginx: ServerFactory) -> None:
    nginx = run_nginx(CONF, FILES)
    response = parse_response(http_request(nginx.port, b"BOGUS\r\n\r\n"))
    assert response.status == 400
    assert response.header("Connection") == "close"


def test_start_failure_reports_output(tmp_path: Path) -> None:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    with pytest.raises(ServerStartError, match='unknown directive "bogus"'):
        start_nginx("bogus; events {} http { server { listen {port}; } }", tmp_path)


def test_parse_chunked_with_trailers_then_close_delimited() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Sum: 6\r\n\r\n"
        b"HTTP/1.0 200 OK\r\nX-A:  spaced \r\n\r\nuntil close"
    )
    interim, chunked, closing = parse_responses(data, ["POST", "GET"])
    assert interim.status == 100 and interim.body == b""
    assert chunked.body == b"hello!"
    assert chunked.trailers == [("X-Sum", "6")]
    assert closing.http_version == "HTTP/1.0"
    assert closing.headers == [("X-A", "spaced")]
    assert closing.body == b"until close"
    assert closing.head == b"HTTP/1.0 200 OK\r\nX-A:  spaced \r\n\r\n"


def test_parse_incomplete() -> None:
    with pytest.raises(IncompleteResponse):
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    with pytest.raises(ValueError, match="expected one response"):
        parse_response(b"HTTP/1.1 204 No Content\r\n\r\n" * 2)
