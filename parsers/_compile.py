"""From expression to :class:`Machine`: NFA -> DFA -> prune -> minimise -> flat tables.

The pipeline (each step in its own module):

1. ``_nfa.NFA.build``: Thompson construction with actions on edges (``_nfa`` docstring);
2. ``_dfa.determinize``: subset construction over byte classes, pending actions folded into
   transitions, EOF actions and error actions per state;
3. ``_dfa.prune``: states that cannot reach acceptance go, so errors are reported early;
4. error actions become transitions to state 0 carrying actions (an action may jump away);
5. ``_dfa.minimize``: Moore refinement that keeps action-distinct transitions apart;
6. here: number the states (0 = error, then breadth-first from the roots), expand classes to
   256 columns, intern action lists, and find skip-ahead states (``_runner`` docstring).

Tables, not generated Python source: measured with ``python bench/parsers.py --codegen``
(both stepping byte by byte), per-state generated code ties with the table on text (its first
``if`` is the text state) and lost 20-30% inside tags in most runs, where the if-chain on the
state gets long (one run on a loaded machine showed the opposite; the margin is small).  The
skip-ahead matters far more than either (see parsers/README.md).
"""

from __future__ import annotations

import re
from typing import Mapping

from ._dfa import DFA, determinize, minimize, prune
from ._dsl import Action, ByteFn, Expr
from ._nfa import NFA
from ._runner import ACT_SHIFT, LIT, RUN, SPAN, SPECIAL, Machine, Skip

__all__ = ["compile_machine"]

# A loop must cover at least this many bytes to be worth a regex call instead of stepping.
MIN_RUN_BYTES = 128


def compile_machine(main: Expr, entries: Mapping[str, Expr] | None = None, *,
                    name: str = "machine") -> Machine:
    """Compile ``main`` (and optional extra entry machines) into one table.

    Args:
        main: the grammar.  Its start state is ``Machine.start``.
        entries: other machines compiled into the same table, e.g. an error-recovery machine
            that an action jumps to (Ragel's ``fgoto``); ``Machine.entry(name)`` gives their
            start states.  An entry usually ends by continuing with ``main``.
        name: used in error messages.

    Raises:
        ValueError: more than 65535 states.
    """
    nfa = NFA()
    frags = [nfa.build(main)] + [nfa.build(e) for e in (entries or {}).values()]
    dfa = determinize(nfa, [f.start for f in frags], {f.end for f in frags})
    dfa = prune(dfa)
    # Copies of one sub-grammar (repetition, entries that continue with main) embed the same
    # Action objects under different ordinals; compare transitions by the actions they run.
    uniq: list[Action] = []
    canon: dict[tuple[int, ...], tuple[int, ...]] = {}

    def canonical(ordinals: tuple[int, ...]) -> tuple[int, ...]:
        if ordinals not in canon:
            out: list[int] = []
            for o in ordinals:  # embedding order; one action object runs once
                i = next((k for k, a in enumerate(uniq) if a is nfa.actions[o]), -1)
                if i < 0:
                    uniq.append(nfa.actions[o])
                    i = len(uniq) - 1
                if i not in out:
                    out.append(i)
            canon[ordinals] = tuple(out)
        return canon[ordinals]

    for s, row in enumerate(dfa.trans):
        err = tuple(sorted(dfa.err[s]))
        dfa.tacts[s] = [canonical(err if t < 0 and err else a)
                        for t, a in zip(row, dfa.tacts[s])]
        dfa.eof[s] = canonical(dfa.eof[s])
    dfa, _ = minimize(dfa)
    return _emit(dfa, uniq, list((entries or {}).keys()), name)


def _emit(dfa: DFA, actions: list[Action], entry_names: list[str], name: str) -> Machine:
    # Number states breadth-first from the roots; 0 is the error state.
    order: dict[int, int] = {}
    queue = list(dfa.roots)
    for r in queue:
        order.setdefault(r, len(order) + 1)
    i = 0
    while i < len(queue):
        for t in dfa.trans[queue[i]]:
            if t >= 0 and t not in order:
                order[t] = len(order) + 1
                queue.append(t)
        i += 1
    n = len(order) + 1
    if n > SPECIAL:
        raise ValueError(f"{name}: {n} states is more than the table encoding allows")
    olds = [-1] + sorted(order, key=order.__getitem__)

    interned: dict[tuple[int, ...], int] = {(): 0}
    lists: list[tuple[ByteFn, ...]] = [()]
    lnames: list[tuple[str, ...]] = [()]

    def intern(acts: tuple[int, ...]) -> int:
        if acts not in interned:
            interned[acts] = len(lists)
            lists.append(tuple(actions[i].fn for i in acts))
            lnames.append(tuple(actions[i].name for i in acts))
        return interned[acts]

    col = [0] * 256  # byte -> class
    for k, m in enumerate(dfa.classes):
        for b in range(256):
            if m >> b & 1:
                col[b] = k
    # Plain (state, action id) per cell first; skip analysis needs it, then flags.
    nxt = [0] * (n << 8)
    aid = [0] * (n << 8)
    for new in range(1, n):
        old = olds[new]
        for b in range(256):
            t = dfa.trans[old][col[b]]
            nxt[new << 8 | b] = order[t] if t >= 0 else 0
            aid[new << 8 | b] = intern(tuple(dfa.tacts[old][col[b]]))
    skips: list[Skip | None] = [None] * n
    for s in range(1, n):
        skips[s] = _skip_for(s, nxt, aid, lists, actions, interned)
    tab = [0] * (n << 8)
    for k in range(n << 8):
        t, a = nxt[k], aid[k]
        special = a or not t or skips[t] is not None
        tab[k] = t | (SPECIAL if special else 0) | (a << ACT_SHIFT)
    eof = [()] + [lists[intern(dfa.eof[olds[s]])] for s in range(1, n)]
    final = [False] + [dfa.final[olds[s]] for s in range(1, n)]
    names = ["error"] + [dfa.names[olds[s]] or f"s{s}" for s in range(1, n)]
    entries = {e: order[dfa.roots[i + 1]] for i, e in enumerate(entry_names)}
    return Machine(name=name, start=order[dfa.roots[0]], tab=tab, action_lists=lists,
                   eof=eof, final=final, names=names, entries=entries, skips=skips,
                   action_names=lnames)


def _skip_for(s: int, nxt: list[int], aid: list[int], lists: list[tuple[ByteFn, ...]],
              actions: list[Action], interned: dict[tuple[int, ...], int]) -> Skip | None:
    """The skip-ahead for state ``s``, or None when stepping is as good."""
    row = s << 8
    groups: dict[int, list[int]] = {}
    for b in range(256):
        if nxt[row | b] == s:
            groups.setdefault(aid[row | b], []).append(b)
    if not groups:
        return None
    a, loop = max(groups.items(), key=lambda kv: len(kv[1]))
    if len(loop) < MIN_RUN_BYTES:
        return None
    if a:
        acts = next(k for k, v in interned.items() if v == a)
        if len(acts) != 1:
            return None
        act = actions[acts[0]]
        if act.span is None:
            return None
        return Skip(SPAN, match=_class_regex(loop).match, span=act.span, fn=act.fn)
    lit = _literal_skip(s, nxt, aid)
    if lit is not None:
        return lit
    return Skip(RUN, match=_class_regex(loop).match)


def _class_regex(loop: list[int]) -> re.Pattern[bytes]:
    parts, i = [], 0
    while i < len(loop):
        j = i
        while j + 1 < len(loop) and loop[j + 1] == loop[j] + 1:
            j += 1
        parts.append(b"\\x%02x" % loop[i] if i == j else b"\\x%02x-\\x%02x" % (loop[i], loop[j]))
        i = j + 1
    return re.compile(b"[" + b"".join(parts) + b"]*")


def _literal_skip(s: int, nxt: list[int], aid: list[int]) -> Skip | None:
    """Find a literal L such that, from ``s``, the machine is a plain search for L."""
    qs, lit = [s], bytearray()
    while True:
        q = qs[-1]
        known = set(qs)
        exits = [b for b in range(256)
                 if aid[q << 8 | b] or nxt[q << 8 | b] not in known]
        if len(exits) != 1:
            break
        b = exits[0]
        lit.append(b)
        t = nxt[q << 8 | b]
        if aid[q << 8 | b] or not t or t in known:
            break  # the exit transition: runs actions, fails, or jumps back
        qs.append(t)
    for k in range(len(lit), 0, -1):
        if _is_search(bytes(lit[:k]), qs[:k], nxt, aid):
            return Skip(LIT, literal=bytes(lit[:k]), states=tuple(qs[:k]))
    return None


def _kmp_next(lit: bytes, i: int, b: int) -> int:
    """Length of the longest prefix of ``lit`` that is a suffix of lit[:i] + b."""
    seen = lit[:i] + bytes([b])
    for j in range(min(len(seen), len(lit)), 0, -1):
        if seen.endswith(lit[:j]):
            return j
    return 0


def _is_search(lit: bytes, qs: list[int], nxt: list[int], aid: list[int]) -> bool:
    k = len(lit)
    for i, q in enumerate(qs):
        for b in range(256):
            if i == k - 1 and b == lit[-1]:
                continue  # the exit transition may do anything
            j = _kmp_next(lit, i, b)
            if j >= k or aid[q << 8 | b] or nxt[q << 8 | b] != qs[j]:
                return False
    return True
