"""sub_filter on a real trinx: any cut of the body gives the same output (srtest_split), text
is not held back beyond the longest pattern while a slow producer pauses, matches straddling
the 32/64 KB read boundaries of large files (trinx and nginx alike), sub_filter_once on a
large file, proxied chunked bodies, subrequests with their own sub_filter, and the config
errors (checked on nginx)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.main import main
from parsers.multi import reference_replace
from tests.e2e.test_config_errors import location_conf_error
from tests.harness import ServerProcess, http_request, parse_response, srtest_pair

CONF = """
events {}
http {
    access_log off;
    types { text/html html; text/plain txt; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /big/ { alias html/; sub_filter_once off;
            sub_filter MARK "<m>"; sub_filter "boundary-straddler" "<BS>"; }
        location /once/ { alias html/; sub_filter MARK "<m>"; sub_filter "boundary-straddler" "<BS>"; }
        location /up/ { proxy_pass http://{B}/; sub_filter_once off; sub_filter_types text/plain;
                        sub_filter "one two" "1+2"; sub_filter three 3; }
        location /inc/ { alias html/; ssi on; sub_filter MARK "<main>"; }
        location /part/ { alias html/; sub_filter MARK "<part>"; }
        {TRINX}
    }
}
"""
TRINX_ONLY = """
        location /split/ { alias html/; srtest_split; sub_filter_once off;
            sub_filter ab "[1]"; sub_filter abc "[2]"; sub_filter "b" "[3]"; sub_filter aaa ""; }
        location /slow { srtest_sleep; sub_filter_types text/plain; sub_filter_once off;
            sub_filter "xyzzy-long-pattern" "!"; }
"""


def big_body() -> bytes:
    """Markers straddling every 16 KB boundary up to 160 KB, in varied case."""
    body = bytearray(b"." * 163840)
    for i, at in enumerate(range(16384, len(body), 16384)):
        word = [b"MARK", b"mark", b"MaRk", b"boundary-straddler", b"BOUNDARY-STRADDLER"][i % 5]
        k = i % len(word) + 1
        body[at - k:at - k + len(word)] = word
    return bytes(body)


BIG = big_body()
FILES = {"html/big.html": BIG, "html/s.html": b"aabcabcaaab bab aaa ABC",
         "html/i.html": b'MARK[<!--#include virtual="/part/p.html" -->]MARK',
         "html/p.html": b"MARK MARK"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess | None]]:
    with srtest_pair(CONF, TRINX_ONLY, tmp_path_factory.mktemp("sub"), FILES) as servers:
        yield servers


def get(server: ServerProcess, target: str) -> tuple[int, bytes, dict[str, str]]:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    r = parse_response(http_request(server.port, raw, timeout=10))
    return r.status, r.body, {k.lower(): v for k, v in r.headers}


def both(pair: tuple[ServerProcess, ServerProcess | None], target: str) -> bytes:
    trinx, nginx = pair
    status, body, headers = get(trinx, target)
    assert status == 200 and "content-length" not in headers
    if nginx is not None:
        assert get(nginx, target)[1] == body
    return body


def test_matches_across_read_boundaries_of_a_large_file(pair: tuple[ServerProcess,
                                                                    ServerProcess | None]
                                                         ) -> None:
    body = both(pair, "/big/big.html")
    assert body == reference_replace(BIG, [b"mark", b"boundary-straddler"], [b"<m>", b"<BS>"],
                                     False)
    assert body.count(b"<m>") == 6 and body.count(b"<BS>") == 3


def test_once_on_a_large_file(pair: tuple[ServerProcess, ServerProcess | None]) -> None:
    body = both(pair, "/once/big.html")
    assert body == reference_replace(BIG, [b"mark", b"boundary-straddler"], [b"<m>", b"<BS>"],
                                     True)
    assert len(body) == len(BIG) - 4 + 3 - 18 + 4


def test_proxied_chunked_body(pair: tuple[ServerProcess, ServerProcess | None]) -> None:
    # the backend sends "one ", "two ", "three" as three chunks: "one two" spans two
    assert both(pair, "/up/chunked") == b"1+2 3"


def test_subrequests_have_their_own_sub_filter(pair: tuple[ServerProcess,
                                                           ServerProcess | None]) -> None:
    # the main body's sub_filter runs before SSI and does not see the included text
    assert both(pair, "/inc/i.html") == b"<main>[<part> MARK]MARK"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 24), max_size=8))
def test_any_cut_of_the_body_gives_the_same_output(
        pair: tuple[ServerProcess, ServerProcess | None], cuts: list[int]) -> None:
    trinx, _ = pair
    status, body, _ = get(trinx, "/split/s.html?cuts=" + ",".join(map(str, cuts)))
    assert status == 200
    assert body == reference_replace(FILES["html/s.html"], [b"ab", b"abc", b"b", b"aaa"],
                                     [b"[1]", b"[2]", b"[3]", b""], False)


def test_text_is_not_held_beyond_the_longest_pattern(pair: tuple[ServerProcess,
                                                                 ServerProcess | None]) -> None:
    trinx, _ = pair
    # pieces "0123456789xyzzy-long" every 400 ms: all but the possible start of a match
    # ("xyzzy-long", 10 bytes < the pattern's 18) goes out at once
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=10) as sock:
        sock.sendall(b"GET /slow?ms=400&n=3&t=0123456789xyzzy-long HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        t0 = time.monotonic()
        data = b""
        while b"0123456789" not in data:
            data += sock.recv(65536)
        first = time.monotonic() - t0
        assert b"xyzzy" not in data
        while chunk := sock.recv(65536):
            data += chunk
    assert first < 1.0, first
    body = parse_response(data).body
    assert body == b"0123456789xyzzy-long" * 3


@pytest.mark.parametrize("directives, message", [
    ('sub_filter "" x;', "empty search pattern"),
    ("sub_filter a;", 'invalid number of arguments in "sub_filter" directive'),
    ("sub_filter_once maybe;",
     'invalid value "maybe" in "sub_filter_once" directive, it must be "on" or "off"'),
    ("".join(f"sub_filter p{i} x;" for i in range(256)), "number of search patterns exceeds 255"),
])
def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str,
                       message: str) -> None:
    assert location_conf_error(tmp_path, capsys, directives) == f"{message} in {{conf}}:1"


def test_255_patterns_are_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "conf" / "nginx.conf"
    conf.parent.mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    conf.write_text("events {} http { server { location / { %s } } }\n"
                    % "".join(f"sub_filter p{i} x;" for i in range(255)))
    assert main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"]) == 0
