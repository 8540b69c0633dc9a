"""``sub_filter`` (``ngx_http_sub_filter_module``): replace strings in a response body.

Directives: ``sub_filter string replacement`` (up to 255 per level; a level with any does
not inherit the outer ones), ``sub_filter_once`` (on), ``sub_filter_types`` (text/html
always; ``*``), ``sub_filter_last_modified`` (off).  Semantics from
reference/subrequests.md §9: ASCII case-insensitive search, scanning left to right without
overlap; at a position the patterns are tried in configuration order and the first that
matches wins; a replaced text is never rescanned; with ``once`` each pattern applies at most
once.  Search strings with variables are evaluated when the header passes (empty ones are
dropped; none left: the response is untouched), replacements on first use.

Matching (``SubMatcher``, sans-IO): a bytes regex alternating the live patterns in order
finds the leftmost, first-in-order match (Python's alternation semantics are exactly
nginx's rule here) at C speed; only the last (longest pattern - 1) bytes of what has
arrived can hold a partial match, so only they are examined byte by byte, and only they are
held back for the next buffer.  When the first pattern that fits a position is cut by the
end of the data, the filter waits for more, as nginx does; at the end of the body a partial
match goes out unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from engine import api

__all__ = ["MODULE", "SubMatcher"]

MAX_PATTERNS = 255
_CHUNK = 1 << 16


class SubMatcher:
    """Resumable multi-pattern replacement over a byte stream (any split, same output)."""

    def __init__(self, patterns: list[bytes], replace: Callable[[int], bytes],
                 once: bool) -> None:
        self.patterns = [p.lower() for p in patterns]
        self.replace = replace  # pattern index -> replacement bytes
        self.once = once
        self.live = list(range(len(patterns)))
        self.pending = b""
        self._compile()

    def _compile(self) -> None:
        live = self.live
        self.maxlen = max((len(self.patterns[i]) for i in live), default=0)
        self.rx = re.compile(b"|".join(b"(" + re.escape(self.patterns[i]) + b")"
                                       for i in live), re.IGNORECASE) if live else None

    def feed(self, data: bytes, last: bool = False) -> bytes:
        """Bytes decided so far; the undecided tail (< longest pattern) is kept."""
        work = self.pending + data if self.pending else data
        self.pending = b""
        out: list[bytes] = []
        pos, n = 0, len(work)
        while self.rx is not None and pos < n:
            m = self.rx.search(work, pos)
            tail = max(pos, n - self.maxlen + 1)
            if m is not None and m.start() < tail:
                pos = self._apply(work, pos, m, out)
                continue
            # the tail may hold a partial match: look at its positions one by one
            stop = m.start() if m is not None else n
            held = self._partial(work, tail, stop)
            if held is not None:
                if last:
                    # nginx: at the end of the body, from the first position where the first
                    # fitting pattern is cut short, the rest goes out unchanged
                    out.append(work[pos:])
                    return b"".join(out)
                out.append(work[pos:held])
                self.pending = work[held:]
                return b"".join(out)
            if m is None:
                break
            pos = self._apply(work, pos, m, out)
        out.append(work[pos:])
        return b"".join(out)

    def _apply(self, work: bytes, pos: int, m: re.Match[bytes], out: list[bytes]) -> int:
        k = self.live[m.lastindex - 1]  # type: ignore[operator]
        out.append(work[pos:m.start()])
        out.append(self.replace(k))
        if self.once:
            self.live.remove(k)
            self._compile()
        return m.end()

    def _partial(self, work: bytes, start: int, stop: int) -> int | None:
        """The first position in [start, stop] where the first pattern that fits is cut by
        the end of the data, or None."""
        n = len(work)
        low = work[start:].lower()
        for i in range(start, min(stop, n - 1) + 1):
            rest = low[i - start:]
            for k in self.live:
                p = self.patterns[k]
                if len(p) <= len(rest):
                    if rest.startswith(p):
                        break  # a full match of an earlier pattern: not partial here
                    continue
                if p.startswith(rest):
                    return i
        return None

    def finish(self) -> bytes:
        """End of body: a held partial match goes out unchanged."""
        out, self.pending = self.pending, b""
        return out


@dataclass
class SubLocConf:
    pairs: list[tuple[api.ComplexValue, api.ComplexValue]] | api.Unset = api.UNSET
    once: bool | api.Unset = api.UNSET
    types: frozenset[str] | api.Unset = api.UNSET
    last_modified: bool | api.Unset = api.UNSET

    def merge(self, parent: "SubLocConf") -> None:
        self.pairs = api.inherit(self.pairs, parent.pairs, [])
        self.once = api.inherit(self.once, parent.once, True)
        self.types = api.inherit(self.types, parent.types, frozenset(["text/html"]))
        self.last_modified = api.inherit(self.last_modified, parent.last_modified, False)


@dataclass
class SubMainConf:
    next_header: Callable[[api.Request], int] | None = None
    next_body: Callable[[api.Request, list[api.Buf]], Awaitable[None]] | None = None

    def merge(self, parent: Any) -> None:
        pass


def sub_header_filter(r: api.Request) -> int:
    mcf: SubMainConf = r.main_conf[MODULE]
    conf: SubLocConf = MODULE.loc(r)
    ho = r.headers_out
    pairs: list[tuple[api.ComplexValue, api.ComplexValue]] = conf.pairs  # type: ignore
    if (not pairs or ho.content_length == 0
            or not api.type_matches(ho.content_type, conf.types)):  # type: ignore[arg-type]
        return mcf.next_header(r)  # type: ignore[misc]
    searches, replacements = [], []
    for search, replacement in pairs:
        value = search.evaluate(r)
        if value:
            searches.append(value.encode("latin-1", "replace"))
            replacements.append(replacement)
    if not searches:
        return mcf.next_header(r)  # type: ignore[misc]
    cache: dict[int, bytes] = {}

    def replace(k: int) -> bytes:
        value = cache.get(k)
        if value is None:
            value = cache[k] = replacements[k].evaluate(r).encode("latin-1", "replace")
        return value

    r.ctx[MODULE] = SubMatcher(searches, replace, bool(conf.once))
    if r is r.main:
        ho.content_length = -1
        if conf.last_modified:
            if ho.etag and ho.etag.startswith('"'):
                ho.etag = "W/" + ho.etag
        else:
            ho.last_modified = -1
            ho.etag = None
    return mcf.next_header(r)  # type: ignore[misc]


async def sub_body_filter(r: api.Request, chain: list[api.Buf]) -> None:
    mcf: SubMainConf = r.main_conf[MODULE]
    nxt = mcf.next_body
    assert nxt is not None
    matcher: SubMatcher | None = r.ctx.get(MODULE)
    if matcher is None:
        await nxt(r, chain)
        return
    out: list[api.Buf] = []
    for b in chain:
        if len(b):
            if b.file is None:
                data = matcher.feed(bytes(b.data))  # type: ignore[arg-type]
                if data:
                    out.append(api.Buf(data))
            else:
                for pos in range(b.file_pos, b.file_last, _CHUNK):
                    data = matcher.feed(b.file.read(pos, min(_CHUNK, b.file_last - pos)))
                    if data:
                        out.append(api.Buf(data))
                        await nxt(r, out)
                        out = []
        if b.last:
            data = matcher.feed(b"", last=True) + matcher.finish()
            if data:
                out.append(api.Buf(data))
        if b.last or b.flush:
            out.append(api.Buf(flush=b.flush, last=b.last, last_in_chain=b.last_in_chain))
    if out:
        await nxt(r, out)


def _sub_filter(cf: api.ConfContext, cmd: api.Directive, conf: SubLocConf) -> None:
    if conf.pairs is api.UNSET:
        conf.pairs = []
    if not cf.args[1]:
        raise cf.error("empty search pattern")
    if len(conf.pairs) >= MAX_PATTERNS:  # type: ignore[arg-type]
        raise cf.error(f"number of search patterns exceeds {MAX_PATTERNS}")
    search = cf.args[1] if "$" in cf.args[1] else cf.args[1].lower()
    conf.pairs.append((cf.compile(search), cf.compile(cf.args[2])))  # type: ignore[union-attr]


def _postconfiguration(cf: api.ConfContext) -> None:
    mcf: SubMainConf = cf.cycle.main_conf[MODULE]
    mcf.next_header = cf.cycle.top_header_filter
    cf.cycle.top_header_filter = sub_header_filter
    mcf.next_body = cf.cycle.top_body_filter
    cf.cycle.top_body_filter = sub_body_filter


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_sub_filter",
    directives=[
        api.Directive("sub_filter", _HSL, api.Args.TAKE2, _sub_filter),
        api.Directive("sub_filter_once", _HSL, api.Args.FLAG, api.set_flag("once")),
        api.Directive("sub_filter_types", _HSL, api.Args.ONE_MORE, api.set_types("types")),
        api.Directive("sub_filter_last_modified", _HSL, api.Args.FLAG,
                      api.set_flag("last_modified")),
    ],
    main_conf=SubMainConf,
    loc_conf=SubLocConf,
    postconfiguration=_postconfiguration,
)
