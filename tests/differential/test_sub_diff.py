"""sub_filter: trinx against Debian's nginx.  Patterns come from request arguments
(``sub_filter $arg_a ...``), so one server pair serves every generated case; bodies are
files written per example.  Also literal patterns, headers and types."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        location /all/ { alias html/; sub_filter_once off;
            sub_filter $arg_a [1]; sub_filter $arg_b [2]; sub_filter $arg_c [3]; }
        location /once/ { alias html/;
            sub_filter $arg_a [1]; sub_filter $arg_b [2]; sub_filter $arg_c [3]; }
        location /lit/ { alias html/; sub_filter Hello HI; sub_filter world "<$uri>";
                         sub_filter_once off; }
        location /lm/ { alias html/; sub_filter a b; sub_filter_last_modified on; }
        location /types/ { alias html/; sub_filter a b; sub_filter_types text/plain; }
        location /ssi/ { alias html/; ssi on; sub_filter ECHO '<!--#echo var="uri" -->'; }
    }
}
"""
FILES = {"html/h.html": b"Hello World, hello world. aaa", "html/t.txt": b"aaa",
         "html/e.html": b"x ECHO y echo", "html/empty.html": b""}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    with start_pair(CONF, tmp_path_factory.mktemp("sub"), FILES) as servers:
        yield servers


def view(server: ServerProcess, target: str) -> tuple[object, ...]:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    r = parse_response(http_request(server.port, raw))
    etag = r.header("ETag")
    return (r.status, r.header("Content-Length"), r.header("Last-Modified") is not None,
            etag[:2] if etag else None, r.body)


@pytest.mark.parametrize("target", [
    "/lit/h.html", "/lm/h.html", "/types/t.txt", "/lit/t.txt", "/ssi/e.html",
    "/all/h.html", "/all/h.html?a=", "/once/empty.html?a=a", "/all/h.html?a=HELLO&b=o",
])
def test_fixed(pair: tuple[ServerProcess, ServerProcess], target: str) -> None:
    nginx, trinx = pair
    assert view(trinx, target) == view(nginx, target)


_names = itertools.count()
_alpha = "abcAB"


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(alphabet=_alpha + " \n", max_size=80),
       pats=st.lists(st.text(alphabet=_alpha, min_size=1, max_size=4), min_size=1, max_size=3),
       where=st.sampled_from(["all", "once"]))
def test_generated(pair: tuple[ServerProcess, ServerProcess], body: str, pats: list[str],
                   where: str) -> None:
    nginx, trinx = pair
    name = f"g{next(_names)}.html"
    for server in pair:
        (server.prefix / "html" / name).write_bytes(body.encode())
    args = "&".join(f"{k}={p}" for k, p in zip("abc", pats))
    target = f"/{where}/{name}?{args}"
    assert view(trinx, target) == view(nginx, target), (body, pats)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(piece=st.text(alphabet=_alpha + " ", min_size=1, max_size=50),
       pad=st.integers(0, 70),
       pats=st.lists(st.text(alphabet=_alpha, min_size=1, max_size=9), min_size=1, max_size=3),
       where=st.sampled_from(["all", "once"]))
def test_generated_large(pair: tuple[ServerProcess, ServerProcess], piece: str, pad: int,
                         pats: list[str], where: str) -> None:
    """Bodies over 64 KB (nginx reads files in 32 KB buffers): matches cut by its buffer
    boundaries at every offset the repetition gives."""
    nginx, trinx = pair
    body = (" " * pad + piece * (70000 // len(piece) + 1)).encode()
    name = f"g{next(_names)}.html"
    for server in pair:
        (server.prefix / "html" / name).write_bytes(body)
    args = "&".join(f"{k}={p}" for k, p in zip("abc", pats))
    target = f"/{where}/{name}?{args}"
    assert view(trinx, target) == view(nginx, target), (piece, pad, pats)
