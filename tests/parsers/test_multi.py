"""parsers.multi.MultiMatcher: for any split of any body, the events spell what a plain reading
of nginx's sub_filter rules gives over the whole body (``reference_replace``); the examples
checked on nginx; the undecided tail stays shorter than the longest live pattern and nothing
decided is held; the generated search regex agrees with a naive scan."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.multi import MultiMatcher, _regex, reference_replace


def run(body: bytes, patterns: list[bytes], repl: list[bytes], once: bool,
        cuts: list[int]) -> bytes:
    m = MultiMatcher(patterns, once)
    bounds = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    events: list[bytes | int] = []
    for a, b in zip(bounds, bounds[1:]):
        events += m.feed(body[a:b])
        assert len(m.pending) < max(len(p) for p in patterns)
    events += m.feed(b"", last=True)
    assert m.pending == b""
    return b"".join(repl[e] if isinstance(e, int) else e for e in events)


_alpha = b"abcAB\xe9\xc9"
_pat = st.binary(min_size=1, max_size=5).map(lambda b: bytes(_alpha[c % 7] for c in b))
_body = st.binary(max_size=80).map(lambda b: bytes(_alpha[c % 7] for c in b))


@settings(max_examples=400)
@given(body=_body, patterns=st.lists(_pat, min_size=1, max_size=6), once=st.booleans(),
       cuts=st.lists(st.integers(0, 100), max_size=8))
def test_any_split_equals_the_reference(body: bytes, patterns: list[bytes], once: bool,
                                        cuts: list[int]) -> None:
    repl = [b"<%d>" % i for i in range(len(patterns))]
    assert run(body, patterns, repl, once, cuts) == reference_replace(body, patterns, repl,
                                                                     once)


@given(body=_body, cuts=st.lists(st.integers(0, 100), max_size=8))
def test_byte_by_byte_equals_whole(body: bytes, cuts: list[int]) -> None:
    patterns = [b"ab", b"abc", b"b", b"\xe9a"]
    repl = [b"1", b"2", b"3", b"4"]
    whole = run(body, patterns, repl, False, [])
    assert run(body, patterns, repl, False, list(range(len(body)))) == whole
    assert run(body, patterns, repl, False, cuts) == whole


@given(body=st.binary(max_size=60).map(lambda b: bytes(b"abAB"[c % 4] for c in b)),
       cuts=st.lists(st.integers(0, 60), max_size=6))
def test_one_pattern_all_is_bytes_replace_on_folded_text(body: bytes, cuts: list[int]) -> None:
    got = run(body, [b"aB"], [b"-"], False, cuts)
    assert got.lower() == body.lower().replace(b"ab", b"-")


def test_examples_checked_on_nginx() -> None:
    # reference/subrequests.md §9.3
    assert run(b"abcab b abc", [b"ab", b"abc", b"b"], [b"X", b"Y", b"Z"], False, []) == \
        b"XcX Z Xc"
    assert run(b"aaaaa", [b"aa"], [b"X"], False, [1, 3]) == b"XXa"
    assert run(b"Hello World, hello world.", [b"Hello", b"World"], [b"HI", b"x"], True,
               [3, 9]) == b"HI x, hello world."
    # bytes >= 0x80 compare exactly: no folding of latin-1 letters
    assert run(b"\xe9\xc9", [b"\xe9"], [b"e"], False, []) == b"e\xc9"


def test_a_cut_earlier_pattern_makes_it_wait_and_the_end_releases_it() -> None:
    m = MultiMatcher([b"abcde", b"ab"])
    assert m.feed(b"xxabc") == [b"xx"]  # "ab" matches, but "abcde" comes first and may
    assert m.pending == b"abc"
    assert m.feed(b"d") == []
    assert m.feed(b"", last=True) == [b"abcd"]  # the end: unchanged, "ab" not applied


def test_holds_back_less_than_the_longest_pattern_and_nothing_decided() -> None:
    m = MultiMatcher([b"abcdef", b"x"])
    assert m.feed(b"yyyyabcde") == [b"yyyy"]
    assert m.pending == b"abcde"
    assert m.feed(b"f!") == [0, b"!"]
    assert m.pending == b""
    assert m.feed(b"zzzzzzzzzz") == [b"zzzzzzzzzz"]  # no prefix of a pattern at the end
    assert m.feed(b"zab") == [b"z"]


def test_once_with_every_pattern_used_passes_everything() -> None:
    m = MultiMatcher([b"a", b"bc"], once=True)
    assert m.feed(b"abcab") == [0, 1, b"ab"]
    assert m.exhausted
    assert m.feed(b"abc") == [b"abc"]


def test_empty_patterns_are_refused() -> None:
    with pytest.raises(ValueError):
        MultiMatcher([b"a", b""])


@given(patterns=st.lists(st.binary(min_size=1, max_size=4).map(
    lambda b: bytes(b"ab.*\\"[c % 5] for c in b)), min_size=1, max_size=8),
    text=st.binary(max_size=20).map(lambda b: bytes(b"ab.*\\"[c % 5] for c in b)))
def test_search_regex_finds_the_leftmost_match(patterns: list[bytes], text: bytes) -> None:
    m = MultiMatcher(patterns)
    rx = re.compile(_regex(m.trie))
    found = rx.search(text)
    naive = [i for i in range(len(text)) if any(text.startswith(p, i) for p in patterns)]
    assert (found.start() if found else None) == (naive[0] if naive else None)
