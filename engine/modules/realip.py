"""``realip`` (``ngx_http_realip_module``): the client address from a trusted proxy's header.

Directives: ``set_real_ip_from`` (address, CIDR or ``unix:``), ``real_ip_header``
(``X-Real-IP`` default, ``X-Forwarded-For``, any header; ``proxy_protocol`` accepted, never
matching: trinx does not speak the PROXY protocol), ``real_ip_recursive``.  When the
connection comes from a trusted address, the address in the header becomes the request's
client address (``$remote_addr``, ``allow``/``deny``, ``ip_hash``, log lines) until the
request ends; ``$realip_remote_addr`` and ``$realip_remote_port`` keep the original.  With
``X-Forwarded-For``, the last address is taken, or with ``real_ip_recursive on`` the last one
that is not itself trusted.  Runs in the post-read phase (server settings) and again in
preaccess (location settings) if it did not apply yet, as nginx.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from engine import api

__all__ = ["MODULE"]

Net = Any  # ipaddress.IPv4Network | IPv6Network | "unix"


@dataclass
class RealipLocConf:
    trusted: list[Net] | api.Unset = api.UNSET
    header: str | api.Unset = api.UNSET
    recursive: bool | api.Unset = api.UNSET

    def merge(self, parent: "RealipLocConf") -> None:
        self.trusted = api.inherit(self.trusted, parent.trusted, [])
        self.header = api.inherit(self.header, parent.header, "x-real-ip")
        self.recursive = api.inherit(self.recursive, parent.recursive, False)


def _trusted(conf: RealipLocConf, addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return "unix" in conf.trusted  # type: ignore[operator]
    return any(net != "unix" and ip.version == net.version and ip in net
               for net in conf.trusted)  # type: ignore[union-attr]


def realip_handler(r: api.Request) -> int:
    conf: RealipLocConf = MODULE.loc(r)
    conn = r.conn
    if not conf.trusted or r.ctx.get(MODULE) or conf.header == "proxy_protocol":
        return api.DECLINED
    original = conn.remote_addr
    if not _trusted(conf, original):
        return api.DECLINED
    value = r.headers.get(conf.header)  # type: ignore[arg-type]
    if not value:
        return api.DECLINED
    if conf.header == "x-forwarded-for":
        chain = [a.strip() for a in value.split(",")]
        addr = chain[-1]
        if conf.recursive:
            for a in reversed(chain):
                addr = a
                if not _trusted(conf, a):
                    break
    else:
        addr = value.strip()
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return api.DECLINED
    if addr == "255.255.255.255":  # ngx_inet_addr's INADDR_NONE: "no address" to nginx
        return api.DECLINED
    r.ctx[MODULE] = (original, conn.remote_port)
    conn.remote_addr = addr

    def restore() -> None:
        conn.remote_addr = original

    r.cleanup.append(restore)
    return api.DECLINED


def _set_from(cf: api.ConfContext, cmd: api.Directive, conf: RealipLocConf) -> None:
    if conf.trusted is api.UNSET:
        conf.trusted = []
    value = cf.args[1]
    if value == "unix:":
        conf.trusted.append("unix")  # type: ignore[union-attr]
        return
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise cf.error(f'"{value}" must be an IP address or a network in "{cmd.name}"') \
            from None
    conf.trusted.append(net)  # type: ignore[union-attr]


def _header(cf: api.ConfContext, cmd: api.Directive, conf: RealipLocConf) -> None:
    if conf.header is not api.UNSET:
        raise cf.error('"real_ip_header" directive is duplicate')
    conf.header = cf.args[1].lower()


def _variables(cf: api.ConfContext) -> None:
    def addr(r: api.Request) -> str:
        saved = r.main.ctx.get(MODULE)
        return saved[0] if saved else r.conn.remote_addr

    def port(r: api.Request) -> str:
        saved = r.main.ctx.get(MODULE)
        return str(saved[1] if saved else r.conn.remote_port)

    cf.add_variable("realip_remote_addr", addr)
    cf.add_variable("realip_remote_port", port)


def _postconfiguration(cf: api.ConfContext) -> None:
    # nginx: post-read with the server's settings, preaccess with the location's
    cf.add_phase_handler(api.Phase.POST_READ, realip_handler)
    cf.add_phase_handler(api.Phase.PREACCESS, realip_handler)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_realip",
    directives=[
        api.Directive("set_real_ip_from", _HSL, api.Args.TAKE1, _set_from),
        api.Directive("real_ip_header", _HSL, api.Args.TAKE1, _header),
        api.Directive("real_ip_recursive", _HSL, api.Args.FLAG, api.set_flag("recursive")),
    ],
    loc_conf=RealipLocConf,
    preconfiguration=_variables,
    postconfiguration=_postconfiguration,
)
