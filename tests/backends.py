"""Real HTTP backends for upstream tests: h11 servers on loopback, one thread per connection.

A ``Backend`` records every request it saw (method, target, version, headers in order,
body) and every connection it accepted, and answers according to the request path:

- ``/status/NNN``    that status, body ``<name> NNN``
- ``/slow?ms=N``     waits N ms before the header
- ``/invalid``       a response that is not HTTP
- ``/reset``         closes the connection without answering
- ``/hang``          never answers
- ``/midbody``       Content-Length 1000, 10 bytes, then closes
- ``/chunked``       a chunked body in three pieces
- ``/big?n=N``       N bytes of body
- ``/accel?to=URI``  ``X-Accel-Redirect: URI`` with a Set-Cookie
- anything else      200 ``<name>`` (plain text), with ``X-Backend: <name>``

Usable from tests and benchmarks alike; imports nothing from pytest.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import h11

__all__ = ["Backend", "Seen", "dead_port"]


@dataclass
class Seen:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Backend:
    name: str = "b"
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    _sock: socket.socket | None = None
    _stop: bool = False

    def start(self) -> "Backend":
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self._sock = s
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop = True
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> "Backend":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        h = h11.Connection(h11.SERVER)
        try:
            while True:
                req, body = self._read_request(conn, h)
                if req is None:
                    return
                if not self._answer(conn, h, req, body):
                    return
                if h.our_state is h11.MUST_CLOSE or h.their_state is h11.MUST_CLOSE:
                    return
                try:
                    h.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (OSError, h11.ProtocolError):
            return
        finally:
            conn.close()

    def _read_request(self, conn: socket.socket, h: h11.Connection
                      ) -> tuple[h11.Request | None, bytes]:
        req, body = None, b""
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = conn.recv(65536)
                h.receive_data(data)
                if not data and req is None:
                    return None, b""
                continue
            if isinstance(event, h11.Request):
                req = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return req, body
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    def _answer(self, conn: socket.socket, h: h11.Connection, req: h11.Request,
                body: bytes) -> bool:
        target = req.target.decode("latin-1")
        self.seen.append(Seen(req.method.decode(), target, req.http_version.decode(),
                              [(n.decode(), v.decode()) for n, v in req.headers.raw_items()],
                              body))
        path, _, query = target.partition("?")
        args = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if path == "/reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            return False
        if path == "/hang":
            time.sleep(30)
            return False
        if path == "/invalid":
            conn.sendall(b"this is not HTTP\r\n\r\n")
            return False
        if path == "/slow":
            time.sleep(int(args.get("ms", "1000")) / 1000)
        status, extra, payload = 200, [("X-Backend", self.name)], self.name.encode()
        if path.startswith("/status/"):
            status = int(path[8:])
            payload = f"{self.name} {status}".encode()
        elif path == "/big":
            payload = b"z" * int(args.get("n", "100000"))
        elif path == "/accel":
            extra = [("X-Accel-Redirect", args.get("to", "/")), ("Set-Cookie", "k=v")]
        elif path == "/midbody":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
            return False
        if path == "/chunked":
            send = h.send(h11.Response(status_code=200, headers=[
                ("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]))
            conn.sendall(send)
            for piece in (b"one ", b"two ", b"three"):
                conn.sendall(h.send(h11.Data(data=piece)))
            conn.sendall(h.send(h11.EndOfMessage()))
            return True
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(payload))),
                   *extra]
        # One write, as real servers do: a header and a body in two small writes would
        # meet Nagle and the reader's delayed ACK (40 ms on Linux) on a reused connection.
        out = h.send(h11.Response(status_code=status, headers=headers))
        if req.method != b"HEAD":
            out += h.send(h11.Data(data=payload))
        conn.sendall(out + h.send(h11.EndOfMessage()))
        return True


def dead_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)
