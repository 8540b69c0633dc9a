"""``geo`` (``ngx_http_geo_module``): a variable chosen by the client's IP address.

Directive (http level)::

    geo [$address] $variable { default v; 127.0.0.1 a; 10.0.0.0/8 b; ::1 c;
                               delete 10.1.0.0/16; proxy 192.0.2.1; proxy_recursive;
                               include file; }
    geo $variable { ranges; 10.0.0.0-10.0.0.255 a; delete ...; default v; }

Theory of operation
-------------------
CIDR mode keeps nginx's two radix trees (IPv4, IPv6) as one dict per prefix length, so a
lookup is the longest matching prefix.  ``default`` is the ``0.0.0.0/0`` and ``::/0`` entry
(an empty value if never set); a repeated network replaces the value with nginx's
``duplicate network`` warning; ``delete`` removes one exact network.  Ranges mode keeps
nginx's layout: each range is cut into pieces per /16 block, pieces in a block are sorted,
an identical piece is a ``duplicate range`` warning, one inside an existing piece is
carved out of it, and any other overlap is an error; delete
removes exact pieces only.  Values are literal text.

The address is the client's (``$remote_addr`` as realip left it), or ``$address`` parsed
as an IPv4 or IPv6 address.  With ``proxy`` networks, a client among them is replaced by
the last address of ``X-Forwarded-For`` (``proxy_recursive``: walking back while the
address is itself a proxy), as ``ngx_http_get_forwarded_addr``.  An IPv4-mapped IPv6
address is looked up as IPv4.  An unparsable address is looked up as ``255.255.255.255``
in CIDR mode (nginx's INADDR_NONE) and gives the default in ranges mode; ranges mode looks
a non-mapped IPv6 address up as ``255.255.255.255`` too.  The value is cached in
``r.variables`` (nginx's ``r->variables[index]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import api
from engine.inet import INADDR_NONE, Net, conf_cidr, forwarded_addr, parse_addr, unmapped
from engine.modules.conf_block import include

__all__ = ["MODULE", "Geo"]



@dataclass(eq=False)
class Geo:
    name: str
    address: api.ComplexValue | None  # None: the client's address
    ranges: bool = False
    # CIDR mode: family -> prefix length -> network -> value
    trees: dict[int, dict[int, dict[int, str]]] = field(
        default_factory=lambda: {4: {}, 6: {}})
    lengths: dict[int, list[int]] = field(default_factory=dict)  # longest first
    # ranges mode: /16 block -> sorted [start, end, value] pieces (16-bit bounds)
    blocks: dict[int, list[list[object]]] = field(default_factory=dict)
    default: str | None = None  # ranges mode
    proxies: list[Net] = field(default_factory=list)
    proxy_recursive: bool = False

    def variable(self, r: api.Request) -> str:
        cached = r.variables.get(self.name)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        addr = self._addr(r)
        out = self._range_value(addr) if self.ranges else self._cidr_value(addr)
        r.variables[self.name] = out
        return out

    def _addr(self, r: api.Request) -> tuple[int, int] | None:
        text = r.conn.remote_addr if self.address is None else self.address.evaluate(r)
        addr = parse_addr(text)
        if addr is None:
            return None
        if self.proxies:
            xff = [v for n, v in r.headers_in if n == "x-forwarded-for"]
            found = forwarded_addr(addr, xff, self.proxies, self.proxy_recursive) \
                if xff else None
            if found is not None:
                addr = found[0]
        return unmapped(addr)

    def _cidr_value(self, addr: tuple[int, int] | None) -> str:
        family, n = addr if addr is not None else (4, INADDR_NONE)
        width = 32 if family == 4 else 128
        tree = self.trees[family]
        for plen in self.lengths[family]:
            value = tree[plen].get(n >> (width - plen) << (width - plen) if plen else 0)
            if value is not None:
                return value
        return ""

    def _range_value(self, addr: tuple[int, int] | None) -> str:
        if addr is not None:
            n = addr[1] if addr[0] == 4 else INADDR_NONE
            low = n & 0xFFFF
            for start, end, value in self.blocks.get(n >> 16, ()):
                if start <= low <= end:  # type: ignore[operator]
                    return value  # type: ignore[return-value]
        return self.default or ""


def _parse_cidr(cf: api.ConfContext, text: str) -> Net:
    """``ngx_http_geo_get_cidr``: ``ngx_ptocidr`` plus nginx's ``255.255.255.255``."""
    if text == "255.255.255.255":
        return 4, INADDR_NONE, 32
    return conf_cidr(cf, text, f'invalid network "{text}"')


def _cidr_add(cf: api.ConfContext, geo: Geo, net: Net, value: str, text: str) -> None:
    family, n, plen = net
    tree = geo.trees[family].setdefault(plen, {})
    old = tree.get(n)
    if old is not None:
        cf.warn(f'duplicate network "{text}", value: "{value}", old value: "{old}"')
    tree[n] = value


def _cidr_entry(cf: api.ConfContext, geo: Geo, args: tuple[str, ...]) -> None:
    if args[0] == "default":
        _cidr_add(cf, geo, (4, 0, 0), args[1], args[0])
        _cidr_add(cf, geo, (6, 0, 0), args[1], args[0])
        return
    delete = args[0] == "delete"
    text = args[1] if delete else args[0]
    family, n, plen = _parse_cidr(cf, text)
    if delete:
        tree = geo.trees[family].get(plen, {})
        if tree.pop(n, None) is None:
            cf.warn(f'no network "{text}" to delete')
        return
    _cidr_add(cf, geo, (family, n, plen), args[1], text)


def _pieces(start: int, end: int) -> list[tuple[int, int, int]]:
    """A range cut per /16 block: (block, first, last) with 16-bit bounds."""
    out = []
    for h in range(start >> 16, (end >> 16) + 1):
        s = start & 0xFFFF if h == start >> 16 else 0
        e = end & 0xFFFF if h == end >> 16 else 0xFFFF
        out.append((h, s, e))
    return out


def _range_entry(cf: api.ConfContext, geo: Geo, args: tuple[str, ...]) -> None:
    if args[0] == "default":
        if geo.default is not None:
            cf.warn(f'duplicate default geo range value: "{args[1]}", '
                    f'old value: "{geo.default}"')
        geo.default = args[1]
        return
    delete = args[0] == "delete"
    text = args[1] if delete else args[0]
    first, dash, last = text.partition("-")
    start, end = parse_addr(first), parse_addr(last)
    if not dash or start is None or end is None or start[0] != 4 or end[0] != 4 \
            or INADDR_NONE in (start[1], end[1]) or start[1] > end[1]:
        raise cf.error(f'invalid range "{text}"')
    if delete:
        missing = False
        for h, s, e in _pieces(start[1], end[1]):
            pieces = geo.blocks.get(h, [])
            hit = next((p for p in pieces if p[0] == s and p[1] == e), None)
            if hit is None:
                missing = True
            else:
                pieces.remove(hit)
        if missing:
            cf.warn(f'no address range "{text}" to delete')
        return
    for h, s, e in _pieces(start[1], end[1]):
        pieces = geo.blocks.setdefault(h, [])
        for piece in reversed(pieces):  # from the last, as nginx (it names that overlap)
            ps, pe = piece[0], piece[1]
            if e < ps:  # type: ignore[operator]
                continue
            if s > pe:  # type: ignore[operator]
                pieces.append([s, e, args[1]])
                pieces.sort(key=lambda p: p[0])  # type: ignore[arg-type,return-value]
                break
            if (s, e) == (ps, pe):
                cf.warn(f'duplicate range "{text}", value: "{args[1]}", '
                        f'old value: "{piece[2]}"')
                piece[2] = args[1]
                break
            if ps <= s and e <= pe:  # type: ignore[operator]
                # inside an existing piece: carved out of it (nginx 1.22 does so)
                pieces.remove(piece)
                pieces.extend(p for p in ([ps, s - 1, piece[2]], [s, e, args[1]],  # type: ignore[operator]
                                          [e + 1, pe, piece[2]]) if p[0] <= p[1])  # type: ignore[operator]
                pieces.sort(key=lambda p: p[0])  # type: ignore[arg-type,return-value]
                break
            raise cf.error(f'range "{text}" overlaps "{h >> 8}.{h & 0xFF}.{ps >> 8}.'  # type: ignore[operator]
                           f'{ps & 0xFF}-{h >> 8}.{h & 0xFF}.{pe >> 8}.{pe & 0xFF}"')  # type: ignore[operator]
        else:
            pieces.append([s, e, args[1]])
            pieces.sort(key=lambda p: p[0])  # type: ignore[arg-type,return-value]


def _entry(cf: api.ConfContext, st: api.Statement, geo: Geo) -> None:
    """nginx's ``ngx_http_geo`` block handler."""
    if st.kind is api.Token.BLOCK_START:
        raise cf.error('unexpected "{"')
    args = cf.args
    if len(args) == 1 and args[0] == "ranges":
        if any(geo.trees[4].values()) or any(geo.trees[6].values()):
            raise cf.error('the "ranges" directive must be the first directive inside '
                           '"geo" block')
        geo.ranges = True
        return
    if len(args) == 1 and args[0] == "proxy_recursive":
        geo.proxy_recursive = True
        return
    if len(args) != 2:
        raise cf.error("invalid number of the geo parameters")
    if args[0] == "include":
        include(cf, lambda cf, st: _entry(cf, st, geo))
        return
    if args[0] == "proxy":
        family, n, plen = _parse_cidr(cf, args[1])
        geo.proxies.append((family, n, plen))
        return
    if geo.ranges:
        _range_entry(cf, geo, args)
    else:
        _cidr_entry(cf, geo, args)


def _geo_block(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    args = cf.args
    address: api.ComplexValue | None = None
    name = args[1]
    if len(args) == 3:
        if not name.startswith("$"):
            raise cf.error(f'invalid variable name "{name}"')
        address = cf.compile("${" + name[1:] + "}")
        name = args[2]
    name = cf.variable_name(name)
    geo = Geo(name=name, address=address)
    cf.parse_block(cf.ctx, handler=lambda cf, st: _entry(cf, st, geo))
    for family in (4, 6):  # an empty default where none was given
        geo.trees[family].setdefault(0, {}).setdefault(0, "")
        geo.lengths[family] = sorted((p for p, t in geo.trees[family].items() if t),
                                     reverse=True)
    cf.add_variable(name, geo.variable)


MODULE = api.Module(
    name="http_geo",
    directives=[api.Directive("geo", api.Ctx.HTTP, api.Args.TAKE12, _geo_block,
                              api.ConfLevel.MAIN, block=True)],
)
