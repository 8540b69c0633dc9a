"""charset on a real trinx, with the answers Debian's nginx 1.22 gives (checked beside it; the
differential twin is tests/differential/test_charset_diff.py).  Uses the maps Debian ships
(/etc/nginx/koi-win, koi-utf), so expected bytes can come from Python's own codecs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (Response, ServerProcess, ServerStartError, http_request,
                           parse_response, start_trinx)

MAPS = Path("/etc/nginx/koi-win")
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
        location /plain/ { alias html/; charset utf-8; }
        location /types/ { alias html/; charset utf-8; charset_types text/xml; }
        location /all/ { alias html/; charset utf-8; charset_types *; }
        location /off/ { charset utf-8; location /off/in/ { alias html/; charset off; } }
        location /w2k/ { alias html/; charset KOI8-R; source_charset Windows-1251; }
        location /k2u/ { alias html/; charset utf-8; source_charset koi8-r; }
        location /u2k/ { alias html/; charset koi8-r; source_charset utf-8; }
        location /Foo/ { alias html/; charset Foo; }
        location /FOO/ { alias html/; charset FOO; }
        location /var/ { alias html/; charset $arg_cs; source_charset koi8-r; }
        location /r301 { charset utf-8; return 301 /x; }
        location /r307 { charset utf-8; return 307 /x; }
        location /missing/ { charset utf-8; }
    }
}
"""
TEXT = "ab БВЧ ёж"
WIN, KOI = TEXT.encode("cp1251"), TEXT.encode("koi8_r")
# a two-byte character straddles every 64 KiB read of the file
UTF = b"a" + "ж".encode() * 70_000
FILES = {"html/w.txt": WIN, "html/k.txt": KOI, "html/w.bin": WIN, "html/w.html": WIN, "html/u.txt": UTF,
         "html/odd.txt": "a€😀ж".encode() + b"\xff\xd0z\xe2\x82"}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not MAPS.exists():
        pytest.skip(f"{MAPS} is absent; install nginx-common")
    server = start_trinx(CONF, tmp_path_factory.mktemp("charset"), FILES)
    yield server
    server.stop()


def get(server: ServerProcess, target: str, headers: str = "", method: str = "GET") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    return parse_response(http_request(server.port, raw.encode()), method)


@pytest.mark.parametrize("target, content_type", [
    ("/plain/w.txt", "text/plain; charset=utf-8"),
    ("/plain/w.html", "text/html; charset=utf-8"),
    ("/plain/w.bin", "application/octet-stream"),      # not in charset_types
    ("/types/w.txt", "text/plain"),                    # charset_types replaced the list
    ("/types/w.html", "text/html; charset=utf-8"),     # text/html is always in it
    ("/all/w.bin", "application/octet-stream; charset=utf-8"),
    ("/off/in/w.txt", "text/plain"),
    ("/Foo/w.txt", "text/plain; charset=Foo"),
    ("/FOO/w.txt", "text/plain; charset=Foo"),         # the first spelling is kept
    ("/w2k/w.txt", "text/plain; charset=koi8-r"),      # ... the map's, here
])
def test_charset_parameter(trinx: ServerProcess, target: str, content_type: str) -> None:
    r = get(trinx, target)
    assert (r.status, r.header("Content-Type")) == (200, content_type)


def test_without_source_the_body_is_untouched(trinx: ServerProcess) -> None:
    r = get(trinx, "/plain/w.txt")
    assert (r.body, r.header("Content-Length"), r.header("Accept-Ranges")) == (
        WIN, str(len(WIN)), "bytes")


def test_single_byte_recoding_keeps_length_and_ranges(trinx: ServerProcess) -> None:
    koi = KOI
    r = get(trinx, "/w2k/w.txt")
    assert (r.body, r.header("Content-Length"), r.header("Accept-Ranges")) == (
        koi, str(len(koi)), "bytes")
    r = get(trinx, "/w2k/w.txt", "Range: bytes=3-5\r\n")
    assert (r.status, r.header("Content-Range"), r.body) == (206, "bytes 3-5/9", koi[3:6])


def test_recoded_multipart_ranges(trinx: ServerProcess) -> None:
    koi = KOI
    r = get(trinx, "/w2k/w.txt", "Range: bytes=0-0,3-4\r\n")
    assert r.status == 206
    assert (b"Content-Type: text/plain; charset=koi8-r\r\nContent-Range: bytes 3-4/9\r\n\r\n"
            + koi[3:5] + b"\r\n") in r.body
    assert len(r.body) == int(r.header("Content-Length") or 0)


def test_to_utf8_drops_length_and_ranges(trinx: ServerProcess) -> None:
    r = get(trinx, "/k2u/k.txt", "Range: bytes=0-1\r\n")
    assert r.status == 200 and r.header("Content-Length") is None
    assert r.header("Accept-Ranges") is None and r.header("Transfer-Encoding") == "chunked"
    assert r.body == TEXT.encode()


def test_from_utf8_across_read_boundaries(trinx: ServerProcess) -> None:
    r = get(trinx, "/u2k/u.txt")
    assert r.body == b"a" + b"\xd6" * 70_000


def test_from_utf8_unmapped_and_invalid(trinx: ServerProcess) -> None:
    # Debian's koi-utf has "€" (0x80), not the emoji: &#N;  \xff opens a four-byte
    # sequence that the ASCII "z" breaks ("?", the "z" is consumed, as nginx's
    # ngx_utf8_decode does); a sequence cut by the end of the body is dropped
    r = get(trinx, "/u2k/odd.txt")
    assert r.body == b"a\x80&#128512;\xd6?"


def test_variable_charset(trinx: ServerProcess) -> None:
    r = get(trinx, "/var/k.txt?cs=Windows-1251")
    assert (r.header("Content-Type"), r.body) == ("text/plain; charset=Windows-1251", WIN)
    r = get(trinx, "/var/k.txt?cs=nope")  # no map: logged, response unchanged
    assert (r.header("Content-Type"), r.body) == ("text/plain", KOI)
    assert 'no "charset_map" between the charsets "koi8-r" and "nope"' in trinx.error_log_text()


def test_variable_not_found_fails_the_request(trinx: ServerProcess) -> None:
    raw = b"GET /var/k.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert http_request(trinx.port, raw) == b""


@pytest.mark.parametrize("target, content_type", [
    ("/r301", "text/html"), ("/r307", "text/html; charset=utf-8"),
    ("/missing/x", "text/html; charset=utf-8"),
])
def test_redirects_and_error_pages(trinx: ServerProcess, target: str, content_type: str) -> None:
    assert get(trinx, target).header("Content-Type") == content_type


def test_head(trinx: ServerProcess) -> None:
    r = get(trinx, "/w2k/w.txt", method="HEAD")
    assert (r.header("Content-Type"), r.header("Content-Length"), r.body) == (
        "text/plain; charset=koi8-r", "9", b"")


@pytest.mark.parametrize("directives, message", [
    ("charset koi8-r; source_charset utf-16;",
     'no "charset_map" between the charsets "utf-16" and "koi8-r"'),
    ("charset koi8-r; charset utf-8;", '"charset" directive is duplicate'),
    ("charset $nope;", 'unknown "nope" variable'),
])
def test_config_errors(tmp_path: Path, directives: str, message: str) -> None:
    conf = CONF.replace("root html;", f"root html; {directives}")
    with pytest.raises(ServerStartError, match=message):
        start_trinx(conf, tmp_path, {})


def test_charset_map_errors(tmp_path: Path) -> None:
    conf = CONF.replace("types {", "charset_map a A { 80 81; }\n    types {")
    with pytest.raises(ServerStartError, match='"charset_map" between the same charsets'):
        start_trinx(conf, tmp_path, {})
    conf = CONF.replace("types {", "charset_map koi8-r windows-1251 { 80 81; }\n    types {")
    with pytest.raises(ServerStartError, match='duplicate "charset_map" between'):
        start_trinx(conf, tmp_path, {})
