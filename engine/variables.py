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
from typing import Any, Callable

from engine.conf import ConfigError

__all__ = ["Getter", "Variables", "ComplexValue", "has_variables"]

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
