"""realip against Debian's nginx: $remote_addr from X-Real-IP / X-Forwarded-For (recursive
or not) only for trusted peers, allow/deny on the real address, and ip_hash spreading the
real clients over backends exactly as nginx does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        location /port { return 200 "$remote_addr|$remote_port|$realip_remote_port"; }
        location /redir { error_page 404 = /show; }
        location /show { return 200 "$remote_addr $realip_remote_addr"; }
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
    # addresses as ngx_parse_addr_port reads them, printed back as nginx prints them
    ("/xri", "X-Real-IP: 010.001.2.3\r\n"), ("/xri", "X-Real-IP: 1..2.3\r\n"),
    ("/xri", "X-Real-IP: 1.2.3.4:80\r\n"), ("/xri", "X-Real-IP: [2001:db8::1]:80\r\n"),
    ("/xri", "X-Real-IP: 2001:DB8:0:0::1\r\n"), ("/xri", "X-Real-IP:  1.2.3.4 \r\n"),
    ("/xri", "X-Real-IP: fe80::1%eth0\r\n"), ("/xri", "X-Real-IP: ::ffff:1.2.3.4\r\n"),
    ("/xff", "X-Forwarded-For: 1.2.3.4:8080\r\n"), ("/xff", "X-Forwarded-For: 1.2.3.4,,\r\n"),
    ("/xff", "X-Forwarded-For: junk\r\n"), ("/xff", "X-Forwarded-For: 1.2.3.4 5.6.7.8\r\n"),
    ("/rec", "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 10.0.0.5\r\n"),
    ("/rec", "X-Forwarded-For: 10.0.0.6, junk, 10.0.0.5\r\n"),
    ("/rec", "X-Forwarded-For: 1.2.3.4, 10.0.0.5\r\nX-Forwarded-For: 10.0.0.7\r\n"),
    ("/xff", "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n"),
    # each line walked on its own, the last first (ngx_http_get_forwarded_addr)
    ("/xff", "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: ,\r\n"),
    ("/rec", "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: ,\r\n"),
    ("/rec", "X-Forwarded-For: ,10.0.0.1\r\n"), ("/xff", "X-Forwarded-For: ,1.2.3.4\r\n"),
    ("/rec", "X-Forwarded-For: 5.5.5.5\r\nX-Forwarded-For: \r\nX-Forwarded-For: 10.0.0.2\r\n"),
    ("/rec", "X-Forwarded-For: 5.5.5.5\r\nX-Forwarded-For: 10.0.0.3 , \r\n"),
    ("/xri", "X-Real-IP: 1.2.3.4\r\nX-Real-IP: 5.6.7.8\r\n"),
    # realip applies once per request: an internal redirect keeps the original address
    ("/redir/x", "X-Real-IP: 10.0.0.7\r\n"), ("/redir/x", "X-Real-IP: 1.2.3.4\r\n"),
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


_group = st.sampled_from([0, 0, 0, 1, 0xFF, 0x100, 0x101, 0xFFFF, 0xDB8])
_v6 = st.lists(_group, min_size=8, max_size=8).map(
    lambda gs: ":".join(f"{g:x}" for g in gs))
_v4 = st.lists(st.sampled_from(["0", "1", "010", "255", "", "256"]), min_size=4,
               max_size=4).map(".".join)
_odd_v6 = st.lists(st.sampled_from(["0", "1", "ffff", "00000", "g", "", "", ":", "1.2.3.4",
                                     "1..3.4", "255.255.255.255", "01.2.3.4"]),
                   min_size=1, max_size=10).map(":".join)
_value = st.one_of(_v6, _v4, st.tuples(_v4, st.sampled_from(["0", "1", "80", "65535",
                                                             "65536", "x"])).map(":".join),
                   _v6.map(lambda a: f"[{a}]:8080"), _odd_v6, _odd_v6.map(":".__add__))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_value)
def test_generated_addresses(pair: tuple[ServerProcess, ServerProcess], value: str) -> None:
    """Generated X-Real-IP values: what nginx reads as an address (and port), and how it
    prints it back in $remote_addr, for IPv6 zero runs and dotted tails especially."""
    nginx, trinx = pair
    headers = f"X-Real-IP: {value}\r\n"
    assert ports(view(trinx, "/port", headers)) == ports(view(nginx, "/port", headers)), value


def ports(seen: tuple[int, bytes]) -> tuple[int, list[bytes]]:
    """The client's own (ephemeral) port, where realip kept it, as a word."""
    addr, port, client_port = seen[1].split(b"|")
    return seen[0], [addr, b"client" if port == client_port else port]
