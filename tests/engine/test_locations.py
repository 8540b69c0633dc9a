"""engine/locations.py: ``find_location`` on hand-built trees, every case of core.md section
7.3 (each checked on nginx 1.22 by the reference's authors; the e2e twin is
tests/e2e/test_locations.py)."""

from __future__ import annotations

import re

import pytest

from engine.locations import Location, LocKind, Match, find_location, pcre_to_python

_KINDS = {"=": LocKind.EXACT, "^~": LocKind.NOREGEX, "~": LocKind.REGEX, "~*": LocKind.REGEX_I,
          "": LocKind.PREFIX}


def loc(parent: Location, spec: str) -> Location:
    """Add ``location spec`` (``"= /x"``, ``"~* \\.gif$"``, ``"/p/"``) under ``parent``."""
    mod, _, name = spec.partition(" ") if " " in spec else ("", "", spec)
    kind = _KINDS[mod]
    child = Location(name, kind, {}, parent)
    if kind in (LocKind.REGEX, LocKind.REGEX_I):
        child.regex = re.compile(pcre_to_python(name),
                                 re.IGNORECASE if kind is LocKind.REGEX_I else 0)
    assert parent.add_child(child) is None
    return child


def server() -> Location:
    return Location("", LocKind.SERVER, {}, None)


def select(root: Location, uri: str) -> tuple[str, Match]:
    found, _, how = find_location(root, uri)
    return ("" if found is None else f"{found.kind.value} {found.name}".strip(), how)


@pytest.fixture
def tree() -> Location:
    """The reference's example configuration, in one server."""
    s = server()
    loc(s, "= /exact")
    loc(s, "/exact")
    loc(s, "/images/")
    loc(s, "~* \\.(gif|jpg)$")
    loc(s, "~ \\.JPG$")
    loc(s, "^~ /static/")
    nest = loc(s, "/nest/")
    loc(nest, "^~ /nest/deep/")
    loc(nest, "/nest/deep2/")
    loc(nest, "~ \\.php$")
    loc(s, "~ \\.php$")
    st2 = loc(s, "^~ /static2/")
    loc(st2, "~ \\.png$")
    loc(s, "/")
    return s


@pytest.mark.parametrize("uri,want,how", [
    ("/exact", "= /exact", Match.EXACT),
    ("/exact/", "/exact", Match.PREFIX),
    ("/exactx", "/exact", Match.PREFIX),
    ("/images/a.gif", "~* \\.(gif|jpg)$", Match.REGEX),
    ("/images/a.txt", "/images/", Match.PREFIX),
    ("/static/a.gif", "^~ /static/", Match.PREFIX),
    ("/a.GIF", "~* \\.(gif|jpg)$", Match.REGEX),
    ("/a.JPG", "~* \\.(gif|jpg)$", Match.REGEX),
    ("/nest/x.php", "~ \\.php$", Match.REGEX),
    ("/nest/deep/x.php", "~ \\.php$", Match.REGEX),
    ("/nest/deep/x.txt", "^~ /nest/deep/", Match.PREFIX),
    ("/nest/deep2/x.php", "~ \\.php$", Match.REGEX),
    ("/nest/deep2/x.txt", "/nest/deep2/", Match.PREFIX),
    ("/nest/x.txt", "/nest/", Match.PREFIX),
    ("/static2/a.png", "~ \\.png$", Match.REGEX),
    ("/static2/a.gif", "^~ /static2/", Match.PREFIX),
    ("/other", "/", Match.PREFIX),
    ("/x.php", "~ \\.php$", Match.REGEX),
])
def test_reference_cases(tree: Location, uri: str, want: str, how: Match) -> None:
    assert select(tree, uri) == (want, how)


def test_nested_regex_is_the_nested_one(tree: Location) -> None:
    nest = next(p for p in tree.prefixes if p.name == "/nest/")
    top_php = tree.regexes[-1]
    for uri in ("/nest/x.php", "/nest/deep2/x.php"):
        found, m, _ = find_location(tree, uri)
        assert found is nest.regexes[0] and found is not top_php and m is not None
    found, _, _ = find_location(tree, "/nest/deep/x.php")
    assert found is top_php


def test_longest_prefix_wins_whatever_the_order() -> None:
    s = server()
    loc(s, "/a/")
    loc(s, "/a/b/c/")
    loc(s, "/a/b/")
    assert select(s, "/a/b/c/d") == ("/a/b/c/", Match.PREFIX)
    assert select(s, "/a/b/x") == ("/a/b/", Match.PREFIX)
    assert select(s, "/a/x") == ("/a/", Match.PREFIX)


def test_regexes_in_config_order_first_match_wins() -> None:
    s = server()
    loc(s, "~ /a")
    loc(s, "~ /a/b")
    assert select(s, "/a/b") == ("~ /a", Match.REGEX)


def test_no_match_returns_none() -> None:
    s = server()
    loc(s, "/a/")
    loc(s, "= /b")
    assert select(s, "/b/") == ("", Match.NONE)


def test_exact_stops_before_regexes() -> None:
    s = server()
    loc(s, "= /x.php")
    loc(s, "~ \\.php$")
    assert select(s, "/x.php") == ("= /x.php", Match.EXACT)
    assert select(s, "/y.php") == ("~ \\.php$", Match.REGEX)


def test_nested_exact_wins() -> None:
    s = server()
    a = loc(s, "/a/")
    loc(a, "= /a/x")
    loc(s, "~ x$")
    assert select(s, "/a/x") == ("= /a/x", Match.EXACT)
    assert select(s, "/a/yx") == ("~ x$", Match.REGEX)


def test_regex_captures_are_returned() -> None:
    s = server()
    loc(s, "~ ^/re/(?<name>[a-z]+)/(.*)$")
    _, m, how = find_location(s, "/re/abc/d/e")
    assert how is Match.REGEX and m is not None
    assert m.group("name") == "abc" and m.group(2) == "d/e"


def test_case_sensitive_prefix() -> None:
    s = server()
    loc(s, "/Abc")
    assert select(s, "/abc") == ("", Match.NONE)


def test_auto_redirect_only_for_flagged_prefixes() -> None:
    s = server()
    p = loc(s, "/prox/")
    assert select(s, "/prox")[1] is Match.NONE
    p.auto_redirect = True
    assert select(s, "/prox") == ("/prox/", Match.AUTO_REDIRECT)
    loc(s, "= /prox")
    assert select(s, "/prox") == ("= /prox", Match.EXACT)


def test_duplicates_are_refused() -> None:
    s = server()
    loc(s, "/x")
    assert s.add_child(Location("/x", LocKind.NOREGEX, {}, s)) == 'duplicate location "/x"'
    assert s.add_child(Location("/x", LocKind.EXACT, {}, s)) is None
