"""Variables: a registry per configuration, and complex values compiled once per directive.

A variable is a getter ``(r) -> str | None``; ``None`` means "not found" (access logs print
``-`` for it; found-but-empty prints nothing).  Prefix variables (``$http_``, ``$arg_``,
``$cookie_``, ``$sent_http_``) take the rest of the name as an extra argument.

Like nginx (``ngx_http_variables_init_vars``), names are resolved only after the whole
configuration is read, so a ``set $x`` later in the file makes ``$x`` usable earlier; an
unknown name then fails start-up with ``unknown "x" variable``.

Compiled values (``ComplexValue``) keep the literal parts and getters in one flat tuple, and a
value without variables short-circuits to its constant: evaluation is on the per-request path.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from engine.conf import ConfigError

if TYPE_CHECKING:
    from engine.cycle import ConfContext

__all__ = ["Getter", "Variables", "ComplexValue", "has_variables", "regex_compile",
           "regex_exec", "set_captures"]

Getter = Callable[[Any], "str | None"]
PrefixGetter = Callable[[Any, str], "str | None"]

# $name, ${name}, $1..$9 (nginx allows letters, digits and "_" in names)
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))")


def has_variables(value: str) -> bool:
    return "$" in value and _VAR_RE.search(value) is not None


class _Ref:
    """A not-yet-resolved variable use; becomes a getter at ``Variables.resolve``."""

    __slots__ = ("name", "getter")

    def __init__(self, name: str) -> None:
        self.name = name
        self.getter: Getter | None = None


def _capture_getter(n: int) -> Getter:
    """``$0``..``$9``: groups of the last regex match (``r.captures`` is a ``re.Match``)."""
    def get(r: Any) -> str | None:
        m = r.captures
        if m is None or n > m.re.groups:
            return None  # not found, as nginx (SSI's echo prints "(none)")
        return m.group(n) or ""
    return get


class ComplexValue:
    """A string with variables, compiled at config time (``ngx_http_complex_value_t``)."""

    __slots__ = ("source", "const", "parts")

    def __init__(self, source: str, parts: list[str | _Ref]) -> None:
        self.source = source
        self.parts = parts
        self.const: str | None = source if not any(isinstance(p, _Ref) for p in parts) else None

    def evaluate(self, r: Any) -> str:
        if self.const is not None:
            return self.const
        out = []
        for p in self.parts:
            if type(p) is str:
                out.append(p)
            else:
                v = p.getter(r)  # type: ignore[union-attr,misc]
                if v:
                    out.append(v)
        return "".join(out)

    def __repr__(self) -> str:
        return f"ComplexValue({self.source!r})"


class Variables:
    """The variable registry of one configuration cycle."""

    def __init__(self) -> None:
        self.getters: dict[str, Getter] = {}
        self.prefixes: dict[str, PrefixGetter] = {}
        self.settable: set[str] = set()
        self._refs: list[_Ref] = []

    def add(self, name: str, getter: Getter) -> None:
        self.getters[name.lower()] = getter

    def fixed(self, name: str) -> bool:
        """Whether ``$name`` (lowercased) exists and may not be redefined by ``set``, a
        block or a named capture (nginx's ngx_http_add_variable without CHANGEABLE)."""
        return ((name in self.getters or name in CORE_NAMED)
                and name not in self.settable and name not in CHANGEABLE)

    def add_prefix(self, prefix: str, getter: PrefixGetter) -> None:
        self.prefixes[prefix.lower()] = getter

    def declare_settable(self, name: str) -> None:
        """Make ``$name`` exist as a per-request variable (``set $name ...``)."""
        name = name.lower()
        self.settable.add(name)
        if name not in self.getters:
            self.getters[name] = lambda r, _n=name: r.variables.get(_n)

    def compile(self, source: str) -> ComplexValue:
        parts: list[str | _Ref] = []
        pos = 0
        for m in _VAR_RE.finditer(source):
            if m.start() > pos:
                parts.append(source[pos:m.start()])
            ref = _Ref((m.group(1) or m.group(2)).lower())
            self._refs.append(ref)
            parts.append(ref)
            pos = m.end()
        if pos < len(source):
            parts.append(source[pos:])
        if "$" in source and not parts:
            parts.append(source)
        return ComplexValue(source, parts)

    def ref(self, name: str) -> _Ref:
        """A single variable (``$var`` as used by ``if ($var)``, ``set``), resolved later."""
        ref = _Ref(name.lower())
        self._refs.append(ref)
        return ref

    def lookup(self, name: str) -> Getter | None:
        name = name.lower()
        if len(name) == 1 and name.isdigit():  # $0..$9 only: "$10" is no capture
            return _capture_getter(int(name))
        g = self.getters.get(name)
        if g is not None:
            return g
        for prefix, pg in self.prefixes.items():
            if name.startswith(prefix):
                rest = name[len(prefix):]
                return lambda r, _pg=pg, _rest=rest: _pg(r, _rest)
        return None

    def resolve(self) -> None:
        """Bind every variable use to its getter; unknown names are a start-up error."""
        for ref in self._refs:
            g = self.lookup(ref.name)
            if g is None:
                raise ConfigError(f'unknown "{ref.name}" variable')
            ref.getter = g
        self._refs.clear()


# --- regexes (nginx's ngx_http_regex_compile / ngx_http_regex_exec) -----------------------------

# variables nginx lets a named capture (or ``set``) overwrite although they exist
# (NGX_HTTP_VAR_CHANGEABLE: the core's, proxy's and referer's)
CHANGEABLE = frozenset({"args", "limit_rate", "proxy_host", "proxy_port", "invalid_referer"})
# names nginx defines as variables of their own although a prefix ($http_, $sent_http_)
# would also give them: they exist for ngx_http_add_variable, trinx reads them by prefix
CORE_NAMED = frozenset({
    "http_host", "http_user_agent", "http_referer", "http_via", "http_x_forwarded_for",
    "http_cookie", "sent_http_content_type", "sent_http_content_length",
    "sent_http_location", "sent_http_last_modified", "sent_http_connection",
    "sent_http_keep_alive", "sent_http_transfer_encoding", "sent_http_cache_control",
    "sent_http_link"})

_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>")

# Python's ``re`` error text -> PCRE2's, and whether PCRE2 adds ``at "<rest>"``
_PCRE_MESSAGES = {
    "missing ), unterminated subpattern": ("missing closing parenthesis", False),
    "unbalanced parenthesis": ("unmatched closing parenthesis", True),
    "nothing to repeat": ("quantifier does not follow a repeatable item", True),
    "multiple repeat": ("quantifier does not follow a repeatable item", True),
    "unterminated character set": ("missing terminating ] for character class", False),
}


def pcre_to_python(pattern: str) -> str:
    """Rewrite the PCRE-only syntax nginx configs use (``(?<name>...)``) to Python's."""
    return _NAMED_GROUP.sub(r"(?P<\1>", pattern)


def regex_compile(cf: "ConfContext", pattern: str, caseless: bool = False,
                  named_variables: bool = True) -> "re.Pattern[str]":
    """Compile a config regex as nginx's ngx_http_regex_compile does.

    PCRE without UTF: ``\\w``, ``\\d`` and case folding are ASCII-only (``re.ASCII``).  Each
    named capture becomes a variable ``$name`` (an existing variable that is not changeable
    is nginx's "duplicate" error); ``regex_exec``/``set_captures`` give it its value.
    ``named_variables=False`` is nginx's bare ngx_regex_compile (``gzip_disable``...).
    """
    flags = re.ASCII | (re.IGNORECASE if caseless else 0)
    try:
        regex = re.compile(pcre_to_python(pattern), flags)
    except re.error as e:
        raise cf.error(pcre_message(pattern, e)) from None
    if not named_variables:
        return regex
    variables = cf.cycle.variables
    for name in regex.groupindex:
        lname = name.lower()
        if variables.fixed(lname):
            raise cf.error(f'the duplicate "{name}" variable')
        variables.declare_settable(lname)
    return regex


def pcre_message(pattern: str, e: re.error) -> str:
    """nginx's ``pcre2_compile() failed: ...`` line for a pattern Python refused."""
    msg, at = _PCRE_MESSAGES.get(e.msg, (e.msg, True))
    pos = e.pos
    if pos is not None:
        # e.pos is in the translated pattern: each "(?<" before it gained a "P"
        pos -= sum(1 for g in _NAMED_GROUP.finditer(pattern) if g.start() + 3 < pos)
    if e.msg.startswith("unknown extension ?<") and pos is not None:
        # "(?<1a>": Python points at "(?", PCRE2 at the name
        msg, pos = "subpattern name must start with a non-digit", pos + 2
    elif e.msg.startswith("redefinition of group name") and pos is not None:
        # Python points at the name, PCRE2 after its ">"
        msg = "two named subpatterns have the same name (PCRE2_DUPNAMES not set)"
        pos = pattern.index(">", pos) + 1
    where = f' at "{pattern[pos:]}"' if at and pos is not None and pos < len(pattern) else ""
    return f'pcre2_compile() failed: {msg} in "{pattern}"{where}'


def set_captures(r: Any, m: "re.Match[str]") -> None:
    """Make a match the request's ``$1``..``$9`` and store its named captures as variables."""
    r.captures = m
    for name, index in m.re.groupindex.items():
        r.variables[name.lower()] = m.group(index) or ""


def regex_exec(r: Any, regex: "re.Pattern[str]", subject: str) -> "re.Match[str] | None":
    """Search ``subject``; on a match, set the request's captures (ngx_http_regex_exec)."""
    m = regex.search(subject)
    if m is not None:
        set_captures(r, m)
    return m
