"""What nginx accepts in a request head, and what it says when it does not: the checks h11
leaves to us (Host validation, methods, repeated headers, header names, buffer limits), the
log message for a head h11 refused, and the choice of virtual server.

Sans-IO: functions of the bytes, h11's events and the configuration; engine/server.py
calls them while reading a request.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, NamedTuple

import h11

from engine.cycle import Cycle, ServerConf
from engine.http_core import HTTP_CORE, CoreSrvConf
from engine.http import log_error
from engine.log import MAX_ERROR_STR
from engine.request import BadRequest, Request, parse_target
from engine.variables import set_captures

__all__ = ["build_request", "METHODS", "METHOD_CHARS", "ODD_NAME_CHAR", "UNIQUE_HEADERS", "Refusal",
           "head_too_large", "header_lines", "named_lines", "refusal", "select_server",
           "valid_headers", "validate_host"]


@functools.lru_cache(maxsize=512)  # clients repeat their Host: one scan per distinct value
def validate_host(host: str) -> str | None:
    """nginx's ``ngx_http_validate_host``: the name without port, ASCII-lowercased, one
    trailing dot dropped; None if invalid (empty, "..", "/", NUL, controls, space, DEL)."""
    dot_pos = -2
    host_len = len(host)
    literal = rest = False
    for i, ch in enumerate(host):
        if ch == ".":
            if dot_pos == i - 1:
                return None
            dot_pos = i
        elif ch == ":":
            if not literal and not rest:
                host_len = i
                rest = True
        elif ch == "[":
            if i == 0:
                literal = True
        elif ch == "]":
            if literal:
                host_len = i + 1
                literal = False
                rest = True
        elif ch == "/" or ch <= " " or ch == "\x7f":
            return None
    if dot_pos == host_len - 1:
        host_len -= 1
    if host_len <= 0:
        return None
    return host[:host_len].translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})
# nginx's ngx_http_process_unique_header_line: sent twice, these are a 400 (checked on 1.22)
UNIQUE_HEADERS = frozenset({"host", "if-range", "if-match", "if-none-match",
                             "if-modified-since", "if-unmodified-since", "expect",
                             "transfer-encoding", "content-length", "authorization",
                             "content-range"})
METHOD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-"
_METHOD_START = re.compile(rb"[A-Z_-]+ ")  # a request line starting with METHOD_CHARS
ODD_NAME_CHAR = re.compile(r"[^a-z0-9\- ]")
_NAME = re.compile(r"[a-z0-9-]+")
_NAME_WITH_UNDERSCORES = re.compile(r"[a-z0-9_-]+")


def valid_headers(server: ServerConf, event: h11.Request, headers_in: list[tuple[str, str]]
                   ) -> tuple[list[tuple[str, str]], list[str]]:
    """nginx reads header names of letters, digits and "-" (and "_" with
    ``underscores_in_headers``); under ``ignore_invalid_headers`` (the default) a line with
    any other byte in its name is dropped (and logged).  The kept headers, and the dropped
    lines as the client sent them."""
    cscf: CoreSrvConf = server.srv_conf[HTTP_CORE]
    if not cscf.ignore_invalid_headers:
        return headers_in, []
    valid = _NAME_WITH_UNDERSCORES if cscf.underscores_in_headers else _NAME
    kept, dropped = [], []
    for (n, v), (raw_name, _) in zip(headers_in, event.headers.raw_items()):
        if valid.fullmatch(n):
            kept.append((n, v))
        else:
            dropped.append(f'{raw_name.decode("latin-1")}: {v}')
    return kept, dropped


class Refusal(NamedTuple):
    """What nginx logs for a request head h11 refused."""

    message: str
    in_line: bool  # about the request line ("while reading client request line")
    request_line: str  # as nginx's log context shows it (up to the first CR or LF)
    host: str  # the Host read before the bad line, if any
    length: int  # nginx's $request_length: the bytes it had taken when it refused


def refusal(h11_message: str, status: int, head: bytes) -> Refusal:
    """``ngx_http_process_request_line`` / ``_request_headers``' view of a head h11
    refused: the message, the log context, and how far nginx had read."""
    head = head.lstrip(b"\r\n")
    end = len(head)
    for stop in (b"\r", b"\n"):
        i = head.find(stop)
        if 0 <= i < end:
            end = i
    request_line = head[:end].decode("latin-1")
    lines = header_lines(head)
    head_end = lines[-1][2] if lines else len(head)
    host = ""
    bad: tuple[str, int] | None = None
    for line, start, _ in lines:
        if not line:
            break
        for i, c in enumerate(line):
            if c <= 0x20 or c == 0x7F or c == 0x3A:  # nginx's end of a header name
                break
        else:
            i, c = len(line), 0
        if c != 0x3A or i == 0:
            bad = (line[:i].decode("latin-1") + "\\x%02x..." % (line[i] if i < len(line)
                                                                else 0), start)
            break
        if line[:i].lower() == b"host" and not host:
            host = line[i + 1:].strip().decode("latin-1")

    def named(name: bytes) -> list[tuple[str, str, int]]:
        return named_lines(lines, name)

    def duplicate(what: str, found: list[tuple[str, str, int]]) -> Refusal:
        (n1, v1, _), (n2, v2, stop) = found[0], found[1]
        return Refusal(f'client sent duplicate {what}: "{n2}: {v2}", previous value: '
                       f'"{n1}: {v1}"', False, request_line, host, stop)

    if status == 414:
        return Refusal("client sent too long URI", True, request_line, "", 0)
    if status == 494:
        return Refusal("client sent too large request", False, request_line, host, 0)
    if h11_message.startswith("illegal request line"):
        method_ok = _METHOD_START.match(head) is not None
        return Refusal("client sent invalid request" if method_ok else
                       "client sent invalid method", True, request_line, "", 0)
    if "Missing mandatory Host" in h11_message:
        return Refusal('client sent HTTP/1.1 request without "Host" header', False,
                       request_line, host, head_end)
    if "multiple Host" in h11_message and len(named(b"host")) > 1:
        return duplicate("host header", named(b"host"))
    if status == 501:
        te = named(b"transfer-encoding")
        value, stop = (te[0][1], te[0][2]) if te else ("", head_end)
        return Refusal(f'client sent unknown "Transfer-Encoding": "{value}"', False,
                       request_line, host, stop)
    if "Content-Length" in h11_message and len(named(b"content-length")) > 1:
        return duplicate("header line", named(b"content-length"))
    if bad is not None:
        return Refusal(f'client sent invalid header line: "{bad[0]}"', False, request_line,
                       host, bad[1])
    return Refusal("client sent invalid request", False, request_line, host, head_end)


def header_lines(head: bytes) -> list[tuple[bytes, int, int]]:
    """The header lines of a raw head (after its request line): (line without CR LF, start,
    end after its LF), up to and including the blank line that ends the head."""
    pos = head.find(b"\n") + 1 if b"\n" in head else len(head)
    lines: list[tuple[bytes, int, int]] = []
    while pos < len(head):
        nl = head.find(b"\n", pos)
        stop = len(head) if nl < 0 else nl + 1
        line = head[pos:stop].rstrip(b"\r\n")
        lines.append((line, pos, stop))
        if not line:
            break
        pos = stop
    return lines


def named_lines(lines: list[tuple[bytes, int, int]], name: bytes
                ) -> list[tuple[str, str, int]]:
    """The lines of header ``name`` (lowercase): (name as sent, value, end offset)."""
    out = []
    for line, _, stop in lines:
        n, sep, v = line.partition(b":")
        if sep and n.lower() == name:
            out.append((n.decode("latin-1"), v.strip().decode("latin-1"), stop))
    return out


def head_too_large(cscf: CoreSrvConf, line_len: int,
                    headers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """414/494 if the head would not fit nginx's header buffers, else 0; with the start of
    a header line too long for any buffer (nginx logs up to 1748 bytes of it).

    nginx reads the head into ``client_header_buffer_size``; a line that does not fit moves
    (whole) into one of ``large_client_header_buffers``: a request line longer than a large
    buffer is 414, a header line is 494, and running out of large buffers is 494.
    """
    num, size = cscf.large_client_header_buffers  # type: ignore[misc]
    cap, fill, used = cscf.client_header_buffer_size, 0, 0
    lines = [line_len] + [len(n) + len(v) + 4 for n, v in headers] + [2]
    for i, n in enumerate(lines):
        if fill + n > cap:  # type: ignore[operator]
            if n > size:
                if i == 0:
                    return 414, ""
                name, value = headers[i - 1]
                text = (name + b": " + value)[:min(size, MAX_ERROR_STR - 300)]
                return 494, text.decode("latin-1")
            used += 1
            if used > num:
                return 494, ""
            cap, fill = size, 0
        fill += n
    return 0, ""


def select_server(cycle: Cycle, key: tuple[str, int], servers: list[ServerConf],
                  host: str) -> tuple[ServerConf, re.Match[str] | None]:
    """nginx's ``ngx_http_find_virtual_server``: the exact name, then the most specific
    leading wildcard (``*.x``, ``.x``), then trailing wildcard (``x.*``) -- from the names as
    nginx hashed them (``cycle.name_hashes``: a conflicting name went to the first server
    in configuration order, or nowhere) -- then the first matching regex in configuration
    order; else the default server (``servers[0]``).  An address nginx did not hash (one
    server, no regex with captures) always gets its default server.

    Returns:
        The server, and the match when a regex chose it (its captures become variables).
    """
    hashes = cycle.name_hashes.get(key)
    if hashes is None:
        return servers[0], None
    srv = hashes.find(host)
    if srv is not None:
        return srv, None
    with_regexes = [srv for srv in servers if srv.srv_conf[HTTP_CORE].name_regexes]
    if len(with_regexes) > 1:
        with_regexes.sort(key=cycle.servers.index)
    for srv in with_regexes:
        for rx in srv.srv_conf[HTTP_CORE].name_regexes:
            m = rx.search(host)
            if m is not None:
                return srv, m
    return servers[0], None


# --- building the request --------------------------------------------------------------------

def build_request(conn: Any, cycle: Cycle, servers: list[ServerConf],
                  event: h11.Request) -> tuple[Request, int]:
    """Build the Request of connection ``conn`` (an ``engine.server.HttpConnection``)
    from h11's event; the int is a status to reject it with (0: acceptable).

    h11 has already checked framing and header syntax; what nginx refuses beyond that is
    checked here, in nginx's order: request line (method, version, length), header lines
    (length, total size of the head), Host, Content-Length with Transfer-Encoding.
    """
    headers_in = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers]
    dropped: list[str] = []
    if ODD_NAME_CHAR.search(" ".join([n for n, _ in headers_in])):
        headers_in, dropped = valid_headers(servers[0], event, headers_in)
    hmap: dict[str, str] = {}
    head_size = 0
    duplicate = None
    pair: tuple[str, str, str, str] | None = None
    for n, v in headers_in:
        head_size += len(n) + len(v) + 4
        if n in hmap:
            if n == "cookie":
                hmap[n] += "; " + v
            elif n == "x-forwarded-for":
                hmap[n] += ", " + v
            elif n in UNIQUE_HEADERS and duplicate is None:
                duplicate = (n, v, hmap[n])
        else:
            hmap[n] = v
    raw_host = hmap.get("host")
    host = validate_host(raw_host) if raw_host is not None else ""
    server, chosen_by = (select_server(cycle, conn.listen_key, servers, host) if host
                         else (servers[0], None))
    r = Request(conn, cycle, server)
    r.method = method = event.method.decode("latin-1")
    r.http_version = version = event.http_version.decode()
    target = event.target.decode("latin-1")
    r.request_uri = target
    r.request_line = line = f"{method} {target} HTTP/{version}"
    r.headers_in = headers_in
    r.headers = hmap
    r.host = host or ""
    # ngx_http_process_connection: "close" anywhere in the value wins, then "keep-alive"
    # (which keeps an HTTP/1.0 client too: each request gets a fresh h11 connection, so
    # h11's own HTTP/1.0 rule does not apply), else the version decides
    # ngx_http_process_connection runs on every Connection line: the last one saying
    # "close" or "keep-alive" (close first) decides, else the version
    r.keepalive = version != "1.0"
    for n, v in headers_in:
        if n == "connection":
            v = v.lower()
            if "close" in v:
                r.keepalive = False
            elif "keep-alive" in v:
                r.keepalive = True
    if chosen_by is not None:  # ngx_http_find_virtual_server's ngx_http_regex_exec
        set_captures(r, chosen_by)
    for text in dropped:
        conn.log_action = "reading client request headers"
        log_error(r, logging.INFO, f'client sent invalid header line: "{text}"')
    r.request_length = conn.fed - len(conn.h11.trailing_data[0])
    r.pipeline = conn.pipelined
    if duplicate is not None:
        # nginx names the headers as the client spelled them
        n, v, first = duplicate
        names = [rn.decode("latin-1") for rn, _ in event.headers.raw_items()
                 if rn.lower() == n.encode("latin-1")]
        pair = (names[1], v, names[0], first)
    elif "content-length" in hmap:
        pair = _repeated_content_length(conn.received, r.request_length)
    if duplicate is not None or pair is not None:
        return r, _reject(conn, 400, 'client sent duplicate header line: "%s: %s", '
                                    'previous value: "%s: %s"' % pair, r)
    if method not in METHODS and method.strip(METHOD_CHARS):
        return r, _reject(conn, 400, "client sent invalid method", r, line=True)
    if version[0] != "1":
        if version[0] == "0":
            return r, _reject(conn, 400, "client sent invalid request", r, line=True)
        return r, _reject(conn, 505, "client sent unsupported HTTP version", r, line=True)
    cscf: CoreSrvConf = servers[0].srv_conf[HTTP_CORE]
    if len(line) + 2 + head_size + 2 > cscf.client_header_buffer_size:  # type: ignore
        status, long_line = head_too_large(cscf, len(line) + 2, event.headers.raw_items())
        if status:
            message = ("client sent too long URI" if status == 414 else
                       f'client sent too long header line: "{long_line}..."' if long_line
                       else "client sent too large request")
            return r, _reject(conn, status, message, r, line=status == 414)
    if host is None:
        return r, _reject(conn, 400, "client sent invalid host header", r)
    if "transfer-encoding" in hmap and version == "1.0":
        # a body framing HTTP/1.0 does not have: refused, as nginx (no request smuggling
        # through a kept-alive HTTP/1.0 connection)
        return r, _reject(conn, 400, 'client sent HTTP/1.0 request with "Transfer-Encoding" '
                                     "header", r)
    if "transfer-encoding" in hmap and "content-length" in hmap:
        return r, _reject(conn, 400, 'client sent "Content-Length" and "Transfer-Encoding" '
                                    "headers at the same time", r)
    try:
        uri, args = parse_target(target, bool(server.srv_conf[HTTP_CORE].merge_slashes))
    except BadRequest as e:  # nginx says no more than this of a URI it cannot parse
        return r, _reject(conn, e.status, "client sent invalid request", r, line=True)
    r.uri, r.args = uri, args
    return r, 0

def _reject(conn: Any, status: int, message: str, r: Request, line: bool = False) -> int:
    """Log why a request is refused while it is read, as nginx does: an info line on
    the request's log (its server's error_log) with the request's context."""
    conn.log_action = ("reading client request line" if line else
                       "reading client request headers")
    if line:  # nginx has not read the headers yet, nor kept a URI
        r.host, r.headers, r.headers_in = "", {}, []
        r.uri = r.request_uri = ""
        # a URI that does not parse was read with its line; a bad line, not at all
        r.request_length = (len(r.request_line) + 2
                            if message == "client sent invalid request" else 0)
    log_error(r, logging.INFO, message)
    return status

def _repeated_content_length(received: list[bytes], head_len: int
                             ) -> tuple[str, str, str, str] | None:
    """A Content-Length line repeated with the same value (h11 merges those; nginx
    1.22 refuses any repeated one): (name, value, first name, first value) or None."""
    head = b"".join(received)[:head_len]
    if head.lower().count(b"content-length") < 2:
        return None
    found = named_lines(header_lines(head), b"content-length")
    if len(found) < 2:
        return None
    (n1, v1, _), (n2, v2, _) = found[:2]
    return n2, v2, n1, v1
