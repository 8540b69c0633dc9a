"""The ceiling for any trio + h11 server: answer every request with the same 1 KiB 200.

No config, no routing, no files, no logging: one trio task per connection, one
h11.Connection per task, keep-alive for as long as the client wants it. What trinx does
beyond this (locations, filters, the static handler) is the cost bench/static.py measures.

It still does what a correct HTTP/1.1 server must, so the comparison is fair: reads each
request through h11 to its end (a body is read and discarded), sends Date and
Content-Length, closes when h11 says the connection must close, and answers a protocol
error with h11's suggested status.

Usage: python bench/bare_server.py [--host 127.0.0.1] [--port 8081]
SIGQUIT or SIGTERM stop it (the harness stops servers with SIGQUIT, whose default action
would dump core).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from email.utils import formatdate
from functools import partial
from http import HTTPStatus

import h11
import trio

BODY = (b"0123456789abcdef" * 63 + b"0123456789abcde\n")[:1024]
assert len(BODY) == 1024
MAX_RECV = 65536

# Built once: h11 would accept a fresh list per response, but the bench measures the
# server's floor, and only Date changes.
_STATIC_HEADERS = [
    (b"Server", b"trinx-bare"),
    (b"Content-Type", b"text/plain"),
    (b"Content-Length", str(len(BODY)).encode()),
]


class _DateCache:
    """The Date header value, formatted at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        """The current HTTP-date (RFC 9110 section 5.6.7) as bytes."""
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


_date = _DateCache()


async def handle_connection(stream: trio.SocketStream) -> None:
    """Serve one client connection until it closes or breaks HTTP/1.1."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                await _send_error(stream, conn, exc.error_status_hint)
                return
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(MAX_RECV))
            elif isinstance(event, h11.Request):
                await stream.send_all(_respond(conn, head_only=event.method == b"HEAD"))
            elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                # The response went out at the Request, so both sides are DONE here,
                # unless one must close (HTTP/1.0, "Connection: close"): then h11 forbids
                # another cycle.
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
            # Data events (a request body) are read and dropped: the answer is fixed.
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return  # the client went away; nothing to tell it
    finally:
        await _close(stream)


def _respond(conn: h11.Connection, *, head_only: bool) -> bytes:
    """The bytes of the fixed response, with h11's framing and state updated.

    For HEAD, h11 frames the response as having no body and refuses Data.
    """
    headers = [*_STATIC_HEADERS, (b"Date", _date.value())]
    head = conn.send(h11.Response(status_code=200, headers=headers, reason=b"OK"))
    body = b"" if head_only else conn.send(h11.Data(data=BODY))
    tail = conn.send(h11.EndOfMessage())
    assert head is not None and body is not None and tail is not None  # not ConnectionClosed
    return head + body + tail


async def _send_error(stream: trio.SocketStream, conn: h11.Connection, status: int) -> None:
    """Answer a request h11 refused, if h11 still lets us send a response."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    headers = [(b"Content-Length", b"0"), (b"Connection", b"close"), (b"Date", _date.value())]
    reason = HTTPStatus(status).phrase.encode()
    data = conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
    tail = conn.send(h11.EndOfMessage())
    await stream.send_all((data or b"") + (tail or b""))


async def _close(stream: trio.SocketStream) -> None:
    """Close without letting cancellation interrupt it."""
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        await stream.aclose()


async def serve(host: str, port: int) -> None:
    """Serve on host:port until SIGQUIT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGQUIT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trio.serve_tcp, handle_connection, port, host=host))
            print(f"bare_server: listening on http://{host}:{port}/", file=sys.stderr)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str]) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description="fixed-response trio + h11 server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    try:
        trio.run(serve, args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
