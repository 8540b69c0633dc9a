"""``empty_gif`` (``ngx_http_empty_gif_module``): a location answering a 1x1 transparent GIF.

Directive: ``empty_gif;`` (location).  GET and HEAD get the 43 bytes of nginx's
``ngx_empty_gif`` as ``image/gif`` with ``Last-Modified: Mon, 28 Sep 1970 06:00:00 GMT``
(``last_modified_time = 23349600``), through ``ngx_http_send_response``; other methods 405.
"""

from __future__ import annotations

from engine import api

__all__ = ["MODULE", "EMPTY_GIF"]

EMPTY_GIF = (
    b"GIF89a"
    b"\x01\x00\x01\x00"      # logical screen 1x1
    b"\x80\x01\x00"          # global 1-bit colour table, background #1, no aspect ratio
    b"\x00\x00\x00\xff\xff\xff"  # #0 black, #1 white
    b"\x21\xf9\x04\x01\x00\x00\x01\x00"  # graphic control extension: #1 transparent
    b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # image descriptor 1x1
    b"\x02\x02\x4c\x01\x00"  # LZW data: clear, 1, end of information
    b"\x3b"                  # trailer
)

_LAST_MODIFIED = 23349600


async def empty_gif_handler(r: api.Request) -> int:
    if r.method not in ("GET", "HEAD"):
        return 405
    ho = r.headers_out
    ho.status = 200
    ho.content_type = "image/gif"
    ho.content_length = len(EMPTY_GIF)
    ho.last_modified = _LAST_MODIFIED
    return await api.send_response(r, EMPTY_GIF)


def _empty_gif(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    api.set_content_handler(cf, empty_gif_handler)


MODULE = api.Module(
    name="http_empty_gif",
    directives=[api.Directive("empty_gif", api.Ctx.LOC, api.Args.NOARGS, _empty_gif)],
)
