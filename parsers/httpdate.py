"""HTTP dates, as nginx's ``ngx_parse_http_time`` reads them (If-Range, If-Modified-Since).

Three forms are accepted, exactly as loosely as nginx does::

    Sun, 06 Nov 1994 08:49:37 GMT     IMF-fixdate (RFC 822/1123)
    Sunday, 06-Nov-94 08:49:37 GMT    RFC 850 (two-digit year: < 70 is 20xx, else 19xx)
    Sun Nov  6 08:49:37 1994          asctime

nginx's quirks, kept on purpose:

* the form is chosen by whichever of ``,`` and space comes first; what precedes it (the
  weekday) is never checked;
* spaces after the ``,`` (or the first space) are skipped;
* a month is recognised by its first letter plus at most two peeks (``Jxn`` is June, ``Sxx``
  September); the day of week is not checked against the date;
* after the seconds (after the year for asctime) anything may follow: ``GMT`` is not checked;
* in asctime, any one byte follows the month, then an optional space, then 1-2 day digits;
* day 00 is accepted (it means the last day of the previous month); Feb 29 only in leap
  years; hour <= 23, minute and second <= 59;
* arithmetic is nginx's unsigned 64-bit Gauss formula, so years before 1970 give negative
  times, and a result of exactly -1 is nginx's NGX_ERROR, i.e. None.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ._compile import compile_machine
from ._dsl import Action, Expr, any_but, any_byte, byte_in, byte_range, cat, lit, opt, star
from ._runner import Machine, ParseError, Scanner

__all__ = ["parse_http_date", "format_http_date", "HTTPDATE_MACHINE"]

_MDAY = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_U64 = 1 << 64


@dataclass
class _Ctx:
    num: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    month: bytearray = field(default_factory=bytearray)
    rfc850: bool = False


def _reset(ctx: _Ctx, c: int, off: int) -> None:
    ctx.num = 0


def _digit(ctx: _Ctx, c: int, off: int) -> None:
    ctx.num = ctx.num * 10 + c - 48


def _month_byte(ctx: _Ctx, c: int, off: int) -> None:
    ctx.month.append(c)


def _rfc850(ctx: _Ctx, c: int, off: int) -> None:
    ctx.rfc850 = True


_RESET = Action(name="reset", fn=_reset)
_DIGIT = Action(name="digit", fn=_digit)


def _number(name: str, lo: int, hi: int) -> Expr:
    """``lo`` to ``hi`` digits stored in ``fields[name]`` (stored again after each digit)."""
    def store(ctx: _Ctx, c: int, off: int) -> None:
        ctx.fields[name] = ctx.num

    d = byte_range("0", "9")
    digits = cat(*[d] * lo, *[opt(d)] * (hi - lo))
    return digits.enter(_RESET).all(_DIGIT).final(Action(name=f"store_{name}", fn=store)) \
        .named(name)


def _grammar() -> Machine:
    sp = lit(" ")
    month = cat(byte_in("JFMASOND"), any_byte(), any_byte()) \
        .all(Action(name="month", fn=_month_byte)).named("month")
    clock = cat(_number("hour", 2, 2), lit(":"), _number("min", 2, 2), lit(":"),
                _number("sec", 2, 2))
    rfc822 = cat(sp, month, sp, _number("year", 4, 4))
    rfc850 = cat(lit("-").enter(Action(name="rfc850", fn=_rfc850)), month, lit("-"),
                 _number("year", 2, 2))
    comma_forms = cat(lit(","), star(sp), _number("day", 2, 2), rfc822 | rfc850, sp, clock)
    asctime = cat(sp, star(sp), month, any_byte(), opt(sp), _number("day", 1, 2), sp, clock,
                  sp, _number("year", 4, 4))
    weekday = star(any_but(", ")).named("weekday")
    return compile_machine(cat(weekday, comma_forms | asctime, star(any_byte())),
                           name="http-date")


HTTPDATE_MACHINE = _grammar()


def _month_number(m: bytes) -> int:
    first = m[0:1]
    if first == b"J":
        return 0 if m[1:2] == b"a" else 5 if m[2:3] == b"n" else 6
    if first == b"M":
        return 2 if m[2:3] == b"r" else 4
    if first == b"A":
        return 3 if m[1:2] == b"p" else 7
    return {b"F": 1, b"S": 8, b"O": 9, b"N": 10, b"D": 11}[first]


def parse_http_date(value: bytes) -> int | None:
    """Seconds since the epoch for an HTTP date, or None where nginx returns NGX_ERROR."""
    ctx = _Ctx()
    scanner = Scanner(HTTPDATE_MACHINE, ctx)
    try:
        scanner.feed(value)
        scanner.finish()
    except ParseError:
        return None
    f = ctx.fields
    day, year = f["day"], f["year"]
    if ctx.rfc850:
        year += 2000 if year < 70 else 1900
    month = _month_number(bytes(ctx.month))
    if f["hour"] > 23 or f["min"] > 59 or f["sec"] > 59:
        return None
    if day == 29 and month == 1:
        if (year & 3) or (year % 100 == 0 and year % 400 != 0):
            return None
    elif day > _MDAY[month]:
        return None
    # Gauss' formula, new year shifted to March 1, months from 1 (ngx_parse_http_time);
    # year and day are unsigned there, so wrap as C does.
    month -= 1
    if month <= 0:
        month += 12
        year = (year - 1) % _U64
    days = (365 * year + year // 4 - year // 100 + year // 400 + 367 * month // 12 - 30
            + day - 1 - 719527 + 31 + 28) % _U64
    t = (days * 86400 + f["hour"] * 3600 + f["min"] * 60 + f["sec"]) % _U64
    if t >= 1 << 63:
        t -= _U64
    return None if t == -1 else t


def format_http_date(ts: int) -> bytes:
    """IMF-fixdate for ``ts`` (what nginx writes in Date and Last-Modified)."""
    t = time.gmtime(ts)
    return (f"{_WDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT").encode("ascii")


_WDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
