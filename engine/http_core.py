"""The core modules: process (``main``/``events``) and ``http`` core directives.

nginx equivalents: ``ngx_core_module``, ``ngx_events_module``, ``ngx_http_module`` and
``ngx_http_core_module``.  They are declared with the same ``Module``/``Directive`` API as
every other module; unlike the modules in ``engine/modules``, they are part of the engine
because they build its structures (servers, locations, listens).

Directives that an existing nginx.conf commonly has but that trinx does not act on (``user``,
``worker_connections``, ``*_temp_path``, ``tcp_nopush`` ...) are accepted and ignored, with the
contexts, argument counts and value checks nginx applies (``engine/compat.py``), so a wrong use
still fails as it would in nginx.
"""

from __future__ import annotations

import glob as globmod
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.compat import compat_directives, events_directives
from engine.conf import Statement, Token
from engine.cycle import (ConfContext, Cycle, Phase, ServerConf, merge_confs,
                          merge_location_tree)
from engine.locations import Location, LocKind
from engine.server_names import check_server_names, directive_name
from engine.module import (UNSET, Args, ConfLevel, Ctx, Directive, Module, Unset, ignore,
                           inherit, parse_size, parse_time, set_flag, set_msec, set_num,
                           set_enum, set_size, set_str)
from engine.variables import ComplexValue, regex_compile

__all__ = ["CORE", "HTTP_CORE", "CoreConf", "CoreSrvConf", "CoreLocConf", "Listen",
           "ErrorPage", "DEFAULT_TYPES"]


# --- process level ------------------------------------------------------------------------------

@dataclass
class CoreConf:
    daemon: bool | Unset = UNSET
    master_process: bool | Unset = UNSET
    pid: str | Unset = UNSET
    worker_processes: int | Unset = UNSET
    worker_shutdown_timeout: int | Unset = UNSET
    error_logs: list[tuple[str, str]] = field(default_factory=list)  # (path, level)
    seen: set[str] = field(default_factory=set)  # accepted-and-ignored directives set here


LOG_LEVELS = ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


def _set_worker_processes(cf: ConfContext, cmd: Directive, conf: CoreConf) -> None:
    if conf.worker_processes is not UNSET:
        raise cf.error('"worker_processes" directive is duplicate')
    v = cf.args[1]
    if v == "auto":
        conf.worker_processes = os.cpu_count() or 1
    elif v.isdigit():
        conf.worker_processes = int(v)
    else:
        raise cf.error('"worker_processes" directive invalid value')


def parse_error_log(cf: ConfContext) -> tuple[str, str]:
    path = cf.args[1]
    level = "error"
    for a in cf.args[2:]:
        if a not in LOG_LEVELS:
            raise cf.error(f'invalid log level "{a}"')
        level = a
    if path != "stderr":
        path = cf.full_path(path)
    return path, level


def _set_error_log(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    entry = parse_error_log(cf)
    if isinstance(conf, CoreConf):
        conf.error_logs.append(entry)
    else:
        if conf.error_log is UNSET:
            conf.error_log = []
        conf.error_log.append(entry)


def _include(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    path = cf.full_path(cf.args[1], conf_prefix=True)
    if any(c in path for c in "*?["):
        for p in sorted(globmod.glob(path)):
            if os.path.isfile(p):
                cf.parse_file(p)
        return
    cf.parse_file(path)


def _load_module(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    import importlib

    name = cf.args[1]
    try:
        mod = importlib.import_module(name)
    except Exception as e:  # any import failure is the user's config problem
        raise cf.error(f'load_module "{name}" failed ({type(e).__name__}: {e})') from None
    module = getattr(mod, "MODULE", None)
    if not isinstance(module, Module):
        raise cf.error(f'load_module "{name}" failed (no MODULE of type engine.api.Module)')
    cf.load_module(module)


def _events_block(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    if cf.cycle.events_seen:
        raise cf.error('"events" directive is duplicate')
    cf.cycle.events_seen = True
    cf.parse_block(Ctx.EVENTS)


def _ign(name: str, ctx: Ctx, args: Args, block: bool = False) -> Directive:
    return Directive(name, ctx, args, ignore, ConfLevel.CORE, block)


CORE = Module(
    name="core",
    core_conf=CoreConf,
    directives=[
        Directive("daemon", Ctx.MAIN, Args.FLAG, set_flag("daemon"), ConfLevel.CORE),
        Directive("master_process", Ctx.MAIN, Args.FLAG, set_flag("master_process"),
                  ConfLevel.CORE),
        Directive("pid", Ctx.MAIN, Args.TAKE1, set_str("pid"), ConfLevel.CORE),
        Directive("worker_processes", Ctx.MAIN, Args.TAKE1, _set_worker_processes,
                  ConfLevel.CORE),
        Directive("worker_shutdown_timeout", Ctx.MAIN, Args.TAKE1,
                  set_msec("worker_shutdown_timeout"), ConfLevel.CORE),
        Directive("error_log", Ctx.MAIN, Args.ONE_MORE, _set_error_log, ConfLevel.CORE),
        Directive("include", Ctx.ANY, Args.TAKE1, _include, ConfLevel.CORE),
        Directive("load_module", Ctx.MAIN, Args.TAKE1, _load_module, ConfLevel.CORE),
        Directive("events", Ctx.MAIN, Args.NOARGS, _events_block, ConfLevel.CORE, block=True),
        _ign("user", Ctx.MAIN, Args.TAKE12),
        _ign("worker_rlimit_nofile", Ctx.MAIN, Args.TAKE1),
        _ign("worker_rlimit_core", Ctx.MAIN, Args.TAKE1),
        _ign("worker_priority", Ctx.MAIN, Args.TAKE1),
        _ign("worker_cpu_affinity", Ctx.MAIN, Args.ONE_MORE),
        _ign("working_directory", Ctx.MAIN, Args.TAKE1),
        _ign("lock_file", Ctx.MAIN, Args.TAKE1),
        _ign("pcre_jit", Ctx.MAIN, Args.FLAG),
        _ign("timer_resolution", Ctx.MAIN, Args.TAKE1),
        _ign("env", Ctx.MAIN, Args.TAKE1),
        _ign("thread_pool", Ctx.MAIN, Args.TAKE23),
        *events_directives(),
    ],
)


def core_defaults(conf: CoreConf) -> None:
    """Fill the process-level defaults (nginx's ngx_core_module_init_conf)."""
    conf.daemon = inherit(conf.daemon, UNSET, True)
    conf.master_process = inherit(conf.master_process, UNSET, True)
    conf.pid = inherit(conf.pid, UNSET, "logs/trinx.pid")
    conf.worker_processes = inherit(conf.worker_processes, UNSET, 1)
    conf.worker_shutdown_timeout = inherit(conf.worker_shutdown_timeout, UNSET, 0)


# --- http core confs -----------------------------------------------------------------------------

@dataclass
class Listen:
    addr: str
    port: int
    default_server: bool
    file: str
    line: int
    opts_set: bool = False  # socket options given (nginx's lsopt.set): once per address


@dataclass
class CoreSrvConf:
    listens: list[Listen] = field(default_factory=list)
    server_names: list[str] | Unset = UNSET
    client_header_timeout: int | Unset = UNSET
    client_header_buffer_size: int | Unset = UNSET
    large_client_header_buffers: tuple[int, int] | Unset = UNSET
    merge_slashes: bool | Unset = UNSET
    underscores_in_headers: bool | Unset = UNSET
    ignore_invalid_headers: bool | Unset = UNSET
    seen: set[str] = field(default_factory=set)  # accepted-and-ignored directives set here
    # compiled at merge: exact names, wildcard (regex), regexes
    name_regexes: list[re.Pattern[str]] = field(default_factory=list)

    def merge(self, parent: "CoreSrvConf") -> None:
        self.server_names = inherit(self.server_names, UNSET, [""])
        self.client_header_timeout = inherit(self.client_header_timeout,
                                             parent.client_header_timeout, 60000)
        self.client_header_buffer_size = inherit(self.client_header_buffer_size,
                                                 parent.client_header_buffer_size, 1024)
        self.large_client_header_buffers = inherit(self.large_client_header_buffers,
                                                   parent.large_client_header_buffers,
                                                   (4, 8192))
        self.merge_slashes = inherit(self.merge_slashes, parent.merge_slashes, True)
        self.underscores_in_headers = inherit(self.underscores_in_headers,
                                              parent.underscores_in_headers, False)
        self.ignore_invalid_headers = inherit(self.ignore_invalid_headers,
                                              parent.ignore_invalid_headers, True)

    @property
    def server_name(self) -> str:
        names = self.server_names
        return names[0] if names and names is not UNSET else ""  # type: ignore[index]


@dataclass
class ErrorPage:
    codes: tuple[int, ...]
    overwrite: int | None  # None: keep the code; 0: "=" (the target's code); else =N
    uri: ComplexValue


DEFAULT_TYPES = {"html": "text/html", "gif": "image/gif", "jpg": "image/jpeg"}


@dataclass
class CoreLocConf:
    root: ComplexValue | Unset = UNSET
    alias: bool = False
    root_set_here: bool = False
    default_type: str | Unset = UNSET
    types: dict[str, str] | Unset = UNSET
    try_files: list[ComplexValue] | None = None  # not inherited
    error_pages: list[ErrorPage] | Unset = UNSET
    internal: bool | Unset = UNSET
    satisfy_any: bool | Unset = UNSET  # satisfy any: one access handler's OK is enough
    # limit_except (not inherited): the methods let through, and the block's confs that
    # every other method gets (nginx's limit_except_loc_conf)
    limit_except: frozenset[str] | None = None
    limit_except_loc: Location | None = None
    keepalive_timeout: int | Unset = UNSET
    keepalive_header: int | None | Unset = UNSET
    keepalive_requests: int | Unset = UNSET
    client_max_body_size: int | Unset = UNSET
    client_body_timeout: int | Unset = UNSET
    send_timeout: int | Unset = UNSET
    sendfile: bool | Unset = UNSET
    server_tokens: bool | Unset = UNSET
    etag: bool | Unset = UNSET
    if_modified_since: str | Unset = UNSET
    absolute_redirect: bool | Unset = UNSET
    server_name_in_redirect: bool | Unset = UNSET
    port_in_redirect: bool | Unset = UNSET
    log_not_found: bool | Unset = UNSET
    log_subrequest: bool | Unset = UNSET
    msie_padding: bool | Unset = UNSET
    recursive_error_pages: bool | Unset = UNSET
    chunked_transfer_encoding: bool | Unset = UNSET
    error_log: list[tuple[str, str]] | Unset = UNSET
    handler: Callable[..., Any] | None = None  # content handler: not inherited
    # set by the location directive (alias needs the location name's length)
    loc_name: str = ""
    loc_regex: bool = False
    seen: set[str] = field(default_factory=set)  # accepted-and-ignored directives set here

    def merge(self, parent: "CoreLocConf") -> None:
        if self.root is UNSET:
            self.root = parent.root if parent.root is not UNSET else _DEFAULT_ROOT
            self.alias = parent.alias
            if parent.alias:
                self.loc_name, self.loc_regex = parent.loc_name, parent.loc_regex
        self.default_type = inherit(self.default_type, parent.default_type, "text/plain")
        self.types = inherit(self.types, parent.types, DEFAULT_TYPES)
        self.error_pages = inherit(self.error_pages, parent.error_pages, [])
        self.internal = inherit(self.internal, parent.internal, False)
        self.satisfy_any = inherit(self.satisfy_any, parent.satisfy_any, False)
        self.keepalive_timeout = inherit(self.keepalive_timeout, parent.keepalive_timeout, 75000)
        self.keepalive_header = inherit(self.keepalive_header, parent.keepalive_header, None)
        self.keepalive_requests = inherit(self.keepalive_requests, parent.keepalive_requests,
                                          1000)
        self.client_max_body_size = inherit(self.client_max_body_size,
                                            parent.client_max_body_size, 1 << 20)
        self.client_body_timeout = inherit(self.client_body_timeout,
                                           parent.client_body_timeout, 60000)
        self.send_timeout = inherit(self.send_timeout, parent.send_timeout, 60000)
        self.sendfile = inherit(self.sendfile, parent.sendfile, False)
        self.server_tokens = inherit(self.server_tokens, parent.server_tokens, True)
        self.etag = inherit(self.etag, parent.etag, True)
        self.if_modified_since = inherit(self.if_modified_since, parent.if_modified_since,
                                         "exact")
        self.absolute_redirect = inherit(self.absolute_redirect, parent.absolute_redirect, True)
        self.server_name_in_redirect = inherit(self.server_name_in_redirect,
                                               parent.server_name_in_redirect, False)
        self.port_in_redirect = inherit(self.port_in_redirect, parent.port_in_redirect, True)
        self.log_not_found = inherit(self.log_not_found, parent.log_not_found, True)
        self.log_subrequest = inherit(self.log_subrequest, parent.log_subrequest, False)
        self.msie_padding = inherit(self.msie_padding, parent.msie_padding, True)
        self.recursive_error_pages = inherit(self.recursive_error_pages,
                                             parent.recursive_error_pages, False)
        self.chunked_transfer_encoding = inherit(self.chunked_transfer_encoding,
                                                 parent.chunked_transfer_encoding, True)
        self.error_log = inherit(self.error_log, parent.error_log, [])


_DEFAULT_ROOT = ComplexValue("html", ["html"])


# --- subrequests that skip work their configuration makes a no-op -----------------------------

_SR_PHASES = (Phase.REWRITE, Phase.PRECONTENT)  # the phases a subrequest runs before content


def plan_subrequests(cycle: Cycle) -> None:
    """Mark, per server and location, what a subrequest there may skip: the phases before
    content and the filter chains above the postpone stage, where every handler and filter
    declared itself inert for subrequests there (``subrequest_inert``).  An include of a
    plain file then runs only its content handler and the postpone stage; a location with
    ``rewrite``, ``try_files``, ``sub_filter``, ``ssi on``, ``source_charset`` (or any
    module that did not declare itself) runs everything, as before."""
    filters_known = (cycle.sr_body_filter is not None and None not in cycle.filter_inert
                     and (cycle.top_header_filter, cycle.top_body_filter) == cycle.filters_top)

    def inert(phase: Phase, loc_conf: dict[Module, Any]) -> bool:
        return all(p is not None and p(loc_conf) for p in cycle.phase_inert.get(phase, ()))

    for srv in cycle.servers:
        srv.sr_skip_server_rewrite = inert(Phase.SERVER_REWRITE, srv.root.loc_conf)
        for loc in srv.root.walk():
            lc = loc.loc_conf
            clcf: CoreLocConf = lc[HTTP_CORE]
            plain = clcf.limit_except is None  # its block's confs would apply, not these
            loc.sr_skip_phases = plain and clcf.try_files is None and all(
                inert(phase, lc) for phase in _SR_PHASES)
            loc.sr_skip_filters = plain and filters_known and all(
                p(lc) for p in cycle.filter_inert)  # type: ignore[misc]


# --- http block, server, location ------------------------------------------------------------------

def _http_block(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    cycle = cf.cycle
    if cycle.http_seen:
        raise cf.error('"http" directive is duplicate')
    cycle.http_seen = True
    cf.main_conf = cycle.main_conf = cf.new_confs("main_conf")
    cf.srv_conf = cf.new_confs("srv_conf")
    root = Location("", LocKind.SERVER, cf.new_confs("loc_conf"), None)
    cf.loc_conf = root.loc_conf
    http_srv, http_loc = cf.srv_conf, cf.loc_conf
    for m in cycle.modules:
        if m.preconfiguration:
            m.preconfiguration(cf)
    cf.parse_block(Ctx.HTTP)
    for m, mc in cycle.main_conf.items():
        init = getattr(mc, "init", None)
        if init is not None:
            init(cf)
    for srv in cycle.servers:
        merge_confs(srv.srv_conf, http_srv)
        merge_confs(srv.loc_conf, http_loc)
        merge_location_tree(srv.root, cycle.modules)
        _compile_server_names(cf, srv)
    _build_listens(cf)
    cf.ctx = Ctx.HTTP
    for m in cycle.modules:
        if m.postconfiguration:
            m.postconfiguration(cf)
    cycle.name_hashes = check_server_names(cf, cycle.listens, HTTP_CORE)
    plan_subrequests(cycle)
    cf.main_conf, cf.srv_conf, cf.loc_conf = {}, {}, {}
    # main-context directives may follow the http block
    cf.ctx = Ctx.MAIN


def _server_block(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    saved = (cf.srv_conf, cf.loc_conf, cf.server, cf.location)
    srv_conf = cf.new_confs("srv_conf")
    root = Location("", LocKind.SERVER, cf.new_confs("loc_conf"), None, cf.file, cf.line)
    server = ServerConf(srv_conf=srv_conf, root=root, file=cf.file, line=cf.line)
    cf.srv_conf, cf.loc_conf, cf.server, cf.location = srv_conf, root.loc_conf, server, root
    try:
        cf.parse_block(Ctx.SRV)
    finally:
        cf.srv_conf, cf.loc_conf, cf.server, cf.location = saved
    cf.cycle.servers.append(server)


def _location_block(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    args = cf.args
    parent = cf.location
    assert parent is not None
    if len(args) == 3:
        mod, name = args[1], args[2]
        if mod not in ("=", "~", "~*", "^~"):
            raise cf.error(f'invalid location modifier "{mod}"')
        kind = {"=": LocKind.EXACT, "~": LocKind.REGEX, "~*": LocKind.REGEX_I,
                "^~": LocKind.NOREGEX}[mod]
    else:
        name = args[1]
        if name.startswith("="):
            kind, name = LocKind.EXACT, name[1:]
        elif name.startswith("^~"):
            kind, name = LocKind.NOREGEX, name[2:]
        elif name.startswith("~*"):
            kind, name = LocKind.REGEX_I, name[2:]
        elif name.startswith("~"):
            kind, name = LocKind.REGEX, name[1:]
        elif name.startswith("@"):
            kind = LocKind.NAMED
        else:
            kind = LocKind.PREFIX
    if parent.kind is not LocKind.SERVER:
        if parent.kind in (LocKind.EXACT, LocKind.NAMED):
            raise cf.error(f'location "{name}" cannot be inside the '
                           f'{"exact" if parent.kind is LocKind.EXACT else "named"} '
                           f'location "{parent.name}"')
        if kind is LocKind.NAMED:
            raise cf.error(f'named location "{name}" can be on the server level only')
        if kind in (LocKind.PREFIX, LocKind.NOREGEX, LocKind.EXACT) and \
                parent.kind not in (LocKind.REGEX, LocKind.REGEX_I) and \
                not name.startswith(parent.name):
            raise cf.error(f'location "{name}" is outside location "{parent.name}"')
    loc = Location(name, kind, cf.new_confs("loc_conf"), parent, cf.file, cf.line)
    if kind in (LocKind.REGEX, LocKind.REGEX_I):
        loc.regex = regex_compile(cf, name, caseless=kind is LocKind.REGEX_I)
    clcf: CoreLocConf = loc.loc_conf[HTTP_CORE]
    clcf.loc_name = name
    clcf.loc_regex = loc.regex is not None
    err = parent.add_child(loc)
    if err:
        raise cf.error(err)
    cf.parse_location_block(loc, Ctx.LOC)


# --- listen and server_name ----------------------------------------------------------------------

_LISTEN_FLAGS = {"default_server", "default", "reuseport", "deferred", "bind", "http2", "ssl",
                 "proxy_protocol", "quic"}
_LISTEN_PARAMS = ("backlog=", "rcvbuf=", "sndbuf=", "so_keepalive=", "ipv6only=",
                  "fastopen=", "accept_filter=", "setfib=")


def _listen(cf: ConfContext, cmd: Directive, conf: CoreSrvConf) -> None:
    value = cf.args[1]
    if value.startswith("unix:"):
        raise cf.error(f'unix domain sockets are not supported by trinx in "{value}"')
    addr, port = _parse_addr_port(value)
    if port is None or not (0 < port < 65536):
        raise cf.error(f'invalid port in "{value}" of the "listen" directive')
    default = opts_set = False
    for a in cf.args[2:]:
        if a in ("default_server", "default"):
            default = True
        elif a in ("ssl", "http2", "quic", "proxy_protocol"):
            raise cf.error(f'the "{a}" parameter of "listen" is not supported by trinx')
        elif a in _LISTEN_FLAGS or a.startswith(_LISTEN_PARAMS):
            opts_set = opts_set or a in ("bind", "reuseport", "deferred") or \
                a.startswith(_LISTEN_PARAMS)
        else:
            raise cf.error(f'invalid parameter "{a}"')
    listen = Listen(addr, port, default, cf.file, cf.line, opts_set)
    _check_listen(cf, conf, listen)
    conf.listens.append(listen)


def _check_listen(cf: ConfContext, conf: CoreSrvConf, new: Listen) -> None:
    """nginx's ngx_http_add_addresses checks, made when the directive is read."""
    text = f"[{new.addr}]:{new.port}" if ":" in new.addr else f"{new.addr}:{new.port}"
    key = (new.addr, new.port)
    if any((ls.addr, ls.port) == key for ls in conf.listens):
        raise cf.error(f"a duplicate listen {text}")
    servers = [*cf.cycle.servers, *([cf.server] if cf.server is not None else [])]
    earlier = [ls for srv in servers for ls in srv.srv_conf[HTTP_CORE].listens
               if (ls.addr, ls.port) == key]
    if new.opts_set and any(ls.opts_set for ls in earlier):
        raise cf.error(f"duplicate listen options for {text}")
    if new.default_server and any(ls.default_server for ls in earlier):
        raise cf.error(f"a duplicate default server for {text}")


def _parse_addr_port(value: str) -> tuple[str, int | None]:
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1:]
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else (
            80 if not rest else None)
    if value.isdigit():
        return "0.0.0.0", int(value)
    if ":" in value:
        host, _, p = value.rpartition(":")
        return ("0.0.0.0" if host == "*" else host), int(p) if p.isdigit() else None
    return value, 80


def _server_name(cf: ConfContext, cmd: Directive, conf: CoreSrvConf) -> None:
    if conf.server_names is UNSET:
        conf.server_names = []
    for name in cf.args[1:]:
        name = directive_name(cf, name)
        if name.startswith("~"):
            # caseless when the pattern has a capital letter (the host is lowercased)
            pattern = name[1:]
            conf.name_regexes.append(regex_compile(
                cf, pattern, caseless=any("A" <= c <= "Z" for c in pattern)))
        conf.server_names.append(name)


def _compile_server_names(cf: ConfContext, srv: ServerConf) -> None:
    cscf: CoreSrvConf = srv.srv_conf[HTTP_CORE]
    if not cscf.listens:
        cscf.listens.append(Listen("0.0.0.0", 80 if os.geteuid() == 0 else 8000, False,
                                   srv.file, srv.line))


def _build_listens(cf: ConfContext) -> None:
    """Group servers by listening address; the first (or ``default_server``) is the default."""
    listens: dict[tuple[str, int], list[ServerConf]] = {}
    defaults: dict[tuple[str, int], ServerConf] = {}
    for srv in cf.cycle.servers:
        for ls in srv.srv_conf[HTTP_CORE].listens:
            key = (ls.addr, ls.port)
            group = listens.setdefault(key, [])
            if srv not in group:
                group.append(srv)
            if ls.default_server:  # unique: checked by _check_listen
                defaults[key] = srv
    for key, group in listens.items():
        if key in defaults:
            group.remove(defaults[key])
            group.insert(0, defaults[key])
    cf.cycle.listens = listens


# --- location-level directives -------------------------------------------------------------------

def _root(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    is_alias = cf.args[0] == "alias"
    if conf.root is not UNSET:
        if conf.alias == is_alias:
            raise cf.error(f'"{cf.args[0]}" directive is duplicate')
        earlier = "alias" if conf.alias else "root"
        raise cf.error(f'"{cf.args[0]}" directive is duplicate, "{earlier}" directive was '
                       'specified earlier')
    if is_alias and cf.location is not None and cf.location.kind is LocKind.NAMED:
        raise cf.error('the "alias" directive cannot be used inside the named location')
    value = cf.args[1]
    if "$document_root" in value or "$realpath_root" in value:
        raise cf.error(f'the $document_root variable cannot be used in the "{cf.args[0]}" '
                       'directive')
    if not is_alias and value.endswith("/") and len(value) > 1:
        value = value.rstrip("/") or "/"
    if not value.startswith("/") and not value.startswith("$"):
        value = cf.full_path(value)
    conf.root = cf.compile(value)
    conf.alias = is_alias
    conf.root_set_here = True


def _types(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    types: dict[str, str] = {} if conf.types is UNSET else conf.types  # type: ignore[assignment]
    conf.types = types

    def entry(cf: ConfContext, st: Statement) -> None:
        if st.kind is Token.BLOCK_START:
            raise cf.error('unexpected "{"')
        ctype = st.words[0]
        # a type with no extensions is accepted (and does nothing), as in nginx
        for ext in st.words[1:]:
            ext = ext.lower()
            old = types.get(ext)
            if old is not None:
                cf.warn(f'duplicate extension "{ext}", content type: "{ctype}", '
                        f'previous content type: "{old}"')
            types[ext] = ctype

    cf.parse_block(cf.ctx, handler=entry)


def _try_files(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    if conf.try_files is not None:
        raise cf.error('"try_files" directive is duplicate')
    last = cf.args[-1]
    if last.startswith("=") and not (last[1:].isdigit() and int(last[1:]) <= 999):
        raise cf.error(f'invalid code "{last}"')
    conf.try_files = [cf.compile(a) for a in cf.args[1:]]


def _error_page(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    if conf.error_pages is UNSET:
        conf.error_pages = []
    args = list(cf.args[1:])
    target = args.pop()
    overwrite: int | None = None
    if args and args[-1].startswith("="):
        spec = args.pop()[1:]
        if spec == "":
            overwrite = 0
        elif spec.isdigit():
            overwrite = int(spec)
            if overwrite in (301, 302, 303, 307, 308) or overwrite >= 100:
                pass
        else:
            raise cf.error(f'invalid value "={spec}"')
    elif target.startswith("="):
        raise cf.error('invalid number of arguments in "error_page" directive')
    if not args:
        raise cf.error('invalid number of arguments in "error_page" directive')
    codes = []
    for a in args:
        if not a.isdigit():
            raise cf.error(f'invalid value "{a}"')
        code = int(a)
        if code < 300 or code > 599:
            raise cf.error(f'value "{code}" must be between 300 and 599')
        codes.append(code)
    conf.error_pages.append(ErrorPage(tuple(codes), overwrite, cf.compile(target)))


def _keepalive_timeout(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    if conf.keepalive_timeout is not UNSET:
        raise cf.error('"keepalive_timeout" directive is duplicate')
    t = parse_time(cf.args[1])
    if t is None:
        raise cf.error('"keepalive_timeout" directive invalid value')
    conf.keepalive_timeout = t
    if len(cf.args) == 3:
        # the header timeout is parsed in seconds (ngx_parse_time(..., 1)): no "ms"
        h = parse_time(cf.args[2])
        if h is None or h % 1000:
            raise cf.error('"keepalive_timeout" directive invalid value')
        conf.keepalive_header = h // 1000


_LIMIT_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE", "OPTIONS",
                  "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH")


def _limit_except(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    """``ngx_http_core_limit_except``: the methods named (any case; GET brings HEAD) keep the
    location's configuration, every other one gets the block's (``allow``/``deny``,
    ``access_log``... merged from the location): see engine.http.set_location."""
    if conf.limit_except is not None:
        raise cf.error('"limit_except" directive is duplicate')
    allowed: set[str] = set()
    for name in cf.args[1:]:
        method = name.upper()
        if method not in _LIMIT_METHODS:
            raise cf.error(f'invalid method "{name}"')
        allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")
    parent = cf.location
    assert parent is not None
    loc = Location(parent.name, LocKind.LIMIT_EXCEPT, cf.new_confs("loc_conf"), parent,
                   cf.file, cf.line)
    lclcf: CoreLocConf = loc.loc_conf[HTTP_CORE]
    lclcf.loc_name, lclcf.loc_regex = conf.loc_name, conf.loc_regex
    parent.ifs.append(loc)  # merged from the location like an "if" block
    conf.limit_except, conf.limit_except_loc = frozenset(allowed), loc
    cf.parse_location_block(loc, Ctx.LMT)


def _internal(cf: ConfContext, cmd: Directive, conf: CoreLocConf) -> None:
    if conf.internal is not UNSET:
        raise cf.error('"internal" directive is duplicate')
    conf.internal = True


def _set_off(attr: str) -> Any:
    """An offset (ngx_conf_set_off_slot): a size that may also use ``g``."""
    def setter(cf: ConfContext, cmd: Directive, conf: Any) -> None:
        if getattr(conf, attr) is not UNSET:
            raise cf.error(f'"{cf.args[0]}" directive is duplicate')
        v = parse_size(cf.args[1], allow_g=True)
        if v is None:
            raise cf.error(f'"{cf.args[0]}" directive invalid value')
        setattr(conf, attr, v)
    return setter


def _large_buffers(cf: ConfContext, cmd: Directive, conf: CoreSrvConf) -> None:
    if conf.large_client_header_buffers is not UNSET:
        raise cf.error('"large_client_header_buffers" directive is duplicate')
    size = parse_size(cf.args[2])
    # ngx_conf_set_bufs_slot: a number and a size, neither zero
    if not cf.args[1].isdigit() or int(cf.args[1]) == 0 or not size:
        raise cf.error('"large_client_header_buffers" directive invalid value')
    conf.large_client_header_buffers = (int(cf.args[1]), size)


_HCTX = Ctx.HTTP | Ctx.SRV | Ctx.LOC
_SRV = ConfLevel.SRV


def _d(name: str, ctx: Ctx, args: Args, setter: Any, level: ConfLevel = ConfLevel.LOC,
       block: bool = False) -> Directive:
    return Directive(name, ctx, args, setter, level, block)


HTTP_CORE = Module(
    name="http_core",
    main_conf=None,
    srv_conf=CoreSrvConf,
    loc_conf=CoreLocConf,
    directives=[
        _d("http", Ctx.MAIN, Args.NOARGS, _http_block, ConfLevel.CORE, block=True),
        _d("server", Ctx.HTTP, Args.NOARGS, _server_block, ConfLevel.CORE, block=True),
        _d("location", Ctx.SRV | Ctx.LOC, Args.TAKE12, _location_block, ConfLevel.CORE,
           block=True),
        _d("listen", Ctx.SRV, Args.ONE_MORE, _listen, _SRV),
        _d("server_name", Ctx.SRV, Args.ONE_MORE, _server_name, _SRV),
        _d("client_header_timeout", Ctx.HTTP | Ctx.SRV, Args.TAKE1,
           set_msec("client_header_timeout"), _SRV),
        _d("client_header_buffer_size", Ctx.HTTP | Ctx.SRV, Args.TAKE1,
           set_size("client_header_buffer_size"), _SRV),
        _d("large_client_header_buffers", Ctx.HTTP | Ctx.SRV, Args.TAKE2, _large_buffers, _SRV),
        _d("merge_slashes", Ctx.HTTP | Ctx.SRV, Args.FLAG, set_flag("merge_slashes"), _SRV),
        _d("underscores_in_headers", Ctx.HTTP | Ctx.SRV, Args.FLAG,
           set_flag("underscores_in_headers"), _SRV),
        _d("ignore_invalid_headers", Ctx.HTTP | Ctx.SRV, Args.FLAG,
           set_flag("ignore_invalid_headers"), _SRV),
        _d("root", _HCTX | Ctx.LIF, Args.TAKE1, _root),
        _d("alias", Ctx.LOC, Args.TAKE1, _root),
        _d("types", _HCTX, Args.NOARGS, _types, block=True),
        _d("default_type", _HCTX, Args.TAKE1, set_str("default_type")),
        _d("try_files", Ctx.SRV | Ctx.LOC, Args.TWO_MORE, _try_files),
        _d("error_page", _HCTX | Ctx.LIF, Args.TWO_MORE, _error_page),
        _d("internal", Ctx.LOC, Args.NOARGS, _internal),
        _d("limit_except", Ctx.LOC, Args.ONE_MORE, _limit_except, block=True),
        _d("satisfy", _HCTX, Args.TAKE1, set_enum("satisfy_any", {"all": False, "any": True})),
        _d("keepalive_timeout", _HCTX, Args.TAKE12, _keepalive_timeout),
        _d("keepalive_requests", _HCTX, Args.TAKE1, set_num("keepalive_requests")),
        _d("client_max_body_size", _HCTX, Args.TAKE1, _set_off("client_max_body_size")),
        _d("client_body_timeout", _HCTX, Args.TAKE1, set_msec("client_body_timeout")),
        _d("send_timeout", _HCTX, Args.TAKE1, set_msec("send_timeout")),
        _d("sendfile", _HCTX | Ctx.LIF, Args.FLAG, set_flag("sendfile")),
        _d("server_tokens", _HCTX, Args.TAKE1,  # on|off|build: "build" adds nothing here
           set_enum("server_tokens", {"on": True, "off": False, "build": True})),
        _d("etag", _HCTX, Args.FLAG, set_flag("etag")),
        _d("if_modified_since", _HCTX, Args.TAKE1,
           set_enum("if_modified_since", {v: v for v in ("off", "exact", "before")})),
        _d("absolute_redirect", _HCTX, Args.FLAG, set_flag("absolute_redirect")),
        _d("server_name_in_redirect", _HCTX, Args.FLAG, set_flag("server_name_in_redirect")),
        _d("port_in_redirect", _HCTX, Args.FLAG, set_flag("port_in_redirect")),
        _d("log_not_found", _HCTX, Args.FLAG, set_flag("log_not_found")),
        _d("log_subrequest", _HCTX, Args.FLAG, set_flag("log_subrequest")),
        _d("msie_padding", _HCTX, Args.FLAG, set_flag("msie_padding")),
        _d("recursive_error_pages", _HCTX, Args.FLAG, set_flag("recursive_error_pages")),
        _d("chunked_transfer_encoding", _HCTX, Args.FLAG,
           set_flag("chunked_transfer_encoding")),
        _d("error_log", _HCTX, Args.ONE_MORE, _set_error_log),
        # accepted for compatibility with existing configs; trinx has no use for them
        *(d for d in compat_directives() if d.name != "satisfy"),
    ],
)


def _preconfiguration(cf: ConfContext) -> None:
    from engine.http_variables import register_core_variables

    register_core_variables(cf)


HTTP_CORE.preconfiguration = _preconfiguration
