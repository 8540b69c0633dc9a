"""auth_request / auth_request_set on real servers, trinx and nginx (the oracle) side by side:
the subrequest's status decides (2xx on, 401 with WWW-Authenticate, 403, anything else 500
with nginx's log line), variables are set from the subrequest and survive an internal
redirect, the client body is left for the request, the rewrite phase comes first, and the
config errors are nginx's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h11
import pytest

from engine.main import main
from tests.backends import Backend, Seen
from tests.e2e.test_config_errors import location_conf_error
from tests.harness import NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx, \
    start_trinx

CONF = """
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        root html;
        location = /auth/200 { return 200 "auth body"; }
        location = /auth/204 { return 204; }
        location = /auth/401 { return 401; }
        location = /auth/403 { return 403; }
        location = /auth/404 { return 404; }
        location = /auth/302 { return 302 /x; }
        location = /auth/500 { return 500; }
        location /up/ { internal; proxy_pass http://{B}/; proxy_pass_request_body off;
                        proxy_set_header Content-Length ""; }
        location /p200/ { auth_request /auth/200; alias html/; }
        location /p204/ { auth_request /auth/204; alias html/; }
        location /p401/ { auth_request /auth/401; alias html/; }
        location /p403/ { auth_request /auth/403; alias html/; }
        location /p404/ { auth_request /auth/404; alias html/; }
        location /p302/ { auth_request /auth/302; alias html/; }
        location /p500/ { auth_request /auth/500; alias html/; }
        location /pmiss/ { auth_request /nope; alias html/; }
        location /ret/ { auth_request /auth/403; return 200 "returned"; }
        location /off/ { auth_request /auth/403; alias html/;
            location /off/in/ { auth_request off; alias html/; } }
        location /realm/ { auth_request /up/realm; alias html/; }
        location /ok/ { auth_request /up/ok; alias html/; }
        location /ustatus/ { auth_request /up/status/418; alias html/; }
        location /set/ { auth_request /up/ok; alias html/;
            auth_request_set $who "uri=$uri up=$upstream_status";
            auth_request_set $be $sent_http_x_backend;
            add_header X-Who $who; add_header X-Be $be; }
        location /setdeny/ { auth_request /auth/403; auth_request_set $why "denied by $uri";
            error_page 403 = /why; alias html/; }
        location = /why { return 200 "why: $why"; }
        location /body/ { auth_request /up/ok; proxy_pass http://{B}/main/; }
        location /deny/ { deny all; auth_request /auth/401; alias html/; }
        location /allow/ { allow all; auth_request /auth/401; alias html/; }
    }
}
"""
FILES = {"html/f.html": b"FILE\n"}


Setup = tuple[ServerProcess, Backend]


def realm_backend(name: str) -> Backend:
    """The test backend, plus ``/realm``: 401 with a ``WWW-Authenticate`` challenge."""
    b = Backend(name)
    original = b._answer

    def answer(conn: Any, h: h11.Connection, req: h11.Request, body: bytes) -> bool:
        if not req.target.startswith(b"/realm"):
            return original(conn, h, req, body)
        b.seen.append(Seen(req.method.decode(), req.target.decode(), req.http_version.decode(),
                           [(n.decode(), v.decode()) for n, v in req.headers.raw_items()], body))
        conn.sendall(h.send(h11.Response(status_code=401, headers=[
            ("WWW-Authenticate", 'Basic realm="trinx"'), ("WWW-Authenticate", "Other"),
            ("Content-Length", "4")])))
        conn.sendall(h.send(h11.Data(data=b"nope")))
        conn.sendall(h.send(h11.EndOfMessage()))
        return True

    b._answer = answer  # type: ignore[method-assign]
    return b


@pytest.fixture(scope="module",
                params=["trinx", pytest.param("nginx", marks=pytest.mark.differential)])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Setup]:
    if request.param == "nginx" and not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    start = start_trinx if request.param == "trinx" else start_nginx
    with realm_backend(request.param) as backend:
        conf = CONF.replace("{B}", backend.address)
        with start(conf, tmp_path_factory.mktemp("auth"), FILES) as server:
            yield server, backend


def get(server: ServerProcess, target: str, method: str = "GET", body: bytes = b"") -> Any:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return parse_response(http_request(server.port, head.encode() + b"\r\n" + body,
                                       timeout=10), method)


@pytest.mark.parametrize("target, status", [
    ("/p200/f.html", 200), ("/p204/f.html", 200), ("/ok/f.html", 200),
    ("/p401/f.html", 401), ("/p403/f.html", 403), ("/off/f.html", 403),
    ("/off/in/f.html", 200), ("/ret/f.html", 200),
])
def test_status_decides(setup: Setup, target: str, status: int) -> None:
    server, _ = setup
    r = get(server, target)
    assert r.status == status
    if status == 200:
        assert r.body in (b"FILE\n", b"returned")
    else:
        assert f"<title>{status} ".encode() in r.body
        assert r.header("WWW-Authenticate") is None


@pytest.mark.parametrize("target, code", [
    ("/p404/f.html", 404), ("/p302/f.html", 302), ("/p500/f.html", 500),
    ("/pmiss/f.html", 404), ("/ustatus/f.html", 418),
])
def test_unexpected_status_is_500_and_logged(setup: Setup, target: str, code: int) -> None:
    server, _ = setup
    r = get(server, target)
    assert r.status == 500
    # after an upstream, nginx's log context says what the connection is doing
    action = " while sending to client" if target.startswith("/ustatus/") else ""
    line = f"auth request unexpected status: {code}{action}, client: 127.0.0.1, server: , " \
           f'request: "GET {target} HTTP/1.1", host: "x"'
    assert line in server.error_log_text()


def test_401_copies_the_challenge(setup: Setup) -> None:
    server, _ = setup
    r = get(server, "/realm/f.html")
    assert r.status == 401
    # nginx 1.22 copies one challenge, the first
    assert [v for k, v in r.headers if k.lower() == "www-authenticate"] == \
        ['Basic realm="trinx"']
    assert b"<title>401 Authorization Required</title>" in r.body


def test_auth_subrequest_is_a_get_without_the_body(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    r = get(server, "/body/x?q=1", "POST", b"client body")
    assert r.status == 200
    seen = [(s.method, s.target, s.body) for s in backend.seen]
    assert seen == [("GET", "/ok", b""), ("POST", "/main/x?q=1", b"client body")]


def test_set_variables_are_evaluated_in_the_subrequest(setup: Setup) -> None:
    server, _ = setup
    r = get(server, "/set/f.html")
    assert (r.status, r.header("X-Who")) == (200, "uri=/up/ok up=200")
    assert r.header("X-Be") == server.name  # the backend's X-Backend, named as the server


def test_head_request_authorised_by_a_get(setup: Setup) -> None:
    server, backend = setup
    backend.seen.clear()
    r = get(server, "/ok/f.html", "HEAD")
    assert (r.status, r.body) == (200, b"")
    assert [(s.method, s.target) for s in backend.seen] == [("GET", "/ok")]


def test_set_variables_survive_an_internal_redirect(setup: Setup) -> None:
    server, _ = setup
    r = get(server, "/setdeny/f.html")
    assert (r.status, r.body) == (200, b"why: denied by /auth/403")


def test_access_module_comes_first(setup: Setup) -> None:
    server, _ = setup
    assert get(server, "/allow/f.html").status == 401
    assert get(server, "/deny/f.html").status == 403


@pytest.mark.parametrize("directives, message", [
    ("auth_request /a; auth_request /b;", '"auth_request" directive is duplicate'),
    ("auth_request off; auth_request /b;", '"auth_request" directive is duplicate'),
    ("auth_request /a /b;", 'invalid number of arguments in "auth_request" directive'),
    ("auth_request_set x y;", 'invalid variable name "x"'),
    ("auth_request_set $uri y;", 'the duplicate "uri" variable'),
    ("auth_request_set $x;", 'invalid number of arguments in "auth_request_set" directive'),
])
def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str,
                       message: str) -> None:
    assert location_conf_error(tmp_path, capsys, directives) == f"{message} in {{conf}}:1"


def test_set_variable_may_also_be_set_by_rewrite(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "conf" / "nginx.conf"
    conf.parent.mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    conf.write_text("events {} http { server { location / { set $v 1; auth_request_set $v 2;"
                    " } location /x { auth_request_set $w 1; set $w 2; } } }\n")
    assert main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"]) == 0
