"""Addresses as nginx reads them (``ngx_inet.c``) and the X-Forwarded-For walk
(``ngx_http_get_forwarded_addr``), shared by ``allow``/``deny``, ``geo`` and the like.

An address is ``(family, integer)`` with family 4 or 6; a network is ``(family, masked
address, prefix length)``.  IPv4 follows ``ngx_inet_addr``: exactly three dots, decimal
parts up to 255, an empty part counts as 0, and ``255.255.255.255`` is its INADDR_NONE, so
not an address.  IPv6 follows ``ngx_inet6_addr`` (not ``inet_pton``: a leading ``:`` is
skipped, no ``%scope``).  Sans-IO.
"""

from __future__ import annotations

from typing import Any


__all__ = ["Addr", "Net", "INADDR_NONE", "parse_addr", "parse_addr_port", "parse_cidr",
           "format_addr", "conf_cidr", "unmapped", "in_nets", "forwarded_addr"]

Addr = tuple[int, int]
Net = tuple[int, int, int]
INADDR_NONE = 0xFFFFFFFF


def parse_addr(text: str) -> Addr | None:
    """``ngx_parse_addr``: the address, or None when ``text`` is none."""
    if ":" not in text:
        addr4 = _inet_addr(text)
        return (4, addr4) if addr4 is not None else None
    addr6 = _inet6_addr(text)
    return (6, addr6) if addr6 is not None else None


def _inet_addr(text: str) -> int | None:
    """``ngx_inet_addr``."""
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
    return addr if dots == 3 and addr != INADDR_NONE else None


def _inet6_addr(text: str) -> int | None:
    """``ngx_inet6_addr``, step by step: one leading ``:`` is skipped, ``::`` may stand
    for zero groups anywhere but after the eighth, and a dotted tail goes through
    ``ngx_inet_addr`` (so ``::ffff:1..3.4`` is an address, ``::ffff:255.255.255.255`` not)."""
    out: list[int] = []
    zero: int | None = None
    digit: int | None = None  # where the group being read starts (after its ":")
    nibbles = word = 0
    groups = 8
    i = 1 if text[:1] == ":" else 0
    while i < len(text):
        ch = text[i]
        i += 1
        if ch == ":":
            if nibbles:
                digit = i
                out += (word >> 8, word & 255)
                groups -= 1
                if groups:
                    nibbles = word = 0
                    continue
            elif zero is None:
                digit, zero = i, len(out)
                continue
            return None
        if ch == "." and nibbles:
            if groups < 2 or digit is None:
                return None
            tail = _inet_addr(text[digit:])
            if tail is None:
                return None
            word = tail
            out += (tail >> 24 & 255, tail >> 16 & 255)
            groups -= 1
            break
        nibbles += 1
        if nibbles > 4:
            return None
        hexit = "0123456789abcdef".find(ch.lower()) if ch.isascii() else -1
        if hexit < 0:
            return None
        word = word * 16 + hexit
    if nibbles == 0 and zero is None:
        return None
    out += (word >> 8 & 255, word & 255)
    groups -= 1
    if groups:
        if zero is None:
            return None
        out[zero:zero] = [0] * (groups * 2)
    elif zero is not None:
        return None
    return int.from_bytes(bytes(out), "big")


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


def conf_cidr(cf: Any, text: str, invalid: str) -> Net:
    """A network given in the configuration (``ngx_ptocidr`` as the directives use it):
    ``cf.error(invalid)`` when it is none, nginx's warning when the address has bits below
    the prefix."""
    parsed = parse_cidr(text)
    if parsed is None:
        raise cf.error(invalid)
    net, exact = parsed
    if not exact:
        cf.warn(f"low address bits of {text} are meaningless")
    return net


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


_OK, _DONE, _DECLINED = 0, 1, 2  # ngx_http_get_forwarded_addr's return codes


def forwarded_addr(addr: Addr, lines: list[str], proxies: list[Net], recursive: bool
                   ) -> tuple[Addr, int] | None:
    """``ngx_http_get_forwarded_addr``: while ``addr`` is a trusted proxy, the address (and
    port, 0 for none) it says it forwarded for, from the header's ``lines`` (the last line
    first; in a line, its last word; with ``recursive``, on through trusted ones).  None
    when ``addr`` is not trusted or no address could be taken."""
    rc, result, found = _DECLINED, None, False
    for value in reversed(lines):
        rc, got = _forwarded_internal(addr, value, len(value), proxies, recursive)
        if got is not None:
            result, addr = got, got[0]
        if not recursive:
            break
        if rc == _DECLINED and found:
            rc = _DONE
            break
        if rc != _OK:
            break
        found = True
    return result if rc != _DECLINED else None


def _forwarded_internal(addr: Addr, xff: str, n: int, proxies: list[Net], recursive: bool
                        ) -> tuple[int, tuple[Addr, int] | None]:
    """``ngx_http_get_forwarded_addr_internal`` on ``xff[:n]``, byte for byte: trailing
    spaces and commas are skipped, the last word is taken (the first character never
    counts as a separator), and with ``recursive`` the words before it are walked while
    the address found is trusted."""
    if not in_nets(addr, proxies):
        return _DECLINED, None
    p = n - 1
    while p > 0 and xff[p] in " ,":
        p -= 1
        n -= 1
    while p > 0:
        if xff[p] in " ,":
            p += 1
            break
        p -= 1
    parsed = parse_addr_port(xff[max(p, 0):n]) if n > 0 else None
    if parsed is None:
        return _DECLINED, None
    if recursive and p > 0:
        rc, deeper = _forwarded_internal(parsed[0], xff, p - 1, proxies, True)
        if rc == _DECLINED:
            return _DONE, parsed
        return rc, deeper
    return _OK, parsed
