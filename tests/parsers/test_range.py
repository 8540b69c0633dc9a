"""parsers/range.py: the Range header grammar and nginx's verdicts (range.md §2, §3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.httpdate import format_http_date
from parsers.range import (RangeParser, RangeSpec, RangeVerdict, if_range_matches, parse_range,
                           parse_range_specs)

NS, IGNORE = RangeVerdict.NOT_SATISFIABLE, RangeVerdict.IGNORE
MAX = (1 << 63) - 1


def reference(header: bytes, size: int, max_ranges: int | None) -> object:
    """ngx_http_range_parse transliterated byte by byte (independent of the DFA).

    Not valid for values containing NUL (nginx stops there; trinx calls it garbage)."""
    if max_ranges == 0 or len(header) < 7 or header[:6].lower() != b"bytes=":
        return IGNORE
    h = header + b"\0"  # nginx reads a NUL-terminated value
    p = 6
    ranges: list[tuple[int, int]] = []
    total, budget = 0, max_ranges
    while True:
        start = end = 0
        suffix = False
        while h[p] == 0x20:
            p += 1
        if h[p] != 0x2D:
            if not 0x30 <= h[p] <= 0x39:
                return NS
            while 0x30 <= h[p] <= 0x39:
                start = start * 10 + h[p] - 0x30
                if start > MAX:
                    return NS
                p += 1
            while h[p] == 0x20:
                p += 1
            if h[p] != 0x2D:
                return NS
            p += 1
            while h[p] == 0x20:
                p += 1
            if h[p] in (0x2C, 0):
                end = size
                found = True
            else:
                found = False
        else:
            suffix, found = True, False
            p += 1
        if not found:
            if not 0x30 <= h[p] <= 0x39:
                return NS
            while 0x30 <= h[p] <= 0x39:
                end = end * 10 + h[p] - 0x30
                if end > MAX:
                    return NS
                p += 1
            while h[p] == 0x20:
                p += 1
            if h[p] not in (0x2C, 0):
                return NS
            if suffix:
                start = size - end if end < size else 0
                end = size - 1
            end = size if end >= size else end + 1
        if start < end:
            ranges.append((start, end))
            if total > MAX - (end - start):
                return NS
            total += end - start
            if budget is not None:
                if budget == 0:
                    return IGNORE
                budget -= 1
        elif start == 0:
            return IGNORE
        c = h[p]
        p += 1
        if c != 0x2C:
            break
    if not ranges:
        return NS
    if total > size:
        return IGNORE
    return ranges


# range.md §2 worked examples, on the 20-byte file.
@pytest.mark.parametrize("header, want", [
    (b"bytes=0-4", [(0, 5)]),
    (b"bytes=-3", [(17, 20)]),
    (b"bytes=15-", [(15, 20)]),
    (b"bytes=15-100", [(15, 20)]),
    (b"bytes=-25", [(0, 20)]),
    (b"bytes=20-", NS),
    (b"bytes=5-3", NS),
    (b"bytes=-0", NS),
    (b"bytes=abc", NS),
    (b"bytes=5-3,0-1", [(0, 2)]),
    (b"bytes=0-0,25-30", [(0, 1)]),
    (b"bytes=25-30,40-50", NS),
    (b"bytes=0-4,3-8", [(0, 5), (3, 9)]),
    (b"bytes=1-1,0-0", [(1, 2), (0, 1)]),
    (b"bytes=0-19,0-19", IGNORE),
    (b"BYTES=0-1", [(0, 2)]),
    (b"bytes =0-1", IGNORE),
    (b"items=0-1", IGNORE),
    (b"bytes= 0 - 4 , 6-7", [(0, 5), (6, 8)]),
    (b"bytes=0-1,", NS),
    (b"bytes=,0-1", NS),
    (b"bytes=0-1;x", NS),
    (b"bytes=0-\t1", NS),
    (b"bytes=- 3", NS),             # no space between "-" and a suffix
    (b"bytes=", IGNORE),            # shorter than 7 bytes
    (b"bytes=9223372036854775807-", NS),   # fits, but past the end
    (b"bytes=9223372036854775808-", NS),   # overflows off_t
    (b"bytes=0-9223372036854775808", NS),
])
def test_parse_range_examples(header: bytes, want: object) -> None:
    assert parse_range(header, 20, None) == want
    assert reference(header, 20, None) == want


@pytest.mark.parametrize("header, want", [
    (b"bytes=0-", IGNORE), (b"bytes=0-5", IGNORE), (b"bytes=-5", IGNORE),
    (b"bytes=5-", NS),        # start 5 > 0: dropped, nothing left
    (b"bytes=0-1,", IGNORE),  # declined before the syntax error is reached
])
def test_empty_file(header: bytes, want: object) -> None:
    assert parse_range(header, 0, None) == want


def test_max_ranges() -> None:
    assert parse_range(b"bytes=0-1,3-4", 20, 1) == IGNORE
    assert parse_range(b"bytes=0-1", 20, 1) == [(0, 2)]
    assert parse_range(b"bytes=0-1,30-40", 20, 1) == [(0, 2)]  # counts kept ranges only
    assert parse_range(b"bytes=0-1,3-4,x", 20, 1) == IGNORE     # declined before the error
    assert parse_range(b"bytes=0-1", 20, 0) == IGNORE


def test_total_size_overflow_is_416() -> None:
    size = MAX
    header = b"bytes=" + b",".join([b"0-"] * 3)
    assert parse_range(header, size, None) == NS


def test_specs_and_validity() -> None:
    assert parse_range_specs(b"bytes=1-2, 5-,-7") == parse_range_specs(b"bytes=1-2,5-,-7")
    got = parse_range_specs(b"bytes=1-2, 5-,-7")
    assert got is not None and got.valid
    assert got.specs == (RangeSpec(first=1, last=2), RangeSpec(first=5), RangeSpec(suffix=7))
    bad = parse_range_specs(b"bytes=1-2,5-x")
    assert bad is not None and not bad.valid and bad.specs == (RangeSpec(first=1, last=2),)
    assert parse_range_specs(b"bits=1-2") is None


HEADER_PARTS = st.sampled_from([b"bytes=", b"BYTES=", b"0", b"1", b"5", b"19", b"20", b"100",
                                b"-", b",", b" ", b"\t", b";", b"x", b"=",
                                b"9223372036854775807", b"99999999999999999999"])


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(HEADER_PARTS, max_size=12), size=st.integers(0, 40),
       max_ranges=st.one_of(st.none(), st.integers(0, 3)))
def test_matches_reference_implementation(parts: list[bytes], size: int,
                                          max_ranges: int | None) -> None:
    header = b"bytes=" + b"".join(parts)
    assert parse_range(header, size, max_ranges) == reference(header, size, max_ranges)


@settings(max_examples=300, deadline=None)
@given(header=st.binary(max_size=30), size=st.integers(0, 1000))
def test_garbage_never_raises(header: bytes, size: int) -> None:
    got = parse_range(header, size, None)
    assert isinstance(got, RangeVerdict) or all(0 <= a < b <= size for a, b in got)
    if b"\0" not in header:
        assert got == reference(header, size, None)


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(HEADER_PARTS, max_size=10), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_incremental_parse_is_split_invariant(parts: list[bytes], cuts: list[int]) -> None:
    header = b"bytes=" + b"".join(parts)
    points = sorted({min(c, len(header)) for c in cuts} | {0, len(header)})
    parser = RangeParser()
    for a, b in zip(points, points[1:]):
        parser.feed(header[a:b])
    assert parser.finish() == parse_range_specs(header)


def test_if_range() -> None:
    etag, lm = b'"65937d25-14"', 1704164645
    assert if_range_matches(b'"65937d25-14"', etag, lm)
    assert not if_range_matches(b'"65937d25-15"', etag, lm)
    assert not if_range_matches(b'W/"65937d25-14"', etag, lm)
    assert not if_range_matches(b'"65937d25-14"', None, lm)        # etag off
    assert if_range_matches(b"Tue, 02 Jan 2024 03:04:05 GMT", etag, lm)
    assert not if_range_matches(format_http_date(lm + 1), etag, lm)
    assert not if_range_matches(b"garbage", etag, lm)
    assert not if_range_matches(b"Tue, 02 Jan 2024 03:04:05 GMT", etag, None)
