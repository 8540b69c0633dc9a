"""charset: trinx against Debian's nginx with Debian's own charset maps (koi-win, koi-utf),
single-byte and UTF-8 recoding both ways, the charset parameter alone, ranges over recoded
output; plus the recoder's split invariance (any buffer split gives the same bytes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filters.charset import CharsetCtx, CharsetMainConf, CharsetMap, _recode
from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx,
                           start_trinx)

CONF = """
events {}
http {
    access_log off;
    include /etc/nginx/koi-win;
    include /etc/nginx/koi-utf;
    types { text/plain txt; text/html html; application/octet-stream bin; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /k2w/ { alias html/; charset windows-1251; source_charset koi8-r; }
        location /w2k/ { alias html/; charset koi8-r; source_charset windows-1251; }
        location /k2u/ { alias html/; charset utf-8; source_charset koi8-r; }
        location /u2k/ { alias html/; charset koi8-r; source_charset utf-8; }
        location /plain/ { alias html/; charset utf-8; }
        location /types/ { alias html/; charset utf-8; charset_types text/xml; }
        location /all/ { alias html/; charset utf-8; charset_types *; }
        location /off/ { alias html/; charset off; }
    }
}
"""
FILES = {"html/k.txt": bytes(range(32, 256)) * 3, "html/k.bin": b"ab\xc1\xc2",
         "html/u.txt": "abc ёжик € 😀 z".encode() * 50, "html/k.html": b"<p>\xc1\xc2</p>"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    tmp = tmp_path_factory.mktemp("charset")
    nginx = start_nginx(CONF, tmp / "nginx", FILES)
    trinx = start_trinx(CONF, tmp / "trinx", FILES)
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


def view(server: ServerProcess, target: str, headers: str) -> tuple[object, ...]:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    r = parse_response(http_request(server.port, raw.encode()))
    return (r.status, r.header("Content-Type"), r.header("Content-Length"),
            r.header("Accept-Ranges"), r.header("Content-Range"), r.body)


@pytest.mark.differential
@pytest.mark.parametrize("where", ["k2w", "w2k", "k2u", "u2k", "plain", "types", "all", "off"])
@pytest.mark.parametrize("name", ["k.txt", "k.bin", "u.txt", "k.html"])
@pytest.mark.parametrize("headers", ["", "Range: bytes=10-40\r\n", "Range: bytes=0-1,5-9\r\n"])
def test_same_as_nginx(pair: tuple[ServerProcess, ServerProcess], where: str, name: str,
                       headers: str) -> None:
    nginx, trinx = pair
    target = f"/{where}/{name}"
    assert view(trinx, target, headers) == view(nginx, target, headers)


def _maps() -> CharsetMainConf:
    mcf = CharsetMainConf()
    m = CharsetMap("koi8-r", "utf-8", to_utf8=True)
    m.pairs = {0xC1: "а".encode(), 0xC2: "б".encode(), 0x80: "€".encode()}
    mcf.maps[("koi8-r", "utf-8")] = m
    return mcf


@given(text=st.text(alphabet="abаб€😀 ", max_size=40), cuts=st.lists(st.integers(0, 200)))
def test_from_utf8_is_split_invariant(text: str, cuts: list[int]) -> None:
    data = text.encode()
    whole = CharsetCtx(_maps().recoder("utf-8", "koi8-r"), "koi8-r")
    expected = _recode(whole, data)
    ctx = CharsetCtx(_maps().recoder("utf-8", "koi8-r"), "koi8-r")
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    got = b"".join(_recode(ctx, data[a:b]) for a, b in zip(bounds, bounds[1:]))
    assert got == expected
