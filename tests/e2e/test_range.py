"""Byte ranges on a real trinx, with the exact answers reference/range.md gives for nginx
1.22 (the differential twin is tests/differential/test_range_diff.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.harness import Response, ServerProcess, http_request, parse_response, start_trinx

MTIME = 1704164645
CONF = """
events {}
http {
    access_log off;
    types { text/plain txt; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /one/ { alias html/; max_ranges 1; }
        location /gz/ { alias html/; charset utf-8; }
    }
}
"""
FILES = {"html/f.txt": b"0123456789abcdefghij", "html/big.bin": os.urandom(300_000)}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("range"), FILES)
    os.utime(server.prefix / "html/f.txt", (MTIME, MTIME))
    yield server
    server.stop()


def get(server: ServerProcess, target: str, headers: str = "", method: str = "GET") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    return parse_response(http_request(server.port, raw.encode()), method)


def test_single_range(trinx: ServerProcess) -> None:
    r = get(trinx, "/f.txt", "Range: bytes=0-4\r\n")
    assert (r.status, r.header("Content-Range"), r.body) == (206, "bytes 0-4/20", b"01234")
    assert r.header("Accept-Ranges") is None


def test_multipart_bytes_are_nginx_s(trinx: ServerProcess) -> None:
    r = get(trinx, "/f.txt", "Range: bytes=0-0,5-6\r\n")
    boundary = r.header("Content-Type").split("boundary=")[1]  # type: ignore[union-attr]
    assert len(boundary) == 20 and boundary.isdigit()
    expected = (f"\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/20"
                f"\r\n\r\n0\r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: "
                f"bytes 5-6/20\r\n\r\n56\r\n--{boundary}--\r\n").encode()
    assert (r.status, r.body, r.header("Content-Length")) == (206, expected, "197")


def test_unsatisfiable(trinx: ServerProcess) -> None:
    r = get(trinx, "/f.txt", "Range: bytes=20-\r\n")
    assert (r.status, r.header("Content-Range")) == (416, "bytes */20")
    assert r.header("ETag") is None and r.header("Last-Modified") is None


@pytest.mark.parametrize("if_range, status", [
    ('"65937d25-14"', 206), ('"65937d25-15"', 200), ("Tue, 02 Jan 2024 03:04:05 GMT", 206),
    ("Tue, 02 Jan 2024 03:04:06 GMT", 200), ("garbage", 200),
])
def test_if_range(trinx: ServerProcess, if_range: str, status: int) -> None:
    r = get(trinx, "/f.txt", f"Range: bytes=0-4\r\nIf-Range: {if_range}\r\n")
    assert r.status == status
    assert (r.header("Accept-Ranges") == "bytes") == (status == 200)


def test_max_ranges(trinx: ServerProcess) -> None:
    assert get(trinx, "/one/f.txt", "Range: bytes=0-1,3-4\r\n").status == 200
    assert get(trinx, "/one/f.txt", "Range: bytes=3-4\r\n").status == 206


def test_large_single_range_goes_by_sendfile_and_is_exact(trinx: ServerProcess) -> None:
    data = FILES["html/big.bin"]
    r = get(trinx, "/big.bin", "Range: bytes=1000-250999\r\n")
    assert (r.status, r.body) == (206, data[1000:251000])
    r = get(trinx, "/big.bin", "Range: bytes=-70000,5-9\r\n")
    assert r.status == 206 and data[-70000:] in r.body and data[5:10] in r.body


def test_head_with_range(trinx: ServerProcess) -> None:
    r = get(trinx, "/f.txt", "Range: bytes=0-4\r\n", "HEAD")
    assert (r.status, r.header("Content-Length"), r.body) == (206, "5", b"")


def test_ranges_over_a_charset_parameter(trinx: ServerProcess) -> None:
    r = get(trinx, "/gz/f.txt", "Range: bytes=0-0,2-2\r\n")
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in r.body
