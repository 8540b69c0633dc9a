"""Benchmark: proxied requests/s through a keepalive upstream, trinx against nginx, and the
latency of a page whose 10 SSI includes come from an upstream that takes 100 ms.

1. Both servers proxy ``/`` to the same backend, Debian's nginx serving a 1 KiB file
   (pinned to its own CPU when there are three; otherwise it shares the server's), through
   ``upstream { keepalive 16; }`` with HTTP/1.1.  wrk -t1 -c50 loads each in turn.  Each
   server also serves the same file itself (``/s/1k.txt``) in the same run, so the proxied
   rate can be read against the server's own static rate; "cpu/req" is the server
   process's CPU time per request (less sensitive than req/s to a busy machine).
2. A page with 10 ``include virtual`` of a location proxied to a slow backend (a
   tests/backends.py h11 server answering ``/slow?ms=100``): total time of one request,
   best of 5, against the slowest fragment (100 ms).  Issue target: at most 1.2 x.

``--profile FILE``: also record trinx under the proxied load with py-spy (raw collapsed
stacks in FILE) and print the functions with the most inclusive and self time.

Usage: .venv/bin/python bench/proxy.py [--duration 5] [--connections 50] [--profile FILE]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.static import pin, plan_cpus  # noqa: E402
from tests.backends import Backend  # noqa: E402
from tests.harness import http_request, parse_response, start_nginx, start_trinx  # noqa: E402

BACKEND_CONF = """
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:{port}; root html; } }
"""
PROXY_CONF = """
events { worker_connections 1024; }
http {
    access_log off;
    upstream be { server 127.0.0.1:BACKEND; keepalive 16; }
    upstream slow { server 127.0.0.1:SLOW; keepalive 16; }
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://be; proxy_http_version 1.1;
                     proxy_set_header Connection ""; }
        location /slow { proxy_pass http://slow; proxy_http_version 1.1;
                         proxy_set_header Connection ""; }
        location /page/ { ssi on; root html; }
        location /s/ { root html; }
    }
}
"""
PAGE = b"".join(b'<p><!--#include virtual="/slow?ms=100&t=%d" --></p>\n' % i for i in range(10))


def wrk(port: int, duration: int, connections: int, cpu: int | None,
        path: str = "/1k.txt") -> float:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s",
            f"http://127.0.0.1:{port}{path}"]
    if cpu is not None:
        argv = ["taskset", "--cpu-list", str(cpu), *argv]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if m is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk: {out}")
    return float(m.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, duration: int, connections: int, cpu: int | None,
             path: str = "/1k.txt") -> tuple[float, float]:
    """(requests/s, server CPU seconds per request) of one wrk run."""
    before = cpu_seconds(pid)
    rate = wrk(port, duration, connections, cpu, path)
    return rate, (cpu_seconds(pid) - before) / (rate * duration)


def profiled(pid: int, port: int, args: argparse.Namespace, cpu: int | None) -> None:
    """py-spy on the server while wrk loads the proxied location; prints a summary."""
    spy = subprocess.Popen([str(REPO_ROOT / ".venv/bin/py-spy"), "record", "-r", "500",
                            "-f", "raw", "-o", args.profile, "-p", str(pid),
                            "-d", str(args.duration)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wrk(port, args.duration + 1, args.connections, cpu)
    spy.wait()
    summarize(Path(args.profile))


def summarize(path: Path, top: int = 30) -> None:
    """Inclusive and self shares per function of py-spy's raw collapsed stacks."""
    incl: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for f in set(frames):
            incl[f] += n
        self_[frames[-1]] += n
    print(f"\nprofile of trinx under the proxied load ({total} samples, {path}):")
    for title, counter in (("inclusive", incl), ("self", self_)):
        print(f"  {title}:")
        for name, n in counter.most_common(top):
            print(f"  {100 * n / total:6.1f}%  {name}")


def page_time(port: int) -> float:
    best = 1e9
    for _ in range(5):
        started = time.perf_counter()
        r = parse_response(http_request(
            port, b"GET /page/p.html HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"))
        best = min(best, time.perf_counter() - started)
        if r.body.count(b"<p>") != 10 or b"include" in r.body:
            raise RuntimeError(f"page not composed: {r.body[:200]!r}")
    return best


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=int, default=5)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--profile", metavar="FILE", help="py-spy raw output for trinx")
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk (./run-tests installs it)", file=sys.stderr)
        return 2
    if args.profile and not (REPO_ROOT / ".venv/bin/py-spy").exists():
        print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    cpus = plan_cpus()
    rates: dict[str, tuple[float, float]] = {}
    statics: dict[str, tuple[float, float]] = {}
    pages: dict[str, float] = {}
    files = {"html/page/p.html": PAGE, "html/s/1k.txt": b"x" * 1023 + b"\n"}
    with tempfile.TemporaryDirectory(prefix="trinx-proxy-") as tmp, Backend("slow") as slow:
        backend = start_nginx(BACKEND_CONF, Path(tmp) / "backend",
                              {"html/1k.txt": b"x" * 1023 + b"\n"})
        try:
            if cpus.wrk is not None:
                pin(backend.pid, cpus.wrk)
            conf = (PROXY_CONF.replace("BACKEND", str(backend.port))
                    .replace("SLOW", str(slow.port)))
            for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
                with start(conf, Path(tmp) / name, files) as server:
                    if cpus.server is not None:
                        pin(server.pid, cpus.server)
                    wrk(server.port, 1, args.connections, cpus.wrk)  # warm-up
                    rates[name] = measured(server.pid, server.port, args.duration,
                                           args.connections, cpus.wrk)
                    statics[name] = measured(server.pid, server.port, args.duration,
                                             args.connections, cpus.wrk, "/s/1k.txt")
                    pages[name] = page_time(server.port)
                    if name == "trinx" and args.profile:
                        profiled(server.pid, server.port, args, cpus.wrk)
                print(f"  measured {name}", file=sys.stderr)
        finally:
            backend.stop()
    print(f"\nproxied 1 KiB through a keepalive upstream, wrk -t1 -c{args.connections} "
          f"-d{args.duration}s, {cpus.describe()} (backend nginx shares the wrk CPU)\n")
    print(f"{'server':<8}{'req/s':>10}{'vs nginx':>10}{'cpu/req':>10}{'static':>10}"
          f"{'cpu/req':>10}{'proxied/static':>16}{'10-include page':>18}{'x slowest':>11}")
    for name in ("nginx", "trinx"):
        (rate, cpu), (srate, scpu) = rates[name], statics[name]
        print(f"{name:<8}{rate:>10,.0f}{rate / rates['nginx'][0]:>10.2f}{cpu * 1e6:>8.0f}us"
              f"{srate:>10,.0f}{scpu * 1e6:>8.0f}us{rate / srate:>16.2f}"
              f"{pages[name] * 1000:>15.0f} ms{pages[name] / 0.1:>11.2f}")
    print(f"\ntrinx 10-include page target <= 1.2 x the slowest fragment "
          f"(now: {pages['trinx'] / 0.1:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
