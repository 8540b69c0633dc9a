"""``referer`` (``ngx_http_referer_module``): ``$invalid_referer`` from ``valid_referers``.

Directives (server, location)::

    valid_referers none | blocked | server_names | host[/uri] | *.host | host.* | ~regex ...;
    referer_hash_max_size 2048;  referer_hash_bucket_size 64;   (accepted)

``$invalid_referer`` is empty when the Referer is valid and ``1`` otherwise
(``ngx_http_referer_variable``): with no names nor regexes everything is valid; no Referer
is valid with ``none``; a Referer not starting with ``http://``/``https://`` (any case, and
at least 11 bytes long) is valid only with ``blocked``; else its host (up to ``/`` or
``:``, lowercased, at most 255 bytes) is looked up among the names (exact, then ``*.x``/
``.x``, then ``x.*``, as ``server_name``); a name with a URI part also needs the
Referer's path to start with it.  Then the server's regexes (``server_names``), matched on
the host, then the ``~regex`` entries (caseless), matched on the Referer after the scheme.

Merging: a level with ``valid_referers`` keeps its own names, ``none`` and ``blocked``
but inherits the regexes (``~`` ones and the server's regex names); a level without takes
the enclosing level's whole (checked against nginx 1.22).  ``server_names`` uses the names of the server the request is in, looked up after
the level's own names (nginx puts both in one hash: a conflict there is an error nginx
reports at start-up and trinx does not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine import api

__all__ = ["MODULE", "RefererLocConf"]

_NO_URI = ""  # a name without a URI part: any path


@dataclass
class RefererLocConf:
    names: Any = api.UNSET  # api.NameHashes: host -> required URI prefix
    server_names: bool = False  # the server's names are valid hosts (this level)
    server_regexes: bool = False  # the server's regex names are (inherited, as nginx)
    regexes: list[re.Pattern[str]] | api.Unset = api.UNSET
    no_referer: bool | api.Unset = api.UNSET
    blocked: bool | api.Unset = api.UNSET
    hash_max_size: int | api.Unset = api.UNSET
    hash_bucket_size: int | api.Unset = api.UNSET

    def merge(self, parent: "RefererLocConf") -> None:
        if self.names is api.UNSET:  # no valid_referers here: the enclosing level's, whole
            self.names, self.server_names = parent.names, parent.server_names
            self.server_regexes = parent.server_regexes
            self.regexes = api.inherit(self.regexes, parent.regexes, [])
            self.no_referer = api.inherit(self.no_referer, parent.no_referer, False)
            self.blocked = api.inherit(self.blocked, parent.blocked, False)
        else:  # its own names and flags; regexes inherited (checked against nginx 1.22)
            self.server_regexes = self.server_names or parent.server_regexes
            self.regexes = api.inherit(self.regexes, parent.regexes, [])
            self.no_referer = api.inherit(self.no_referer, False, False)
            self.blocked = api.inherit(self.blocked, False, False)
            names = self.names
            if (self.no_referer or self.blocked) and not self.server_names \
                    and not (names.exact or names.head or names.tail):
                # nginx's ngx_log_error: no file:line
                raise api.ConfigError('the "none" or "blocked" referers are specified in '
                                      'the "valid_referers" directive without any valid '
                                      'referer')
        self.hash_max_size = api.inherit(self.hash_max_size, parent.hash_max_size, 2048)
        self.hash_bucket_size = api.inherit(self.hash_bucket_size, parent.hash_bucket_size,
                                            64)


@dataclass
class RefererMainConf:
    # id(server conf) -> its names as referer keys, built on first use (per cycle)
    server_hashes: dict[int, Any] = field(default_factory=dict)

    def merge(self, parent: Any) -> None:
        pass


def _server_names(r: api.Request, srv: Any) -> Any:
    """The server's names as referer keys (nginx adds them at merge time)."""
    cache = r.main_conf[MODULE].server_hashes
    hashes = cache.get(id(srv))
    if hashes is None:
        hashes = cache[id(srv)] = api.NameHashes()
        for name in srv.server_names:
            if name and not name.startswith("~"):
                hashes.add(name.lower(), _NO_URI)
    return hashes


def invalid_referer(r: api.Request) -> str:
    conf: RefererLocConf = MODULE.loc(r)
    names = conf.names
    # nginx builds no hash for a level without names: "valid_referers none;" alone lets
    # everything through
    if not conf.regexes and not conf.server_regexes and (
            names is api.UNSET or not (names.exact or names.head or names.tail)):
        return ""
    referer = r.headers.get("referer")
    if referer is None:
        return "" if conf.no_referer else "1"
    lower = referer[:8].lower()
    if len(referer) >= 11 and lower.startswith("http://"):
        ref = referer[7:]
    elif len(referer) >= 11 and lower.startswith("https://"):
        ref = referer[8:]
    else:
        return "" if conf.blocked else "1"
    end = len(ref)
    for i, ch in enumerate(ref):
        if ch in "/:":
            end = i
            break
    if end > 255:
        return "1"
    host = ref[:end].lower()
    uri = names.find(host) if names is not api.UNSET else None
    if uri is None and conf.server_regexes:
        srv = r.srv_conf[r.cycle.directive_module("server_name")]
        if conf.server_names:
            uri = _server_names(r, srv).find(host)
        if uri is None and any(rx.search(host) for rx in srv.name_regexes):
            return ""
    if uri is not None:
        slash = ref.find("/", end)
        path = ref[slash:] if slash >= 0 else ""
        return "" if path.startswith(uri) else "1"
    if any(rx.search(ref) for rx in conf.regexes):  # type: ignore[union-attr]
        return ""
    return "1"


def _valid_referers(cf: api.ConfContext, cmd: api.Directive, conf: RefererLocConf) -> None:
    if conf.names is api.UNSET:
        conf.names = api.NameHashes()
    for value in cf.args[1:]:
        if not value:
            raise cf.error(f'invalid referer "{value}"')
        if value == "none":
            conf.no_referer = True
        elif value == "blocked":
            conf.blocked = True
        elif value == "server_names":
            conf.server_names = True
        elif value.startswith("~"):
            if len(value) == 1:
                raise cf.error(f'empty regex in "{value}"')
            if conf.regexes is api.UNSET:
                conf.regexes = []
            conf.regexes.append(api.regex_compile(cf, value[1:], caseless=True,
                                                  named_variables=False))
        else:
            host, slash, uri = value.partition("/")
            low = host.lower()
            rc = conf.names.add(low, "/" + uri if slash and uri else
                                ("/" if slash else _NO_URI))
            if rc == "declined":
                raise cf.error(f'invalid hostname or wildcard "{host}"')
            if rc == "busy":
                raise cf.error(f'conflicting parameter "{low}"')


def _variables(cf: api.ConfContext) -> None:
    cf.add_variable("invalid_referer", invalid_referer)


_SL = api.Ctx.SRV | api.Ctx.LOC

MODULE = api.Module(
    name="http_referer",
    directives=[
        api.Directive("valid_referers", _SL, api.Args.ONE_MORE, _valid_referers),
        api.Directive("referer_hash_max_size", _SL, api.Args.TAKE1,
                      api.set_num("hash_max_size")),
        api.Directive("referer_hash_bucket_size", _SL, api.Args.TAKE1,
                      api.set_num("hash_bucket_size")),
    ],
    main_conf=RefererMainConf,
    loc_conf=RefererLocConf,
    preconfiguration=_variables,
)
