"""add_before_body / add_after_body: trinx against Debian's nginx (reference/subrequests.md
§8): bodies, headers, SSI in the added documents and in the main one, types, statuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.differential.modules4_pair import pair as start_pair
from tests.harness import NGINX_BIN, ServerProcess, http_request, parse_response

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    access_log off;
    types { text/html html; text/plain txt; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /a/ { add_before_body /parts/hdr.html; add_after_body /parts/ftr.html; }
        location /b/ { add_before_body /parts/hdr.html; }
        location /c/ { add_after_body /parts/ftr.html; }
        location /t/ { add_after_body /parts/ftr.html; addition_types text/plain; }
        location /ssi/ { ssi on; add_before_body /sparts/set.html;
                         add_after_body /sparts/get.html; }
        location /sparts/ { ssi on; }
        location /off/ { add_before_body /parts/hdr.html; location /off/in/ { add_before_body ""; } }
        location /args/ { add_before_body /parts/hdr.html?a=1; }
        location /missing/ { add_before_body /parts/nope.html; }
    }
}
"""
FILES = {
    "html/parts/hdr.html": b"HDR", "html/parts/ftr.html": b"FTR",
    "html/sparts/set.html": b'<!--#set var="v" value="set-in-before" -->[before]',
    "html/sparts/get.html": b'[after:<!--#echo var="v" -->]',
    "html/parts/hdr.html?a=1": b"HDR-ARGS",
    **{f"html/{d}/p.html": b"BODY" for d in ("a", "b", "c", "t", "off", "off/in", "args",
                                            "missing")},
    "html/a/empty.html": b"", "html/a/p.txt": b"TEXT", "html/t/p.txt": b"TEXT",
    "html/ssi/p.html": b'<!--#echo var="v" -->BODY',
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    with start_pair(CONF, tmp_path_factory.mktemp("addition"), FILES) as servers:
        yield servers


def view(server: ServerProcess, target: str, method: str = "GET") -> tuple[object, ...]:
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    r = parse_response(http_request(server.port, raw), method)
    etag = r.header("ETag")
    return (r.status, r.header("Content-Length"), r.header("Accept-Ranges"),
            r.header("Last-Modified") is not None, etag[:2] if etag else None,
            r.header("Transfer-Encoding"), r.body)


@pytest.mark.parametrize("target", [
    "/a/p.html", "/b/p.html", "/c/p.html", "/a/empty.html", "/a/p.txt", "/t/p.txt",
    "/ssi/p.html", "/off/p.html", "/off/in/p.html", "/args/p.html", "/missing/p.html",
    "/a/nope.html", "/a/",
])
def test_same_as_nginx(pair: tuple[ServerProcess, ServerProcess], target: str) -> None:
    nginx, trinx = pair
    assert view(trinx, target) == view(nginx, target)


def test_head(pair: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = pair
    assert view(trinx, "/a/p.html", "HEAD") == view(nginx, "/a/p.html", "HEAD")
