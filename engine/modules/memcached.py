"""``memcached`` (``ngx_http_memcached_module``): a value from memcached as the response.

Directives: ``memcached_pass`` (host:port or an upstream name), ``memcached_connect_timeout``,
``memcached_send_timeout``, ``memcached_read_timeout``, ``memcached_next_upstream``
(error, timeout, invalid_response, not_found, off), ``memcached_gzip_flag``;
``memcached_buffer_size`` accepted.  The key is ``$memcached_key`` (set with ``set``),
escaped as nginx does (bytes up to space and ``%``).  Runs on the same upstream driver as
proxy (reference/upstream.md §10): ``VALUE key flags len`` → 200 with that body
(single ranges allowed), ``END`` → 404 through error_page, anything else → 502.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from engine import api

__all__ = ["MODULE"]

_NEXT = ("error", "timeout", "invalid_response", "not_found", "off")


@dataclass
class MemcachedLocConf:
    target: Any = api.UNSET  # (host, port, name) until bound to an UpstreamConf
    connect_timeout: int | api.Unset = api.UNSET
    send_timeout: int | api.Unset = api.UNSET
    read_timeout: int | api.Unset = api.UNSET
    next_upstream: frozenset[str] | api.Unset = api.UNSET
    gzip_flag: int | api.Unset = api.UNSET
    buffer_size: int | api.Unset = api.UNSET
    settings: api.UpstreamSettings | None = None  # derived: the driver's view of the above

    def merge(self, parent: "MemcachedLocConf") -> None:
        self.target = api.inherit(self.target, None, None)
        for attr in ("connect_timeout", "send_timeout", "read_timeout"):
            setattr(self, attr, api.inherit(getattr(self, attr), getattr(parent, attr), 60000))
        self.next_upstream = api.inherit(self.next_upstream, parent.next_upstream,
                                         frozenset(["error", "timeout"]))
        self.gzip_flag = api.inherit(self.gzip_flag, parent.gzip_flag, 0)
        self.buffer_size = api.inherit(self.buffer_size, parent.buffer_size, 4096)
        self.settings = api.UpstreamSettings(
            connect_timeout=self.connect_timeout / 1000,  # type: ignore[operator]
            send_timeout=self.send_timeout / 1000,  # type: ignore[operator]
            read_timeout=self.read_timeout / 1000,  # type: ignore[operator]
            next_upstream=frozenset({"invalid_header" if w == "invalid_response" else
                                     "http_404" if w == "not_found" else w
                                     for w in self.next_upstream}),  # type: ignore[union-attr]
            schema="memcached://")


class MemcachedProtocol:
    """One ``get``: nginx's memcached callbacks, sans-IO over the bytes received."""

    buffering = False  # the value bytes read with the header are filtered at once
    uri = ""  # nginx names no URI: upstream: "memcached://host:port"

    def __init__(self, r: api.Request, key: str, gzip_flag: int) -> None:
        self.r, self.key, self.gzip_flag = r, key, gzip_flag
        self.buf = b""
        self.flags = 0
        self.length = 0
        self.left = 0
        self.trailer = b""
        self.complete = False

    def create_request(self, r: api.Request) -> bytes:
        return b"get " + self.key.encode("latin-1", "replace") + b"\r\n"

    def reinit_request(self) -> None:
        self.buf = b""

    async def send_body(self, stream: Any) -> None:
        pass

    def process_header(self, data: bytes) -> int | None:
        self.buf += data
        line, sep, rest = self.buf.partition(b"\r\n")
        if not sep:
            if not data:
                return None
            if len(self.buf) > 4096:
                raise ValueError("memcached sent invalid response")
            return None
        if line == b"END":
            api.log_error(self.r, logging.INFO,
                          f'key: "{self.key}" was not found by memcached')
            self.complete = True
            return 404
        parts = line.split(b" ")
        if (len(parts) != 4 or parts[0] != b"VALUE" or parts[1] != self.key.encode("latin-1")
                or not parts[2].isdigit() or not parts[3].isdigit()):
            raise ValueError("memcached sent invalid response")
        self.flags, self.length = int(parts[2]), int(parts[3])
        self.left = self.length
        self.buf = rest
        return 200

    def start_body(self, r: api.Request) -> int:
        if self.complete:  # END: nginx's own 404, through error_page
            return 404
        ho = r.headers_out
        ho.status = 200
        ho.content_length = self.length
        api.set_content_type(r)
        if self.gzip_flag and self.flags & self.gzip_flag:
            ho.add("Content-Encoding", "gzip")
            ho.content_encoding = "gzip"
        r.allow_ranges = True
        return api.send_header(r)

    def input_filter(self, data: bytes | None) -> tuple[list[bytes], bool]:
        if data is not None:
            if not data:
                return [], False  # closed early: the driver reports it
            self.buf += data
        out: list[bytes] = []
        if self.left:
            piece = self.buf[:self.left]
            self.left -= len(piece)
            self.buf = self.buf[len(piece):]
            if piece:
                out.append(piece)
        if not self.left:
            self.trailer += self.buf
            self.buf = b""
            if len(self.trailer) >= 7 or not b"\r\nEND\r\n".startswith(self.trailer):
                if self.trailer[:7] != b"\r\nEND\r\n":
                    # the value was whole: nginx logs, ends the response as complete and
                    # does not keep the connection
                    api.log_error(self.r, logging.ERROR, "memcached sent invalid trailer")
                    return out, True
                self.complete = True
                return out, True
        return out, False

    def keepalive(self) -> bool:
        return self.complete


def _escape(key: str) -> str:
    return "".join(f"%{ord(c):02X}" if ord(c) <= 0x20 or c == "%" else c for c in key)


async def memcached_handler(r: api.Request) -> int:
    if r.method not in ("GET", "HEAD"):
        return 405
    conf: MemcachedLocConf = MODULE.loc(r)
    key = api.variable(r, "memcached_key")
    if not key:
        api.log_error(r, logging.ERROR, 'the "$memcached_key" variable is not set')
        return 500
    rc = await api.discard_request_body(r)
    if rc != api.OK:
        return rc
    return await api.run_upstream(r, conf.target, MemcachedProtocol(r, _escape(key),
                                                                     conf.gzip_flag),
                                  conf.settings)  # type: ignore[arg-type]


def _pass(cf: api.ConfContext, cmd: api.Directive, conf: MemcachedLocConf) -> None:
    if conf.target is not api.UNSET:
        raise cf.error('"memcached_pass" directive is duplicate')
    value = cf.args[1]
    if "://" in value:
        value = value.split("://", 1)[1]
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        host, port = value, ""
    conf.target = None
    api.upstream_add(cf, host, int(port) if port else None, 11211,
                     lambda us: setattr(conf, "target", us))
    api.set_content_handler(cf, memcached_handler)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC
_D = api.Directive

MODULE = api.Module(
    name="http_memcached",
    directives=[
        _D("memcached_pass", api.Ctx.LOC | api.Ctx.LIF, api.Args.TAKE1, _pass),
        _D("memcached_connect_timeout", _HSL, api.Args.TAKE1, api.set_msec("connect_timeout")),
        _D("memcached_send_timeout", _HSL, api.Args.TAKE1, api.set_msec("send_timeout")),
        _D("memcached_read_timeout", _HSL, api.Args.TAKE1, api.set_msec("read_timeout")),
        _D("memcached_next_upstream", _HSL, api.Args.ONE_MORE,
           api.set_bitmask("next_upstream", _NEXT)),
        _D("memcached_gzip_flag", _HSL, api.Args.TAKE1, api.set_num("gzip_flag")),
        _D("memcached_buffer_size", _HSL, api.Args.TAKE1, api.set_size("buffer_size")),
    ],
    loc_conf=MemcachedLocConf,
)
