"""charset: trinx against Debian's nginx with Debian's own charset maps (koi-win, koi-utf,
win-utf), single-byte and UTF-8 recoding both ways, the charset parameter alone, ranges over
recoded output, charset names (first spelling wins), ``$variable`` charsets, redirects, error
pages and SSI subrequests recoded into the main request's charset; plus the recoder's split
invariance (any buffer split gives the same bytes)."""

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
    include /etc/nginx/win-utf;
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
        location /Foo/ { alias html/; charset Foo; }
        location /FOO/ { alias html/; charset FOO; }
        location /upper/ { alias html/; charset KOI8-R; source_charset Windows-1251; }
        location /var/ { alias html/; charset $arg_cs; source_charset $arg_src; }
        location /vdst/ { alias html/; charset $arg_cs; source_charset koi8-r; }
        location /vsrc/ { alias html/; charset koi8-r; source_charset $arg_src; }
        location /r301 { charset utf-8; return 301 /x; }
        location /r302 { charset utf-8; return 302 /x; }
        location /r307 { charset utf-8; return 307 /x; }
        location /r200 { charset utf-8; default_type text/plain; return 200 "hi"; }
        location /missing/ { charset utf-8; }
        location /m1/ { alias html/; ssi on; charset windows-1251; }
        location /m2/ { alias html/; ssi on; charset utf-8; source_charset koi8-r; }
        location /m3/ { alias html/; ssi on; }
        location /s1/ { alias html/; source_charset koi8-r; }
        location /s2/ { alias html/; charset koi8-r; }
        location /s3/ { alias html/; charset koi8-r; source_charset utf-8; }
        location /s4/ { alias html/; source_charset windows-1251; charset off; }
    }
}
"""
FILES = {"html/k.txt": bytes(range(32, 256)) * 3, "html/k.bin": b"ab\xc1\xc2",
         "html/u.txt": "abc ёжик € 😀 z".encode() * 50, "html/k.html": b"<p>\xc1\xc2</p>"}
FILES["html/bad.txt"] = b"|".join([
    b"\xff\xd0z", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc2", b"\xe2\x82\xac", b"\xef\xbb\xbf",
    b"\xe2\x82"])
for _s in ("s1", "s2", "s3", "s4"):
    FILES[f"html/inc_{_s}.html"] = "".join(
        f'[\xc1<!--# include virtual="/{_s}/{name}" -->]' for name in ("k.txt", "u.txt", "k.bin")
    ).encode("latin-1")


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
    data = http_request(server.port, raw.encode())
    if not data:
        return ("closed",)  # nginx's NGX_ERROR from a header filter: no response at all
    r = parse_response(data)
    return (r.status, r.header("Content-Type"), r.header("Content-Length"),
            r.header("Accept-Ranges"), r.header("Content-Range"), r.body)


@pytest.mark.differential
@pytest.mark.parametrize("where", ["k2w", "w2k", "k2u", "u2k", "plain", "types", "all", "off"])
@pytest.mark.parametrize("name", ["k.txt", "k.bin", "u.txt", "k.html", "bad.txt"])
@pytest.mark.parametrize("headers", ["", "Range: bytes=10-40\r\n", "Range: bytes=0-1,5-9\r\n",
                                     "Range: bytes=5000-\r\n"])
def test_same_as_nginx(pair: tuple[ServerProcess, ServerProcess], where: str, name: str,
                       headers: str) -> None:
    nginx, trinx = pair
    target = f"/{where}/{name}"
    assert view(trinx, target, headers) == view(nginx, target, headers)


@pytest.mark.differential
@pytest.mark.parametrize("target", [
    "/Foo/k.txt", "/FOO/k.txt", "/upper/k.txt", "/upper/k.txt?x",
    "/var/k.txt", "/var/k.txt?cs=", "/var/k.txt?cs=KOI8-R", "/var/k.txt?cs=foo&src=FOO",
    "/var/k.txt?cs=windows-1251&src=koi8-r", "/var/k.txt?cs=WINDOWS-1251&src=KOI8-r",
    "/var/u.txt?cs=koi8-r&src=utf-8", "/var/k.txt?cs=x&src=koi8-r", "/var/k.txt?cs=x&src=y",
    "/var/k.txt?cs=x&src=xy", "/var/k.txt?cs=xy&src=x", "/var/k.txt?cs=a&src=",
    "/var/k.txt?src=koi8-r", "/vdst/k.txt?cs=utf-8", "/vdst/k.txt?cs=", "/vdst/k.txt",
    "/vsrc/k.txt?src=windows-1251", "/vsrc/k.txt?src=", "/vsrc/k.txt?src=utf-8",
    "/r301", "/r302", "/r307", "/r200", "/missing/x",
    *(f"/{m}/inc_{s}.html" for m in ("m1", "m2", "m3") for s in ("s1", "s2", "s3", "s4")),
])
def test_names_variables_statuses_subrequests(pair: tuple[ServerProcess, ServerProcess],
                                              target: str) -> None:
    nginx, trinx = pair
    assert view(trinx, target, "") == view(nginx, target, "")


def _maps() -> CharsetMainConf:
    mcf = CharsetMainConf()
    m = CharsetMap("koi8-r", "utf-8", to_utf8=True)
    m.pairs = {0xC1: "а".encode(), 0xC2: "б".encode(), 0x80: "€".encode()}
    mcf.maps[("koi8-r", "utf-8")] = m
    return mcf


@given(text=st.text(alphabet="abаб€😀 ", max_size=40), cuts=st.lists(st.integers(0, 200)))
def test_from_utf8_is_split_invariant(text: str, cuts: list[int]) -> None:
    data = text.encode()
    whole = CharsetCtx(_maps().recoder("utf-8", "koi8-r"), "koi8-r", "koi8-r")
    expected = _recode(whole, data)
    ctx = CharsetCtx(_maps().recoder("utf-8", "koi8-r"), "koi8-r", "koi8-r")
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    got = b"".join(_recode(ctx, data[a:b]) for a, b in zip(bounds, bounds[1:]))
    assert got == expected
