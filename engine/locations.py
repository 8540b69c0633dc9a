"""Location tree and nginx's location matching algorithm (reference/core.md §7.3).

Each level (the server, a prefix location, a regex location) keeps its children split by kind:
exact names in a dict, prefixes longest-first, regexes in config order.  ``find`` applies the
algorithm at one level and recurses into the chosen location:

1. an exact (``=``) match wins at once;
2. else the longest prefix P (plain or ``^~``); if P has children the search runs inside it,
   and an exact or regex match found there wins;
3. a ``^~`` P (or the deepest prefix found inside it) is selected without consulting this
   level's regexes;
4. else this level's regexes are tried in order, the first match wins (and is searched inside);
5. else the remembered prefix.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Iterator

from engine.variables import pcre_to_python

__all__ = ["Location", "LocKind", "Match", "find_location", "pcre_to_python"]


class LocKind(enum.Enum):
    SERVER = "server"
    EXACT = "="
    PREFIX = ""
    NOREGEX = "^~"
    REGEX = "~"
    REGEX_I = "~*"
    NAMED = "@"
    IF = "if"
    LIMIT_EXCEPT = "limit_except"


class Match(enum.Enum):
    NONE = 0
    PREFIX = 1
    EXACT = 2
    REGEX = 3
    AUTO_REDIRECT = 4


class Location:
    """A location block (or the server level, or an anonymous ``if`` block)."""

    __slots__ = ("name", "kind", "regex", "loc_conf", "parent", "exact", "prefixes",
                 "regexes", "named", "ifs", "auto_redirect", "file", "line", "sr_skip_phases",
                 "sr_skip_filters")

    def __init__(self, name: str, kind: LocKind, loc_conf: dict[Any, Any],
                 parent: "Location | None", file: str = "", line: int = 0) -> None:
        self.name = name
        self.kind = kind
        self.regex: re.Pattern[str] | None = None
        self.loc_conf = loc_conf
        self.parent = parent
        self.exact: dict[str, Location] = {}
        self.prefixes: list[Location] = []
        self.regexes: list[Location] = []
        self.named: dict[str, Location] = {}
        self.ifs: list[Location] = []  # anonymous "if" blocks, for merging only
        self.auto_redirect = False
        self.file = file
        self.line = line
        # what a subrequest here may skip (engine.http_core.plan_subrequests)
        self.sr_skip_phases = False
        self.sr_skip_filters = False

    def walk(self) -> "Iterator[Location]":
        """This location and every location nested in it (named and ``if`` ones too)."""
        yield self
        for child in (*self.exact.values(), *self.prefixes, *self.regexes,
                      *self.named.values(), *self.ifs):
            yield from child.walk()

    @property
    def has_children(self) -> bool:
        return bool(self.exact or self.prefixes or self.regexes)

    def add_child(self, child: "Location") -> str | None:
        """Insert a nested location; returns an nginx error message on conflict."""
        if child.kind is LocKind.EXACT:
            if child.name in self.exact:
                return f'duplicate location "{child.name}"'
            self.exact[child.name] = child
        elif child.kind in (LocKind.PREFIX, LocKind.NOREGEX):
            if any(p.name == child.name for p in self.prefixes):
                return f'duplicate location "{child.name}"'
            self.prefixes.append(child)
            self.prefixes.sort(key=lambda loc: len(loc.name), reverse=True)
        elif child.kind in (LocKind.REGEX, LocKind.REGEX_I):
            self.regexes.append(child)
        elif child.kind is LocKind.NAMED:
            # nginx 1.22 accepts a repeated name; ngx_http_named_location takes the first
            self.named.setdefault(child.name, child)
        return None

    def __repr__(self) -> str:
        return f"<Location {self.kind.value} {self.name}>"


def find_location(level: Location, uri: str) -> tuple[Location | None, re.Match[str] | None, Match]:
    """Select the location for ``uri`` below ``level`` (``ngx_http_core_find_location``).

    Returns (location, regex match or None, how it matched).  ``Match.AUTO_REDIRECT`` means
    ``uri`` + "/" names a prefix location whose handler asks for the trailing-slash redirect.
    """
    exact = level.exact.get(uri)
    if exact is not None:
        return exact, None, Match.EXACT
    found: Location | None = None
    for p in level.prefixes:
        name = p.name
        if uri.startswith(name):
            found = p
            break
        if p.auto_redirect and len(name) == len(uri) + 1 and name.startswith(uri):
            return p, None, Match.AUTO_REDIRECT
    remembered: Location | None = found
    if found is not None:
        if found.has_children:
            inner, m, how = find_location(found, uri)
            if how is not Match.PREFIX and how is not Match.NONE:
                return inner, m, how
            if inner is not None:
                remembered = inner
        if found.kind is LocKind.NOREGEX:
            return remembered, None, Match.PREFIX
    for rx in level.regexes:
        m = rx.regex.search(uri)  # type: ignore[union-attr]
        if m is not None:
            if rx.has_children:
                inner, m2, how = find_location(rx, uri)
                if inner is not None and how is not Match.NONE:
                    return inner, m2, how
            return rx, m, Match.REGEX
    if remembered is not None:
        return remembered, None, Match.PREFIX
    return None, None, Match.NONE
