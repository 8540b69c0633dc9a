"""A test-only module for SSI streaming tests: ``ssistream;`` serves the file at root + URI
as text/html, cut at each ``|PAUSE|`` marker (removed), each piece flushed and followed by
a pause of ``$arg_ms`` milliseconds: a slow upstream, as the SSI filter sees one."""

from __future__ import annotations

import trio

from engine import api


async def stream_handler(r: api.Request) -> int:
    try:
        with open(api.map_uri_to_path(r) or "", "rb") as f:
            data = f.read()
    except OSError:
        return 404
    ms = 0
    for pair in r.args.split("&"):
        k, _, v = pair.partition("=")
        if k == "ms" and v.isdigit():
            ms = int(v)
    r.headers_out.status = 200
    r.headers_out.content_type = "text/html"
    rc = api.send_header(r)
    if rc != api.OK:
        return rc
    pieces = data.split(b"|PAUSE|")
    for i, piece in enumerate(pieces):
        if i:
            await trio.sleep(ms / 1000)
        await api.output(r, [api.Buf(piece, flush=True)])
    await api.output(r, [api.Buf(last=True)])
    return api.OK


def _stream(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    api.set_content_handler(cf, stream_handler)


MODULE = api.Module(
    name="ssistream",
    directives=[api.Directive("ssistream", api.Ctx.LOC, api.Args.NOARGS, _stream,
                              api.ConfLevel.LOC)],
)
