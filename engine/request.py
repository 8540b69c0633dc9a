"""The request object, response headers, buffers, and request-target normalisation.

A ``Request`` is nginx's ``ngx_http_request_t`` reduced to what Python needs: the parsed
request, the current URI/location/confs, the response headers being built, per-module ``ctx``,
and the subrequest links (``main``, ``parent``).  It holds no socket: the connection shell in
``engine.server`` owns I/O and is reached only through ``r.conn``.

``parse_target`` is sans-IO: the rules of nginx's ``ngx_http_parse_complex_uri`` (percent
decoding, dot segments, merged slashes) as a pure function returning the URI or raising
``BadRequest``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from engine.cycle import Cycle, ServerConf
    from engine.locations import Location

__all__ = ["Request", "HeadersOut", "Buf", "FileRef", "BadRequest", "parse_target", "parse_uri",
           "split_exten", "OK", "DECLINED", "DONE", "ERROR"]

# handler return codes (nginx's NGX_OK / NGX_DECLINED / NGX_DONE / NGX_ERROR)
OK = 0
ERROR = -1
DONE = -4
DECLINED = -5


class BadRequest(Exception):
    """The peer sent something unparsable; ``status`` is what to answer (400 by default)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


_HEX = "0123456789abcdefABCDEF"


def _percent_decode(path: str) -> str:
    parts = path.split("%")
    out = [parts[0]]
    for chunk in parts[1:]:
        if len(chunk) < 2 or chunk[0] not in _HEX or chunk[1] not in _HEX:
            raise BadRequest("client sent invalid request: bad percent-encoding")
        out.append(chr(int(chunk[:2], 16)))
        out.append(chunk[2:])
    return "".join(out)


def parse_target(target: str, merge_slashes: bool = True) -> tuple[str, str]:
    """Split a request-target into (normalised decoded URI, raw args).

    Raises:
        BadRequest: ``*``, not origin/absolute form, bad ``%`` escape, NUL, or ``..`` above /.
    """
    if target[:1] != "/":
        # absolute-form: any alphabetic scheme (nginx's sw_schema), "://", host; only the
        # path and query are used
        colon = target.find("://")
        if colon <= 0 or not target[:colon].isalpha() or not target[:colon].isascii():
            raise BadRequest("client sent invalid request")
        rest = target[colon + 3:]
        slash = rest.find("/")
        q = rest.find("?")
        if slash < 0 or (0 <= q < slash):
            target = "/" + (rest[q:] if q >= 0 else "")
        else:
            target = rest[slash:]
    h = target.find("#")
    if h >= 0:
        target = target[:h]  # a fragment ends the path, and the args if it follows "?"
    q = target.find("?")
    if q >= 0:
        path, args = target[:q], target[q + 1:]
    else:
        path, args = target, ""
    if "%" in path:
        path = _percent_decode(path)
    if "\x00" in path:
        raise BadRequest("client sent invalid request: NUL in URI")
    if "/." not in path and (not merge_slashes or "//" not in path):
        return path, args
    return _normalise(path, merge_slashes), args


def _normalise(path: str, merge_slashes: bool) -> str:
    segs = path.split("/")
    out: list[str] = []
    last = len(segs) - 1
    for i, seg in enumerate(segs[1:], 1):
        if seg == "." or (seg == "" and merge_slashes and i != last):
            if i == last:
                out.append("")
            continue
        if seg == "..":
            if not out:
                raise BadRequest("client sent invalid request: .. above root")
            out.pop()
            if i == last:
                out.append("")
            continue
        out.append(seg)
    return "/" + "/".join(out)


def parse_uri(target: str) -> tuple[str, str]:
    """``parse_target`` for module code: (decoded URI, args), ValueError if unsafe/invalid."""
    try:
        return parse_target(target)
    except BadRequest as e:
        raise ValueError(str(e)) from None


def split_exten(uri: str) -> str:
    """The extension nginx uses for ``types``: after the last ``.`` of the last segment."""
    dot = uri.rfind(".")
    if dot <= 0:
        return ""
    slash = uri.rfind("/")
    if dot < slash or dot == slash + 1:
        return ""
    return uri[dot + 1:]


FILE_PIECE = 1 << 16  # what a filter reads of a file at a time (Buf.file_pieces)


class FileRef:
    """An open file a response body refers to (closed by the request's cleanup)."""

    __slots__ = ("fd", "path", "size", "mtime")

    def __init__(self, fd: int, path: str, size: int, mtime: int) -> None:
        self.fd = fd
        self.path = path
        self.size = size
        self.mtime = mtime

    def read(self, pos: int, n: int) -> bytes:
        return os.pread(self.fd, n, pos)


class Buf:
    """A piece of response body: bytes in memory or a region of an open file.

    ``flush`` asks every stage below to send what it holds; ``last`` ends the main response;
    ``last_in_chain`` ends one (sub)request's part of it (nginx's ``last_in_chain``).
    """

    __slots__ = ("data", "file", "file_pos", "file_last", "flush", "last", "last_in_chain")

    def __init__(self, data: bytes | memoryview | None = None, *, file: FileRef | None = None,
                 file_pos: int = 0, file_last: int = 0, flush: bool = False,
                 last: bool = False, last_in_chain: bool = False) -> None:
        self.data = data
        self.file = file
        self.file_pos = file_pos
        self.file_last = file_last
        self.flush = flush
        self.last = last
        self.last_in_chain = last_in_chain

    def __len__(self) -> int:
        if self.file is not None:
            return self.file_last - self.file_pos
        return len(self.data) if self.data is not None else 0

    @property
    def in_file(self) -> bool:
        return self.file is not None

    def file_pieces(self) -> "Iterator[tuple[int, bytes]]":
        """A file region's bytes, ``FILE_PIECE`` at a time with their file offset: how a
        filter that must see the bytes reads a file without holding it whole."""
        assert self.file is not None
        end = self.file_last
        for pos in range(self.file_pos, end, FILE_PIECE):
            yield pos, self.file.read(pos, min(FILE_PIECE, end - pos))

    def bytes(self) -> bytes:
        """The content as bytes (reads the file region: use for small regions only)."""
        if self.file is not None:
            return self.file.read(self.file_pos, self.file_last - self.file_pos)
        return bytes(self.data) if self.data is not None else b""

    def __repr__(self) -> str:
        flags = "".join(f" {f}" for f in ("flush", "last", "last_in_chain") if getattr(self, f))
        if self.file is not None:
            return f"<Buf file {self.file.path}:{self.file_pos}-{self.file_last}{flags}>"
        return f"<Buf {self.data!r:.40}{flags}>"


class HeadersOut:
    """Response headers: the fields nginx keeps apart, plus the rest in order of addition."""

    __slots__ = ("status", "status_line", "content_type", "charset", "content_length",
                 "last_modified", "location", "etag", "content_encoding", "headers")

    def __init__(self) -> None:
        self.status = 0
        self.status_line: str | None = None
        self.content_type: str | None = None
        self.charset: str | None = None
        self.content_length = -1
        self.last_modified = -1
        self.location: str | None = None
        self.etag: str | None = None
        self.content_encoding: str | None = None
        self.headers: list[list[str]] = []

    def add(self, name: str, value: str) -> None:
        self.headers.append([name, value])

    def get(self, name: str) -> str | None:
        lname = name.lower()
        for n, v in self.headers:
            if n.lower() == lname:
                return v
        return None

    def remove(self, name: str) -> None:
        lname = name.lower()
        self.headers = [h for h in self.headers if h[0].lower() != lname]

    def clear_length_and_ranges(self) -> None:
        """What a body-changing filter does (``ngx_http_clear_content_length`` & co)."""
        self.content_length = -1
        self.remove("Accept-Ranges")


class Request:
    """One HTTP request or subrequest, from location matching to finalisation."""

    __slots__ = (
        "conn", "cycle", "server", "srv_conf", "main_conf", "loc_conf", "loc", "ctx",
        "method", "http_version", "request_line", "request_uri", "uri", "args", "_exten",
        "headers_in", "headers", "host", "headers_out", "main", "parent",
        "subrequests", "uri_changes", "internal", "captures", "variables", "header_sent",
        "header_only", "start_time", "body_bytes_sent", "bytes_sent", "keepalive",
        "allow_ranges", "error_page", "cleanup", "filter_need_in_memory", "content_handler",
        "done", "request_length", "valid_location", "uri_changed", "err_status", "body",
        "expect_tested", "postpone", "out_node", "sr", "out_body", "gzip_vary", "pipeline",
        "log_upstream", "skip_filters",
        "__weakref__",
    )

    def __init__(self, conn: Any, cycle: "Cycle", server: "ServerConf") -> None:
        self.conn = conn
        self.cycle = cycle
        self.server = server
        self.srv_conf = server.srv_conf
        self.main_conf = cycle.main_conf
        self.loc_conf: dict[Any, Any] = server.root.loc_conf
        self.loc: "Location" = server.root
        self.ctx: dict[Any, Any] = {}
        self.method = "GET"
        self.http_version = "1.1"
        self.request_line = ""
        self.request_uri = ""
        self.uri = "/"
        self.args = ""
        self._exten: str | None = None
        self.headers_in: list[tuple[str, str]] = []  # (lowercase name, value), in order
        self.headers: dict[str, str] = {}  # first occurrence by lowercase name
        self.host = ""
        self.headers_out = HeadersOut()
        self.main: Request = self
        self.parent: Request | None = None
        self.subrequests = 51
        self.uri_changes = 11
        self.internal = False
        self.captures: Any = None
        self.variables: dict[str, str] = {}
        self.header_sent = False
        self.header_only = False
        self.start_time = time.time()
        self.body_bytes_sent = 0
        self.bytes_sent = 0
        self.keepalive = False
        self.allow_ranges = False
        self.error_page = False
        self.cleanup: list[Any] = []
        self.filter_need_in_memory = False
        self.content_handler: Any = None
        self.done = False
        self.request_length = 0
        self.valid_location = True
        self.uri_changed = False
        self.err_status = 0  # status forced by error_page (nginx's r->err_status)
        self.body: Any = None  # request body reader, set by the connection
        self.expect_tested = False  # 100-continue sent or no longer wanted (nginx's flag)
        # subrequests (engine.subrequest): the main request's output tree, this request's
        # place in it, and a subrequest's mode/completion state
        self.postpone: Any = None
        self.out_node: Any = None
        self.sr: Any = None
        self.out_body = b""  # an in-memory subrequest's body, once it has finished
        self.gzip_vary = False  # the header filter adds "Vary: Accept-Encoding" (gzip_vary)
        self.pipeline = False  # read from bytes the previous request left ($pipe)
        self.log_upstream: str | None = None  # error-log lines' ", upstream: ..." (http.py)
        self.skip_filters = False  # a subrequest's output goes straight to postpone (http.py)

    @property
    def exten(self) -> str:
        if self._exten is None:
            self._exten = split_exten(self.uri)
        return self._exten

    def set_uri(self, uri: str) -> None:
        self.uri = uri
        self._exten = None

    def header_in(self, name: str) -> str | None:
        """First request header ``name`` (case-insensitive), or None."""
        return self.headers.get(name.lower())

    def run_cleanup(self) -> None:
        while self.cleanup:
            fn = self.cleanup.pop()
            try:
                fn()
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}{'?' + self.args if self.args else ''}>"
