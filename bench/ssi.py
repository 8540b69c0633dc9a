"""Benchmark: requests/s for a page with 3 SSI includes against a plain static page, for
trinx and Debian's nginx (one process each) in the same run.

Each server serves, with the same config: ``/static.html`` (1 KiB, no SSI) and
``/page.html`` (a 1 KiB page under ``ssi on`` with three ``include virtual`` of small
fragments).  wrk loads each URL in turn (``-t1 -c<connections>``), server pinned to CPU 0
and wrk to CPU 1 as in bench/static.py.  The issue target: trinx's include page at least
TARGET_RATIO of trinx's own static rate (nginx manages about 0.56 of its own).

Usage: .venv/bin/python bench/ssi.py [--duration 5] [--connections 50]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.static import pin, plan_cpus  # noqa: E402
from tests.harness import http_request, parse_response, start_nginx, start_trinx  # noqa: E402

TARGET_RATIO = 0.6
CONFIG = """
events { worker_connections 1024; }
http {
    access_log off;
    types { text/html html; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /ssi/ { ssi on; }
    }
}
"""
FILLER = b"<p>" + b"x" * 300 + b"</p>\n"
FILES = {
    "html/static.html": (FILLER * 4)[:1024],
    "html/ssi/page.html": FILLER + b'<!--#include virtual="/frag/a.html" -->' + FILLER
                          + b'<!--#include virtual="/frag/b.html" -->' + FILLER
                          + b'<!--#include virtual="/frag/c.html" -->',
    "html/frag/a.html": b"<header>a</header>\n",
    "html/frag/b.html": b"<nav>b</nav>\n",
    "html/frag/c.html": b"<footer>c</footer>\n",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, path: str, duration: int, connections: int, cpu: int | None,
        pid: int) -> tuple[float, float]:
    """Requests/s, and the server's CPU microseconds per request (what a shared, busy
    machine distorts least)."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
    if cpu is not None:
        argv = ["taskset", "--cpu-list", str(cpu), *argv]
    before = cpu_seconds(pid)
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    used = cpu_seconds(pid) - before
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    n = re.search(r"^\s*(\d+) requests in", out, re.M)
    if m is None or n is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk: {out}")
    return float(m.group(1)), used / max(int(n.group(1)), 1) * 1e6


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk (./run-tests installs it)", file=sys.stderr)
        return 2
    cpus = plan_cpus()
    rates: dict[tuple[str, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="trinx-ssi-") as tmp:
        for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
            with start(CONFIG, Path(tmp) / name, FILES) as server:
                body = parse_response(http_request(
                    server.port, b"GET /ssi/page.html HTTP/1.1\r\nHost: b\r\n\r\n")).body
                if b"<nav>b</nav>" not in body or b"include" in body:
                    raise RuntimeError(f"{name} did not compose the page: {body[:200]!r}")
                if cpus.server is not None:
                    pin(server.pid, cpus.server)
                for path in ("/static.html", "/ssi/page.html"):
                    wrk(server.port, path, 1, args.connections, cpus.wrk,
                        server.pid)  # warm-up
                    rates[(name, path)] = wrk(server.port, path, args.duration,
                                              args.connections, cpus.wrk, server.pid)
                print(f"  measured {name}", file=sys.stderr)
    print(f"page with 3 SSI includes vs a static page, wrk -t1 -c{args.connections} "
          f"-d{args.duration}s, {cpus.describe()}\n")
    print(f"{'server':<8}{'static req/s':>14}{'3-include req/s':>17}{'ratio':>8}"
          f"{'static CPU us/req':>19}{'3-include CPU us/req':>22}")
    for name in ("nginx", "trinx"):
        (s, sc), (i, ic) = rates[(name, "/static.html")], rates[(name, "/ssi/page.html")]
        print(f"{name:<8}{s:>14,.0f}{i:>17,.0f}{i / s:>8.2f}{sc:>19,.0f}{ic:>22,.0f}")
    ratio = rates[("trinx", "/ssi/page.html")][0] / rates[("trinx", "/static.html")][0]
    print(f"\ntrinx include/static target >= {TARGET_RATIO}   (now: {ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
