"""The core variables (``ngx_http_variables.c``): request, connection, response, time.

Registered into every cycle by the http core module's preconfiguration hook.  Getters return
``None`` for "not found" (printed as ``-`` in access logs) and ``""`` for found-but-empty.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable

from engine.cycle import ConfContext
from engine.special import NGINX_VERSION
from engine.util import time_iso8601, time_local

__all__ = ["register_core_variables", "arg_value", "cookie_value"]


def arg_value(args: str, name: str) -> str | None:
    """``$arg_NAME``: the first ``name=`` in args (name case-insensitive, value raw)."""
    if not args:
        return None
    lname = name.lower()
    n = len(lname)
    for part in args.split("&"):
        if len(part) > n and part[n] == "=" and part[:n].lower() == lname:
            return part[n + 1:]
    return None


def cookie_value(cookies: str | None, name: str) -> str | None:
    if not cookies:
        return None
    lname = name.lower()
    for part in cookies.replace(",", ";").split(";"):
        k, sep, v = part.strip().partition("=")
        if sep and k.lower() == lname:
            return v
    return None


def _http(r: Any, name: str) -> str | None:
    return r.headers.get(name.replace("_", "-"))


def _sent_http(r: Any, name: str) -> str | None:
    ho = r.headers_out
    hname = name.replace("_", "-")
    if hname == "content-type":
        if not ho.content_type:
            return None
        return ho.content_type + ("; charset=" + ho.charset if ho.charset else "")
    if hname == "content-length":
        return str(ho.content_length) if ho.content_length >= 0 else None
    if hname == "location":
        return ho.location
    if hname == "etag":
        return ho.etag
    if hname == "last-modified":
        from engine.util import http_date
        return http_date(ho.last_modified) if ho.last_modified >= 0 else None
    return ho.get(hname)


def _status(r: Any) -> str:
    s = r.main.headers_out.status if r.main.header_sent else 0
    if r.main.err_status and r.main.header_sent:
        s = r.main.err_status
    return f"{s:03d}"


def _host(r: Any) -> str:
    if r.host:
        return r.host
    from engine.http_core import HTTP_CORE
    return HTTP_CORE.srv(r).server_name or r.conn.server_addr


def _document_root(r: Any) -> str | None:
    from engine.http_core import HTTP_CORE
    clcf = r.loc_conf[HTTP_CORE]
    root = clcf.root.evaluate(r)
    if not root.startswith("/"):
        root = r.cycle.prefix + root
    if clcf.alias and not clcf.loc_regex:
        return root
    return root


def _realpath_root(r: Any) -> str | None:
    root = _document_root(r)
    return os.path.realpath(root) if root else root


def _request_filename(r: Any) -> str | None:
    from engine.http import map_uri_to_path
    return map_uri_to_path(r)


def _request_time(r: Any) -> str:
    return f"{max(0.0, time.time() - r.main.start_time):.3f}"


def _content_length(r: Any) -> str | None:
    return r.headers.get("content-length")


_HOSTNAME = socket.gethostname()

_SIMPLE: dict[str, Callable[[Any], str | None]] = {
    "uri": lambda r: r.uri,
    "document_uri": lambda r: r.uri,
    # empty only for a request refused before its line was parsed: not found, as nginx
    "request_uri": lambda r: r.main.request_uri or None,
    # empty arguments are not found (logged "-"), "?" or not (checked on nginx 1.22)
    "args": lambda r: r.args or None,
    "query_string": lambda r: r.args or None,
    "is_args": lambda r: "?" if r.args else "",
    "host": _host,
    "http_host": lambda r: r.headers.get("host"),
    "remote_addr": lambda r: r.conn.remote_addr,
    "binary_remote_addr": lambda r: socket.inet_aton(r.conn.remote_addr).decode("latin-1")
    if ":" not in r.conn.remote_addr else socket.inet_pton(
        socket.AF_INET6, r.conn.remote_addr).decode("latin-1"),
    "remote_port": lambda r: str(r.conn.remote_port or ""),  # realip may leave none
    "remote_user": lambda r: None,
    "server_addr": lambda r: r.conn.server_addr,
    "server_port": lambda r: str(r.conn.server_port),
    "server_name": lambda r: _server_name(r),
    "scheme": lambda r: "http",
    "https": lambda r: "",
    "request_method": lambda r: r.main.method or None,
    "request": lambda r: r.main.request_line,
    "server_protocol": lambda r: f"HTTP/{r.http_version}",
    "status": _status,
    "document_root": _document_root,
    "realpath_root": _realpath_root,
    "request_filename": _request_filename,
    "content_type": lambda r: r.headers.get("content-type"),
    "content_length": _content_length,
    "body_bytes_sent": lambda r: str(r.main.body_bytes_sent),
    "bytes_sent": lambda r: str(r.main.bytes_sent + r.main.body_bytes_sent),
    "request_length": lambda r: str(r.main.request_length),
    "request_time": _request_time,
    "msec": lambda r: f"{time.time():.3f}",
    "time_local": lambda r: time_local(time.time()),
    "time_iso8601": lambda r: time_iso8601(time.time()),
    "nginx_version": lambda r: NGINX_VERSION,
    "pid": lambda r: str(os.getpid()),
    "hostname": lambda r: _HOSTNAME,
    "connection": lambda r: str(r.conn.number),
    "connection_requests": lambda r: str(r.conn.requests),
    "request_id": lambda r: os.urandom(16).hex(),
    "cookie": lambda r: r.headers.get("cookie"),
    "user_agent": lambda r: r.headers.get("user-agent"),
    "referer": lambda r: r.headers.get("referer"),
    "sent_http_content_type": lambda r: _sent_http(r, "content_type"),
    "limit_rate": lambda r: "0",
}


def _server_name(r: Any) -> str:
    from engine.http_core import HTTP_CORE
    return HTTP_CORE.srv(r).server_name


def register_core_variables(cf: ConfContext) -> None:
    for name, getter in _SIMPLE.items():
        cf.add_variable(name, getter)
    cf.add_prefix_variable("http_", _http)
    cf.add_prefix_variable("sent_http_", _sent_http)
    cf.add_prefix_variable("arg_", lambda r, n: arg_value(r.args, n))
    cf.add_prefix_variable("cookie_", lambda r, n: cookie_value(r.headers.get("cookie"), n))
