"""Request processing: phases, location selection, internal redirects, finalisation.

Theory of operation
-------------------
``run_phases`` is nginx's phase engine (``ngx_http_core_run_phases``) written as straight-line
async code: server rewrite, then the find-config / rewrite / post-rewrite loop (a rewrite that
changes the URI selects the location again, spending one of the request's 10 URI changes),
access (main requests only), precontent (``try_files``), content.  Each step returns one of the
handler codes of ``engine.request`` (``DECLINED`` to go on) or an HTTP status.

Every path that ends a request funnels into ``finalize``: a status that is an error or redirect
and whose header has not gone out becomes a *special response* (an ``error_page`` redirect, or
the built-in page).  Internal redirects re-run ``run_phases`` on the same request object and
return its code, so a handler that redirects just returns what ``internal_redirect`` returned.

Headers go out through ``send_header`` (the header-filter chain, ending in ``header_filter``
below, which serialises them in nginx's order) and bodies through ``output`` (the body-filter
chain, ending in the connection's writer).
"""

from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
from typing import Any, Callable

from engine.cycle import ALWAYS, ConfContext, FilterLinks, Phase
from engine.module import Module
from engine.http_core import HTTP_CORE, CoreLocConf, ErrorPage
from engine.locations import Location, Match, find_location
from engine.log import ErrorLog
from engine.safe_open import OpenError, file_info, symlinks_from
from engine.request import DECLINED, DONE, ERROR, OK, Buf, HeadersOut, Request
from engine.special import CLOSE_ON_ERROR, error_page_body, status_line
from engine.util import http_date
from engine.variables import set_captures

__all__ = ["run_request", "finalize_bad_request", "run_phases", "internal_redirect", "named_location", "finalize",
           "send_header", "output", "send_response", "set_content_handler", "filter_finalize", "variable", "header_filter", "map_uri_to_path",
           "absolute_location", "log_error", "set_log_action", "set_log_upstream", "set_location", "core_loc_conf",
           "set_content_type", "set_etag", "discard_request_body", "HEADER_FILTER",
           "WRITE_FILTER"]

log = logging.getLogger("trinx")


def log_error(r: Request, level: int, message: str) -> None:
    """An error-log line with nginx's request context (``ngx_http_log_error``):
    ``message[ while <action>], client: .., server: .., request: "..."[, subrequest: "..."]
    [, upstream: "..."][, host: "..."][, referrer: "..."]``.

    It goes to the ``error_log`` of the request's location (http, server or location
    level) if one is set there, else to the main error log, as in nginx.
    """
    conn = r.conn
    targets = r.loc_conf[HTTP_CORE].error_log
    elog = _location_error_log(r.cycle, targets) if targets else None
    if elog is not None and not elog.enabled(level):
        return
    action = getattr(conn, "log_action", None)
    if action:
        message = f"{message} while {action}"
    main = r.main
    tail = (f", client: {conn.remote_addr}, server: {HTTP_CORE.srv(r).server_name}, "
            f'request: "{main.request_line}"')
    if r is not main:
        tail += f', subrequest: "{r.uri}"'
    upstream = r.log_upstream
    if upstream:
        tail += f', upstream: "{upstream}"'
    headers = main.headers
    if main.host or headers.get("host"):
        tail += f', host: "{headers.get("host", main.host)}"'
    referer = headers.get("referer")
    if referer is not None:
        tail += f', referrer: "{referer}"'
    if elog is not None:
        elog.log(level, f"*{conn.number} {message}{tail}")
    else:
        conn.log(level, f"*{conn.number} {message}{tail}")




def set_log_action(r: Request, action: str | None) -> None:
    """What the connection is doing, for the ``while ...`` of error-log lines (nginx's
    ``c->log->action``: per connection, so it outlives the request that set it, e.g. the
    upstream's "sending to client" seen by auth_request).  Cleared when a request (or an
    internal redirect, or a subrequest) starts its phases, as ``ngx_http_handler`` does."""
    r.conn.log_action = action


def set_log_upstream(r: Request, url: str | None) -> None:
    """The upstream URL error-log lines of ``r`` name after its request line
    (``, upstream: "http://127.0.0.1:8080/x"``), as ``ngx_http_log_error_handler``."""
    r.log_upstream = url  # outlives internal redirects, as nginx's r->upstream


def _location_error_log(cycle: Any, targets: list[tuple[str, str]]) -> ErrorLog | None:
    """The cycle's ErrorLog for an http-level ``error_log`` list, opened on first use."""
    logs = cycle.location_error_logs
    key = tuple(targets)
    elog = logs.get(key)
    if elog is None and key not in logs:
        try:
            elog = ErrorLog(list(targets))  # paths are full already (parse_error_log)
        except OSError:
            elog = None  # the main log gets the message instead
        else:
            cycle.cleanup.append(elog.close)
            cycle.reopen.append(elog.reopen)
        logs[key] = elog
    return elog


# --- the phase engine ---------------------------------------------------------------------------

async def _run_handlers(r: Request, phase: Phase) -> int:
    for fn in r.cycle.phases.get(phase, ()):
        rc = fn(r)
        if type(rc) is not int:  # handlers may be sync or async: only a coroutine is awaited
            rc = await rc
        if rc != DECLINED and rc != OK:
            return rc  # type: ignore[no-any-return]
    return DECLINED


async def run_phases(r: Request, phase: Phase = Phase.SERVER_REWRITE) -> int:
    """Run the request from ``phase`` to its content handler; returns the handler code."""
    phases = r.cycle.phases
    if phase == Phase.SERVER_REWRITE:
        r.conn.log_action = None  # ngx_http_handler
    if phase == Phase.SERVER_REWRITE and Phase.POST_READ in phases and r is r.main \
            and not r.internal:
        rc = await _run_handlers(r, Phase.POST_READ)  # once per client request (realip)
        if rc != DECLINED:
            return rc
    sr = r.sr is not None
    if phase <= Phase.SERVER_REWRITE and Phase.SERVER_REWRITE in phases \
            and not (sr and r.server.sr_skip_server_rewrite):
        rc = await _run_handlers(r, Phase.SERVER_REWRITE)
        if rc != DECLINED:
            return rc
    while True:
        if phase <= Phase.FIND_CONFIG:
            rc = find_config(r)
            if rc != DECLINED:
                return rc
        phase = Phase.FIND_CONFIG
        if sr and r.loc.sr_skip_phases:
            return await content_phase(r)  # nothing before content acts on it here
        r.uri_changed = False
        rc = await _run_handlers(r, Phase.REWRITE)
        if rc != DECLINED:
            return rc
        if not r.uri_changed:
            break
        r.uri_changes -= 1
        if r.uri_changes == 0:
            log_error(r, logging.ERROR,
                      f'rewrite or internal redirection cycle while processing "{r.uri}"')
            return 500
    if r is r.main:
        if Phase.PREACCESS in phases:
            rc = await _run_handlers(r, Phase.PREACCESS)
            if rc != DECLINED:
                return rc
        if r.loc_conf[HTTP_CORE].satisfy_any:
            rc = await _run_access_any(r)
        else:
            rc = await _run_handlers(r, Phase.ACCESS)
        if rc != DECLINED:
            return rc
    if r.loc_conf[HTTP_CORE].try_files is not None:
        rc = await try_files(r)
        if rc != DECLINED:
            return rc
    if Phase.PRECONTENT in phases:
        rc = await _run_handlers(r, Phase.PRECONTENT)
        if rc != DECLINED:
            return rc
    return await content_phase(r)


async def _run_access_any(r: Request) -> int:
    """The access phase under ``satisfy any`` (``ngx_http_core_access_phase`` and the
    post-access phase): the first handler answering OK lets the request through (and drops
    a ``WWW-Authenticate`` an earlier 401 copied); 403/401 are remembered (401 wins) and
    answered when no handler allowed; any other status ends the request at once."""
    access_code = 0
    for fn in r.cycle.phases.get(Phase.ACCESS, ()):
        rc = fn(r)
        if type(rc) is not int:
            rc = await rc
        if rc == DECLINED:
            continue
        if rc == OK:
            r.headers_out.headers = [h for h in r.headers_out.headers
                                     if h[0].lower() != "www-authenticate"]
            return DECLINED
        if rc in (403, 401):
            if access_code != 401:
                access_code = rc
            continue
        return rc  # type: ignore[no-any-return]
    if access_code == 403:
        log_error(r, logging.ERROR, "access forbidden by rule")
    return access_code or DECLINED


def set_location(r: Request, loc: Location) -> None:
    """Make ``loc``'s configuration the request's (``ngx_http_update_location_config``):
    a method ``limit_except`` does not name gets the block's confs instead (its content
    handler stays the location's, as proxy_pass's merge gives it in nginx)."""
    r.loc = loc
    clcf: CoreLocConf = loc.loc_conf[HTTP_CORE]
    r.content_handler = clcf.handler
    if clcf.limit_except is not None and r.method not in clcf.limit_except:
        r.loc_conf = clcf.limit_except_loc.loc_conf  # type: ignore[union-attr]
    else:
        r.loc_conf = loc.loc_conf


def find_config(r: Request) -> int:
    loc, m, how = find_location(r.server.root, r.uri)
    if how is Match.AUTO_REDIRECT:
        assert loc is not None
        r.headers_out.location = loc.name + ("?" + r.args if r.args else "")
        return 301
    if loc is None:
        loc = r.server.root
    set_location(r, loc)
    if m is not None:
        set_captures(r, m)  # $1..$9 and named captures as variables
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    if clcf.internal and not r.internal:
        return 404
    if r is r.main and clcf.client_max_body_size:
        cl = r.headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) > clcf.client_max_body_size:
            log_error(r, logging.ERROR, f"client intended to send too large body: {cl} bytes")
            return 413
    return DECLINED


async def content_phase(r: Request) -> int:
    handler = r.content_handler
    if handler is not None:
        rc = handler(r)
        return rc if type(rc) is int else await rc  # type: ignore[no-any-return]
    for fn in r.cycle.phases.get(Phase.CONTENT, ()):
        rc = fn(r)
        if type(rc) is not int:
            rc = await rc
        if rc != DECLINED:
            return rc  # type: ignore[no-any-return]
    if r.uri.endswith("/"):
        path = map_uri_to_path(r)
        log_error(r, logging.ERROR, f'directory index of "{path}" is forbidden')
        return 403
    return 404


async def internal_redirect(r: Request, uri: str, args: str) -> int:
    """Restart processing with a new URI (``ngx_http_internal_redirect``)."""
    r.uri_changes -= 1
    if r.uri_changes == 0:
        log_error(r, logging.ERROR, "rewrite or internal redirection cycle while internally "
                                    f'redirecting to "{uri}"')
        return 500
    r.set_uri(uri)
    r.args = args
    r.ctx = {}
    r.internal = True
    r.captures = None
    set_location(r, r.server.root)
    return await run_phases(r, Phase.SERVER_REWRITE)


async def named_location(r: Request, name: str) -> int:
    """Continue in a named location, URI and args unchanged (``ngx_http_named_location``)."""
    r.uri_changes -= 1
    if r.uri_changes == 0:
        log_error(r, logging.ERROR, "rewrite or internal redirection cycle while redirect to "
                                    f'named location "{name}"')
        return 500
    loc = r.server.root.named.get(name)
    if loc is None:
        log_error(r, logging.ERROR, f'could not find named location "{name}"')
        return 500
    r.ctx = {}
    r.internal = True
    set_location(r, loc)
    return await run_phases(r, Phase.REWRITE)


# --- mapping URIs to files, try_files -------------------------------------------------------------

def _document_root(r: Request, clcf: CoreLocConf) -> str:
    root = clcf.root.evaluate(r)  # type: ignore[union-attr]
    if not root.startswith("/"):
        root = r.cycle.prefix + root  # nginx's ngx_get_full_name: relative to the prefix
    return root


def map_uri_to_path(r: Request, uri: str | None = None) -> str | None:
    """root/alias + URI (``ngx_http_map_uri_to_path``).

    Returns:
        The path; None if an alias cannot map the URI (nginx's 500); "" if the path would
        climb out of the alias (a not-found: nothing outside root/alias is served).
    """
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    root = _document_root(r, clcf)
    if uri is None:
        uri = r.uri
    if clcf.alias:
        if clcf.loc_regex:
            return root if uri is r.uri else root + uri[len(r.uri):]
        name = clcf.loc_name
        if not uri.startswith(name):
            log_error(r, logging.CRITICAL, f'"alias" cannot be used in location "{name}" '
                                           "where URI was rewritten")
            return None
        rest = uri[len(name):]
        if _climbs(root, rest):
            log_error(r, logging.ERROR, f'"{root}{rest}" is outside the alias "{root}", '
                                        "not served")
            return ""
        return root + rest
    return root + uri


def _climbs(alias: str, rest: str) -> bool:
    """Whether alias + rest names something above the alias (``location /i { alias /d/; }``
    and ``/i../x``): nginx serves ``/d/../x`` there; trinx serves nothing outside an alias."""
    if rest.startswith("/") or not alias.endswith("/"):
        return False  # the URI was normalised: no ".." segment can follow a "/"
    return rest == ".." or rest.startswith("../")


async def try_files(r: Request) -> int:
    """``ngx_http_core_try_files_phase``: the first existing candidate becomes ``$uri``.

    A candidate written with a trailing ``/`` tests for a directory, and the slash is not part
    of the new URI (nginx strips it from the template at config time), so a hit on ``$uri/``
    leaves the static handler to answer the directory with its 301.  With a (non-regex)
    ``alias``, a candidate with variables that starts with the location's name is mapped
    below the alias; a literal one is appended to the alias as written (nginx 1.22).
    """
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    tf = clcf.try_files
    if tf is None:
        return DECLINED
    root = _document_root(r, clcf)
    alias = clcf.loc_name if clcf.alias and not clcf.loc_regex else ""
    last = len(tf) - 1
    for i in range(last):
        cv = tf[i]
        value = cv.evaluate(r)
        test_dir = len(cv.source) > 1 and cv.source.endswith("/")
        if test_dir:
            value = value[:-1]
        # nginx strips the location name only from values built with variables ($uri)
        strip = alias and cv.const is None and value.startswith(alias)
        rest = value[len(alias):] if strip else value
        if strip and _climbs(root, rest):
            continue
        path = root + rest
        try:
            st = _file_info(r, path)
        except OSError as e:
            if e.errno not in _NOT_FOUND_ERRNOS:
                call = e.syscall if isinstance(e, OpenError) else "stat()"
                log_error(r, logging.CRITICAL, f'{call} "{path}" failed ({e.errno}: {e.strerror})')
            continue
        except ValueError:  # NUL in a variable's value
            continue
        if stat_mod.S_ISDIR(st.st_mode) != test_dir:
            continue
        r.set_uri(alias + rest if alias else value)
        return DECLINED
    value = tf[last].evaluate(r)
    if value.startswith("=") and value[1:].isdigit():
        return int(value[1:])
    if value.startswith("@"):
        return await named_location(r, value)
    uri, _, args = value.partition("?")
    return await internal_redirect(r, uri, args)


_NOT_FOUND_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)


def _file_info(r: Request, path: str) -> os.stat_result:
    """``ngx_open_cached_file`` with ``test_only`` under the location's ``disable_symlinks``
    (``ngx_http_set_disable_symlinks``): a plain ``stat()`` when off, else the checked walk of
    engine.safe_open, so a refused symlink fails (ELOOP: logged, skipped) as on nginx.

    Raises:
        OSError: a ``stat()`` error, or an `OpenError` naming the failing call.
        ValueError: a NUL in the path.
    """
    bpath = path.encode("latin-1", "surrogateescape")
    owner = r.cycle.directive_module("disable_symlinks")
    sl = r.loc_conf.get(owner) if owner is not None else None
    if sl is None or not sl.disable_symlinks:
        return os.stat(bpath)
    cv = sl.disable_symlinks_from
    mode, from_len = symlinks_from(sl.disable_symlinks, cv.evaluate(r) if cv else None, path)
    return file_info(bpath, mode, from_len)


# --- finalisation and special responses ------------------------------------------------------------

async def run_request(r: Request) -> None:
    """Process a client request to the end: phases, finalisation, subrequests, log phase."""
    try:
        if r.method == "TRACE":  # ngx_http_process_request_header refuses it outright
            r.conn.log_action = "reading client request headers"
            log_error(r, logging.INFO, "client sent TRACE method")
            r.conn.log_action = None
            rc = 405
        else:
            rc = await run_phases(r)
        await finalize(r, rc)
        pp = r.postpone
        if pp is not None:
            await pp.run_deferred()
        if pp is not None and not pp.idle.is_set():
            # the response is complete only when every subrequest (mirror ones too) is;
            # what is ready goes to the client before the wait
            await r.conn.flush_idle()
            await pp.idle.wait()
    finally:
        r.run_cleanup()
    for fn in r.cycle.phases.get(Phase.LOG, ()):
        fn(r)


async def finalize_bad_request(r: Request, status: int) -> None:
    """Answer a request that could not be parsed (server-level conf, error_page applies)."""
    r.keepalive = False
    try:
        await finalize(r, status)
    finally:
        r.run_cleanup()
    for fn in r.cycle.phases.get(Phase.LOG, ()):
        fn(r)


async def finalize(r: Request, rc: int) -> None:
    """Bring ``r`` to a complete response (``ngx_http_finalize_request``)."""
    while True:
        if rc == OK or rc == DONE:
            if not r.done:
                if not r.header_sent:
                    rc = 500
                    continue
                await output(r, [Buf(last=True)])
            return
        if rc == DECLINED:
            rc = 404
        if rc == ERROR:
            rc = 500
        if r.header_sent:
            # too late for a status: the client must see a failed response, not a short one
            r.keepalive = False
            r.conn.abort_response(r)
            return
        rc = await special_response(r, rc)


async def special_response(r: Request, code: int) -> int:
    """An error or redirect status becomes a response (``ngx_http_special_response_handler``).

    ``r.err_status`` takes the new code every time, so an error inside an error_page target
    (e.g. ``error_page 404 =200 /missing``) answers with that later error, as nginx does.
    """
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    r.err_status = code
    if r.keepalive and code in CLOSE_ON_ERROR:
        r.keepalive = False
    # an error answers instead of asking for the body: no 100-continue, and a body whose
    # framing is already seen to be broken makes the connection unusable
    r.expect_tested = True
    if await discard_request_body(r) != OK:
        r.keepalive = False
    # r.error_page is set only where recursive_error_pages is off: a location with it on
    # leaves the next error free to be redirected again
    if not r.error_page and clcf.error_pages and r.uri_changes != 0:
        if not clcf.recursive_error_pages:
            r.error_page = True
        for page in clcf.error_pages:  # type: ignore[union-attr]
            if code in page.codes:
                return await _send_error_page(r, code, page)
    return await _send_builtin_page(r, code)


_REDIRECTS = (301, 302, 303, 307, 308)


async def _send_error_page(r: Request, code: int, page: ErrorPage) -> int:
    """``ngx_http_send_error_page``: redirect to the page's URI, named location or URL."""
    overwrite = page.overwrite
    if overwrite is not None:
        r.err_status = overwrite  # "=" alone is 0: the target's own status
    elif code in (494, 495, 496, 497):
        r.err_status = 400  # nginx's error_page setter turns these into "=400"
    uri = page.uri.evaluate(r)
    if uri.startswith("/"):
        if r.method != "HEAD":
            r.method = "GET"
        path, _, args = uri.partition("?")
        return await internal_redirect(r, path, args)
    if uri.startswith("@"):
        return await named_location(r, uri)
    if overwrite not in _REDIRECTS:
        r.err_status = 302
    r.headers_out.location = uri
    return await _send_builtin_page(r, r.err_status)


async def _send_builtin_page(r: Request, code: int) -> int:
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    ho = r.headers_out
    if code in (494, 495, 496, 497):
        r.err_status = 400
    ho.status = r.err_status or code
    body = None
    if code >= 300:
        msie = code >= 400 and bool(clcf.msie_padding) and _msie_or_chrome(
            r.headers.get("user-agent"))
        body = error_page_body(code, bool(clcf.server_tokens), msie)
    ho.last_modified = -1
    ho.etag = None
    ho.remove("Accept-Ranges")
    if body is None:
        ho.content_type = None
        ho.content_length = 0
        return await send_response(r, b"")
    ho.content_type = "text/html"
    ho.charset = None
    ho.content_length = len(body)
    return await send_response(r, body)


def _msie_or_chrome(ua: str | None) -> bool:
    """nginx's ``headers_in.msie || headers_in.chrome`` (``ngx_http_process_user_agent``)."""
    if not ua:
        return False
    if "Opera" in ua:
        return False
    i = ua.find("MSIE ")
    if i >= 0 and i + 7 < len(ua):
        return True
    return "Gecko/" not in ua and "Chrome/" in ua


async def send_response(r: Request, body: bytes) -> int:
    """Send the header and a whole in-memory body as one last buffer (``ngx_http_send_response``)."""
    if await discard_request_body(r) != OK:
        r.keepalive = False
    rc = send_header(r)
    if rc != OK:
        return rc
    if r.header_only or not body:
        await output(r, [Buf(last=True)])
    else:
        await output(r, [Buf(body, last=True)])
    return OK


# --- the header and body filter chains -----------------------------------------------------------

def send_header(r: Request) -> int:
    """Run the header-filter chain once (``ngx_http_send_header``)."""
    if r.header_sent:
        log_error(r, logging.CRITICAL, "header already sent")
        return ERROR
    if r.err_status:
        r.headers_out.status = r.err_status
        r.headers_out.status_line = None
    r.header_sent = True
    sr = r.sr
    if (sr is not None and r.loc.sr_skip_filters and not r.err_status
            and not r.headers_out.charset and not sr.keep_filters):
        # no filter above the postpone stage acts on this subrequest (plan_subrequests);
        # an error page (SSI's stub drops it) and a response in a charset (the charset
        # filter recodes it into the main response's) take the chains
        r.skip_filters = True
        return OK
    return r.cycle.top_header_filter(r)  # type: ignore[misc,no-any-return]


async def output(r: Request, chain: list[Buf]) -> None:
    """Pass body buffers down the body-filter chain (``ngx_http_output_filter``); then run
    the subrequests the filters created meanwhile that wait for their creator's turn (as
    nginx runs posted subrequests once the buffer has been filtered)."""
    if r.skip_filters:
        await r.cycle.sr_body_filter(r, chain)  # type: ignore[misc]
    else:
        await r.cycle.top_body_filter(r, chain)  # type: ignore[misc]
    pp = r.main.postpone
    if pp is not None and pp.deferred:
        await pp.run_deferred()


def absolute_location(r: Request, location: str) -> str:
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    if not location.startswith("/") or not clcf.absolute_redirect:
        return location
    if clcf.server_name_in_redirect:
        host = HTTP_CORE.srv(r).server_name  # even when empty, as nginx does
    else:
        host = r.host or r.conn.server_addr
    port = r.conn.server_port
    if port != 80 and clcf.port_in_redirect:
        host = f"{host}:{port}"
    return f"http://{host}{location}"


_NO_BODY = frozenset({204, 304})


def header_filter(r: Request) -> int:
    """The last header filter: serialise in nginx's order (``ngx_http_header_filter``)."""
    if r is not r.main:
        return OK
    ho = r.headers_out
    status = ho.status or 200
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    if r.method == "HEAD":
        r.header_only = True
    if status in _NO_BODY:
        r.header_only = True
        if status == 204:
            ho.content_type = None
            ho.content_length = -1
        ho.last_modified = -1 if status == 204 else ho.last_modified
    if status not in (200, 206, 304):
        ho.last_modified = -1
    lines = [status_line(status)]
    lines.append(b"Server: nginx/1.22.1\r\n" if clcf.server_tokens else b"Server: nginx\r\n")
    lines.append(b"Date: " + http_date().encode() + b"\r\n")
    if ho.content_type:
        ct = ho.content_type
        if ho.charset:
            ct += "; charset=" + ho.charset
        lines.append(b"Content-Type: " + ct.encode("latin-1") + b"\r\n")
    # a 304 keeps the length it was given (error_page =304, "return 304"): nginx's header
    # filter clears it only for 204; the not_modified filter clears its own 304s
    if ho.content_length >= 0 and status != 204:
        lines.append(b"Content-Length: %d\r\n" % ho.content_length)
    if ho.last_modified >= 0:
        lines.append(b"Last-Modified: " + http_date(ho.last_modified).encode() + b"\r\n")
    # nginx writes Location here only when it makes it absolute; otherwise it stays in the
    # generic header list, after Connection
    location = ho.location
    if location and location[0] == "/" and clcf.absolute_redirect:
        # nginx writes the absolute form back (so $sent_http_location logs it too)
        ho.location = absolute_location(r, location)
        lines.append(b"Location: " + ho.location.encode("latin-1") + b"\r\n")
        location = None
    chunked = False
    if ho.content_length < 0 and not r.header_only and status not in _NO_BODY:
        if r.http_version != "1.0" and clcf.chunked_transfer_encoding:
            chunked = True
            lines.append(b"Transfer-Encoding: chunked\r\n")
        else:
            r.keepalive = False
    # nginx decides these in ngx_http_update_location_config, i.e. for the final location
    if r.keepalive and (clcf.keepalive_timeout == 0
                        or r.conn.requests >= clcf.keepalive_requests):
        r.keepalive = False
    if r.keepalive:
        lines.append(b"Connection: keep-alive\r\n")
        if clcf.keepalive_header:
            lines.append(b"Keep-Alive: timeout=%d\r\n" % clcf.keepalive_header)
    else:
        lines.append(b"Connection: close\r\n")
    if r.gzip_vary:
        lines.append(b"Vary: Accept-Encoding\r\n")
    if location is not None:
        lines.append(b"Location: " + location.encode("latin-1") + b"\r\n")
    if ho.etag:
        lines.append(b"ETag: " + ho.etag.encode("latin-1") + b"\r\n")
    for name, value in ho.headers:
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"\r\n")
    r.conn.start_response(r, b"".join(lines), status, ho.content_length, chunked)
    return OK


async def write_filter(r: Request, chain: list[Buf]) -> None:
    """The last body filter: hand buffers to the connection (``ngx_http_write_filter``)."""
    await r.conn.write(r, chain)


# --- helpers for handlers ---------------------------------------------------------------------------

def filter_finalize(r: Request, status: int) -> int:
    """From a header filter: drop the response being sent and answer ``status`` instead.

    nginx's ``ngx_http_filter_finalize_request``: clean the response headers and module
    contexts, mark the header unsent, and return the status through ``send_header`` so the
    handler's caller runs the special response (error_page or built-in page).  As in nginx
    (which terminates the request it finalised from a filter), the connection is closed
    after that response even though its header says keep-alive.
    """
    r.headers_out = HeadersOut()
    r.ctx.clear()
    r.header_sent = False
    r.header_only = False
    r.cleanup.append(lambda: _no_keepalive(r))
    return status


def _no_keepalive(r: Request) -> None:
    r.keepalive = False


def variable(r: Request, name: str) -> str | None:
    """The value of variable ``$name`` for ``r`` looked up at run time (SSI's ``echo``), or
    None if there is no such variable or it is unset."""
    getter = r.cycle.variables.lookup(name)
    return getter(r) if getter is not None else None


def set_content_handler(cf: ConfContext, handler: Callable[[Request], Any]) -> None:
    """Make ``handler`` the content handler of the location being parsed (proxy_pass & co)."""
    cf.loc_conf[HTTP_CORE].handler = handler


def core_loc_conf(r: Request) -> CoreLocConf:
    """The http core location conf of ``r`` (root, types, etag, sendfile...)."""
    return r.loc_conf[HTTP_CORE]  # type: ignore[no-any-return]


def set_content_type(r: Request) -> None:
    """Content-Type from the URI's extension via ``types``, else ``default_type``."""
    clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
    ext = r.exten
    if ext:
        t = clcf.types.get(ext) or clcf.types.get(ext.lower())  # type: ignore[union-attr]
        if t:
            r.headers_out.content_type = t
            return
    r.headers_out.content_type = clcf.default_type  # type: ignore[assignment]


def set_etag(r: Request) -> None:
    """nginx's ETag: ``"<mtime hex>-<size hex>"`` from Last-Modified and Content-Length."""
    if not r.loc_conf[HTTP_CORE].etag:
        return
    ho = r.headers_out
    ho.etag = f'"{ho.last_modified:x}-{ho.content_length:x}"'


async def discard_request_body(r: Request) -> int:
    """``ngx_http_discard_request_body``: answer ``Expect: 100-continue`` and drop the body
    bytes already received, without waiting for more (the connection drops the rest after
    the response).

    Returns:
        OK, or 400 if the body's framing is broken (e.g. a bad chunk size).
    """
    if r is not r.main or r.body is None:
        return OK
    headers = r.headers
    if "content-length" not in headers and "transfer-encoding" not in headers:
        return OK
    return OK if r.conn.discard_buffered(r) else 400


HEADER_FILTER = Module(name="http_header_filter")
WRITE_FILTER = Module(name="http_write_filter")


def _install_header_filter(cf: ConfContext) -> None:
    cf.push_filters(FilterLinks(), header_filter, subrequest_inert=ALWAYS)


def _install_write_filter(cf: ConfContext) -> None:
    cf.push_filters(FilterLinks(), body=write_filter, subrequest_inert=ALWAYS)


HEADER_FILTER.postconfiguration = _install_header_filter
WRITE_FILTER.postconfiguration = _install_write_filter
