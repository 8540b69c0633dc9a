"""Reading a configuration into a ``Cycle``: directive dispatch, contexts, create/merge.

Theory of operation
-------------------
nginx calls one loaded configuration a *cycle*; a reload builds a new cycle next to the old one
and switches when it is complete, so everything a request needs hangs off its cycle and nothing
lives in module-level globals.

``ConfContext`` (nginx's ``ngx_conf_t``) walks the statements of the main file.  For each one it
finds the directive among the loaded modules, checks the context bit and the argument count,
then calls the directive's setter with the module's conf object for the current level.  Block
directives (``http``, ``server``, ``location``...) create the confs of their level and parse
their block recursively through ``parse_block``; ``include`` parses another file in place.

After the ``http`` block, the engine merges every server and location conf with its parent
(``conf.merge(parent)``), calls each module's ``postconfiguration`` hook (which installs
filters and phase handlers), and resolves variable names.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from engine.conf import ConfigError, Statement, Token, Tokenizer
from engine.locations import Location
from engine.module import ConfLevel, Ctx, Directive, Module
from engine.variables import ComplexValue, Variables

__all__ = ["ConfContext", "Cycle", "Phase", "ServerConf", "FilterLinks", "Inert", "ALWAYS",
           "read_cycle"]

#: ``pred(loc_conf) -> bool``: true where a filter or phase handler is known to do nothing
#: for a subrequest (see ``ConfContext.push_filters``)
Inert = Callable[[dict[Module, Any]], bool]


def ALWAYS(loc_conf: dict[Module, Any]) -> bool:  # noqa: N802 - a constant predicate
    """For filters and handlers that never act on a subrequest (main-request only)."""
    return True


@dataclass
class FilterLinks:
    """Where a filter finds the rest of its chains (nginx's ``ngx_http_next_*_filter``)."""

    next_header: Callable[..., Any] | None = None
    next_body: Callable[..., Any] | None = None


class Phase(enum.IntEnum):
    POST_READ = 0
    SERVER_REWRITE = 1
    FIND_CONFIG = 2
    REWRITE = 3
    POST_REWRITE = 4
    PREACCESS = 5
    ACCESS = 6
    POST_ACCESS = 7
    PRECONTENT = 8
    CONTENT = 9
    LOG = 10


@dataclass
class ServerConf:
    """One ``server {}`` block: its confs and its location tree (the root is the server level)."""

    srv_conf: dict[Module, Any]
    root: Location
    file: str
    line: int
    # subrequests here skip the server-rewrite phase (engine.http_core.plan_subrequests)
    sr_skip_server_rewrite: bool = False

    @property
    def loc_conf(self) -> dict[Module, Any]:
        return self.root.loc_conf


@dataclass
class Cycle:
    """One loaded configuration; requests keep the cycle they started with across a reload."""

    conf_file: str
    prefix: str
    conf_prefix: str
    modules: list[Module]
    core_conf: dict[Module, Any] = field(default_factory=dict)
    main_conf: dict[Module, Any] = field(default_factory=dict)
    servers: list[ServerConf] = field(default_factory=list)
    variables: Variables = field(default_factory=Variables)
    phases: dict[Phase, list[Callable[..., Any]]] = field(default_factory=dict)
    top_header_filter: Callable[..., Any] | None = None
    top_body_filter: Callable[..., Any] | None = None
    # what push_filters knows of the chains: each filter's subrequest_inert (None: unknown),
    # and the tops it left (a top set by hand makes the chains unknown)
    filter_inert: list[Inert | None] = field(default_factory=list)
    filters_top: tuple[Any, Any] = (None, None)
    # phase -> subrequest_inert of each of its handlers (engine.http_core.plan_subrequests)
    phase_inert: dict[Phase, list[Inert | None]] = field(default_factory=dict)
    # the body filter a subrequest's output goes to when the filters above it do nothing
    # for it (the postpone stage)
    sr_body_filter: Callable[..., Any] | None = None
    files_read: list[tuple[str, str]] = field(default_factory=list)
    http_seen: bool = False
    events_seen: bool = False
    # (address, port) -> servers listening there, default first; filled by the core module
    listens: dict[tuple[str, int], Any] = field(default_factory=dict)
    # objects that need closing when the cycle is dropped (open log files...)
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    reopen: list[Callable[[], None]] = field(default_factory=list)  # on USR1 (access logs)
    # http-level error_log lists -> their opened ErrorLog (engine.http.log_error)
    location_error_logs: dict[Any, Any] = field(default_factory=dict)
    # (address, port) -> its server names as nginx hashes them (engine.server_names)
    name_hashes: dict[tuple[str, int], Any] = field(default_factory=dict)
    # "[warn]" lines of the configuration ("message in file:line"), in the order given
    warnings: list[str] = field(default_factory=list)
    _directive_modules: dict[str, Module | None] = field(default_factory=dict, repr=False)
    # nginx's cycle->open_files: openers run once the configuration is read and checked
    # (`Cycle.open_files`), so an unopenable file is reported after "syntax is ok" as nginx
    openers: list[Callable[[], None]] = field(default_factory=list)
    # where config-time warnings go: (level, message) -> None; None prints them on stderr
    warn_log: Callable[[int, str], None] | None = None

    # requests still running on this cycle; a reload retires it, and the last one closes it
    users: int = 0
    retired: bool = False

    def directive_module(self, name: str) -> Module | None:
        """The module declaring directive ``name`` (its loc conf carries nginx's field names
        for it), so the core can read a conf a module owns (``disable_symlinks``)."""
        try:
            return self._directive_modules[name]
        except KeyError:
            owner = next((m for m in self.modules if any(d.name == name for d in m.directives)),
                         None)
            self._directive_modules[name] = owner
            return owner

    def open_files(self) -> None:
        """Open the files the configuration names (access logs...); raises ConfigError."""
        for fn in self.openers:
            fn()

    def close(self) -> None:
        for fn in self.cleanup:
            fn()
        self.cleanup.clear()

    def retire(self) -> None:
        """A reload replaced this cycle: close it once no request uses it any more."""
        self.retired = True
        if self.users == 0:
            self.close()

    def release(self) -> None:
        """A request that used this cycle has ended."""
        self.users -= 1
        if self.retired and self.users == 0:
            self.close()


_CTX_NAMES = {Ctx.MAIN: "main", Ctx.EVENTS: "events", Ctx.HTTP: "http", Ctx.SRV: "server",
              Ctx.LOC: "location", Ctx.UPS: "upstream", Ctx.SIF: "if", Ctx.LIF: "if",
              Ctx.LMT: "limit_except"}


class ConfContext:
    """The parser state handed to directive setters and module hooks (nginx's ``cf``).

    Attributes a setter uses:
        args: the words of the current directive (``args[0]`` is its name).
        cycle: the cycle being built (variables, phases, filters).
        ctx: the ``Ctx`` bit of the block being parsed.
        main_conf / srv_conf / loc_conf: conf objects of the current level, by module.
        location: the ``Location`` being parsed (``None`` outside locations).
    """

    def __init__(self, cycle: Cycle) -> None:
        self.cycle = cycle
        self.args: tuple[str, ...] = ()
        self.file = ""
        self.line = 0
        self.ctx: Ctx = Ctx.MAIN
        self.main_conf: dict[Module, Any] = {}
        self.srv_conf: dict[Module, Any] = {}
        self.loc_conf: dict[Module, Any] = {}
        self.location: Location | None = None
        self.server: ServerConf | None = None
        self._tok: Tokenizer | None = None
        self._directives: dict[str, list[tuple[Module, Directive]]] = {}
        for m in cycle.modules:
            self.register(m)

    # --- module registration -----------------------------------------------------------------

    def register(self, module: Module) -> None:
        for d in module.directives:
            entries = self._directives.setdefault(d.name, [])
            if getattr(d.set, "compat", False):
                entries.append((module, d))
            else:
                # a module that implements a directive the core only accepts and ignores
                # (engine/compat.py) takes it over
                entries.insert(sum(not getattr(e.set, "compat", False) for _, e in entries),
                               (module, d))
        if module.core_conf is not None and module not in self.cycle.core_conf:
            self.cycle.core_conf[module] = module.core_conf()

    def load_module(self, module: Module) -> None:
        """Add a module at run time (``load_module``); allowed before the ``http`` block."""
        if module in self.cycle.modules:
            return
        self.cycle.modules.append(module)
        self.register(module)

    # --- errors and paths --------------------------------------------------------------------

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, self.file, self.line)

    def warn(self, message: str, where: bool = True) -> None:
        """A config-time warning (``ngx_conf_log_error(NGX_LOG_WARN, ...)``).

        It goes where nginx's ``cf->log`` points: the start-up log (``-e``, which also
        prints ``nginx: [warn] ...`` on stderr unless it is stderr itself), or the running
        error log on a reload (``cycle.warn_log``); without one it is printed on stderr.
        ``where=False`` is a plain ``ngx_log_error`` (no "in file:line"), for warnings made
        after parsing (conflicting server names).  Kept in ``cycle.warnings`` too.
        """
        text = f"{message} in {self.file}:{self.line}" if self.file and where else message
        self.cycle.warnings.append(text)
        if self.cycle.warn_log is not None:
            self.cycle.warn_log(logging.WARNING, text)
        else:
            print(f"nginx: [warn] {text}", file=sys.stderr)

    def full_path(self, path: str, conf_prefix: bool = False) -> str:
        """Resolve ``path`` as nginx does: absolute, else relative to the prefix (or conf dir)."""
        if path.startswith("/"):
            return path
        base = self.cycle.conf_prefix if conf_prefix else self.cycle.prefix
        return os.path.join(base, path)

    # --- variables and phases ------------------------------------------------------------------

    def compile(self, value: str) -> ComplexValue:
        return self.cycle.variables.compile(value)

    def add_variable(self, name: str, getter: Callable[[Any], str | None]) -> None:
        self.cycle.variables.add(name, getter)

    def variable_name(self, word: str) -> str:
        """The lowercased name of the ``$variable`` a directive defines (``set``, ``map``,
        ``geo``, ``split_clients``, ``auth_request_set``), declared writable per request:
        nginx's ``ngx_http_add_variable`` with NGX_HTTP_VAR_CHANGEABLE.

        Raises ConfigError: not ``$name``, or an existing variable that cannot be changed.
        """
        if not word.startswith("$"):
            raise self.error(f'invalid variable name "{word}"')
        if word == "$":
            raise self.error('invalid variable name "$"')
        name = word[1:].lower()
        variables = self.cycle.variables
        if variables.fixed(name):
            raise self.error(f'the duplicate "{word[1:]}" variable')
        variables.declare_settable(name)
        return name

    def add_prefix_variable(self, prefix: str, getter: Callable[[Any, str], str | None]) -> None:
        self.cycle.variables.add_prefix(prefix, getter)

    def add_phase_handler(self, phase: Phase, handler: Callable[..., Any], *,
                          subrequest_inert: Inert | None = None) -> None:
        """Register a phase handler; like nginx, the last registered runs first.

        ``subrequest_inert(loc_conf)``: true where the handler declines every subrequest
        (the server level's conf for the server-rewrite phase); where all of a phase's
        handlers are, subrequests skip the phase.  None: not known, the phase always runs.
        """
        self.cycle.phases.setdefault(phase, []).insert(0, handler)
        self.cycle.phase_inert.setdefault(phase, []).append(subrequest_inert)

    def push_filters(self, links: Any, header: Callable[..., Any] | None = None,
                     body: Callable[..., Any] | None = None, *,
                     subrequest_inert: Inert | None = None) -> None:
        """Put a module's header and/or body filter on top of the chains; ``links`` (a
        `FilterLinks`, or the module's main conf with the same two attributes) gets what
        was on top: the filter's next ones.

        ``subrequest_inert(loc_conf)``: true where both filters pass a subrequest's header
        and body on unchanged and keep no state for it.  Where every filter above the
        postpone stage says so, a subrequest's header skips the chain and its body goes
        straight to the postpone stage (an include of a plain file does no filter work).
        None (not known), or a top set by hand instead of through here, keeps every chain
        running for every subrequest.
        """
        cycle = self.cycle
        if (cycle.top_header_filter, cycle.top_body_filter) != cycle.filters_top:
            cycle.filter_inert.append(None)  # one was put on top by hand: unknown
        if header is not None:
            links.next_header = cycle.top_header_filter
            cycle.top_header_filter = header
        if body is not None:
            links.next_body = cycle.top_body_filter
            cycle.top_body_filter = body
        cycle.filter_inert.append(subrequest_inert)
        cycle.filters_top = (cycle.top_header_filter, cycle.top_body_filter)

    # --- parsing ---------------------------------------------------------------------------

    def open_file(self, path: str) -> Tokenizer:
        """A tokenizer over a config file (nginx's open error if it cannot be read); the
        file is recorded for ``-T``.  ``include`` inside free-form blocks uses it too."""
        try:
            with open(path, "rb") as f:
                text = f.read().decode("latin-1")
        except OSError as e:
            raise self.error(f'open() "{path}" failed ({e.errno}: {e.strerror})') from None
        self.cycle.files_read.append((path, text))
        return Tokenizer(text, path)

    def parse_file(self, path: str) -> None:
        tok = self.open_file(path)
        saved = (self._tok, self.file, self.line)
        self._tok = tok
        try:
            self._parse(in_block=False)
        finally:
            self._tok, self.file, self.line = saved

    def parse_string(self, text: str, name: str) -> None:
        """Parse the ``-g`` directives (nginx's ``ngx_conf_param``): no blocks allowed."""
        saved = (self._tok, self.file, self.line)
        self._tok = Tokenizer(text, name, param=True)
        try:
            self._parse(in_block=False, param=True)
        finally:
            self._tok, self.file, self.line = saved

    def parse_block(self, ctx: Ctx, handler: Callable[["ConfContext", Statement], None]
                    | None = None) -> None:
        """Parse the rest of the current block in context ``ctx``.

        With ``handler``, every statement goes to it instead of the directive table: the
        free-form blocks (``types``, ``map``) use this.
        """
        saved_ctx = self.ctx
        self.ctx = ctx
        try:
            self._parse(in_block=True, handler=handler)
        finally:
            self.ctx = saved_ctx

    def skip_block(self) -> None:
        self.parse_block(self.ctx, handler=lambda cf, st: (
            cf.skip_block() if st.kind is Token.BLOCK_START else None))

    def _parse(self, in_block: bool,
               handler: Callable[["ConfContext", Statement], None] | None = None,
               param: bool = False) -> None:
        tok = self._tok
        assert tok is not None
        while True:
            st = tok.next()
            self.file, self.line = st.file, st.line
            if st.kind is Token.EOF:
                if in_block:
                    raise self.error('unexpected end of file, expecting "}"')
                return
            if st.kind is Token.BLOCK_DONE:
                if not in_block:
                    raise self.error('unexpected "}"')
                return
            if param and st.kind is Token.BLOCK_START:
                raise self.error("block directives are not supported in -g option")
            self.args = st.words
            if handler is not None:
                handler(self, st)
            else:
                self._dispatch(st)

    def _dispatch(self, st: Statement) -> None:
        name = st.words[0]
        entries = self._directives.get(name)
        if not entries:
            raise self.error(f'unknown directive "{name}"')
        for module, d in entries:
            if not d.contexts & self.ctx:
                continue
            is_block = st.kind is Token.BLOCK_START
            if d.block and not is_block:
                raise self.error(f'directive "{name}" has no opening "{{"')
            if not d.block and is_block:
                raise self.error(f'directive "{name}" is not terminated by ";"')
            if not d.args.accepts(len(st.words) - 1):
                raise self.error(f'invalid number of arguments in "{name}" directive')
            d.set(self, d, self._conf_for(module, d.conf))
            return
        raise self.error(f'"{name}" directive is not allowed here')

    def _conf_for(self, module: Module, level: ConfLevel) -> Any:
        if level is ConfLevel.CORE:
            return self.cycle.core_conf.get(module)
        if level is ConfLevel.MAIN:
            return self.main_conf.get(module)
        if level is ConfLevel.SRV:
            return self.srv_conf.get(module)
        return self.loc_conf.get(module)

    # --- levels --------------------------------------------------------------------------------

    def new_confs(self, attr: str) -> dict[Module, Any]:
        """Fresh conf objects (all fields UNSET) of every http module for one level."""
        out: dict[Module, Any] = {}
        for m in self.cycle.modules:
            cls = getattr(m, attr)
            if cls is not None:
                out[m] = cls()
        return out

    def parse_location_block(self, loc: Location, ctx: Ctx) -> None:
        """Parse a location (or ``if``) block with fresh loc confs bound to ``loc``."""
        saved = (self.loc_conf, self.location)
        self.loc_conf, self.location = loc.loc_conf, loc
        try:
            self.parse_block(ctx)
        finally:
            self.loc_conf, self.location = saved


def merge_confs(child: dict[Module, Any], parent: dict[Module, Any]) -> None:
    for m, conf in child.items():
        conf.merge(parent[m])


def merge_location_tree(loc: Location, modules: Iterable[Module]) -> None:
    for child in _children(loc):
        merge_confs(child.loc_conf, loc.loc_conf)
        merge_location_tree(child, modules)


def _children(loc: Location) -> list[Location]:
    return [*loc.exact.values(), *loc.prefixes, *loc.regexes, *loc.named.values(),
            *loc.ifs]


def read_cycle(conf_file: str, prefix: str, modules: list[Module],
               extra: str | None = None,
               warn_log: Callable[[int, str], None] | None = None,
               on_parsed: Callable[[], None] | None = None) -> Cycle:
    """Read and check a configuration; raises ``ConfigError`` (message with file:line).

    ``warn_log(level, message)`` receives the configuration's warnings (`ConfContext.warn`).
    ``on_parsed()`` runs when the text is read, before the checks nginx makes after it (the
    events section): ``-t`` prints "syntax is ok" there, as nginx.  Files are not opened:
    `Cycle.open_files` does it.
    """
    conf_prefix = os.path.dirname(conf_file) + "/"
    cycle = Cycle(conf_file=conf_file, prefix=prefix, conf_prefix=conf_prefix,
                  modules=list(modules), warn_log=warn_log)
    cf = ConfContext(cycle)
    cf.ctx = Ctx.MAIN
    if extra:
        cf.parse_string(extra, "command line")
    cf.parse_file(conf_file)
    cycle.variables.resolve()
    if on_parsed is not None:
        on_parsed()
    if not cycle.events_seen:
        raise ConfigError('no "events" section in configuration')
    return cycle
