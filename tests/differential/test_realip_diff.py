"""realip against Debian's nginx: $remote_addr from X-Real-IP / X-Forwarded-For (recursive
or not) only for trusted peers, allow/deny on the real address, and ip_hash spreading the
real clients over backends exactly as nginx does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx,
                           start_trinx)

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    access_log off;
    upstream ip { ip_hash; server {A}; server {B}; server {C} weight=2; }
    server {
        listen 127.0.0.1:{port};
        set_real_ip_from 127.0.0.1;
        set_real_ip_from 10.0.0.0/8;
        location /xri { return 200 "$remote_addr $realip_remote_addr"; }
        location /xff { real_ip_header X-Forwarded-For;
                        return 200 "$remote_addr $realip_remote_addr"; }
        location /rec { real_ip_header X-Forwarded-For; real_ip_recursive on;
                        return 200 "$remote_addr"; }
        location /untrusted { set_real_ip_from 192.0.2.1; return 200 "$remote_addr"; }
        location /acl { deny 203.0.113.0/24; allow all; return 200 "ok"; }
        location /ip/ { real_ip_header X-Forwarded-For; proxy_pass http://ip/; }
    }
}
"""

CASES = [
    ("/xri", "X-Real-IP: 198.51.100.7\r\n"), ("/xri", ""), ("/xri", "X-Real-IP: junk\r\n"),
    ("/xff", "X-Forwarded-For: 1.2.3.4, 10.0.0.5\r\n"),
    ("/rec", "X-Forwarded-For: 1.2.3.4, 10.0.0.5, 10.1.1.1\r\n"),
    ("/rec", "X-Forwarded-For: 10.0.0.5\r\n"),
    ("/untrusted", "X-Real-IP: 198.51.100.7\r\n"),
    ("/acl", "X-Real-IP: 203.0.113.9\r\n"), ("/acl", "X-Real-IP: 198.51.100.9\r\n"),
    ("/xri", "X-Real-IP: 2001:db8::1\r\n"),
    ("/xri", "X-Real-IP: 255.255.255.255\r\n"),  # INADDR_NONE: no address to nginx
    ("/xff", "X-Forwarded-For: 1.2.3.4, 255.255.255.255\r\n"),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    with Backend("a") as a, Backend("b") as b, Backend("c") as c:
        conf = (CONF.replace("{A}", a.address).replace("{B}", b.address)
                .replace("{C}", c.address))
        tmp = tmp_path_factory.mktemp("realip")
        with start_nginx(conf, tmp / "nginx") as nginx, \
                start_trinx(conf, tmp / "trinx") as trinx:
            yield nginx, trinx


def view(server: ServerProcess, target: str, headers: str) -> tuple[int, bytes]:
    raw = f"GET {target} HTTP/1.1\r\nHost: h\r\n{headers}Connection: close\r\n\r\n"
    r = parse_response(http_request(server.port, raw.encode()))
    return r.status, r.body


@pytest.mark.parametrize("target, headers", CASES)
def test_same_as_nginx(pair: tuple[ServerProcess, ServerProcess], target: str,
                       headers: str) -> None:
    nginx, trinx = pair
    assert view(trinx, target, headers) == view(nginx, target, headers)


def test_ip_hash_on_real_clients(pair: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = pair
    clients = ["127.0.0.1", "127.0.1.1", "127.9.9.9", "127.200.1.1", "127.55.66.77",
               "10.1.2.3", "10.1.2.200", "192.168.7.7", "2001:db8::5"]
    seqs = [[view(s, "/ip/", f"X-Forwarded-For: {c}\r\n")[1] for c in clients]
            for s in (nginx, trinx)]
    assert seqs[1] == seqs[0]
    assert seqs[0][5] == seqs[0][6]  # one /24, one backend
