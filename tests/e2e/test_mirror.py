"""mirror / mirror_request_body on a real server with a real h11 backend (tests/backends.py)
that records what the mirrors send.  Every test runs on trinx and on nginx (the oracle), each
with a backend of its own: the client's answer is not delayed by a slow mirror, the next
keep-alive request waits for it, mirrors carry the client's method, args and (or not) body,
several mirrors, ``off`` and inheritance, config errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import Backend, Seen
from tests.e2e.test_config_errors import location_conf_error
from tests.harness import (NGINX_BIN, ServerProcess, http_request,
                           parse_response, parse_responses, start_nginx, start_trinx)

CONF = """
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        root html;
        location = /f.html { mirror /m1; }
        location = /two.html { alias html/f.html; mirror /m1; mirror /m2; }
        location /slow/ { alias html/; mirror /slow; }
        location /post/ { mirror /m1; proxy_pass http://{B}/main/; }
        location /nobody/ { mirror /m3; mirror_request_body off; proxy_pass http://{B}/main/; }
        location /small/ { mirror /m1; client_max_body_size 10; proxy_pass http://{B}/main/; }
        location /idx/ { alias html/; mirror /m1; }
        location /ret/ { mirror /m1; return 200 "returned"; }
        location /err/ { alias html/; mirror /m1; error_page 404 /e404.html; }
        location = /e404.html { mirror /m2; return 200 "error page"; }
        location = /e404b.html { mirror /m2; alias html/f.html; }
        location /errb/ { alias html/; mirror /m1; error_page 404 /e404b.html; }
        location /missing/ { alias html/; mirror /nowhere; }
        location /inh/ { alias html/; mirror /m1;
            location /inh/off/ { alias html/; mirror off; }
            location /inh/more/ { alias html/; mirror /m2; } }
        location = /m1 { internal; proxy_pass http://{B}/m1; }
        location = /m2 { internal; proxy_pass http://{B}/m2; }
        # as nginx's documentation has it: without this, nginx's mirror would announce the
        # client's Content-Length and send no body
        location = /m3 { internal; proxy_pass http://{B}/m3; proxy_set_header Content-Length ""; }
        location = /slow { internal; proxy_pass http://{B}/slow; }
    }
}
"""
FILES = {"html/f.html": b"FILE\n", "html/index.html": b"INDEX\n", "html/inh/off/f.html": b"OFF\n",
         "html/inh/more/f.html": b"MORE\n"}

Setup = tuple[ServerProcess, Backend]


@pytest.fixture(scope="module",
                params=["trinx", pytest.param("nginx", marks=pytest.mark.differential)])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Setup]:
    if request.param == "nginx" and not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    start = start_trinx if request.param == "trinx" else start_nginx
    with Backend(request.param) as backend:
        conf = CONF.replace("{B}", backend.address)
        with start(conf, tmp_path_factory.mktemp("mirror"), FILES) as server:
            yield server, backend


def wait_seen(backend: Backend, n: int, timeout: float = 5.0) -> list[Seen]:
    """The backend's requests once there are ``n`` (mirrors finish after the response)."""
    deadline = time.monotonic() + timeout
    while len(backend.seen) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)  # and no more than n
    return list(backend.seen)


def get(server: ServerProcess, target: str, method: str = "GET", body: bytes = b"") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    if len(body) < 16384:
        return http_request(server.port, head.encode() + b"\r\n" + body, timeout=10)
    # the head alone first: trinx refuses a head that arrives in one read with more than
    # 32 KB of body behind it (engine/server.py, reported)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n")
        time.sleep(0.05)
        sock.sendall(body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_get_is_mirrored_with_the_clients_args(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    r = parse_response(get(server, "/f.html?a=1&b=2"))
    assert (r.status, r.body) == (200, b"FILE\n")
    seen = wait_seen(backend, 1)
    assert [(s.method, s.target, s.body) for s in seen] == [("GET", "/m1?a=1&b=2", b"")]


def test_head_is_mirrored_as_head(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    r = parse_response(get(server, "/f.html", "HEAD"), "HEAD")
    assert (r.status, r.body) == (200, b"")
    assert [(s.method, s.target) for s in wait_seen(backend, 1)] == [("HEAD", "/m1")]


def test_several_mirrors_in_order_of_configuration(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    assert parse_response(get(server, "/two.html")).body == b"FILE\n"
    assert sorted(s.target for s in wait_seen(backend, 2)) == ["/m1", "/m2"]


def test_post_body_reaches_the_mirror_and_the_request(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    r = parse_response(get(server, "/post/x?q=1", "POST", b"hello body"))
    assert r.status == 200
    seen = sorted(wait_seen(backend, 2), key=lambda s: s.target)
    assert [(s.method, s.target, s.body) for s in seen] == [
        ("POST", "/m1?q=1", b"hello body"), ("POST", "/main/x?q=1", b"hello body")]


def test_keepalive_after_a_mirrored_body(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    raw = (b"POST /post/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
           b"POST /f.html HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ndef"
           b"GET /f.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    rs = parse_responses(http_request(server.port, raw, timeout=10))
    assert [r.status for r in rs] == [200, 405, 200]
    seen = sorted((s.target, s.method, s.body) for s in wait_seen(backend, 4))
    assert seen == [("/m1", "GET", b""), ("/m1", "POST", b"abc"), ("/m1", "POST", b"def"),
                    ("/main/a", "POST", b"abc")]


def test_large_post_body_reaches_both(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    body = bytes(range(256)) * 1000  # spooled to disk, read in several pieces
    assert parse_response(get(server, "/post/big", "POST", body)).status == 200
    seen = wait_seen(backend, 2)
    assert sorted((s.target, s.body == body) for s in seen) == [("/m1", True),
                                                                ("/main/big", True)]


def test_mirror_request_body_off(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    assert parse_response(get(server, "/nobody/x", "POST", b"payload")).status == 200
    seen = {s.target: s for s in wait_seen(backend, 2)}
    assert seen["/main/x"].body == b"payload"
    assert seen["/m3"].method == "POST" and seen["/m3"].body == b""


def test_body_over_client_max_body_size_is_413_before_any_mirror(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    r = parse_response(get(server, "/small/x", "POST", b"x" * 20))
    assert r.status == 413
    assert wait_seen(backend, 1, 0.3) == []


@pytest.mark.parametrize("target, status, mirrors", [
    ("/idx/", 200, ["/m1", "/m1"]),  # precontent again after index's internal redirect
    ("/ret/", 200, []),  # answered in the rewrite phase: no precontent phase
    ("/err/nope", 404, ["/m1"]),  # error_page to a location answering in its rewrite phase
    ("/errb/nope", 404, ["/m1", "/m2"]),  # error_page to a location with its own mirror
])
def test_mirrors_follow_the_phases(setup: Setup, target: str, status: int,
                                   mirrors: list[str]) -> None:
    server, backend = setup
    backend.seen.clear()
    assert parse_response(get(server, target)).status == status
    assert sorted(s.target for s in wait_seen(backend, len(mirrors), 1.0)) == mirrors


def test_a_failing_mirror_does_not_touch_the_answer(setup: Setup) -> None:
    server, _ = setup
    r = parse_response(get(server, "/missing/f.html"))
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"FILE\n", "5")


def test_off_and_inheritance(setup: Setup) -> None:
    server, backend = setup
    for target, expect in [("/inh/f.html", ["/m1"]), ("/inh/off/f.html", []),
                           ("/inh/more/f.html", ["/m2"])]:
        backend.seen.clear()
        assert parse_response(get(server, target)).status == 200
        assert [s.target for s in wait_seen(backend, len(expect), 1.0)] == expect, target


def test_answer_not_delayed_but_next_keepalive_request_waits(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        t0 = time.monotonic()
        sock.sendall(b"GET /slow/f.html?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"FILE\n" not in data:
            data += sock.recv(65536)
        first = time.monotonic() - t0
        sock.sendall(b"GET /f.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while chunk := sock.recv(65536):
            data += chunk
        second = time.monotonic() - t0
    assert [r.status for r in parse_responses(data)] == [200, 200]
    assert first < 1.0, first  # the mirror's 1.5 s does not delay the answer
    assert second >= 1.4, second  # the connection waited for the mirror before going on
    assert [s.target for s in wait_seen(backend, 2)] == ["/slow?ms=1500", "/m1"]


@pytest.mark.parametrize("directives, message", [
    ("mirror /a; mirror off;", '"mirror" directive is duplicate'),
    ("mirror off; mirror /a;", '"mirror" directive is duplicate'),
    ("mirror off; mirror off;", '"mirror" directive is duplicate'),
    ("mirror /a /b;", 'invalid number of arguments in "mirror" directive'),
    ("mirror_request_body maybe;",
     'invalid value "maybe" in "mirror_request_body" directive, it must be "on" or "off"'),
])
def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str,
                       message: str) -> None:
    assert location_conf_error(tmp_path, capsys, directives) == f"{message} in {{conf}}:1"
