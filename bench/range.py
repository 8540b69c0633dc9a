"""Benchmark: MB/s for one single-range request of 100 MB from a file, trinx against nginx.

A 128 MiB file is written to a temporary prefix shared by both servers' configs; both
servers run at once, pinned to CPU 0, and answer ``Range: bytes=0-104857599`` (100 MiB)
alternately (nginx, trinx, nginx, ...) to a client on CPU 1 that reads with ``recv_into``
into one reused buffer (so the client is not what is measured).  Alternating spreads
whatever else the machine is doing over both servers alike.  The best and the median of
``--runs`` transfers are printed per server, with the ratios trinx/nginx (issue target: at
least TARGET_RATIO).  trinx sends the
range with ``sendfile`` as nginx does: the ratio measures the per-request and per-call
overhead around the kernel copy.

Usage: .venv/bin/python bench/range.py [--runs 5] [--mib 100]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.static import pin, plan_cpus  # noqa: E402
from tests.harness import ServerProcess, start_nginx, start_trinx  # noqa: E402

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
        servers: dict[str, ServerProcess] = {}
        try:
            for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
                prefix = Path(tmp) / name
                (prefix / "html").mkdir(parents=True)
                os.link(data, prefix / "html" / "big.bin")
                servers[name] = start(CONFIG, prefix)
                if cpus.server is not None:
                    pin(servers[name].pid, cpus.server)
            if cpus.wrk is not None:
                os.sched_setaffinity(0, {cpus.wrk})
            times: dict[str, list[float]] = {name: [] for name in servers}
            for name, server in servers.items():
                transfer(server.port, length)  # warm the page cache and the server
            # alternate the servers so that load from elsewhere hits both alike
            for _ in range(args.runs):
                for name, server in servers.items():
                    times[name].append(transfer(server.port, length))
        finally:
            for server in servers.values():
                server.stop()
    best = {name: length / min(t) / 1e6 for name, t in times.items()}
    median = {name: length / statistics.median(t) / 1e6 for name, t in times.items()}
    print(f"single range of {args.mib} MiB from a file, {args.runs} alternated runs each")
    print(f"{'server':<8} {'best MB/s':>10} {'median':>10}")
    for name in ("nginx", "trinx"):
        print(f"{name:<8} {best[name]:>10,.0f} {median[name]:>10,.0f}")
    ratio, mratio = best["trinx"] / best["nginx"], median["trinx"] / median["nginx"]
    print(f"\ntrinx/nginx target >= {TARGET_RATIO}   (now: best {ratio:.2f}, median {mratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
