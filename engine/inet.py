"""Addresses as nginx reads them (``ngx_inet.c``) and the X-Forwarded-For walk
(``ngx_http_get_forwarded_addr``), shared by ``allow``/``deny``, ``geo`` and the like.

An address is ``(family, integer)`` with family 4 or 6; a network is ``(family, masked
address, prefix length)``.  IPv4 follows ``ngx_inet_addr``: exactly three dots, decimal
parts up to 255, an empty part counts as 0, and ``255.255.255.255`` is its INADDR_NONE, so
not an address.  IPv6 is what ``inet_pton`` takes (no ``%scope``).  Sans-IO.
"""

from __future__ import annotations

import ipaddress

__all__ = ["Addr", "Net", "INADDR_NONE", "parse_addr", "parse_addr_port", "parse_cidr",
           "unmapped", "in_nets", "forwarded_addr"]

Addr = tuple[int, int]
Net = tuple[int, int, int]
INADDR_NONE = 0xFFFFFFFF


def parse_addr(text: str) -> Addr | None:
    """``ngx_parse_addr``: the address, or None when ``text`` is none."""
    if ":" not in text:
        addr = octet = dots = 0
        for ch in text:
            if "0" <= ch <= "9":
                octet = octet * 10 + ord(ch) - 48
                if octet > 255:
                    return None
            elif ch == ".":
                addr, octet, dots = (addr << 8) + octet, 0, dots + 1
            else:
                return None
        addr = (addr << 8) + octet
        return (4, addr) if dots == 3 and addr != INADDR_NONE else None
    if "%" in text:
        return None  # Python takes a scope id, inet_pton does not
    try:
        return 6, int(ipaddress.IPv6Address(text))
    except ValueError:
        return None


def parse_addr_port(text: str) -> Addr | None:
    """``ngx_parse_addr_port``: an address, optionally with ``:port`` (``[v6]:port``)."""
    addr = parse_addr(text)
    if addr is not None:
        return addr
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return parse_addr(host) if port.isdigit() else None
    host, _, port = text.rpartition(":")
    return parse_addr(host) if port.isdigit() and ":" not in host else None


def parse_cidr(text: str) -> tuple[Net, bool] | None:
    """``ngx_ptocidr``: ``addr`` or ``addr/len`` as a network, and whether the address had
    no bits below the prefix (nginx warns "low address bits ... are meaningless" if not)."""
    host, slash, bits = text.partition("/")
    addr = parse_addr(host)
    if addr is None:
        return None
    family, n = addr
    width = 32 if family == 4 else 128
    if slash and not (bits.isdigit() and bits.isascii() and int(bits) <= width):
        return None
    plen = int(bits) if slash else width
    masked = n >> (width - plen) << (width - plen) if plen else 0
    return (family, masked, plen), masked == n


def unmapped(addr: Addr) -> Addr:
    """An IPv4-mapped IPv6 address as the IPv4 one (nginx matches those as IPv4)."""
    if addr[0] == 6 and addr[1] >> 32 == 0xFFFF:
        return 4, addr[1] & 0xFFFFFFFF
    return addr


def in_nets(addr: Addr, nets: list[Net]) -> bool:
    """``ngx_cidr_match``."""
    family, n = unmapped(addr)
    for nfam, net, plen in nets:
        width = 32 if nfam == 4 else 128
        if nfam == family and n >> (width - plen) == net >> (width - plen):
            return True
    return False


def forwarded_addr(addr: Addr, xff: str, proxies: list[Net], recursive: bool) -> Addr:
    """``ngx_http_get_forwarded_addr_internal`` on one X-Forwarded-For value: while ``addr``
    is a trusted proxy, the address it says it forwarded for (the last one; with
    ``recursive``, on through the trusted ones)."""
    words = [w for w in xff.replace(",", " ").split(" ") if w]
    while words and in_nets(addr, proxies):
        found = parse_addr_port(words.pop())
        if found is None:
            break
        addr = found
        if not recursive:
            break
    return addr
