"""add_before_body / add_after_body on a real trinx (nginx alongside where it can run the same
config): slow added documents and slow bodies keep their order and stream, the main body's
own filters (sub_filter) do not touch the added documents, proxied bodies, internal targets,
literal URIs, keep-alive after an addition, and the config errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_config_errors import location_conf_error
from tests.harness import (ServerProcess, http_request, parse_response, parse_responses,
                           srtest_pair)

CONF = """
events {}
http {
    access_log off;
    types { text/html html; text/plain txt; }
    server {
        listen 127.0.0.1:{port};
        root html;
        location /parts/ { internal; }
        location /sub/ { alias html/; add_before_body /parts/hdr.html;
                         add_after_body /parts/ftr.html; sub_filter_once off;
                         sub_filter HDR hdr; sub_filter BODY body; }
        location /up/ { proxy_pass http://{B}/; addition_types text/plain;
                        add_before_body /parts/hdr.html; add_after_body /parts/ftr.html; }
        location /lit/ { alias html/; add_before_body /parts/$uri; }
        location = /slowpart { proxy_pass http://{B}/slow?ms=300; }
        location /slowhdr/ { alias html/; add_before_body /slowpart;
                             add_after_body /parts/ftr.html; }
        location /both/ { alias html/; add_before_body /parts/hdr.html;
                          add_after_body /parts/ftr.html; }
        {TRINX}
    }
}
"""
TRINX_ONLY = """
        location /slowbody { srtest_sleep; addition_types text/plain;
                             add_before_body /parts/hdr.html; add_after_body /parts/ftr.html; }
"""
FILES = {"html/parts/hdr.html": b"HDR", "html/parts/ftr.html": b"FTR",
         "html/p.html": b"BODY", "html/parts/$uri": b"DOLLAR"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess | None]]:
    with srtest_pair(CONF, TRINX_ONLY, tmp_path_factory.mktemp("addition"), FILES) as servers:
        yield servers


def get(server: ServerProcess, target: str) -> tuple[int, bytes]:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    r = parse_response(http_request(server.port, raw, timeout=10))
    return r.status, r.body


def both(pair: tuple[ServerProcess, ServerProcess | None], target: str) -> tuple[int, bytes]:
    trinx, nginx = pair
    got = get(trinx, target)
    if nginx is not None:
        assert get(nginx, target) == got
    return got


def test_main_body_filters_do_not_touch_the_added_documents(
        pair: tuple[ServerProcess, ServerProcess | None]) -> None:
    assert both(pair, "/sub/p.html") == (200, b"HDRbodyFTR")


def test_proxied_chunked_body(pair: tuple[ServerProcess, ServerProcess | None]) -> None:
    assert both(pair, "/up/chunked") == (200, b"HDRone two threeFTR")
    # not 200: no addition
    assert both(pair, "/up/status/404") == (404, b"b 404")


def test_uri_is_literal(pair: tuple[ServerProcess, ServerProcess | None]) -> None:
    assert both(pair, "/lit/p.html") == (200, b"DOLLARBODY")


def test_keepalive_after_an_addition(pair: tuple[ServerProcess, ServerProcess | None]) -> None:
    for server in pair:
        if server is None:
            continue
        raw = (b"GET /both/p.html HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /both/p.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        rs = parse_responses(http_request(server.port, raw, timeout=10))
        assert [(r.status, r.body) for r in rs] == [(200, b"HDRBODYFTR")] * 2


def test_slow_before_document_keeps_its_place(pair: tuple[ServerProcess,
                                                          ServerProcess | None]) -> None:
    t0 = time.monotonic()
    assert both(pair, "/slowhdr/p.html") == (200, b"bBODYFTR")
    assert time.monotonic() - t0 >= 0.3


def test_before_document_streams_ahead_of_a_slow_body(pair: tuple[ServerProcess,
                                                                  ServerProcess | None]
                                                       ) -> None:
    trinx, _ = pair
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=10) as sock:
        sock.sendall(b"GET /slowbody?ms=300&n=3&t=b HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        t0 = time.monotonic()
        data = b""
        while b"HDR" not in data:
            data += sock.recv(65536)
        first = time.monotonic() - t0
        while chunk := sock.recv(65536):
            data += chunk
        total = time.monotonic() - t0
    assert first < 0.5 <= 0.9 <= total, (first, total)
    assert parse_response(data).body == b"HDRbbbFTR"


@pytest.mark.parametrize("directives, message", [
    ("add_before_body /a; add_before_body /b;", '"add_before_body" directive is duplicate'),
    ("add_after_body /a; add_after_body /b;", '"add_after_body" directive is duplicate'),
    ("add_after_body;", 'invalid number of arguments in "add_after_body" directive'),
])
def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str,
                       message: str) -> None:
    assert location_conf_error(tmp_path, capsys, directives) == f"{message} in {{conf}}:1"
