"""The I/O shell of engine/upstream.py: connections to upstream peers, their read
timeouts and the keepalive pool.

A proxied request is a handful of syscalls, so this stays thin.  Upstream sockets are plain
non-blocking sockets (``Conn``): each call is tried first and trio waits only when the socket
is not ready; read timeouts are kept by one watchdog task per trio run (``Watchdog``) rather
than a cancel scope per read; a pool grown past ``keepalive`` is trimmed one scheduler pass
later (``_trim``), since under load the connections freed in one pass are taken again by the
requests read in the same pass.  Errors come out as trio.TooSlowError (a timeout) or OSError;
upstream.py turns them into nginx's log lines and retries.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import time
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from engine.upstream import UpstreamConf

__all__ = ["Conn", "Watchdog", "connect", "take_pooled", "give_back", "errno_text"]


class Conn:
    """A connection to a peer: a plain non-blocking socket driven with trio's
    ``wait_readable``/``wait_writable``, trying the call first and waiting (under a cancel
    scope with the deadline) only when the socket is not ready.  trio's SocketStream with a
    ``fail_after`` per call cost about a fifth of a proxied request.  ``send_all`` is what
    a protocol's ``send_body`` writes to; ``timeout`` is the send timeout, restarted by
    each successful write as nginx's."""

    __slots__ = ("sock", "peer_addr", "requests", "idle_since", "timeout", "timed_out")

    def __init__(self, sock: socket.socket, peer_addr: tuple[str, int]) -> None:
        self.sock = sock
        self.peer_addr = peer_addr
        self.requests = 0
        self.idle_since = 0.0
        self.timeout = 60.0
        self.timed_out = False

    async def send_all(self, data: bytes) -> None:
        """Raises trio.TooSlowError (send timeout) or OSError."""
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        view = memoryview(data)
        with trio.CancelScope(deadline=trio.current_time() + self.timeout) as scope:
            while sent < len(view):
                await trio.lowlevel.wait_writable(sock)
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    continue
                scope.deadline = trio.current_time() + self.timeout
        if scope.cancelled_caught:
            raise trio.TooSlowError

    async def receive(self, timeout: float, wait_first: bool = False) -> bytes:
        """What the socket has (b"" at EOF); raises trio.TooSlowError or OSError.
        ``wait_first``: nothing can be there yet (the request was just sent), so skip the
        read that would fail."""
        sock = self.sock
        if not wait_first:
            try:
                return sock.recv(65536)
            except BlockingIOError:
                pass
        watchdog = _watchdog()
        watchdog.add(self, timeout)
        try:
            while True:
                await trio.lowlevel.wait_readable(sock)
                try:
                    return sock.recv(65536)
                except BlockingIOError:
                    continue
        except trio.ClosedResourceError:
            if self.timed_out:
                raise trio.TooSlowError from None
            raise
        finally:
            watchdog.waits.pop(self, None)

    def close(self) -> None:
        self.sock.close()


class Watchdog:
    """Read timeouts of upstream connections without a cancel scope per wait (entering
    one with a deadline cost as much as the rest of the read): one system task per trio
    run sleeps until the earliest deadline and wakes the reader that missed it with
    ``notify_closing`` (the connection is closed after a timeout anyway)."""

    def __init__(self) -> None:
        self.waits: dict[Conn, float] = {}
        self.scope: trio.CancelScope | None = None  # the sleeping task's
        self.wake_at = math.inf
        self.running = False

    def add(self, conn: Conn, timeout: float) -> None:
        deadline = trio.current_time() + timeout
        conn.timed_out = False
        self.waits[conn] = deadline
        if deadline < self.wake_at:
            self.wake_at = deadline
            if not self.running:
                self.running = True
                trio.lowlevel.spawn_system_task(self._run, name="upstream read timeouts")
            elif self.scope is not None:
                self.scope.deadline = deadline

    async def _run(self) -> None:
        while True:
            with trio.CancelScope(deadline=self.wake_at) as self.scope:
                await trio.sleep_forever()
            now = trio.current_time()
            wake_at = math.inf
            for conn, deadline in list(self.waits.items()):
                if deadline <= now:
                    del self.waits[conn]
                    conn.timed_out = True
                    trio.lowlevel.notify_closing(conn.sock)
                elif deadline < wake_at:
                    wake_at = deadline
            self.wake_at = wake_at


_WATCHDOG: trio.lowlevel.RunVar[Watchdog] = trio.lowlevel.RunVar("upstream_watchdog")


def _watchdog() -> Watchdog:
    try:
        return _WATCHDOG.get()
    except LookupError:
        w = Watchdog()
        _WATCHDOG.set(w)
        return w


def take_pooled(us: UpstreamConf, addr: tuple[str, int]) -> Conn | None:
    """The most recently freed idle connection to ``addr`` (expired ones closed on the way)."""
    now = time.monotonic()
    pool = us.pool
    for i in range(len(pool) - 1, -1, -1):
        conn = pool[i]
        if now - conn.idle_since > us.keepalive_timeout:
            del pool[i]
            conn.close()
            continue
        if conn.peer_addr == addr:
            del pool[i]
            return conn  # type: ignore[no-any-return]
    return None


def give_back(us: UpstreamConf, conn: Conn) -> None:
    """A connection whose response was read whole goes back to the group's pool."""
    conn.requests += 1
    if conn.requests >= us.keepalive_requests:
        conn.close()
        return
    conn.idle_since = time.monotonic()
    us.pool.append(conn)
    if len(us.pool) > us.keepalive and not us.trimming:
        us.trimming = True
        trio.lowlevel.spawn_system_task(_trim, us)


async def _trim(us: UpstreamConf) -> None:
    """Close the least recently used idle connections beyond ``keepalive``, one scheduler
    pass after the pool grew past it.  Under load the connections of one pass come back
    together and the requests read in the same pass take them again a moment later;
    evicting at once, as nginx does handling one event at a time, closed and reopened
    connections for close to half of the requests with 50 in flight."""
    await trio.lowlevel.checkpoint()
    us.trimming = False
    pool = us.pool
    while len(pool) > us.keepalive:
        pool.pop(0).close()


async def connect(addr: tuple[str, int], timeout: float) -> socket.socket:
    """A connected non-blocking socket; raises trio.TooSlowError or OSError."""
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect(addr)
        except BlockingIOError:
            # a loopback or LAN handshake is usually over by now: ask without waiting
            poll = select.poll()
            poll.register(sock, select.POLLOUT)
            if not poll.poll(0):
                with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
                    await trio.lowlevel.wait_writable(sock)
                if scope.cancelled_caught:
                    raise trio.TooSlowError from None
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err)) from None
    except BaseException:
        sock.close()
        raise
    return sock


def errno_text(e: BaseException) -> str:
    """``104: Connection reset by peer``: the errno part of nginx's ``recv() failed (...)``."""
    cause = e.__cause__ or e
    if isinstance(cause, OSError) and cause.errno:
        return f"{cause.errno}: {cause.strerror}"
    return f"{errno.ECONNRESET}: Connection reset by peer"
