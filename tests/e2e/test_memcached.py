"""memcached_pass against a real memcached from Debian (started here): hits, misses through
error_page, flags and memcached_gzip_flag, key escaping, ranges, a dead server, and the
classic "SSI includes cached fragments" page (reference/upstream.md §10)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.harness import ServerProcess, free_port, http_request, parse_response, start_trinx

MEMCACHED = shutil.which("memcached") or "/usr/bin/memcached"

CONF = """
events {}
http {
    access_log off;
    types { text/html html; text/plain txt; }
    default_type application/octet-stream;
    upstream mc { server 127.0.0.1:{mc}; keepalive 2; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /mc/ { set $memcached_key "$uri"; memcached_pass 127.0.0.1:{mc};
                        memcached_gzip_flag 2; }
        location /frag/ { set $memcached_key "$uri"; memcached_pass mc;
                          error_page 404 = /fallback.html; }
        location /nokey/ { memcached_pass 127.0.0.1:{mc}; }
        location /dead/ { set $memcached_key "$uri"; memcached_pass 127.0.0.1:{dead}; }
        location = /page.html { ssi on; }
    }
}
"""
FILES = {
    "html/page.html": b'<header><!--#include virtual="/frag/head" --></header>'
                      b'<nav><!--#include virtual="/frag/missing" --></nav>'
                      b'<footer><!--#include virtual="/frag/foot" --></footer>',
    "html/fallback.html": b"fallback",
}


def mc_set(port: int, key: str, value: bytes, flags: int = 0) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"set {key} {flags} 0 {len(value)}\r\n".encode() + value + b"\r\n")
        assert s.recv(100) == b"STORED\r\n"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    proc = subprocess.Popen([MEMCACHED, "-p", str(port), "-U", "0", "-l", "127.0.0.1",
                             "-u", "root"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        from tests.backends import dead_port
        conf = (CONF.replace("{mc}", str(port)).replace("{dead}", str(dead_port())))
        with start_trinx(conf, tmp_path_factory.mktemp("mc"), FILES) as server:
            yield server, port
    finally:
        proc.kill()
        proc.wait()


def get(server: ServerProcess, target: str, extra: str = "") -> bytes:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    return http_request(server.port, raw.encode())


def test_hit_and_miss(setup: tuple[ServerProcess, int]) -> None:
    server, port = setup
    mc_set(port, "/mc/a.txt", b"HELLO")
    r = parse_response(get(server, "/mc/a.txt"))
    assert (r.status, r.body, r.header("Content-Type"), r.header("Accept-Ranges")) == \
        (200, b"HELLO", "text/plain", "bytes")
    r = parse_response(get(server, "/mc/none"))
    assert r.status == 404 and b"404 Not Found" in r.body


def test_flags_escaping_and_ranges(setup: tuple[ServerProcess, int]) -> None:
    server, port = setup
    mc_set(port, "/mc/gz", b"zipped", flags=3)
    mc_set(port, "/mc/plain", b"plain", flags=1)
    assert parse_response(get(server, "/mc/gz")).header("Content-Encoding") == "gzip"
    assert parse_response(get(server, "/mc/plain")).header("Content-Encoding") is None
    mc_set(port, "/mc/a%20b", b"spaced")
    assert parse_response(get(server, "/mc/a%20b")).body == b"spaced"
    r = parse_response(get(server, "/mc/a.txt", "Range: bytes=1-2\r\n"))
    assert (r.status, r.body) == (206, b"EL")


def test_missing_key_and_dead_server(setup: tuple[ServerProcess, int]) -> None:
    server, _ = setup
    assert parse_response(get(server, "/nokey/x")).status == 500
    assert 'the "$memcached_key" variable is not set' in server.error_log_text()
    assert parse_response(get(server, "/dead/x")).status == 502


def test_ssi_page_of_cached_fragments(setup: tuple[ServerProcess, int]) -> None:
    server, port = setup
    mc_set(port, "/frag/head", b"HEAD")
    mc_set(port, "/frag/foot", b"FOOT")
    r = parse_response(get(server, "/page.html"))
    assert r.body == b"<header>HEAD</header><nav>fallback</nav><footer>FOOT</footer>"
