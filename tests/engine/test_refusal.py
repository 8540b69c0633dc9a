"""engine.request_head.refusal: what nginx logs for a request head h11 refused (sans-IO; the
messages were read off nginx 1.22, see tests/differential/test_foundation3_diff.py)."""

from __future__ import annotations

import h11
import pytest

from engine.request_head import refusal

CASES = [
    (b"BAD\r\n\r\n", "client sent invalid method", True, "BAD", ""),
    (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", "client sent invalid request", True,
     "GET /a b HTTP/1.1", ""),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n",
     'client sent invalid header line: "X\\x20..."', False, "GET / HTTP/1.1", "x"),
    (b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 'client sent invalid header line: "\\x20..."',
     False, "GET / HTTP/1.1", ""),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
     'client sent unknown "Transfer-Encoding": "gzip"', False, "GET / HTTP/1.1", "x"),
    (b"GET / HTTP/1.1\r\nHost: x\r\ncontent-length: 1\r\nContent-Length: 2\r\n\r\n",
     'client sent duplicate header line: "Content-Length: 2", previous value: '
     '"content-length: 1"', False, "GET / HTTP/1.1", "x"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n",
     'client sent duplicate host header: "HOST: b", previous value: "Host: a"', False,
     "GET / HTTP/1.1", "a"),
    (b"GET / HTTP/1.1\r\nX: 1\r\n\r\n", 'client sent HTTP/1.1 request without "Host" header',
     False, "GET / HTTP/1.1", ""),
]


@pytest.mark.parametrize("head, message, in_line, line, host", CASES)
def test_messages_as_nginx(head: bytes, message: str, in_line: bool, line: str,
                           host: str) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(head)
    with pytest.raises(h11.RemoteProtocolError) as e:
        conn.next_event()
    status = e.value.error_status_hint if e.value.error_status_hint in (414, 494, 501) else 400
    assert refusal(str(e.value), status, head)[:4] == (message, in_line, line, host)


@pytest.mark.parametrize("head, length", [
    (b"BAD\r\n\r\n", 0),
    (b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n", 30),    # before the bad line
    (b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 39),  # through the repeat
    (b"GET /q?z HTTP/1.1\r\n\r\n", 21),                           # the whole head
])
def test_request_length_as_nginx(head: bytes, length: int) -> None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(head)
    with pytest.raises(h11.RemoteProtocolError) as e:
        conn.next_event()
    assert refusal(str(e.value), 400, head).length == length
