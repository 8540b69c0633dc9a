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
import logging
from dataclasses import dataclass

from engine import api
from engine.inet import conf_cidr, parse_addr, unmapped

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
        family, addr, plen = conf_cidr(cf, value, f'invalid parameter "{value}"')
        width = 32 if family == 4 else 128
        mask = ((1 << width) - 1) ^ ((1 << (width - plen)) - 1)
        rule = Rule(deny=deny, family=family, addr=addr, mask=mask)
    if conf.rules is api.UNSET:
        conf.rules = []
    conf.rules.append(rule)


@functools.lru_cache(maxsize=1024)
def _client(remote_addr: str) -> tuple[int, int]:
    """(family, address) of a peer; mapped IPv6 is IPv4, like ngx_http_access_handler."""
    addr = parse_addr(remote_addr.split("%", 1)[0])  # a link-local peer's scope
    return unmapped(addr) if addr is not None else (_UNIX, 0)


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
