"""``proxy`` (``ngx_http_proxy_module``): HTTP/1.x to an upstream group or a host:port URL.

Directives: ``proxy_pass``, ``proxy_set_header``, ``proxy_http_version``,
``proxy_pass_request_headers``, ``proxy_pass_request_body``, ``proxy_connect_timeout``,
``proxy_send_timeout``, ``proxy_read_timeout``, ``proxy_next_upstream``,
``proxy_next_upstream_tries``, ``proxy_next_upstream_timeout``, ``proxy_intercept_errors``,
``proxy_force_ranges``, ``proxy_hide_header``, ``proxy_pass_header``,
``proxy_ignore_headers``, ``proxy_redirect`` (``default`` and ``off``),
``proxy_buffer_size`` (bounds the response head, as nginx's first buffer: "upstream sent
too big header"), ``proxy_buffers`` and ``proxy_busy_buffers_size`` (checked against it as
nginx does); ``proxy_buffering`` and ``proxy_request_buffering`` are accepted (trinx
streams the response with backpressure).
Variables: ``$proxy_host``, ``$proxy_port``, ``$proxy_add_x_forwarded_for``,
``$upstream_addr``, ``$upstream_status``, ``$upstream_response_time``.

The request line and headers follow reference/upstream.md §1-§2 (URI forms A-E, header
order: ``proxy_set_header`` ones, then the defaults, then the client's).  The client body is
read first, into memory up to 16 KiB and a temporary file beyond (nginx's request
buffering), so a retry can send it again.  Response header lines are read as nginx
reads them (ngx_http_parse_header_line; an invalid one is a 502 naming it), the body framed
as h11 (client side) frames it: chunked, length-delimited or close-delimited.  The common
shape (a valid head with one Content-Length, or no body) takes a fast path that counts
body bytes (see HttpProxy).  A connection that sent more than its
Content-Length is not reused.  ``X-Accel-Redirect`` becomes an internal redirect.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any

import h11

from engine import api
from parsers.httpdate import parse_http_date

__all__ = ["MODULE"]

_HIDDEN = frozenset({"date", "server", "x-pad", "x-accel-expires", "x-accel-redirect",
                     "x-accel-limit-rate", "x-accel-buffering", "x-accel-charset",
                     "connection", "keep-alive", "transfer-encoding", "content-length",
                     "content-type", "last-modified", "etag", "location"})
_SKIP_CLIENT = frozenset({"host", "connection", "content-length", "transfer-encoding", "te",
                          "keep-alive", "expect", "upgrade"})
_KEEP_ON_ACCEL = ("content-type", "set-cookie", "content-disposition", "cache-control",
                  "expires", "accept-ranges")
_NEXT = ("error", "timeout", "invalid_header", "http_500", "http_502", "http_503",
         "http_504", "http_403", "http_404", "http_429", "non_idempotent", "off", "updating")
_IGNORE = ("X-Accel-Redirect", "X-Accel-Expires", "X-Accel-Limit-Rate", "X-Accel-Buffering",
           "X-Accel-Charset", "Expires", "Cache-Control", "Set-Cookie", "Vary")


@dataclass
class ProxyPass:
    """A compiled ``proxy_pass`` URL."""

    url: api.ComplexValue | None  # with variables: evaluated per request
    host: str = ""  # host[:port] as written, or the upstream name
    port: int = 80
    uri: str | None = None  # the URI part, None when absent
    upstream: Any = None  # UpstreamConf, resolved at the end of configuration
    loc_name: str = ""


@dataclass
class ProxyLocConf:
    proxy: ProxyPass | None | api.Unset = api.UNSET
    set_headers: list[tuple[str, api.ComplexValue]] | api.Unset = api.UNSET
    http_version: str | api.Unset = api.UNSET
    pass_request_headers: bool | api.Unset = api.UNSET
    pass_request_body: bool | api.Unset = api.UNSET
    connect_timeout: int | api.Unset = api.UNSET
    send_timeout: int | api.Unset = api.UNSET
    read_timeout: int | api.Unset = api.UNSET
    next_upstream: frozenset[str] | api.Unset = api.UNSET
    next_upstream_tries: int | api.Unset = api.UNSET
    next_upstream_timeout: int | api.Unset = api.UNSET
    intercept_errors: bool | api.Unset = api.UNSET
    force_ranges: bool | api.Unset = api.UNSET
    hide_headers: frozenset[str] | api.Unset = api.UNSET
    pass_headers: frozenset[str] | api.Unset = api.UNSET
    ignore_headers: frozenset[str] | api.Unset = api.UNSET
    redirect: bool | api.Unset = api.UNSET
    buffering: bool | api.Unset = api.UNSET  # checked as nginx, not acted on (see above)
    request_buffering: bool | api.Unset = api.UNSET
    buffer_size: int | api.Unset = api.UNSET  # bounds the response head, as nginx's buffer
    buffers: tuple[int, int] | api.Unset = api.UNSET  # only checked against the others
    busy_buffers_size: int | api.Unset = api.UNSET
    hidden: frozenset[str] = frozenset()  # derived: the response headers not passed
    settings: api.UpstreamSettings | None = None  # derived: the driver's view of the above
    fixed: dict[str, Any] = field(default_factory=dict)  # HttpProxy._fixed_lines by host

    def merge(self, parent: "ProxyLocConf") -> None:
        self.proxy = api.inherit(self.proxy, None, None)  # a content handler: not inherited
        self.set_headers = api.inherit(self.set_headers, parent.set_headers, [])
        self.http_version = api.inherit(self.http_version, parent.http_version, "1.0")
        self.pass_request_headers = api.inherit(self.pass_request_headers,
                                                parent.pass_request_headers, True)
        self.pass_request_body = api.inherit(self.pass_request_body,
                                             parent.pass_request_body, True)
        for attr in ("connect_timeout", "send_timeout", "read_timeout"):
            setattr(self, attr, api.inherit(getattr(self, attr), getattr(parent, attr), 60000))
        self.next_upstream = api.inherit(self.next_upstream, parent.next_upstream,
                                         frozenset(["error", "timeout"]))
        self.next_upstream_tries = api.inherit(self.next_upstream_tries,
                                               parent.next_upstream_tries, 0)
        self.next_upstream_timeout = api.inherit(self.next_upstream_timeout,
                                                 parent.next_upstream_timeout, 0)
        self.intercept_errors = api.inherit(self.intercept_errors, parent.intercept_errors,
                                            False)
        self.force_ranges = api.inherit(self.force_ranges, parent.force_ranges, False)
        self.hide_headers = api.inherit(self.hide_headers, parent.hide_headers, frozenset())
        self.pass_headers = api.inherit(self.pass_headers, parent.pass_headers, frozenset())
        self.ignore_headers = api.inherit(self.ignore_headers, parent.ignore_headers,
                                          frozenset())
        self.redirect = api.inherit(self.redirect, parent.redirect, True)
        self.buffering = api.inherit(self.buffering, parent.buffering, True)
        self.request_buffering = api.inherit(self.request_buffering,
                                             parent.request_buffering, True)
        # nginx's default is one memory page
        self.buffer_size = api.inherit(self.buffer_size, parent.buffer_size, 4096)
        self.buffers = api.inherit(self.buffers, parent.buffers, (8, 4096))
        self.busy_buffers_size = api.inherit(self.busy_buffers_size,
                                             parent.busy_buffers_size, api.UNSET)
        self.hidden = (_HIDDEN | self.hide_headers) - self.pass_headers  # type: ignore
        self.settings = api.UpstreamSettings(
            connect_timeout=self.connect_timeout / 1000,  # type: ignore[operator]
            send_timeout=self.send_timeout / 1000,  # type: ignore[operator]
            read_timeout=self.read_timeout / 1000,  # type: ignore[operator]
            next_upstream=self.next_upstream,  # type: ignore[arg-type]
            tries=self.next_upstream_tries,  # type: ignore[arg-type]
            timeout=self.next_upstream_timeout / 1000)  # type: ignore[operator]


# --- the protocol object ----------------------------------------------------------------------

class HttpProxy:
    """One proxied request: nginx's proxy callbacks.

    The response head is parsed by a fast path for the common shape (``HTTP/1.x`` status
    >= 200, each header line a token, a colon and a value without NUL or edge tabs, one
    ``Content-Length`` or a response without body), which frames the body by counting
    bytes.  Other heads go to _slow: lines as nginx reads them, chunked or
    close-delimited bodies framed by h11 (a fresh ``h11.Connection`` costs a proxied
    request about a quarter of its time, hence the fast path).  The head, status line
    included, must fit in ``proxy_buffer_size`` as in nginx.
    """

    buffering = True  # nginx's u->buffering: body bytes are "reading upstream" from the first

    def __init__(self, r: api.Request, conf: ProxyLocConf, pp: ProxyPass, host: str,
                 uri: str, body: Any, body_len: int) -> None:
        self.r, self.conf, self.pp = r, conf, pp
        self.host, self.uri = host, uri
        self.body, self.body_len = body, body_len
        self.request_bytes = b""
        self.close = True
        self.reinit_request()

    def create_request(self, r: api.Request) -> bytes:
        if self.request_bytes:
            return self.request_bytes
        conf = self.conf
        fixed = conf.fixed.get(self.host)
        if fixed is None:
            fixed = self._fixed_lines(r)
        text, names, self.close = fixed
        lines = [f"{r.method} {self.uri} HTTP/{conf.http_version}\r\n", text]
        if self.body is not None and "content-length" not in names:
            lines.append(f"Content-Length: {self.body_len}\r\n")
        if conf.pass_request_headers:
            for name, value in r.headers_in:
                if name not in names and name not in _SKIP_CLIENT:
                    lines.append(f"{_original_case(name)}: {value}\r\n")
        lines.append("\r\n")
        self.request_bytes = "".join(lines).encode("latin-1", "replace")
        return self.request_bytes

    def _fixed_lines(self, r: api.Request) -> tuple[str, frozenset[str], bool]:
        """The proxy_set_header lines, Host and Connection: (text, the header names set,
        whether the request asks the upstream to close); remembered for the location when
        no value has variables."""
        conf = self.conf
        lines = []
        names: set[str] = set()
        close = conf.http_version == "1.0"
        const = True
        for name, cv in conf.set_headers:  # type: ignore[union-attr]
            low = name.lower()
            names.add(low)
            const = const and cv.const is not None
            value = cv.evaluate(r)
            if value:
                lines.append(f"{name}: {value}\r\n")
                if low == "connection" and value.lower() == "close":
                    close = True
        if "host" not in names:
            lines.append(f"Host: {self.host}\r\n")
        if "connection" not in names:
            lines.append("Connection: close\r\n")
            close = True
        fixed = "".join(lines), frozenset(names), close
        if const:
            if len(conf.fixed) >= 16:  # hosts of a proxy_pass with variables
                conf.fixed.clear()
            conf.fixed[self.host] = fixed
        return fixed

    def reinit_request(self) -> None:
        self.h: h11.Connection | None = None  # the fallback parser, once in use
        self.buf = b""  # head bytes so far; after the head, body bytes that came with it
        self.status = 0
        self.headers: Sequence[tuple[str, str]] = ()
        self.length = 0  # body bytes still to come (fast path)
        self.reusable = False  # the head allows keepalive (fast path)
        self.fed = 0  # bytes given to h11 (its head is bounded by proxy_buffer_size too)

    async def send_body(self, stream: Any) -> None:
        if self.body is None:
            return
        self.body.seek(0)
        while chunk := self.body.read(65536):
            await stream.send_all(chunk)

    def process_header(self, data: bytes) -> int | None:
        if not data:
            return None
        if self.h is not None:
            return self._h11_header(data)
        buf = self.buf + data if self.buf else data
        limit: int = self.conf.buffer_size  # type: ignore[assignment]
        end = buf.find(b"\r\n\r\n", 0, limit)  # the head must fit in proxy_buffer_size
        if end < 0:
            if b"\n\n" in buf or b"\n\r\n" in buf or len(buf) >= limit:
                return self._slow(buf, limit)
            self.buf = buf
            return None
        key = (buf[:end], self.r.method)
        head = _HEADS.get(key, _MISSING)
        if head is _MISSING:
            head = _parse_head(key[0].decode("latin-1"), key[1])
            if len(_HEADS) >= 64:
                _HEADS.clear()
            _HEADS[key] = head
        if head is None:
            return self._slow(buf, limit)
        self.status, version, self.headers, self.length, self.reusable = head
        self.reusable = self.reusable and version == "1" and not self.close
        self.buf = buf[end + 4:]
        return self.status

    def _slow(self, buf: bytes, limit: int) -> int | None:
        """A head off the fast path: its lines read as nginx reads them (_nginx_lines),
        the body framed by counting Content-Length bytes or, for chunked and
        read-until-close bodies, by h11 fed a head of the framing headers only.  A status
        line the fast path refuses (or an informational response) goes to h11 as it came
        (nginx would pass it through as HTTP/0.9: a documented difference)."""
        head = buf[:limit]
        eol = head.find(b"\n")
        line = head[:eol] if eol >= 0 else b""
        if line.endswith(b"\r"):
            line = line[:-1]
        m = _STATUS_LINE.fullmatch(line.decode("latin-1")) if eol >= 0 else None
        if m is None or self.r.method == "CONNECT":
            if eol < 0 and len(buf) < limit:
                self.buf = buf
                return None
            return self._fallback(buf)
        parsed = _nginx_lines(head, eol + 1)
        if parsed is None:
            if len(buf) >= limit:
                raise ValueError("upstream sent too big header")
            self.buf = buf
            return None
        headers, end = parsed
        status = int(m.group(2))
        length = -1
        chunked = False
        framing = []
        for name, value in headers:
            low = name.lower()
            if low == "content-length":
                length = _content_length(value)  # nginx 1.22: the last one counts
            elif low == "transfer-encoding":
                chunked = True
                framing.append(f"{name}: {value}\r\n")
            elif low == "connection":
                framing.append(f"{name}: {value}\r\n")
        self.headers = headers
        if status in (204, 304) or self.r.method == "HEAD":
            length = 0
        if not chunked and length >= 0:
            self.status, self.length, self.buf = status, length, buf[end:]
            self.reusable = m.group(1) == "1" and not self.close and not any(
                _asks_close(v) for n, v in headers if n.lower() == "connection")
            return status
        if length >= 0:
            framing.append(f"Content-Length: {length}\r\n")
        synthetic = (line.decode("latin-1") + "\r\n" + "".join(framing) + "\r\n"
                     ).encode("latin-1")
        self._fallback(synthetic + buf[end:])
        self.headers = headers  # nginx's reading of them, not h11's
        return self.status

    def _fallback(self, data: bytes) -> int | None:
        h = self.h = h11.Connection(h11.CLIENT)
        headers = [("host", "x")]
        if self.close:
            headers.append(("connection", "close"))
        h.send(h11.Request(method=self.r.method, target="/", headers=headers))
        h.send(h11.EndOfMessage())
        self.buf = b""
        self.fed = 0
        return self._h11_header(data)

    def _h11_header(self, data: bytes) -> int | None:
        h = self.h
        assert h is not None
        h.receive_data(data)
        self.fed += len(data)
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError:
                raise ValueError(_INVALID_HEADER) from None
            if event is h11.NEED_DATA:
                if self.fed >= self.conf.buffer_size:  # type: ignore[operator]
                    raise ValueError("upstream sent too big header")
                return None
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self.status = event.status_code
                self.headers = [(n.decode("latin-1"), v.decode("latin-1"))
                                for n, v in event.headers.raw_items()]
                return self.status
            raise ValueError(_INVALID_HEADER)

    def start_body(self, r: api.Request) -> int:
        status = self.status
        conf = self.conf
        ho = r.headers_out
        if conf.intercept_errors and status >= 300 and _has_error_page(r, status):
            return status  # the error_page answers; the backend's headers go
        ho.status = status
        ho.status_line = None
        hide = conf.hidden
        accel = None
        for name, value in self.headers:
            low = name.lower()
            if low == "x-accel-redirect" and "X-Accel-Redirect" not in conf.ignore_headers:  # type: ignore
                accel = value
            if low == "content-type":
                ho.content_type = value
            elif low == "content-length":  # the last one counts, as in nginx 1.22
                ho.content_length = _content_length(value)
            elif low == "last-modified":
                ho.last_modified = _http_time(value)
            elif low == "etag":
                ho.etag = value
            elif low == "location":
                ho.location = self._redirect(value) if conf.redirect else value
            elif low not in hide:
                ho.add(name, value)
        if status in (204, 304) and r.method != "HEAD":
            ho.content_length = -1
        if accel is not None:
            return self._accel_redirect(r, accel)
        if conf.force_ranges:
            r.allow_ranges = True
        return api.send_header(r)

    def _redirect(self, value: str) -> str:
        """``proxy_redirect default``: the proxy_pass URL becomes the location's prefix."""
        pp = self.pp
        prefix = f"http://{self.host}"
        if pp.uri is not None:
            prefix += pp.uri
            return pp.loc_name + value[len(prefix):] if value.startswith(prefix) else value
        return value[len(prefix):] if value.startswith(prefix + "/") else value

    def _accel_redirect(self, r: api.Request, target: str) -> int:
        kept = [(n, v) for n, v in r.headers_out.headers if n.lower() in _KEEP_ON_ACCEL]
        ct = r.headers_out.content_type
        r.headers_out = api.HeadersOut()
        r.headers_out.content_type = ct
        r.headers_out.headers = [[n, v] for n, v in kept]
        self.accel = target
        return ACCEL

    def input_filter(self, data: bytes | None) -> tuple[list[bytes], bool]:
        if self.h is not None:
            return self._h11_body(data)
        if data is None:  # what came with the head
            data, self.buf = self.buf, b""
        left = self.length
        n = len(data)
        if n < left:
            self.length = left - n
            return ([data] if n else []), False
        if n > left:
            # more than Content-Length: the connection is not reused (nginx closes a
            # cached connection that has something to read)
            self.reusable = False
            if left:
                api.log_error(self.r, logging.WARNING, "upstream sent more data than "
                              'specified in "Content-Length" header')
            data = data[:left]
        self.length = 0
        return ([data] if data else []), True

    def _h11_body(self, data: bytes | None) -> tuple[list[bytes], bool]:
        h = self.h
        assert h is not None
        if data is not None:
            h.receive_data(data)
        chunks: list[bytes] = []
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError:
                if data == b"":
                    return chunks, False  # the body ended early: the driver reports it
                # only a chunked body can be invalid (a length or read-to-close one ends)
                raise ValueError("upstream sent invalid chunked response") from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return chunks, False
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return chunks, True

    def keepalive(self) -> bool:
        h = self.h
        if h is None:
            return self.reusable and self.length == 0
        return h.our_state is h11.DONE and h.their_state is h11.DONE


ACCEL = -100  # start_body's "internal redirect instead" code
# a bad header line adds itself up to the bad byte (``: "X-A: a\x00..."``, _invalid); a bad
# status line, which h11 judges, has it bare
_INVALID_HEADER = "upstream sent invalid header"

# h11's grammar (h11/_abnf.py) over the head decoded as latin-1: a token, a colon, a value
# of characters other than NUL and whitespace with single spaces or tabs inside, optional
# whitespace around it.  Explicit classes: str's \s is wider than bytes'.
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([2-9][0-9][0-9])(?: [^\x00\n\r\x0b\x0c]*)?")
_HEADER_LINES = re.compile(  # each match is one whole line or nothing (the lookahead)
    r"\r\n([-!#$%&'*+.^_`|~0-9a-zA-Z]+): *"
    r"((?:[^\x00\t\n\r\x0b\x0c ]+(?:[ \t]+[^\x00\t\n\r\x0b\x0c ]+)*)?) *(?=\r\n|\Z)")
_DIGITS = re.compile(r"[0-9]+")
# Parsed heads by their bytes: a backend sends the same head again and again (the Date
# changes once a second), and the result is immutable (a bounded pure cache).
_HEADS: dict[tuple[bytes, str], Any] = {}
_MISSING = object()


def _parse_head(head: str, method: str
                ) -> tuple[int, str, tuple[tuple[str, str], ...], int, bool] | None:
    """(status, minor version, headers, body length, keepalive allowed by the headers),
    or None when h11 must decide (see HttpProxy)."""
    eol = head.find("\r\n")
    m = _STATUS_LINE.fullmatch(head if eol < 0 else head[:eol])
    if m is None or method == "CONNECT":
        return None
    headers: tuple[tuple[str, str], ...] = ()
    if eol >= 0:
        rest = head[eol:]
        headers = tuple(_HEADER_LINES.findall(rest))
        if len(headers) != rest.count("\r\n"):
            return None  # a line h11 would refuse or read differently
    status = int(m.group(2))
    length = -1
    reusable = True
    for name, value in headers:
        low = name.lower()
        if low == "content-length":
            if length >= 0 or _DIGITS.fullmatch(value) is None:
                return None  # repeated or a list: h11's checks
            length = int(value)
        elif low == "transfer-encoding":
            return None
        elif low == "connection" and _asks_close(value):
            reusable = False
    if status in (204, 304) or method == "HEAD":
        length = 0
    elif length < 0:
        return None  # read until close: h11
    return status, m.group(1), headers, length, reusable


def _asks_close(connection: str) -> bool:
    """A Connection header value with the ``close`` token."""
    return "close" in (t.strip().lower() for t in connection.split(","))


def _content_length(value: str) -> int:
    """A Content-Length value, -1 when not all digits (no length, as nginx)."""
    return int(value) if value.isdigit() and value.isascii() else -1


# --- nginx's header-line parser (ngx_http_parse_header_line), for heads off the fast path --

_NAME_CHARS = frozenset(b"-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _past_crs(buf: bytes, pos: int, n: int, start: int, cr_at: int) -> int | None:
    """nginx's almost-done states at the CR at ``pos``: more CRs, then the LF, whose
    index is returned (None: not read yet); anything else is an invalid header line."""
    pos += 1
    while pos < n and buf[pos] == 0x0D:
        pos += 1
    if pos >= n:
        return None
    if buf[pos] != 0x0A:
        raise _invalid(buf, start, cr_at)
    return pos


def _invalid(buf: bytes, start: int, end: int) -> ValueError:
    """nginx's ``upstream sent invalid header: "<line up to the bad byte>\\xNN..."``."""
    line = buf[start:end].decode("latin-1")
    return ValueError(f'{_INVALID_HEADER}: "{line}\\x{buf[end]:02x}..."')


def _nginx_lines(buf: bytes, pos: int) -> tuple[list[tuple[str, str]], int] | None:
    """The header lines of ``buf`` from ``pos`` (just after the status line) as nginx reads
    an upstream's: ([(name, value)], offset just after the empty line), None when the head
    is not complete yet, ValueError (nginx's message) on an invalid line.  Unlike h11 it
    takes a line without a colon as a header with an empty value, names with any bytes
    above space but ``:`` (nginx only flags those), only spaces (not tabs) around values,
    and skips a duplicate ``HTTP/...`` status line (IIS)."""
    headers: list[tuple[str, str]] = []
    n = len(buf)
    while True:
        if pos >= n:
            return None
        start = pos
        ch = buf[pos]
        if ch == 0x0A:
            return headers, pos + 1
        if ch == 0x0D:  # sw_header_almost_done
            end = _past_crs(buf, pos, n, start, start)
            return None if end is None else (headers, end + 1)
        if ch <= 0x20 or ch == 0x7F or ch == 0x3A:
            raise _invalid(buf, start, start)
        # sw_name
        pos += 1
        while pos < n:
            ch = buf[pos]
            if ch in _NAME_CHARS:
                pos += 1
                continue
            if ch == 0x3A or ch == 0x0D or ch == 0x0A:
                break
            if ch == 0x2F and pos - start == 4 and buf[start:pos] == b"HTTP":
                break
            if ch <= 0x20 or ch == 0x7F:
                raise _invalid(buf, start, pos)
            pos += 1  # nginx's r->invalid_header: accepted from an upstream
        if pos >= n:
            return None
        name = buf[start:pos].decode("latin-1")
        if ch == 0x2F:  # sw_ignore_line
            eol = buf.find(b"\n", pos)
            if eol < 0:
                return None
            pos = eol + 1
            continue
        value_end = pos
        if ch == 0x3A:
            pos += 1
            while pos < n and buf[pos] == 0x20:
                pos += 1
            value_start = value_end = pos
            while pos < n:
                ch = buf[pos]
                if ch == 0x0D or ch == 0x0A:
                    break
                if ch == 0:
                    raise _invalid(buf, start, pos)
                pos += 1
                if ch != 0x20:
                    value_end = pos
            if pos >= n:
                return None
            value = buf[value_start:value_end].decode("latin-1")
            cr_at = value_end  # nginx's header_end: where trailing spaces (or the CR) begin
        else:  # no colon: a header with an empty value
            value = ""
            cr_at = pos
        # sw_almost_done
        if buf[pos] == 0x0D:
            end = _past_crs(buf, pos, n, start, cr_at)
            if end is None:
                return None
            pos = end
        headers.append((name, value))
        pos += 1


def _original_case(name: str) -> str:
    if not name.islower():
        return name
    cased = _CASED.get(name)
    if cased is None:
        cased = "-".join(part[:1].upper() + part[1:] for part in name.split("-"))
        if len(_CASED) >= 256:
            _CASED.clear()
        _CASED[name] = cased
    return cased


_CASED: dict[str, str] = {}


def _http_time(value: str) -> int:
    """A Last-Modified value as epoch seconds (-1 if invalid); backends send the same few
    values again and again, so the parsed ones are remembered (a bounded pure cache)."""
    t = _TIMES.get(value)
    if t is None:
        parsed = parse_http_date(value.encode("latin-1", "replace"))
        t = -1 if parsed is None else parsed
        if len(_TIMES) >= 256:
            _TIMES.clear()
        _TIMES[value] = t
    return t


_TIMES: dict[str, int] = {}


def _has_error_page(r: api.Request, status: int) -> bool:
    pages = api.core_loc_conf(r).error_pages or []
    return any(status in page.codes for page in pages)


# --- the handler ------------------------------------------------------------------------------

async def proxy_handler(r: api.Request) -> int:
    conf: ProxyLocConf = MODULE.loc(r)
    pp: ProxyPass = conf.proxy  # type: ignore[assignment]
    us, host, uri = await _target(r, pp)
    if us is None:
        return 502
    body, body_len = await _read_body(r, conf)
    proto = HttpProxy(r, conf, pp, host, uri, body, body_len)
    try:
        rc = await api.run_upstream(r, us, proto, conf.settings)  # type: ignore[arg-type]
    finally:
        if body is not None:
            body.close()
    if rc == ACCEL:
        return await _follow_accel(r, proto.accel)
    return rc


async def _follow_accel(r: api.Request, target: str) -> int:
    if target.startswith("@"):
        return await api.named_location(r, target)
    path, _, args = target.partition("?")
    try:
        uri, _ = api.parse_uri(path)
    except ValueError:
        return 404
    if r.method != "HEAD":
        r.method = "GET"
    return await api.internal_redirect(r, uri, args)


async def _target(r: api.Request, pp: ProxyPass) -> tuple[Any, str, str]:
    """The group, the Host header value ($proxy_host) and the request-line URI."""
    if pp.url is None:
        return pp.upstream, pp.host, _uri(r, pp.uri, pp.loc_name)
    url = pp.url.evaluate(r)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "http":
        api.log_error(r, logging.ERROR, f'invalid URL prefix in "{url}"')
        return None, "", ""
    hostport, host, port, path = _authority(rest)
    us = api.find_upstream(r.cycle, hostport)
    if us is None:
        try:
            us = await api.runtime_upstream(host, port)
        except OSError:
            api.log_error(r, logging.ERROR, f'no resolver defined to resolve {host}')
            return None, "", ""
    return us, hostport, path or _uri(r, None, "")


def _uri(r: api.Request, uri: str | None, loc_name: str) -> str:
    """The request-line URI for a proxy_pass with URI part ``uri`` in location
    ``loc_name``."""
    if uri is None and r is r.main and not r.internal and _same_uri(r):
        return r.request_uri  # case A: the client's request-target as received
    args = "?" + r.args if r.args else ""
    if uri is not None and r.uri.startswith(loc_name):
        return uri + api.escape_uri(r.uri[len(loc_name):]) + args
    return api.escape_uri(r.uri) + args


def _same_uri(r: api.Request) -> bool:
    try:
        uri, args = api.parse_uri(r.request_uri)
    except ValueError:
        return False
    return uri == r.uri and args == r.args


async def _read_body(r: api.Request, conf: ProxyLocConf) -> tuple[Any, int]:
    """The client body, spooled (nginx's proxy_request_buffering), or (None, 0)."""
    headers = r.headers
    if not conf.pass_request_body or r.body is None or (
            "content-length" not in headers and "transfer-encoding" not in headers):
        return None, 0
    spool = tempfile.SpooledTemporaryFile(max_size=16384)
    size = 0
    while (chunk := await r.body.read()) is not None:
        spool.write(chunk)
        size += len(chunk)
    return spool, size


# --- directives -------------------------------------------------------------------------------

def _proxy_pass(cf: api.ConfContext, cmd: api.Directive, conf: ProxyLocConf) -> None:
    if conf.proxy is not api.UNSET:
        raise cf.error('"proxy_pass" directive is duplicate')
    url = cf.args[1]
    loc = cf.location
    loc_name = loc.name if loc is not None else ""
    if "$" in url:
        conf.proxy = ProxyPass(url=cf.compile(url), loc_name=loc_name)
        api.set_content_handler(cf, proxy_handler)
        return
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise cf.error(f'invalid URL prefix in "{url}"')
    if scheme.lower() != "http":
        raise cf.error(f'invalid URL prefix in "{url}"' if scheme.lower() != "https" else
                       '"https" in "proxy_pass" is not supported by trinx')
    hostport, host, port, uri = _authority(rest)
    if uri is not None and (loc is None or loc.kind in (
            api.LocKind.REGEX, api.LocKind.REGEX_I, api.LocKind.NAMED, api.LocKind.IF)):
        raise cf.error('"proxy_pass" cannot have URI part in location given by regular '
                       'expression, or inside named location, or inside "if" statement, or '
                       'inside "limit_except" block')
    pp = ProxyPass(url=None, host=hostport, port=port, uri=uri, loc_name=loc_name)
    conf.proxy = pp
    api.set_content_handler(cf, proxy_handler)
    api.upstream_add(cf, host, port if hostport != host else None, 80,
                     lambda us: setattr(pp, "upstream", us))


def _authority(rest: str) -> tuple[str, str, int, str | None]:
    """A URL after ``http://``: (host[:port] as written, host, port (80 when none), the
    URI part or None)."""
    slash = rest.find("/")
    hostport, uri = (rest, None) if slash < 0 else (rest[:slash], rest[slash:])
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return hostport, hostport, 80, uri
    return hostport, host, int(port), uri


@dataclass
class ProxyMainConf:
    sized: list[ProxyLocConf] = field(default_factory=list)  # confs setting buffer sizes

    def merge(self, parent: Any) -> None:
        pass


def _sized(setter: Any) -> Any:
    """A buffer-size directive's setter that also remembers the conf for _check_sizes."""
    def wrapped(cf: api.ConfContext, cmd: api.Directive, conf: ProxyLocConf) -> None:
        setter(cf, cmd, conf)
        sized = cf.cycle.main_conf[MODULE].sized
        if not any(c is conf for c in sized):
            sized.append(conf)
    return wrapped


def _buffers(cf: api.ConfContext, cmd: api.Directive, conf: ProxyLocConf) -> None:
    """``proxy_buffers number size`` (ngx_conf_set_bufs_slot)."""
    if conf.buffers is not api.UNSET:
        raise cf.error('"proxy_buffers" directive is duplicate')
    num = int(cf.args[1]) if cf.args[1].isdigit() and cf.args[1].isascii() else 0
    size = api.parse_size(cf.args[2])
    if not num or not size:
        raise cf.error('"proxy_buffers" directive invalid value')
    conf.buffers = (num, size)


def _check_sizes(cf: api.ConfContext) -> None:
    """nginx's checks of merged buffer sizes (ngx_http_proxy_merge_loc_conf): a conf
    that sets one is checked with the defaults for what it inherits nothing of."""
    for conf in cf.cycle.main_conf[MODULE].sized:
        num, bufsize = (8, 4096) if conf.buffers is api.UNSET else conf.buffers
        if num < 2:
            raise cf.error('there must be at least 2 "proxy_buffers"')
        size = max(4096 if conf.buffer_size is api.UNSET else conf.buffer_size, bufsize)
        busy = 2 * size if conf.busy_buffers_size is api.UNSET else conf.busy_buffers_size
        if busy < size:
            raise cf.error('"proxy_busy_buffers_size" must be equal to or greater than the '
                           'maximum of the value of "proxy_buffer_size" and one of the '
                           '"proxy_buffers"')
        if busy > (num - 1) * bufsize:
            raise cf.error('"proxy_busy_buffers_size" must be less than the size of all '
                           '"proxy_buffers" minus one buffer')


def _set_header(cf: api.ConfContext, cmd: api.Directive, conf: ProxyLocConf) -> None:
    if conf.set_headers is api.UNSET:
        conf.set_headers = []
    conf.set_headers.append((cf.args[1], cf.compile(cf.args[2])))  # type: ignore[union-attr]


def _name_set(attr: str) -> Any:
    def setter(cf: api.ConfContext, cmd: api.Directive, conf: ProxyLocConf) -> None:
        current = getattr(conf, attr)
        base = set() if current is api.UNSET else set(current)
        setattr(conf, attr, frozenset(base | {w.lower() for w in cf.args[1:]}))
    return setter


def _redirect(cf: api.ConfContext, cmd: api.Directive, conf: ProxyLocConf) -> None:
    if cf.args[1] not in ("default", "off") or len(cf.args) > 2:
        raise cf.error('"proxy_redirect" with replacement strings is not supported by trinx')
    conf.redirect = cf.args[1] == "default"


def _variables(cf: api.ConfContext) -> None:
    def track(attr: str) -> Any:
        def get(r: api.Request) -> str | None:
            t = r.ctx.get(api.UPSTREAM_TRACK)
            return ", ".join(getattr(t, attr)) if t is not None else None
        return get

    def proxy_host(r: api.Request) -> str | None:
        pp = MODULE.loc(r).proxy
        return pp.host if pp else None

    def proxy_port(r: api.Request) -> str | None:
        pp = MODULE.loc(r).proxy
        return str(pp.port) if pp else None

    def xff(r: api.Request) -> str:
        prior = r.headers.get("x-forwarded-for")
        return f"{prior}, {r.conn.remote_addr}" if prior else r.conn.remote_addr

    cf.add_variable("upstream_addr", track("addrs"))
    cf.add_variable("upstream_status", track("statuses"))
    cf.add_variable("upstream_response_time", track("times"))
    cf.add_variable("proxy_host", proxy_host)
    cf.add_variable("proxy_port", proxy_port)
    cf.add_variable("proxy_add_x_forwarded_for", xff)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC
_D = api.Directive

MODULE = api.Module(
    name="http_proxy",
    directives=[
        _D("proxy_pass", api.Ctx.LOC | api.Ctx.LIF, api.Args.TAKE1, _proxy_pass),
        _D("proxy_set_header", _HSL, api.Args.TAKE2, _set_header),
        _D("proxy_http_version", _HSL, api.Args.TAKE1,
           api.set_enum("http_version", {"1.0": "1.0", "1.1": "1.1"})),
        _D("proxy_pass_request_headers", _HSL, api.Args.FLAG,
           api.set_flag("pass_request_headers")),
        _D("proxy_pass_request_body", _HSL, api.Args.FLAG, api.set_flag("pass_request_body")),
        _D("proxy_connect_timeout", _HSL, api.Args.TAKE1, api.set_msec("connect_timeout")),
        _D("proxy_send_timeout", _HSL, api.Args.TAKE1, api.set_msec("send_timeout")),
        _D("proxy_read_timeout", _HSL, api.Args.TAKE1, api.set_msec("read_timeout")),
        _D("proxy_next_upstream", _HSL, api.Args.ONE_MORE,
           api.set_bitmask("next_upstream", _NEXT)),
        _D("proxy_next_upstream_tries", _HSL, api.Args.TAKE1,
           api.set_num("next_upstream_tries")),
        _D("proxy_next_upstream_timeout", _HSL, api.Args.TAKE1,
           api.set_msec("next_upstream_timeout")),
        _D("proxy_intercept_errors", _HSL, api.Args.FLAG, api.set_flag("intercept_errors")),
        _D("proxy_force_ranges", _HSL, api.Args.FLAG, api.set_flag("force_ranges")),
        _D("proxy_hide_header", _HSL, api.Args.TAKE1, _name_set("hide_headers")),
        _D("proxy_pass_header", _HSL, api.Args.TAKE1, _name_set("pass_headers")),
        _D("proxy_ignore_headers", _HSL, api.Args.ONE_MORE,
           api.set_bitmask("ignore_headers", _IGNORE)),
        _D("proxy_redirect", _HSL, api.Args.TAKE12, _redirect),
        _D("proxy_buffering", _HSL, api.Args.FLAG, api.set_flag("buffering")),
        _D("proxy_request_buffering", _HSL, api.Args.FLAG, api.set_flag("request_buffering")),
        _D("proxy_buffer_size", _HSL, api.Args.TAKE1, _sized(api.set_size("buffer_size"))),
        _D("proxy_buffers", _HSL, api.Args.TAKE2, _sized(_buffers)),
        _D("proxy_busy_buffers_size", _HSL, api.Args.TAKE1,
           _sized(api.set_size("busy_buffers_size"))),
    ],
    main_conf=ProxyMainConf,
    loc_conf=ProxyLocConf,
    preconfiguration=_variables,
    postconfiguration=_check_sizes,
)
