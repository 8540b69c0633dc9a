"""SSI on a real trinx: commands, errors, nesting, limits, parallel and waited includes,
split invariance (reference/ssi.md).  tests/differential/test_ssi_diff.py compares
generated pages with nginx."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Response, ServerProcess, http_request, parse_response, start_trinx

CONF = """
load_module tests.modules.srtest;
events {}
http {
    access_log off;
    types { text/html html; text/plain txt; }
    server {
        listen 127.0.0.1:{port};
        root html;
        ssi on;
        location /sleep { ssi off; srtest_sleep; }
        location /split/ { srtest_split; }
        location /silent/ { ssi_silent_errors on; }
        location /lm/ { ssi_last_modified on; }
        location /short/ { ssi_value_length 10; }
        location /plain/ { ssi_types text/plain; }
        location /nossi/ { ssi off; }
    }
}
"""
ERR = b"[an error occurred while processing the directive]"
FILES = {
    "html/echo.html": b'<!--#set var="v" value="a<b>&\\"c" -->'
                      b'[<!--#echo var="v" -->][<!--#echo var="v" encoding="none" -->]'
                      b'[<!--#echo var="v" encoding="url" -->][<!--#echo var="nope" -->]'
                      b'[<!--#echo var="nope" default="d" -->][<!--#echo var="arg_q" -->]',
    "html/cond.html": b'<!--#set var="a" value="Hello World" -->'
                      b'<!--#if expr="$a = /^Hello (?<w>\\w+)/" -->1:<!--#echo var="1" -->,'
                      b'<!--#echo var="w" --><!--#elif expr="$a" -->2<!--#else -->3'
                      b'<!--#endif -->|<!--#if expr="$nope" -->x<!--#elif expr="$a != x" -->'
                      b'y<!--#endif -->|<!--#else -->',
    "html/errs.html": b'a<!--#bogus -->b<!--#echo -->c<!--#echo var="x" var="y" -->'
                      b'd<!--#config errmsg="E!" --><!--#echo x="1" -->e<!--#echo var=x -->f',
    "html/inc.html": b'<!--#set var="p" value="parent" -->A<!--#include virtual="f/frag.html?q=1"'
                     b' -->B<!--#include file="/f/frag.html" -->C',
    "html/f/frag.html": b'(<!--#echo var="arg_q" -->:<!--#echo var="p" -->:<!--#echo var="uri" -->)',
    "html/loop.html": b'L<!--#include virtual="/loop.html" -->',
    "html/unsafe.html": b'<!--#include virtual="/../x" --><!--#include virtual="/%2e%2e/x" -->',
    "html/setinc.html": b'<!--#include virtual="/f/frag.html" set="v" -->[<!--#echo var="v" '
                        b'encoding="none" -->]<!--#include virtual="/nope.html" set="w" -->'
                        b'[<!--#echo var="w" -->]',
    "html/stub.html": b'<!--#block name="b" -->STUB<!--#endblock -->'
                      b'<!--#include virtual="/nope.html" stub="b" -->|'
                      b'<!--#include virtual="/f/frag.html" stub="b" -->',
    "html/silent/e.html": b'a<!--#bogus -->b',
    "html/lm/p.html": b'x<!--#echo var="uri" -->',
    "html/short/p.html": b'<!--#echo var="0123456789" --><!--#echo var="01234567890" -->',
    "html/plain/p.txt": b'<!--#echo var="uri" -->',
    "html/p.txt": b'<!--#echo var="uri" -->',
    "html/nossi/p.html": b'<!--#echo var="uri" -->',
    "html/truncated.html": b'abc<!--#echo var="x"',
    "html/empty.html": b"",
}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("ssi"), FILES)
    yield server
    server.stop()


def get(server: ServerProcess, target: str, timeout: float = 10.0) -> Response:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    return parse_response(http_request(server.port, raw.encode(), timeout=timeout))


def test_echo_and_encodings(trinx: ServerProcess) -> None:
    body = get(trinx, "/echo.html?q=%3Cb%3E").body
    assert body == (b'[a&lt;b&gt;&amp;&quot;c][a<b>&"c][a%3Cb%3E&%22c][(none)][d]'
                    b"[%253Cb%253E]")


def test_if_elif_else_and_captures(trinx: ServerProcess) -> None:
    assert get(trinx, "/cond.html").body == b"1:World,World|y|" + ERR


def test_errors_and_errmsg(trinx: ServerProcess) -> None:
    assert get(trinx, "/errs.html").body == b"a" + ERR + b"b" + ERR + b"c" + ERR + b"dE!eE!f"
    log = trinx.error_log_text()
    assert 'invalid SSI command: "bogus"' in log
    assert 'mandatory "var" parameter is absent in "echo" SSI command' in log
    assert 'duplicate "var" parameter in "echo" SSI command' in log


def test_silent_errors(trinx: ServerProcess) -> None:
    assert get(trinx, "/silent/e.html").body == b"ab"


def test_includes_nested_relative_and_file(trinx: ServerProcess) -> None:
    assert get(trinx, "/inc.html").body == (b"A(1:parent:/f/frag.html)B((none):parent:"
                                            b"/f/frag.html)C")


def test_include_loop_ends_with_the_error_text(trinx: ServerProcess) -> None:
    assert get(trinx, "/loop.html").body == b"L" * 52 + ERR
    assert 'subrequests cycle while processing "/loop.html"' in trinx.error_log_text()


def test_unsafe_include_uris(trinx: ServerProcess) -> None:
    assert get(trinx, "/unsafe.html").body == ERR + ERR
    assert 'unsafe URI "/../x" was detected' in trinx.error_log_text()


def test_include_set_and_stub(trinx: ServerProcess) -> None:
    assert get(trinx, "/setinc.html").body == b"[((none):(none):/f/frag.html)][]"
    assert get(trinx, "/stub.html").body == b"STUB|((none):(none):/f/frag.html)"


def test_headers_of_an_ssi_page(trinx: ServerProcess) -> None:
    r = get(trinx, "/echo.html")
    assert r.header("Content-Length") is None and r.header("Transfer-Encoding") == "chunked"
    assert r.header("Last-Modified") is None and r.header("ETag") is None
    assert r.header("Accept-Ranges") is None
    r = get(trinx, "/lm/p.html")
    assert r.header("Last-Modified") is not None
    assert (r.header("ETag") or "").startswith('W/"')


def test_types_limits_and_off(trinx: ServerProcess) -> None:
    assert get(trinx, "/short/p.html").body == b"(none)" + ERR
    assert get(trinx, "/plain/p.txt").body == b"/plain/p.txt"
    assert get(trinx, "/p.txt").body == b'<!--#echo var="uri" -->'
    assert get(trinx, "/nossi/p.html").body == b'<!--#echo var="uri" -->'
    assert get(trinx, "/truncated.html").body == b"abc"
    assert get(trinx, "/empty.html").status == 200


def test_twenty_includes_finishing_in_reverse_come_out_in_order(
        trinx: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> None:
    page = b"".join(b'<!--#include virtual="/sleep?ms=%d&t=%d." -->' % ((20 - i) * 15, i)
                    for i in range(20))
    (trinx.prefix / "html/rev.html").write_bytes(page)
    assert get(trinx, "/rev.html").body == b"".join(b"%d." % i for i in range(20))


def test_thousands_of_file_includes_in_one_buffer(trinx: ServerProcess) -> None:
    # file includes run in the page's task; each one's output once started the next one,
    # a stack frame deeper, until a page of ~150 includes raised RecursionError
    page = b"".join(b'<!--#include virtual="/f/n.html?q=%d" -->,' % i for i in range(3000))
    (trinx.prefix / "html/many.html").write_bytes(page)
    (trinx.prefix / "html/f/n.html").write_bytes(b'<!--#echo var="arg_q" -->')
    r = get(trinx, "/many.html", timeout=30)
    assert r.status == 200
    assert r.body == b"".join(b"%d," % i for i in range(3000))


def test_parallel_includes_overlap_and_waited_ones_do_not(trinx: ServerProcess) -> None:
    par = b"".join(b'<!--#include virtual="/sleep?ms=200&t=%d" -->' % i for i in range(10))
    seq = b"".join(b'<!--#include virtual="/sleep?ms=200&t=%d" wait="yes" -->' % i
                   for i in range(10))
    (trinx.prefix / "html/par.html").write_bytes(par)
    (trinx.prefix / "html/seq.html").write_bytes(seq)
    started = time.monotonic()
    assert get(trinx, "/par.html").body == b"0123456789"
    assert time.monotonic() - started < 0.4
    started = time.monotonic()
    assert get(trinx, "/seq.html").body == b"0123456789"
    assert time.monotonic() - started >= 2.0


_PIECES = st.sampled_from([
    b"text ", b"<", b"<!", b"<!--", b"-->", b"<!-- c -->", b'<!--#echo var="uri" -->',
    b'<!--#set var="x" value="v$uri" -->', b'<!--#echo var="x" default="D" -->',
    b'<!--#if expr="$x" -->T<!--#else -->F<!--#endif -->', b'<!--#bogus -->',
    b'<!--#echo var="a" -- >', b'<!--#include virtual="/f/frag.html" -->', b"\n",
])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(_PIECES, max_size=12), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_output_is_the_same_for_any_split(trinx: ServerProcess, pieces: list[bytes],
                                          cuts: list[int]) -> None:
    page = b"".join(pieces)
    (trinx.prefix / "html/split/p.html").parent.mkdir(exist_ok=True)
    (trinx.prefix / "html/split/p.html").write_bytes(page)
    whole = get(trinx, "/split/p.html").body
    split = get(trinx, "/split/p.html?cuts=" + ",".join(map(str, cuts))).body
    assert split == whole


def test_text_before_an_unfinished_tag_reaches_the_client_first(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # the page arrives from a slow producer cut in the middle of a tag: what comes before
    # the tag must not wait for the rest of it
    conf = CONF.replace("load_module tests.modules.srtest;",
                        "load_module tests.modules.srtest;\nload_module tests.modules.ssistream;"
                        ).replace("location /nossi/", "location /stream/ { ssistream; }\n"
                                                      "        location /nossi/")
    files = {"html/stream/p.html": b'before <!--#echo va|PAUSE|r="uri" --> after|PAUSE|!'}
    server = start_trinx(conf, tmp_path_factory.mktemp("ssistream"), files)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            started = time.monotonic()
            s.sendall(b"GET /stream/p.html?ms=600 HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            got = b""
            while b"before " not in got:
                chunk = s.recv(4096)
                assert chunk, got
                got += chunk
            assert time.monotonic() - started < 0.4
            assert b"/stream/p.html" not in got
            while chunk:
                chunk = s.recv(4096)
                got += chunk
        assert time.monotonic() - started >= 1.2
        assert parse_response(got).body == b"before /stream/p.html after!"
    finally:
        server.stop()
