"""``access`` (``ngx_http_access_module``): ``allow``/``deny`` by client address.

Directives (http, server, location, limit_except)::

    allow address | CIDR | unix: | all;
    deny  address | CIDR | unix: | all;

Rules form one list per level: a level with any ``allow``/``deny`` replaces the rules of the
levels around it.  The first rule matching the client address decides; a ``deny`` is 403
(logged at ``error`` as ``access forbidden by rule``), an ``allow`` or no match lets the
request through.  Runs in the access phase, which the engine runs for main requests only.

An IPv4-mapped IPv6 client (``::ffff:1.2.3.4``) is checked against the IPv4 rules, as nginx
does.  Addresses are parsed once at configuration time into (version, network, mask)
integers, so a check is a few integer operations per rule.

A CIDR with host bits set (``10.0.0.1/8``) is accepted with nginx's warning (``low address
bits of 10.0.0.1/8 are meaningless``).  Under ``satisfy any`` an ``allow`` answers OK (enough
for the request) and a ``deny`` is logged by the engine only if no other handler allows.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from dataclasses import dataclass

from engine import api

__all__ = ["MODULE", "AccessLocConf", "Rule"]

_UNIX = 0  # pseudo address family of unix-domain clients (trinx listens on TCP only)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One ``allow``/``deny``: ``family`` 4, 6, ``_UNIX`` or None (``all``)."""

    deny: bool
    family: int | None
    addr: int = 0
    mask: int = 0


@dataclass
class AccessLocConf:
    rules: list[Rule] | api.Unset = api.UNSET

    def merge(self, parent: "AccessLocConf") -> None:
        self.rules = api.inherit(self.rules, parent.rules, [])


def _rule(cf: api.ConfContext, cmd: api.Directive, conf: AccessLocConf) -> None:
    value = cf.args[1]
    deny = cf.args[0] == "deny"
    if value == "all":
        rule = Rule(deny=deny, family=None)
    elif value == "unix:":
        rule = Rule(deny=deny, family=_UNIX)
    else:
        parsed = _parse_cidr(value)
        if parsed is None:
            raise cf.error(f'invalid parameter "{value}"')
        family, addr, mask, exact = parsed
        if not exact:
            cf.warn(f"low address bits of {value} are meaningless")
        rule = Rule(deny=deny, family=family, addr=addr & mask, mask=mask)
    if conf.rules is api.UNSET:
        conf.rules = []
    conf.rules.append(rule)


def _parse_cidr(value: str) -> tuple[int, int, int, bool] | None:
    """(family, address, mask, host bits clear) for ``addr`` or ``addr/len`` (ngx_ptocidr)."""
    text, slash, bits_text = value.partition("/")
    addr = _parse_ip(text)
    if addr is None:
        return None
    family, n = addr
    width = 32 if family == 4 else 128
    if slash:
        if not bits_text.isdigit() or not bits_text.isascii() or int(bits_text) > width:
            return None
        bits = int(bits_text)
    else:
        bits = width
    mask = ((1 << width) - 1) ^ ((1 << (width - bits)) - 1)
    return family, n, mask, n & mask == n


def _parse_ip(text: str) -> tuple[int, int] | None:
    """IPv4 as nginx's ngx_inet_addr (decimal octets, leading zeros allowed) or IPv6."""
    if ":" not in text:
        parts = text.split(".")
        if len(parts) != 4 or not all(p.isdigit() and p.isascii() and int(p) <= 255
                                      for p in parts):
            return None
        a, b, c, d = (int(p) for p in parts)
        return 4, (a << 24) | (b << 16) | (c << 8) | d
    if "%" in text:
        return None
    try:
        return 6, int(ipaddress.IPv6Address(text))
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _client(remote_addr: str) -> tuple[int, int]:
    """(family, address) of a peer; mapped IPv6 is IPv4, like ngx_http_access_handler."""
    if ":" not in remote_addr:
        parsed = _parse_ip(remote_addr)
        return parsed if parsed is not None else (_UNIX, 0)
    try:
        ip6 = ipaddress.IPv6Address(remote_addr.split("%", 1)[0])
    except ValueError:
        return _UNIX, 0
    mapped = ip6.ipv4_mapped
    if mapped is not None:
        return 4, int(mapped)
    return 6, int(ip6)


def access_handler(r: api.Request) -> int:
    rules = MODULE.loc(r).rules
    if not rules:
        return api.DECLINED
    family, addr = _client(r.conn.remote_addr)
    for rule in rules:
        if rule.family is None or (rule.family == family and addr & rule.mask == rule.addr):
            if rule.deny:
                if not api.core_loc_conf(r).satisfy_any:  # else the engine logs it, last
                    api.log_error(r, logging.ERROR, "access forbidden by rule")
                return 403
            return api.OK  # an allow: enough under "satisfy any"
    return api.DECLINED


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.ACCESS, access_handler)


_CTX = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC | api.Ctx.LMT

MODULE = api.Module(
    name="http_access",
    loc_conf=AccessLocConf,
    directives=[
        api.Directive("allow", _CTX, api.Args.TAKE1, _rule),
        api.Directive("deny", _CTX, api.Args.TAKE1, _rule),
    ],
    postconfiguration=_postconfiguration,
)
