"""Regenerate site/html/media/big.txt, the demo site's file for range requests.

The file is committed; this script documents its format and proves it is deterministic.
Every line is LINE_SIZE bytes and names its own number and byte offset, so any byte range
can be checked by eye or computed by a test without reading the file:

    line 000001 offset 00000000 abcdefghijklmnopqrstuvwxyz012345678
    line 000002 offset 00000064 abcdefghijklmnopqrstuvwxyz012345678

Usage: python site/make_big_txt.py [--check]
"""

import argparse
import sys
from pathlib import Path

LINE_SIZE = 64
LINE_COUNT = 32768  # 64 * 32768 = 2 MiB exactly
FILLER = b"abcdefghijklmnopqrstuvwxyz0123456789"
TARGET = Path(__file__).resolve().parent / "html" / "media" / "big.txt"


def line(number: int) -> bytes:
    """Return line `number` (1-based) of big.txt, newline included."""
    head = b"line %06d offset %08d " % (number, (number - 1) * LINE_SIZE)
    return head + FILLER[: LINE_SIZE - len(head) - 1] + b"\n"


def content() -> bytes:
    """Return the whole of big.txt."""
    return b"".join(line(n) for n in range(1, LINE_COUNT + 1))


def main(argv: list[str]) -> int:
    """Write big.txt, or with --check report whether the committed copy is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, don't write")
    args = parser.parse_args(argv)
    data = content()
    if args.check:
        current = TARGET.exists() and TARGET.read_bytes() == data
        print(f"{TARGET}: {'up to date' if current else 'STALE'}")
        return 0 if current else 1
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
