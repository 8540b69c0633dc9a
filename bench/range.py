"""Benchmark: MB/s for one single-range request of 100 MB from a file, trinx against nginx.

A 128 MiB file is written to a temporary prefix shared by both servers' configs; each
server answers ``Range: bytes=0-104857599`` (100 MiB) in turn, pinned to CPU 0, to a
client on CPU 1 that reads with ``recv_into`` into one reused buffer (so the client is
not what is measured).  The best of ``--runs`` transfers is kept per server, and the
ratio trinx/nginx is printed (issue target: at least TARGET_RATIO).  trinx sends the
range with ``sendfile`` as nginx does: the ratio measures the per-request and per-call
overhead around the kernel copy.

Usage: .venv/bin/python bench/range.py [--runs 5] [--mib 100]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.static import pin, plan_cpus  # noqa: E402
from tests.harness import start_nginx, start_trinx  # noqa: E402

TARGET_RATIO = 0.8
CONFIG = """
events {}
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    server {
        listen 127.0.0.1:{port};
        root html;
    }
}
"""


def transfer(port: int, length: int) -> float:
    """Seconds to receive one 206 of ``length`` bytes (headers included, body checked)."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as s:
        started = time.perf_counter()
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Range: bytes=0-%d\r\n\r\n" % (length - 1))
        got = 0
        head = b""
        while True:
            n = s.recv_into(view)
            if not n:
                break
            if not head:
                head = bytes(view[:min(n, 512)])
            got += n
        elapsed = time.perf_counter() - started
    if not head.startswith(b"HTTP/1.1 206") or got < length:
        raise RuntimeError(f"bad answer: {head[:60]!r}, {got} bytes")
    return elapsed


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mib", type=int, default=100)
    args = p.parse_args(argv)
    length = args.mib << 20
    cpus = plan_cpus()
    with tempfile.TemporaryDirectory(prefix="trinx-range-") as tmp:
        data = Path(tmp) / "big.bin"
        with open(data, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.mib + 28):
                f.write(block)
        results: dict[str, float] = {}
        for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
            prefix = Path(tmp) / name
            (prefix / "html").mkdir(parents=True)
            os.link(data, prefix / "html" / "big.bin")
            server = start(CONFIG, prefix)
            try:
                if cpus.server is not None:
                    pin(server.pid, cpus.server)
                if cpus.wrk is not None:
                    os.sched_setaffinity(0, {cpus.wrk})
                transfer(server.port, length)  # warm the page cache
                best = min(transfer(server.port, length) for _ in range(args.runs))
            finally:
                server.stop()
            results[name] = length / best / 1e6
            print(f"  measured {name}", flush=True)
    print(f"single range of {args.mib} MiB from a file, best of {args.runs}")
    print(f"{'server':<8} {'MB/s':>10} {'vs nginx':>9}")
    for name in ("nginx", "trinx"):
        print(f"{name:<8} {results[name]:>10,.0f} {results[name] / results['nginx']:>9.2f}")
    ratio = results["trinx"] / results["nginx"]
    print(f"\ntrinx/nginx target >= {TARGET_RATIO}   (now: {ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
