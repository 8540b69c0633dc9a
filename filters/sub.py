"""``sub_filter`` (``ngx_http_sub_filter_module``): replace strings in a response body.

Directives: ``sub_filter string replacement`` (up to 255 per level; a level with any does
not inherit the outer ones), ``sub_filter_once`` (on), ``sub_filter_types`` (text/html
always; ``*``), ``sub_filter_last_modified`` (off).  Semantics from
reference/subrequests.md §9: ASCII case-insensitive search, scanning left to right without
overlap; at a position the patterns are tried in configuration order and the first that
matches wins; a replaced text is never rescanned; with ``once`` each pattern applies at most
once.  Search strings with variables are evaluated when the header passes (empty ones are
dropped; none left: the response is untouched), replacements on first use.

Matching is ``parsers.multi.MultiMatcher`` (sans-IO, resumable, holds back less than the
longest pattern, C-speed search over a trie regex); ``SubMatcher`` puts the replacements in.
Once every pattern is used up (``sub_filter_once``) buffers pass untouched, file regions
included.  File regions are read in 64 KB pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from engine import api
from parsers.multi import MultiMatcher

__all__ = ["MODULE", "SubMatcher"]

MAX_PATTERNS = 255


class SubMatcher:
    """Resumable replacement over a byte stream (any split, same output): the matcher's
    events with each pattern number turned into its replacement."""

    __slots__ = ("matcher", "replace")

    def __init__(self, patterns: list[bytes], replace: Callable[[int], bytes],
                 once: bool) -> None:
        self.matcher = MultiMatcher(patterns, once)
        self.replace = replace  # pattern index -> replacement bytes

    @property
    def pending(self) -> bytes:
        return self.matcher.pending

    @property
    def exhausted(self) -> bool:
        return self.matcher.exhausted and not self.matcher.pending

    def feed(self, data: bytes, last: bool = False) -> bytes:
        """Bytes decided so far; ``last``: the stream ends, the undecided tail goes too."""
        events = self.matcher.feed(data, last)
        if len(events) == 1 and type(events[0]) is bytes:
            return events[0]
        replace = self.replace
        return b"".join(e if type(e) is bytes else replace(e)  # type: ignore[arg-type]
                        for e in events)

    def finish(self) -> bytes:
        """Kept for callers of the old interface: ``feed(..., last=True)`` empties it."""
        return self.matcher.feed(b"", last=True)[0] if self.matcher.pending else b""


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
        if matcher.exhausted:
            out.append(b)  # sub_filter_once with every pattern applied: nothing to change
            continue
        if len(b):
            if b.file is None:
                data = matcher.feed(bytes(b.data), b.last)  # type: ignore[arg-type]
                if data:
                    out.append(api.Buf(data))
            else:
                end = b.file_last
                for pos in range(b.file_pos, end, api.FILE_PIECE):  # file_pieces, but
                    # a piece is read only while a pattern can still match
                    if matcher.exhausted:  # the rest of the file goes as it is, unread
                        out.append(api.Buf(file=b.file, file_pos=pos, file_last=end))
                        break
                    size = min(api.FILE_PIECE, end - pos)
                    data = matcher.feed(b.file.read(pos, size), b.last and pos + size == end)
                    if data:
                        out.append(api.Buf(data))
                        await nxt(r, out)
                        out = []
        elif b.last:
            data = matcher.feed(b"", last=True)
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
    cf.push_filters(cf.cycle.main_conf[MODULE], sub_header_filter, sub_body_filter,
                    subrequest_inert=_sr_inert)


def _sr_inert(loc_conf: dict[Any, Any]) -> bool:
    return not loc_conf[MODULE].pairs


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
