"""The trio shell of one connection: reading requests with h11, timeouts, the socket writer.

Theory of operation
-------------------
h11 parses requests (the security-relevant half of HTTP/1.1: framing, chunked bodies, header
syntax); what nginx refuses beyond that, and the Request itself, come from the sans-IO
``engine.request_head``.  Responses are ours: ``engine.http.header_filter`` serialises the
head in nginx's exact header order and ``HttpConnection.write`` frames the body (counting
against Content-Length, or chunked); h11 never hears of them, and each request gets a fresh
h11 connection for what is left in the buffer (pipelining, ``$pipe``).

File regions go out with ``os.sendfile`` when they are large enough to be worth a second
syscall; smaller ones are read and coalesced with the header into one ``send``.

Each connection task owns its socket: a request runs inside it (``engine.http.run_request``),
so cancelling the connection's scope (client gone, fast shutdown) ends everything the request
started.  Listening, accepting and reloads are ``engine.listeners``; a connection picks up
the cycle current when each of its requests starts.
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import os
import traceback
from typing import TYPE_CHECKING, Any

import h11
import trio

from engine.cycle import Cycle, Phase, ServerConf
from engine.http import finalize_bad_request, log_error, run_request
from engine.http_core import HTTP_CORE, CoreLocConf, CoreSrvConf
from engine.request import BadRequest, Buf, Request, parse_target
from engine.request_head import build_request, refusal
from engine.subrequest import SubrequestError
from engine.special import error_page_body, status_line
from engine.util import http_date

if TYPE_CHECKING:
    from engine.listeners import Server

__all__ = ["HttpConnection", "ClientGone"]

SENDFILE_MIN = 64 * 1024  # below this a pread + one send beats header send + sendfile
FLUSH_AT = 64 * 1024


class ClientGone(Exception):
    """The client closed or reset the connection, or a send timed out."""


class ResponseFramingError(Exception):
    """A handler produced a body that disagrees with its Content-Length: the connection is
    closed rather than let the client take a short or overlong body for a complete one."""




class RequestBody:
    """Reads (or discards) a request body from h11 with ``client_body_timeout``."""

    def __init__(self, conn: "HttpConnection", r: Request) -> None:
        self.conn = conn
        self.r = r
        self.received = 0
        self.done = False

    async def read(self, discard: bool = False) -> bytes | None:
        """Next chunk of the body, or None at its end.

        Args:
            discard: the bytes will be dropped; no client_max_body_size check (nginx's
                discarding reader has none).

        Raises:
            BadRequest: invalid framing (400), or a body over client_max_body_size (413).
        """
        if self.done:
            return None
        conn = self.conn
        clcf: CoreLocConf = self.r.loc_conf[HTTP_CORE]
        conn.send_100_continue()
        while True:
            event = await conn.next_event(clcf.client_body_timeout / 1000, body=True)  # type: ignore
            if isinstance(event, h11.Data):
                self.received += len(event.data)
                limit = clcf.client_max_body_size
                if limit and self.received > limit and not discard:  # type: ignore
                    raise BadRequest("client intended to send too large chunked body", 413)
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
                # PAUSED: the request asked to switch protocols (Upgrade), which trinx
                # never does; its body, if any, has ended all the same
                self.done = True
                return None


class HttpConnection:
    """One client connection: reads requests, runs them, writes responses."""

    def __init__(self, server: "Server", sock: socket.socket, number: int,
                 listen_key: tuple[str, int]) -> None:
        self.server = server
        self.number = number
        self.listen_key = listen_key
        try:
            peer = sock.getpeername()
            local = sock.getsockname()
        except OSError:
            peer = local = ("0.0.0.0", 0)
        self.remote_addr, self.remote_port = str(peer[0]), int(peer[1])
        self.server_addr, self.server_port = str(local[0]), int(local[1])
        # nginx's header buffer limits are enforced by _check_incomplete_head and
        # head_too_large; h11's own limit only has to stay out of their way
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        self.head_received = 0
        self.head_limit = 8192
        self.keepalive_timeout = 75000
        self.large_buffers: tuple[int, int] = (4, 8192)
        self.requests = 0
        self.pending: list[Any] = []
        self.aborted = False
        self.responded = False  # the current request's response head is queued
        self.pending_size = 0  # body bytes queued in self.pending since the last flush
        self.flushing = False  # a flush is waiting for the socket
        self.send_timeout = 60.0
        self.sock = sock
        self.timer = trio.CancelScope()
        self.timed_out = ""
        self.yielded = False
        self.chunked = False
        self.remaining = -1
        self.log_action: str | None = None  # nginx's c->log->action (engine.http.log_error)
        # what the client sent since the current request began (its head, for nginx's
        # checks h11 hides, and $request_length), and whether it came with the previous one
        self.received: list[bytes] = []
        self.fed = 0
        self.pipelined = False

    def log(self, level: int, message: str) -> None:
        self.server.error_log.log(level, message)

    # --- reading ---------------------------------------------------------------------------

    async def next_event(self, timeout: float, body: bool = False) -> Any:
        """The next h11 event, reading as needed; raises ClientGone on EOF or timeout.

        Timeouts use the connection's one cancel scope (``self.timer``) whose deadline is
        moved around each wait: a fresh ``move_on_after`` per read measured as a sixth of
        the per-request cost of a small static file.
        """
        conn = self.h11
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self._recv(timeout)
            if not self.fed and data and not body:
                # empty lines before a request line are skipped (nginx's sw_start; h11
                # would call it "no request line received")
                data = data.lstrip(b"\r\n")
                if not data:
                    continue
            conn.receive_data(data)
            self.fed += len(data)
            if not body:
                self.received.append(data)
                self.head_received += len(data)
                if self.head_received > self.head_limit:
                    self._check_incomplete_head()
            if not data and not body and conn.their_state is h11.IDLE:
                raise ClientGone("closed keepalive connection")

    async def _recv(self, timeout: float) -> bytes:
        """Read what the socket has; wait (under the connection's deadline) only if nothing.

        The socket is a plain non-blocking one driven with ``wait_readable``: trio's socket
        wrappers and a deadline per read cost more than the h11 parsing they surround.
        """
        sock = self.sock
        try:
            return sock.recv(65536)
        except BlockingIOError:
            pass
        except OSError:
            raise ClientGone("reset while reading") from None
        timer = self.timer
        timer.deadline = trio.current_time() + timeout
        self.timed_out = "client timed out"
        self.yielded = True
        try:
            while True:
                await trio.lowlevel.wait_readable(sock)
                try:
                    return sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    raise ClientGone("reset while reading") from None
        finally:
            timer.deadline = math.inf

    def _check_incomplete_head(self) -> None:
        """An unfinished request head already over nginx's buffers: 414 for the request line
        (no CRLF yet), 494 for the header block."""
        buf = self.h11.trailing_data[0]
        num, size = self.large_buffers
        if b"\n" not in buf[:size]:
            raise h11.RemoteProtocolError("client sent too long URI", error_status_hint=414)
        if len(buf) > num * size:
            raise h11.RemoteProtocolError("client sent too large request", error_status_hint=494)

    def discard_buffered(self, r: Request) -> bool:
        """nginx's ``ngx_http_discard_request_body`` without waiting: 100-continue unless the
        request is past that (``r.expect_tested``), then drop whatever body bytes are already
        buffered; the rest is read and dropped after the response.

        Returns:
            False if the body's framing is broken (the connection cannot be kept alive).
        """
        if not r.expect_tested:
            r.expect_tested = True
            self.send_100_continue()
        conn = self.h11
        if conn.their_state is not h11.SEND_BODY:
            return True
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return True
                if isinstance(event, h11.EndOfMessage):
                    r.body.done = True
                    return True
        except h11.RemoteProtocolError:
            return False

    def send_100_continue(self) -> None:
        if self.h11.they_are_waiting_for_100_continue:
            self.h11.send(h11.InformationalResponse(status_code=100, headers=[]))
            self.pending.append(b"HTTP/1.1 100 Continue\r\n\r\n")

    # --- the connection loop --------------------------------------------------------------------

    async def serve(self) -> None:
        with trio.CancelScope() as self.timer:
            # subrequests run in this nursery: whatever ends the connection ends them
            async with trio.open_nursery() as self.nursery:
                try:
                    await self._serve()
                except ClientGone as e:
                    self.log(logging.INFO, f"*{self.number} {e}, client: {self.remote_addr}")
                except Exception:
                    self._log_unexpected()
                    if not self.aborted and not self.responded:
                        await self._error_without_request(self.server.cycle, next(iter(
                            self.server.cycle.listens.values()))[0], 500)
                finally:
                    self.nursery.cancel_scope.cancel()
        if self.timer.cancelled_caught and self.timed_out:
            self.log(logging.INFO, f"*{self.number} {self.timed_out}, client: "
                                   f"{self.remote_addr}")
        try:
            trio.lowlevel.notify_closing(self.sock)
        finally:
            self.sock.close()

    async def _serve(self) -> None:
        srv = self.server
        while True:
            cycle = srv.cycle
            servers = cycle.listens.get(self.listen_key) or srv.fallback_servers(self.listen_key)
            default = servers[0]
            cscf: CoreSrvConf = default.srv_conf[HTTP_CORE]
            # the idle wait uses the keepalive_timeout of the previous request's location
            # (nginx's ngx_http_set_keepalive reads r->loc_conf)
            timeout = (cscf.client_header_timeout if self.requests == 0 else
                       self.keepalive_timeout) / 1000  # type: ignore
            if srv.shutting_down:
                return
            self.head_received = 0
            self.large_buffers = cscf.large_client_header_buffers  # type: ignore[assignment]
            self.head_limit = self.large_buffers[1]
            if self.requests:
                # a graceful stop cancels the connection's timer scope while it sits here
                srv.idle_connections.add(self)
            try:
                event = await self.next_event(timeout)  # type: ignore[arg-type]
            except h11.RemoteProtocolError as e:
                srv.idle_connections.discard(self)
                await self._bad_request(cycle, default, e)
                return
            srv.idle_connections.discard(self)
            if isinstance(event, h11.ConnectionClosed):
                return
            if not isinstance(event, h11.Request):
                return
            self.requests += 1
            r, reject = build_request(self, cycle, servers, event)
            r.body = RequestBody(self, r)
            cycle.users += 1
            try:
                if reject:
                    await finalize_bad_request(r, reject)
                    return
                await run_request(r)
            except BadRequest as e:
                if r.header_sent:
                    raise ClientGone(str(e)) from None
                await self._error_without_request(cycle, default, e.status)
                return
            except h11.RemoteProtocolError as e:
                if not r.header_sent:
                    await self._bad_request(cycle, default, e, r)
                return
            except (h11.LocalProtocolError, ResponseFramingError) as e:
                log_error(r, logging.CRITICAL, f"response framing error: {e}")
                return
            finally:
                cycle.release()
            if not self.yielded:
                # a client that pipelines faster than we answer never makes us wait: give
                # the other connections their turn once per request
                await trio.lowlevel.checkpoint()
            self.yielded = False
            if self.aborted or not r.keepalive or srv.shutting_down:
                return
            if not r.done:
                return
            if not await self._discard_body(r):
                return
            clcf: CoreLocConf = r.loc_conf[HTTP_CORE]
            if self.requests >= clcf.keepalive_requests:  # type: ignore[operator]
                return
            self.keepalive_timeout = clcf.keepalive_timeout  # type: ignore[assignment]
            self._next_cycle()

    def _next_cycle(self) -> None:
        """A fresh h11 connection for the next request, fed what the client already sent.

        h11 never hears of our responses (we frame them ourselves), so its server side
        cannot ``start_next_cycle``; a new ``h11.Connection`` costs half of what telling it
        about the response and cycling did.
        """
        data, closed = self.h11.trailing_data
        h = self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        data = bytes(data).lstrip(b"\r\n")  # see next_event
        if data:
            h.receive_data(data)
        if closed:
            h.receive_data(b"")
        self.responded = False
        self.received = [data] if data else []
        self.fed = len(data)
        self.pipelined = bool(data)  # nginx's $pipe: read from what the last one left

    async def _discard_body(self, r: Request) -> bool:
        h = self.h11
        headers = r.headers
        if "content-length" not in headers and "transfer-encoding" not in headers:
            return True  # no body: h11's end of message would take no bytes
        if h.their_state is h11.SEND_BODY:
            # most requests have no body: its end is already parsed, no need to wait
            try:
                while True:
                    event = h.next_event()
                    if event is h11.NEED_DATA or type(event) is h11.EndOfMessage:
                        break
            except h11.RemoteProtocolError:
                return False
        # MUST_CLOSE: h11's view of an HTTP/1.0 request, which nginx may keep alive
        if h.their_state in (h11.DONE, h11.MIGHT_SWITCH_PROTOCOL, h11.MUST_CLOSE):
            return True
        body = r.body
        try:
            while await body.read(discard=True) is not None:
                pass
        except (BadRequest, h11.RemoteProtocolError, ClientGone):
            return False
        await self.flush()
        return self.h11.their_state in (h11.DONE, h11.MUST_CLOSE)

    async def _bad_request(self, cycle: Cycle, server: ServerConf,
                           e: h11.RemoteProtocolError, r: Request | None = None) -> None:
        """Answer what h11 refused; log it and write its access-log line as nginx does (it
        has a request from the first byte on: its log context is what was read of it)."""
        status = 400
        if e.error_status_hint in (414, 494, 501):
            status = e.error_status_hint
        elif e.error_status_hint == 431:
            # nginx: a request line that does not fit is 414, a header block is 494 (a 400)
            status = 494 if b"\r\n" in bytes(self.h11.trailing_data[0]) else 414
        if r is None:
            message, in_line, request_line, host, length = refusal(
                str(e), status, b"".join(self.received))
            r = Request(self, cycle, server)
            r.request_length = length
            r.request_line = request_line
            r.uri = r.method = ""
            if not in_line:  # the request line was read: its URI is known
                parts = request_line.split(" ")
                if len(parts) == 3:
                    r.method, r.request_uri = parts[0], parts[1]
                    try:
                        r.uri, r.args = parse_target(parts[1])
                    except BadRequest:
                        pass
            r.host = host
            if host:
                r.headers = {"host": host}
            self.log_action = ("reading client request line" if in_line else
                               "reading client request headers")
            log_error(r, logging.INFO, message)
        else:  # the body's framing (chunked)
            self.log_action = None
            log_error(r, logging.ERROR, "client sent invalid chunked body")
        code = await self._error_without_request(cycle, server, status, r)
        r.headers_out.status = code
        for fn in cycle.phases.get(Phase.LOG, ()):
            fn(r)

    async def _error_without_request(self, cycle: Cycle, server: ServerConf,
                                     status: int, r: Request | None = None) -> int:
        """An error page when no request could be built: default server's conf, then close.
        Returns the status sent (``r``, if given, counts the bytes)."""
        clcf: CoreLocConf = server.loc_conf[HTTP_CORE]
        body = error_page_body(status, bool(clcf.server_tokens)) or b""
        code = 400 if status in (494, 495, 496, 497) else status
        head = (status_line(code)
                + (b"Server: nginx/1.22.1\r\n" if clcf.server_tokens else b"Server: nginx\r\n")
                + b"Date: " + http_date().encode() + b"\r\n"
                + b"Content-Type: text/html\r\n"
                + b"Content-Length: %d\r\n" % len(body)
                + b"Connection: close\r\n\r\n")
        try:
            self.h11.send(h11.Response(status_code=code, headers=[
                (b"content-length", b"%d" % len(body)), (b"connection", b"close")]))
        except h11.LocalProtocolError:
            pass
        self.pending.append(head + body)
        if r is not None:
            r.bytes_sent, r.body_bytes_sent = len(head), len(body)
            r.header_sent = True
        try:
            await self.flush()
        except ClientGone:
            pass
        return code

    # --- writing ---------------------------------------------------------------------------

    def start_response(self, r: Request, head: bytes, status: int, content_length: int,
                       chunked: bool) -> None:
        """Called by the header filter: queue the header bytes.

        h11 parses requests only: responses are ours to frame (``write`` counts bytes
        against Content-Length and does the chunked encoding) and h11 never hears of them;
        ``_next_cycle`` gives the next request a fresh h11 connection.  Passing each
        response through h11's state machine cost a sixth of a small static request.
        """
        self.responded = True
        self.pending.append(head)
        self.chunked = chunked
        self.remaining = content_length if not r.header_only else 0
        self.send_timeout = r.loc_conf[HTTP_CORE].send_timeout / 1000
        r.bytes_sent += len(head)

    async def write(self, r: Request, chain: list[Buf]) -> None:
        pending = self.pending
        for b in chain:
            n = len(b)
            if n and not r.header_only:
                if self.remaining >= 0:
                    self.remaining -= n
                    if self.remaining < 0:
                        raise ResponseFramingError(
                            f"body longer than its Content-Length by {-self.remaining} bytes")
                if b.file is not None and n >= SENDFILE_MIN and r.loc_conf[HTTP_CORE].sendfile:
                    if self.chunked:
                        pending.append(b"%x\r\n" % n)
                    await self.flush()
                    await self._sendfile(b)
                    if self.chunked:
                        pending.append(b"\r\n")
                else:
                    data = b.data if b.file is None else b.bytes()
                    if self.chunked:
                        pending.append(b"%x\r\n" % n)
                        pending.append(data)
                        pending.append(b"\r\n")
                    else:
                        pending.append(data)
                    self.pending_size += n
                r.body_bytes_sent += n
            if b.last:
                if self.remaining > 0:
                    raise ResponseFramingError(
                        f"body shorter than its Content-Length by {self.remaining} bytes")
                if self.chunked:
                    pending.append(b"0\r\n\r\n")
                r.done = True
                await self.flush()
                return
            if b.flush or self.pending_size >= FLUSH_AT:
                # counted across calls: a filter passing many small chains must still wait
                # for the client once FLUSH_AT bytes are queued (bounded memory)
                await self.flush()

    async def flush_idle(self) -> None:
        """Send what is queued, unless a send is already under way (then that one's writer
        will send the rest): for a request about to wait on its subrequests."""
        if not self.flushing:
            await self.flush()

    async def flush(self) -> None:
        self.pending_size = 0
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            raise ClientGone("connection reset while sending") from None
        if sent == len(data):
            return
        view = memoryview(data)
        timer = self.timer
        self.timed_out = "client timed out while sending response"
        self.yielded = True
        self.flushing = True
        try:
            while sent < len(view):
                timer.deadline = trio.current_time() + self.send_timeout
                await trio.lowlevel.wait_writable(sock)
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    continue
                except OSError:
                    raise ClientGone("connection reset while sending") from None
        finally:
            self.flushing = False
            timer.deadline = math.inf

    async def _sendfile(self, b: Buf) -> None:
        sock = self.sock
        fd = sock.fileno()
        pos, left = b.file_pos, b.file_last - b.file_pos
        assert b.file is not None
        timer = self.timer
        self.timed_out = "client timed out while sending response"
        self.flushing = True
        try:
            while left > 0:
                timer.deadline = trio.current_time() + self.send_timeout
                try:
                    sent = os.sendfile(fd, b.file.fd, pos, left)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                    continue
                except OSError as e:
                    if e.errno in (errno.EPIPE, errno.ECONNRESET):
                        raise ClientGone("connection reset while sending") from None
                    raise
                if sent == 0:
                    raise ClientGone(f'file "{b.file.path}" was truncated while sending')
                pos += sent
                left -= sent
                await trio.lowlevel.checkpoint()
        finally:
            self.flushing = False
            timer.deadline = math.inf

    def abort_response(self, r: Request) -> None:
        """The response to ``r`` cannot be completed: the client must see it fail."""
        self.aborted = True
        pp = r.main.postpone
        if pp is not None:
            pp.cancel()
        if r is not r.main:
            # nginx terminates the main request when a subrequest fails after its header
            self.terminate()

    def terminate(self) -> None:
        """Close the connection now, ending the request and all its subrequests."""
        self.aborted = True
        self.timed_out = ""
        self.timer.cancel()

    def fail_response(self, e: BaseException) -> None:
        """An exception ended a subrequest: log it and close the connection."""
        if isinstance(e, ClientGone):
            self.log(logging.INFO, f"*{self.number} {e}, client: {self.remote_addr}")
        elif not isinstance(e, SubrequestError):  # already logged where it was raised
            self._log_unexpected()
        self.terminate()

    def _log_unexpected(self) -> None:
        # a bug in a handler or filter must cost one connection, never the server
        self.log(logging.CRITICAL + 5, f"*{self.number} unexpected error, client: "
                 f"{self.remote_addr}\n{traceback.format_exc()}")
