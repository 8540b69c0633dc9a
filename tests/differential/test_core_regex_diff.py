"""Location and server_name regexes on nginx and trinx: PCRE without UTF (``\\w`` and case
folding are ASCII-only), server_name regexes with a capital letter are caseless, a repeated
named location is accepted and the first one wins, and named captures become variables.

Each request goes to both servers; status and body must be equal, and equal to what the
case says nginx answers (so the expectation cannot drift with both servers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerProcess, http_request, parse_response, start_nginx, start_trinx

pytestmark = pytest.mark.differential

CONF = r"""
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location / { try_files /nonexistent @a; }
        location @a { return 200 "first\n"; }
        location @a { return 200 "second\n"; }
        location ~ ^/w/\w+$ { return 200 "word\n"; }
        location ~ ^/d/\d+$ { return 200 "digits\n"; }
        location ~* ^/i/caf\xe9$ { return 200 "caseless\n"; }
        location ~* ^/I/ABC$ { return 200 "ascii caseless\n"; }
        location ~ ^/n/(?<nm>\w+)/(?P<pm>\w+)$ { return 200 "nm=$nm pm=$pm\n"; }
        location ~ ^/o/(?<opt>x)?y$ { return 200 "opt=[$opt]\n"; }
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^WWW\.Example$;
        location / { return 200 "upper\n"; }
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^(?<sub>[a-z]+)\.cap$;
        location / { return 200 "sub=$sub\n"; }
    }
    server {
        listen 127.0.0.1:{port};
        server_name exact.num *.wild.num ~^([a-z]+)\.(?<tld>num)$ ~^(.+)-(\d+)\.num$;
        location / { return 200 "1=$1 2=$2 tld=$tld\n"; }
        location ~ ^/l/(.*)$ { return 200 "1=$1 tld=$tld\n"; }
        location /r/ { rewrite ^ /x; }
        location /x { return 200 "after=$1 tld=$tld\n"; }
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^(?<one>x+)\.only$;
        location / { return 200 "one=$one\n"; }
    }
}
"""

# (path, Host, nginx's status, nginx's body, trinx bug or None)
CASES: list[tuple[str, str, int, bytes, str | None]] = [
    ("/", "x", 200, b"first\n", None),
    ("/w/abc_9", "x", 200, b"word\n", None),
    ("/w/caf%E9", "x", 200, b"first\n", None),          # \w is ASCII: no match
    ("/d/%D9%A3", "x", 200, b"first\n", None),          # \d is ASCII (U+0663 ARABIC-INDIC 3)
    ("/i/caf%E9", "x", 200, b"caseless\n", None),
    ("/i/CAF%E9", "x", 200, b"caseless\n", None),
    ("/i/CAF%C9", "x", 200, b"first\n", None),          # no case folding above ASCII
    ("/I/abc", "x", 200, b"ascii caseless\n", None),
    ("/n/abc/def", "x", 200, b"nm=abc pm=def\n", None),
    ("/o/y", "x", 200, b"opt=[]\n", None),
    ("/o/xy", "x", 200, b"opt=[x]\n", None),
    ("/", "www.example", 200, b"upper\n", None),
    ("/", "WWW.EXAMPLE", 200, b"upper\n", None),
    ("/", "abc.cap", 200, b"sub=abc\n", None),
    ("/", "ABC.cap", 200, b"sub=abc\n", None),             # the host is lowercased first
    ("/", "abc.num", 200, b"1=abc 2=num tld=num\n", None),  # named ones count
    ("/", "ab-12.num", 200, b"1=ab 2=12 tld=\n", None),
    ("/", "exact.num", 200, b"1= 2= tld=\n", None),         # exact name: no regex run
    ("/", "a.wild.num", 200, b"1= 2= tld=\n", None),        # wildcard beats every regex
    ("/l/zz", "abc.num", 200, b"1=zz tld=num\n", None),     # a location regex takes $1 over
    ("/r/", "abc.num", 200, b"after= tld=num\n", None),
    ("/", "xx.only", 200, b"one=xx\n", None),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                      ServerProcess]]:
    nginx = start_nginx(CONF, tmp_path_factory.mktemp("nginx"), {"html/.keep": b""})
    try:
        trinx = start_trinx(CONF, tmp_path_factory.mktemp("trinx"), {"html/.keep": b""})
    except BaseException:
        nginx.stop()
        raise
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


def _get(server: ServerProcess, path: str, host: str) -> tuple[int, bytes]:
    raw = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    resp = parse_response(http_request(server.port, raw))
    return resp.status, resp.body


def _params() -> list[object]:
    return [pytest.param(path, host, status, body,
                         marks=[pytest.mark.xfail(reason=bug, strict=True)] if bug else [],
                         id=f"{host}{path}") for path, host, status, body, bug in CASES]


@pytest.mark.parametrize("path, host, status, body", _params())
def test_regex_like_nginx(pair: tuple[ServerProcess, ServerProcess], path: str, host: str,
                          status: int, body: bytes) -> None:
    nginx, trinx = pair
    assert _get(nginx, path, host) == (status, body)
    assert _get(trinx, path, host) == (status, body)
