"""Byte ranges on a real trinx, with the exact answers reference/range.md gives for nginx
1.22 (the differential twin is tests/differential/test_range_diff.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import api
from filters.range import RangeCtx, _multipart, _single, multipart_length
from tests.harness import (Response, ServerProcess, http_request, parse_response,
                           parse_responses, start_trinx)

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
        location /ep/ { alias html/; error_page 416 @n; }
        location @n { return 200 "named\n"; }
        location /ssi/ { alias html/; ssi on; ssi_types text/plain; }
    }
}
"""
FILES = {"html/f.txt": b"0123456789abcdefghij", "html/big.bin": os.urandom(300_000),
         "html/i.txt": b'<<!--# include virtual="/f.txt" -->>'}


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


def test_416_keeps_the_connection_and_goes_through_error_page(trinx: ServerProcess) -> None:
    raw = (b"GET /ep/f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=20-\r\n\r\n"
           b"GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=20-\r\nConnection: close\r\n\r\n")
    named, builtin = parse_responses(http_request(trinx.port, raw), ["GET", "GET"])
    assert (named.status, named.header("Content-Range"), named.body) == (
        416, "bytes */20", b"named\n")
    assert named.header("Connection") == "keep-alive"
    assert (builtin.status, builtin.header("Content-Range")) == (416, "bytes */20")
    assert builtin.header("Content-Type") == "text/html"


def test_http10_gets_206(trinx: ServerProcess) -> None:
    raw = b"GET /f.txt HTTP/1.0\r\nRange: bytes=1-2\r\n\r\n"
    r = parse_response(http_request(trinx.port, raw))
    assert (r.status, r.body) == (206, b"12")


def test_ssi_page_and_its_subrequests_are_not_sliced(trinx: ServerProcess) -> None:
    r = get(trinx, "/ssi/i.txt", "Range: bytes=0-1\r\n")
    assert (r.status, r.body) == (200, b"<0123456789abcdefghij>")
    assert r.header("Accept-Ranges") is None and r.header("Content-Range") is None


# --- the body filter over any buffer layout (sans-IO half) ------------------------------------

_BODY = bytes(range(256)) * 4
_fd, _path = tempfile.mkstemp()
os.write(_fd, _BODY)
_FILE = api.FileRef(_fd, _path, len(_BODY), 0)
os.unlink(_path)

_ranges = st.lists(st.integers(0, len(_BODY) - 1).flatmap(
    lambda a: st.tuples(st.just(a), st.integers(a + 1, len(_BODY)))), min_size=1, max_size=4)


def _layout(cuts: list[int], in_file: list[bool]) -> list[api.Buf]:
    bounds = sorted({c % (len(_BODY) + 1) for c in cuts} | {0, len(_BODY)})
    bufs = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if in_file[i % len(in_file)]:
            bufs.append(api.Buf(file=_FILE, file_pos=a, file_last=b))
        else:
            bufs.append(api.Buf(_BODY[a:b]))
    bufs.append(api.Buf(last=True))
    return bufs


@given(ranges=_ranges, cuts=st.lists(st.integers(0, 2000), max_size=8),
       in_file=st.lists(st.booleans(), min_size=1, max_size=4),
       per_call=st.integers(1, 4))
def test_body_filter_any_layout(ranges: list[tuple[int, int]], cuts: list[int],
                                in_file: list[bool], per_call: int) -> None:
    """Whatever the buffers (memory or file regions, chains of any length), the output is
    the ranges' bytes; file regions are narrowed, never read (no file byte becomes memory)."""
    bufs = _layout(cuts, in_file)
    ctx = RangeCtx(ranges, len(_BODY))
    ctx.boundary, ctx.part_type = b"%020d" % 7, b"text/plain"
    out: list[api.Buf] = []
    for i in range(0, len(bufs), per_call):
        chain = bufs[i:i + per_call]
        out += _single(ctx, chain) if len(ranges) == 1 else _multipart(ctx, chain)
    data = b"".join(b.bytes() for b in out)
    if len(ranges) == 1:
        a, b = ranges[0]
        assert data == _BODY[a:b]
    else:
        assert len(data) == multipart_length(ranges, len(_BODY), ctx.part_type)
        for a, b in ranges:
            assert b"Content-Range: bytes %d-%d/%d\r\n\r\n" % (a, b - 1, len(_BODY)) \
                + _BODY[a:b] + b"\r\n--" in data
    assert out[-1].last and sum(b.last for b in out) == 1
    from_file = sum(max(0, min(b, buf.file_last) - max(a, buf.file_pos))
                    for buf in bufs if buf.file is not None for a, b in ranges)
    assert sum(len(b) for b in out if b.file is not None) == from_file
