"""A test-only module that drives the subrequest API from a content handler.

``srtest_page;`` answers with a page built from ``$arg_p``: items separated by ``|``; an item
starting with ``/`` is an in-place subrequest (``~`` stands for ``?`` and ``!`` for ``&`` in
it), ``w/...`` the same but waited for before going on, ``m/...`` an in-memory subrequest whose
body is then output in brackets, ``b/...`` a background one; anything else is text, output as
its own buffer.  ``srtest_sleep;`` answers ``$arg_t`` (default ``x``) after ``$arg_ms``
milliseconds, in ``$arg_n`` pieces spaced by that delay (default 1), appending a byte to the
file ``$arg_f`` per piece if given.  ``srtest_gen;`` produces ``$arg_n`` pieces of
``$arg_kb`` KiB as fast as it may and ends with the most output the main request held
meanwhile (``<held:N>``).  ``srtest_split;`` serves root + URI as text/html in pieces cut at
the offsets listed in ``$arg_cuts`` (for split-invariance tests of body filters).
"""

from __future__ import annotations

import trio

from engine import api


async def page_handler(r: api.Request) -> int:
    r.headers_out.status = 200
    r.headers_out.content_type = "text/plain"
    rc = api.send_header(r)
    if rc != api.OK:
        return rc
    spec = _arg(r, "p")
    for item in spec.split("|") if spec else []:
        kind = item[:1] if item[:2] in ("w/", "m/", "b/") else ""
        target = item[1:] if kind else item
        if target.startswith("/"):
            uri, _, args = target.replace("~", "?").replace("!", "&").partition("?")
            mode = {"m": api.SR_MEMORY, "b": api.SR_BACKGROUND}.get(kind, api.SR_INPLACE)
            try:
                sr = api.subrequest(r, uri, args, mode=mode)
            except api.SubrequestError:
                await api.output(r, [api.Buf(b"[error]")])
                continue
            if kind in ("w", "m"):
                code = await api.wait_subrequest(sr)
                if kind == "m":
                    await api.output(r, [api.Buf(b"[%d:" % code + sr.out_body + b"]")])
        elif item:
            await api.output(r, [api.Buf(item.encode(), flush=True)])
    await api.output(r, [api.Buf(last=True)])
    return api.OK


async def sleep_handler(r: api.Request) -> int:
    ms = int(_arg(r, "ms") or "0")
    n = int(_arg(r, "n") or "1")
    text = (_arg(r, "t") or "x").encode()
    r.headers_out.status = 200
    r.headers_out.content_type = "text/plain"
    rc = api.send_header(r)
    if rc != api.OK:
        return rc
    mark = _arg(r, "f")
    for _ in range(n):
        await trio.sleep(ms / 1000)
        if mark:
            with open(mark, "a") as f:
                f.write("x")
        await api.output(r, [api.Buf(text, flush=True)])
    await api.output(r, [api.Buf(last=True)])
    return api.OK


async def gen_handler(r: api.Request) -> int:
    """``$arg_n`` pieces of ``$arg_kb`` KiB, then the most output held while producing them."""
    n = int(_arg(r, "n") or "1")
    piece = b"g" * (int(_arg(r, "kb") or "1") * 1024)
    r.headers_out.status = 200
    rc = api.send_header(r)
    if rc != api.OK:
        return rc
    most = 0
    for _ in range(n):
        await api.output(r, [api.Buf(piece)])
        pp = r.main.postpone
        most = max(most, pp.held if pp is not None else 0)
    await api.output(r, [api.Buf(b"<held:%d>" % most, last=True)])
    return api.OK


async def split_handler(r: api.Request) -> int:
    """The file root + URI as text/html, in pieces cut at the offsets in ``$arg_cuts``."""
    path = api.map_uri_to_path(r)
    try:
        with open(path or "", "rb") as f:
            data = f.read()
    except OSError:
        return 404
    cuts = sorted({min(int(c), len(data)) for c in _arg(r, "cuts").split(",") if c})
    r.headers_out.status = 200
    r.headers_out.content_type = "text/html"
    r.headers_out.content_length = len(data)
    rc = api.send_header(r)
    if rc != api.OK:
        return rc
    bounds = [0, *cuts, len(data)]
    for a, b in zip(bounds, bounds[1:]):
        if b > a:
            await api.output(r, [api.Buf(data[a:b], flush=True)])
    await api.output(r, [api.Buf(last=True)])
    return api.OK


def _arg(r: api.Request, name: str) -> str:
    for pair in r.args.split("&"):
        k, _, v = pair.partition("=")
        if k == name:
            return v.replace("%7C", "|").replace("%2F", "/")
    return ""


def _set_handler(handler):  # type: ignore[no-untyped-def]
    def setter(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
        api.set_content_handler(cf, handler)
    return setter


MODULE = api.Module(
    name="srtest",
    directives=[
        api.Directive("srtest_page", api.Ctx.LOC, api.Args.NOARGS, _set_handler(page_handler),
                      api.ConfLevel.LOC),
        api.Directive("srtest_sleep", api.Ctx.LOC, api.Args.NOARGS,
                      _set_handler(sleep_handler), api.ConfLevel.LOC),
        api.Directive("srtest_gen", api.Ctx.LOC, api.Args.NOARGS, _set_handler(gen_handler),
                      api.ConfLevel.LOC),
        api.Directive("srtest_split", api.Ctx.LOC, api.Args.NOARGS,
                      _set_handler(split_handler), api.ConfLevel.LOC),
    ],
)
