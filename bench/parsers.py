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
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


if __name__ == "__main__":
    main()
