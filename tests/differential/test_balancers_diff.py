"""Load balancers through proxy_pass: trinx and Debian's nginx proxying to the same three
recording backends give the same peer for each request (hash, hash consistent, ip_hash,
least_conn with a busy peer), and configuration errors as nginx reports them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.harness import (NGINX_BIN, ServerProcess, http_request, parse_response, start_nginx,
                           start_trinx)

pytestmark = pytest.mark.differential

CONF = """
events {}
http {
    access_log off;
    upstream h { hash $arg_k; server {A}; server {B}; server {C} weight=2; }
    upstream hc { hash $arg_k consistent; server {A}; server {B}; server {C} weight=2; }
    upstream ip { ip_hash; server {A}; server {B}; server {C} weight=2; }
    upstream lc { least_conn; server {A}; server {B}; }
    server {
        listen 127.0.0.1:{port};
        location /h/ { proxy_pass http://h/; }
        location /hc/ { proxy_pass http://hc/; }
        location /ip/ { proxy_pass http://ip/; }
        location /lc/ { proxy_pass http://lc/; }
    }
}
"""
KEYS = ["a", "b", "c", "user2", "hello", "12345", "x", "key7", "", "zz", "q1", "long-key-99"]


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[Backend, Backend, Backend]]:
    with Backend("a") as a, Backend("b") as b, Backend("c") as c:
        yield a, b, c


def conf(bk: tuple[Backend, Backend, Backend]) -> str:
    return (CONF.replace("{A}", bk[0].address).replace("{B}", bk[1].address)
            .replace("{C}", bk[2].address))


def body(server: ServerProcess, target: str) -> bytes:
    raw = f"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode()
    return parse_response(http_request(server.port, raw, timeout=10)).body


@pytest.mark.parametrize("where", ["h", "hc", "ip"])
def test_same_peers_as_nginx(backends: tuple[Backend, Backend, Backend], tmp_path: Path,
                             where: str) -> None:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    seqs = []
    for start in (start_nginx, start_trinx):
        with start(conf(backends), tmp_path / start.__name__) as server:
            seqs.append([body(server, f"/{where}/?k={k}") for k in KEYS])
    assert seqs[1] == seqs[0]


def test_least_conn_avoids_the_busy_peer(backends: tuple[Backend, Backend, Backend],
                                         tmp_path: Path) -> None:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    seqs = []
    for start in (start_nginx, start_trinx):
        with start(conf(backends), tmp_path / start.__name__) as server:
            slow = threading.Thread(target=body, args=(server, "/lc/slow?ms=800"))
            slow.start()
            time.sleep(0.2)
            seqs.append([body(server, "/lc/") for _ in range(4)])
            slow.join()
    assert seqs[1] == seqs[0] and len(set(seqs[0])) == 1
