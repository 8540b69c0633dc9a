"""``autoindex`` (``ngx_http_autoindex_module``): directory listings for URIs ending in ``/``.

Directives (http, server, location): ``autoindex on|off`` (off), ``autoindex_format
html|xml|json|jsonp`` (html), ``autoindex_exact_size on|off`` (on), ``autoindex_localtime
on|off`` (off).

The handler runs after ``index`` found nothing (content handlers run last-registered first,
and this module is listed between static and index, as in nginx's auto/modules).  For GET
and HEAD only: the directory is opened (a failure is nginx's ``opendir() "dir" failed``: 404
for ENOENT/ENOTDIR/ENAMETOOLONG, 403 for EACCES, else 500 at crit), the header goes out
(chunked, no Last-Modified/ETag), then every entry not starting with ``.`` is ``stat()``-ed
(following symlinks; a dangling or looping link is ``lstat()``-ed instead), directories
sorted first, then names by bytes.

Formats, byte for byte as nginx 1.22 writes them:

- html: names URI-escaped in the link, HTML-escaped in the text, cut at 50 characters (47
  and ``..&gt;``), counted in UTF-8 characters when the response charset is utf-8; dates
  ``02-Jan-2024 03:04`` (UTC unless ``autoindex_localtime``); sizes exact (``%19O``) or
  scaled (``10K``, ``4M``, rounded as nginx);
- xml (``text/xml; charset=utf-8``): ``<directory|file|other mtime="..Z" [size=".."]>``;
- json / jsonp (``?callback=name``; an empty or absent one is plain json; a name longer than
  128 or with characters beyond ``[A-Za-z0-9_.]`` is a 400, logged at info).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

from engine import api

__all__ = ["MODULE", "AutoindexLocConf"]

NAME_LEN = 50  # NGX_HTTP_AUTOINDEX_NAME_LEN
_FORMATS = {f: f for f in ("html", "xml", "json", "jsonp")}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class AutoindexLocConf:
    enable: bool | api.Unset = api.UNSET
    format: str | api.Unset = api.UNSET
    exact_size: bool | api.Unset = api.UNSET
    localtime: bool | api.Unset = api.UNSET

    def merge(self, parent: "AutoindexLocConf") -> None:
        self.enable = api.inherit(self.enable, parent.enable, False)
        self.format = api.inherit(self.format, parent.format, "html")
        self.exact_size = api.inherit(self.exact_size, parent.exact_size, True)
        self.localtime = api.inherit(self.localtime, parent.localtime, False)


@dataclass(frozen=True)
class Entry:
    name: bytes
    is_dir: bool
    is_file: bool
    mtime: int
    size: int


async def autoindex_handler(r: api.Request) -> int:
    if not r.uri.endswith("/") or r.method not in ("GET", "HEAD"):
        return api.DECLINED
    conf: AutoindexLocConf = MODULE.loc(r)
    if not conf.enable:
        return api.DECLINED
    rc = await api.discard_request_body(r)
    if rc != api.OK:
        return rc
    path = api.map_uri_to_path(r)
    if not path:
        return 500 if path is None else 404
    if len(path) > 1:
        path = path[:-1]  # nginx opens the directory without its trailing slash
    bpath = path.encode("latin-1", "surrogateescape")
    try:
        scan = os.scandir(bpath)
    except OSError as e:
        return _open_error(r, path, e)
    except ValueError:  # a NUL in the path
        return 404
    with scan:
        fmt, callback = conf.format, ""
        if fmt == "jsonp":
            cb = _callback(r)
            if cb is None:
                return 400
            callback = cb
            if not callback:
                fmt = "json"
        ho = r.headers_out
        ho.status = 200
        ho.content_type = {"json": "application/json", "jsonp": "application/javascript",
                           "xml": "text/xml"}.get(fmt, "text/html")  # type: ignore[arg-type]
        if fmt == "xml":
            ho.charset = "utf-8"
        rc = api.send_header(r)
        if rc != api.OK or r.header_only:
            if rc == api.OK:
                await api.output(r, [api.Buf(last=True)])
            return rc
        entries = _read(r, bpath, scan)
    if entries is None:
        return api.ERROR
    # directories first, then the names' bytes (ngx_http_autoindex_cmp_entries)
    entries.sort(key=lambda e: (not e.is_dir, e.name))
    if fmt == "html":
        utf8 = (ho.charset or "").lower() == "utf-8"
        body = _html(r.uri, entries, conf, utf8)
    elif fmt == "xml":
        body = _xml(entries)
    else:
        body = _json(entries, callback)
    await api.output(r, [api.Buf(body, last=True)])
    return api.OK


def _open_error(r: api.Request, path: str, e: OSError) -> int:
    if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
        level, status = logging.ERROR, 404
    elif e.errno == errno.EACCES:
        level, status = logging.ERROR, 403
    else:
        level, status = logging.CRITICAL, 500
    api.log_error(r, level, f'opendir() "{path}" failed ({e.errno}: {e.strerror})')
    return status


def _callback(r: api.Request) -> str | None:
    """``ngx_http_autoindex_jsonp_callback``: the raw ``callback`` argument ("" if none), or
    None (logged) when it is too long or has characters nginx refuses."""
    value = api.variable(r, "arg_callback")
    if not value:
        return ""
    if len(value) > 128:
        api.log_error(r, logging.INFO, f'client sent too long callback name: "{value}"')
        return None
    if not all(c.isascii() and (c.isalnum() or c in "_.") for c in value):
        api.log_error(r, logging.INFO, f'client sent invalid callback name: "{value}"')
        return None
    return value


def _read(r: api.Request, bpath: bytes, scan: "os.scandir[bytes]") -> list[Entry] | None:
    """The listed entries (not starting with "."); None after a logged fatal error."""
    out: list[Entry] = []
    for de in scan:
        name = de.name
        if name.startswith(b"."):
            continue
        full = bpath + b"/" + name
        try:
            st = os.stat(full)
        except OSError as e:
            shown = full.decode("latin-1")
            if e.errno not in (errno.ENOENT, errno.ELOOP):
                api.log_error(r, logging.CRITICAL,
                              f'stat() "{shown}" failed ({e.errno}: {e.strerror})')
                if e.errno == errno.EACCES:
                    continue
                return None
            try:
                st = os.lstat(full)
            except OSError as e2:
                api.log_error(r, logging.CRITICAL,
                              f'lstat() "{shown}" failed ({e2.errno}: {e2.strerror})')
                return None
        out.append(Entry(name, stat.S_ISDIR(st.st_mode), stat.S_ISREG(st.st_mode),
                         int(st.st_mtime), st.st_size))
    return out


def _escape_html(b: bytes) -> bytes:
    return (b.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
            .replace(b'"', b"&quot;"))


def _utf8_chars(b: bytes) -> list[bytes] | None:
    """The characters of valid UTF-8 (ngx_utf8_length); None when it is not UTF-8."""
    try:
        return [c.encode() for c in b.decode("utf-8")]
    except UnicodeDecodeError:
        return None


def _html(uri: str, entries: list[Entry], conf: AutoindexLocConf, utf8: bool) -> bytes:
    title = _escape_html(uri.encode("latin-1", "surrogateescape"))
    parts = [b"<html>\r\n<head><title>Index of ", title, b"</title></head>\r\n<body>\r\n"
             b"<h1>Index of ", title, b"</h1><hr><pre><a href=\"../\">../</a>\r\n"]
    gmtoff = time.localtime().tm_gmtoff if conf.localtime else 0
    for e in entries:
        href = quote_from_bytes(e.name, safe="").encode() + (b"/" if e.is_dir else b"")
        chars = _utf8_chars(e.name) if utf8 else None
        if chars is None or len(chars) == len(e.name):
            chars = [bytes((c,)) for c in e.name]
        length = len(chars)
        shown = b"".join(chars[:NAME_LEN - 3 if length > NAME_LEN else NAME_LEN])
        text = _escape_html(shown)
        if length > NAME_LEN:
            text += b"..&gt;</a>"
        else:
            if e.is_dir and NAME_LEN - length > 0:
                text += b"/"
                length += 1
            text += b"</a>" + b" " * max(NAME_LEN - length, 0)
        tm = time.gmtime(e.mtime + gmtoff)
        date = (f" {tm.tm_mday:02d}-{_MONTHS[tm.tm_mon - 1]}-{tm.tm_year} "
                f"{tm.tm_hour:02d}:{tm.tm_min:02d} ").encode()
        parts += [b'<a href="', href, b'">', text, date, _size(e, bool(conf.exact_size)),
                  b"\r\n"]
    parts.append(b"</pre><hr></body>\r\n</html>\r\n")
    return b"".join(parts)


def _size(e: Entry, exact: bool) -> bytes:
    if exact:
        return b"                  -" if e.is_dir else b"%19d" % e.size
    if e.is_dir:
        return b"      -"
    n = e.size
    for unit, scale in ((1 << 30, b"G"), (1 << 20, b"M")):
        if n > unit - 1:
            size = n // unit + (1 if n % unit > unit // 2 - 1 else 0)
            return b"%6d%s" % (size, scale)
    if n > 9999:
        return b"%6dK" % (n // 1024 + (1 if n % 1024 > 511 else 0))
    return b" %6d" % n


def _kind(e: Entry) -> bytes:
    return b"directory" if e.is_dir else b"file" if e.is_file else b"other"


def _xml(entries: list[Entry]) -> bytes:
    parts = [b'<?xml version="1.0"?>\r\n<list>\r\n']
    for e in entries:
        kind = _kind(e)
        tm = time.gmtime(e.mtime)
        parts.append(b'<%s mtime="%04d-%02d-%02dT%02d:%02d:%02dZ"' % (
            kind, tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec))
        if e.is_file:
            parts.append(b' size="%d"' % e.size)
        parts.append(b">" + _escape_html(e.name) + b"</" + kind + b">\r\n")
    parts.append(b"</list>\r\n")
    return b"".join(parts)


_JSON_ESC = {0x22: b'\\"', 0x5C: b"\\\\", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t",
             0x08: b"\\b", 0x0C: b"\\f"}


def _escape_json(b: bytes) -> bytes:
    """``ngx_escape_json``: quote, backslash and control characters; other bytes as they are."""
    if not any(c < 0x20 or c in (0x22, 0x5C) for c in b):
        return b
    return b"".join(_JSON_ESC.get(c, b"\\u%04x" % c if c < 0x20 else bytes((c,))) for c in b)


def _json(entries: list[Entry], callback: str) -> bytes:
    parts = [b"/* callback */\r\n" + callback.encode() + b"(" if callback else b"", b"["]
    for i, e in enumerate(entries):
        if i:
            parts.append(b",")
        parts.append(b'\r\n{ "name":"' + _escape_json(e.name) + b'", "type":"' + _kind(e)
                     + b'", "mtime":"' + api.http_date(e.mtime).encode())
        parts.append(b'", "size":%d }' % e.size if e.is_file else b'" }')
    parts.append(b"\r\n]")
    if callback:
        parts.append(b");")
    return b"".join(parts)


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.CONTENT, autoindex_handler)


_CTX = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_autoindex",
    loc_conf=AutoindexLocConf,
    directives=[
        api.Directive("autoindex", _CTX, api.Args.FLAG, api.set_flag("enable")),
        api.Directive("autoindex_format", _CTX, api.Args.TAKE1,
                      api.set_enum("format", _FORMATS)),
        api.Directive("autoindex_exact_size", _CTX, api.Args.FLAG, api.set_flag("exact_size")),
        api.Directive("autoindex_localtime", _CTX, api.Args.FLAG, api.set_flag("localtime")),
    ],
    postconfiguration=_postconfiguration,
)
