"""map, split_clients, geo, referer and empty_gif on the real trinx server: the values nginx
gives (checked by hand against nginx 1.22), caching and volatile, set overriding a map,
subrequests sharing the cache (SSI), internal redirects keeping it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServerProcess, http_request, parse_response, start_trinx

CONF = r"""
events {}
http {
    access_log off;
    set_real_ip_from 127.0.0.1;
    map $uri $m { default other; /first first; /redir redir; /ssi.html page; /inc included; }
    map $uri $mv { volatile; default other; /first first; /redir redir; /inc included; }
    map $arg_k $rx { ~^(?<word>[a-z]+)-(\d+)$ "$word:$2"; default none; }
    map $arg_k $over { default mapped; }
    split_clients "${arg_k}AAA" $variant { 0.5% .one; 2% .two; * ""; }
    geo $g { default d; 10.0.0.0/8 ten; 2001:db8::/32 doc; }
    server {
        listen 127.0.0.1:{port};
        location = /first { rewrite ^ /second; }
        location = /second { return 200 "[$m][$mv][$uri]\n"; }
        location = /redir { set $x $m; rewrite ^ /second last; }
        location = /rx { return 200 "[$rx][$word][$2]\n"; }
        location = /over { set $over fromset; return 200 "[$over]\n"; }
        location = /split { return 200 "[$variant]\n"; }
        location = /geo { return 200 "[$g]\n"; }
        location = /ref { valid_referers none *.example.com; return 200 "[$invalid_referer]\n"; }
        location = /gif { empty_gif; }
        location = /ssi.html { ssi on; }
        location = /ssi2.html { ssi on; set $seen $m; }
        location = /inc { return 200 "($m|$mv)"; }
    }
}
"""
FILES = {"html/ssi.html": b'<!--# include virtual="/inc" -->\n',
         "html/ssi2.html": b'<!--# include virtual="/inc" -->\n'}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_trinx(CONF, tmp_path_factory.mktemp("map"), FILES) as server:
        yield server


def body(server: ServerProcess, target: str, headers: str = "") -> bytes:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    return parse_response(http_request(server.port, raw.encode())).body


def test_map_read_after_rewrite_sees_new_uri(trinx: ServerProcess) -> None:
    assert body(trinx, "/first") == b"[other][other][/second]\n"


def test_map_cached_across_internal_redirect(trinx: ServerProcess) -> None:
    # $m read under /redir is cached; volatile $mv is evaluated again
    assert body(trinx, "/redir") == b"[redir][other][/second]\n"


def test_map_regex_captures(trinx: ServerProcess) -> None:
    assert body(trinx, "/rx?k=abc-12") == b"[abc:12][abc][12]\n"
    assert body(trinx, "/rx?k=ABC") == b"[none][][]\n"


def test_set_overrides_map(trinx: ServerProcess) -> None:
    assert body(trinx, "/over") == b"[fromset]\n"


def test_map_cache_shared_with_subrequest(trinx: ServerProcess) -> None:
    # the SSI page never read $m, so the include evaluates it itself; $mv is volatile
    assert body(trinx, "/ssi.html") == b"(included|included)\n"
    # read by the main request first: the include gets the cached value (as nginx 1.22)
    assert body(trinx, "/ssi2.html") == b"(other|included)\n"


def test_split_clients_buckets(trinx: ServerProcess) -> None:
    seen = {body(trinx, f"/split?k={i}") for i in range(200)}
    assert b"[]\n" in seen and seen <= {b"[]\n", b"[.one]\n", b"[.two]\n"}


@pytest.mark.parametrize("addr,want", [("10.1.2.3", b"[ten]\n"), ("8.8.8.8", b"[d]\n"),
                                       ("2001:db8::5", b"[doc]\n"),
                                       ("::ffff:10.0.0.1", b"[ten]\n")])
def test_geo(trinx: ServerProcess, addr: str, want: bytes) -> None:
    assert body(trinx, "/geo", f"X-Real-IP: {addr}\r\n") == want


@pytest.mark.parametrize("referer,want", [(None, b"[]\n"), ("http://a.example.com/x", b"[]\n"),
                                          ("http://evil.com/", b"[1]\n"), ("nonsense", b"[1]\n")])
def test_invalid_referer(trinx: ServerProcess, referer: str | None, want: bytes) -> None:
    assert body(trinx, "/ref", "" if referer is None else f"Referer: {referer}\r\n") == want


def test_empty_gif(trinx: ServerProcess) -> None:
    raw = b"GET /gif HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    resp = parse_response(http_request(trinx.port, raw))
    assert resp.status == 200 and resp.header("content-type") == "image/gif"
    assert resp.header("last-modified") == "Mon, 28 Sep 1970 06:00:00 GMT"
    assert len(resp.body) == 43 and resp.body[:6] == b"GIF89a" and resp.body[-1:] == b";"
