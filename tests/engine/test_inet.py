"""engine.inet: nginx's address and network parsing (ngx_inet.c) and the X-Forwarded-For
walk, sans-IO.  The config-level twins (allow/deny, geo) are in the differential tests."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from engine.inet import (format_addr, forwarded_addr, parse_addr, parse_addr_port, parse_cidr,
                         unmapped)


def test_parse_cidr() -> None:
    assert parse_cidr("10.0.0.0/8") == ((4, 0x0A000000, 8), True)
    assert parse_cidr("10.0.0.1/8") == ((4, 0x0A000000, 8), False)  # nginx warns
    assert parse_cidr("010.1.1.1") == ((4, 0x0A010101, 32), True)
    assert parse_cidr("1..2.3") == ((4, 0x01000203, 32), True)  # ngx_inet_addr: empty is 0
    assert parse_cidr("::1") == ((6, 1, 128), True)
    assert parse_cidr("0.0.0.0/0") == ((4, 0, 0), True)
    for bad in ("x", "10.0.0.1/33", "10.0.0.1/", "::1/129", "10.0.0", "256.1.1.1",
                "fe80::1%eth0", "1.2.3.4/-1", "10.1.2.3/255.0.0.0", "1.2.3.4/abc",
                "255.255.255.255", "1.2.3.4.", "1.2.3.4/٣", "1:2:3:4:5:6:7::",
                "::ffff:255.255.255.255", ":::", "1:2:3:4:5:6:7:8:9", "00000::1"):
        assert parse_cidr(bad) is None, bad
    # ngx_inet6_addr, not inet_pton: a leading ":" is skipped, the dotted tail is inet_addr's
    assert parse_cidr(":1:2:3:4:5:6:7:8") == ((6, 0x00010002000300040005000600070008, 128),
                                             True)
    assert parse_cidr("::ffff:1..3.4") == ((6, 0xFFFF01000304, 128), True)


def test_addr_port_and_mapped() -> None:
    assert parse_addr_port("1.2.3.4:80") == ((4, 0x01020304), 80)
    assert parse_addr_port("[::1]:8080") == ((6, 1), 8080)
    assert parse_addr_port("::1") == ((6, 1), 0)
    for bad in ("1.2.3.4:x", "1.2.3.4:0", "1.2.3.4:65536", "[::1]", "[::1]:"):
        assert parse_addr_port(bad) is None, bad
    assert unmapped((6, 0xFFFF01020304)) == (4, 0x01020304)


def test_format_addr_as_nginx() -> None:
    # outputs of nginx 1.22 for X-Real-IP values through realip ($remote_addr)
    for text, shown in [("::ffff:1.2.3.4", "::ffff:1.2.3.4"), ("::1:2", "::0.1.0.2"),
                        ("::2", "::2"), ("::0.0.1.0", "::0.0.1.0"), ("1::", "1::"),
                        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"), ("::", "::"),
                        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"), ("0:0:1::", "0:0:1::"),
                        ("2001:DB8:0:0::1", "2001:db8::1"), ("010.001.2.3", "10.1.2.3")]:
        addr = parse_addr(text)
        assert addr is not None and format_addr(addr) == shown, text


def test_forwarded_addr_walks_trusted_proxies() -> None:
    proxies = [(4, 0x0A000000, 8)]
    client, proxy = (4, 0x0A000001), (4, 0x01020304)
    xff = ["5.6.7.8:81, 10.0.0.9 ,10.0.0.8"]
    assert forwarded_addr(client, xff, proxies, recursive=False) == ((4, 0x0A000008), 0)
    assert forwarded_addr(client, xff, proxies, recursive=True) == ((4, 0x05060708), 81)
    assert forwarded_addr(proxy, xff, proxies, recursive=True) is None  # not trusted
    assert forwarded_addr(client, ["junk"], proxies, recursive=True) is None
    # lines: the last first; an empty or separator-only last line takes nothing
    assert forwarded_addr(client, ["1.2.3.4", ","], proxies, recursive=False) is None
    assert forwarded_addr(client, [",10.0.0.1"], proxies, recursive=True) is None
    assert forwarded_addr(client, ["5.5.5.5", "", "10.0.0.2"], proxies,
                          recursive=True) == ((4, 0x0A000002), 0)


@given(st.integers(0, 0xFFFFFFFE))
def test_dotted_quads_match_ipaddress(n: int) -> None:
    assert parse_addr(str(ipaddress.IPv4Address(n))) == (4, n)


@given(st.integers(0, (1 << 128) - 1))
def test_ipv6_matches_ipaddress(n: int) -> None:
    assert parse_addr(str(ipaddress.IPv6Address(n))) == (6, n)
    shown = format_addr((6, n))
    if not shown.endswith("255.255.255.255"):  # nginx prints a dotted tail it cannot read
        assert parse_addr(shown) == (6, n)  # nginx's form reads back
