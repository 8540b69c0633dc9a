"""Thompson construction: expression tree -> NFA with actions on edges.

Theory of operation
-------------------
Every expression node becomes a *fragment*: a start state, one end state, and the states and
edges created while building it.  Children are built before their parent wraps them, so a
fragment's states and edges are contiguous ranges of the global lists, and an embedding
operator can find "every edge of this machine" as ``edges[e_lo:e_hi]``.

Byte edges carry a 256-bit byte mask and a list of action ordinals.  Epsilon edges carry
action ordinals too: those are *pending* actions, run on the next byte consumed or at end of
input.  That one idea gives Ragel's semantics for free:

* ``>`` adds a new start with an epsilon edge carrying the action, so it runs on the first
  byte, and also on leaving if the machine accepts "" (the path start -> end carries it);
* ``%`` adds a new end behind an epsilon edge carrying the action;
* ``$`` adds the action to every byte edge of the fragment;
* ``@`` adds it to byte edges whose target reaches the end through epsilon edges.

An action ordinal is handed out when the embedding node is met in a post-order walk, which is
the order actions on a single transition run in.  Error actions are recorded as embeddings
(ordinal, where, fragment bounds) and resolved against DFA states by the determiniser.

Difference needs DFAs of both operands: the fragment of ``left`` is determinised in place,
multiplied with the DFA of ``right`` (see ``_dfa.product``) and the product is written back as
fresh NFA states, one per product state, so outer embeddings still see a fragment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _dsl as d
from ._dsl import Action, Expr

__all__ = ["NFA", "Frag", "Edge", "Eps", "ErrEmbedding"]


class Edge:
    """A byte edge; mutable so that ``$``/``@`` can add actions after the fact."""

    __slots__ = ("src", "mask", "dst", "acts")

    def __init__(self, src: int, mask: int, dst: int, acts: list[int]) -> None:
        self.src, self.mask, self.dst, self.acts = src, mask, dst, acts


class Eps:
    """An epsilon edge with pending actions."""

    __slots__ = ("src", "dst", "acts")

    def __init__(self, src: int, dst: int, acts: list[int]) -> None:
        self.src, self.dst, self.acts = src, dst, acts


@dataclass(frozen=True)
class Frag:
    start: int
    end: int
    s_lo: int
    s_hi: int
    e_lo: int
    e_hi: int
    x_lo: int
    x_hi: int


@dataclass(frozen=True)
class ErrEmbedding:
    ordinal: int
    where: d.ErrWhere
    start: int
    end: int
    s_lo: int
    s_hi: int


@dataclass
class NFA:
    """The whole NFA of one compilation; fragments index into these lists."""

    names: list[str | None] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    eps: list[Eps] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    err_embeds: list[ErrEmbedding] = field(default_factory=list)
    # Error actions attached straight to one state (written back by difference).
    err_direct: dict[int, set[int]] = field(default_factory=dict)

    def new_state(self) -> int:
        self.names.append(None)
        return len(self.names) - 1

    def _ordinal(self, action: Action) -> int:
        self.actions.append(action)
        return len(self.actions) - 1

    def _mark(self) -> tuple[int, int, int]:
        return len(self.names), len(self.edges), len(self.eps)

    def _frag(self, start: int, end: int, mark: tuple[int, int, int]) -> Frag:
        return Frag(start, end, mark[0], len(self.names), mark[1], len(self.edges),
                    mark[2], len(self.eps))

    def build(self, expr: Expr) -> Frag:
        """Add ``expr`` to the NFA and return its fragment."""
        mark = self._mark()
        if isinstance(expr, d.ByteSet):
            return self._seq((expr.mask,), mark)
        if isinstance(expr, d.Seq):
            return self._seq(expr.masks, mark)
        if isinstance(expr, d.Cat):
            frags = [self.build(p) for p in expr.parts]
            for a, b in zip(frags, frags[1:]):
                self.eps.append(Eps(a.end, b.start, []))
            return self._frag(frags[0].start, frags[-1].end, mark)
        if isinstance(expr, d.Alt):
            frags = [self.build(p) for p in expr.parts]
            s, e = self.new_state(), self.new_state()
            for f in frags:
                self.eps.append(Eps(s, f.start, []))
                self.eps.append(Eps(f.end, e, []))
            return self._frag(s, e, mark)
        if isinstance(expr, (d.Star, d.Plus)):
            f = self.build(expr.expr)
            s, e = self.new_state(), self.new_state()
            self.eps.append(Eps(s, f.start, []))
            self.eps.append(Eps(f.end, f.start, []))
            self.eps.append(Eps(f.end, e, []))
            if isinstance(expr, d.Star):
                self.eps.append(Eps(s, e, []))
            return self._frag(s, e, mark)
        if isinstance(expr, d.Embed):
            return self._embed(expr, mark)
        if isinstance(expr, d.ErrEmbed):
            f = self.build(expr.expr)
            self.err_embeds.append(ErrEmbedding(self._ordinal(expr.action), expr.where,
                                                f.start, f.end, f.s_lo, f.s_hi))
            return f
        if isinstance(expr, d.Named):
            f = self.build(expr.expr)
            for s in range(f.s_lo, f.s_hi):
                old = self.names[s]
                self.names[s] = expr.name if old is None else f"{expr.name}.{old}"
            return f
        if isinstance(expr, d.Diff):
            return self._diff(expr, mark)
        raise TypeError(f"not a machine expression: {expr!r}")

    def _seq(self, masks: tuple[int, ...], mark: tuple[int, int, int]) -> Frag:
        states = [self.new_state() for _ in range(len(masks) + 1)]
        for i, m in enumerate(masks):
            self.edges.append(Edge(states[i], m, states[i + 1], []))
        return self._frag(states[0], states[-1], mark)

    def _embed(self, expr: d.Embed, mark: tuple[int, int, int]) -> Frag:
        f = self.build(expr.expr)
        o = self._ordinal(expr.action)
        if expr.kind == "enter":
            s = self.new_state()
            self.eps.append(Eps(s, f.start, [o]))
            return self._frag(s, f.end, mark)
        if expr.kind == "leave":
            e = self.new_state()
            self.eps.append(Eps(f.end, e, [o]))
            return self._frag(f.start, e, mark)
        if expr.kind == "all":
            for edge in self.edges[f.e_lo:f.e_hi]:
                edge.acts.append(o)
            return f
        # final: edges whose target reaches the end through this fragment's epsilons.
        back: dict[int, list[int]] = {}
        for x in self.eps[f.x_lo:f.x_hi]:
            back.setdefault(x.dst, []).append(x.src)
        finals, work = {f.end}, [f.end]
        while work:
            for src in back.get(work.pop(), ()):
                if src not in finals:
                    finals.add(src)
                    work.append(src)
        for edge in self.edges[f.e_lo:f.e_hi]:
            if edge.dst in finals:
                edge.acts.append(o)
        return f

    def _diff(self, expr: d.Diff, mark: tuple[int, int, int]) -> Frag:
        from ._dfa import determinize, product  # noqa: PLC0415  (mutual import)

        left = self.build(expr.left)
        right = self.build(expr.right)
        ldfa = determinize(self, [left.start], {left.end}, left, with_actions=True)
        rdfa = determinize(self, [right.start], {right.end}, right, with_actions=False)
        prod = product(ldfa, rdfa)
        # Write the product back: one NFA state per product state, accepting states get an
        # epsilon edge (carrying their end-of-input actions) to the new end.
        base = len(self.names)
        for name in prod.names:
            self.names.append(name or None)
        end = self.new_state()
        for i, row in enumerate(prod.trans):
            merged: dict[tuple[int, tuple[int, ...]], int] = {}
            for k, t in enumerate(row):
                if t >= 0:
                    key = (t, prod.tacts[i][k])
                    merged[key] = merged.get(key, 0) | prod.classes[k]
            for (t, acts), m in merged.items():
                self.edges.append(Edge(base + i, m, base + t, list(acts)))
            if prod.final[i]:
                self.eps.append(Eps(base + i, end, list(prod.eof[i])))
            if prod.err[i]:
                self.err_direct[base + i] = set(prod.err[i])
        return self._frag(base + prod.roots[0], end, mark)
