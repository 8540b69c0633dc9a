"""proxy_pass and the upstream core on a real trinx with real backends (tests/backends.py):
faults end as nginx ends them and the server keeps serving, keepalive reuses connections,
failed peers are skipped for fail_timeout then probed again, backups, a proxied SSI page,
and a client body reaches the backend (differential twin: test_proxy_diff.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import Backend, dead_port
from tests.harness import ServerProcess, http_request, parse_response, start_trinx

CONF = """
events {}
http {
    access_log off;
    upstream ka { server {A}; keepalive 4; }
    upstream pair { server {DEAD} max_fails=1 fail_timeout=1s; server {B}; }
    upstream vars { server {DEAD}; server {B}; }
    upstream withbackup { server {DEAD}; server {DEAD2}; server {C} backup; }
    server {
        listen 127.0.0.1:{port};
        location /p/ { proxy_pass http://{A}/; proxy_read_timeout 1s; }
        location /ka/ { proxy_pass http://ka/; proxy_http_version 1.1;
                        proxy_set_header Connection ""; }
        location /pair/ { proxy_pass http://pair/; }
        location /backup/ { proxy_pass http://withbackup/; }
        location /dead/ { proxy_pass http://{DEAD}/; proxy_connect_timeout 1s; }
        location /ssi/ { ssi on; proxy_pass http://{A}/; }
        location /page.html { ssi on; root html; }
        location /nobody/ { proxy_pass http://{A}/; proxy_pass_request_body off; }
        location /vars/ { proxy_pass http://vars/;
                          add_header X-UA $upstream_addr; add_header X-US $upstream_status; }
    }
}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[ServerProcess, Backend, Backend, Backend, int]]:
    with Backend("a") as a, Backend("b") as b, Backend("c") as c:
        dead, dead2 = dead_port(), dead_port()
        conf = (CONF.replace("{DEAD2}", f"127.0.0.1:{dead2}")
                .replace("{DEAD}", f"127.0.0.1:{dead}").replace("{A}", a.address)
                .replace("{B}", b.address).replace("{C}", c.address))
        page = (b'[<!--#include virtual="/p/chunked" -->|<!--#include virtual="/p/status/404"'
                b' -->|<!--#include virtual="/p/slow?ms=200" -->]')
        with start_trinx(conf, tmp_path_factory.mktemp("proxy"), {"html/page.html": page}) \
                as server:
            yield server, a, b, c, dead


def get(server: ServerProcess, target: str, extra: str = "") -> bytes:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    return http_request(server.port, raw.encode(), timeout=10)


def status(server: ServerProcess, target: str) -> int:
    return parse_response(get(server, target)).status


@pytest.mark.parametrize("target, code, log", [
    ("/dead/", 502, "connect() failed (111: Connection refused) while connecting to upstream"),
    ("/p/reset", 502, "while reading response header from upstream"),
    ("/p/invalid", 502, "upstream sent invalid header while reading response header"),
    ("/p/slow?ms=1500", 504, "upstream timed out (110: Connection timed out) while reading "
                             "response header from upstream"),
])
def test_faults_end_as_nginx_ends_them(setup: tuple, target: str, code: int, log: str) -> None:
    server = setup[0]
    assert status(server, target) == code
    assert log in server.error_log_text()
    assert status(server, "/p/") == 200  # still serving


def test_backend_dying_mid_body_fails_the_response(setup: tuple) -> None:
    server = setup[0]
    data = get(server, "/p/midbody")
    head, _, body = data.partition(b"\r\n\r\n")
    assert len(body) < 1000, "a short body passed off as complete"  # closed, incomplete
    assert "upstream prematurely closed connection while reading upstream" in \
        server.error_log_text()
    assert status(server, "/p/") == 200


def test_keepalive_reuses_connections(setup: tuple) -> None:
    server, a = setup[0], setup[1]
    get(server, "/ka/")
    before = a.connections
    for _ in range(5):
        assert parse_response(get(server, "/ka/")).body == b"a"
    assert a.connections == before
    assert a.seen[-1].version == "1.1" and ("Connection", "close") not in a.seen[-1].headers


def test_failed_peer_is_skipped_then_probed_again(setup: tuple) -> None:
    server, b, dead = setup[0], setup[2], setup[4]
    assert [parse_response(get(server, "/pair/")).body for _ in range(3)] == [b"b"] * 3

    def tries() -> int:
        return sum(1 for line in server.error_log_text().splitlines()
                   if "Connection refused" in line and 'request: "GET /pair/' in line)

    assert tries() == 1, "a disabled peer was tried again at once"
    time.sleep(1.1)
    # eligible again, but its effective weight fell to 0 with the failure and its current
    # weight is behind: smooth round robin (as nginx's) probes it on the third request
    assert [parse_response(get(server, "/pair/")).body for _ in range(3)] == [b"b"] * 3
    assert tries() == 2


def test_backup_serves_only_when_primaries_are_down(setup: tuple) -> None:
    server = setup[0]
    assert parse_response(get(server, "/backup/")).body == b"c"


def test_ssi_page_of_proxied_fragments(setup: tuple) -> None:
    server = setup[0]
    r = parse_response(get(server, "/page.html"))
    assert r.body == b"[one two three|a 404|a]"


def test_client_body_reaches_the_backend(setup: tuple) -> None:
    server, a = setup[0], setup[1]
    raw = (b"POST /p/post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
    assert parse_response(http_request(server.port, raw)).status == 200
    seen = a.seen[-1]
    assert seen.body == b"abcdefg" and ("Content-Length", "7") in seen.headers
    raw = b"POST /nobody/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    assert parse_response(http_request(server.port, raw)).status == 200
    assert a.seen[-1].body == b""


def test_upstream_variables(setup: tuple) -> None:
    server, b, dead = setup[0], setup[2], setup[4]
    r = parse_response(get(server, "/vars/"))
    assert r.header("X-UA") == f"127.0.0.1:{dead}, {b.address}"
    assert r.header("X-US") == "502, 200"


def test_third_party_balancer_from_the_readme(tmp_path: Path) -> None:
    with Backend("x") as x, Backend("y") as y:
        dead = dead_port()
        conf = f"""
load_module tests.modules.first_alive;
events {{}}
http {{
    access_log off;
    upstream fa {{ first_alive; server 127.0.0.1:{dead}; server {x.address};
                   server {y.address}; }}
    server {{ listen 127.0.0.1:{{port}}; location / {{ proxy_pass http://fa; }} }}
}}
"""
        with start_trinx(conf, tmp_path) as server:
            bodies = [parse_response(get(server, "/")).body for _ in range(4)]
    assert bodies == [b"x"] * 4  # never round robin to y; the dead one is skipped
