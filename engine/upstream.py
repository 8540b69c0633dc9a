"""Upstreams: groups of servers, the peer API with smooth weighted round robin, a keepalive
pool, and the protocol-agnostic request driver that proxy (and memcached) run on.

Theory of operation
-------------------
``upstream name { server ...; keepalive N; }`` blocks (module ``UPSTREAM``) and the implicit
groups that ``proxy_pass http://host:port`` makes are ``UpstreamConf`` objects.  A balancer
(nginx's six pieces, reference/upstream.md §5-§7) is registered on the group: ``flags``
(legal ``server`` parameters), ``init_upstream`` once per config, ``init_peer`` once per
request giving a ``PeerState`` with ``tries``, ``get()`` and ``free(peer, failed)``.
``RoundRobin`` is nginx's smooth weighted algorithm with backup servers, ``down``,
``max_fails``/``fail_timeout`` and ``max_conns``; other balancers reuse its peer state.

``run_upstream`` drives one request through a ``Protocol`` object shaped like nginx's
callbacks: ``create_request`` (bytes to send), ``reinit_request`` (before a retry),
``process_header`` (fed bytes as they come; resumable), ``start_body``/``input_filter``
(body bytes to buffers), ``finalize_request``.  Each attempt: the balancer picks a peer, a
cached keepalive connection to it is reused or a new one opened (``*_connect_timeout``),
the request is sent (``*_send_timeout``) and the header read (``*_read_timeout`` per
read).  Failures before the header reached the client are retried on the next peer as
``*_next_upstream`` allows (bounded by tries and ``*_next_upstream_timeout``), else they
end as 502 or 504 with nginx's log lines.  The body streams to ``api.output`` with
backpressure; a failure there ends the client response as failed (never a short body
passed off as complete).  A connection goes back to the pool only after a complete
response; a cancelled request closes it.  The header is sent to the client as soon as the
driver would wait for more body; body bytes wait in the output buffers (flushed when the
upstream closes early, dropped on a timeout), as with nginx's proxy_buffering.

Error-log lines are nginx's: a bare message, the connection's action set as each stage
starts (``connecting to upstream``, ``sending request to upstream``, ``reading response
header from upstream``, ``reading upstream``; ``sending to client`` once the run is over,
as ngx_http_upstream_finalize_request) and the peer's URL as ``, upstream: "..."``.

The sockets, their read timeouts and the keepalive pool are the I/O shell, in
engine/upstream_io.py (``Conn``, ``connect``, ``take_pooled``/``give_back``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol as TypingProtocol

import trio

from engine.conf import ConfigError
from engine.cycle import ConfContext
from engine.http import log_error, output, set_log_action, set_log_upstream
from engine.module import Args, ConfLevel, Ctx, Directive, Module, parse_time
from engine.request import ERROR, OK, Buf, Request
from engine.upstream_io import Conn, connect, errno_text, give_back, take_pooled

__all__ = ["ServerSpec", "Peer", "UpstreamConf", "Balancer", "PeerState", "RoundRobin",
           "RoundRobinState", "UPSTREAM", "current_upstream", "find_upstream",
           "implicit_upstream", "upstream_add", "run_upstream", "UpstreamSettings", "UpstreamProtocol",
           "Failure", "runtime_upstream", "TRACK_KEY"]

# the ``server`` parameters a balancer may refuse (its ``flags`` are those it takes)
_SERVER_PARAMS = frozenset(["weight", "max_fails", "fail_timeout", "backup", "down",
                            "max_conns"])


@dataclass
class ServerSpec:
    """One ``server`` line of an upstream block."""

    name: str
    addrs: list[tuple[str, int]]
    weight: int = 1
    max_fails: int = 1
    fail_timeout: float = 10.0
    backup: bool = False
    down: bool = False
    max_conns: int = 0


class Peer:
    """One address of a server and its runtime state (``ngx_http_upstream_rr_peer_t``)."""

    __slots__ = ("name", "sockaddr", "server", "weight", "effective_weight", "current_weight",
                 "conns", "max_conns", "fails", "max_fails", "fail_timeout", "accessed",
                 "checked", "down")

    def __init__(self, spec: ServerSpec, addr: tuple[str, int]) -> None:
        self.name = f"{addr[0]}:{addr[1]}" if ":" not in addr[0] else f"[{addr[0]}]:{addr[1]}"
        self.sockaddr = addr
        self.server = spec.name
        self.weight = self.effective_weight = spec.weight
        self.current_weight = 0
        self.conns = 0
        self.max_conns = spec.max_conns
        self.fails = 0
        self.max_fails = spec.max_fails
        self.fail_timeout = spec.fail_timeout
        self.accessed = 0.0
        self.checked = 0.0
        self.down = spec.down

    def available(self, now: float) -> bool:
        if self.down or (self.max_conns and self.conns >= self.max_conns):
            return False
        return not (self.max_fails and self.fails >= self.max_fails
                    and now - self.checked <= self.fail_timeout)


class PeerState(TypingProtocol):
    tries: int

    def get(self) -> Peer | None: ...

    def free(self, peer: Peer, failed: bool) -> None: ...


class Balancer(TypingProtocol):
    name: str
    flags: frozenset[str]

    def init_upstream(self, cf: ConfContext, us: "UpstreamConf") -> None: ...

    def init_peer(self, r: Request, us: "UpstreamConf") -> PeerState: ...


@dataclass
class UpstreamConf:
    """An ``upstream`` block, or the implicit group of a ``proxy_pass host:port``."""

    name: str
    file: str = ""
    line: int = 0
    servers: list[ServerSpec] = field(default_factory=list)
    balancer: Any = None
    flags: frozenset[str] = _SERVER_PARAMS
    implicit: bool = False
    keepalive: int = 0
    keepalive_timeout: float = 60.0
    keepalive_requests: int = 1000
    data: Any = None
    pool: list[Any] = field(default_factory=list)  # idle connections, oldest first
    trimming: bool = False  # a _trim of the pool is scheduled


# --- round robin ----------------------------------------------------------------------------

class RRPeers:
    __slots__ = ("primary", "backup", "single", "tries", "total_weight")

    def __init__(self, primary: list[Peer], backup: list[Peer]) -> None:
        self.primary, self.backup = primary, backup
        self.single = len(primary) == 1 and not backup
        self.tries = sum(1 for p in primary + backup if not p.down)  # ``down`` is static
        self.total_weight = sum(p.weight for p in primary)

    def weighted(self, w: int) -> Peer:
        """nginx's walk of the hash balancers: subtract the primary peers' weights in
        config order until ``w < weight``."""
        for p in self.primary:
            if w < p.weight:
                return p
            w -= p.weight
        return self.primary[-1]


class RoundRobin:
    """nginx's default balancer (``ngx_http_upstream_round_robin``)."""

    name = "round_robin"
    flags = _SERVER_PARAMS

    def init_upstream(self, cf: ConfContext | None, us: UpstreamConf) -> None:
        primary, backup = [], []
        for spec in us.servers:
            for addr in spec.addrs:
                (backup if spec.backup else primary).append(Peer(spec, addr))
        us.data = RRPeers(primary, backup)

    def init_peer(self, r: Request, us: UpstreamConf) -> "RoundRobinState":
        return RoundRobinState(us.data)


class RoundRobinState:
    """Per request: the peers tried, and whether the backups are in use."""

    __slots__ = ("peers", "tried", "backup", "tries")

    def __init__(self, peers: RRPeers) -> None:
        self.peers = peers
        self.tried: set[int] = set()
        self.backup = False
        self.tries = peers.tries

    def get(self) -> Peer | None:
        now = time.monotonic()
        data = self.peers
        if data.single:
            p = data.primary[0]
            if p.down or (p.max_conns and p.conns >= p.max_conns):
                return None
            best: Peer | None = p
        else:
            best = self._pick(data.backup if self.backup else data.primary, now)
            if best is None and not self.backup and data.backup:
                self.backup, self.tried = True, set()
                best = self._pick(data.backup, now)
            if best is None:
                return None
        assert best is not None
        return self.take(best, now)

    def _pick(self, peers: list[Peer], now: float) -> Peer | None:
        return self.smooth(p for p in peers if self.usable(p, now))

    @staticmethod
    def smooth(peers: Iterable[Peer]) -> Peer | None:
        """nginx's smooth weighted choice among ``peers`` (each already found usable)."""
        total, best = 0, None
        for p in peers:
            p.current_weight += p.effective_weight
            total += p.effective_weight
            if p.effective_weight < p.weight:
                p.effective_weight += 1
            if best is None or p.current_weight > best.current_weight:
                best = p
        if best is not None:
            best.current_weight -= total
        return best

    def usable(self, p: Peer, now: float) -> bool:
        return id(p) not in self.tried and p.available(now)

    def take(self, p: Peer, now: float) -> Peer:
        """``p`` is this request's peer now: tried, one more connection, and the start
        of a new fail_timeout window when the last one is over."""
        self.tried.add(id(p))
        p.conns += 1
        if now - p.checked > p.fail_timeout:
            p.checked = now
        return p

    def free(self, peer: Peer, failed: bool) -> None:
        peer.conns -= 1
        self.tries -= 1
        if self.peers.single:
            return
        now = time.monotonic()
        if failed:
            peer.fails += 1
            peer.accessed = peer.checked = now
            if peer.max_fails:
                peer.effective_weight = max(0, peer.effective_weight
                                            - peer.weight // peer.max_fails)
        elif peer.accessed < peer.checked:
            peer.fails = 0


# --- the upstream block -----------------------------------------------------------------------

@dataclass
class UpstreamMainConf:
    upstreams: dict[str, UpstreamConf] = field(default_factory=dict)  # lowercased names
    implicit: dict[tuple[str, int], UpstreamConf] = field(default_factory=dict)
    current: UpstreamConf | None = None
    # what upstream_add was asked for: (host, port or None, default port, bind, file, line)
    pending: list[tuple[str, int | None, int, Callable[[UpstreamConf], None], str, int]] = \
        field(default_factory=list)

    def merge(self, parent: Any) -> None:
        pass

    def init(self, cf: ConfContext) -> None:
        """The http block is read: bind every ``upstream_add``, as nginx's
        ngx_http_upstream_init_main_conf resolves implicit groups (before any merge)."""
        for host, port, default_port, bind, file, line in self.pending:
            us = self.upstreams.get(host.lower())
            if us is not None and port is not None:
                raise ConfigError(f'upstream "{host}" may not have port {port}', file, line)
            if us is None:
                try:
                    us = implicit_upstream(cf, host, default_port if port is None else port)
                except ConfigError as e:
                    raise ConfigError(e.message, file, line) from None
            bind(us)
        self.pending.clear()


def current_upstream(cf: ConfContext) -> UpstreamConf:
    """The ``upstream`` block being parsed (for balancer directives)."""
    us = cf.cycle.main_conf[UPSTREAM].current
    if us is None:
        raise cf.error("not in an upstream block")
    return us  # type: ignore[no-any-return]


def upstream_add(cf: ConfContext, host: str, port: int | None, default_port: int,
                 bind: Callable[[UpstreamConf], None]) -> None:
    """nginx's ``ngx_http_upstream_add`` for a ``*_pass`` directive: once the http block is
    read, ``bind`` gets the ``upstream`` block called ``host`` (any case; it may come later
    in the file, and then the directive may not name a port), else the single-server group
    of ``host`` and ``port`` (``default_port`` when None); a host that does not resolve is
    an error at the directive's file:line."""
    cf.cycle.main_conf[UPSTREAM].pending.append((host, port, default_port, bind, cf.file,
                                                 cf.line))


def find_upstream(cycle: Any, name: str) -> UpstreamConf | None:
    """The ``upstream`` block called ``name``, compared without case as nginx does."""
    return cycle.main_conf[UPSTREAM].upstreams.get(name.lower())  # type: ignore[no-any-return]


def implicit_upstream(cf: ConfContext, host: str, port: int) -> UpstreamConf:
    """The group a ``proxy_pass http://host:port`` makes (resolved now, as nginx)."""
    umcf: UpstreamMainConf = cf.cycle.main_conf[UPSTREAM]
    us = umcf.implicit.get((host, port))
    if us is None:
        us = umcf.implicit[(host, port)] = _single_server(host, port,
                                                          _resolve(cf, host, port))
    return us


_RUNTIME: dict[tuple[str, int], UpstreamConf] = {}


async def runtime_upstream(host: str, port: int) -> UpstreamConf:
    """The group for a host:port known only at run time (``proxy_pass http://$backend``):
    resolved by the system resolver, cached for the process.

    Raises:
        OSError: the name does not resolve.
    """
    us = _RUNTIME.get((host, port))
    if us is None:
        infos = await trio.socket.getaddrinfo(host.strip("[]"), port,
                                              type=socket.SOCK_STREAM)
        us = _RUNTIME[(host, port)] = _single_server(host, port, _addrs(infos))
    return us


def _single_server(host: str, port: int, addrs: list[tuple[str, int]]) -> UpstreamConf:
    """The round-robin group of one ``host:port``, resolved to ``addrs``."""
    name = f"{host}:{port}"
    us = UpstreamConf(name=name, servers=[ServerSpec(name, addrs)], implicit=True,
                      balancer=RoundRobin())
    us.balancer.init_upstream(None, us)
    return us


def _resolve(cf: ConfContext, host: str, port: int) -> list[tuple[str, int]]:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise cf.error(f'host not found in upstream "{host}:{port}"') from None
    return _addrs(infos)


def _addrs(infos: list[Any]) -> list[tuple[str, int]]:
    """getaddrinfo's addresses, each once, in its order."""
    return list(dict.fromkeys((str(i[4][0]), int(i[4][1])) for i in infos))


def _upstream_block(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    umcf: UpstreamMainConf = cf.cycle.main_conf[UPSTREAM]
    name = cf.args[1]
    if name.lower() in umcf.upstreams:
        raise cf.error(f'duplicate upstream "{name}"')
    us = UpstreamConf(name=name, file=cf.file or "", line=cf.line or 0, balancer=RoundRobin())
    umcf.upstreams[name.lower()] = us
    umcf.current = us
    try:
        cf.parse_block(Ctx.UPS)
    finally:
        umcf.current = None
    if not us.servers:
        raise cf.error("no servers are inside upstream")
    if all(s.backup for s in us.servers):
        raise cf.error(f'no servers in upstream "{name}"')
    us.balancer.init_upstream(cf, us)


def _server(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    us = current_upstream(cf)
    address = cf.args[1]
    spec = ServerSpec(address, [])
    for word in cf.args[2:]:
        key, eq, value = word.partition("=")
        if key not in us.flags and key in _SERVER_PARAMS:
            raise cf.error(f'balancing method does not support parameter "{word}"')
        if key == "weight" and eq and value.isdigit() and int(value) > 0:
            spec.weight = int(value)
        elif key == "max_fails" and eq and value.isdigit():
            spec.max_fails = int(value)
        elif key == "max_conns" and eq and value.isdigit():
            spec.max_conns = int(value)
        elif key == "fail_timeout" and eq and (
                ms := parse_time(value, is_sec=True)) is not None:
            spec.fail_timeout = ms / 1000
        elif word == "backup":
            spec.backup = True
        elif word == "down":
            spec.down = True
        else:
            raise cf.error(f'invalid parameter "{word}"')
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        host, port = address, "80"
    if host.startswith("unix:"):
        raise cf.error('unix domain sockets are not supported by trinx in "server"')
    spec.addrs = _resolve(cf, host, int(port))
    us.servers.append(spec)


def _keepalive(cf: ConfContext, cmd: Directive, conf: Any) -> None:
    us = current_upstream(cf)
    value = cf.args[1]
    if cmd.name == "keepalive":
        if not value.isdigit() or int(value) == 0:
            raise cf.error(f'invalid value "{value}" in "keepalive" directive')
        us.keepalive = int(value)
    elif cmd.name == "keepalive_requests":
        if not value.isdigit():
            raise cf.error(f'"{cmd.name}" directive invalid number')
        us.keepalive_requests = int(value)
    else:
        ms = parse_time(value)
        if ms is None:
            raise cf.error(f'"{cmd.name}" directive invalid value')
        if cmd.name == "keepalive_timeout":
            us.keepalive_timeout = ms / 1000


UPSTREAM = Module(
    name="http_upstream",
    directives=[
        Directive("upstream", Ctx.HTTP, Args.TAKE1, _upstream_block, ConfLevel.MAIN,
                  block=True),
        Directive("server", Ctx.UPS, Args.ONE_MORE, _server, ConfLevel.MAIN),
        Directive("keepalive", Ctx.UPS, Args.TAKE1, _keepalive, ConfLevel.MAIN),
        Directive("keepalive_requests", Ctx.UPS, Args.TAKE1, _keepalive, ConfLevel.MAIN),
        Directive("keepalive_timeout", Ctx.UPS, Args.TAKE1, _keepalive, ConfLevel.MAIN),
        Directive("keepalive_time", Ctx.UPS, Args.TAKE1, _keepalive, ConfLevel.MAIN),
    ],
    main_conf=UpstreamMainConf,
)


# --- driving a request ------------------------------------------------------------------------

class Failure(Exception):
    """One attempt failed: ``kind`` is its proxy_next_upstream keyword."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class UpstreamProtocol(TypingProtocol):
    """What a protocol module (proxy, memcached) gives the driver, per request."""

    # nginx's u->buffering, for log lines: buffered (proxy) body bytes read with the header
    # are filtered "while reading upstream"; unbuffered (memcached) ones at once, still
    # "while reading response header from upstream"
    buffering: bool
    # the URI of log lines' upstream: "http://127.0.0.1:8081/x" (nginx's u->uri)
    uri: str

    def create_request(self, r: Request) -> bytes: ...

    def reinit_request(self) -> None: ...

    def process_header(self, data: bytes) -> int | None: ...

    async def send_body(self, stream: Conn) -> None: ...

    def start_body(self, r: Request) -> int: ...

    def input_filter(self, data: bytes | None) -> tuple[list[bytes], bool]:
        """Body bytes received (b"" at EOF, None: only what is buffered) -> (pieces for
        the client, whether the body is complete); ValueError on an invalid body."""

    def keepalive(self) -> bool: ...


@dataclass
class UpstreamSettings:
    """The ``*_connect_timeout`` & co of the protocol module's location (seconds), made
    once per location at merge."""

    connect_timeout: float = 60.0
    send_timeout: float = 60.0
    read_timeout: float = 60.0
    next_upstream: frozenset[str] = frozenset(["error", "timeout"])
    tries: int = 0
    timeout: float = 0.0
    schema: str = "http://"  # log lines' upstream scheme (memcached's is "memcached://")


class UpstreamTrack:
    """$upstream_addr / $upstream_status / $upstream_response_time of one request."""

    __slots__ = ("addrs", "statuses", "times")

    def __init__(self) -> None:
        self.addrs: list[str] = []
        self.statuses: list[str] = []
        self.times: list[str] = []


TRACK_KEY = "upstream_track"
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


async def run_upstream(r: Request, us: UpstreamConf, proto: UpstreamProtocol,
                       s: UpstreamSettings) -> int:
    """Run ``r`` against group ``us``; returns a handler code (OK, ERROR or a status)."""
    track: UpstreamTrack = r.ctx.setdefault(TRACK_KEY, UpstreamTrack())
    state = us.balancer.init_peer(r, us)
    if s.tries:
        state.tries = min(state.tries, s.tries)
    try:
        return await _run(r, us, proto, s, track, state)
    finally:
        # ngx_http_upstream_finalize_request: what follows (the error page, the rest of
        # the body, a parent's lines after an auth_request) is "sending to client"
        set_log_action(r, "sending to client")


async def _run(r: Request, us: UpstreamConf, proto: UpstreamProtocol, s: UpstreamSettings,
               track: UpstreamTrack, state: PeerState) -> int:
    started = time.monotonic()
    while True:
        set_log_action(r, "connecting to upstream")
        peer = state.get()
        if peer is None:
            # the balancer names the group as the peer (ngx_http_upstream_get_round_robin_peer)
            set_log_upstream(r, f"{s.schema}{us.name}{proto.uri}")
            log_error(r, logging.ERROR, "no live upstreams")
            track.addrs.append(us.name)
            track.statuses.append("502")
            track.times.append("0.000")
            return 502
        set_log_upstream(r, f"{s.schema}{peer.name}{proto.uri}")
        track.addrs.append(peer.name)
        attempt_start = time.monotonic()
        try:
            conn, status = await _attempt(r, us, peer, proto, s)
        except Failure as f:
            state.free(peer, failed=True)
            code = 504 if f.kind == "timeout" else 502
            track.statuses.append(str(code))
            track.times.append(f"{time.monotonic() - attempt_start:.3f}")
            log_error(r, logging.ERROR, str(f))
            if peer.max_fails and peer.fails == peer.max_fails and not peer.down:
                log_error(r, logging.WARNING, "upstream server temporarily disabled")
            if _retry(r, f.kind, state, s, started):
                proto.reinit_request()
                continue
            return code
        track.statuses.append(str(status))
        kind = f"http_{status}"
        if kind in s.next_upstream and status in (500, 502, 503, 504, 429, 403, 404) \
                and state.tries > 1 and _retry(r, kind, state, s, started):
            conn.close()
            state.free(peer, failed=status not in (403, 404))
            track.times.append(f"{time.monotonic() - attempt_start:.3f}")
            proto.reinit_request()
            continue
        try:
            return await _body(r, us, conn, proto, s, peer)
        finally:
            state.free(peer, failed=False)
            track.times.append(f"{time.monotonic() - attempt_start:.3f}")


def _retry(r: Request, kind: str, state: PeerState, s: UpstreamSettings,
           started: float) -> bool:
    if kind not in s.next_upstream or "off" in s.next_upstream or state.tries <= 0:
        return False
    if r.method not in _IDEMPOTENT and "non_idempotent" not in s.next_upstream:
        return False
    return not (s.timeout and time.monotonic() - started >= s.timeout)


async def _attempt(r: Request, us: UpstreamConf, peer: Peer, proto: UpstreamProtocol,
                   s: UpstreamSettings) -> tuple[Conn, int]:
    """Connect (or reuse), send the request, read the header; Failure on any error."""
    conn = take_pooled(us, peer.sockaddr) if us.keepalive else None
    reused = conn is not None
    while True:
        if conn is None:
            set_log_action(r, "connecting to upstream")  # again after a stale cached one
            # an upstream connection takes a connection number too (nginx's
            # ngx_event_connect_peer): the $connection and "*N" of later clients count it
            r.conn.server.next_number()
            try:
                conn = Conn(await connect(peer.sockaddr, s.connect_timeout), peer.sockaddr)
            except trio.TooSlowError:
                raise Failure("timeout", "upstream timed out (110: Connection timed out)"
                              ) from None
            except OSError as e:
                raise Failure("error", f"connect() failed ({e.errno}: "
                                       f"{os.strerror(e.errno or 0)})") from None
        try:
            status = await _exchange(r, conn, proto, s)
            return conn, status
        except Failure:
            conn.close()
            if reused:
                # a cached connection the backend closed meanwhile: not the peer's fault
                reused, conn = False, None
                proto.reinit_request()
                continue
            raise


async def _exchange(r: Request, conn: Conn, proto: UpstreamProtocol,
                    s: UpstreamSettings) -> int:
    set_log_action(r, "sending request to upstream")
    try:
        conn.timeout = s.send_timeout
        await conn.send_all(proto.create_request(r))
        await proto.send_body(conn)
    except trio.TooSlowError:
        raise Failure("timeout", "upstream timed out (110: Connection timed out)") from None
    except OSError as e:
        raise Failure("error", f"send() failed ({errno_text(e)})") from None
    set_log_action(r, "reading response header from upstream")
    first = True
    while True:
        try:
            data = await conn.receive(s.read_timeout, wait_first=first)
            first = False
        except trio.TooSlowError:
            raise Failure("timeout", "upstream timed out (110: Connection timed out)") from None
        except OSError as e:
            raise Failure("error", f"recv() failed ({errno_text(e)})") from None
        try:
            status = proto.process_header(data)
        except ValueError as e:  # the protocol's message: "upstream sent invalid header"
            raise Failure("invalid_header", str(e)) from None
        if status is not None:
            return status
        if not data:
            raise Failure("error", "upstream prematurely closed connection")


async def _body(r: Request, us: UpstreamConf, conn: Conn, proto: UpstreamProtocol,
                s: UpstreamSettings, peer: Peer) -> int:
    """Send the header to the client and stream the body; the connection is pooled or
    closed before returning (or on cancellation)."""
    pooled = False
    try:
        rc = proto.start_body(r)
        if rc != OK:
            return rc
        if proto.buffering:
            set_log_action(r, "reading upstream")
        try:
            chunks, done = proto.input_filter(None)  # what came with the header
        except ValueError as e:
            log_error(r, logging.ERROR, str(e))
            return ERROR
        set_log_action(r, "reading upstream")
        if not done:
            # about to wait on the upstream: the header goes to the client now (as nginx
            # sends it); body bytes wait in the buffers as in nginx's (sent when enough
            # of them are queued, when the upstream closes, or not at all on a timeout)
            await output(r, [Buf(flush=True)])
        while not done:
            if chunks:
                chain = [Buf(c) for c in chunks if c]
                if chain:
                    # the filters' errors (SSI's) are "while sending to client", as in
                    # nginx's event pipe writing downstream
                    set_log_action(r, "sending to client")
                    await output(r, chain)
                    set_log_action(r, "reading upstream")
            failed = ""
            try:
                data = await conn.receive(s.read_timeout)
            except trio.TooSlowError:
                log_error(r, logging.ERROR, "upstream timed out (110: Connection timed out)")
                return ERROR
            except OSError as e:
                # nginx reads a body with readv
                data, failed = b"", f"readv() failed ({errno_text(e)})"
            try:
                chunks, done = proto.input_filter(data)
            except ValueError as e:
                log_error(r, logging.ERROR, str(e))
                return ERROR
            if not data and not done:
                log_error(r, logging.ERROR, failed or "upstream prematurely closed connection")
                await output(r, [Buf(c) for c in chunks if c] + [Buf(flush=True)])
                return ERROR
        # the upstream is done with before the client is: back to the pool first (nginx
        # frees the connection when the response is read), then the last buffers go down
        # the body filters in one pass
        if us.keepalive and proto.keepalive():
            give_back(us, conn)
            pooled = True
        chain = [Buf(c) for c in chunks if c]
        if chain:
            chain[-1].last = True
        else:
            chain.append(Buf(last=True))
        set_log_action(r, "sending to client")
        await output(r, chain)
        return OK
    finally:
        if not pooled:
            conn.close()
