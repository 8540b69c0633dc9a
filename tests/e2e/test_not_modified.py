"""Conditional requests (filters/not_modified.py) on a real trinx over loopback.

The status table is reference/core.md §11 (checked on nginx 1.22) on a file with
``Last-Modified: Tue, 02 Jan 2024 03:04:05 GMT`` and ``ETag: "65937d25-14"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from filters.not_modified import test_if_match as if_match
from tests.harness import (Response, ServerProcess, http_request, parse_response,
                           parse_responses, start_trinx)

MTIME = 1704164645
LM = "Tue, 02 Jan 2024 03:04:05 GMT"
ETAG = '"65937d25-14"'
BODY = b"0123456789abcdefghi\n"  # 20 bytes

CONF = """
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /before/ { if_modified_since before; }
        location /off/ { if_modified_since off; }
        location /noetag/ { etag off; }
        location /ep/ { error_page 412 /err412.txt; }
        location /ah/ { add_header X-A 1; add_header X-Always 1 always; }
    }
}
"""

DIRS = ["", "before/", "off/", "noetag/", "ep/", "ah/"]
FILES = {f"html/{d}f.txt": BODY for d in DIRS}
FILES["html/err412.txt"] = b"custom 412 page\n"


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    prefix = tmp_path_factory.mktemp("notmod")
    server = start_trinx(CONF, prefix, FILES)
    for rel in FILES:
        os.utime(prefix / rel, (MTIME, MTIME))
    yield server
    server.stop()


def get(server: ServerProcess, target: str, extra: str = "", method: str = "GET") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode("latin-1")
    return parse_response(http_request(server.port, raw), method)


@pytest.mark.parametrize("header, status", [
    (f"If-Modified-Since: {LM}", 304),
    ("If-Modified-Since: Tue, 02 Jan 2024 03:04:06 GMT", 200),
    ("If-Modified-Since: Tue, 02 Jan 2024 03:04:04 GMT", 200),
    ("If-Modified-Since: Tuesday, 02-Jan-24 03:04:05 GMT", 304),
    ("If-Modified-Since: Tue Jan  2 03:04:05 2024", 304),
    ("If-Modified-Since: Tue, 02 Jan 2024 03:04:05 XYZ", 304),  # nginx ignores the zone
    ("If-Modified-Since: garbage", 200),
    (f'If-None-Match: "x", {ETAG}', 304),
    (f"If-None-Match: W/{ETAG}", 304),
    (f'If-None-Match: "x",{ETAG} ', 304),
    ('If-None-Match: "x"', 200),
    (f"If-None-Match: {ETAG[:-1]}", 200),
    (f"If-None-Match: {ETAG}x", 200),
    ("If-None-Match: *", 304),
    (f"If-Match: {ETAG}", 200),
    ("If-Match: *", 200),
    ('If-Match: "nope"', 412),
    (f"If-Match: W/{ETAG}", 412),
    (f'If-Match: "a", {ETAG}', 200),
    ("If-Unmodified-Since: Tue, 02 Jan 2024 03:04:04 GMT", 412),
    (f"If-Unmodified-Since: {LM}", 200),
    ("If-Unmodified-Since: garbage", 412),
    # a matching entity tag with a changed date: the date decides (both must say "same")
    (f"If-None-Match: {ETAG}\r\nIf-Modified-Since: Tue, 02 Jan 2024 03:04:06 GMT", 200),
    (f'If-None-Match: "x"\r\nIf-Modified-Since: {LM}', 200),
    (f"If-None-Match: {ETAG}\r\nIf-Modified-Since: {LM}", 304),
    # the precondition is checked before the cache validators
    (f'If-Match: "nope"\r\nIf-None-Match: {ETAG}', 412),
])
def test_status(trinx: ServerProcess, header: str, status: int) -> None:
    resp = get(trinx, "/f.txt", header + "\r\n")
    assert resp.status == status
    if status == 200:
        assert resp.body == BODY


@pytest.mark.parametrize("target, header, status", [
    ("/before/f.txt", "If-Modified-Since: Tue, 02 Jan 2024 03:04:06 GMT", 304),
    ("/before/f.txt", "If-Modified-Since: Tue, 02 Jan 2024 03:04:04 GMT", 200),
    ("/off/f.txt", f"If-Modified-Since: {LM}", 200),
    ("/off/f.txt", f"If-None-Match: {ETAG}", 304),
    ("/noetag/f.txt", f"If-None-Match: {ETAG}", 200),
    ("/noetag/f.txt", "If-None-Match: *", 304),
    ("/noetag/f.txt", "If-Match: *", 200),
    ("/noetag/f.txt", f"If-Match: {ETAG}", 412),
])
def test_status_per_location(trinx: ServerProcess, target: str, header: str,
                             status: int) -> None:
    assert get(trinx, target, header + "\r\n").status == status


def test_304_bytes(trinx: ServerProcess) -> None:
    resp = get(trinx, "/f.txt", f"If-None-Match: {ETAG}\r\n")
    assert [n for n, _ in resp.headers] == ["Server", "Date", "Last-Modified", "Connection",
                                            "ETag"]
    assert resp.header("Last-Modified") == LM
    assert resp.header("ETag") == ETAG
    assert resp.raw.endswith(b"\r\n\r\n") and resp.body == b""


def test_304_keeps_connection(trinx: ServerProcess) -> None:
    raw = (f"GET /f.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {ETAG}\r\n\r\n"
           "GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    first, second = parse_responses(http_request(trinx.port, raw), ["GET", "GET"])
    assert (first.status, second.status) == (304, 200)
    assert second.body == BODY


def test_head_304(trinx: ServerProcess) -> None:
    resp = get(trinx, "/f.txt", f"If-Modified-Since: {LM}\r\n", method="HEAD")
    assert resp.status == 304


def test_304_add_header(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/f.txt", f"If-Modified-Since: {LM}\r\n")
    assert resp.status == 304
    assert (resp.header("X-A"), resp.header("X-Always")) == ("1", "1")


def test_412_page_and_close(trinx: ServerProcess) -> None:
    # nginx answers with its 412 page (header says keep-alive) and then closes
    raw = ('GET /ah/f.txt HTTP/1.1\r\nHost: x\r\nIf-Match: "nope"\r\n\r\n'
           "GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    data = http_request(trinx.port, raw)
    (resp,) = parse_responses(data, ["GET", "GET"])
    assert resp.status == 412
    assert [n for n, _ in resp.headers] == ["Server", "Date", "Content-Type", "Content-Length",
                                            "Connection", "X-Always"]
    assert resp.header("Connection") == "keep-alive"
    assert b"<title>412 Precondition Failed</title>" in resp.body
    assert resp.header("ETag") is None and resp.header("Last-Modified") is None


def test_412_error_page(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ep/f.txt", "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n")
    assert resp.status == 412
    assert resp.body == b"custom 412 page\n"


def test_error_status_untouched(trinx: ServerProcess) -> None:
    assert get(trinx, "/missing", 'If-Match: "nope"\r\n').status == 404
    assert get(trinx, "/missing", "If-None-Match: *\r\n").status == 404


def test_if_match_list_rules() -> None:
    # nginx's ngx_http_test_if_match, entry by entry
    assert if_match('"a" , "b"', '"b"', weak=False)
    assert if_match('"a" ,\t"b"', '"b"', weak=False)  # checked on nginx 1.22
    assert if_match('"a", "b"\t', '"b"', weak=False)
    assert not if_match('"a", "b"x', '"b"', weak=False)
    assert if_match('W/"b"', 'W/"b"', weak=True)
    assert if_match('"b"', 'W/"b"', weak=True)
    assert not if_match('"b"', 'W/"b"', weak=False)
    assert not if_match("", '"b"', weak=True)
    assert not if_match(" *", '"b"', weak=True)
