"""Start-up messages as nginx writes them: where ``[warn]`` and ``[emerg]`` lines of the
configuration go (the ``-e`` log, stderr, or both), and the ``server_name`` checks nginx makes
(invalid names, suspicious symbols, conflicting names on an address).

Each case runs ``-t`` (and the conflict case a real start) on nginx and trinx with the same
files in two prefixes.  Compared: exit status, stderr and the ``-e`` file, with times, pids
and the prefix normalised.  trinx runs in-process (``main``) for speed; nginx as a process.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.log import STDERR_AS_NGINX
from engine.main import main
from tests.e2e.test_config_errors import as_console
from tests.harness import NGINX_BIN, REPO_ROOT, free_port

pytestmark = pytest.mark.differential

_STAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", re.M)

EVENTS = "events {}\n"
DUP_TYPES = "    types { text/html html; text/plain html; }\n"


def _conf(body: str) -> str:
    return EVENTS + "http {\n    access_log off;\n" + body + "}\n"


def _servers(*names: str, listen: str = "127.0.0.1:{port}") -> str:
    return "".join(f"    server {{ listen {listen}; server_name {n}; }}\n" for n in names)


# (id, config, -e value or None); {port} is a free port, the same for both servers
CASES: list[tuple[str, str, str]] = [
    ("warn-file", _conf(DUP_TYPES), "logs/e.log"),
    ("warn-stderr", _conf(DUP_TYPES), "stderr"),
    ("warn-unopenable", _conf(DUP_TYPES), "nodir/e.log"),
    ("emerg-file", EVENTS + "http { bogus; }\n", "logs/e.log"),
    ("emerg-stderr", EVENTS + "http { bogus; }\n", "stderr"),
    ("emerg-unopenable", EVENTS + "http { bogus; }\n", "nodir/e.log"),
    ("emerg-no-events", "http { }\n", "logs/e.log"),
    ("conflicts", _conf(_servers('""', '""', "a A b b", "*.w .w w.* w.* ~^x$ ~^x$", ".a *.a a.*",
                                 "a")), "logs/e.log"),
    ("conflict-wildcard-addr", _conf(_servers("q", "q", listen="{port}")), "stderr"),
    ("conflict-same-server", _conf(_servers("x x", "y")), "stderr"),
    ("no-conflict-alone", _conf(_servers("x x")), "stderr"),
    ("exact-vs-dot", _conf(_servers("a", ".a") + _servers(".b", "b")), "stderr"),
    ("two-addresses", _conf(
        "    server { listen 127.0.0.1:{port}; listen 127.0.0.2:{port}; server_name z; }\n"
        "    server { listen 127.0.0.2:{port}; server_name z; }\n"
        "    server { listen 127.0.0.1:{port}; server_name z; }\n"), "stderr"),
    ("access-log-unopenable", _conf(DUP_TYPES + "    server { listen 127.0.0.1:{port}; "
                                    "access_log nodir/a.log; }\n"), "logs/e.log"),
    ("error-log-unopenable", "error_log nodir/x.log;\n" + _conf(DUP_TYPES), "logs/e.log"),
    ("error-log-elsewhere", "error_log logs/x.log;\n" + _conf(DUP_TYPES), "logs/e.log"),
    ("warn-then-emerg", _conf(DUP_TYPES + "    bogus;\n"), "logs/e.log"),
    ("suspicious", _conf(_servers("a/b", "c")), "stderr"),
    ("hostname", _conf(_servers("$hostname", "$HOSTNAME")), "stderr"),
] + [(f"invalid-{i}", _conf(_servers(n, "x")), "stderr") for i, n in enumerate(
    ["*", "*a", ".", "a*b", "*.a.*", "a..b", "www.*.com", "*.", "**.a"])] + [
    ("invalid-alone-ok", _conf(_servers("a*b")), "stderr"),
    ("invalid-alone-captures", _conf(_servers("a*b ~^(?<n>x)$")), "stderr"),
    ("regex-not-hashed", _conf(_servers("~^a$", "~^a$")), "stderr"),
]


def _write(prefix: Path, conf: str, port: int) -> None:
    (prefix / "conf").mkdir(parents=True)
    (prefix / "logs").mkdir()
    (prefix / "conf" / "nginx.conf").write_text(conf.replace("{port}", str(port)))


def _normalise(text: str, prefix: Path) -> str:
    return _STAMP.sub(r"<time> [\1] <pid>: ", text).replace(str(prefix), "<P>")


def _outcome(prefix: Path, rc: int, stderr: str) -> tuple[int, str, str | None]:
    log = prefix / "logs" / "e.log"
    text = log.read_text() if log.exists() else None
    # With "-e stderr" nginx writes time-stamped lines on stderr where trinx prints
    # "nginx: [level] msg" (engine/log.py STDERR_AS_NGINX): compared in the console form.
    stderr = _normalise(stderr, prefix) if STDERR_AS_NGINX else as_console(stderr)
    return rc, stderr.replace(str(prefix), "<P>"), (_normalise(text, prefix)
                                                    if text is not None else None)


def _nginx(prefix: Path, elog: str, *extra: str) -> tuple[int, str, str | None]:
    r = subprocess.run([str(NGINX_BIN), "-t", "-p", f"{prefix}/", "-c", "conf/nginx.conf",
                        "-e", elog, "-g", "pid logs/t.pid;", *extra],
                       capture_output=True, text=True, timeout=10)
    return _outcome(prefix, r.returncode, r.stderr)


def _trinx(prefix: Path, elog: str, capsys: pytest.CaptureFixture[str],
           *extra: str) -> tuple[int, str, str | None]:
    capsys.readouterr()
    rc = main(["-t", "-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", elog,
               "-g", "pid logs/t.pid;", *extra])
    return _outcome(prefix, rc, capsys.readouterr().err)


@pytest.fixture(autouse=True)
def _need_nginx() -> None:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")


@pytest.mark.parametrize("conf, elog", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_test_mode_like_nginx(conf: str, elog: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    n, t = tmp_path / "n", tmp_path / "t"
    _write(n, conf, port)
    _write(t, conf, port)
    expected = _nginx(n, elog)
    assert _trinx(t, elog, capsys) == expected


@pytest.mark.parametrize("quiet", ["-q", "-T"])
def test_warnings_survive_quiet_and_dump(quiet: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """-q silences only the "syntax is ok" lines; warnings are still printed and logged."""
    conf = _conf(DUP_TYPES + _servers("a", "a"))
    port = free_port()
    n, t = tmp_path / "n", tmp_path / "t"
    _write(n, conf, port)
    _write(t, conf, port)
    nrc, nerr, nlog = _nginx(n, "logs/e.log", quiet)
    trc, terr, tlog = _trinx(t, "logs/e.log", capsys, quiet)
    assert (trc, terr, tlog) == (nrc, nerr, nlog)
    assert "conflicting server name" in nerr


def _run_and_quit(argv: list[str], prefix: Path, port: int) -> tuple[int, str]:
    """Start a server in the foreground, wait for its port, QUIT it; (status, stderr)."""
    import os
    import signal
    import socket
    import time

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=REPO_ROOT, env=env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.send_signal(signal.SIGQUIT)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, _normalise(err, prefix)


def test_running_server_logs_warnings_to_e_file(tmp_path: Path) -> None:
    """A real start: warnings on stderr as ``nginx: [warn]`` and in the ``-e`` file."""
    port = free_port()
    conf = _conf(DUP_TYPES + _servers("a", "a"))
    out = []
    for name, argv0 in (("n", [str(NGINX_BIN)]), ("t", [sys.executable, "-m", "engine"])):
        prefix = tmp_path / name
        _write(prefix, conf, port)
        argv = argv0 + ["-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", "logs/e.log",
                        "-g", "daemon off; pid logs/t.pid;"]
        rc, err = _run_and_quit(argv, prefix, port)
        log = _normalise((prefix / "logs" / "e.log").read_text(), prefix)
        # the running log (same file, level error) adds nothing at QUIT
        out.append((rc, err, log))
    assert out[1] == out[0]
    assert out[0][1].count("[warn]") == 2
