"""parsers/httpdate.py: HTTP dates as ngx_parse_http_time reads them."""

from __future__ import annotations

import calendar
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import ParseError, Scanner
from parsers.httpdate import HTTPDATE_MACHINE, _Ctx, format_http_date, parse_http_date

SUNDAY = 784111777  # 1994-11-06 08:49:37 UTC
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@pytest.mark.parametrize("value", [
    b"Sun, 06 Nov 1994 08:49:37 GMT",
    b"Sunday, 06-Nov-94 08:49:37 GMT",
    b"Sun Nov  6 08:49:37 1994",
    b"Sun Nov 06 08:49:37 1994",
    b"Sun,   06 Nov 1994 08:49:37 GMT",   # spaces after the comma are skipped
    b"Xyz, 06 Nov 1994 08:49:37 GMT",     # the weekday is not checked
    b"Sun, 06 Nov 1994 08:49:37 PST",     # nor is the zone
    b"Sun, 06 Nov 1994 08:49:37",         # nor even present
    b", 06 Nov 1994 08:49:37 GMT",
    b"Sun Nov:6 08:49:37 1994",           # asctime: any one byte after the month
])
def test_the_three_forms(value: bytes) -> None:
    assert parse_http_date(value) == SUNDAY


@pytest.mark.parametrize("value", [
    b"", b"garbage", b"Sun 06 Nov 1994 08:49:37 GMT",   # space first: asctime, wrong
    b"Sun, 6 Nov 1994 08:49:37 GMT",                    # day needs two digits
    b"Sun, 06 Nov 94 08:49:37 GMT",
    b"Sun, 06-Nov-1994 08:49:37 GMT",
    b"Sun, 06 Xov 1994 08:49:37 GMT",
    b"Sun, 06 Nov 1994 24:00:00 GMT", b"Sun, 06 Nov 1994 23:60:00 GMT",
    b"Sun, 06 Nov 1994 23:59:60 GMT",
    b"Sun, 31 Nov 1994 08:49:37 GMT", b"Thu, 29 Feb 2023 00:00:00 GMT",
    b"Thu, 29 Feb 1900 00:00:00 GMT",
    b"Wed, 31 Dec 1969 23:59:59 GMT",                   # -1 is NGX_ERROR
    b"Sun, 06 Nov 1994 08:49",
])
def test_rejected(value: bytes) -> None:
    assert parse_http_date(value) is None


def test_quirks() -> None:
    assert parse_http_date(b"Thu, 29 Feb 2024 00:00:00 GMT") == 1709164800
    assert parse_http_date(b"Thu, 29 Feb 2000 00:00:00 GMT") == 951782400
    # Day 00 is the last day of the previous month.
    assert parse_http_date(b"x, 00 Mar 2020 00:00:00") == calendar.timegm((2020, 2, 29, 0, 0, 0))
    # Loose month names: Jxx other than Jan/Jun is July, Mxy without r is May.
    assert parse_http_date(b"x, 01 Jzz 2020 00:00:00") == calendar.timegm((2020, 7, 1, 0, 0, 0))
    assert parse_http_date(b"x, 01 Mzz 2020 00:00:00") == calendar.timegm((2020, 5, 1, 0, 0, 0))
    # Two-digit years: < 70 is 20xx.
    assert parse_http_date(b"x, 01-Jan-69 00:00:00") == calendar.timegm((2069, 1, 1, 0, 0, 0))
    assert parse_http_date(b"x, 01-Jan-70 00:00:00") == 0
    assert parse_http_date(b"Wed, 31 Dec 1969 23:59:58 GMT") == -2


@settings(max_examples=300, deadline=None)
@given(ts=st.integers(0, 253402300799))
def test_round_trips_with_stdlib(ts: int) -> None:
    t = time.gmtime(ts)
    assert parse_http_date(format_http_date(ts)) == ts
    asctime = time.strftime("%a %b %e %H:%M:%S %Y", t).encode()
    assert parse_http_date(asctime) == ts
    if 1970 <= t.tm_year < 2070:
        rfc850 = (f"{DAYS[t.tm_wday]}, {t.tm_mday:02d}-{MONTHS[t.tm_mon - 1]}-"
                  f"{t.tm_year % 100:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
        assert parse_http_date(rfc850.encode()) == ts


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=40))
def test_garbage_gives_int_or_none(value: bytes) -> None:
    got = parse_http_date(value)
    assert got is None or isinstance(got, int)


@settings(max_examples=100, deadline=None)
@given(ts=st.integers(0, 2**33), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_machine_is_split_invariant(ts: int, cuts: list[int]) -> None:
    value = format_http_date(ts)
    points = sorted({min(c, len(value)) for c in cuts} | {0, len(value)})
    whole, split = Scanner(HTTPDATE_MACHINE, _Ctx()), Scanner(HTTPDATE_MACHINE, _Ctx())
    whole.feed(value)
    for a, b in zip(points, points[1:]):
        split.feed(value[a:b])
    whole.finish()
    split.finish()
    assert whole.state == split.state
    assert whole.ctx.fields == split.ctx.fields


def test_parse_error_names_the_field() -> None:
    scanner = Scanner(HTTPDATE_MACHINE, _Ctx())
    with pytest.raises(ParseError) as info:
        scanner.feed(b"Sun, 06 Nov 1994 0x")
    assert info.value.offset == 18 and "hour" in info.value.state
