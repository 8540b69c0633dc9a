"""engine/request.py, sans-IO: request-target normalisation (``parse_target``) and
``split_exten``.

The table rows were produced by nginx 1.22.1 itself (``return 200 "[$uri|$args]"`` with
``merge_slashes`` on and off); the properties hold for any target.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.request import BadRequest, parse_target, split_exten

BAD = None

# (target, merge_slashes on result, merge_slashes off result); result = (uri, args) or BAD
NGINX_TABLE: list[tuple[str, tuple[str, str] | None, tuple[str, str] | None]] = [
    ("/a#x?y", ("/a", ""), ("/a", "")),
    ("/a?b#c", ("/a", "b"), ("/a", "b")),
    ("//a/../b", ("/b", ""), ("//b", "")),
    ("/a//../b", ("/b", ""), ("/a/b", "")),
    ("/a/.%2e/b", ("/b", ""), ("/b", "")),
    ("/a/..;/b", ("/a/..;/b", ""), ("/a/..;/b", "")),
    ("/a/b/..", ("/a/", ""), ("/a/", "")),
    ("/%2F..", BAD, ("/", "")),
    ("/a%2F..%2F..", BAD, BAD),
    ("///", ("/", ""), ("///", "")),
    ("/a/.%00", BAD, BAD),
    ("http://h", ("/", ""), ("/", "")),
    ("http://h?x", ("/", "x"), ("/", "x")),
    ("HTTP://h/a", ("/a", ""), ("/a", "")),
    ("http://h:80/a?q", ("/a", "q"), ("/a", "q")),
    ("https://h/a", ("/a", ""), ("/a", "")),
    ("ftp://h/a", ("/a", ""), ("/a", "")),
    ("http:/a", BAD, BAD),
    ("/a/./b/.", ("/a/b/", ""), ("/a/b/", "")),
    ("/a//./b", ("/a/b", ""), ("/a//b", "")),
    ("/.%2e/", BAD, BAD),
    ("/a?b?c", ("/a", "b?c"), ("/a", "b?c")),
    ("/a%zz", BAD, BAD),
    ("/a%2", BAD, BAD),
    ("/a?%zz", ("/a", "%zz"), ("/a", "%zz")),
    ("/a/%2e", ("/a/", ""), ("/a/", "")),
    ("/a/b/%2E%2E/c", ("/a/c", ""), ("/a/c", "")),
    ("http://h/a/../../b", BAD, BAD),
    ("http://h/..", BAD, BAD),
    ("/a/...", ("/a/...", ""), ("/a/...", "")),
    ("/a/.../..", ("/a/", ""), ("/a/", "")),
    # core.md section 6
    ("/%66iles/f1.txt", ("/files/f1.txt", ""), ("/files/f1.txt", "")),
    ("/vars/a//b/./c/../d", ("/vars/a/b/d", ""), ("/vars/a//b/d", "")),
    ("/vars/%41%2f%3F?x", ("/vars/A/?", "x"), ("/vars/A/?", "x")),
    ("/../x", BAD, BAD),
    ("/a/../../x", BAD, BAD),
    ("/%00", BAD, BAD),
    ("*", BAD, BAD),
    ("/p%20q?a=1&a=2&b", ("/p q", "a=1&a=2&b"), ("/p q", "a=1&a=2&b")),
]


@pytest.mark.parametrize("target,on,off", NGINX_TABLE)
def test_parse_target_matches_nginx(target: str, on: tuple[str, str] | None,
                                    off: tuple[str, str] | None) -> None:
    for merge, want in ((True, on), (False, off)):
        if want is BAD:
            with pytest.raises(BadRequest) as exc:
                parse_target(target, merge)
            assert exc.value.status == 400
        else:
            assert parse_target(target, merge) == want


def test_args_are_never_decoded() -> None:
    assert parse_target("/x?a=%41%00&b=%zz") == ("/x", "a=%41%00&b=%zz")


# --- properties ---------------------------------------------------------------------------------

_SEGMENTS = st.sampled_from(["", ".", "..", "a", "b.c", "%2e", "%2E%2e", ".%2e", "%2f", "%2F..",
                             "...", "..a", "%41", "%20", "x%2fy", "%3f"])
targets = st.lists(_SEGMENTS, min_size=1, max_size=10).map(lambda segs: "/" + "/".join(segs))


def _segments(path: str) -> list[str]:
    return path.split("/")[1:]


@given(target=targets, merge=st.booleans())
@settings(max_examples=400)
def test_parse_target_never_leaves_dot_segments(target: str, merge: bool) -> None:
    try:
        uri, args = parse_target(target, merge)
    except BadRequest:
        return
    assert uri.startswith("/")
    assert args == ""
    segs = _segments(uri)
    assert ".." not in segs and "." not in segs
    assert "/../" not in uri and not uri.endswith("/..")
    if merge:
        assert "//" not in uri


@given(target=targets, merge=st.booleans())
@settings(max_examples=400)
def test_parse_target_never_climbs_above_root(target: str, merge: bool) -> None:
    """Resolving the decoded path segment by segment never goes above the root: either
    parse_target refuses it, or the depth stays >= 0 at every step."""
    decoded = unquote(target)
    depth, climbed = 0, False
    segs = _segments(decoded)
    for i, seg in enumerate(segs):
        if seg == "..":
            depth -= 1
            climbed |= depth < 0
        elif seg == "." or (seg == "" and (merge or i == len(segs) - 1)):
            continue
        else:
            depth += 1
    try:
        parse_target(target, merge)
    except BadRequest:
        assert climbed
        return
    assert not climbed


@given(target=targets, merge=st.booleans())
@settings(max_examples=400)
def test_parse_target_is_idempotent(target: str, merge: bool) -> None:
    try:
        uri, _ = parse_target(target, merge)
    except BadRequest:
        return
    if "%" in uri or "?" in uri or "#" in uri:
        return  # a decoded "%25"/"%3F" would be read again as an escape/query
    assert parse_target(uri, merge) == (uri, "")


@given(path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e,
                                  blacklist_characters="%?#"), max_size=30))
def test_parse_target_keeps_plain_paths(path: str) -> None:
    """A path with no dot segments, escapes or repeated slashes comes back unchanged."""
    target = "/" + path
    segs = _segments(target)
    if "." in segs or ".." in segs or "//" in target:
        return
    assert parse_target(target) == (target, "")


@pytest.mark.parametrize("uri,exten", [
    ("/a.html", "html"), ("/a.b/c", ""), ("/.htaccess", ""), ("/x.GIF", "GIF"),
    ("/dir/", ""), ("/a.tar.gz", "gz"), ("/a.", ""), ("/", ""), ("/a/b.c/d.e", "e"),
    ("/noext", ""), ("/.a.b", "b"),
])
def test_split_exten(uri: str, exten: str) -> None:
    assert split_exten(uri) == exten
