"""``mirror`` (``ngx_http_mirror_module``): copies of the client request, answers thrown away.

Directives: ``mirror uri | off`` (repeatable; ``off`` alone, as nginx: either form after the
other is "is duplicate") and ``mirror_request_body on|off`` (on).  In the precontent phase of
a main request, one background subrequest per URI (a literal URI: no variables, no ``?``
splitting), with the client's method and args, header-only; their output never reaches the
client and does not delay it.  The connection takes the next keep-alive request only when
every mirror has finished: the engine's ``run_request`` waits for a request's subrequests.

With ``mirror_request_body on`` the client body is read in full before the mirrors start
(nginx's ``ngx_http_read_client_request_body`` with a post handler), and the request and every
mirror then read it from that copy, each from its start (``ReplayBody``): nginx shares
``r->request_body`` the same way.  With ``off`` the mirrors get no body (nginx's subrequests
never read the client body) and the main request still reads it as usual.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO

from engine import api

__all__ = ["MODULE", "MirrorLocConf", "ReplayBody"]

_CHUNK = 1 << 16


class ReplayBody:
    """A request body read in full, read again from its start by each reader (one per request):
    the reader interface of the connection's body (``read`` → chunk | None, ``done``)."""

    __slots__ = ("spool", "size", "pos", "done")

    def __init__(self, spool: IO[bytes], size: int) -> None:
        self.spool = spool
        self.size = size
        self.pos = 0
        self.done = size == 0

    async def read(self, discard: bool = False) -> bytes | None:
        if self.pos >= self.size:
            self.done = True
            return None
        # readers share the spool and interleave at awaits: position it for every read
        self.spool.seek(self.pos)
        data = self.spool.read(min(_CHUNK, self.size - self.pos))
        self.pos += len(data)
        return data

    def again(self) -> "ReplayBody":
        """Another reader of the same body, at its start."""
        return ReplayBody(self.spool, self.size)


@dataclass
class MirrorLocConf:
    # None: "mirror off" (nginx's NULL array); a list: the URIs
    uris: list[str] | None | api.Unset = api.UNSET
    request_body: bool | api.Unset = api.UNSET

    def merge(self, parent: "MirrorLocConf") -> None:
        self.uris = api.inherit(self.uris, parent.uris, None)
        self.request_body = api.inherit(self.request_body, parent.request_body, True)


def _has_body(r: api.Request) -> bool:
    headers = r.headers
    return r.body is not None and ("content-length" in headers
                                   or "transfer-encoding" in headers)


async def _read_body(r: api.Request) -> ReplayBody:
    """The whole client body, spooled (to disk above 16 KB) and closed with the request."""
    body = r.body
    if isinstance(body, ReplayBody):  # read already (an internal redirect came back here)
        return body.again()
    spool = tempfile.SpooledTemporaryFile(max_size=16384)
    r.cleanup.append(spool.close)
    size = 0
    while (chunk := await body.read()) is not None:
        spool.write(chunk)
        size += len(chunk)
    replay = ReplayBody(spool, size)
    r.body = replay.again()
    return replay


async def mirror_handler(r: api.Request) -> int:
    if r is not r.main:
        return api.DECLINED
    conf: MirrorLocConf = MODULE.loc(r)
    if not conf.uris:
        return api.DECLINED
    replay = await _read_body(r) if conf.request_body and _has_body(r) else None
    for uri in conf.uris:  # type: ignore[union-attr]
        try:
            sr = api.subrequest(r, uri, r.args, mode=api.SR_BACKGROUND, method=r.method,
                                header_only=True)
        except api.SubrequestError:
            return 500
        # the subrequest has not run yet (it starts at our next await): its body is set in time
        sr.body = replay.again() if replay is not None else None
    return api.DECLINED


def _mirror(cf: api.ConfContext, cmd: api.Directive, conf: MirrorLocConf) -> None:
    if cf.args[1] == "off":
        if conf.uris is not api.UNSET:
            raise cf.error('"mirror" directive is duplicate')
        conf.uris = None
        return
    if conf.uris is None:
        raise cf.error('"mirror" directive is duplicate')
    if conf.uris is api.UNSET:
        conf.uris = []
    conf.uris.append(cf.args[1])


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.PRECONTENT, mirror_handler,
                         subrequest_inert=api.ALWAYS)  # mirrors the main request only


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_mirror",
    directives=[
        api.Directive("mirror", _HSL, api.Args.TAKE1, _mirror),
        api.Directive("mirror_request_body", _HSL, api.Args.FLAG,
                      api.set_flag("request_body")),
    ],
    loc_conf=MirrorLocConf,
    postconfiguration=_postconfiguration,
)
