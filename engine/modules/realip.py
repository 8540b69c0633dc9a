"""``realip`` (``ngx_http_realip_module``): the client address from a trusted proxy's header.

Directives: ``set_real_ip_from`` (address, CIDR or ``unix:``), ``real_ip_header``
(``X-Real-IP`` default, ``X-Forwarded-For``, any header; ``proxy_protocol`` accepted, never
matching: trinx does not speak the PROXY protocol), ``real_ip_recursive``.  When the
connection comes from a trusted address, the address in the header becomes the request's
client address (``$remote_addr``, ``allow``/``deny``, ``ip_hash``, log lines) until the
request ends; ``$realip_remote_addr`` and ``$realip_remote_port`` keep the original.  The
header is read as nginx's ``ngx_http_get_forwarded_addr`` reads it (``engine.inet``): the
last address, or with ``real_ip_recursive on`` the last one that is not itself trusted; an
address may carry a port (``1.2.3.4:80``, ``[::1]:80``), which becomes ``$remote_port``
(empty without one), and ``$remote_addr`` is the address as nginx prints it (``10.1.2.3``
for ``010.001.2.3``, ``::ffff:1.2.3.4``).  Runs in the post-read phase (server settings)
and again in preaccess (location settings) if it did not apply yet, as nginx.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import api
from engine.inet import Net, conf_cidr, format_addr, forwarded_addr, parse_addr

__all__ = ["MODULE"]

_UNIX: Net = (0, 0, 0)  # "unix:": trinx listens on TCP only, so it never matches


@dataclass
class RealipLocConf:
    trusted: list[Net] | api.Unset = api.UNSET
    header: str | api.Unset = api.UNSET
    recursive: bool | api.Unset = api.UNSET

    def merge(self, parent: "RealipLocConf") -> None:
        self.trusted = api.inherit(self.trusted, parent.trusted, [])
        self.header = api.inherit(self.header, parent.header, "x-real-ip")
        self.recursive = api.inherit(self.recursive, parent.recursive, False)


def realip_handler(r: api.Request) -> int:
    conf: RealipLocConf = MODULE.loc(r)
    conn = r.conn
    if not conf.trusted or _original(r) or conf.header == "proxy_protocol":
        return api.DECLINED
    if conf.header == "x-forwarded-for":  # every line of it; of another header, the first
        lines = [v for n, v in r.headers_in if n == "x-forwarded-for"]
    else:
        value = r.headers.get(conf.header)  # type: ignore[arg-type]
        lines = [value] if value is not None else []
    peer = parse_addr(conn.remote_addr.split("%", 1)[0])
    if not lines or peer is None:
        return api.DECLINED
    found = forwarded_addr(peer, lines, conf.trusted, bool(conf.recursive))  # type: ignore
    if found is None:
        return api.DECLINED
    original = (conn.remote_addr, conn.remote_port)
    conn.realip_original = (r.main, original)
    # printed back as nginx prints the address it parsed; a port only if the header had one
    conn.remote_addr, conn.remote_port = format_addr(found[0]), found[1]

    def restore() -> None:
        conn.remote_addr, conn.remote_port = original
        conn.realip_original = None

    r.cleanup.append(restore)
    return api.DECLINED


def _original(r: api.Request) -> tuple[str, int] | None:
    """The client's own address and port while realip has replaced them.  Kept on the
    connection for its current request, not in ``r.ctx``: an internal redirect clears
    that, and nginx keeps realip's context in the request pool's cleanup instead."""
    saved = getattr(r.conn, "realip_original", None)
    return saved[1] if saved is not None and saved[0] is r.main else None


def _set_from(cf: api.ConfContext, cmd: api.Directive, conf: RealipLocConf) -> None:
    if conf.trusted is api.UNSET:
        conf.trusted = []
    value = cf.args[1]
    if value == "unix:":
        conf.trusted.append(_UNIX)  # type: ignore[union-attr]
        return
    conf.trusted.append(conf_cidr(  # type: ignore[union-attr]
        cf, value, f'"{value}" must be an IP address or a network in "{cmd.name}"'))


def _header(cf: api.ConfContext, cmd: api.Directive, conf: RealipLocConf) -> None:
    if conf.header is not api.UNSET:
        raise cf.error('"real_ip_header" directive is duplicate')
    conf.header = cf.args[1].lower()


def _variables(cf: api.ConfContext) -> None:
    def addr(r: api.Request) -> str:
        saved = _original(r)
        return saved[0] if saved else r.conn.remote_addr

    def port(r: api.Request) -> str:
        saved = _original(r)
        return str((saved[1] if saved else r.conn.remote_port) or "")

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
