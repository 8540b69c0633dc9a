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
           "format_addr", "unmapped", "in_nets", "forwarded_addr"]

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


def parse_addr_port(text: str) -> tuple[Addr, int] | None:
    """``ngx_parse_addr_port``: an address, optionally with ``:port`` (``[v6]:port``); the
    port is 0 when there is none."""
    addr = parse_addr(text)
    if addr is not None:
        return addr, 0
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
        if ":" in host:
            return None
    if not (port.isdigit() and port.isascii() and 0 < int(port) < 65536):
        return None
    addr = parse_addr(host)
    return (addr, int(port)) if addr is not None else None


def format_addr(addr: Addr) -> str:
    """The address as nginx prints it (``ngx_inet_ntop``)."""
    family, n = addr
    if family == 4:
        return _dotted(n)
    groups = [n >> (112 - 16 * i) & 0xFFFF for i in range(8)]
    # ngx_inet6_ntop: the first longest run of two or more zero groups becomes "::"
    zero, longest, run, start = -1, 1, 0, 0
    for i, g in enumerate(groups):
        if g:
            if run > longest:
                zero, longest = start, run
            run = 0
        else:
            if run == 0:
                start = i
            run += 1
    if run > longest:
        zero, longest = start, run
    # ... and a leading run before what looks like an IPv4 address ends in dotted form
    tail = zero == 0 and ((longest == 5 and groups[5] == 0xFFFF) or longest == 6
                          or (longest == 7 and groups[7] >> 8 != 0 and groups[7] & 255 != 1))
    end = 6 if tail else 8
    if zero < 0:
        text = ":".join(f"{g:x}" for g in groups[:end])
    else:
        text = (":".join(f"{g:x}" for g in groups[:zero]) + "::"
                + ":".join(f"{g:x}" for g in groups[zero + longest:end]))
    if tail:
        text += ("" if text.endswith(":") else ":") + _dotted(n & 0xFFFFFFFF)
    return text


def _dotted(n: int) -> str:
    return f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


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


def forwarded_addr(addr: Addr, xff: str, proxies: list[Net], recursive: bool
                   ) -> tuple[Addr, int] | None:
    """``ngx_http_get_forwarded_addr`` on an X-Forwarded-For value (several header lines
    joined with commas walk as one): while ``addr`` is a trusted proxy, the address (and
    port, 0 for none) it says it forwarded for: the last one, or with ``recursive`` on
    through the trusted ones.  None when ``addr`` is not trusted or the last word is not
    an address."""
    words = [w for w in xff.replace(",", " ").split(" ") if w]
    result = None
    while words and in_nets(addr, proxies):
        found = parse_addr_port(words.pop())
        if found is None:
            break
        result = found
        addr = found[0]
        if not recursive:
            break
    return result
