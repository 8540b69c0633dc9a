"""``map`` (``ngx_http_map_module``): a variable whose value depends on another value.

Directives (http level)::

    map string $variable { default value; hostnames; volatile; include file;
                           key value; ~regex value; ~*regex value; \\~literal value; }
    map_hash_max_size 2048;  map_hash_bucket_size 32|64|128;   (accepted: Python dicts)

Theory of operation
-------------------
The block is read by ``_map_entry`` (nginx's ``ngx_http_map`` handler).  Exact keys are
lowercased into a dict (nginx's ``ngx_hash_add_key`` without READONLY); after ``hostnames``
keys are added as nginx's wildcard keys (``*.x``, ``.x``, ``x.*``) into ``api.NameHashes``
(the exact/head/tail tables ``server_name`` uses).  ``~``/``~*`` keys are regexes kept in
configuration order.  Values may hold variables; regex captures (``$1``, named) in a value
are the request's captures set by the match, as nginx.

At run time ``$variable`` (nginx's ``ngx_http_map_variable``) evaluates the source, drops a
trailing dot under ``hostnames``, then looks up (``ngx_http_map_find``): the lowercased
source in the exact table, then the most specific leading wildcard, then trailing wildcard;
then each regex in order on the source as is (not on an empty source); else the default
(empty if none).  The value is cached in ``r.variables`` under the variable's name (nginx's
``r->variables[index]``: shared with subrequests, kept across internal redirects, and a
later ``set $variable`` overrides it) unless ``volatile``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine import api
from engine.modules.conf_block import include

__all__ = ["MODULE", "MapConf", "Map"]


@dataclass
class MapConf:
    """``map_hash_*`` sizes: checked as numbers, otherwise unused (no hash buckets here)."""

    hash_max_size: int | api.Unset = api.UNSET
    hash_bucket_size: int | api.Unset = api.UNSET

    def merge(self, parent: "MapConf") -> None:
        self.hash_max_size = api.inherit(self.hash_max_size, parent.hash_max_size, 2048)
        self.hash_bucket_size = api.inherit(self.hash_bucket_size, parent.hash_bucket_size, 64)


Value = Any  # str (constant) | api.ComplexValue


@dataclass(eq=False)
class Map:
    """One ``map`` block, compiled."""

    name: str
    source: api.ComplexValue
    default: Value = ""
    hostnames: bool = False
    volatile: bool = False
    exact: dict[str, Value] = field(default_factory=dict)
    wildcards: Any = None  # api.NameHashes under ``hostnames``
    regexes: list[tuple["re.Pattern[str]", Value]] = field(default_factory=list)
    default_set: bool = False

    def find(self, r: api.Request, match: str) -> Value | None:
        """nginx's ``ngx_http_map_find``: exact, wildcards, regexes (not
        for an empty source); None if nothing."""
        low = match.lower()
        value = self.exact.get(low)
        if value is not None or not match:
            return value  # an empty source only matches the key ""
        hashes = self.wildcards
        if hashes is not None:
            value = hashes.find_wildcard(low)
            if value is not None:
                return value
        for regex, value in self.regexes:
            if api.regex_exec(r, regex, match) is not None:
                return value
        return None

    def variable(self, r: api.Request) -> str:
        """The getter of ``$name``."""
        if not self.volatile:
            cached = r.variables.get(self.name)
            if cached is not None:
                return cached  # type: ignore[no-any-return]
        match = self.source.evaluate(r)
        if self.hostnames and match.endswith("."):
            match = match[:-1]
        value = self.find(r, match)
        if value is None:
            value = self.default
        out = value if type(value) is str else value.evaluate(r)
        if not self.volatile:
            r.variables[self.name] = out
        return out  # type: ignore[no-any-return]


def _map_block(cf: api.ConfContext, cmd: api.Directive, conf: MapConf) -> None:
    source = cf.compile(cf.args[1])
    name = cf.variable_name(cf.args[2])
    m = Map(name=name, source=source)
    values: dict[str, Value] = {}  # one compiled value per distinct text, as nginx
    cf.parse_block(cf.ctx, handler=lambda cf, st: _map_entry(cf, st, m, values))
    cf.add_variable(name, m.variable)


def _map_entry(cf: api.ConfContext, st: api.Statement, m: Map, values: dict[str, Value]
               ) -> None:
    """nginx's ``ngx_http_map`` block handler (for included files too)."""
    if st.kind is api.Token.BLOCK_START:
        raise cf.error('unexpected "{"')
    args = cf.args
    if len(args) == 1 and args[0] == "hostnames":
        m.hostnames = True
        if m.wildcards is None:
            m.wildcards = api.NameHashes()
            m.wildcards.exact = m.exact  # keys read before "hostnames" stay exact keys
        return
    if len(args) == 1 and args[0] == "volatile":
        m.volatile = True
        return
    if len(args) != 2:
        raise cf.error("invalid number of the map parameters")
    key, text = args
    if key == "include":
        include(cf, lambda cf, st: _map_entry(cf, st, m, values))
        return
    value = values.get(text)
    if value is None:
        cv = cf.compile(text)
        value = text if cv.const is not None else cv
        values[text] = value
    if key == "default":
        if m.default_set:
            raise cf.error("duplicate default map parameter")
        m.default, m.default_set = value, True
        return
    if key.startswith("~"):
        caseless = key.startswith("~*")
        regex = api.regex_compile(cf, key[2:] if caseless else key[1:], caseless)
        m.regexes.append((regex, value))
        return
    if key.startswith("\\"):
        key = key[1:]
    # ngx_hash_add_key lowercases the key in place before its conflict check, so the
    # message shows it lowercased
    low = key.lower()
    if m.hostnames:
        rc = m.wildcards.add(low, value)
        if rc == "declined":
            raise cf.error(f'invalid hostname or wildcard "{key}"')
        if rc == "busy":
            raise cf.error(f'conflicting parameter "{low}"')
        return
    if low in m.exact:
        raise cf.error(f'conflicting parameter "{low}"')
    m.exact[low] = value


MODULE = api.Module(
    name="http_map",
    directives=[
        api.Directive("map", api.Ctx.HTTP, api.Args.TAKE2, _map_block, api.ConfLevel.MAIN,
                      block=True),
        api.Directive("map_hash_max_size", api.Ctx.HTTP, api.Args.TAKE1,
                      api.set_num("hash_max_size"), api.ConfLevel.MAIN),
        api.Directive("map_hash_bucket_size", api.Ctx.HTTP, api.Args.TAKE1,
                      api.set_num("hash_bucket_size"), api.ConfLevel.MAIN),
    ],
    main_conf=MapConf,
)
