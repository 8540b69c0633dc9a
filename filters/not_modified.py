"""``not_modified`` (``ngx_http_not_modified_filter_module``): conditional requests.

The first header filter a response meets.  It acts on main requests whose status is 200,
using the ``Last-Modified`` time and ``ETag`` the handler set (reference/core.md §11):

1. ``If-Unmodified-Since`` and (no Last-Modified, or the date is older) → 412;
2. ``If-Match`` that does not match (strong comparison) → 412;
3. with ``If-Modified-Since`` and/or ``If-None-Match``: modified per ``if_modified_since``
   (exact/before/off), or no ``If-None-Match`` entry matching (weak comparison) → the
   response goes on unchanged; otherwise it becomes a header-only 304 without
   Content-Type, Content-Length, Accept-Ranges and Content-Encoding.

A 412 replaces the response the handler started (nginx's ``ngx_http_filter_finalize_request``):
the filter resets the response headers and returns 412 from ``send_header``, which the
handler hands back to the engine, so the 412 goes through ``error_page`` or the built-in page
like any error.  As in nginx, the connection is closed after such a response even though its
header says ``keep-alive`` (nginx terminates the request it finalised from a filter).

Dates are parsed by ``parsers.httpdate`` exactly as loosely as ``ngx_parse_http_time``; an
unparsable date compares as nginx's ``NGX_ERROR`` (-1).
"""

from __future__ import annotations

from typing import Callable

from engine import api
from parsers.httpdate import parse_http_date

__all__ = ["MODULE", "test_if_match", "test_if_modified", "test_if_unmodified"]


def not_modified_filter(r: api.Request, next_filter: Callable[[api.Request], int]) -> int:
    ho = r.headers_out
    if ho.status != 200 or r is not r.main:
        return next_filter(r)
    headers = r.headers
    ius = headers.get("if-unmodified-since")
    if ius is not None and not test_if_unmodified(ius, ho.last_modified):
        return api.filter_finalize(r, 412)
    im = headers.get("if-match")
    if im is not None and not test_if_match(im, ho.etag, weak=False):
        return api.filter_finalize(r, 412)
    ims = headers.get("if-modified-since")
    inm = headers.get("if-none-match")
    if ims is None and inm is None:
        return next_filter(r)
    if ims is not None and test_if_modified(ims, ho.last_modified,
                                            str(api.core_loc_conf(r).if_modified_since)):
        return next_filter(r)
    if inm is not None and not test_if_match(inm, ho.etag, weak=True):
        return next_filter(r)
    ho.status = 304
    ho.status_line = None
    ho.content_type = None
    ho.charset = None
    ho.clear_length_and_ranges()
    ho.content_encoding = None
    ho.remove("Content-Encoding")
    r.header_only = True
    return next_filter(r)


def test_if_unmodified(value: str, last_modified: int) -> bool:
    """True when the resource is unmodified since ``value`` (ngx_http_test_if_unmodified)."""
    if last_modified == -1:
        return False
    return _http_time(value) >= last_modified


def test_if_modified(value: str, last_modified: int, mode: str) -> bool:
    """True when modified since ``value`` per ``if_modified_since`` (ngx_http_test_if_modified)."""
    if last_modified == -1 or mode == "off":
        return True
    ims = _http_time(value)
    if ims == last_modified:
        return False
    return mode == "exact" or ims < last_modified


def test_if_match(value: str, etag: str | None, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match list matches ``etag`` (ngx_http_test_if_match).

    ``*`` alone matches anything, even a response without an ETag (checked on nginx 1.22).
    Weak comparison drops a ``W/`` prefix on either side; strong compares bytes.
    """
    if value == "*":
        return True
    if etag is None:
        return False
    if weak and len(etag) > 2 and etag.startswith("W/"):
        etag = etag[2:]
    n = len(etag)
    start, end = 0, len(value)
    while start < end:
        if weak and end - start > 2 and value.startswith("W/", start):
            start += 2
        if n > end - start:
            return False
        if value.startswith(etag, start):
            start += n
            while start < end and value[start] in " \t":
                start += 1
            if start == end or value[start] == ",":
                return True
        while start < end and value[start] != ",":
            start += 1
        while start < end and value[start] in " \t,":
            start += 1
    return False


def _http_time(value: str) -> int:
    parsed = parse_http_date(value.encode("latin-1", "replace"))
    return -1 if parsed is None else parsed


def _postconfiguration(cf: api.ConfContext) -> None:
    links = api.FilterLinks()
    cf.push_filters(links, lambda r: not_modified_filter(r, links.next_header),
                    subrequest_inert=api.ALWAYS)  # main responses only


MODULE = api.Module(name="http_not_modified_filter", postconfiguration=_postconfiguration)
