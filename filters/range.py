"""Byte ranges (``ngx_http_range_filter_module``): the ``Range`` and ``If-Range`` headers.

Two modules at two places in the chains (``filters/__init__.py``), as in nginx:

* ``RANGE_HEADER`` runs late among the header filters (after SSI, sub_filter, addition and
  gzip had their say on Content-Length): on a main-request 200 with a known length whose
  handler allowed ranges (``r.allow_ranges``), it decides the ``Range`` header with
  ``parsers.range`` (reference/range.md §1-§3, §7): a single-part 206 with Content-Range, a
  multipart/byteranges 206 with nginx's exact layout and length, a 416 with
  ``Content-Range: bytes */L`` through the normal error-page path (the header filter
  returns 416 to the handler, as nginx's does), or the full 200 with
  ``Accept-Ranges: bytes``.
* ``RANGE_BODY`` is the first body filter: it narrows the handler's buffers to the ranges.
  File buffers are narrowed by offsets only, so no byte outside the ranges is ever read, and
  a single range of a file still goes out with sendfile.  A single range streams over any
  number of buffers; a multipart body collects the buffer references first (nginx fails
  there unless the body is one buffer: file buffers cost nothing to hold, and only handlers
  that force ranges over in-memory bodies would reach that case).

Directive: ``max_ranges N`` (http, server, location; default unlimited, 0 = off).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from engine import api
from parsers.range import RangeVerdict, if_range_matches, parse_range

__all__ = ["RANGE_HEADER", "RANGE_BODY", "multipart_length"]

_MAX = 2147483647


@dataclass
class RangeLocConf:
    max_ranges: int | api.Unset = api.UNSET

    def merge(self, parent: "RangeLocConf") -> None:
        self.max_ranges = api.inherit(self.max_ranges, parent.max_ranges, _MAX)


@dataclass
class RangeMainConf:
    """Per-cycle next filters (a reload builds a second chain while the first serves)."""

    next_header: Callable[[api.Request], int] | None = None
    next_body: Callable[[api.Request, list[api.Buf]], Awaitable[None]] | None = None

    def merge(self, parent: Any) -> None:
        pass


class RangeCtx:
    """The accepted ranges of one response, and how far its body has gone."""

    __slots__ = ("ranges", "boundary", "part_type", "size", "offset", "held")

    def __init__(self, ranges: list[tuple[int, int]], size: int) -> None:
        self.ranges = ranges
        self.size = size
        self.boundary = b""
        self.part_type = b""
        self.offset = 0  # body bytes seen so far
        self.held: list[tuple[int, api.Buf]] = []  # multipart: (offset, buf) until the end


# nginx: a process-wide counter (ngx_next_temp_number), 20 digits
_boundaries = itertools.count(1)


# --- header filter ----------------------------------------------------------------------------

def range_header_filter(r: api.Request) -> int:
    mcf: RangeMainConf = r.main_conf[RANGE_HEADER]
    ho = r.headers_out
    if (r is not r.main or ho.status != 200 or ho.content_length < 0
            or not r.allow_ranges or r.http_version == "0.9"):
        return mcf.next_header(r)  # type: ignore[misc]
    max_ranges: int = RANGE_HEADER.loc(r).max_ranges
    if max_ranges == 0:
        return mcf.next_header(r)  # type: ignore[misc]
    value = r.headers.get("range")
    if value is None or len(value) < 7 or value[:6].lower() != "bytes=":
        return _accept_ranges(r, mcf)
    if_range = r.headers.get("if-range")
    if if_range is not None and not if_range_matches(
            if_range.encode("latin-1", "replace"),
            ho.etag.encode("latin-1", "replace") if ho.etag else None,
            ho.last_modified if ho.last_modified >= 0 else None):
        return _accept_ranges(r, mcf)
    size = ho.content_length
    verdict = parse_range(value.encode("latin-1", "replace"), size, max_ranges)
    if verdict is RangeVerdict.IGNORE:
        return _accept_ranges(r, mcf)
    if verdict is RangeVerdict.NOT_SATISFIABLE:
        # ngx_http_range_not_satisfiable: not a filter finalisation (the headers are kept,
        # the connection stays open); the status goes back through send_header to the
        # handler, whose finalisation sends the error page or redirects to error_page
        ho.status = 416
        ho.add("Content-Range", f"bytes */{size}")
        ho.content_length = -1
        # nginx marks the header sent in its bottom header filter, which a 416 never reaches;
        # trinx's send_header marks it before the chain runs, so undo that here
        r.header_sent = False
        return 416
    ctx = RangeCtx(verdict, size)
    r.ctx[RANGE_BODY] = ctx
    ho.status = 206
    ho.status_line = None
    if len(verdict) == 1:
        start, end = verdict[0]
        ho.content_length = end - start
        ho.add("Content-Range", f"bytes {start}-{end - 1}/{size}")
        return mcf.next_header(r)  # type: ignore[misc]
    boundary = b"%020d" % next(_boundaries)
    ctx.boundary = boundary
    if ho.content_type:
        ct = ho.content_type + ("; charset=" + ho.charset if ho.charset else "")
        ctx.part_type = ct.encode("latin-1", "replace")
    ho.content_type = "multipart/byteranges; boundary=" + boundary.decode()
    ho.charset = None
    ho.content_length = multipart_length(verdict, size, ctx.part_type)
    return mcf.next_header(r)  # type: ignore[misc]


def _accept_ranges(r: api.Request, mcf: RangeMainConf) -> int:
    r.headers_out.add("Accept-Ranges", "bytes")
    return mcf.next_header(r)  # type: ignore[misc]


def _part_head(boundary: bytes, part_type: bytes, start: int, end: int, size: int) -> bytes:
    head = b"\r\n--" + boundary + b"\r\n"
    if part_type:
        head += b"Content-Type: " + part_type + b"\r\n"
    return head + b"Content-Range: bytes %d-%d/%d\r\n\r\n" % (start, end - 1, size)


def _tail(boundary: bytes) -> bytes:
    return b"\r\n--" + boundary + b"--\r\n"


def multipart_length(ranges: list[tuple[int, int]], size: int, part_type: bytes) -> int:
    """The exact length of nginx's multipart/byteranges body (range.md §5)."""
    boundary = b"0" * 20
    return (sum(len(_part_head(boundary, part_type, s, e, size)) + e - s for s, e in ranges)
            + len(_tail(boundary)))


# --- body filter ------------------------------------------------------------------------------

async def range_body_filter(r: api.Request, chain: list[api.Buf]) -> None:
    mcf: RangeMainConf = r.main_conf[RANGE_HEADER]
    ctx: RangeCtx | None = r.ctx.get(RANGE_BODY)
    if ctx is None:
        await mcf.next_body(r, chain)  # type: ignore[misc]
        return
    if len(ctx.ranges) == 1:
        await mcf.next_body(r, _single(ctx, chain))  # type: ignore[misc]
        return
    out = _multipart(ctx, chain)
    if out:
        await mcf.next_body(r, out)  # type: ignore[misc]


def _single(ctx: RangeCtx, chain: list[api.Buf]) -> list[api.Buf]:
    start, end = ctx.ranges[0]
    out: list[api.Buf] = []
    for b in chain:
        pos = ctx.offset
        n = len(b)
        ctx.offset += n
        piece = _slice(b, pos, start, end) if n else None
        if piece is not None:
            out.append(piece)
        if b.last or b.flush:
            out.append(api.Buf(flush=b.flush, last=b.last, last_in_chain=b.last_in_chain))
    return out


def _multipart(ctx: RangeCtx, chain: list[api.Buf]) -> list[api.Buf]:
    last = None
    for b in chain:
        if len(b):
            ctx.held.append((ctx.offset, b))
            ctx.offset += len(b)
        if b.last:
            last = b
    if last is None:
        return []
    out: list[api.Buf] = []
    for start, end in ctx.ranges:
        out.append(api.Buf(_part_head(ctx.boundary, ctx.part_type, start, end, ctx.size)))
        for pos, b in ctx.held:
            piece = _slice(b, pos, start, end)
            if piece is not None:
                out.append(piece)
    out.append(api.Buf(_tail(ctx.boundary), last=True, last_in_chain=last.last_in_chain))
    ctx.held = []
    return out


def _slice(b: api.Buf, pos: int, start: int, end: int) -> api.Buf | None:
    """The part of ``b`` (body offset ``pos``) inside [start, end), or None."""
    lo = max(start, pos)
    hi = min(end, pos + len(b))
    if lo >= hi:
        return None
    if b.file is not None:
        return api.Buf(file=b.file, file_pos=b.file_pos + lo - pos,
                       file_last=b.file_pos + hi - pos)
    assert b.data is not None
    return api.Buf(memoryview(b.data)[lo - pos:hi - pos])


# --- module -----------------------------------------------------------------------------------

def _postconfiguration_header(cf: api.ConfContext) -> None:
    cf.push_filters(cf.cycle.main_conf[RANGE_HEADER], range_header_filter,
                    subrequest_inert=api.ALWAYS)  # ranges are the main response's


def _postconfiguration_body(cf: api.ConfContext) -> None:
    cf.push_filters(cf.cycle.main_conf[RANGE_HEADER], body=range_body_filter,
                    subrequest_inert=api.ALWAYS)


RANGE_HEADER = api.Module(
    name="http_range_header_filter",
    directives=[api.Directive("max_ranges", api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC,
                              api.Args.TAKE1, api.set_num("max_ranges"))],
    main_conf=RangeMainConf,
    loc_conf=RangeLocConf,
    postconfiguration=_postconfiguration_header,
)

RANGE_BODY = api.Module(name="http_range_body_filter",
                        postconfiguration=_postconfiguration_body)
