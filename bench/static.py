"""Benchmark: requests/s for one 1 KiB static file, trinx against nginx and the trio + h11 ceiling.

Three servers answer ``GET /1k.txt`` in turn, each alone on the machine:

- ``bare``:  bench/bare_server.py, a fixed 1 KiB response from trio + h11 with no routing,
  config or files: the most any trio + h11 server can do here.
- ``trinx``: ``python -m engine`` from this checkout, one process, serving the file.
- ``nginx``: Debian's nginx, one process (``master_process off``), serving the file.

trinx and nginx get the same config (CONFIG below, ``access_log off``). The load is
``wrk -t1 -c<connections> -d<duration>s``, after a one-second warm-up. On a machine with two
or more CPUs and ``taskset``, the server is pinned to one CPU and wrk to another, so they
don't compete for a core. The number to watch is trinx/bare (target: TARGET_RATIO); nginx
is there for scale.

Usage: .venv/bin/python bench/static.py [--duration 5] [--connections 50]
                                        [--servers bare,trinx,nginx]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run as a script, so its own directory, not the repo, is on sys.path.
sys.path.insert(0, str(REPO_ROOT))

from tests.harness import (  # noqa: E402
    ServerProcess,
    ServerStartError,
    free_port,
    http_request,
    parse_response,
    start_nginx,
    start_trinx,
)

TARGET_RATIO = 0.85
URL_PATH = "/1k.txt"
FILE_BODY = (b"static benchmark file, 1024 bytes.\n" * 30)[:1023] + b"\n"
SERVERS = ("bare", "trinx", "nginx")

CONFIG = """
events {
    worker_connections 1024;
}

http {
    access_log off;
    default_type application/octet-stream;

    server {
        listen 127.0.0.1:{port};
        root html;
    }
}
"""


@dataclass(frozen=True, kw_only=True)
class Result:
    """One server's row: `requests_per_s` is None when it could not be measured."""

    server: str
    requests_per_s: float | None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class CpuPlan:
    """Where the server and wrk run; None means unpinned."""

    server: int | None
    wrk: int | None

    def describe(self) -> str:
        """A phrase for the report header."""
        if self.server is None:
            return "unpinned (needs taskset and 2 CPUs)"
        return f"server on CPU {self.server}, wrk on CPU {self.wrk}"


def main(argv: list[str]) -> int:
    """Run the benchmark and print the table. Returns the exit status."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk (./run-tests installs it)", file=sys.stderr)
        return 2
    cpus = plan_cpus()
    print(
        f"static file: GET {URL_PATH} ({len(FILE_BODY)} bytes), "
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {cpus.describe()}\n"
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="trinx-bench-") as tmp:
        for name in args.servers:
            start = _starter(name, Path(tmp) / name)
            results.append(measure(name, start, args, cpus))
            print(f"  measured {name}", file=sys.stderr)
    print_table(results)
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--connections", type=int, default=50, help="open connections (50)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up (1)")
    parser.add_argument(
        "--servers",
        type=lambda text: [s for s in text.split(",") if s],
        default=list(SERVERS),
        help="comma-separated subset of bare,trinx,nginx",
    )
    args = parser.parse_args(argv)
    unknown = set(args.servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    return args


def plan_cpus() -> CpuPlan:
    """Pick two distinct CPUs, when taskset exists and this process may use two."""
    allowed = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(allowed) < 2:
        return CpuPlan(server=None, wrk=None)
    return CpuPlan(server=allowed[0], wrk=allowed[1])


def _starter(name: str, prefix: Path) -> Callable[[], ServerProcess]:
    """A function that starts server `name` in `prefix` and waits until it listens."""
    files = {"html" + URL_PATH: FILE_BODY}
    if name == "trinx":
        return lambda: start_trinx(CONFIG, prefix, files)
    if name == "nginx":
        return lambda: start_nginx(CONFIG, prefix, files)

    def start_bare() -> ServerProcess:
        port = free_port()
        script = str(REPO_ROOT / "bench" / "bare_server.py")
        argv = [sys.executable, script, "--port", str(port)]
        server = ServerProcess(name="bare", argv=argv, prefix=prefix, port=port)
        server.start()
        return server

    return start_bare


def measure(
    name: str, start: Callable[[], ServerProcess], args: argparse.Namespace, cpus: CpuPlan
) -> Result:
    """Start one server, check that it serves the file, load it with wrk, stop it."""
    try:
        server = start()
    except ServerStartError as exc:
        return Result(server=name, requests_per_s=None, note=f"not available ({_last_line(exc)})")
    with server:
        problem = check_response(server.port)
        if problem is not None:
            return Result(server=name, requests_per_s=None, note=f"not available ({problem})")
        if cpus.server is not None:
            pin(server.pid, cpus.server)
        if args.warmup > 0:
            run_wrk(server.port, args.warmup, args.connections, cpus.wrk)
        output = run_wrk(server.port, args.duration, args.connections, cpus.wrk)
    return _result_from_wrk(name, output)


def check_response(port: int) -> str | None:
    """Why GET URL_PATH is not the expected 1 KiB 200, or None when it is.

    A server answering 404 fast is not a result, so this runs before any load.
    """
    request = f"GET {URL_PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    try:
        response = parse_response(http_request(port, request))
    except (OSError, ValueError) as exc:
        return f"GET {URL_PATH} failed: {exc}"
    if response.status != 200 or len(response.body) != len(FILE_BODY):
        return f"GET {URL_PATH} -> {response.status}, {len(response.body)} bytes"
    return None


def pin(pid: int, cpu: int) -> None:
    """Pin every thread of process `pid` to `cpu`; threads started later inherit it."""
    subprocess.run(
        ["taskset", "--all-tasks", "--pid", "--cpu-list", str(cpu), str(pid)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_wrk(port: int, duration: int, connections: int, cpu: int | None) -> str:
    """Run wrk against URL_PATH and return its report."""
    url = f"http://127.0.0.1:{port}{URL_PATH}"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", url]
    if cpu is not None:
        argv = ["taskset", "--cpu-list", str(cpu), *argv]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return done.stdout


def _result_from_wrk(name: str, output: str) -> Result:
    """Read requests/s and any errors out of wrk's report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        return Result(server=name, requests_per_s=None, note="wrk printed no rate")
    notes = []
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        notes.append(f"{non_2xx.group(1)} non-2xx/3xx")
    errors = re.search(r"Socket errors: (.*)", output)
    if errors:
        notes.append(f"socket errors: {errors.group(1)}")
    return Result(server=name, requests_per_s=float(rate.group(1)), note="; ".join(notes))


def print_table(results: list[Result]) -> None:
    """Print one row per server, then the trinx/bare ratio against its target."""
    rates = {r.server: r.requests_per_s for r in results}
    bare = rates.get("bare")
    print(f"{'server':<8}{'req/s':>10}{'vs bare':>10}  notes")
    for r in results:
        if r.requests_per_s is None:
            print(f"{r.server:<8}{'-':>10}{'-':>10}  {r.note}")
            continue
        ratio = f"{r.requests_per_s / bare:.2f}" if bare else "-"
        print(f"{r.server:<8}{r.requests_per_s:>10,.0f}{ratio:>10}  {r.note}")
    trinx = rates.get("trinx")
    now = f"{trinx / bare:.2f}" if trinx and bare else "n/a"
    print(f"\ntrinx/bare target >= {TARGET_RATIO}   (now: {now})")


def _last_line(exc: BaseException) -> str:
    """The last non-empty line of an error: for a failed start, the server's last words."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
