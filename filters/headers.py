"""``headers`` (``ngx_http_headers_filter_module``): ``add_header`` and ``expires``.

Directives (http, server, location, if in location)::

    add_header name value [always];
    expires [modified] time | epoch | max | off;     (time may be "@15h30m", "-1h"...)

Both act on the main request only, and only for the statuses 200, 201, 204, 206, 301, 302,
303, 304, 307, 308 (``add_header ... always`` for any status).  ``expires`` runs first and
appends ``Expires`` and ``Cache-Control`` (or rewrites ones already in the list); then each
``add_header`` in configuration order appends its line, skipped when the value is empty.
``add_header`` is a list directive: a level with any ``add_header`` replaces the outer ones.

Special names, as nginx's ``ngx_http_set_headers`` table:

* ``ETag`` replaces the response's entity tag (``headers_out.etag``); empty removes it.
  Written where trinx writes ETag (after ``Connection``).  nginx writes an ETag that did
  not exist before at the position of the ``add_header``; trinx keeps it in the field so
  filters further down (SSI, sub) can still clear it.  Only that rare case is ordered
  differently.
* ``Last-Modified`` replaces the built-in one: the header line goes into the list (nginx
  writes it at the ``add_header``'s position with the bytes given, for any status, even
  204; checked on nginx 1.22), and an empty value removes it.
* ``Cache-Control`` and ``Link`` are plain additional lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from engine import api

__all__ = ["MODULE", "HeadersLocConf", "Expires", "AddHeader", "parse_expires"]

_SAFE_STATUS = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})

# expires kinds (nginx's NGX_HTTP_EXPIRES_*)
OFF, EPOCH, MAX, ACCESS, MODIFIED, DAILY = "off", "epoch", "max", "access", "modified", "daily"

_EPOCH_DATE = "Thu, 01 Jan 1970 00:00:01 GMT"
_MAX_DATE = "Thu, 31 Dec 2037 23:55:55 GMT"


@dataclass(frozen=True, kw_only=True)
class Expires:
    """A parsed ``expires``: its kind, the time in seconds, or a value to parse per request."""

    kind: str
    seconds: int = 0
    value: api.ComplexValue | None = None


@dataclass(frozen=True, kw_only=True)
class AddHeader:
    name: str
    value: api.ComplexValue | None  # None: the empty string (never added)
    always: bool
    special: str  # "", "etag" or "last-modified"


@dataclass
class HeadersLocConf:
    expires: Expires | api.Unset = api.UNSET
    headers: list[AddHeader] | api.Unset = api.UNSET

    def merge(self, parent: "HeadersLocConf") -> None:
        self.expires = api.inherit(self.expires, parent.expires, _EXPIRES_OFF)
        self.headers = api.inherit(self.headers, parent.headers, [])


_EXPIRES_OFF = Expires(kind=OFF)


def parse_expires(value: str, modified: bool) -> tuple[Expires | None, str | None]:
    """``ngx_http_parse_expires``: (expires, None) or (None, nginx's error text)."""
    if not modified:
        if value == "epoch":
            return Expires(kind=EPOCH), None
        if value == "max":
            return Expires(kind=MAX), None
        if value == "off":
            return _EXPIRES_OFF, None
    kind = MODIFIED if modified else ACCESS
    minus = False
    if value.startswith("@"):
        if modified:
            return None, 'daily time cannot be used with "modified" parameter'
        kind, value = DAILY, value[1:]
    elif value.startswith("+"):
        value = value[1:]
    elif value.startswith("-"):
        minus, value = True, value[1:]
    ms = api.parse_time(value, is_sec=True)
    if ms is None or ms % 1000 or "ms" in value:
        return None, "invalid value"
    seconds = ms // 1000
    if kind == DAILY and seconds > 24 * 60 * 60:
        return None, "daily time value must be less than 24 hours"
    return Expires(kind=kind, seconds=-seconds if minus else seconds), None


def _expires(cf: api.ConfContext, cmd: api.Directive, conf: HeadersLocConf) -> None:
    if conf.expires is not api.UNSET:
        raise cf.error('"expires" directive is duplicate')
    modified = len(cf.args) == 3
    if modified and cf.args[1] != "modified":
        raise cf.error('"expires" directive invalid value')
    value = cf.args[-1]
    cv = cf.compile(value)
    if cv.const is None:
        conf.expires = Expires(kind=MODIFIED if modified else ACCESS, value=cv)
        return
    exp, err = parse_expires(value, modified)
    if exp is None:
        raise cf.error(f'"expires" directive {err}')
    conf.expires = exp


def _add_header(cf: api.ConfContext, cmd: api.Directive, conf: HeadersLocConf) -> None:
    if conf.headers is api.UNSET:
        conf.headers = []
    name, value = cf.args[1], cf.args[2]
    always = False
    if len(cf.args) == 4:
        if cf.args[3] != "always":
            raise cf.error(f'invalid parameter "{cf.args[3]}"')
        always = True
    special = name.lower() if name.lower() in ("etag", "last-modified") else ""
    conf.headers.append(AddHeader(name=name, value=cf.compile(value) if value else None,
                                  always=always, special=special))


# --- the filter ---------------------------------------------------------------------------------

def headers_filter(r: api.Request, next_filter: Callable[[api.Request], int]) -> int:
    conf: HeadersLocConf = MODULE.loc(r)
    if r is not r.main or (conf.expires is _EXPIRES_OFF and not conf.headers):
        return next_filter(r)
    ho = r.headers_out
    safe = ho.status in _SAFE_STATUS
    if safe and conf.expires.kind != OFF:  # type: ignore[union-attr]
        _set_expires(r, conf.expires)  # type: ignore[arg-type]
    for h in conf.headers:  # type: ignore[union-attr]
        if not safe and not h.always:
            continue
        value = h.value.evaluate(r) if h.value is not None else ""
        if h.special == "etag":
            ho.etag = value or None
        elif h.special == "last-modified":
            _set_last_modified(r, h.name, value)
        elif value:
            ho.headers.append([h.name, value])
    return next_filter(r)


def _set_last_modified(r: api.Request, name: str, value: str) -> None:
    """nginx's ngx_http_set_last_modified: the line replaces the built-in header."""
    ho = r.headers_out
    ho.last_modified = -1
    old = _find(ho.headers, "last-modified")
    if not value:
        if old is not None:
            ho.headers.remove(old)
        return
    if old is not None:
        old[0], old[1] = name, value
    else:
        ho.headers.append([name, value])


def _set_expires(r: api.Request, exp: Expires) -> None:
    """nginx's ngx_http_set_expires."""
    if exp.value is not None:
        parsed, _ = parse_expires(exp.value.evaluate(r), exp.kind == MODIFIED)
        if parsed is None or parsed.kind == OFF:
            return  # nginx 1.22 quietly sends no Expires for a bad run-time value
        exp = parsed
    ho = r.headers_out
    e = _find(ho.headers, "expires")
    if e is None:
        e = ["Expires", ""]
        ho.headers.append(e)
    ccs = [h for h in ho.headers if h[0].lower() == "cache-control"]
    if ccs:
        cc = ccs[0]
        for extra in ccs[1:]:
            ho.headers.remove(extra)
    else:
        cc = ["Cache-Control", ""]
        ho.headers.append(cc)
    if exp.kind == EPOCH:
        e[1], cc[1] = _EPOCH_DATE, "no-cache"
        return
    if exp.kind == MAX:
        e[1], cc[1] = _MAX_DATE, "max-age=315360000"  # 10 years
        return
    if exp.seconds == 0 and exp.kind != DAILY:
        e[1], cc[1] = api.http_date(), "max-age=0"
        return
    now = int(time.time())
    max_age = exp.seconds
    if exp.kind == DAILY:
        expires_time = _next_time(now, exp.seconds)
        max_age = expires_time - now
    elif exp.kind == ACCESS or ho.last_modified == -1:
        expires_time = now + max_age
    else:
        expires_time = ho.last_modified + max_age
        max_age = expires_time - now
    e[1] = api.http_date(expires_time)
    cc[1] = "no-cache" if exp.seconds < 0 or max_age < 0 else f"max-age={max_age}"


def _next_time(now: int, when: int) -> int:
    """The next local time of day ``when`` (seconds after midnight) after ``now`` (ngx_next_time)."""
    tm = list(time.localtime(now))
    tm[3], tm[4], tm[5] = when // 3600, when % 3600 // 60, when % 60
    tm[8] = -1
    nxt = int(time.mktime(tuple(tm)))  # type: ignore[arg-type]
    if nxt - now > 0:
        return nxt
    tm[2] += 1  # mktime normalises the 32nd of a month
    return int(time.mktime(tuple(tm)))  # type: ignore[arg-type]


def _find(headers: list[list[str]], lname: str) -> list[str] | None:
    for h in headers:
        if h[0].lower() == lname:
            return h
    return None


def _postconfiguration(cf: api.ConfContext) -> None:
    links = api.FilterLinks()
    cf.push_filters(links, lambda r: headers_filter(r, links.next_header),
                    subrequest_inert=api.ALWAYS)  # main responses only


_CTX = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC | api.Ctx.LIF

MODULE = api.Module(
    name="http_headers_filter",
    loc_conf=HeadersLocConf,
    directives=[
        api.Directive("add_header", _CTX, api.Args.TAKE23, _add_header),
        api.Directive("expires", _CTX, api.Args.TAKE12, _expires),
    ],
    postconfiguration=_postconfiguration,
)
