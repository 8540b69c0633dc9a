"""gzip on a real trinx: any split of the body decompresses to the same bytes, flushes keep a
compressed response streaming, and nginx's header layout (differential twin:
tests/differential/test_gzip_diff.py)."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filters.gzip import accepts_gzip
from tests.harness import ServerProcess, http_request, parse_response, start_trinx

CONF = """
load_module tests.modules.srtest;
events {}
http {
    access_log off;
    gzip on;
    gzip_min_length 0;
    gzip_types text/plain;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /split/ { srtest_split; }
        location /slow { srtest_sleep; }
    }
}
"""


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("gzip"), {"html/split/x": b""})
    yield server
    server.stop()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=10))
def test_any_split_decompresses_to_the_body(trinx: ServerProcess, body: bytes,
                                            cuts: list[int]) -> None:
    (trinx.prefix / "html/split/b.html").write_bytes(body)
    target = "/split/b.html?cuts=" + ",".join(map(str, cuts))
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    r = parse_response(http_request(trinx.port, raw.encode()))
    assert r.header("Content-Encoding") == "gzip"
    assert gzip.decompress(r.body) == body
    # nginx 1.22's header at level 1 (zlib's: XFL 4 "fastest", OS 3)
    assert r.body[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03"


def test_flushes_stream_through_compression(trinx: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=5) as s:
        s.sendall(b"GET /slow?ms=300&n=3&t=piece HTTP/1.1\r\nHost: x\r\n"
                  b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n")
        started = time.monotonic()
        data = b""
        text = b""
        while b"piece" not in text:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
            if b"\r\n\r\n" in data:
                body = data.split(b"\r\n\r\n", 1)[1]
                # decode the chunked framing seen so far
                out, rest = b"", body
                while rest and b"\r\n" in rest:
                    size_line, _, rest = rest.partition(b"\r\n")
                    size = int(size_line, 16)
                    if len(rest) < size + 2:
                        break
                    out += rest[:size]
                    rest = rest[size + 2:]
                text = zlib.decompressobj(31).decompress(out)
        first = time.monotonic() - started
        assert first < 0.6, "the first flushed piece waited for the end of the response"


@pytest.mark.parametrize("value, ok", [
    ("gzip", True), ("gzip, deflate", True), ("deflate, gzip", True), ("x-gzip", False),
    ("gzip;q=0", False), ("gzip;q=0.0", False), ("gzip; q=0.5", True), ("gzip;q=1", True),
    ("gzip;q=1.5", False), ("gzipx", False), ("GZIP", True), ("gzip;x=1", False),
    ("gzip;q=", False), ("gzip ,br", True),
])
def test_accept_encoding_as_nginx_reads_it(value: str, ok: bool) -> None:
    assert accepts_gzip(value) is ok
