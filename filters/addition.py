"""``addition`` (``ngx_http_addition_filter_module``): documents before and after a body.

Directives: ``add_before_body uri``, ``add_after_body uri`` (literal URIs: no variables, no
``?`` splitting, ``""`` disables an inherited one) and ``addition_types`` (text/html always;
``*``).  Active on a main request answering 200 with a matching type and at least one URI
(reference/subrequests.md §8): Content-Length and Accept-Ranges go, the ETag turns weak,
Last-Modified stays.  The *before* subrequest is created when the first body buffer passes
(so it precedes the body in the output), the *after* one when the last has passed, and the
response ends after it.  The added documents are ordinary subrequests: their own
location's filters (SSI...) apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from engine import api

__all__ = ["MODULE"]


@dataclass
class AdditionLocConf:
    before_body: str | api.Unset = api.UNSET
    after_body: str | api.Unset = api.UNSET
    types: frozenset[str] | api.Unset = api.UNSET

    def merge(self, parent: "AdditionLocConf") -> None:
        self.before_body = api.inherit(self.before_body, parent.before_body, "")
        self.after_body = api.inherit(self.after_body, parent.after_body, "")
        self.types = api.inherit(self.types, parent.types, frozenset(["text/html"]))


@dataclass
class AdditionMainConf:
    next_header: Callable[[api.Request], int] | None = None
    next_body: Callable[[api.Request, list[api.Buf]], Awaitable[None]] | None = None

    def merge(self, parent: Any) -> None:
        pass


class AdditionCtx:
    __slots__ = ("before_sent",)

    def __init__(self) -> None:
        self.before_sent = False


def addition_header_filter(r: api.Request) -> int:
    mcf: AdditionMainConf = r.main_conf[MODULE]
    conf: AdditionLocConf = MODULE.loc(r)
    ho = r.headers_out
    if (r is not r.main or ho.status != 200 or not (conf.before_body or conf.after_body)
            or not api.type_matches(ho.content_type, conf.types)):  # type: ignore[arg-type]
        return mcf.next_header(r)  # type: ignore[misc]
    r.ctx[MODULE] = AdditionCtx()
    ho.clear_length_and_ranges()
    if ho.etag and ho.etag.startswith('"'):
        ho.etag = "W/" + ho.etag
    return mcf.next_header(r)  # type: ignore[misc]


async def addition_body_filter(r: api.Request, chain: list[api.Buf]) -> None:
    mcf: AdditionMainConf = r.main_conf[MODULE]
    nxt = mcf.next_body
    assert nxt is not None
    ctx: AdditionCtx | None = r.ctx.get(MODULE)
    if ctx is None or not chain or r.header_only:
        await nxt(r, chain)
        return
    conf: AdditionLocConf = MODULE.loc(r)
    if not ctx.before_sent:
        ctx.before_sent = True
        if conf.before_body:
            _subrequest(r, conf.before_body)  # type: ignore[arg-type]
    if not conf.after_body:
        del r.ctx[MODULE]
        await nxt(r, chain)
        return
    last = chain[-1].last
    if last:
        end = chain[-1]
        chain = chain[:-1]
        if len(end) or end.flush:
            chain.append(api.Buf(end.data, file=end.file, file_pos=end.file_pos,
                                 file_last=end.file_last, flush=end.flush))
    if chain:
        await nxt(r, chain)
    if last:
        del r.ctx[MODULE]
        _subrequest(r, conf.after_body)  # type: ignore[arg-type]
        await nxt(r, [api.Buf(last=True)])


def _subrequest(r: api.Request, uri: str) -> None:
    try:
        api.subrequest(r, uri)
    except api.SubrequestError:
        pass  # logged; nginx goes on without the added document


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.push_filters(cf.cycle.main_conf[MODULE], addition_header_filter, addition_body_filter,
                    subrequest_inert=api.ALWAYS)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_addition_filter",
    directives=[
        api.Directive("add_before_body", _HSL, api.Args.TAKE1, api.set_str("before_body")),
        api.Directive("add_after_body", _HSL, api.Args.TAKE1, api.set_str("after_body")),
        api.Directive("addition_types", _HSL, api.Args.ONE_MORE, api.set_types("types")),
    ],
    main_conf=AdditionMainConf,
    loc_conf=AdditionLocConf,
    postconfiguration=_postconfiguration,
)
