"""The sub_filter matcher (filters/sub.py SubMatcher), sans-IO: for any split of the body it
gives what a plain reading of nginx's rules (reference/subrequests.md §9.3) gives over the
whole body, and the checked-on-nginx examples."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from filters.sub import SubMatcher
from parsers.multi import reference_replace as reference


def run(body: bytes, patterns: list[bytes], repl: list[bytes], once: bool,
        cuts: list[int]) -> bytes:
    m = SubMatcher(patterns, lambda k: repl[k], once)
    bounds = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    out = [m.feed(body[a:b]) for a, b in zip(bounds, bounds[1:])]
    out.append(m.feed(b"", last=True))
    out.append(m.finish())
    return b"".join(out)


_pat = st.binary(min_size=1, max_size=4).map(lambda b: bytes(c % 3 + 97 for c in b)) | \
    st.sampled_from([b"A", b"Ab", b"\xe9a"])


@given(body=st.binary(max_size=60).map(lambda b: bytes(b"abcAB\xe9"[c % 6] for c in b)),
       patterns=st.lists(_pat, min_size=1, max_size=4),
       once=st.booleans(), cuts=st.lists(st.integers(0, 100), max_size=6))
def test_any_split_equals_the_reference(body: bytes, patterns: list[bytes], once: bool,
                                        cuts: list[int]) -> None:
    repl = [b"<%d>" % i for i in range(len(patterns))]
    assert run(body, patterns, repl, once, cuts) == reference(body, patterns, repl, once)


def test_examples_checked_on_nginx() -> None:
    assert run(b"abcab b abc", [b"ab", b"abc", b"b"], [b"X", b"Y", b"Z"], False, []) == \
        b"XcX Z Xc"
    assert run(b"aaaaa", [b"aa"], [b"X"], False, []) == b"XXa"
    assert run(b"Hello World, hello world.", [b"Hello", b"World"], [b"HI", b"x"], True,
               [3, 9]) == b"HI x, hello world."


@given(body=st.binary(max_size=40).map(lambda b: bytes(b"abAB"[c % 4] for c in b)),
       cuts=st.lists(st.integers(0, 50), max_size=6))
def test_single_pattern_all_is_replace(body: bytes, cuts: list[int]) -> None:
    # one pattern, once off: bytes.replace over the case-folded text
    got = run(body, [b"ab"], [b"-"], False, cuts)
    assert got.lower() == body.lower().replace(b"ab", b"-")


def test_holds_back_less_than_the_longest_pattern() -> None:
    m = SubMatcher([b"abcdef"], lambda k: b"X", False)
    assert m.feed(b"xxxxabcde") == b"xxxx"
    assert m.pending == b"abcde"
    assert m.feed(b"f!") == b"X!"
