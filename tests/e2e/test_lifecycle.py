"""Process lifecycle on real processes: pid file, daemon, signals (QUIT, TERM, HUP, USR1),
start-up failures (reference/core.md §1.2).

A "slow client" is a socket with a tiny receive buffer that asks for a file much larger than
the kernel can buffer on loopback and then stops reading: its response stays in flight, in
the server's hands, until the test reads on.  That is how a graceful stop is told from a fast
one with only static files.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.test_config_errors import as_console
from tests.harness import (REPO_ROOT, ServerProcess, free_port, http_request, parse_response,
                           start_trinx)

BIG = 16 << 20  # far more than loopback socket buffers hold

CONF = """
events {}
http {
    access_log off;
    keepalive_timeout 60s;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /r/ { return 200 "first"; }
    }
}
"""


def wait_for(cond: Callable[[], object], timeout: float = 3.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours still answers kill(0): look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def get(port: int, path: str) -> tuple[int, bytes]:
    r = parse_response(http_request(port, f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode()))
    return r.status, r.body


class SlowClient:
    """Requests ``path`` and reads only when told to."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.data = bytearray(self.sock.recv(4096))

    def read_all(self) -> bytes:
        while chunk := self.sock.recv(1 << 16):
            self.data += chunk
        self.sock.close()
        return bytes(self.data)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    files = {"html/big.bin": b"x" * BIG, "html/small.txt": b"small\n"}
    with start_trinx(CONF, tmp_path / "p", files) as srv:
        yield srv


def test_pid_file_written_and_removed(server: ServerProcess) -> None:
    pid_file = server.prefix / "logs" / "trinx.pid"
    assert pid_file.read_text() == f"{server.pid}\n"
    assert server.stop() == 0
    assert not pid_file.exists()


def test_quit_is_graceful(server: ServerProcess) -> None:
    slow = SlowClient(server.port, "/big.bin")
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    idle.sendall(b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(4096).endswith(b"small\n")
    os.kill(server.pid, signal.SIGQUIT)
    wait_for(lambda: refused(server.port), what="the listener to close")
    # the idle keep-alive connection is closed; the busy one is not
    assert idle.recv(4096) == b""
    idle.close()
    time.sleep(0.3)
    assert alive(server.pid), "exited with a response in flight"
    response = parse_response(slow.read_all())
    assert response.status == 200 and len(response.body) == BIG
    assert server.process is not None
    assert server.process.wait(5) == 0
    assert not (server.prefix / "logs" / "trinx.pid").exists()


def test_term_is_fast(server: ServerProcess) -> None:
    slow = SlowClient(server.port, "/big.bin")
    os.kill(server.pid, signal.SIGTERM)
    assert server.process is not None
    assert server.process.wait(3) == 0
    assert len(slow.read_all()) < BIG


def test_term_during_graceful_stop(server: ServerProcess) -> None:
    slow = SlowClient(server.port, "/big.bin")
    os.kill(server.pid, signal.SIGQUIT)
    wait_for(lambda: refused(server.port), what="the listener to close")
    os.kill(server.pid, signal.SIGTERM)
    assert server.process is not None
    assert server.process.wait(3) == 0
    assert len(slow.read_all()) < BIG


def _conf_path(server: ServerProcess) -> Path:
    return server.prefix / "conf" / "trinx.conf"


def test_reload_applies_new_config(server: ServerProcess) -> None:
    old_port, new_port = server.port, free_port()
    assert get(old_port, "/r/") == (200, b"first")
    _conf_path(server).write_text(CONF.replace("{port}", str(new_port)).replace(
        'location /r/ { return 200 "first"; }',
        'location /r/ { return 200 "second"; } location /n/ { return 201 "new"; }'))
    os.kill(server.pid, signal.SIGHUP)
    wait_for(lambda: not refused(new_port), what="the new port")
    assert get(new_port, "/r/") == (200, b"second")
    assert get(new_port, "/n/") == (201, b"new")
    wait_for(lambda: refused(old_port), what="the old port to close")
    assert alive(server.pid)


def test_reload_keeps_port_and_switches_config(server: ServerProcess) -> None:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    conn.sendall(b"GET /r/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.recv(4096).endswith(b"first")
    _conf_path(server).write_text(CONF.replace("{port}", str(server.port)).replace(
        '"first"', '"second"'))
    os.kill(server.pid, signal.SIGHUP)
    wait_for(lambda: get(server.port, "/r/") == (200, b"second"), what="the new config")
    conn.close()


def test_reload_with_bad_config_keeps_old(server: ServerProcess) -> None:
    conf = _conf_path(server)
    conf.write_text(CONF.replace("{port}", str(server.port)).replace("access_log off;",
                                                                     "access_log off;\nbogus;"))
    os.kill(server.pid, signal.SIGHUP)
    wait_for(lambda: "bogus" in server.error_log_text(), what="the reload error in the log")
    line = next(ln for ln in server.error_log_text().splitlines() if "bogus" in ln)
    assert line.endswith(f'[emerg] {server.pid}#{server.pid}: unknown directive "bogus" in '
                         f"{conf}:5")
    assert get(server.port, "/r/") == (200, b"first")
    assert alive(server.pid)


def test_reload_to_busy_port_keeps_old(server: ServerProcess) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        busy_port = busy.getsockname()[1]
        _conf_path(server).write_text(CONF.replace("{port}", str(busy_port)))
        os.kill(server.pid, signal.SIGHUP)
        wait_for(lambda: "Address already in use" in server.error_log_text(),
                 what="the bind error in the log")
    assert (f"bind() to 127.0.0.1:{busy_port} failed (98: Address already in use)"
            in server.error_log_text())
    assert get(server.port, "/r/") == (200, b"first")


def test_usr1_reopens_error_log(tmp_path: Path) -> None:
    conf = CONF.replace("events {}", "events {}\nerror_log logs/error.log;")
    with start_trinx(conf, tmp_path / "p") as srv:
        log = srv.prefix / "logs" / "error.log"
        assert get(srv.port, "/missing1")[0] == 404
        wait_for(lambda: log.exists() and "missing1" in log.read_text(), what="a log line")
        log.rename(log.with_suffix(".log.1"))
        os.kill(srv.pid, signal.SIGUSR1)
        wait_for(log.exists, what="the reopened error log")
        assert get(srv.port, "/missing2")[0] == 404
        wait_for(lambda: "missing2" in log.read_text(), what="a line in the new log")
        assert "missing2" not in log.with_suffix(".log.1").read_text()


def _trinx(prefix: Path, *args: str) -> subprocess.Popen[bytes]:
    out = open(prefix / "logs" / "out.txt", "wb")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    try:
        return subprocess.Popen([sys.executable, "-m", "engine", "-p", f"{prefix}/", "-c",
                                 "conf/nginx.conf", "-e", "stderr", *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=REPO_ROOT, env=env)
    finally:
        out.close()


def _prefix(tmp_path: Path, port: int, extra: str = "") -> Path:
    p = tmp_path / "p"
    (p / "conf").mkdir(parents=True)
    (p / "logs").mkdir()
    (p / "conf" / "nginx.conf").write_text(
        CONF.replace("{port}", str(port)).replace("events {}", "events {}\n" + extra))
    return p


def test_daemon(tmp_path: Path) -> None:
    port = free_port()
    p = _prefix(tmp_path, port, "pid logs/d.pid;")
    starter = _trinx(p)
    assert starter.wait(10) == 0, (p / "logs" / "out.txt").read_text()
    pid_file = p / "logs" / "d.pid"
    wait_for(pid_file.exists, what="the pid file")
    pid = int(pid_file.read_text())
    try:
        assert pid != starter.pid
        wait_for(lambda: not refused(port), what="the daemon to listen")
        assert get(port, "/r/") == (200, b"first")
        stop = _trinx(p, "-s", "stop")
        assert stop.wait(10) == 0
        wait_for(lambda: not alive(pid), what="the daemon to exit")
        assert not pid_file.exists()
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_signal_option_quit(server: ServerProcess) -> None:
    """-s reads the pid file named by the config and signals that process."""
    conf = "conf/trinx.conf"
    r = subprocess.run([sys.executable, "-m", "engine", "-p", f"{server.prefix}/", "-c", conf,
                        "-g", "pid logs/trinx.pid;", "-s", "quit"], capture_output=True,
                       text=True, cwd=REPO_ROOT, timeout=10,
                       env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert (r.returncode, r.stderr) == (0, "nginx: [notice] signal process started\n")
    assert server.process is not None
    assert server.process.wait(5) == 0


def test_bind_failure(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = _prefix(tmp_path, port, "pid logs/b.pid;")
        (p / "logs" / "b.pid").write_text("12345\n")  # a running server's, say
        proc = _trinx(p, "-g", "daemon off;")
        assert proc.wait(10) == 1
    # -e stderr: the error log is stderr, so nginx writes its time-stamped lines only
    out = as_console((p / "logs" / "out.txt").read_text())
    assert out == (f"nginx: [emerg] bind() to 127.0.0.1:{port} failed (98: Address already "
                   "in use)\nnginx: [emerg] still could not bind()\n")
    assert (p / "logs" / "b.pid").read_text() == "12345\n"


def test_reload_keeps_old_logs_open_for_requests_in_flight(tmp_path: Path) -> None:
    # a request that started on the old config logs to the old config's error_log when it
    # fails after the reload: the old cycle closes with its last request, not at the switch
    conf = """
load_module tests.modules.srtest;
events {}
http {
    access_log off;
    error_log logs/LOG.log;
    server {
        listen 127.0.0.1:{port};
        location /page { srtest_page; }
        location /s { srtest_sleep; }
    }
}
"""
    with start_trinx(conf.replace("LOG", "old"), tmp_path / "p") as server:
        assert get(server.port, "/zz-first")[0] == 404  # the old log is open and in use
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        slow.sendall(b"GET /page?p=w/s~ms=800|/zz-slow HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        time.sleep(0.2)
        _conf_path(server).write_text(conf.replace("LOG", "new").replace(
            "{port}", str(server.port)))
        os.kill(server.pid, signal.SIGHUP)
        new_log = server.prefix / "logs" / "new.log"
        wait_for(lambda: get(server.port, "/zz-fresh")[0] == 404 and new_log.exists()
                 and "zz-fresh" in new_log.read_text(), what="the new config")
        data = b""
        while chunk := slow.recv(4096):
            data += chunk
        slow.close()
        assert b"404 Not Found" in data
        old_log = server.prefix / "logs" / "old.log"
        wait_for(lambda: "zz-slow" in old_log.read_text(), what="the slow request's error")
        assert "zz-slow" not in new_log.read_text()
