"""Byte ranges: trinx against Debian's nginx on the same files, for fixed and generated
``Range`` / ``If-Range`` headers (reference/range.md).  Multipart boundaries are a counter
in both servers; they are normalised before comparing, everything else must be equal."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import (NGINX_BIN, Response, ServerProcess, http_request, parse_response,
                           start_nginx, start_trinx)

pytestmark = pytest.mark.differential

MTIME = 1704164645  # Tue, 02 Jan 2024 03:04:05 GMT
CONF = """
events {}
http {
    access_log off;
    types { text/plain txt; text/html html; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /one/ { alias html/; max_ranges 1; }
        location /off/ { alias html/; max_ranges 0; }
        location /three/ { alias html/; max_ranges 3; }
        location /noetag/ { alias html/; etag off; }
        location /ret { return 200 "0123456789"; }
        location /ep/ { error_page 404 =200 /f.txt; }
        location /ep404/ { error_page 404 /f.txt; }
        location /cs/ { alias html/; charset utf-8; }
    }
}
"""
FILES = {"html/f.txt": b"0123456789abcdefghij", "html/empty.txt": b"",
         "html/big.txt": bytes(range(256)) * 400}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    tmp = tmp_path_factory.mktemp("range")
    nginx = start_nginx(CONF, tmp / "nginx", FILES)
    trinx = start_trinx(CONF, tmp / "trinx", FILES)
    for server in (nginx, trinx):
        for name in FILES:
            os.utime(server.prefix / name, (MTIME, MTIME))
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


def fetch(server: ServerProcess, target: str, headers: str, method: str = "GET") -> Response:
    raw = (f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
    return parse_response(http_request(server.port, raw.encode("latin-1")), method)


_BOUNDARY = re.compile(rb"\d{20}")


def view(resp: Response) -> tuple[object, ...]:
    names = ("Content-Type", "Content-Length", "Content-Range", "Accept-Ranges",
             "Last-Modified", "ETag", "Transfer-Encoding")
    headers = tuple(_BOUNDARY.sub(b"B", (resp.header(n) or "").encode()) for n in names)
    return resp.status, headers, _BOUNDARY.sub(b"B", resp.body)


def same(pair: tuple[ServerProcess, ServerProcess], target: str, headers: str,
         method: str = "GET") -> None:
    nginx, trinx = pair
    assert view(fetch(trinx, target, headers, method)) == view(
        fetch(nginx, target, headers, method)), (target, headers)


FIXED = [
    "bytes=0-4", "bytes=-3", "bytes=15-", "bytes=15-100", "bytes=-25", "bytes=20-",
    "bytes=5-3", "bytes=-0", "bytes=abc", "bytes=5-3,0-1", "bytes=0-0,25-30",
    "bytes=25-30,40-50", "bytes=0-4,3-8", "bytes=1-1,0-0", "bytes=0-19,0-19",
    "BYTES=0-1", "bytes =0-1", "items=0-1", "bytes= 0 - 4 , 6-7", "bytes=0-1,",
    "bytes=0-1;x", "bytes=,0-1", "bytes=\t0-1", "bytes=0-99999999999999999999",
    "bytes=1-2,3-4,5-6,7-8", "bytes=0-", "bytes=- 3", "bytes=",
]


@pytest.mark.parametrize("value", FIXED)
@pytest.mark.parametrize("where", ["/f.txt", "/one/f.txt", "/three/f.txt", "/off/f.txt",
                                   "/empty.txt", "/cs/f.txt"])
def test_fixed_ranges(pair: tuple[ServerProcess, ServerProcess], where: str,
                      value: str) -> None:
    same(pair, where, f"Range: {value}\r\n")


@pytest.mark.parametrize("target", ["/ret", "/ep/missing", "/ep404/missing", "/nope.txt"])
def test_ranges_only_where_nginx_applies_them(pair: tuple[ServerProcess, ServerProcess],
                                             target: str) -> None:
    same(pair, target, "Range: bytes=0-2\r\n")


@pytest.mark.parametrize("if_range", [
    '"65937d25-14"', '"65937d25-15"', 'W/"65937d25-14"', "Tue, 02 Jan 2024 03:04:05 GMT",
    "Tue, 02 Jan 2024 03:04:06 GMT", "garbage", '"', '""',
])
@pytest.mark.parametrize("where", ["/f.txt", "/noetag/f.txt"])
def test_if_range(pair: tuple[ServerProcess, ServerProcess], where: str, if_range: str) -> None:
    same(pair, where, f"Range: bytes=0-4\r\nIf-Range: {if_range}\r\n")


def test_head_with_range(pair: tuple[ServerProcess, ServerProcess]) -> None:
    same(pair, "/f.txt", "Range: bytes=0-4\r\n", "HEAD")
    same(pair, "/f.txt", "Range: bytes=0-0,5-6\r\n", "HEAD")


_num = st.one_of(st.integers(0, 25), st.integers(0, 120_000), st.just(10**19))
_spec = st.one_of(
    st.tuples(_num, _num).map(lambda t: f"{t[0]}-{t[1]}"),
    _num.map(lambda n: f"{n}-"),
    _num.map(lambda n: f"-{n}"),
    st.sampled_from(["", " 1-2 ", "1 -2", "-", "a-b", "1-2-3", "--1", "1--"]),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(_spec, min_size=1, max_size=6),
       sep=st.sampled_from([",", ", ", " ,"]),
       where=st.sampled_from(["/f.txt", "/big.txt", "/three/f.txt", "/empty.txt"]))
def test_generated_ranges(pair: tuple[ServerProcess, ServerProcess], specs: list[str],
                          sep: str, where: str) -> None:
    same(pair, where, f"Range: bytes={sep.join(specs)}\r\n")
