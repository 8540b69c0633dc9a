"""``charset`` (``ngx_http_charset_filter_module``): the charset parameter and byte recoding.

Directives: ``charset name|$var|off`` (http, server, location, if), ``source_charset
name|$var``, ``override_charset on|off``, ``charset_types mime...`` and ``charset_map src dst
{...}`` (http; the maps Debian ships in /etc/nginx/koi-utf, koi-win, win-utf load as they are).

Charsets are known by name, case-insensitively; a name is written out as it was spelt the
first time the configuration mentioned it (``charset``, ``source_charset`` or
``charset_map``, in file order), as nginx's ``ngx_http_add_charset`` keeps the first
spelling.  A ``$var`` value is looked up per request: an unknown name is a charset without
maps ("no charset" in nginx) and is written out as the variable gave it; a variable that is
not found fails the request (nginx returns NGX_ERROR from the header filter: the connection
is closed).

Header filter, as nginx's ``ngx_http_charset_header_filter``:

* destination: for the main request, ``charset`` if the response has a Content-Type and
  either no charset yet and a type in ``charset_types``, or a charset and
  ``override_charset on``; for a subrequest, its main request's charset (no type check);
* source: the response's own charset, else ``source_charset`` (off by default);
* no source: only ``; charset=dst`` is set.  Same charset: the same.  Different ones with a
  ``charset_map`` between them (either direction): ``; charset=dst`` and the body is
  recoded; a single-byte to single-byte map keeps the length (so ranges, which slice before
  recoding, stay correct), a map to or from UTF-8 clears Content-Length (ETag and
  Last-Modified stay, as in nginx).  No map: ``no "charset_map" between the charsets "src"
  and "dst"`` is logged and the response goes out unchanged;
* the charset parameter is never set on a 301 or 302 (nginx: "NN 4.x uses the redirect's
  charset for the next page"), and never on a subrequest (its bytes are recoded only).

Body filter: single-byte maps are a ``bytes.translate`` table; to UTF-8 each byte maps to
its UTF-8 sequence; from UTF-8, a character split between buffers is kept for the next
buffers, characters without a byte become ``&#N;`` and invalid sequences ``?`` exactly as
nginx's ``ngx_utf8_decode`` reads them.

Not here yet: the ``X-Accel-Charset`` override an upstream may send
(``r->headers_out.override_charset`` in nginx), which belongs with the proxy module.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from engine import api

__all__ = ["MODULE"]

_DEFAULT_TYPES = ("text/html", "text/xml", "text/plain", "text/vnd.wap.wml",
                  "application/javascript", "application/rss+xml")


def _key(name: str) -> str:
    """The case-insensitive identity of a charset name (ASCII folding, as ngx_strcasecmp)."""
    return name.encode("latin-1", "replace").lower().decode("latin-1")


@dataclass(frozen=True)
class CharsetVar:
    """``charset $name`` / ``source_charset $name``: resolved per request."""

    name: str


#: A charset setting: a known charset's key, a variable, or off (None).
Setting = str | CharsetVar | None


@dataclass
class CharsetLocConf:
    charset: Setting | api.Unset = api.UNSET
    source_charset: Setting | api.Unset = api.UNSET
    override_charset: bool | api.Unset = api.UNSET
    types: frozenset[str] | api.Unset = api.UNSET

    def merge(self, parent: "CharsetLocConf") -> None:
        self.charset = api.inherit(self.charset, parent.charset, None)
        self.source_charset = api.inherit(self.source_charset, parent.source_charset, None)
        self.override_charset = api.inherit(self.override_charset, parent.override_charset,
                                            False)
        self.types = api.inherit(self.types, parent.types, frozenset(_DEFAULT_TYPES))


@dataclass
class CharsetMap:
    """One ``charset_map``: byte -> byte (single-byte pair) or byte -> UTF-8 sequence."""

    src: str
    dst: str
    to_utf8: bool
    pairs: dict[int, bytes] = field(default_factory=dict)


@dataclass
class CharsetMainConf:
    #: every charset the configuration names: key -> first spelling
    names: dict[str, str] = field(default_factory=dict)
    maps: dict[tuple[str, str], CharsetMap] = field(default_factory=dict)
    #: (src, dst) -> its recoding, or None without a map: built once, on first use
    recoders: dict[tuple[str, str], "Recoder | None"] = field(default_factory=dict)
    next_header: Callable[[api.Request], int] | None = None
    next_body: Callable[[api.Request, list[api.Buf]], Awaitable[None]] | None = None

    def merge(self, parent: Any) -> None:
        pass

    def add_charset(self, name: str) -> str:
        """Register ``name`` (``ngx_http_add_charset``); returns its key."""
        key = _key(name)
        self.names.setdefault(key, name)
        return key

    def recoder(self, src: str, dst: str) -> "Recoder | None":
        """The recoding from ``src`` to ``dst`` (either direction of a map), or None."""
        key = (src, dst)
        if key in self.recoders:
            return self.recoders[key]
        m = self.maps.get(key)
        if m is not None:
            rec: Recoder | None = Recoder(m, forward=True)
        else:
            m = self.maps.get((dst, src))
            rec = Recoder(m, forward=False) if m is not None else None
        self.recoders[key] = rec
        return rec


class Recoder:
    """A compiled recoding; ``changes_length`` when UTF-8 is on either side."""

    __slots__ = ("table", "utf8_out", "utf8_in", "changes_length")

    def __init__(self, m: CharsetMap, forward: bool) -> None:
        self.table: bytes | None = None
        self.utf8_out: list[bytes] | None = None
        self.utf8_in: dict[int, bytes] | None = None
        if not m.to_utf8:
            # nginx: bytes below 0x80 pass, unmapped ones above become "?"
            table = bytearray(i if i < 0x80 else 0x3F for i in range(256))
            for a, b in m.pairs.items():
                if forward:
                    table[a] = b[0]
                else:
                    table[b[0]] = a
            self.table = bytes(table)
        elif forward:
            out = [bytes([i]) if i < 0x80 else b"?" for i in range(256)]
            for a, b in m.pairs.items():
                out[a] = b
            self.utf8_out = out
        else:
            self.utf8_in = {_decode_one(b): bytes([a]) for a, b in m.pairs.items()}
        self.changes_length = m.to_utf8


class CharsetCtx:
    """A request's recoding; in a main request also what its subrequests recode into."""

    __slots__ = ("recoder", "pending", "charset", "name")

    def __init__(self, recoder: Recoder | None, charset: str | None, name: str) -> None:
        self.recoder = recoder
        self.charset = charset  # the destination's key, None if the name is unknown
        self.name = name
        self.pending = b""  # an incomplete UTF-8 sequence at the end of the last buffer


# --- header filter ----------------------------------------------------------------------------

class _Error(Exception):
    """A charset variable was not found: the request fails (nginx's NGX_ERROR)."""


#: (key or None for a name without maps, the name as written out)
_Charset = tuple[str | None, str]


def charset_header_filter(r: api.Request) -> int:
    mcf: CharsetMainConf = r.main_conf[MODULE]
    nxt = mcf.next_header
    assert nxt is not None
    conf: CharsetLocConf = MODULE.loc(r)
    try:
        dest = _destination(r, mcf, conf) if r is r.main else _sub_destination(r, mcf)
        if dest is None:
            return nxt(r)
        source = _source(r, mcf, conf)
    except _Error:
        return api.ERROR
    (charset, dst), ho = dest, r.headers_out
    if source is None:
        _set_charset(r, dst)
        return nxt(r)
    src_key, src = source
    if charset is None or src_key is None:
        # nginx compares the names over the destination's length (ngx_strncasecmp)
        if src_key != charset or _key(src[:len(dst)]) != _key(dst) or len(src) < len(dst):
            return _no_map(r, nxt, src, dst)
        _set_charset(r, dst)
        return nxt(r)
    if src_key == charset:
        _set_charset(r, dst)
        return nxt(r)
    if ho.content_encoding:
        return nxt(r)
    recoder = mcf.recoder(src_key, charset)
    if recoder is None:
        return _no_map(r, nxt, src, dst)
    _set_charset(r, dst)
    r.ctx[MODULE] = CharsetCtx(recoder, charset, mcf.names[charset])
    if recoder.changes_length and r is r.main:
        ho.clear_length_and_ranges()
    return nxt(r)


def _destination(r: api.Request, mcf: CharsetMainConf, conf: CharsetLocConf) -> _Charset | None:
    """The main request's destination charset, or None if the filter declines."""
    ho = r.headers_out
    if not ho.content_type or conf.charset is None:
        return None
    if ho.charset:
        if not conf.override_charset:
            return None
    elif not api.type_matches(ho.content_type, conf.types):  # type: ignore[arg-type]
        return None
    return _resolve(r, mcf, conf.charset)  # type: ignore[arg-type]


def _sub_destination(r: api.Request, mcf: CharsetMainConf) -> _Charset | None:
    """A subrequest is recoded into its main request's charset (no type check)."""
    main_ctx: CharsetCtx | None = r.main.ctx.get(MODULE)
    if main_ctx is not None:
        return main_ctx.charset, main_ctx.name
    name = r.main.headers_out.charset
    if not name:
        return None
    key = _key(name)
    charset = key if key in mcf.names else None
    r.main.ctx[MODULE] = CharsetCtx(None, charset, name)
    return charset, name


def _source(r: api.Request, mcf: CharsetMainConf, conf: CharsetLocConf) -> _Charset | None:
    """The charset the body is in; None when there is none (source_charset off)."""
    if r.headers_out.charset:
        name = r.headers_out.charset
        key = _key(name)
        return (key if key in mcf.names else None), name
    if conf.source_charset is None:
        return None
    return _resolve(r, mcf, conf.source_charset)  # type: ignore[arg-type]


def _resolve(r: api.Request, mcf: CharsetMainConf, setting: str | CharsetVar) -> _Charset:
    if isinstance(setting, str):
        return setting, mcf.names[setting]
    value = api.variable(r, setting.name)
    if value is None:
        raise _Error
    key = _key(value)
    return (key if key in mcf.names else None), value


def _set_charset(r: api.Request, name: str) -> None:
    """``ngx_http_set_charset``: only on the main request, never on a 301/302."""
    if r is not r.main:
        return
    ho = r.headers_out
    ho.charset = None if ho.status in (301, 302) else (name or None)


def _no_map(r: api.Request, nxt: Callable[[api.Request], int], src: str, dst: str) -> int:
    api.log_error(r, logging.ERROR,
                  f'no "charset_map" between the charsets "{src}" and "{dst}"')
    return nxt(r)


# --- body filter ------------------------------------------------------------------------------

async def charset_body_filter(r: api.Request, chain: list[api.Buf]) -> None:
    mcf: CharsetMainConf = r.main_conf[MODULE]
    nxt = mcf.next_body
    assert nxt is not None
    ctx: CharsetCtx | None = r.ctx.get(MODULE)
    if ctx is None or ctx.recoder is None:
        await nxt(r, chain)
        return
    out: list[api.Buf] = []
    for b in chain:
        if len(b):
            if b.file is None:
                out.append(api.Buf(_recode(ctx, bytes(b.data))))  # type: ignore[arg-type]
            else:
                # a piece at a time, each passed on: a large file is never held whole
                for _, data in b.file_pieces():
                    out.append(api.Buf(_recode(ctx, data)))
                    await nxt(r, out)
                    out = []
        if b.last:
            ctx.pending = b""  # nginx drops a sequence cut by the end of the body
        if b.last or b.flush:
            out.append(api.Buf(flush=b.flush, last=b.last, last_in_chain=b.last_in_chain))
    if out:
        await nxt(r, out)


def _recode(ctx: CharsetCtx, data: bytes) -> bytes:
    rec = ctx.recoder
    assert rec is not None
    if rec.table is not None:
        return data.translate(rec.table)
    if rec.utf8_out is not None:
        out = rec.utf8_out
        return b"".join([out[c] for c in data])
    data = ctx.pending + data
    out, ctx.pending = _from_utf8(rec, data)
    return out


_ASCII = re.compile(rb"[\x00-\x7f]+")


def _from_utf8(rec: Recoder, data: bytes) -> tuple[bytes, bytes]:
    """Recode UTF-8 bytes as nginx does (ngx_utf8_decode): ASCII passes, an invalid
    sequence (including the byte that broke it) becomes "?", a character without a byte
    ``&#N;``.  Returns the output and an incomplete sequence left at the end."""
    table = rec.utf8_in
    assert table is not None
    out: list[bytes] = []
    pos, n = 0, len(data)
    while pos < n:
        m = _ASCII.match(data, pos)
        if m:
            out.append(m.group())
            pos = m.end()
            continue
        u = data[pos]
        if u >= 0xF0:
            u, valid, length = u & 0x07, 0xFFFF, 3
        elif u >= 0xE0:
            u, valid, length = u & 0x0F, 0x7FF, 2
        elif u >= 0xC2:
            u, valid, length = u & 0x1F, 0x7F, 1
        else:
            out.append(b"?")
            pos += 1
            continue
        if n - pos - 1 < length:
            return b"".join(out), data[pos:]
        pos += 1
        ok = True
        while length:
            i = data[pos]
            pos += 1
            if i < 0x80:
                ok = False
                break
            u = (u << 6) | (i & 0x3F)
            length -= 1
        if not ok or u <= valid or u > 0x10FFFF:
            out.append(b"?")
            continue
        out.append(table.get(u) or b"&#%d;" % u)
    return b"".join(out), b""


def _decode_one(seq: bytes) -> int:
    text = seq.decode("utf-8", "replace")
    return ord(text[0]) if text else 0xFFFD


# --- directives -------------------------------------------------------------------------------

def _charset_value(cf: api.ConfContext, cmd: api.Directive, conf: CharsetLocConf) -> None:
    attr = "charset" if cmd.name == "charset" else "source_charset"
    if getattr(conf, attr) is not api.UNSET:
        raise cf.error(f'"{cmd.name}" directive is duplicate')
    value = cf.args[1]
    if value == "off" and cmd.name == "charset":
        setattr(conf, attr, None)
        return
    if value.startswith("$"):
        cf.compile(value)  # an unknown variable fails start-up, as nginx's variable index
        setattr(conf, attr, CharsetVar(value[1:]))
        return
    setattr(conf, attr, cf.cycle.main_conf[MODULE].add_charset(value))


def _charset_map(cf: api.ConfContext, cmd: api.Directive, conf: Any) -> None:
    mcf: CharsetMainConf = cf.cycle.main_conf[MODULE]
    src, dst = mcf.add_charset(cf.args[1]), mcf.add_charset(cf.args[2])
    if src == dst:
        raise cf.error(f'"charset_map" between the same charsets "{cf.args[1]}" and '
                       f'"{cf.args[2]}"')
    if (src, dst) in mcf.maps or (dst, src) in mcf.maps:
        raise cf.error(f'duplicate "charset_map" between "{cf.args[1]}" and "{cf.args[2]}"')
    cmap = CharsetMap(src, dst, to_utf8=dst == "utf-8")
    mcf.maps[(src, dst)] = cmap

    def entry(cf: api.ConfContext, st: api.Statement) -> None:
        if st.kind is not api.Token.DIRECTIVE or len(st.words) != 2:
            raise cf.error("invalid parameters number")
        a, b = st.words
        try:
            code = int(a, 16)
            value = bytes.fromhex(b)
        except ValueError:
            raise cf.error(f'invalid value "{a if not _hex(a) else b}"') from None
        if len(a) != 2 or code > 255 or not value or (not cmap.to_utf8 and len(value) != 1):
            raise cf.error(f'invalid value "{b}"')
        cmap.pairs[code] = value

    cf.parse_block(api.Ctx.HTTP, handler=entry)


def _hex(s: str) -> bool:
    try:
        int(s, 16)
    except ValueError:
        return False
    return True


def _check_maps(cf: api.ConfContext, mcf: CharsetMainConf) -> None:
    """nginx refuses, at start-up, a location whose charsets have no map between them."""
    stack = [srv.root for srv in cf.cycle.servers]
    while stack:
        loc = stack.pop()
        stack.extend(loc.exact.values())
        stack.extend(loc.prefixes)
        stack.extend(loc.regexes)
        stack.extend(loc.named.values())
        stack.extend(loc.ifs)
        conf: CharsetLocConf = loc.loc_conf[MODULE]
        src, dst = conf.source_charset, conf.charset
        if (isinstance(src, str) and isinstance(dst, str) and src != dst
                and mcf.recoder(src, dst) is None):
            raise api.ConfigError(f'no "charset_map" between the charsets '
                                  f'"{mcf.names[src]}" and "{mcf.names[dst]}"')


def _postconfiguration(cf: api.ConfContext) -> None:
    mcf: CharsetMainConf = cf.cycle.main_conf[MODULE]
    _check_maps(cf, mcf)
    # a subrequest is recoded only from its source charset: from source_charset, or from
    # its response's own charset (the engine runs the filters for a response with one)
    cf.push_filters(mcf, charset_header_filter, charset_body_filter,
                    subrequest_inert=lambda lc: lc[MODULE].source_charset is None)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_charset_filter",
    directives=[
        api.Directive("charset", _HSL | api.Ctx.LIF, api.Args.TAKE1, _charset_value),
        api.Directive("source_charset", _HSL | api.Ctx.LIF, api.Args.TAKE1, _charset_value),
        api.Directive("override_charset", _HSL | api.Ctx.LIF, api.Args.FLAG,
                      api.set_flag("override_charset")),
        api.Directive("charset_types", _HSL, api.Args.ONE_MORE, api.set_types("types")),
        api.Directive("charset_map", api.Ctx.HTTP, api.Args.TAKE2, _charset_map,
                      api.ConfLevel.MAIN, block=True),
    ],
    main_conf=CharsetMainConf,
    loc_conf=CharsetLocConf,
    postconfiguration=_postconfiguration,
)
