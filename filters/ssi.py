"""SSI (``ngx_http_ssi_filter_module``): server-side includes, as reference/ssi.md describes.

Directives: ``ssi``, ``ssi_silent_errors``, ``ssi_types``, ``ssi_value_length``,
``ssi_last_modified``, ``ssi_min_file_chunk`` and ``ssi_ignore_recycled_buffers`` (accepted,
no effect on output).  Variables: ``$date_local``, ``$date_gmt``.

Theory of operation
-------------------
The header filter activates for any request (main or sub) whose location has ``ssi on``, a
matching type and a Content-Length other than 0; on the main request it drops
Content-Length, Accept-Ranges and the validators (or weakens the ETag with
``ssi_last_modified``).  The body filter feeds each buffer to the resumable
``parsers.ssi.SSILexer`` (file buffers in 64 KiB reads, never the whole file) and passes
what it can after every buffer: text before a tag goes out before the tag is complete.

Includes are subrequests (``engine.subrequest``).  A plain ``include virtual`` creates one
and goes on parsing: includes run in parallel and the postpone stage puts their output in
document order; ``wait="yes"``, ``file=`` and ``set=`` wait for the child before going on.
Before an include, everything produced so far is passed on (with a flush), so the child's
place in the document is right after it.

Per-document state (errmsg, timefmt, echo encoding, if/block state) lives in the request's
ctx; the SSI variables, blocks and regex captures are shared by the whole request tree and
live in the main request's ctx.  ``include ... stub=`` is an ordinary in-place
subrequest watched by this filter (nginx's ``ngx_http_ssi_stub_output``): an error
response's page is dropped, and if the subrequest ends without a byte of body the block's
text goes out as its body, through its own SSI processing when SSI is on there.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from engine import api
from filters._ssi_eval import TIMEFMT, SSIError, encode, eval_expr, evaluate, format_date, \
    parse_expr, percent_decode, unsafe_uri
from parsers.ssi import DEFAULT_VALUE_LEN, SSILexer, Tag, TagError, Text

__all__ = ["MODULE"]

ERRMSG = b"[an error occurred while processing the directive]"


@dataclass
class SSILocConf:
    enable: bool | api.Unset = api.UNSET
    silent_errors: bool | api.Unset = api.UNSET
    types: frozenset[str] | api.Unset = api.UNSET
    value_length: int | api.Unset = api.UNSET
    last_modified: bool | api.Unset = api.UNSET
    min_file_chunk: int | api.Unset = api.UNSET
    ignore_recycled: bool | api.Unset = api.UNSET

    def merge(self, parent: "SSILocConf") -> None:
        self.enable = api.inherit(self.enable, parent.enable, False)
        self.silent_errors = api.inherit(self.silent_errors, parent.silent_errors, False)
        self.types = api.inherit(self.types, parent.types, frozenset(["text/html"]))
        self.value_length = api.inherit(self.value_length, parent.value_length,
                                        DEFAULT_VALUE_LEN)
        self.last_modified = api.inherit(self.last_modified, parent.last_modified, False)
        self.min_file_chunk = api.inherit(self.min_file_chunk, parent.min_file_chunk, 1024)
        self.ignore_recycled = api.inherit(self.ignore_recycled, parent.ignore_recycled,
                                           False)


@dataclass
class SSIMainConf:
    next_header: Callable[[api.Request], int] | None = None
    next_body: Callable[[api.Request, list[api.Buf]], Awaitable[None]] | None = None

    def merge(self, parent: Any) -> None:
        pass


class Shared:
    """What every SSI document of one main request shares (ssi.md §7)."""

    __slots__ = ("variables", "blocks", "captures", "stubs")

    def __init__(self) -> None:
        self.variables: dict[str, str] = {}
        self.blocks: dict[str, bytes] = {}
        self.captures: re.Match[str] | None = None
        # subrequests of ``include ... stub=`` (kept here, not in their ctx: an error_page
        # redirect clears a request's ctx)
        self.stubs: dict[api.Request, Stub] = {}


class Stub:
    """The stub of one ``include ... stub=`` subrequest."""

    __slots__ = ("text", "error", "produced")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.error = False  # the subrequest answers with an error page: drop it
        self.produced = False  # a byte of the subrequest's own body went out


class SSICtx:
    """One SSI document being parsed."""

    __slots__ = ("lexer", "shared", "errmsg", "timefmt", "encoding", "output", "conditional",
                 "taken", "in_else", "block_name", "block_parts", "silent")

    def __init__(self, conf: SSILocConf, shared: Shared) -> None:
        self.lexer = SSILexer(conf.value_length)  # type: ignore[arg-type]
        self.shared = shared
        self.silent = bool(conf.silent_errors)
        self.errmsg = ERRMSG
        self.timefmt = TIMEFMT
        self.encoding = "entity"
        self.output = True
        self.conditional = False
        self.taken = False
        self.in_else = False
        self.block_name: str | None = None
        self.block_parts: list[bytes] = []


_SHARED_KEY = "ssi_shared"  # key in the main request's ctx


def _shared(r: api.Request) -> Shared:
    ctx = r.main.ctx
    shared = ctx.get(_SHARED_KEY)
    if shared is None:
        shared = ctx[_SHARED_KEY] = Shared()
    return shared  # type: ignore[no-any-return]


# --- header filter ----------------------------------------------------------------------------

def ssi_header_filter(r: api.Request) -> int:
    mcf: SSIMainConf = r.main_conf[MODULE]
    conf: SSILocConf = MODULE.loc(r)
    ho = r.headers_out
    if r is not r.main and r.err_status:
        stub = _stub_of(r)
        if stub is not None:
            # nginx outputs the stub instead of finalizing with the error (no page at all)
            stub.error = True
    if (not conf.enable or ho.content_length == 0
            or not api.type_matches(ho.content_type, conf.types)):  # type: ignore[arg-type]
        return mcf.next_header(r)  # type: ignore[misc]
    r.ctx[MODULE] = SSICtx(conf, _shared(r))
    if r is r.main:
        ho.clear_length_and_ranges()
        if conf.last_modified:
            etag = ho.etag
            if etag and not etag.startswith("W/"):
                ho.etag = "W/" + etag if etag.startswith('"') else None
        else:
            ho.last_modified = -1
            ho.etag = None
    return mcf.next_header(r)  # type: ignore[misc]


# --- body filter ------------------------------------------------------------------------------

async def ssi_body_filter(r: api.Request, chain: list[api.Buf]) -> None:
    mcf: SSIMainConf = r.main_conf[MODULE]
    nxt = mcf.next_body
    assert nxt is not None
    if r is not r.main:
        stub = _stub_of(r)
        if stub is not None:
            chain = _with_stub(r, stub, chain)
    ctx: SSICtx | None = r.ctx.get(MODULE)
    if ctx is None:
        if chain:
            await nxt(r, chain)
        return
    out: list[api.Buf] = []
    for b in chain:
        if len(b):
            if b.file is None:
                await _process(r, ctx, ctx.lexer.feed(b.data), out)  # type: ignore[arg-type]
            else:
                for _, data in b.file_pieces():
                    await _process(r, ctx, ctx.lexer.feed(data), out)
                    if out:
                        await nxt(r, out)
                        out = []
        if b.last:
            await _process(r, ctx, ctx.lexer.finish(), out)
        if b.last or b.flush:
            out.append(api.Buf(flush=b.flush, last=b.last, last_in_chain=b.last_in_chain))
    if out:
        await nxt(r, out)


def _stub_of(r: api.Request) -> Stub | None:
    shared: Shared | None = r.main.ctx.get(_SHARED_KEY)
    return shared.stubs.get(r) if shared is not None and shared.stubs else None


def _with_stub(r: api.Request, stub: Stub, chain: list[api.Buf]) -> list[api.Buf]:
    """A stub subrequest's chain: its error page dropped, the stub's text before its end
    when it sent no body."""
    out: list[api.Buf] = []
    for b in chain:
        if len(b):
            if stub.error:
                if not (b.last or b.flush):
                    continue
                b = api.Buf(flush=b.flush, last=b.last, last_in_chain=b.last_in_chain)
            else:
                stub.produced = True
        if b.last:
            if not stub.produced:
                out.append(api.Buf(stub.text))
            _shared(r).stubs.pop(r, None)
        out.append(b)
    return out


async def _process(r: api.Request, ctx: SSICtx, events: list[Any], out: list[api.Buf]) -> None:
    for ev in events:
        kind = type(ev)
        if kind is Text:
            if ctx.output:
                out.append(api.Buf(ev.data))
            elif ctx.block_name is not None:
                ctx.block_parts.append(bytes(ev.data))
        elif kind is Tag:
            await _command(r, ctx, ev, out)
        elif kind is TagError:
            _error(r, ctx, out, ev.message)


def _error(r: api.Request, ctx: SSICtx, out: list[api.Buf], message: str) -> None:
    if message:  # a failing variable ($date_* with a bad timefmt) fails without a log line
        api.log_error(r, logging.ERROR, message)
    if not ctx.silent:
        out.append(api.Buf(ctx.errmsg))


# --- commands ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    params: frozenset[str]
    mandatory: frozenset[str] = frozenset()
    runs_suppressed: bool = False  # if/elif/else/endif/endblock: seen in skipped regions


def _c(params: str, mandatory: str = "", suppressed: bool = False) -> Command:
    return Command(frozenset(params.split()), frozenset(mandatory.split()), suppressed)


COMMANDS = {
    "echo": _c("var default encoding", "var"),
    "set": _c("var value", "var value"),
    "config": _c("errmsg timefmt"),
    "include": _c("virtual file wait set stub"),
    "if": _c("expr", "expr", True),
    "elif": _c("expr", "expr", True),
    "else": _c("", "", True),
    "endif": _c("", "", True),
    "block": _c("name", "name"),
    "endblock": _c("", "", True),
}


async def _command(r: api.Request, ctx: SSICtx, tag: Tag, out: list[api.Buf]) -> None:
    name = tag.command.decode("latin-1")
    spec = COMMANDS.get(name)
    if not ctx.output:
        if ctx.block_name is not None and name != "endblock":
            if spec is not None:
                ctx.block_parts.append(_serialize(tag))
            return
        if spec is None or not spec.runs_suppressed or (name == "if" and ctx.conditional):
            return
    if spec is None:
        _error(r, ctx, out, f'invalid SSI command: "{name}"')
        return
    if name in ("elif", "else", "endif") and (not ctx.conditional or (
            ctx.in_else and name != "endif")):
        _error(r, ctx, out, f'invalid context of SSI command: "{name}"')
        return
    params: dict[str, str] = {}
    for k, v in tag.params:
        key, value = k.decode("latin-1"), v.decode("latin-1")
        if key not in spec.params:
            _error(r, ctx, out, f'invalid parameter name: "{key}" in "{name}" SSI command')
            return
        if key in params:
            _error(r, ctx, out, f'duplicate "{key}" parameter in "{name}" SSI command')
            return
        params[key] = value
    for key in spec.mandatory:
        if key not in params:
            _error(r, ctx, out, f'mandatory "{key}" parameter is absent in "{name}" SSI '
                                "command")
            return
    try:
        await _HANDLERS[name](r, ctx, params, out)
    except SSIError as e:
        _error(r, ctx, out, str(e))


def _serialize(tag: Tag) -> bytes:
    """How nginx stores a command inside a block: ``<!--#cmd name="value" ... -->``."""
    return (b"<!--#" + tag.command + b"".join(b' %s="%s"' % (k, v) for k, v in tag.params)
            + b" -->")


def _lookup(r: api.Request, ctx: SSICtx) -> Callable[[str], str | None]:
    shared = ctx.shared

    def lookup(name: str) -> str | None:
        if len(name) == 1 and name.isdigit():
            m = shared.captures
            if m is not None and int(name) <= m.re.groups:
                return m.group(int(name)) or ""
        value = shared.variables.get(name)
        if value is not None:
            return value
        if name in _DATES:
            # nginx's variable fails on a timefmt that formats to nothing: so does the command
            value = format_date(ctx.timefmt, time.time(), name == "date_gmt")
            if value is None:
                raise SSIError("")
            return value
        return api.variable(r, name)
    return lookup


async def _echo(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    value = _lookup(r, ctx)(p["var"].lower())
    if value is None:
        default = p.get("default")
        value = "(none)" if default is None else default
    if not value:
        return  # before looking at encoding=, as nginx: an empty echo changes nothing
    enc = p.get("encoding")
    if enc is not None:
        if enc in ("none", "url", "entity"):
            ctx.encoding = enc
        else:
            api.log_error(r, logging.ERROR, f'unknown encoding "{enc}" in the "echo" command')
    out.append(api.Buf(encode(value, ctx.encoding).encode("latin-1", "replace")))


async def _set(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    ctx.shared.variables[p["var"].lower()] = evaluate(p["value"], _lookup(r, ctx))


async def _config(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    if "errmsg" in p:
        ctx.errmsg = p["errmsg"].encode("latin-1")
    if "timefmt" in p:
        ctx.timefmt = p["timefmt"]


async def _if(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    if ctx.conditional:
        raise SSIError('the "if" command inside the "if" command')
    result = _test(r, ctx, p["expr"])
    ctx.conditional, ctx.in_else = True, False
    ctx.taken = ctx.output = result


async def _elif(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    if ctx.taken:
        ctx.output = False
        return
    # an invalid expression leaves the output as it was (nginx: it can be on again after
    # an endblock inside the skipped branch)
    result = _test(r, ctx, p["expr"])
    ctx.taken = ctx.output = result


async def _else(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    ctx.in_else = True
    ctx.output = not ctx.taken
    ctx.taken = True


async def _endif(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    ctx.conditional = ctx.in_else = ctx.taken = False
    ctx.output = True


def _test(r: api.Request, ctx: SSICtx, expr: str) -> bool:
    result, m = eval_expr(parse_expr(expr), _lookup(r, ctx))
    if m is not None and result:
        ctx.shared.captures = m
        for key, value in m.groupdict().items():
            ctx.shared.variables[key.lower()] = value or ""
    return result


async def _block(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    ctx.block_name = p["name"]
    ctx.block_parts = []
    ctx.output = False


async def _endblock(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    if ctx.block_name is not None:
        ctx.shared.blocks.setdefault(ctx.block_name, b"".join(ctx.block_parts))
    ctx.block_name = None
    ctx.block_parts = []
    ctx.output = True


async def _include(r: api.Request, ctx: SSICtx, p: dict[str, str], out: list[api.Buf]) -> None:
    virtual, file = p.get("virtual"), p.get("file")
    if virtual is not None and file is not None:
        raise SSIError(f'inclusion may be either virtual="{virtual}" or file="{file}"')
    if virtual is None and file is None:
        raise SSIError('no parameter in "include" SSI command')
    set_var, stub = p.get("set"), p.get("stub")
    if set_var is not None and stub is not None:
        raise SSIError('"set" and "stub" cannot be used together in "include" SSI command')
    wait = p.get("wait")
    if wait is not None:
        if file is not None:
            raise SSIError(f'"wait" cannot be used with file="{file}"')
        if wait.lower() not in ("yes", "no"):
            raise SSIError(f'invalid value "{wait}" in the "wait" parameter')
    stub_text = None
    if stub is not None:
        stub_text = ctx.shared.blocks.get(stub)
        if stub_text is None:
            raise SSIError(f'"stub"="{stub}" for "include" not found')
    uri = virtual if virtual is not None else file
    uri = evaluate(uri, _lookup(r, ctx))  # type: ignore[arg-type]
    if not uri.startswith("/"):
        uri = r.uri[:r.uri.rfind("/") + 1] + uri
    path, _, args = uri.partition("?")
    if "%" in path:
        path = percent_decode(path)
    if unsafe_uri(uri) or unsafe_uri(path):
        raise SSIError(f'unsafe URI "{uri}" was detected')
    # everything before the include goes first (the engine flushes it to the client as
    # soon as the request has to wait for the include)
    if out:
        await r.main_conf[MODULE].next_body(r, list(out))
        out.clear()
    try:
        if set_var is not None:
            await _include_set(r, ctx, set_var.lower(), path, args)
        else:
            sr = api.subrequest(r, path, args, keep_filters=stub_text is not None)
            if stub_text is not None:
                # before it runs: api.subrequest only schedules it
                ctx.shared.stubs[sr] = Stub(stub_text)
            if file is not None or (wait or "").lower() == "yes":
                await api.wait_subrequest(sr)
    except api.SubrequestError as e:
        raise SSIError(str(e)) from None


async def _include_set(r: api.Request, ctx: SSICtx, name: str, path: str, args: str) -> None:
    variables = ctx.shared.variables
    variables.setdefault(name, "")
    sr = api.subrequest(r, path, args, mode=api.SR_MEMORY)
    code = await api.wait_subrequest(sr)
    if 0 < code < 300:
        variables[name] = sr.out_body.decode("latin-1")


_HANDLERS = {"echo": _echo, "set": _set, "config": _config, "include": _include, "if": _if,
             "elif": _elif, "else": _else, "endif": _endif, "block": _block,
             "endblock": _endblock}


# --- variables, directives, module --------------------------------------------------------------

_DATES = ("date_local", "date_gmt")


def _date(gmt: bool) -> Callable[[api.Request], str | None]:
    def get(r: api.Request) -> str | None:
        ctx: SSICtx | None = r.ctx.get(MODULE)
        return format_date(ctx.timefmt if ctx is not None else TIMEFMT, time.time(), gmt)
    return get


def _preconfiguration(cf: api.ConfContext) -> None:
    cf.add_variable("date_local", _date(gmt=False))
    cf.add_variable("date_gmt", _date(gmt=True))


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.push_filters(cf.cycle.main_conf[MODULE], ssi_header_filter, ssi_body_filter,
                    subrequest_inert=_sr_inert)


def _sr_inert(loc_conf: dict[Any, Any]) -> bool:
    # a stub's subrequest asks for the filters itself (api.subrequest's keep_filters)
    return not loc_conf[MODULE].enable


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_ssi_filter",
    directives=[
        api.Directive("ssi", _HSL | api.Ctx.LIF, api.Args.FLAG, api.set_flag("enable")),
        api.Directive("ssi_silent_errors", _HSL, api.Args.FLAG, api.set_flag("silent_errors")),
        api.Directive("ssi_types", _HSL, api.Args.ONE_MORE, api.set_types("types")),
        api.Directive("ssi_value_length", _HSL, api.Args.TAKE1, api.set_size("value_length")),
        api.Directive("ssi_last_modified", _HSL, api.Args.FLAG, api.set_flag("last_modified")),
        api.Directive("ssi_min_file_chunk", _HSL, api.Args.TAKE1,
                      api.set_size("min_file_chunk")),
        api.Directive("ssi_ignore_recycled_buffers", _HSL, api.Args.FLAG,
                      api.set_flag("ignore_recycled")),
    ],
    main_conf=SSIMainConf,
    loc_conf=SSILocConf,
    preconfiguration=_preconfiguration,
    postconfiguration=_postconfiguration,
)
