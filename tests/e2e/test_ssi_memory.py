"""SSI memory bounds: a 200 MB page with sparse tags streams through trinx with its resident
memory staying under 100 MB, and a client that reads slowly does not make trinx buffer the
response (issue #4)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.harness import start_trinx

pytestmark = pytest.mark.slow

CONF = """
events {}
http {
    access_log off;
    types { text/html html; }
    server {
        listen 127.0.0.1:{port};
        root html;
        ssi on;
    }
}
"""
BLOCK = b"x" * (64 * 1024 - 26) + b'<!--#echo var="arg_t" -->\n'
COUNT = 200 * 16  # 64 KiB blocks: 200 MiB


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_large_sparse_page_streams_in_bounded_memory(tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    (prefix / "html").mkdir(parents=True)
    with open(prefix / "html/big.html", "wb") as f:
        for _ in range(COUNT):
            f.write(BLOCK)
    with start_trinx(CONF, prefix) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            s.sendall(b"GET /big.html?t=T HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            # a slow reader first: the server must wait for it, not pile the page up
            got = 0
            for _ in range(20):
                got += len(s.recv(65536))
                time.sleep(0.05)
            slow_rss = _rss_kib(server.pid, "VmRSS")
            buf = bytearray(1 << 20)
            tail = b""
            while n := s.recv_into(buf):
                got += n
                tail = (tail + bytes(buf[:n]))[-64:]
        peak = _rss_kib(server.pid, "VmHWM")
    assert got > COUNT * (len(BLOCK) - 24)
    assert tail.endswith(b"T\r\n1\r\n\n\r\n0\r\n\r\n")
    assert slow_rss < 100 * 1024, f"RSS {slow_rss} KiB while the client reads slowly"
    assert peak < 100 * 1024, f"peak RSS {peak} KiB"
