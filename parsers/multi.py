"""Multi-pattern search and replace over a byte stream, as nginx's sub_filter decides it.

Rules (reference/subrequests.md §9.3): patterns are matched ASCII case-insensitively (bytes
>= 0x80 compare exactly: ``bytes.lower`` is nginx's ``ngx_tolower``); the text is scanned
left to right without overlap; at a position the live patterns are tried in configuration
order and the first that *fits* decides -- a full match is replaced, a match cut short by
the end of the data so far makes the matcher wait for more (even if a later pattern would
match already); a replaced text is never rescanned; with ``once`` each pattern applies at
most once.  At the end of the stream an undecided tail goes out unchanged.

Sans-IO and resumable, like the rest of ``parsers/``: ``feed`` takes any piece of the stream
and returns what is decided -- text pieces and pattern numbers -- keeping only the undecided
tail (shorter than the longest live pattern) as its state; nothing decided is looked at again.
The same stream cut anywhere gives the same events, up to how text is cut into pieces.

How: the live patterns are compiled into a trie and the trie into one regular expression
(branching on the first differing byte, ending at the first complete pattern), which finds
the leftmost position where *some* pattern matches at C speed; the winner there is the first
pattern, in configuration order, of that position's first-byte bucket that fits.  Only the
last (longest - 1) bytes can hold a match cut by the end: those positions alone are walked
through the trie byte by byte.  ``once`` rebuilds both when a pattern is used up (at most
once per pattern); with every pattern used the rest of the stream passes untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MultiMatcher", "reference_replace"]

_END = -1  # trie key marking a complete pattern (never a byte)

Trie = dict[int, "Trie | bool"]


class MultiMatcher:
    """Resumable first-in-order, leftmost, non-overlapping multi-pattern matcher.

    ``feed(data)`` returns a list of events: ``bytes`` (text, passed on as is) and ``int``
    (the index, in the ``patterns`` given, of a pattern that matched: replace it).
    """

    __slots__ = ("patterns", "once", "used", "pending", "maxlen", "first", "trie", "rx")

    def __init__(self, patterns: Sequence[bytes], once: bool = False) -> None:
        if not patterns or not all(patterns):
            raise ValueError("patterns must be non-empty")
        self.patterns = [p.lower() for p in patterns]
        self.once = once
        self.used = [False] * len(patterns)
        self.pending = b""  # the undecided tail: all the state there is besides `used`
        self.maxlen = 0
        self.first: dict[int, list[int]] = {}
        self.trie: Trie = {}
        self.rx: re.Pattern[bytes] | None = None
        self._build()

    @property
    def exhausted(self) -> bool:
        """Every pattern is used up (``once``): nothing more can match."""
        return self.rx is None

    def _build(self) -> None:
        live = [k for k, u in enumerate(self.used) if not u]
        self.first = {}
        self.trie = {}
        if not live:
            self.rx, self.maxlen = None, 0
            return
        self.maxlen = max(len(self.patterns[k]) for k in live)
        for k in live:
            p = self.patterns[k]
            self.first.setdefault(p[0], []).append(k)
            node = self.trie
            for c in p:
                node = node.setdefault(c, {})  # type: ignore[assignment]
            node[_END] = True
        self.rx = re.compile(_regex(self.trie))

    def feed(self, data: bytes, last: bool = False) -> list[bytes | int]:
        """Events for ``data`` (the next piece of the stream); ``last``: it ends there."""
        out: list[bytes | int] = []
        work = self.pending + data if self.pending else data
        self.pending = b""
        if self.rx is None:
            if work:
                out.append(work)
            return out
        low = work.lower()
        n = len(work)
        pos = 0
        while self.rx is not None:
            m = self.rx.search(low, pos)
            start = m.start() if m is not None else n
            # a match cut by the end can only start in the last (longest - 1) bytes
            held = self._first_partial(low, max(pos, n - self.maxlen + 1), start)
            if held is None and m is not None:
                k = self._winner(low, start)
                if k < 0:
                    held = start  # the first pattern that fits here is cut short
                else:
                    if start > pos:
                        out.append(work[pos:start])
                    out.append(k)
                    pos = start + len(self.patterns[k])
                    if self.once:
                        self.used[k] = True
                        self._build()
                    continue
            if held is not None:
                if last:
                    break  # the end: what is undecided goes out unchanged
                if held > pos:
                    out.append(work[pos:held])
                self.pending = work[held:]
                return out
            break
        if pos < n:
            out.append(work[pos:])
        return out

    def _winner(self, low: bytes, at: int) -> int:
        """The first pattern, in configuration order, that fits at ``at``: its index if it
        matches there, -1 if it is cut short by the end of ``low``."""
        rest = len(low) - at
        for k in self.first.get(low[at], ()):
            p = self.patterns[k]
            if low.startswith(p, at):
                return k
            if rest < len(p) and p.startswith(low[at:]):
                return -1
        raise AssertionError("the search matched where no pattern does")

    def _first_partial(self, low: bytes, lo: int, hi: int) -> int | None:
        """The first position in [lo, hi) where the data left is a proper prefix of a live
        pattern (no pattern matches whole before ``hi``, the search says so)."""
        trie = self.trie
        n = len(low)
        for p in range(lo, hi):
            node: Trie | None = trie
            for i in range(p, n):
                node = node.get(low[i])  # type: ignore[union-attr,assignment]
                if node is None:
                    break
            else:
                return p
        return None


def _regex(trie: Trie) -> bytes:
    """A regex matching, at a position, iff some pattern of ``trie`` matches there (it ends
    at the first complete pattern: which one wins is decided elsewhere)."""
    parts: list[bytes] = []
    node = trie
    # a chain of single children is a literal; branches become alternations
    while True:
        if _END in node:
            return b"".join(parts)
        keys = sorted(k for k in node if k != _END)
        if len(keys) == 1:
            parts.append(re.escape(bytes(keys[:1])))
            node = node[keys[0]]  # type: ignore[assignment]
            continue
        leaves = [k for k in keys if _END in node[k]]  # type: ignore[operator]
        alts = [re.escape(bytes([k])) + _regex(node[k])  # type: ignore[arg-type]
                for k in keys if k not in leaves]
        if leaves:
            alts.append(b"[" + b"".join(_class_byte(k) for k in leaves) + b"]")
        parts.append(b"(?:" + b"|".join(alts) + b")")
        return b"".join(parts)


def _class_byte(k: int) -> bytes:
    return b"\\x%02x" % k


def reference_replace(body: bytes, patterns: Sequence[bytes], replacements: Sequence[bytes],
                      once: bool) -> bytes:
    """The rules above read plainly over a whole body (for tests): left to right; at each
    position the first live pattern in order that fits decides; where it is cut short by the
    end, the rest stays as it is."""
    low = body.lower()
    pats = [p.lower() for p in patterns]
    live = list(range(len(pats)))
    out, i = [], 0
    while i < len(body):
        for k in live:
            rest = low[i:]
            if len(rest) < len(pats[k]) and pats[k].startswith(rest):
                return b"".join(out) + body[i:]
            if low.startswith(pats[k], i):
                out.append(replacements[k])
                i += len(pats[k])
                if once:
                    live.remove(k)
                break
        else:
            out.append(body[i:i + 1])
            i += 1
    return b"".join(out)
