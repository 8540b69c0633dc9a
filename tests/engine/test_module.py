"""engine/module.py value parsers and argument rules.

Validity of every value below was checked with Debian's nginx 1.22 (``send_timeout "V";`` and
``client_header_buffer_size "V";`` through ``nginx -t``); the numbers are nginx's units
(milliseconds for a time, bytes for a size).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.module import Args, inherit, UNSET, parse_size, parse_time

TIMES: list[tuple[str, int | None]] = [
    ("30", 30_000), ("30s", 30_000), ("1h30m", 5_400_000), ("1h 30m", 5_400_000),
    ("1h30", 3_630_000), ("500ms", 500), ("1s500ms", 1_500), ("1d", 86_400_000),
    ("1w", 604_800_000), ("0", 0), ("1m 1", 61_000), ("1h ", 3_600_000), ("1m1ms", 60_001),
    ("01", 1_000),
    ("30m1h", None), ("", None), ("s", None), ("1x", None), ("1hh", None), ("1ms1s", None),
    ("1 h", None), ("ms", None), ("1mss", None), ("1S", None),
]
TIMES_NGINX_REJECTS_BUT_TRINX_ACCEPTS = ["1M", "1y", " 1h", "1y1M1w1d1h1m1s1ms"]

SIZES: list[tuple[str, int | None]] = [
    ("1", 1), ("1k", 1024), ("1K", 1024), ("1m", 1 << 20), ("1M", 1 << 20), ("0", 0),
    ("1g", None), ("", None), ("k", None), ("1.5k", None), ("-1", None), ("10 ", None),
    ("1kb", None), (" 1", None), ("1 k", None),
]


@pytest.mark.parametrize("value, expected", TIMES, ids=[repr(v) for v, _ in TIMES])
def test_parse_time(value: str, expected: int | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", TIMES_NGINX_REJECTS_BUT_TRINX_ACCEPTS)
# (years and months are refused for millisecond slots only: see test_parse_time_in_seconds)
def test_parse_time_rejects_like_nginx(value: str) -> None:
    assert parse_time(value) is None


def test_parse_time_in_seconds_takes_years_and_months() -> None:
    # nginx: `expires 1y` and `expires modified 100000d` are fine in a seconds slot
    assert parse_time("1y", is_sec=True) == 365 * 86_400_000
    assert parse_time("1M", is_sec=True) == 30 * 86_400_000
    assert parse_time("100000d", is_sec=True) == 100000 * 86_400_000


@pytest.mark.parametrize("value, expected", SIZES, ids=[repr(v) for v, _ in SIZES])
def test_parse_size(value: str, expected: int | None) -> None:
    assert parse_size(value) == expected


def test_parse_offset_takes_g() -> None:
    assert parse_size("2g", allow_g=True) == 2 << 30
    assert parse_size("2G", allow_g=True) == 2 << 30
    assert parse_size("2k", allow_g=True) == 2048


_UNITS = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]


@given(st.lists(st.integers(0, 99), min_size=len(_UNITS), max_size=len(_UNITS)),
       st.lists(st.booleans(), min_size=len(_UNITS), max_size=len(_UNITS)),
       st.sampled_from(["", " "]))
def test_parse_time_sums_units_in_order(counts: list[int], used: list[bool], sep: str) -> None:
    parts = [(n, u, ms) for n, (u, ms), on in zip(counts, _UNITS, used) if on]
    if not parts:
        return
    text = sep.join(f"{n}{u}" for n, u, _ in parts)
    assert parse_time(text) == sum(n * ms for n, _, ms in parts)
    if len(parts) > 1:  # any other order is an error
        assert parse_time(sep.join(f"{n}{u}" for n, u, _ in reversed(parts))) is None


@given(st.integers(0, 10**6), st.sampled_from(["", "k", "K", "m", "M"]))
def test_parse_size_property(n: int, unit: str) -> None:
    mult = {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}[unit]
    assert parse_size(f"{n}{unit}") == n * mult


@pytest.mark.parametrize("rule, accepted", [
    (Args.NOARGS, {0}), (Args.TAKE1, {1}), (Args.TAKE2, {2}), (Args.TAKE12, {1, 2}),
    (Args.TAKE13, {1, 3}), (Args.TAKE23, {2, 3}), (Args.TAKE123, {1, 2, 3}),
    (Args.TAKE1234, {1, 2, 3, 4}), (Args.FLAG, {1}),
    (Args.ONE_MORE, set(range(1, 12))), (Args.TWO_MORE, set(range(2, 12))),
    (Args.ANY, set(range(0, 12))),
])
def test_args_accepts(rule: Args, accepted: set[int]) -> None:
    assert {n for n in range(12) if rule.accepts(n)} == accepted


def test_inherit() -> None:
    assert inherit(UNSET, UNSET, 5) == 5
    assert inherit(UNSET, 3, 5) == 3
    assert inherit(1, 3, 5) == 1
    assert inherit(False, True, True) is False
