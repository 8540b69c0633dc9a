"""geo against Debian's nginx: CIDR (IPv4, IPv6, mapped, longest prefix, delete, default,
duplicates), ranges, an address from a variable, proxy/proxy_recursive with
X-Forwarded-For; client addresses set through realip, addresses drawn by hypothesis."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.modules4_pair import get, pair, shape
from tests.harness import ServerProcess

pytestmark = pytest.mark.differential

CONF = r"""
events {}
http {
    access_log off;
    set_real_ip_from 127.0.0.1;
    geo $cidr {
        default dflt;
        127.0.0.1 local;
        10.0.0.0/8 ten;
        10.1.0.0/16 ten-one;
        10.1.2.0/24 ten-one-two;
        10.9.0.0/16 deleted;
        delete 10.9.0.0/16;
        192.168.1.0/24 old;
        192.168.1.0/24 new;
        2001:db8::/32 doc6;
        2001:db8:1::/48 doc6-1;
        ::1 loop6;
        include geo.inc;
    }
    geo $arg_ip $byarg {
        10.0.0.0/8 ten;
        255.255.255.255 none;
        ::/0 any6;
    }
    geo $ranged {
        ranges;
        default rdflt;
        10.0.0.0-10.0.0.255 r1;
        10.0.1.0-10.2.3.4 r2;
        10.0.1.5-10.0.1.9 carved;
        10.0.1.9-10.0.1.9 carved2;
        192.168.0.0-192.168.0.0 single;
        172.16.0.0-172.16.0.10 gone;
        delete 172.16.0.0-172.16.0.10;
    }
    geo $arg_ip $rangedarg { ranges; 255.0.0.0-255.255.255.254 high; }
    geo $proxied {
        proxy 10.0.0.0/8;
        default dflt;
        1.2.3.4 client;
        10.0.0.1 proxy-itself;
    }
    geo $recursive {
        proxy 10.0.0.0/8;
        proxy_recursive;
        default dflt;
        1.2.3.4 client;
        10.0.0.2 inner;
    }
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "[$cidr][$ranged][$proxied][$recursive]\n"; }
        location /arg { return 200 "[$byarg][$rangedarg]\n"; }
    }
}
"""
FILES = {"conf/geo.inc": b"203.0.113.0/24 included;\n"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with pair(CONF, tmp_path_factory.mktemp("geo"), FILES) as p:
        yield p


ADDRS = ["127.0.0.1", "10.0.0.1", "10.1.0.1", "10.1.2.3", "10.9.1.1", "192.168.1.7",
         "203.0.113.9", "8.8.8.8", "10.0.0.200", "10.0.1.0", "10.2.3.4", "10.2.3.5",
         "192.168.0.0", "172.16.0.5", "2001:db8::1", "2001:db8:1::1", "::1", "fe80::1",
         "::ffff:10.1.2.3"]


@pytest.mark.parametrize("addr", ADDRS)
def test_geo_client_address(servers: tuple[ServerProcess, ServerProcess], addr: str) -> None:
    nginx, trinx = servers
    h = f"X-Real-IP: {addr}\r\n"
    assert shape(get(trinx, "/", h)) == shape(get(nginx, "/", h))


@pytest.mark.parametrize("ip", ["10.1.1.1", "junk", "", "255.255.255.255", "::1",
                                "::ffff:10.0.0.1", "1.2.3", "010.1.1.1", "255.1.1.1",
                                "0010.1.1.1", "10..1.1", "10.1.1.", "1.2.3.4.5", "10.1.1.256"])
def test_geo_address_from_variable(servers: tuple[ServerProcess, ServerProcess],
                                   ip: str) -> None:
    nginx, trinx = servers
    target = f"/arg?ip={ip}"
    assert shape(get(trinx, target)) == shape(get(nginx, target))


@pytest.mark.parametrize("addr,xff", [
    ("10.0.0.1", "1.2.3.4"), ("10.0.0.1", "1.2.3.4, 10.0.0.2"), ("10.0.0.1", "junk"),
    ("10.0.0.1", "10.0.0.2"), ("8.8.8.8", "1.2.3.4"), ("10.0.0.1", "5.6.7.8, 1.2.3.4"),
    ("10.0.0.1", "1.2.3.4:80"), ("10.0.0.1", "10.0.0.3, 10.0.0.2"),
    # several X-Forwarded-For lines, the last first (ngx_http_get_forwarded_addr)
    ("10.0.0.1", "1.2.3.4\r\nX-Forwarded-For: 10.0.0.2"),
    ("10.0.0.1", "10.0.0.3\r\nX-Forwarded-For: 5.6.7.8"),
    ("10.0.0.1", "1.2.3.4, 10.0.0.3\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.4"),
    ("10.0.0.1", "1.2.3.4\r\nX-Forwarded-For: ,"), ("10.0.0.1", ",1.2.3.4"),
    ("10.0.0.1", "5.5.5.5\r\nX-Forwarded-For: \r\nX-Forwarded-For: 10.0.0.2"),
])
def test_geo_proxy(servers: tuple[ServerProcess, ServerProcess], addr: str, xff: str) -> None:
    nginx, trinx = servers
    h = f"X-Real-IP: {addr}\r\nX-Forwarded-For: {xff}\r\n"
    assert shape(get(trinx, "/", h)) == shape(get(nginx, "/", h))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0x0A000000, 0x0A010200,
                                                              0x0A0203FF, 0xC0A80000, 0x0A000107,
                                                              0xFFFFFFFF])
                   .flatmap(lambda b: st.integers(b - 300, b + 300))))
def test_geo_addresses_hypothesis(servers: tuple[ServerProcess, ServerProcess],
                                  n: int) -> None:
    nginx, trinx = servers
    addr = str(ipaddress.IPv4Address(n % 2**32))
    h = f"X-Real-IP: {addr}\r\n"
    assert shape(get(trinx, "/", h)) == shape(get(nginx, "/", h)), addr
    target = f"/arg?ip={addr}"
    assert shape(get(trinx, target)) == shape(get(nginx, target)), addr
