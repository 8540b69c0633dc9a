"""gzip: trinx against Debian's nginx: which responses are compressed, the headers, and the
decompressed bodies (compressed bytes may differ between zlib builds), including an SSI page
whose includes are compressed as one stream."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest

from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx,
                           start_trinx)

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    access_log off;
    types { text/html html; text/plain txt; application/json json; }
    gzip on;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /vary/ { alias html/; gzip_vary on; }
        location /types/ { alias html/; gzip_types text/plain; }
        location /all/ { alias html/; gzip_types *; }
        location /min/ { alias html/; gzip_min_length 1000; }
        location /proxied/ { alias html/; gzip_proxied any; }
        location /exp/ { alias html/; gzip_proxied expired; expires -1; }
        location /noetag/ { alias html/; gzip_proxied no_etag; }
        location /v10/ { alias html/; gzip_http_version 1.0; }
        location /dis/ { alias html/; gzip_disable "curl/.*" msie6; }
        location /ssi/ { alias html/; ssi on; }
        location /off/ { alias html/; gzip off; }
        location /level/ { alias html/; gzip_comp_level 9; gzip_buffers 16 8k; }
        location /ims/ { alias html/; gzip_vary on; if_modified_since before; }
        location /ret { return 200 "returned text, long enough to be compressed by gzip"; }
    }
}
"""
TEXT = b"hello gzip world, " * 200
FILES = {"html/p.html": TEXT, "html/p.txt": TEXT, "html/p.json": TEXT,
         "html/tiny.html": b"tiny", "html/empty.html": b"",
         "html/s.html": b'A<!--#include virtual="/p.html" -->B<!--#echo var="uri" -->C'}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    tmp = tmp_path_factory.mktemp("gzip")
    nginx = start_nginx(CONF, tmp / "nginx", FILES)
    trinx = start_trinx(CONF, tmp / "trinx", FILES)
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


def view(server: ServerProcess, target: str, headers: str, method: str = "GET",
         version: str = "1.1") -> tuple[object, ...]:
    raw = (f"{method} {target} HTTP/{version}\r\nHost: x\r\n{headers}"
           "Connection: close\r\n\r\n").encode()
    r = parse_response(http_request(server.port, raw), method)
    body = r.body
    if r.header("Content-Encoding") == "gzip" and body:
        body = gzip.decompress(body)
    etag = r.header("ETag")
    return (r.status, r.header("Content-Encoding"), r.header("Content-Length"),
            r.header("Vary"), r.header("Accept-Ranges"), etag[:2] if etag else None,
            r.header("Transfer-Encoding"), body)


AE = "Accept-Encoding: gzip, deflate\r\n"


@pytest.mark.parametrize("headers", [
    AE, "", "Accept-Encoding: deflate\r\n", "Accept-Encoding: gzip;q=0\r\n",
    "Accept-Encoding: gzip;q=0.5\r\n", "Accept-Encoding: x-gzip\r\n",
    "Accept-Encoding: GZIP\r\n", "Accept-Encoding: gzip;q=1.5\r\n",
    "Accept-Encoding: deflate, gzip\r\n", AE + "Via: 1.1 proxy\r\n",
    AE + "User-Agent: curl/8.0\r\n", AE + "Range: bytes=0-9\r\n",
    AE + "If-None-Match: W/\"x\"\r\n",
])
@pytest.mark.parametrize("target", [
    "/p.html", "/p.txt", "/types/p.txt", "/all/p.json", "/tiny.html", "/min/p.html",
    "/empty.html", "/vary/p.html", "/vary/p.txt", "/proxied/p.html", "/exp/p.html",
    "/noetag/p.html", "/dis/p.html", "/ssi/s.html", "/off/p.html", "/level/p.html",
    "/ret", "/nope.html",
])
def test_same_as_nginx(pair: tuple[ServerProcess, ServerProcess], target: str,
                       headers: str) -> None:
    nginx, trinx = pair
    assert view(trinx, target, headers) == view(nginx, target, headers)


@pytest.mark.parametrize("target", ["/p.html", "/v10/p.html"])
def test_head_and_http10(pair: tuple[ServerProcess, ServerProcess], target: str) -> None:
    nginx, trinx = pair
    assert view(trinx, target, AE, "HEAD") == view(nginx, target, AE, "HEAD")
    assert view(trinx, target, AE, version="1.0") == view(nginx, target, AE, version="1.0")


@pytest.mark.parametrize("level", ["/p.html", "/level/p.html"])
def test_gzip_header_bytes(pair: tuple[ServerProcess, ServerProcess], level: str) -> None:
    # the 10-byte header (XFL follows the level) is the same; deflate bytes may differ
    nginx, trinx = pair
    raw = f"GET {level} HTTP/1.1\r\nHost: x\r\n{AE}Connection: close\r\n\r\n".encode()
    heads = [parse_response(http_request(s.port, raw)).body[:10] for s in (nginx, trinx)]
    assert heads[1] == heads[0]


@pytest.mark.parametrize("target", ["/ims/p.html", "/ims/tiny.html", "/ims/nope.html"])
def test_not_modified_and_errors(pair: tuple[ServerProcess, ServerProcess], target: str) -> None:
    # a 304 is header-only (nothing to compress, no Content-Encoding); a 404 page is compressed
    nginx, trinx = pair
    ims = AE + "If-Modified-Since: Fri, 01 Jan 2038 00:00:00 GMT\r\n"
    assert view(trinx, target, ims) == view(nginx, target, ims)
    assert view(trinx, target, ims, "HEAD") == view(nginx, target, ims, "HEAD")
