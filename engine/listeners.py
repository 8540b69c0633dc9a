"""The listening side of the trio shell: listening sockets, accept loops, reloads that bind
new addresses and drop old ones, and graceful or fast shutdown.  Each accepted socket becomes
an ``engine.server.HttpConnection`` task in the connections' nursery, so cancelling that
nursery ends every request and everything it started.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

import trio

from engine.cycle import Cycle, ServerConf
from engine.log import ErrorLog
from engine.server import HttpConnection

__all__ = ["Server"]


def _listen_socket(addr: str, port: int) -> socket.socket:
    """A non-blocking listening socket (plain, so that worker processes could share it)."""
    host = "" if addr in ("0.0.0.0", "*") else addr
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(511)
    except OSError as e:
        sock.close()
        shown = f"[{addr}]" if ":" in addr else addr
        raise OSError(e.errno, f"bind() to {shown}:{port} failed ({e.errno}: {e.strerror})"
                      ) from None
    sock.setblocking(False)
    return sock


def _close_socket(sock: socket.socket) -> None:
    trio.lowlevel.notify_closing(sock)
    sock.close()


class Server:
    """Listeners and connections of one process; survives reloads (swaps ``cycle``)."""

    def __init__(self, cycle: Cycle, error_log: ErrorLog) -> None:
        self.cycle = cycle
        self.error_log = error_log
        self.shutting_down = False
        self.listeners: dict[tuple[str, int], list[socket.socket]] = {}
        self.connections = 0
        self._numbers = 0
        self._conn_nursery: trio.Nursery | None = None
        self._accept_scopes: dict[tuple[str, int], trio.CancelScope] = {}
        self._stopped = trio.Event()
        self.idle_connections: set[HttpConnection] = set()

    def next_number(self) -> int:
        """The next connection number (``$connection``, the ``*N`` of error-log lines):
        accepted and upstream connections share the sequence, as in nginx."""
        self._numbers += 1
        return self._numbers

    def fallback_servers(self, key: tuple[str, int]) -> list[ServerConf]:
        """A listener removed by a reload still serves its in-flight keep-alive requests."""
        return next(iter(self.cycle.listens.values()))

    async def open_listeners(self, cycle: Cycle) -> None:
        """Bind every address of ``cycle`` not bound yet.

        Raises:
            OSError: with nginx's message, ``bind() to 127.0.0.1:80 failed (98: ...)``.
        """
        for key in cycle.listens:
            if key not in self.listeners:
                self.listeners[key] = [_listen_socket(*key)]

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self.open_listeners(self.cycle)
        async with trio.open_nursery() as conns:
            self._conn_nursery = conns
            async with trio.open_nursery() as accepts:
                for key in list(self.listeners):
                    accepts.start_soon(self._accept_loop, key)
                self._accepts = accepts
                task_status.started(self)
                await self._stopped.wait()
                accepts.cancel_scope.cancel()
            for lst in self.listeners.values():
                for lsock in lst:
                    _close_socket(lsock)

    async def _accept_loop(self, key: tuple[str, int]) -> None:
        with trio.CancelScope() as scope:
            self._accept_scopes[key] = scope
            async with trio.open_nursery() as n:
                for lsock in self.listeners[key]:
                    n.start_soon(self._accept_one_listener, lsock, key)

    async def _accept_one_listener(self, lsock: socket.socket, key: tuple[str, int]) -> None:
        assert self._conn_nursery is not None
        while True:
            try:
                sock, _ = lsock.accept()
            except BlockingIOError:
                await trio.lowlevel.wait_readable(lsock)
                continue
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.error_log.log(logging.CRITICAL, f"accept() failed ({e})")
                    await trio.sleep(0.1)
                    continue
                raise
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn_nursery.start_soon(self._handle, sock, self.next_number(), key)
            await trio.lowlevel.checkpoint()

    async def _handle(self, sock: socket.socket, number: int, key: tuple[str, int]) -> None:
        self.connections += 1
        try:
            await HttpConnection(self, sock, number, key).serve()
        finally:
            self.connections -= 1

    async def reload(self, cycle: Cycle) -> None:
        """Switch to ``cycle``: bind its new addresses, drop listeners it no longer has."""
        await self.open_listeners(cycle)
        old = self.cycle
        self.cycle = cycle
        for key in list(self.listeners):
            if key not in cycle.listens:
                scope = self._accept_scopes.pop(key, None)
                if scope:
                    scope.cancel()
                for lsock in self.listeners.pop(key):
                    _close_socket(lsock)
        for key in cycle.listens:
            if key not in self._accept_scopes:
                self._accepts.start_soon(self._accept_loop, key)
        old.retire()  # its log files stay open for the requests still running on it

    def stop_accepting(self) -> None:
        """Graceful stop: no new connections; idle keep-alive connections close now."""
        self.shutting_down = True
        self._stopped.set()
        for conn in self.idle_connections:
            conn.timed_out = "closing keepalive connection for shutdown"
            conn.timer.cancel()

    def cancel_connections(self) -> None:
        if self._conn_nursery is not None:
            self._conn_nursery.cancel_scope.cancel()
