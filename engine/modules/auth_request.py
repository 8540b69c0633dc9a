"""``auth_request`` (``ngx_http_auth_request_module``): a subrequest decides access.

Directives: ``auth_request uri | off`` (a literal URI: no variables, no ``?`` splitting) and
``auth_request_set $variable value`` (repeatable; a level with any does not inherit the outer
ones, as nginx's array).  In the access phase of a main request (skipped when a rewrite-phase
``return`` answered already), a header-only subrequest with no request body is made and waited
for; its status decides (reference/subrequests.md §7):

* 2xx: access granted, the request goes on;
* 401: 401, with the subrequest's ``WWW-Authenticate`` header copied to the response;
* 403: 403;
* anything else: 500, logged ``auth request unexpected status: N``.

In every case the ``auth_request_set`` values are evaluated first, in the subrequest (so
``$upstream_http_*`` and ``$sent_http_*`` are the auth response's), and stored in the main
request's variables, where they survive internal redirects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine import api

__all__ = ["MODULE", "AuthRequestLocConf"]


@dataclass
class AuthRequestLocConf:
    uri: str | api.Unset = api.UNSET  # "" = off
    sets: list[tuple[str, api.ComplexValue]] | api.Unset = api.UNSET

    def merge(self, parent: "AuthRequestLocConf") -> None:
        self.uri = api.inherit(self.uri, parent.uri, "")
        self.sets = api.inherit(self.sets, parent.sets, [])


async def auth_request_handler(r: api.Request) -> int:
    conf: AuthRequestLocConf = MODULE.loc(r)
    if not conf.uri:
        return api.DECLINED
    try:
        sr = api.subrequest(r, conf.uri, mode=api.SR_BACKGROUND,  # type: ignore[arg-type]
                            header_only=True)
    except api.SubrequestError:
        return api.ERROR
    # nginx gives the subrequest a fake empty body: it must not read (consume) the client's
    sr.body = None
    rc = await api.wait_subrequest(sr)
    status = sr.headers_out.status or (rc if rc >= 100 else 0)
    variables = r.variables
    for name, value in conf.sets:  # type: ignore[union-attr]
        variables[name] = value.evaluate(sr)
    if status == 403:
        return 403
    if status == 401:
        for name, val in sr.headers_out.headers:
            if name.lower() == "www-authenticate":
                r.headers_out.headers.append([name, val])
                break  # nginx 1.22 copies one (the first)
        return 401
    if 200 <= status < 300:
        return api.OK
    api.log_error(r, logging.ERROR, f"auth request unexpected status: {status}")
    return 500


def _auth_request(cf: api.ConfContext, cmd: api.Directive, conf: AuthRequestLocConf) -> None:
    if conf.uri is not api.UNSET:
        raise cf.error('"auth_request" directive is duplicate')
    conf.uri = "" if cf.args[1] == "off" else cf.args[1]


def _auth_request_set(cf: api.ConfContext, cmd: api.Directive,
                      conf: AuthRequestLocConf) -> None:
    name = cf.variable_name(cf.args[1])
    if conf.sets is api.UNSET:
        conf.sets = []
    conf.sets.append((name, cf.compile(cf.args[2])))


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.ACCESS, auth_request_handler)


_HSL = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_auth_request",
    directives=[
        api.Directive("auth_request", _HSL, api.Args.TAKE1, _auth_request),
        api.Directive("auth_request_set", _HSL, api.Args.TAKE2, _auth_request_set),
    ],
    loc_conf=AuthRequestLocConf,
    postconfiguration=_postconfiguration,
)
