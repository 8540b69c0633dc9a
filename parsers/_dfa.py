"""Subset construction, difference product, dead-state pruning and minimisation.

Theory of operation
-------------------
The alphabet is first cut into *byte classes*: the coarsest partition of 0..255 such that
every edge mask is a union of classes.  All DFA work is per class (typically a few dozen
instead of 256 bytes); tables are expanded to 256 columns only at the very end.

A DFA state is the epsilon closure of a set of NFA states, where each NFA state also carries
the set of *pending* action ordinals collected on the epsilon path to it.  Several paths to
one NFA state are merged by union: a DFA transition runs the union of the actions of every
NFA path that consumes the byte, so merging early changes nothing.  The key of a DFA state
keeps only the NFA states that matter later (with byte edges, accepting, or carrying error
actions).

* transition actions on class k = union over key members (s, P) and edges s -k-> t of
  P | edge actions;
* end-of-input actions = union of P over accepting members;
* error actions = error embeddings whose fragment the state is in (see ``_err_actions``).

Minimisation is Moore's partition refinement.  The first partition separates states by
(accepting, EOF actions, error actions); refinement compares, per class, the target's block
*and* the transition's action tuple, so transitions that run different actions are never
merged.  States that cannot reach an accepting state are removed first (their incoming
transitions become errors), so errors are reported at the first byte that cannot lead to a
match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Sequence

from ._nfa import NFA, Edge, ErrEmbedding, Frag

__all__ = ["DFA", "byte_classes", "determinize", "product", "prune", "minimize"]

ALL = (1 << 256) - 1


@dataclass
class DFA:
    """A DFA over byte classes.  ``-1`` as a target means "no transition"."""

    classes: list[int]
    trans: list[list[int]]
    tacts: list[list[tuple[int, ...]]]
    eof: list[tuple[int, ...]]  # sorted action ordinals
    final: list[bool]
    err: list[frozenset[int]]
    names: list[str]
    roots: list[int]


def byte_classes(masks: Sequence[int]) -> list[int]:
    """The coarsest partition of 0..255 that refines every mask, as a list of masks."""
    atoms = [ALL]
    for m in set(masks):
        nxt = []
        for a in atoms:
            inside, outside = a & m, a & ~m
            if inside:
                nxt.append(inside)
            if outside:
                nxt.append(outside)
        atoms = nxt
    return sorted(atoms, key=lambda a: (a & -a))


def _lowest_bit(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


def determinize(nfa: NFA, roots: Sequence[int], accepts: AbstractSet[int],
                region: Frag | None = None, *, with_actions: bool = True) -> DFA:
    """Subset construction from ``roots`` over the edges of ``region`` (all when None)."""
    edges = nfa.edges[region.e_lo:region.e_hi] if region else nfa.edges
    epss = nfa.eps[region.x_lo:region.x_hi] if region else nfa.eps
    out_edges: dict[int, list[Edge]] = {}
    for e in edges:
        out_edges.setdefault(e.src, []).append(e)
    out_eps: dict[int, list[tuple[int, frozenset[int]]]] = {}
    for x in epss:
        acts = frozenset(x.acts) if with_actions else frozenset()
        out_eps.setdefault(x.src, []).append((x.dst, acts))
    embeds: list[ErrEmbedding] = nfa.err_embeds if with_actions else []
    direct = nfa.err_direct if with_actions else {}
    important = set(out_edges) | set(accepts) | set(direct)
    for emb in embeds:
        important.update((emb.start, emb.end))
    classes = byte_classes([e.mask for e in edges])
    reps = [_lowest_bit(c) for c in classes]

    Key = frozenset[tuple[int, frozenset[int]]]

    def closure(seeds: dict[int, set[int]]) -> Key:
        pend = {s: set(p) for s, p in seeds.items()}
        work = list(pend)
        while work:
            s = work.pop()
            here = pend[s]
            for t, acts in out_eps.get(s, ()):
                new = here | acts
                cur = pend.get(t)
                if cur is None:
                    pend[t] = new
                    work.append(t)
                elif not new <= cur:
                    cur |= new
                    work.append(t)
        return frozenset((s, frozenset(p)) for s, p in pend.items() if s in important)

    index: dict[Key, int] = {}
    keys: list[Key] = []

    def state_of(key: Key) -> int:
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        return index[key]

    root_ids = [state_of(closure({r: set()})) for r in roots]
    dfa = DFA(classes, [], [], [], [], [], [], root_ids)
    i = 0
    while i < len(keys):
        key = keys[i]
        i += 1
        row: list[int] = []
        arow: list[tuple[int, ...]] = []
        for rep in reps:
            seeds: dict[int, set[int]] = {}
            fired: set[int] = set()
            for s, pending in key:
                for e in out_edges.get(s, ()):
                    if e.mask >> rep & 1:
                        seeds.setdefault(e.dst, set())
                        if with_actions:
                            fired |= pending
                            fired.update(e.acts)
            if seeds:
                row.append(state_of(closure(seeds)))
                arow.append(tuple(sorted(fired)))
            else:
                row.append(-1)
                arow.append(())
        dfa.trans.append(row)
        dfa.tacts.append(arow)
        members = {s for s, _ in key}
        fin = bool(members & accepts)
        dfa.final.append(fin)
        dfa.eof.append(tuple(sorted(frozenset().union(*(p for s, p in key if s in accepts)))))
        dfa.err.append(_err_actions(members, embeds, direct))
        names = {n for s in members if (n := nfa.names[s])}
        dfa.names.append("|".join(sorted(names)))
    return dfa


def _err_actions(members: set[int], embeds: Sequence[ErrEmbedding],
                 direct: dict[int, set[int]]) -> frozenset[int]:
    out: set[int] = set()
    for s in members & direct.keys():
        out |= direct[s]
    for emb in embeds:
        is_start = emb.start in members
        is_final = emb.end in members
        inside = is_start or is_final or any(emb.s_lo <= s < emb.s_hi for s in members)
        hit = {"all": inside, "start": is_start, "final": is_final,
               "middle": inside and not is_start and not is_final}[emb.where]
        if hit:
            out.add(emb.ordinal)
    return frozenset(out)


def _refine_classes(dfa: DFA, classes: list[int]) -> DFA:
    """Re-express ``dfa`` over a finer partition ``classes``."""
    owner = []
    for c in classes:
        rep = _lowest_bit(c)
        owner.append(next(k for k, old in enumerate(dfa.classes) if old >> rep & 1))
    return DFA(classes, [[row[k] for k in owner] for row in dfa.trans],
               [[row[k] for k in owner] for row in dfa.tacts],
               dfa.eof, dfa.final, dfa.err, dfa.names, dfa.roots)


def product(left: DFA, right: DFA) -> DFA:
    """DFA for L(left) - L(right), keeping ``left``'s actions and names."""
    classes = byte_classes(left.classes + right.classes)
    lft, rgt = _refine_classes(left, classes), _refine_classes(right, classes)
    index: dict[tuple[int, int], int] = {}
    pairs: list[tuple[int, int]] = []

    def state_of(pair: tuple[int, int]) -> int:
        if pair not in index:
            index[pair] = len(pairs)
            pairs.append(pair)
        return index[pair]

    out = DFA(classes, [], [], [], [], [], [], [state_of((lft.roots[0], rgt.roots[0]))])
    i = 0
    while i < len(pairs):
        l, r = pairs[i]
        i += 1
        row: list[int] = []
        arow: list[tuple[int, ...]] = []
        for k in range(len(classes)):
            lt = lft.trans[l][k]
            if lt < 0:
                row.append(-1)
                arow.append(())
                continue
            rt = rgt.trans[r][k] if r >= 0 else -1
            row.append(state_of((lt, rt)))
            arow.append(lft.tacts[l][k])
        out.trans.append(row)
        out.tacts.append(arow)
        fin = lft.final[l] and not (r >= 0 and rgt.final[r])
        out.final.append(fin)
        out.eof.append(lft.eof[l] if fin else ())
        out.err.append(lft.err[l])
        out.names.append(lft.names[l])
    return out


def prune(dfa: DFA) -> DFA:
    """Drop states that cannot reach an accepting state (roots are kept, possibly dead)."""
    n = len(dfa.trans)
    back: list[list[int]] = [[] for _ in range(n)]
    for s, row in enumerate(dfa.trans):
        for t in row:
            if t >= 0:
                back[t].append(s)
    live = {s for s in range(n) if dfa.final[s]}
    work = list(live)
    while work:
        for s in back[work.pop()]:
            if s not in live:
                live.add(s)
                work.append(s)
    for s in range(n):
        row, arow = dfa.trans[s], dfa.tacts[s]
        for k, t in enumerate(row):
            if t >= 0 and t not in live:
                row[k], arow[k] = -1, ()
    return dfa


def minimize(dfa: DFA) -> tuple[DFA, list[int]]:
    """Moore minimisation.  Returns the new DFA and the old-state -> new-state map.

    Error actions must already be folded into transitions (target -1 with actions).
    """
    n = len(dfa.trans)
    sig0 = [(dfa.final[s], dfa.eof[s]) for s in range(n)]
    ids: dict[object, int] = {}
    block = [ids.setdefault(sig, len(ids)) for sig in sig0]
    while True:
        ids = {}
        new = []
        for s in range(n):
            sig = (block[s], tuple(block[t] if t >= 0 else -1 for t in dfa.trans[s]),
                   tuple(dfa.tacts[s]))
            new.append(ids.setdefault(sig, len(ids)))
        if len(ids) == len(set(block)):
            block = new
            break
        block = new
    m = len(set(block))
    rep: list[int] = [-1] * m
    names: list[set[str]] = [set() for _ in range(m)]
    for s in range(n):
        if rep[block[s]] < 0:
            rep[block[s]] = s
        if dfa.names[s]:
            names[block[s]].add(dfa.names[s])
    out = DFA(dfa.classes,
              [[block[t] if t >= 0 else -1 for t in dfa.trans[r]] for r in rep],
              [list(dfa.tacts[r]) for r in rep],
              [dfa.eof[r] for r in rep], [dfa.final[r] for r in rep],
              [frozenset() for _ in rep], ["|".join(sorted(x)) for x in names],
              [block[r] for r in dfa.roots])
    return out, block
