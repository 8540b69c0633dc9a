"""Throughput of the SSI lexer against the bytes.find ceiling.

Run as ``python bench/parsers.py`` from the repository root.  Two pages, fed in 32 KB chunks:

* tag-sparse: 10 MB of ordinary HTML (plenty of ``<`` from normal markup, HTML comments)
  with one SSI tag every 64 KB;
* tag-dense: 1 MB with an SSI tag every 100 bytes.

The ceiling is ``bytes.find(b"<!--")`` over the same chunks, finding every occurrence: the
least any SSI scanner must do.  Targets: sparse >= 0.5 of the ceiling, dense >= 20 MB/s.
Best of several rounds, so a noisy neighbour does not decide the result.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from parsers._runner import ACT_SHIFT, STATE_MASK  # noqa: E402
from parsers.ssi import SSILexer  # noqa: E402

CHUNK = 32 * 1024
ROUNDS = 7
TAG = b'<!--#echo var="name" -->'
HTML = (b'<p class="body">Lorem ipsum dolor sit amet, <a href="/docs/page.html">consectetur'
        b'</a> adipiscing elit, sed do <em>eiusmod</em> tempor incididunt.</p>\n'
        b'<!-- an ordinary comment --><div><span>ut labore et dolore</span></div>\n')


def sparse_page(size: int = 10 * 1024 * 1024, every: int = 64 * 1024) -> bytes:
    block = (HTML * (every // len(HTML) + 1))[:every - len(TAG)] + TAG
    return (block * (size // every + 1))[:size]


def dense_page(size: int = 1024 * 1024, every: int = 100) -> bytes:
    filler = (HTML * 2)[:every - len(TAG)]
    return ((filler + TAG) * (size // every + 1))[:size]


def chunks_of(page: bytes) -> list[bytes]:
    return [page[i:i + CHUNK] for i in range(0, len(page), CHUNK)]


def finder(needle: bytes) -> Callable[[list[bytes]], int]:
    def find_all(chunks: list[bytes]) -> int:
        found = 0
        for chunk in chunks:
            i = chunk.find(needle)
            while i >= 0:
                found += 1
                i = chunk.find(needle, i + 1)
        return found
    return find_all


def lexer(fast_tags: bool) -> Callable[[list[bytes]], int]:
    def run(chunks: list[bytes]) -> int:
        lx = SSILexer(fast_tags=fast_tags)
        n = 0
        for chunk in chunks:
            n += len(lx.feed(chunk))
        return n + len(lx.finish())
    return run


def best_mbps(fn: Callable[[list[bytes]], int], chunks: list[bytes]) -> float:
    size = sum(len(c) for c in chunks)
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn(chunks)
        best = min(best, time.perf_counter() - t0)
    return size / best / 1e6


def main() -> None:
    print(f"python {sys.version.split()[0]}, {CHUNK // 1024} KB chunks, best of {ROUNDS}")
    results = {}
    for name, page in (("tag-sparse 10 MB, 1 tag / 64 KB", sparse_page()),
                       ("tag-dense 1 MB, 1 tag / 100 B", dense_page())):
        chunks = chunks_of(page)
        lex, top = best_mbps(lexer(True), chunks), best_mbps(finder(b"<!--"), chunks)
        dfa_only = best_mbps(lexer(False), chunks)
        top5 = best_mbps(finder(b"<!--#"), chunks)
        results[name] = (lex, top)
        print(f"{name}:\n"
              f"  SSILexer                     {lex:9.1f} MB/s   ratio to find(b'<!--') "
              f"{lex / top:.3f}\n"
              f"  SSILexer(fast_tags=False)    {dfa_only:9.1f} MB/s   ratio {dfa_only / top:.3f}\n"
              f"  find(b'<!--') (the ceiling)  {top:9.1f} MB/s\n"
              f"  find(b'<!--#') (for scale)   {top5:9.1f} MB/s   lexer ratio to it "
              f"{lex / top5:.3f}")
    (s_lex, s_top), (d_lex, _d_top) = results.values()
    print(f"target sparse >= 0.5 of ceiling: {'met' if s_lex / s_top >= 0.5 else 'MISSED'} "
          f"({s_lex / s_top:.3f}); target dense >= 20 MB/s: "
          f"{'met' if d_lex >= 20 else 'MISSED'} ({d_lex:.1f} MB/s)")


# -- tables versus generated source (python bench/parsers.py --codegen) ----------------------
# Both step byte by byte with no skip-ahead, so only the dispatch differs: a table lookup, or
# per-state Python code (an if-chain on the state, then on byte classes).

def gen(M: Any) -> Callable[..., int]:
    L = ["def run(cs, data, ctx, base, alists):", "    p = 0", "    pe = len(data)", "    while p < pe:",
         "        c = data[p]"]
    first = True
    for s in range(1, M.n_states):
        groups = {}
        for b in range(256):
            v = M.tab[s << 8 | b]
            groups.setdefault((v & STATE_MASK, v >> ACT_SHIFT), []).append(b)
        L.append(f"        {'if' if first else 'elif'} cs == {s}:")
        first = False
        items = sorted(groups.items(), key=lambda kv: len(kv[1]))
        for i, ((ns, a), bs) in enumerate(items):
            if i == len(items) - 1:
                cond = "else:" if i else "if True:"
            else:
                cond = ("if" if i == 0 else "elif") + (f" c == {bs[0]}:" if len(bs) == 1 else f" c in {frozenset(bs)!r}:")
            L.append(f"            {cond}")
            L.append(f"                ns = {ns}; a = {a}")
    L += ["        if a:",
          "            for fn in alists[a]:",
          "                r = fn(ctx, c, base + p)",
          "                if r is not None: ns = r",
          "        cs = ns",
          "        p += 1",
          "    return cs"]
    ns: dict[str, Any] = {}
    exec("\n".join(L), ns)
    return ns["run"]

def table_run(cs: int, data: bytes, ctx: Any, base: int, tab: list[int], alists: Any) -> int:
    p = 0; pe = len(data)
    while p < pe:
        c = data[p]
        v = tab[cs << 8 | c]
        ns = v & 65535
        a = v >> 17
        if a:
            for fn in alists[a]:
                r = fn(ctx, c, base + p)
                if r is not None: ns = r
        cs = ns
        p += 1
    return cs



def codegen_comparison() -> None:
    from parsers.ssi import SSI_MACHINE as M

    grun = gen(M)
    pages = {"tag-dense page": dense_page(),
             "tag-interior-heavy page": (b'<!--#echo var="' + b"v" * 60 + b'" a="b" -->xx')
             * 12000}
    runners = {
        "tables": lambda cs, d, lx, b: table_run(cs, d, lx, b, M.tab, M.action_lists),
        "generated source": lambda cs, d, lx, b: grun(cs, d, lx, b, M.action_lists),
    }
    for pname, page in pages.items():
        chunks = chunks_of(page)
        for rname, f in runners.items():
            best = float("inf")
            for _ in range(3):
                lx = SSILexer(fast_tags=False)
                t0 = time.perf_counter()
                cs, base = M.start, 0
                for ch in chunks:
                    lx._chunk, lx._view, lx._events, lx._base = ch, memoryview(ch), [], base
                    cs = f(cs, ch, lx, base)
                    base += len(ch)
                best = min(best, time.perf_counter() - t0)
            print(f"  {pname:26s} {rname:17s} {len(page) / best / 1e6:6.1f} MB/s "
                  "(byte stepping, no skip-ahead)")


if __name__ == "__main__":
    main()
    if "--codegen" in sys.argv:
        codegen_comparison()
