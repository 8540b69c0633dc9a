"""The expression language for regular machines, in the style of Ragel.

A grammar is a tree of immutable :class:`Expr` nodes.  Nothing here runs: the tree is handed
to :func:`parsers.compile_machine`, which turns it into flat DFA tables once, at import or
configuration time.

Building blocks (Ragel's spelling in brackets):

* byte sets: :func:`lit` (``'abc'``), :func:`lit_ci` (``'abc'i``), :func:`byte_in` (``[abc]``),
  :func:`byte_range` (``'a'..'z'``), :func:`any_byte` (``any``), :func:`any_but` (``[^abc]``);
* composition: :func:`cat` or ``a + b`` (``a . b``), :func:`alt` or ``a | b``, :func:`star`,
  :func:`plus`, :func:`opt`, :func:`repeat` (``a{n,m}``), :func:`diff` or ``a - b``;
* actions, as methods: ``m.enter(act)`` (``>``), ``m.all(act)`` (``$``), ``m.leave(act)``
  (``%``), ``m.final(act)`` (``@``), and error actions ``m.err(act, where)`` (``$!``, ``>!``,
  ``<!``, ``@!``);
* ``m.named("x")`` gives the states built for ``m`` a name for error messages.

Action semantics follow Ragel:

* entering (``>``): on the first byte consumed by the machine.  If the machine accepts the
  empty string the action also becomes pending on leaving, like a leaving action.
* all (``$``): on every byte transition inside the machine.
* leaving (``%``): pending on the machine's final states; it runs on the next byte consumed
  after the machine (the byte that leaves it), or at end of input (``finish``) if that final
  state is final for the whole grammar.
* final (``@``): on every byte transition that enters a final state of the machine.
* error (``err``): on a byte that has no transition from a state of the machine.  ``where``
  picks the states, as Ragel's variants do: ``"all"``, ``"start"``, ``"middle"`` (neither
  start nor final) or ``"final"``.

Actions that land on the same transition run in embedding order: the order in which a
depth-first, left-to-right walk of the expression meets them, inner embeddings first (Ragel's
timestamps).  One :class:`Action` object runs at most once per transition, even when several
paths of a union bring it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

__all__ = [
    "Action", "ByteFn", "SpanFn", "ErrWhere", "Expr", "ByteSet", "Seq", "Cat", "Alt", "Star",
    "Plus", "Diff", "Embed", "ErrEmbed", "Named",
    "lit", "lit_ci", "byte_in", "byte_range", "any_byte", "any_but", "empty",
    "cat", "alt", "star", "plus", "opt", "repeat", "diff",
]

# An action is called as fn(ctx, byte, offset).  ``offset`` is the absolute stream offset of
# the byte (for pending leaving actions: of the byte after the machine; at end of input: the
# stream length, with byte == -1).  A non-None return value is a state number to jump to
# after this byte, Ragel's ``fgoto``, or a (state, offset) pair that also resumes the input
# at absolute ``offset`` within the current chunk, Ragel's ``fexec`` (see Machine.run).
ByteFn = Callable[[Any, int, int], "int | tuple[int, int] | None"]
# A span form runs an action over a run of n self-loop bytes starting at ``offset`` in one
# call and returns how many of them it accepted (0..n).  It must behave exactly like calling
# the byte form n times; on a short count the runner steps the next byte with the byte form,
# which is where such an action reports a limit (by jumping to an error state).
SpanFn = Callable[[Any, int, int], int]
ErrWhere = Literal["all", "start", "middle", "final"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Action:
    """A named callback embedded in a machine.

    Compared by identity: the same object embedded twice is one action.
    """

    name: str
    fn: ByteFn
    span: SpanFn | None = None

    def __repr__(self) -> str:
        return f"Action({self.name})"


class Expr:
    """Base class of all expression nodes; carries the operator sugar."""

    def __add__(self, other: Expr) -> Expr:
        return cat(self, other)

    def __or__(self, other: Expr) -> Expr:
        return alt(self, other)

    def __sub__(self, other: Expr) -> Expr:
        return diff(self, other)

    def enter(self, action: Action) -> Expr:
        """Ragel ``>``: run ``action`` on the machine's first byte."""
        return Embed(kind="enter", expr=self, action=action)

    def all(self, action: Action) -> Expr:
        """Ragel ``$``: run ``action`` on every byte of the machine."""
        return Embed(kind="all", expr=self, action=action)

    def leave(self, action: Action) -> Expr:
        """Ragel ``%``: run ``action`` when leaving a final state, or at EOF there."""
        return Embed(kind="leave", expr=self, action=action)

    def final(self, action: Action) -> Expr:
        """Ragel ``@``: run ``action`` on transitions into a final state."""
        return Embed(kind="final", expr=self, action=action)

    def err(self, action: Action, where: ErrWhere = "all") -> Expr:
        """Ragel ``$!``/``>!``/``<!``/``@!``: run ``action`` on a byte with no transition."""
        return ErrEmbed(where=where, expr=self, action=action)

    def named(self, name: str) -> Expr:
        """Name the states of this machine, for :class:`ParseError` messages."""
        return Named(name=name, expr=self)


@dataclass(frozen=True, eq=False)
class ByteSet(Expr):
    """One byte out of ``mask`` (a 256-bit set: bit b set means byte b is accepted)."""

    mask: int


@dataclass(frozen=True, eq=False)
class Seq(Expr):
    """A fixed sequence of byte sets (a literal); the empty sequence matches ""."""

    masks: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Cat(Expr):
    parts: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Alt(Expr):
    parts: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Star(Expr):
    expr: Expr


@dataclass(frozen=True, eq=False)
class Plus(Expr):
    expr: Expr


@dataclass(frozen=True, eq=False)
class Diff(Expr):
    """Strings of ``left`` that are not strings of ``right``; actions come from ``left``."""

    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class Embed(Expr):
    kind: Literal["enter", "all", "leave", "final"]
    expr: Expr
    action: Action


@dataclass(frozen=True, eq=False)
class ErrEmbed(Expr):
    where: ErrWhere
    expr: Expr
    action: Action


@dataclass(frozen=True, eq=False)
class Named(Expr):
    name: str
    expr: Expr


ALL_BYTES = (1 << 256) - 1


def _mask_of(data: bytes | str) -> int:
    raw = data.encode("latin-1") if isinstance(data, str) else data
    mask = 0
    for b in raw:
        mask |= 1 << b
    return mask


def lit(data: bytes | str) -> Expr:
    """The literal byte string ``data`` (str is encoded as latin-1)."""
    raw = data.encode("latin-1") if isinstance(data, str) else data
    return Seq(tuple(1 << b for b in raw))


def lit_ci(data: bytes | str) -> Expr:
    """``data`` with ASCII letters matched case-insensitively."""
    raw = data.encode("latin-1") if isinstance(data, str) else data
    return Seq(tuple(_mask_of(bytes([b]).lower() + bytes([b]).upper()) for b in raw))


def byte_in(chars: bytes | str) -> Expr:
    """Any one byte of ``chars``."""
    mask = _mask_of(chars)
    if not mask:
        raise ValueError("byte_in() needs at least one byte")
    return ByteSet(mask)


def byte_range(lo: int | str, hi: int | str) -> Expr:
    """Any one byte in ``lo..hi`` inclusive."""
    a = ord(lo) if isinstance(lo, str) else lo
    b = ord(hi) if isinstance(hi, str) else hi
    if not 0 <= a <= b <= 255:
        raise ValueError(f"invalid byte range {a}..{b}")
    return ByteSet(((1 << (b + 1)) - 1) & ~((1 << a) - 1))


def any_byte() -> Expr:
    """Any one byte (Ragel ``any``)."""
    return ByteSet(ALL_BYTES)


def any_but(chars: bytes | str) -> Expr:
    """Any one byte not in ``chars`` (Ragel ``[^...]``)."""
    mask = ALL_BYTES & ~_mask_of(chars)
    if not mask:
        raise ValueError("any_but() excludes every byte")
    return ByteSet(mask)


def empty() -> Expr:
    """The machine that accepts only the empty string."""
    return Seq(())


def cat(*parts: Expr) -> Expr:
    """Concatenation (Ragel ``a . b``)."""
    flat: list[Expr] = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, Cat) else (p,))
    return flat[0] if len(flat) == 1 else Cat(tuple(flat))


def alt(*parts: Expr) -> Expr:
    """Union (Ragel ``a | b``)."""
    flat: list[Expr] = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, Alt) else (p,))
    return flat[0] if len(flat) == 1 else Alt(tuple(flat))


def star(expr: Expr) -> Expr:
    """Zero or more repetitions (Ragel ``a*``)."""
    return Star(expr)


def plus(expr: Expr) -> Expr:
    """One or more repetitions (Ragel ``a+``)."""
    return Plus(expr)


def opt(expr: Expr) -> Expr:
    """Zero or one (Ragel ``a?``)."""
    return Alt((expr, empty()))


def repeat(expr: Expr, lo: int, hi: int | None = None) -> Expr:
    """Between ``lo`` and ``hi`` repetitions (``hi=None``: ``lo`` or more)."""
    if lo < 0 or (hi is not None and hi < lo):
        raise ValueError(f"invalid repetition {{{lo},{hi}}}")
    parts = [expr] * lo
    if hi is None:
        parts.append(star(expr))
    else:
        # Nested optionals (a (a (a)?)?)? keep the NFA linear in hi - lo.
        tail: Expr | None = None
        for _ in range(hi - lo):
            tail = opt(expr if tail is None else cat(expr, tail))
        if tail is not None:
            parts.append(tail)
    return cat(*parts) if parts else empty()


def diff(left: Expr, right: Expr) -> Expr:
    """Difference (Ragel ``a - b``): strings of ``left`` not matched by ``right``."""
    return Diff(left, right)
