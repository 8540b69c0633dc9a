"""HTTP/1.x connection handling of the real trinx over sockets: keep-alive, pipelining,
100-continue, request bodies, bad requests and their status codes, timeouts.

Expected values were taken from nginx 1.22.1 with the same config (the differential twin
of most of these is tests/differential/test_core_diff.py).  Deliberate differences: HTTP/0.9
simple requests (nginx answers with a bare body, h11 refuses: 400), and versions with
multi-digit parts such as ``HTTP/1.10`` (nginx accepts, h11 refuses: 400).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (Response, ServerProcess, http_request, parse_response,
                           parse_responses, start_trinx)

CONF = """
error_log logs/error.log info;
events {}
http {
    access_log off;
    client_header_timeout 1s;
    keepalive_requests 3;
    server {
        listen 127.0.0.1:{port};
        root html;
        client_max_body_size 10;
        location /ka/ { keepalive_timeout 1s 7; }
        location /ka0/ { keepalive_timeout 0; }
        location /big/ { client_max_body_size 1k; }
    }
}
"""

FILES = {
    "html/a.txt": b"hello\n",
    "html/ka/a": b"k",
    "html/ka0/a": b"k",
    "html/big/a": b"b",
}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("http"), FILES)
    yield server
    server.stop()


def get(server: ServerProcess, raw: bytes, **kw: object) -> Response:
    return parse_response(http_request(server.port, raw, **kw))  # type: ignore[arg-type]


def all_responses(server: ServerProcess, raw: bytes, timeout: float = 3.0) -> list[Response]:
    """Send ``raw`` and read until the server closes the connection."""
    data = bytearray()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
    return parse_responses(bytes(data))


def assert_still_serving(server: ServerProcess) -> None:
    resp = get(server, b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 200 and resp.body == b"hello\n"


REQ = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"


# --- keep-alive and pipelining --------------------------------------------------------------------

def test_keepalive_header_and_pipelined_order(trinx: ServerProcess) -> None:
    raw = (b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
           b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
    resps = parse_responses(http_request(trinx.port, raw), ["GET", "HEAD", "GET"])
    assert [r.status for r in resps] == [200, 200, 404]
    assert resps[0].body == b"hello\n" and resps[1].body == b""
    assert resps[1].header("Content-Length") == "6"
    assert [r.header("Connection") for r in resps] == ["keep-alive", "keep-alive", "close"]


def test_empty_lines_before_a_request_line_are_skipped(trinx: ServerProcess) -> None:
    # nginx skips them (clients send a stray CRLF after a body); h11 alone answers 400
    raw = (b"\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx\r\n"
           b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    resps = parse_responses(http_request(trinx.port, raw), ["GET", "GET"])
    assert [(r.status, r.body) for r in resps] == [(200, b"hello\n")] * 2


def test_keepalive_requests_closes_after_n(trinx: ServerProcess) -> None:
    resps = all_responses(trinx, REQ * 5)
    assert len(resps) == 3
    assert [r.header("Connection") for r in resps] == ["keep-alive", "keep-alive", "close"]


def test_connection_close_request(trinx: ServerProcess) -> None:
    resps = all_responses(trinx, b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          + REQ)
    assert len(resps) == 1 and resps[0].header("Connection") == "close"


def test_http10_closes(trinx: ServerProcess) -> None:
    resps = all_responses(trinx, b"GET /a.txt HTTP/1.0\r\n\r\n" + REQ)
    assert len(resps) == 1
    assert resps[0].http_version == "HTTP/1.1"  # nginx's status line is always 1.1
    assert resps[0].header("Connection") == "close"


def test_http10_keepalive(trinx: ServerProcess) -> None:
    # as nginx: an HTTP/1.0 client asking for keep-alive keeps its connection
    resps = all_responses(trinx, b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                          + b"GET /a.txt HTTP/1.0\r\n\r\n" + REQ)
    assert [r.status for r in resps] == [200, 200]
    assert [r.header("Connection") for r in resps] == ["keep-alive", "close"]


def test_keepalive_header_timeout_value(trinx: ServerProcess) -> None:
    resp = get(trinx, b"GET /ka/a HTTP/1.1\r\nHost: x\r\n\r\n")
    names = [n for n, _ in resp.headers]
    assert names[names.index("Connection") + 1] == "Keep-Alive"
    assert resp.header("Keep-Alive") == "timeout=7"


def test_keepalive_timeout_zero_closes(trinx: ServerProcess) -> None:
    resps = all_responses(trinx, b"GET /ka0/a HTTP/1.1\r\nHost: x\r\n\r\n" + REQ)
    assert len(resps) == 1 and resps[0].header("Connection") == "close"


def test_keepalive_timeout_idle_close(trinx: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=5) as sock:
        sock.sendall(b"GET /ka/a HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - start
    assert parse_response(data).status == 200
    assert 0.8 < elapsed < 3.5  # keepalive_timeout 1s, not the 75 s default


def test_client_header_timeout_closes_slow_client(trinx: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=5) as sock:
        sock.sendall(b"GET /a.txt HTTP/1.1\r\nHo")
        start = time.monotonic()
        assert sock.recv(100) == b""  # nginx closes without a response
        assert 0.8 < time.monotonic() - start < 3.5
    assert_still_serving(trinx)


# --- request bodies ---------------------------------------------------------------------------

def test_expect_100_continue_then_response(trinx: ServerProcess) -> None:
    raw = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    resps = parse_responses(http_request(trinx.port, raw))
    assert [r.status for r in resps] == [100, 200]
    assert resps[0].raw == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_no_100_continue_before_an_error(trinx: ServerProcess) -> None:
    raw = (b"GET /missing HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
           b"Content-Length: 3\r\n\r\n")
    resps = parse_responses(http_request(trinx.port, raw))
    assert [r.status for r in resps] == [404]


def test_content_length_body_discarded_and_next_request_served(trinx: ServerProcess) -> None:
    raw = (b"POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + REQ)
    resps = parse_responses(http_request(trinx.port, raw, methods=["POST", "GET"]))
    assert [r.status for r in resps] == [404, 200]


def test_chunked_body_discarded(trinx: ServerProcess) -> None:
    raw = (b"POST /big/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n" + REQ)
    resps = parse_responses(http_request(trinx.port, raw, methods=["POST", "GET"]))
    assert [r.status for r in resps] == [405, 200]
    assert resps[0].header("Connection") == "keep-alive"


def test_chunked_body_over_limit_is_discarded_not_413(trinx: ServerProcess) -> None:
    # nginx's discarding reader has no size limit: a static GET with a 20-byte chunked body
    # under client_max_body_size 10 is served
    raw = (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"14\r\n" + b"x" * 20 + b"\r\n0\r\n\r\n" + REQ)
    resps = parse_responses(http_request(trinx.port, raw))
    assert [r.status for r in resps] == [200, 200]


@pytest.mark.parametrize("path,length,status", [
    ("/a.txt", 11, 413), ("/a.txt", 10, 200), ("/big/a", 1000, 200), ("/big/a", 1025, 413)])
def test_client_max_body_size_content_length(trinx: ServerProcess, path: str, length: int,
                                             status: int) -> None:
    raw = (f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
           + b"x" * length)
    resp = get(trinx, raw)
    assert resp.status == status
    if status == 413:
        assert resp.header("Connection") == "close"
        assert b"<title>413 Request Entity Too Large</title>" in resp.body
    assert_still_serving(trinx)


def test_invalid_chunked_body_on_static_get_is_400(trinx: ServerProcess) -> None:
    raw = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"
    resp = get(trinx, raw)
    assert resp.status == 400 and resp.header("Connection") == "close"
    assert_still_serving(trinx)


def test_invalid_chunked_body_on_error_closes(trinx: ServerProcess) -> None:
    raw = b"GET /missing HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
    resps = all_responses(trinx, raw + REQ)
    assert [r.status for r in resps] == [404]
    assert resps[0].header("Connection") == "close"


# --- bad requests ------------------------------------------------------------------------------

BAD_REQUESTS = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"get /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"G1 /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /a.txt HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /a.txt HTTP/0.9\r\nHost: x\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: \r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: a..b\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: .\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /../x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 494),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000)
                                               for i in range(40)) + b"\r\n", 494),
]


@pytest.mark.parametrize("raw,status", BAD_REQUESTS, ids=lambda v: repr(v)[:40])
def test_bad_request_status_and_close(trinx: ServerProcess, raw: bytes, status: int) -> None:
    resp = get(trinx, raw)
    assert resp.status == (400 if status == 494 else status)
    assert resp.header("Connection") == "close"
    assert resp.header("Content-Type") == "text/html"
    if status == 494:
        assert resp.body.startswith(
            b"<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n"
            b"<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
            b"<center>Request Header Or Cookie Too Large</center>\r\n")
    assert_still_serving(trinx)


def test_request_line_too_long_before_it_ends(trinx: ServerProcess) -> None:
    """414 as soon as the unfinished request line outgrows a large buffer."""
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=5) as sock:
        sock.sendall(b"GET /" + b"a" * 9000)
        data = b""
        while not data.endswith(b"</html>\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert parse_response(data).status == 414


def test_headers_just_under_the_limits_pass(trinx: ServerProcess) -> None:
    raw = (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 8000 + b"\r\n"
           + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(20)) + b"\r\n")
    assert get(trinx, raw).status == 200


@pytest.mark.parametrize("method,status", [("M-SEARCH", 405), ("X_Y", 405), ("PATCH", 405)])
def test_unusual_methods_reach_the_handler(trinx: ServerProcess, method: str,
                                           status: int) -> None:
    resp = get(trinx, f"{method} /a.txt HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert resp.status == status


def test_http12_is_served_as_11(trinx: ServerProcess) -> None:
    resp = get(trinx, b"GET /a.txt HTTP/1.2\r\nHost: x\r\n\r\n")
    assert resp.status == 200 and resp.header("Connection") == "keep-alive"


def test_server_survives_abrupt_disconnects(trinx: ServerProcess) -> None:
    for raw in (b"GET /a.txt HTTP/1.1\r\nHost", b"POST /a.txt HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 100\r\n\r\nabc"):
        with socket.create_connection(("127.0.0.1", trinx.port)) as sock:
            sock.sendall(raw)
    assert_still_serving(trinx)


def test_error_log_mentions_bad_requests(trinx: ServerProcess, tmp_path: Path) -> None:
    get(trinx, b"GET /a.txt HTTP/1.1\r\nHost: a/b\r\n\r\n")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if "client sent invalid host header" in trinx.error_log_text():
            return
        time.sleep(0.05)
    raise AssertionError(trinx.error_log_text()[-2000:])


def test_upgrade_request_is_answered_and_the_connection_goes_on(trinx: ServerProcess) -> None:
    # h11 pauses after a request asking to switch protocols; trinx never switches, answers
    # normally and keeps reading (this spun the CPU before: a one-request denial of service)
    raw = (b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
           b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    responses = all_responses(trinx, raw)
    assert [r.status for r in responses] == [200, 200]
    assert_still_serving(trinx)
