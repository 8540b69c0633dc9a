"""SSI: hypothesis-generated pages served by trinx and Debian's nginx with the same config
must give the same body (text, echo, set, if/elif/else with expressions, includes of fixed
fragments, block/stub, config, malformed tags)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.harness import (NGINX_BIN, ServerProcess, http_request, log_lines_since,
                           parse_response, start_nginx, start_trinx)

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    access_log off;
    types { text/html html; }
    server {
        listen 127.0.0.1:{port};
        root html;
        ssi on;
        location /raw/ { ssi off; }
        location /ep/ { error_page 404 /f/b.html; }
        location = /r302 { return 302 /f/b.html; }
        location = /r404 { return 404 "own 404 body"; }
        location = /r200 { return 200 ""; }
        location /p/ { proxy_pass http://127.0.0.1:{port}/rawp/; }
        location /rawp/ { ssi off; alias html/; }
    }
}
"""
FILES = {
    "html/f/a.html": b'[a:<!--#echo var="x" -->:<!--#set var="y" value="from-a" -->]',
    "html/f/b.html": b"[b]",
    "html/raw/r.html": b'<!--#echo var="x" -->',
    "html/f/empty.html": b"",
    "html/f/big.html": b"0123456789" * 1000,
    "html/f/stubecho.html": b'<!--#block name="e" -->[<!--#echo var="arg_a" -->]<!--#endblock -->'
                            b'<!--#include virtual="/nope.html?a=1" stub="e" -->',
}

_VARS = ["x", "y", "z", "uri", "arg_a", "1", "w"]
_values = st.sampled_from(["", "v", "Hello World", "$x", "${y}z", "a\\$b", "$uri-$x",
                           "$", "${x", "it's", "a b  "])
_exprs = st.sampled_from([
    "$x", "$nope", "x", "$x = v", "$x != v", "$x = /^H(el)lo/", "$x = /(?<w>W\\w+)/",
    "$x=Hello World", "$X = v", "ABC = abc", "$x = /x", "!$x", "$x == v", "$y = ",
    "'$x' = 'v'", "$x = /^$/", "$uri = /\\.html$/", "", "$x = /", "$x = //", " $x",
    "$x = /(/",
])
_tags = st.one_of(
    st.builds(lambda v, d, e: f'<!--#echo var="{v}"{d}{e} -->', st.sampled_from(_VARS),
              st.sampled_from(["", ' default="D"', ' default=""', ' default="a\\"b"']),
              st.sampled_from(["", ' encoding="url"', ' encoding="none"',
                               ' encoding="entity"', ' encoding="bogus"'])),
    st.builds(lambda v, val: f'<!--#set var="{v}" value="{val}" -->',
              st.sampled_from(["x", "y", "z", "X"]), _values),
    st.builds(lambda e: f'<!--#if expr="{e}" -->', _exprs),
    st.builds(lambda e: f'<!--#elif expr="{e}" -->', _exprs),
    st.sampled_from(["<!--#else -->", "<!--#endif -->", "<!--#endif -->"]),
    st.sampled_from([
        '<!--#include virtual="/f/a.html" -->', '<!--#include virtual="f/b.html?a=1" -->',
        '<!--#include file="/f/a.html" -->', '<!--#include virtual="/f/a.html" wait="yes" -->',
        '<!--#include virtual="/nope.html" -->', '<!--#include virtual="/raw/r.html" -->',
        '<!--#include virtual="/f/b.html" set="z" -->', '<!--#include virtual="/../x" -->',
        '<!--#block name="s" -->stub<!--#echo var="x" --><!--#endblock -->',
        '<!--#include virtual="/nope.html" stub="s" -->',
        '<!--#include virtual="/f/empty.html" stub="s" -->',
        '<!--#config errmsg="ERR" -->', '<!--#config timefmt="%s" -->',
        '<!--#config timefmt="" --><!--#echo var="date_gmt" -->',
        '<!--#config timefmt="%%Y" --><!--#echo var="date_gmt" -->',
        "<!--#bogus -->", '<!--#echo var=x -->', '<!--#echo var="a" -- >', "<!--#-->",
        '<!--#echo var="x" var="y" -->', "<!-- plain comment -->", "<!--#echo",
    ]),
)
_text = st.sampled_from(["", "t", " ", "\n", "<p>", "<", "-->", "&"])
_pages = st.lists(st.tuples(_text, _tags), max_size=10).map(
    lambda items: "".join(t + g for t, g in items).encode())


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    tmp = tmp_path_factory.mktemp("ssi")
    nginx = start_nginx(CONF, tmp / "nginx", FILES)
    trinx = start_trinx(CONF, tmp / "trinx", FILES)
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


_names = itertools.count()


def body(server: ServerProcess, target: str) -> tuple[int, bytes]:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    r = parse_response(http_request(server.port, raw))
    return r.status, r.body


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=_pages)
# an endblock inside a skipped branch turns output on; an invalid elif then leaves it on
@example(page=b'<!--#if expr="$x" --><!--#block name="s" -->stub<!--#echo var="x" -->'
              b'<!--#endblock --><!--#elif expr="$x = /x" --><!--#if expr="$x" -->')
@example(page=b'<!--#if expr="" --><!--#block name="s" -->s<!--#endblock -->T'
              b'<!--#elif expr="$x = /x" -->E<!--#else -->F<!--#endif -->B')
def test_generated_pages(pair: tuple[ServerProcess, ServerProcess], page: bytes) -> None:
    nginx, trinx = pair
    name = f"/g{next(_names)}.html"
    for server in pair:
        (server.prefix / "html" / name[1:]).write_bytes(page)
    target = name + "?a=%3Cq%3E"
    assert body(trinx, target) == body(nginx, target), page


STUB = b'<!--#block name="s" -->STUB<!--#echo var="x" --><!--#endblock -->'


@pytest.mark.parametrize("include", [
    b'<!--#include virtual="/f/big.html" stub="s" -->',  # larger than an in-memory buffer
    b'<!--#include virtual="/nope.html" stub="s" -->',
    b'<!--#include virtual="/raw/nope.html" stub="s" -->',
    b'<!--#include virtual="/f/empty.html" stub="s" -->',
    b'<!--#include virtual="/ep/nope.html" stub="s" -->',
    b'<!--#include virtual="/r302" stub="s" -->',
    b'<!--#include virtual="/r404" stub="s" -->',
    b'<!--#include virtual="/r200" stub="s" -->',
    b'<!--#include virtual="/nope.html" stub="s" wait="yes" --><!--#echo var="x" -->',
    b'<!--#include virtual="/f/stubecho.html?a=2" -->',
])
def test_stubs(pair: tuple[ServerProcess, ServerProcess], include: bytes) -> None:
    nginx, trinx = pair
    name = f"/s{next(_names)}.html"
    page = b'<!--#set var="x" value="X" -->' + STUB + b"A" + include + b"B"
    for server in pair:
        (server.prefix / "html" / name[1:]).write_bytes(page)
    assert body(trinx, name) == body(nginx, name)


def logged(server: ServerProcess, target: str) -> list[tuple[str, ...]]:
    """The error-log lines a request wrote: level and text with its context (`` while
    ...``, client, request, subrequest, upstream), time, pid, prefix and port normalised."""
    before = len(server.error_log_text())
    body(server, target)
    return log_lines_since(server, before)


@pytest.mark.parametrize("target, page", [
    ("/le1.html", b'a<!--#bogus -->b<!--#echo var="x" var="y" -->c<!--#echo -->'),
    # an include that fails leaves nginx's connection with no action: later lines lack it
    ("/le2.html", b'<!--#include virtual="/nope.html" wait="yes" --><!--#bogus -->'),
    ("/le3.html", b'<!--#include virtual="/f/b.html" wait="yes" --><!--#bogus -->'),
    ("/le4.html", b'<!--#include virtual="/f/b.html" --><!--#bogus --><!--#if expr="$x = /(/" -->'
                  b'<!--#endif --><!--#include virtual="/../x" -->'),
    ("/p/le1.html", None),  # through proxy_pass: "while sending to client", upstream: ...
])
def test_error_log_lines(pair: tuple[ServerProcess, ServerProcess], target: str,
                         page: bytes | None) -> None:
    nginx, trinx = pair
    if page is not None:
        for server in pair:
            (server.prefix / "html" / target[1:]).write_bytes(page)
    assert logged(trinx, target) == logged(nginx, target)
