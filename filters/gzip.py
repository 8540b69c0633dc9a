"""``gzip`` (``ngx_http_gzip_filter_module``): compress responses on the fly.

Directives: ``gzip``, ``gzip_types`` (text/html always; ``*``), ``gzip_min_length`` (20),
``gzip_comp_level`` (1), ``gzip_vary``, ``gzip_proxied``, ``gzip_http_version`` (1.1),
``gzip_disable`` (regexes, ``msie6``); ``gzip_buffers`` is accepted (trinx's zlib stream
needs no buffer settings).

The filter sits below the postpone stage: it compresses the whole composed page (SSI
includes and all) as one stream.  Header filter, as nginx's: a main request answering 200,
403 or 404, with no Content-Encoding, a length unknown or at least ``gzip_min_length``, a
matching type and a body, whose client accepts gzip (nginx's own parsing of
Accept-Encoding, ``q=0`` refused), not proxied in a way ``gzip_proxied`` excludes, not a
``gzip_disable`` user agent: ``Content-Encoding: gzip``, no Content-Length or Accept-Ranges,
a weak ETag; ``Vary: Accept-Encoding`` with ``gzip_vary`` whenever the response was
eligible, compressed or not.  Body filter: zlib's gzip stream (header, deflate, trailer:
nginx 1.22 also lets zlib write them, so the header's XFL byte follows the level); a flush buffer becomes a zlib sync flush, so streaming keeps working;
file buffers are read in 64 KiB pieces, with a checkpoint between them.
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from engine import api
from parsers.httpdate import parse_http_date

__all__ = ["MODULE", "accepts_gzip"]

_PROXIED = ("off", "expired", "no-cache", "no-store", "private", "no_last_modified",
            "no_etag", "auth", "any")


@dataclass
class GzipLocConf:
    enable: bool | api.Unset = api.UNSET
    types: frozenset[str] | api.Unset = api.UNSET
    min_length: int | api.Unset = api.UNSET
    level: int | api.Unset = api.UNSET
    vary: bool | api.Unset = api.UNSET
    proxied: frozenset[str] | api.Unset = api.UNSET
    http_version: tuple[int, int] | api.Unset = api.UNSET
    disable: list["re.Pattern[str]"] | api.Unset = api.UNSET
    disable_msie6: bool | api.Unset = api.UNSET
    buffers: tuple[str, str] | api.Unset = api.UNSET

    def merge(self, parent: "GzipLocConf") -> None:
        self.enable = api.inherit(self.enable, parent.enable, False)
        self.types = api.inherit(self.types, parent.types, frozenset(["text/html"]))
        self.min_length = api.inherit(self.min_length, parent.min_length, 20)
        self.level = api.inherit(self.level, parent.level, 1)
        self.vary = api.inherit(self.vary, parent.vary, False)
        self.proxied = api.inherit(self.proxied, parent.proxied, frozenset(["off"]))
        self.http_version = api.inherit(self.http_version, parent.http_version, (1, 1))
        self.disable = api.inherit(self.disable, parent.disable, [])
        self.disable_msie6 = api.inherit(self.disable_msie6, parent.disable_msie6, False)
        self.buffers = api.inherit(self.buffers, parent.buffers, ("32", "4k"))


@dataclass
class GzipMainConf:
    next_header: Callable[[api.Request], int] | None = None
    next_body: Callable[[api.Request, list[api.Buf]], Awaitable[None]] | None = None

    def merge(self, parent: Any) -> None:
        pass


class GzipCtx:
    __slots__ = ("z",)

    def __init__(self, level: int) -> None:
        self.z = zlib.compressobj(level, zlib.DEFLATED, 31, 8)  # 31: gzip wrapper


# --- header filter ----------------------------------------------------------------------------

def gzip_header_filter(r: api.Request) -> int:
    mcf: GzipMainConf = r.main_conf[MODULE]
    conf: GzipLocConf = MODULE.loc(r)
    ho = r.headers_out
    if (not conf.enable or ho.status not in (200, 403, 404)
            or ho.content_encoding or ho.get("Content-Encoding")
            or 0 <= ho.content_length < conf.min_length  # type: ignore[operator]
            or not api.type_matches(ho.content_type, conf.types)  # type: ignore[arg-type]
            or r.header_only or r is not r.main):
        return mcf.next_header(r)  # type: ignore[misc]
    if conf.vary:
        r.gzip_vary = True
    if not _gzip_ok(r, conf):
        return mcf.next_header(r)  # type: ignore[misc]
    r.ctx[MODULE] = GzipCtx(conf.level)  # type: ignore[arg-type]
    ho.add("Content-Encoding", "gzip")
    ho.content_encoding = "gzip"
    ho.clear_length_and_ranges()
    if ho.etag and ho.etag.startswith('"'):
        ho.etag = "W/" + ho.etag
    return mcf.next_header(r)  # type: ignore[misc]


def accepts_gzip(value: str) -> bool:
    """nginx's ``ngx_http_gzip_accept_encoding`` (plus its ``gzip,`` fast path)."""
    if value.startswith("gzip,"):
        return True
    low = value.lower()
    start = 0
    while True:
        p = low.find("gzip", start)
        if p < 0:
            return False
        if p == 0 or low[p - 1] in ", ":
            break
        start = p + 4
    i, n = p + 4, len(value)
    while i < n:
        c = value[i]
        i += 1
        if c == ",":
            return True
        if c == ";":
            break
        if c != " ":
            return False
    else:
        return True
    while i < n:
        c = value[i]
        i += 1
        if c in "qQ":
            break
        if c != " ":
            return False
    else:
        return True
    if i + 2 > n or value[i] != "=":
        return False
    return _quantity(value[i + 1:]) != 0


def _quantity(s: str) -> int:
    """``ngx_http_gzip_quantity``, digits added up as nginx does (``q=0.5`` is 5, not 500:
    only zero and malformed values, and anything above 1 such as ``1.5``, refuse)."""
    if not s or s[0] not in "01":
        return 0
    q = (ord(s[0]) - 48) * 100
    if len(s) == 1 or s[1] in ", ":
        return q
    if s[1] != ".":
        return 0
    n = 0
    for c in s[2:]:
        if c in ", ":
            break
        if not c.isdigit():
            return 0
        q += ord(c) - 48
        n += 1
    if q > 100 or n > 3:
        return 0
    return q


def _gzip_ok(r: api.Request, conf: GzipLocConf) -> bool:
    """``ngx_http_gzip_ok``: the client takes gzip and nothing in the config forbids it."""
    ae = r.headers.get("accept-encoding")
    if ae is None or len(ae) < 4 or not accepts_gzip(ae):
        return False
    ua = r.headers.get("user-agent", "")
    if conf.disable_msie6 and _msie6(ua):
        return False
    if _version(r.http_version) < conf.http_version:  # type: ignore[operator]
        return False
    if "via" in r.headers and not _proxied_ok(r, conf.proxied):  # type: ignore[arg-type]
        return False
    for rx in conf.disable:  # type: ignore[union-attr]
        if ua and rx.search(ua):
            return False
    return True


def _proxied_ok(r: api.Request, p: frozenset[str]) -> bool:
    if "off" in p:
        return False
    if "any" in p:
        return True
    if "auth" in p and "authorization" in r.headers:
        return True
    ho = r.headers_out
    expires = ho.get("Expires")
    if expires is not None:
        if "expired" not in p:
            return False
        when = parse_http_date(expires.encode("latin-1", "replace"))
        return when is not None and when < int(time.time())
    cc = ho.get("Cache-Control")
    if cc is not None:
        return any(flag in p and flag in cc for flag in ("no-cache", "no-store", "private"))
    if "no_last_modified" in p and ho.last_modified >= 0:
        return False
    if "no_etag" in p and ho.etag:
        return False
    return True


def _msie6(ua: str) -> bool:
    i = ua.find("MSIE ")
    return i >= 0 and ua[i + 5:i + 6] in "23456" and "SV1" not in ua and "Opera" not in ua


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


# --- body filter ------------------------------------------------------------------------------

async def gzip_body_filter(r: api.Request, chain: list[api.Buf]) -> None:
    mcf: GzipMainConf = r.main_conf[MODULE]
    nxt = mcf.next_body
    assert nxt is not None
    ctx: GzipCtx | None = r.ctx.get(MODULE)
    if ctx is None:
        await nxt(r, chain)
        return
    out: list[api.Buf] = []
    for b in chain:
        if len(b):
            if b.file is None:
                _deflate(ctx, bytes(b.data), out)  # type: ignore[arg-type]
            else:
                for _, data in b.file_pieces():
                    _deflate(ctx, data, out)
                    if out:
                        await nxt(r, out)
                        out = []
        if b.last:
            out.append(api.Buf(ctx.z.flush(zlib.Z_FINISH), last=True))
        elif b.flush:
            out.append(api.Buf(ctx.z.flush(zlib.Z_SYNC_FLUSH), flush=True))
    if out:
        await nxt(r, out)


def _deflate(ctx: GzipCtx, data: bytes, out: list[api.Buf]) -> None:
    compressed = ctx.z.compress(data)
    if compressed:
        out.append(api.Buf(compressed))


# --- directives -------------------------------------------------------------------------------

def _level(cf: api.ConfContext, cmd: api.Directive, conf: GzipLocConf) -> None:
    api.set_num("level")(cf, cmd, conf)
    if not 1 <= conf.level <= 9:  # type: ignore[operator]
        raise cf.error("value must be between 1 and 9")


def _disable(cf: api.ConfContext, cmd: api.Directive, conf: GzipLocConf) -> None:
    if conf.disable is api.UNSET:
        conf.disable = []
    for word in cf.args[1:]:
        if word == "msie6":
            conf.disable_msie6 = True
            continue
        conf.disable.append(  # type: ignore[union-attr]
            api.regex_compile(cf, word, caseless=True, named_variables=False))


def _buffers(cf: api.ConfContext, cmd: api.Directive, conf: GzipLocConf) -> None:
    if api.parse_size(cf.args[2]) is None or not cf.args[1].isdigit():
        raise cf.error(f'invalid value "{" ".join(cf.args[1:])}"')
    conf.buffers = (cf.args[1], cf.args[2])


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.push_filters(cf.cycle.main_conf[MODULE], gzip_header_filter, gzip_body_filter,
                    subrequest_inert=api.ALWAYS)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_gzip_filter",
    directives=[
        api.Directive("gzip", _HSL | api.Ctx.LIF, api.Args.FLAG, api.set_flag("enable")),
        api.Directive("gzip_types", _HSL, api.Args.ONE_MORE, api.set_types("types")),
        api.Directive("gzip_min_length", _HSL, api.Args.TAKE1, api.set_size("min_length")),
        api.Directive("gzip_comp_level", _HSL, api.Args.TAKE1, _level),
        api.Directive("gzip_vary", _HSL, api.Args.FLAG, api.set_flag("vary")),
        api.Directive("gzip_proxied", _HSL, api.Args.ONE_MORE,
                      api.set_bitmask("proxied", _PROXIED)),
        api.Directive("gzip_http_version", _HSL, api.Args.TAKE1,
                      api.set_enum("http_version", {"1.0": (1, 0), "1.1": (1, 1)})),
        api.Directive("gzip_disable", _HSL, api.Args.ONE_MORE, _disable),
        api.Directive("gzip_buffers", _HSL, api.Args.TAKE2, _buffers),
    ],
    main_conf=GzipMainConf,
    loc_conf=GzipLocConf,
    postconfiguration=_postconfiguration,
)
