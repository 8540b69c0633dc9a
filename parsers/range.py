"""The HTTP ``Range`` request header, as nginx 1.22 reads it (range.md §2, §3).

nginx's ``ngx_http_range_parse`` both scans the header and decides, spec by spec, what to do
with each range; that interleaving is observable (a spec can decline the whole header before a
later syntax error would have made it a 416).  Here the two halves are split:

* :class:`RangeParser` is the sans-IO grammar: it turns ``bytes=0-4, -3`` into
  :class:`RangeSpec` values, incrementally, and records whether the whole value was valid;
* :func:`parse_range` replays nginx's decisions over that list against a file size, in the
  same order as nginx, so the verdicts come out identical.

Grammar (``SP`` is the space byte only; tabs and everything else are errors)::

    value := "bytes="(any case) list
    list  := spec ( "," spec )*
    spec  := SP* first SP* "-" SP* [ last SP* ]
           | SP* "-" suffix SP*          ; no space between "-" and the digits
    first, last, suffix := 1*DIGIT       ; each at most 2**63 - 1

A NUL byte is garbage here; nginx would stop at it (C string), but h11 never delivers one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ._dsl import Action, Expr, byte_range, cat, lit, lit_ci, opt, plus, star
from ._compile import compile_machine
from ._runner import Machine, ParseError, Scanner
from .httpdate import parse_http_date

__all__ = ["RangeSpec", "RangeSpecs", "RangeVerdict", "RangeParser", "RANGE_MACHINE",
           "parse_range_specs", "parse_range", "if_range_matches"]

OFF_T_MAX = (1 << 63) - 1  # NGX_MAX_OFF_T_VALUE


@dataclass(frozen=True, kw_only=True)
class RangeSpec:
    """One element of the list.  ``first-last``, ``first-`` (last None) or ``-suffix``."""

    first: int | None = None
    last: int | None = None
    suffix: int | None = None


@dataclass(frozen=True, kw_only=True)
class RangeSpecs:
    """What the grammar found.

    ``specs`` holds every spec that was complete (followed by ``,`` or the end) before the
    first syntax error; ``valid`` says whether the whole value parsed.
    """

    specs: tuple[RangeSpec, ...]
    valid: bool


class RangeVerdict(enum.Enum):
    """The outcomes of :func:`parse_range` that are not a list of ranges."""

    #: 416, with ``Content-Range: bytes */<size>``.
    NOT_SATISFIABLE = "not satisfiable"
    #: Serve the full 200 (with ``Accept-Ranges: bytes`` unless max_ranges is 0).
    IGNORE = "ignore"


@dataclass
class _Ctx:
    prefix_ok: bool = False
    num: int = 0
    first: int | None = None
    last: int | None = None
    suffix: int | None = None
    specs: list[RangeSpec] = field(default_factory=list)


def _num_start(ctx: _Ctx, c: int, off: int) -> None:
    ctx.num = 0


def _num_digit(ctx: _Ctx, c: int, off: int) -> None:
    ctx.num = ctx.num * 10 + c - 48
    if ctx.num > OFF_T_MAX:
        raise ParseError(off, "range.number", c, "range")


def _set(attr: str) -> Action:
    def fn(ctx: _Ctx, c: int, off: int) -> None:
        setattr(ctx, attr, ctx.num)
    return Action(name=f"set_{attr}", fn=fn)


def _spec_start(ctx: _Ctx, c: int, off: int) -> None:
    ctx.first = ctx.last = ctx.suffix = None


def _spec_done(ctx: _Ctx, c: int, off: int) -> None:
    ctx.specs.append(RangeSpec(first=ctx.first, last=ctx.last, suffix=ctx.suffix))


def _prefix_ok(ctx: _Ctx, c: int, off: int) -> None:
    ctx.prefix_ok = True


def _grammar() -> Machine:
    sp = star(lit(" "))

    def num(attr: str) -> Expr:
        digits = plus(byte_range("0", "9"))
        return digits.enter(Action(name="num_start", fn=_num_start)) \
                     .all(Action(name="num_digit", fn=_num_digit)).leave(_set(attr))

    first_form = cat(sp, num("first"), sp, lit("-"), sp, opt(cat(num("last"), sp)))
    suffix_form = cat(sp, lit("-"), num("suffix"), sp)
    spec = (first_form | suffix_form).named("spec") \
        .enter(Action(name="spec_start", fn=_spec_start)) \
        .leave(Action(name="spec_done", fn=_spec_done))
    prefix = lit_ci("bytes=").final(Action(name="prefix_ok", fn=_prefix_ok)).named("unit")
    return compile_machine(cat(prefix, spec, star(cat(lit(","), spec))), name="range")


RANGE_MACHINE = _grammar()


class RangeParser:
    """Incremental parser for one ``Range`` value: ``feed`` chunks, then ``finish``."""

    def __init__(self) -> None:
        self._ctx = _Ctx()
        self._scanner = Scanner(RANGE_MACHINE, self._ctx)
        self._failed = False

    def feed(self, chunk: bytes) -> None:
        """Scan more of the value.  Never raises; a syntax error is reported by ``finish``."""
        if self._failed:
            return
        try:
            self._scanner.feed(chunk)
        except ParseError:
            self._failed = True

    def finish(self) -> RangeSpecs | None:
        """End of the value.

        Returns:
            None if nginx ignores the header (shorter than 7 bytes, or no ``bytes=``),
            otherwise the specs found and whether the value was valid.
        """
        if self._scanner.offset < 7:
            return None
        if not self._failed:
            try:
                self._scanner.finish()
            except ParseError:
                self._failed = True
        if not self._ctx.prefix_ok:
            return None
        return RangeSpecs(specs=tuple(self._ctx.specs), valid=not self._failed)


def parse_range_specs(value: bytes) -> RangeSpecs | None:
    """Parse a whole ``Range`` value (see :meth:`RangeParser.finish`)."""
    parser = RangeParser()
    parser.feed(value)
    return parser.finish()


def parse_range(header: bytes, size: int,
                max_ranges: int | None = None) -> list[tuple[int, int]] | RangeVerdict:
    """Decide a ``Range`` request against a representation of ``size`` bytes, as nginx does.

    Args:
        header: the (first) ``Range`` header value.
        size: the response's Content-Length.
        max_ranges: nginx's ``max_ranges`` (None: unlimited).  0 means range support is off;
            the caller must then also omit ``Accept-Ranges``.

    Returns:
        The kept ranges as half-open ``(start, end)`` byte offsets, in request order (not
        sorted, not merged; one element means a single-part 206), or
        ``RangeVerdict.NOT_SATISFIABLE`` (416) or ``RangeVerdict.IGNORE`` (full 200).
    """
    if max_ranges == 0:
        return RangeVerdict.IGNORE
    parsed = parse_range_specs(header)
    if parsed is None:
        return RangeVerdict.IGNORE
    ranges: list[tuple[int, int]] = []
    total = 0
    budget = max_ranges
    # Same order of checks as ngx_http_range_parse, spec by spec.
    for spec in parsed.specs:
        start, end = _resolve(spec, size)
        if start < end:
            ranges.append((start, end))
            if total > OFF_T_MAX - (end - start):
                return RangeVerdict.NOT_SATISFIABLE
            total += end - start
            if budget is not None:
                if budget == 0:
                    return RangeVerdict.IGNORE
                budget -= 1
        elif start == 0:
            return RangeVerdict.IGNORE
    if not parsed.valid or not ranges:
        return RangeVerdict.NOT_SATISFIABLE
    if total > size:
        return RangeVerdict.IGNORE
    return ranges


def _resolve(spec: RangeSpec, size: int) -> tuple[int, int]:
    if spec.suffix is not None:
        start = size - spec.suffix if spec.suffix < size else 0
        end = size - 1
    else:
        assert spec.first is not None
        start = spec.first
        if spec.last is None:
            return start, size
        end = spec.last
    return start, (size if end >= size else end + 1)


def if_range_matches(value: bytes, etag: bytes | None, last_modified: int | None) -> bool:
    """Whether an ``If-Range`` value lets the ranges through (range.md §3).

    An entity-tag (ends with ``"``, at least 2 bytes) must equal ``etag`` byte for byte;
    anything else is parsed as an HTTP date and must equal ``last_modified`` exactly.
    """
    if len(value) >= 2 and value.endswith(b'"'):
        return etag is not None and value == etag
    if last_modified is None:
        return False
    return parse_http_date(value) == last_modified
