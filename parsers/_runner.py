"""Running compiled machines over chunks: the resumable executor.

Resumability contract
---------------------
A machine's whole parsing state is one small int, ``state`` (Ragel's ``cs``).  ``run`` takes
the state saved after the previous chunk and returns the state after this one; it never looks
at an earlier chunk again and never joins chunks.  Feeding a stream in any split gives the
same actions, in the same order, with the same offsets, and the same final state, as feeding
it whole.  Everything else an action needs to remember (marks, counters, partial tokens)
lives in the caller's ``ctx``, which is passed to every action.

Offsets are absolute stream offsets: the caller passes ``base``, the offset of the chunk's
first byte (a :class:`Scanner` keeps it for you).

Errors: a byte with no transition raises :class:`ParseError` carrying the absolute offset of
that byte and the name of the state that rejected it.  State 0 is the error state; after an
error a :class:`Scanner` stays in it and every later ``feed`` raises again.

Fast paths (the "skip-ahead")
-----------------------------
The compiler marks states that loop to themselves on most bytes:

* ``LIT``: the loop and the states after it form a substring search for a literal
  (e.g. ``<!--#`` in SSI text).  The runner calls ``bytes.find`` and lands on the last byte
  of the literal, in the state the byte-by-byte walk would be in there.  If the literal is not
  in the chunk, the state at the end is that of the longest chunk suffix that is a prefix of
  the literal (classic KMP reasoning, checked against the table at compile time).
* ``RUN``: a quiet loop over a byte class: one compiled-regex match jumps over it.
* ``SPAN``: a loop whose bytes all run one action with a span form: one regex match, one
  span call (see :data:`parsers.SpanFn`).

Table encoding: ``tab[state << 8 | byte]`` is the next state, plus ``SPECIAL`` when the
transition has actions, ends in a skip state, or is an error, plus the action-list id shifted
by ``ACT_SHIFT``.  A plain quiet transition is one lookup and one comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

from ._dsl import ByteFn, SpanFn

__all__ = ["ParseError", "Machine", "Scanner", "Skip", "LIT", "RUN", "SPAN",
           "SPECIAL", "ACT_SHIFT", "STATE_MASK"]

SPECIAL = 1 << 16
STATE_MASK = SPECIAL - 1
ACT_SHIFT = 17
LIT, RUN, SPAN = 1, 2, 3

Chunk = Union[bytes, bytearray, memoryview]
MatchFn = Callable[[Any, int], Any]


class ParseError(Exception):
    """Input stopped matching a machine.

    Attributes:
        offset: absolute stream offset of the rejected byte (or of end of input).
        state: name of the state that rejected it.
        byte: the rejected byte, or None at end of input.
    """

    def __init__(self, offset: int, state: str, byte: int | None, machine: str = "") -> None:
        what = "end of input" if byte is None else f"byte {bytes([byte])!r}"
        super().__init__(f"{machine or 'machine'}: unexpected {what} at offset {offset} "
                         f"in state {state!r}")
        self.offset, self.state, self.byte, self.machine = offset, state, byte, machine


@dataclass(frozen=True)
class Skip:
    """How to skip ahead from one state (see the module docstring)."""

    kind: int
    literal: bytes = b""
    states: tuple[int, ...] = ()   # LIT: DFA state after each literal prefix, [0] = self
    match: MatchFn | None = None   # RUN/SPAN: compiled-regex ``match`` of the loop class
    span: SpanFn | None = None     # SPAN: the one action's span form
    fn: ByteFn | None = None       # SPAN: the same action's byte form


class Machine:
    """A compiled machine: flat tables plus the executor.  Build with ``compile_machine``.

    Attributes:
        name: the grammar's name, used in error messages.
        start: the start state of the main machine.
        error: the error state, always 0.
        names: state number -> state name (joined names of the sub-machines it is in).
        final: state number -> accepting?
        entries: extra entry points given to ``compile_machine`` -> their start state.
    """

    error = 0

    def __init__(self, *, name: str, start: int, tab: list[int],
                 action_lists: list[tuple[ByteFn, ...]], eof: list[tuple[ByteFn, ...]],
                 final: list[bool], names: list[str], entries: dict[str, int],
                 skips: list[Skip | None], action_names: list[tuple[str, ...]]) -> None:
        self.name, self.start, self.entries = name, start, dict(entries)
        self.tab, self.action_lists, self.eof = tab, action_lists, eof
        self.final, self.names, self.skips = tuple(final), tuple(names), skips
        self.action_names = action_names
        self.n_states = len(final)

    def entry(self, name: str) -> int:
        """The start state of the entry point ``name`` (a target for action jumps)."""
        return self.entries[name]

    def next_state(self, state: int, byte: int) -> int:
        """The state after ``byte`` from ``state``, ignoring actions (0 = error)."""
        return self.tab[state << 8 | byte] & STATE_MASK

    def accepts(self, data: bytes) -> bool:
        """Whether the main machine accepts ``data`` exactly, ignoring all actions."""
        cs = self.start
        for c in data:
            cs = self.tab[cs << 8 | c] & STATE_MASK
            if not cs:
                return False
        return self.final[cs]

    def finish(self, state: int, ctx: Any, offset: int) -> bool:
        """End of input after ``offset`` bytes: run the EOF (pending leaving) actions.

        Returns:
            Whether ``state`` is accepting.  EOF actions exist only on accepting states.
        """
        for fn in self.eof[state]:
            fn(ctx, -1, offset)
        return self.final[state]

    def run(self, state: int, data: Chunk, ctx: Any, base: int = 0) -> int:
        """Run over one chunk from ``state``; returns the state to resume from.

        Args:
            state: the state returned by the previous call (``start`` at first).
            data: the chunk; a memoryview is copied once (pass bytes to avoid it).
            ctx: handed to every action.
            base: absolute stream offset of ``data[0]``.

        Raises:
            ParseError: at the first byte with no transition (after running that byte's
                error actions, if any, none of which jumped elsewhere).

        An action's return value steers the run: None continues, an int is the state to
        continue in after this byte (Ragel's ``fgoto``), a ``(state, offset)`` pair also
        resumes the input at absolute ``offset`` (``fexec``), which must lie after this
        byte and no further than the end of this chunk.
        """
        if isinstance(data, memoryview):
            data = data.tobytes()
        tab, alists, skips = self.tab, self.action_lists, self.skips
        cs, p, pe = state, 0, len(data)
        if not cs:
            raise ParseError(base, "error", data[0] if pe else None, self.name)
        sk = skips[cs]
        while p < pe:
            if sk is not None:
                kind = sk.kind
                if kind == LIT:
                    lit = sk.literal
                    f = data.find(lit, p)
                    if f < 0:
                        j = min(len(lit) - 1, pe - p)
                        while j and data[pe - j:pe] != lit[:j]:
                            j -= 1
                        return sk.states[j]
                    p = f + len(lit) - 1
                    cs = sk.states[-1]
                else:
                    q = sk.match(data, p).end()  # type: ignore[misc]
                    if kind == SPAN and q > p:
                        q = p + sk.span(ctx, base + p, q - p)  # type: ignore[misc]
                    p = q
                    if p >= pe:
                        return cs
            v = tab[cs << 8 | data[p]]
            if v < SPECIAL:
                cs = v
                p += 1
                sk = None
                continue
            ns = v & STATE_MASK
            aid = v >> ACT_SHIFT
            if aid:
                c = data[p]
                off = base + p
                for fn in alists[aid]:
                    r = fn(ctx, c, off)
                    if r is not None:
                        if isinstance(r, int):
                            ns = r
                        else:  # (state, offset): fgoto plus fexec
                            ns, jump = r
                            p = jump - base - 1
            if not ns:
                raise ParseError(base + p, self.names[cs], data[p], self.name)
            cs = ns
            p += 1
            sk = skips[cs]
        return cs

    def run_slow(self, state: int, data: Chunk, ctx: Any, base: int = 0) -> int:
        """Reference executor: like ``run`` but strictly byte by byte, no skip-ahead and no
        span forms.  For tests and for checking a span form against its byte form."""
        tab, alists = self.tab, self.action_lists
        data = bytes(data)
        cs, p = state, 0
        while p < len(data):
            c = data[p]
            if not cs:
                raise ParseError(base + p, "error", c, self.name)
            v = tab[cs << 8 | c]
            ns = v & STATE_MASK
            for fn in alists[v >> ACT_SHIFT]:
                r = fn(ctx, c, base + p)
                if r is not None:
                    if isinstance(r, int):
                        ns = r
                    else:
                        ns, jump = r
                        p = jump - base - 1
            if not ns:
                raise ParseError(base + p, self.names[cs], c, self.name)
            cs = ns
            p += 1
        return cs


class Scanner:
    """A machine plus its saved state, stream offset and ctx: the usual way to drive one.

    After a :class:`ParseError` the scanner stays in the error state.
    """

    def __init__(self, machine: Machine, ctx: Any, state: int | None = None) -> None:
        self.machine, self.ctx = machine, ctx
        self.state = machine.start if state is None else state
        self.offset = 0

    def feed(self, chunk: Chunk) -> None:
        """Run over the next chunk.  Raises ParseError (see ``Machine.run``)."""
        try:
            self.state = self.machine.run(self.state, chunk, self.ctx, self.offset)
        except ParseError:
            self.state = Machine.error
            raise
        finally:
            self.offset += len(chunk)

    def finish(self) -> None:
        """End of input: run EOF actions.  Raises ParseError if not in an accepting state."""
        if not self.machine.finish(self.state, self.ctx, self.offset):
            name = self.machine.names[self.state] if self.state else "error"
            self.state = Machine.error
            raise ParseError(self.offset, name, None, self.machine.name)
