"""The toolkit: DSL -> minimal DFA tables -> resumable runner (parsers/_*.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from parsers import (Action, Expr, Machine, ParseError, Scanner, alt, any_but, any_byte, byte_in,
                     byte_range, cat, compile_machine, diff, empty, lit, lit_ci, opt, plus,
                     repeat, star)
from parsers._runner import LIT, RUN, SPAN

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ALPHA = b"ab<-"


def rec(name: str) -> Action:
    """An action that logs (name, byte, offset) into the ctx list."""
    def fn(ctx: list[tuple[str, int, int]], c: int, o: int) -> None:
        ctx.append((name, c, o))
    return Action(name=name, fn=fn)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


def drive(machine: Machine, chunks: list[bytes], slow: bool = False) -> tuple[list[Any], int]:
    """Run chunk by chunk; returns the action log (errors logged too) and the final state."""
    log: list[Any] = []
    state, base = machine.start, 0
    try:
        for chunk in chunks:
            run = machine.run_slow if slow else machine.run
            state = run(state, chunk, log, base)
            base += len(chunk)
        log.append(("accept", machine.finish(state, log, base)))
    except ParseError as e:
        log.append(("error", e.offset, e.state))
        state = Machine.error
    return log, state


# -- generated regular expressions, rendered both to the DSL and to `re` ---------------------

def _esc_class(chars: bytes) -> bytes:
    return b"".join(re.escape(bytes([c])) for c in sorted(set(chars)))


_chars = st.lists(st.sampled_from(ALPHA), min_size=1, max_size=3).map(bytes)
LEAVES = st.one_of(
    _chars.map(lambda s: (lit(s), re.escape(s))),
    _chars.map(lambda s: (byte_in(s), b"[" + _esc_class(s) + b"]")),
    _chars.map(lambda s: (any_but(s), b"[^" + _esc_class(s) + b"]")),
    st.just((empty(), b"")),
)


def _grow(kids: st.SearchStrategy[tuple[Expr, bytes]]) -> st.SearchStrategy[tuple[Expr, bytes]]:
    g = b"(?:%s)"
    return st.one_of(
        st.tuples(kids, kids).map(lambda ab: (cat(ab[0][0], ab[1][0]), g % ab[0][1] + g % ab[1][1])),
        st.tuples(kids, kids).map(lambda ab: (alt(ab[0][0], ab[1][0]), g % ab[0][1] + b"|" + g % ab[1][1])),
        kids.map(lambda a: (star(a[0]), g % a[1] + b"*")),
        kids.map(lambda a: (plus(a[0]), g % a[1] + b"+")),
        kids.map(lambda a: (opt(a[0]), g % a[1] + b"?")),
        st.tuples(kids, st.integers(0, 2), st.integers(0, 2)).map(
            lambda t: (repeat(t[0][0], t[1], t[1] + t[2]),
                       g % t[0][1] + b"{%d,%d}" % (t[1], t[1] + t[2]))),
    )


REGEXES = st.recursive(LEAVES, _grow, max_leaves=7)
INPUTS = st.lists(st.sampled_from(ALPHA + b"x"), max_size=10).map(bytes)


@SETTINGS
@given(rx=REGEXES, samples=st.lists(INPUTS, min_size=1, max_size=12))
def test_machine_accepts_what_re_fullmatch_accepts(rx: tuple[Expr, bytes],
                                                   samples: list[bytes]) -> None:
    expr, pattern = rx
    machine = compile_machine(expr)
    compiled = re.compile(pattern, re.DOTALL)
    for s in samples:
        assert machine.accepts(s) == (compiled.fullmatch(s) is not None), (pattern, s)


@SETTINGS
@given(a=REGEXES, b=REGEXES, samples=st.lists(INPUTS, min_size=1, max_size=12))
def test_difference_is_set_difference(a: tuple[Expr, bytes], b: tuple[Expr, bytes],
                                      samples: list[bytes]) -> None:
    machine = compile_machine(diff(a[0], b[0]))
    ra, rb = re.compile(a[1], re.DOTALL), re.compile(b[1], re.DOTALL)
    for s in samples:
        want = ra.fullmatch(s) is not None and rb.fullmatch(s) is None
        assert machine.accepts(s) == want, (a[1], b[1], s)


# -- generated machines with actions: any split gives the same run ---------------------------

@st.composite
def acting_machines(draw: st.DrawFn) -> Expr:
    """A random regex with random actions embedded at random nodes."""
    counter = iter(range(1000))

    def decorate(e: Expr) -> Expr:
        for kind in draw(st.lists(st.sampled_from(["enter", "all", "leave", "final"]),
                                  max_size=2)):
            e = getattr(e, kind)(rec(f"{kind}{next(counter)}"))
        return e

    leaves = LEAVES.map(lambda t: decorate(t[0]))
    tree = draw(st.recursive(leaves, lambda kids: st.one_of(
        st.tuples(kids, kids).map(lambda ab: decorate(cat(*ab))),
        st.tuples(kids, kids).map(lambda ab: decorate(alt(*ab))),
        kids.map(lambda a: decorate(star(a))),
        kids.map(lambda a: decorate(plus(a))),
    ), max_leaves=6))
    # Big loops in front and behind, so that skip-ahead states appear.
    pre = star(any_but(draw(st.sampled_from([b"<", b"<-", b"a"]))))
    return cat(pre, tree, star(any_byte())) if draw(st.booleans()) else tree


@SETTINGS
@given(expr=acting_machines(),
       data=st.lists(st.sampled_from(ALPHA + b"xy"), max_size=40).map(bytes),
       cuts=st.lists(st.integers(0, 40), max_size=6))
def test_any_split_gives_same_actions_and_state(expr: Expr, data: bytes, cuts: list[int]) -> None:
    machine = compile_machine(expr)
    whole = drive(machine, [data])
    assert drive(machine, split_at(data, cuts)) == whole
    assert drive(machine, [data[i:i + 1] for i in range(len(data))]) == whole
    assert drive(machine, [data], slow=True) == whole


@SETTINGS
@given(lit_=st.lists(st.sampled_from(b"<!-#"), min_size=1, max_size=5).map(bytes),
       data=st.lists(st.sampled_from([b"<", b"!", b"-", b"#", b"x", b"<!-", b"--"]),
                     max_size=30).map(b"".join),
       cuts=st.lists(st.integers(0, 60), max_size=5))
def test_literal_search_skip_matches_stepping(lit_: bytes, data: bytes, cuts: list[int]) -> None:
    """"text until literal" machines compile to a find() skip; it must agree with stepping."""
    text = diff(star(any_byte()), cat(star(any_byte()), lit(lit_), star(any_byte())))
    expr = star(cat(text, lit(lit_).final(rec("found")), lit("x").enter(rec("x"))))
    machine = compile_machine(expr)
    whole = drive(machine, [data], slow=True)
    assert drive(machine, [data]) == whole
    assert drive(machine, split_at(data, cuts)) == whole


# -- concrete semantics ----------------------------------------------------------------------

def actions_of(expr: Expr, data: bytes, chunks: int = 1) -> list[Any]:
    machine = compile_machine(expr)
    size = max(1, len(data) // chunks)
    return drive(machine, [data[i:i + size] for i in range(0, len(data), size)] or [b""])[0]


def test_entering_all_final_leaving() -> None:
    a = rec("A")
    assert actions_of(lit("ab").enter(a), b"ab") == [("A", 97, 0), ("accept", True)]
    assert actions_of(lit("ab").all(a), b"ab") == [("A", 97, 0), ("A", 98, 1), ("accept", True)]
    assert actions_of(plus(byte_range("0", "9")).final(a), b"12") == [
        ("A", 49, 0), ("A", 50, 1), ("accept", True)]
    # leaving: on the byte after the machine, or at end of input with byte -1
    assert actions_of(cat(lit("ab").leave(a), lit("c")), b"abc") == [("A", 99, 2), ("accept", True)]
    assert actions_of(lit("ab").leave(a), b"ab") == [("A", -1, 2), ("accept", True)]


def test_entering_action_of_machine_accepting_empty_becomes_pending() -> None:
    a = rec("A")
    expr = cat(star(lit("a")).enter(a), lit("b"))
    assert actions_of(expr, b"b") == [("A", 98, 0), ("accept", True)]
    assert actions_of(expr, b"aab") == [("A", 97, 0), ("accept", True)]


def test_actions_on_one_transition_run_in_embedding_order() -> None:
    a, b, c = rec("A"), rec("B"), rec("C")
    expr = cat(plus(lit("x")).leave(a), lit("y").enter(b).all(c))
    assert actions_of(expr, b"xy") == [("A", 121, 1), ("B", 121, 1), ("C", 121, 1),
                                       ("accept", True)]


def test_same_action_from_two_union_paths_runs_once() -> None:
    a = rec("A")
    assert actions_of(alt(lit("ab").enter(a), lit("ac").enter(a)), b"ab") == [
        ("A", 97, 0), ("accept", True)]


def test_parse_error_carries_offset_and_state_name() -> None:
    machine = compile_machine(cat(lit("GET").named("method"), lit(" "),
                                  plus(any_but(" ")).named("uri")), name="line")
    scanner = Scanner(machine, None)
    scanner.feed(b"GE")
    with pytest.raises(ParseError) as info:
        scanner.feed(b"X /")
    assert (info.value.offset, info.value.state, info.value.byte) == (2, "method", ord("X"))
    assert scanner.state == Machine.error
    with pytest.raises(ParseError):  # stays in the error state
        scanner.feed(b"anything")


def test_finish_in_non_accepting_state_is_an_error() -> None:
    scanner = Scanner(compile_machine(lit("abc").named("word")), None)
    scanner.feed(b"ab")
    with pytest.raises(ParseError) as info:
        scanner.finish()
    assert (info.value.offset, info.value.byte, info.value.state) == (2, None, "word")


def test_error_action_and_jump_to_entry() -> None:
    """An error action may jump (fgoto) to an entry machine; here: skip to ';'."""
    machine: Machine

    def recover(ctx: list[Any], c: int, o: int) -> int:
        ctx.append(("bad", c, o))
        return machine.entry("skip")

    item = cat(lit("ok").err(Action(name="recover", fn=recover), "all"), lit(";"))
    main = star(item.final(rec("item")))
    skip = cat(star(any_but(";")), lit(";").final(rec("skipped")), main)
    machine = compile_machine(main, {"skip": skip})
    log, _ = drive(machine, [b"ok;oxq;ok;"])
    assert log == [("item", 59, 2), ("bad", ord("x"), 4), ("skipped", 59, 6),
                   ("item", 59, 9), ("accept", True)]


def test_counting_span_action_agrees_with_byte_action() -> None:
    """A span form is used on loops; its result must equal the byte-by-byte run."""
    def fn(ctx: list[Any], c: int, o: int) -> None:
        ctx.append(o)

    def span(ctx: list[Any], o: int, n: int) -> int:
        take = min(n, 3)  # accepts 3 at a time: the runner must step on correctly
        ctx.extend(range(o, o + take))
        return take

    every = Action(name="every", fn=fn, span=span)
    machine = compile_machine(cat(star(any_but(";")).all(every), lit(";")))
    assert machine.skips[machine.start] is not None
    assert machine.skips[machine.start].kind == SPAN  # type: ignore[union-attr]
    data = b"x" * 300 + b";"
    assert drive(machine, [data]) == drive(machine, [data], slow=True)
    assert drive(machine, [data])[0][:-1] == list(range(300))


def test_dfa_is_minimal_for_known_cases() -> None:
    # (a|b)*abb: the textbook minimal DFA has 4 states (+ our error state).
    assert compile_machine(cat(star(byte_in("ab")), lit("abb"))).n_states == 5
    # "ab" repeated, spelled redundantly, is still 2 live states.
    assert compile_machine(alt(star(lit("ab")), cat(lit("ab"), star(lit("ab"))))).n_states == 3


def test_skip_kinds_are_detected() -> None:
    text = diff(star(any_byte()), cat(star(any_byte()), lit(b"<!--#"), star(any_byte())))
    m = compile_machine(cat(text, lit(b"<!--#")))
    sk = m.skips[m.start]
    assert sk is not None and sk.kind == LIT and sk.literal == b"<!--#"
    m = compile_machine(cat(star(any_but('"\\')), lit('"')))
    sk = m.skips[m.start]
    assert sk is not None and sk.kind == RUN


def test_lit_ci_and_ranges() -> None:
    m = compile_machine(cat(lit_ci("bytes="), repeat(byte_range("0", "9"), 1, 3)))
    assert m.accepts(b"BYTES=1") and m.accepts(b"bYtEs=123")
    assert not m.accepts(b"bytes=1234") and not m.accepts(b"bytes=")


def test_memoryview_chunks_are_accepted() -> None:
    a = rec("A")
    m = compile_machine(star(lit("ab").enter(a)))
    assert drive(m, [memoryview(b"abab")[:3], b"b"]) == drive(m, [b"abab"])  # type: ignore[list-item]


def test_public_namespace() -> None:
    for name in parsers.__all__:
        assert getattr(parsers, name) is not None
    assert callable(parsers.compile_machine)
