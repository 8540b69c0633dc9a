"""Module API: directives, contexts, argument rules, conf create/merge, value setters.

A trinx module reads like an nginx module (``ngx_http_*_module.c``): conf classes, a directive
table, hooks.  Conf objects are plain classes whose fields start as ``UNSET``; the engine
creates one per context level and calls ``child.merge(parent)`` from the outside in, so a
module's defaults live in exactly one place, its ``merge``.

Directive setters are called as ``setter(cf, cmd, conf)`` where ``conf`` is the module's conf
object for the level being parsed (chosen by ``Directive.conf``) and ``cf.args`` holds the
words (``cf.args[0]`` is the directive name).  Setters raise ``cf.error(...)`` (a
``ConfigError`` already carrying file and line) for bad values.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar

if TYPE_CHECKING:
    from engine.cycle import ConfContext

__all__ = [
    "UNSET", "Unset", "inherit", "Module", "Directive", "Ctx", "Args", "ConfLevel",
    "set_flag", "set_str", "set_num", "set_size", "set_msec", "set_sec", "set_enum",
    "set_str_list", "parse_size", "parse_time", "ignore",
]


class Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET
T = TypeVar("T")


def inherit(value: T | Unset, parent: T | Unset, default: T) -> T:
    """nginx's ``ngx_conf_merge_*_value``: own value, else the parent's, else the default."""
    if value is not UNSET:
        return value  # type: ignore[return-value]
    if parent is not UNSET:
        return parent  # type: ignore[return-value]
    return default


class Ctx(enum.IntFlag):
    """Where a directive may appear (nginx's NGX_*_CONF bits)."""

    MAIN = 1
    EVENTS = 2
    HTTP = 4  # http {} itself
    SRV = 8
    LOC = 16
    UPS = 32
    SIF = 64  # if in server
    LIF = 128  # if in location
    LMT = 256  # limit_except
    ANY = 511
    HTTP_ALL = HTTP | SRV | LOC


class Args(enum.Enum):
    """Argument-count rules (NGX_CONF_NOARGS, TAKE1, ..., 1MORE, FLAG)."""

    NOARGS = (0,)
    TAKE1 = (1,)
    TAKE2 = (2,)
    TAKE3 = (3,)
    TAKE4 = (4,)
    TAKE12 = (1, 2)
    TAKE13 = (1, 3)
    TAKE23 = (2, 3)
    TAKE123 = (1, 2, 3)
    TAKE1234 = (1, 2, 3, 4)
    FLAG = (1,)
    ONE_MORE = (-1,)
    TWO_MORE = (-2,)
    ANY = (-3,)

    def accepts(self, n: int) -> bool:
        rule = self.value
        if rule[0] == -1:
            return n >= 1
        if rule[0] == -2:
            return n >= 2
        if rule[0] == -3:
            return True
        return n in rule and n <= 7


class ConfLevel(enum.Enum):
    """Which of the module's confs a directive writes (nginx's NGX_HTTP_*_CONF_OFFSET)."""

    MAIN = "main"
    SRV = "srv"
    LOC = "loc"
    CORE = "core"  # the process-level (main context) conf


Setter = Callable[["ConfContext", "Directive", Any], None]


@dataclass(frozen=True)
class Directive:
    """One entry of a module's directive table."""

    name: str
    contexts: Ctx
    args: Args
    set: Setter
    conf: ConfLevel = ConfLevel.LOC
    block: bool = False


class ConfClass(Protocol):
    def merge(self, parent: Any) -> None: ...


@dataclass(eq=False)  # identity equality and hashing, at C speed: confs are keyed by module
class Module:
    """A trinx module: what ``load_module`` and the built-ins hand to the engine.

    Attributes:
        name: nginx's short name (``ssi``, ``range``, ``rewrite``...), listed by ``-V``.
        directives: the directive table.
        main_conf / srv_conf / loc_conf: conf classes (no-argument constructors, fields
            ``UNSET``, a ``merge(parent)`` method; main confs may define ``init(cf)``).
        core_conf: a conf class for the main (process) context.
        preconfiguration / postconfiguration: hooks called with the ``ConfContext`` before
            and after the http block is parsed; filters and phase handlers are installed in
            ``postconfiguration``.
        init_upstream: registered balancer init, for upstream modules (later issue).
    Confs and per-request ctx are dicts keyed by the module object, owned by each cycle and
    request, so one module object can serve two cycles during a reload.
    """

    name: str
    directives: list[Directive] = field(default_factory=list)
    core_conf: type | None = None
    main_conf: type | None = None
    srv_conf: type | None = None
    loc_conf: type | None = None
    preconfiguration: Callable[["ConfContext"], None] | None = None
    postconfiguration: Callable[["ConfContext"], None] | None = None

    def loc(self, r: Any) -> Any:
        """This module's location conf for request ``r`` (``ngx_http_get_module_loc_conf``)."""
        return r.loc_conf[self]

    def srv(self, r: Any) -> Any:
        return r.srv_conf[self]

    def main(self, r: Any) -> Any:
        return r.main_conf[self]

    def get_ctx(self, r: Any) -> Any:
        return r.ctx.get(self)

    def set_ctx(self, r: Any, value: Any) -> None:
        r.ctx[self] = value



# --- value parsers (reference/core.md §4) -----------------------------------------------------

_SIZE_RE = re.compile(r"^(\d+)([kKmMgG]?)$")
_SIZE_MULT = {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30}
_TIME_UNITS = {"y": 365 * 86400000, "M": 30 * 86400000, "w": 7 * 86400000, "d": 86400000,
               "h": 3600000, "m": 60000, "s": 1000, "ms": 1}
_TIME_ORDER = ["y", "M", "w", "d", "h", "m", "s", "ms"]
_TIME_RE = re.compile(r"(\d+)(ms|[yMwdhms]?)\s*")


def parse_size(value: str, allow_g: bool = False) -> int | None:
    """A size (``1024``, ``8k``, ``1m``; ``g`` only for offsets). None when invalid."""
    m = _SIZE_RE.match(value)
    if not m or (m.group(2) in "gG" and m.group(2) and not allow_g):
        return None
    return int(m.group(1)) * _SIZE_MULT[m.group(2)]


def parse_time(value: str, is_sec: bool = False) -> int | None:
    """A time in milliseconds (``30``, ``1h30m``, ``500ms``). A bare number means seconds.

    Units must appear in decreasing order, each at most once (nginx's ngx_parse_time); no
    leading space; years and months only for slots in seconds (``is_sec``: nginx starts
    a millisecond slot's scan past them).
    """
    pos, total, last = 0, 0, -1
    if not value or value[0].isspace():
        return None
    while pos < len(value):
        m = _TIME_RE.match(value, pos)
        if not m:
            return None
        unit = m.group(2) or "s"
        if not is_sec and unit in "yM":
            return None
        rank = _TIME_ORDER.index(unit)
        if rank <= last:
            return None
        last = rank
        total += int(m.group(1)) * _TIME_UNITS[unit]
        pos = m.end()
        if not m.group(2) and pos < len(value):
            return None
    return total


# --- setters ----------------------------------------------------------------------------------

def _check_unset(cf: "ConfContext", conf: Any, name: str) -> None:
    if getattr(conf, name) is not UNSET:
        raise cf.error(f'"{cf.args[0]}" directive is duplicate')


def set_flag(attr: str) -> Setter:
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        v = cf.args[1].lower()
        if v not in ("on", "off"):
            raise cf.error(f'invalid value "{cf.args[1]}" in "{cf.args[0]}" directive, '
                           'it must be "on" or "off"')
        setattr(conf, attr, v == "on")
    return setter


def set_str(attr: str) -> Setter:
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        setattr(conf, attr, cf.args[1])
    return setter


def set_num(attr: str) -> Setter:
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        if not cf.args[1].isdigit():
            raise cf.error(f'"{cf.args[0]}" directive invalid number')
        setattr(conf, attr, int(cf.args[1]))
    return setter


def set_size(attr: str) -> Setter:
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        v = parse_size(cf.args[1])
        if v is None:
            raise cf.error(f'"{cf.args[0]}" directive invalid value')
        setattr(conf, attr, v)
    return setter


def set_msec(attr: str) -> Setter:
    """A time stored in milliseconds."""
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        v = parse_time(cf.args[1])
        if v is None:
            raise cf.error(f'"{cf.args[0]}" directive invalid value')
        setattr(conf, attr, v)
    return setter


def set_sec(attr: str) -> Setter:
    """A time stored in whole seconds (``ms`` is rejected, as by ngx_conf_set_sec_slot)."""
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        v = parse_time(cf.args[1], is_sec=True)
        if v is None or v % 1000:
            raise cf.error(f'"{cf.args[0]}" directive invalid value')
        setattr(conf, attr, v // 1000)
    return setter


def set_types(attr: str) -> Setter:
    """A MIME-type list (``ssi_types``, ``addition_types``...): ``text/html`` is always in
    it and ``*`` means every type (nginx's ngx_http_types_slot)."""
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        words = cf.args[1:]
        setattr(conf, attr, frozenset(["*"]) if "*" in words else
                frozenset(w.lower() for w in words) | {"text/html"})
    return setter


def type_matches(content_type: str | None, types: frozenset[str]) -> bool:
    """Whether a response's Content-Type (parameters ignored) is in a ``set_types`` list."""
    if "*" in types:
        return True
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in types


def set_enum(attr: str, values: dict[str, Any]) -> Setter:
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        _check_unset(cf, conf, attr)
        v = cf.args[1]
        # ngx_conf_set_enum_slot compares without case, and names neither the directive
        # nor the choices when nothing matches
        key = v if v in values else lowered.get(v.lower())
        if key is None:
            raise cf.error(f'invalid value "{v}"')
        setattr(conf, attr, values[key])
    lowered = {k.lower(): k for k in values}
    return setter


def set_bitmask(attr: str, names: tuple[str, ...]) -> Setter:
    """``ngx_conf_set_bitmask_slot``: values without case, ORed into what the level has (the
    directive may be repeated), a repeated value warned about, an unknown one an error; the
    conf gets a frozenset of the names as ``names`` spells them."""
    lowered = {n.lower(): n for n in names}

    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        current = getattr(conf, attr)
        words = set() if current is UNSET else set(current)
        for value in cf.args[1:]:
            name = lowered.get(value.lower())
            if name is None:
                raise cf.error(f'invalid value "{value}"')
            if name in words:
                cf.warn(f'duplicate value "{value}"')
            words.add(name)
        setattr(conf, attr, frozenset(words))
    return setter


def set_str_list(attr: str) -> Setter:
    """Append all arguments to a list (list directives replace, never merge, across levels)."""
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        cur = getattr(conf, attr)
        if cur is UNSET:
            cur = []
            setattr(conf, attr, cur)
        cur.extend(cf.args[1:])
    return setter


def ignore(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
    """For directives trinx accepts from existing nginx configs but does not need to act on."""
    if cmd.block:
        cf.skip_block()
