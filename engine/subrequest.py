"""Subrequests and the postpone stage: nginx's ``ngx_http_subrequest`` and postpone filter.

Theory of operation
-------------------
A main request's output is a tree (reference/subrequests.md §2).  Every request that writes
to the client has an ``OutputNode``; a node's ``items`` hold, in document order, data its
request produced while it could not send yet and the nodes of the children it created (or
bare slots reserved with ``reserve_output``).  The client sees the depth-first flattening of
the tree.

Exactly one node is *active* (``Postpone.active``): the first node, in document order, that
has not finished.  Its request writes straight through to the filters below this stage
(gzip, the writer); every other request appends to its own node and returns.  When the
active node finishes, ``_drain`` walks the tree from the root: it sends held data in order,
steps into the next unfinished child, removes finished ones, and stops at the new active
node.  Only the active node's task ever writes, and a drain only starts when the active node
finishes (in that node's task), so two tasks never write at once and no lock is needed; a
request that produces output during a drain finds ``active`` unset and simply holds it.

Held bytes in memory are counted per main request.  Above ``postpone_buffer_size`` a
request that is not active waits (``await`` in its output call) until it becomes active or
the held total falls: bounded memory, and backpressure reaches the producer.  The active
node never waits on that bound, and everything in front of a waiting node finishes on its
own, so waiting cannot deadlock -- unless one task fills a slot it reserved only after
writing more than the bound past it: fill slots from another task (a subrequest's
``on_done``), as SSI's ``stub`` does.

Subrequests run as tasks of the connection's nursery, each in its own cancel scope that the
main request can cancel; a client that goes away cancels the connection and with it the
whole tree.  A request with no subrequest never creates any of this state: its output
passes the stage with one attribute test.

Buffers: above this stage every request's body ends with ``Buf(last=True)``; for
subrequests that mark is consumed here (the node closes when the subrequest has finished),
so only the main request's end reaches the filters below.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import trio

from engine.cycle import ALWAYS, ConfContext, Phase
from engine.http import finalize, log_error, run_phases, set_location
from engine.http_core import HTTP_CORE
from engine.locations import find_location
from engine.module import (UNSET, Args, ConfLevel, Ctx, Directive, Module, Unset, inherit,
                           set_size)
from engine.request import ERROR, Buf, Request

__all__ = ["POSTPONE", "SubrequestError", "SR_INPLACE", "SR_MEMORY", "SR_BACKGROUND",
           "subrequest", "wait_subrequest", "reserve_output", "OutputSlot", "wait_subrequests"]

log = logging.getLogger("trinx")

# nginx: NGX_HTTP_MAX_SUBREQUESTS + 1 for the main request; 65535 - 1000 references
MAX_SUBREQUESTS = 51
MAX_REFERENCES = 65535 - 1000


class SubrequestError(Exception):
    """A subrequest could not be created; the reason is already in the error log."""


class Mode(enum.Enum):
    INPLACE = "inplace"
    MEMORY = "memory"
    BACKGROUND = "background"


SR_INPLACE = Mode.INPLACE
SR_MEMORY = Mode.MEMORY
SR_BACKGROUND = Mode.BACKGROUND

OnDone = Callable[[Request, int], "Awaitable[None] | None"]


# --- conf ------------------------------------------------------------------------------------

@dataclass
class PostponeLocConf:
    output_buffer_size: int | Unset = UNSET  # subrequest_output_buffer_size (in-memory limit)
    postpone_buffer_size: int | Unset = UNSET  # trinx: held output bound per main request

    def merge(self, parent: "PostponeLocConf") -> None:
        self.output_buffer_size = inherit(self.output_buffer_size, parent.output_buffer_size,
                                          4096)
        self.postpone_buffer_size = inherit(self.postpone_buffer_size,
                                            parent.postpone_buffer_size, 1 << 20)


@dataclass
class PostponeMainConf:
    next_body: Any = None  # the body filter below this stage, per cycle

    def merge(self, parent: Any) -> None:
        pass


_CTX = Ctx.HTTP | Ctx.SRV | Ctx.LOC

POSTPONE = Module(
    name="http_postpone_filter",
    directives=[
        Directive("subrequest_output_buffer_size", _CTX, Args.TAKE1,
                  set_size("output_buffer_size"), ConfLevel.LOC),
        Directive("postpone_buffer_size", _CTX, Args.TAKE1, set_size("postpone_buffer_size"),
                  ConfLevel.LOC),
    ],
    main_conf=PostponeMainConf,
    loc_conf=PostponeLocConf,
)


# --- the output tree ------------------------------------------------------------------------

class Flag:
    """A one-shot event whose ``trio.Event`` is made only when somebody has to wait: most
    are set before anyone looks (an inline include is started and finished before its
    creator asks), and a page of many includes made two or three Events per include."""

    __slots__ = ("done", "_event")

    def __init__(self, done: bool = False) -> None:
        self.done = done
        self._event: trio.Event | None = None

    def is_set(self) -> bool:
        return self.done

    def set(self) -> None:
        self.done = True
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if not self.done:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()


class OutputNode:
    """A place in the document: a request's own output, or a reserved slot."""

    __slots__ = ("parent", "items", "done")

    def __init__(self, parent: "OutputNode | None") -> None:
        self.parent = parent
        self.items: deque[Any] = deque()  # list[Buf] (held data) | OutputNode
        self.done = False


class Postpone:
    """Per main request: the output tree, the held-bytes bound, the subrequest tasks."""

    __slots__ = ("main", "root", "active", "held", "limit", "progress", "next_body",
                 "running", "idle", "scopes", "count", "failed", "last_started", "deferred",
                 "inline_depth")

    def __init__(self, main: Request, root: OutputNode) -> None:
        self.main = main
        self.root = root
        self.active: OutputNode | None = root
        self.held = 0
        self.limit: int = main.loc_conf[POSTPONE].postpone_buffer_size
        self.progress: trio.Event | None = None  # made by the first producer to wait
        self.next_body = main.main_conf[POSTPONE].next_body
        self.running = 0
        self.idle = Flag(done=True)
        self.scopes: set[trio.CancelScope] = set()
        self.count = 0
        self.failed = False
        self.last_started: Flag | None = None  # set when the newest subrequest starts
        # subrequests to run in their creator's task at its next output or wait (see
        # subrequest()): (sr, previous start event, own start event)
        self.deferred: deque[tuple[Request, Flag | None, Flag]] = deque()
        self.inline_depth = 0  # deferred subrequests being run, nested (see run_deferred)

    async def run_deferred(self, upto: Request | None = None, *, wait: bool = False) -> None:
        """Run deferred subrequests, in creation order, in the calling task (all of them,
        or up to and including ``upto``).

        An output call made while deferred subrequests are already being run (by the
        subrequest being run, or by another task) leaves them to that loop: a page of a
        thousand includes would otherwise nest a thousand runs on one stack, each include's
        output running the next.  ``wait``: the caller is about to wait for them (or for
        room in the held output), so it runs them itself whatever the nesting.
        """
        if self.inline_depth and not wait:
            return
        deferred = self.deferred
        while deferred:
            sr, prev, started = deferred.popleft()
            self.inline_depth += 1
            try:
                await _run_subrequest(sr, self, None, prev, started)
            finally:
                self.inline_depth -= 1
            if sr is upto:
                return

    def cancel(self) -> None:
        """End every subrequest of this main request (the response failed)."""
        self.failed = True
        for scope in self.scopes:
            scope.cancel()
        self._wake()

    def _wake(self) -> None:
        ev = self.progress
        if ev is not None:
            self.progress = None
            ev.set()


class SubrequestState:
    """What a subrequest carries besides its Request: mode, callback, completion."""

    __slots__ = ("mode", "on_done", "finished", "rc", "node", "body", "keep_filters")

    def __init__(self, mode: Mode, on_done: OnDone | None, node: OutputNode | None,
                 keep_filters: bool) -> None:
        self.mode = mode
        self.on_done = on_done
        self.finished = Flag()
        self.rc = ERROR
        self.node = node
        self.body = bytearray()
        self.keep_filters = keep_filters


def _postpone_of(r: Request) -> Postpone:
    """The main request's Postpone, created at its first subrequest or slot."""
    main = r.main
    pp: Postpone | None = main.postpone
    if pp is None:
        root = OutputNode(None)
        pp = main.postpone = Postpone(main, root)
        main.out_node = root
        if main.done:
            root.done = True
    return pp


def _node_of(r: Request) -> OutputNode:
    node: OutputNode | None = r.out_node
    if node is None:
        _postpone_of(r)
        node = r.out_node
    assert node is not None
    return node


def _append_child(pp: Postpone, parent: OutputNode, child: OutputNode) -> None:
    if pp.active is parent and not parent.items:
        pp.active = child  # nothing of the parent's is pending before the child
    parent.items.append(child)


# --- creating subrequests ---------------------------------------------------------------------

def subrequest(r: Request, uri: str, args: str = "", *, mode: Mode = Mode.INPLACE,
               method: str = "GET", header_only: bool = False,
               on_done: OnDone | None = None, keep_filters: bool = False) -> Request:
    """Create a subrequest of ``r`` and start it (``ngx_http_subrequest``).

    Args:
        r: the parent (main request or a subrequest).
        uri, args: the subrequest's URI (decoded, as ``$uri``) and raw query string.
        mode: SR_INPLACE (output spliced at the parent's current output position),
            SR_MEMORY (body collected into ``sr.out_body``; no client output) or
            SR_BACKGROUND (output discarded).
        method: the subrequest's method (mirror passes the client's).
        header_only: the handler sends no body (auth_request).
        on_done: called as ``on_done(sr, code)`` in the subrequest's task after it has
            finished and before its output place closes; may be async and may output.
        keep_filters: run every filter for it, also where they all declared themselves
            inert for subrequests (a filter that keeps state for this one: SSI's stub).

    Returns:
        The running subrequest; ``await wait_subrequest(sr)`` waits for it.

    Raises:
        SubrequestError: nesting depth or reference limit reached, or ``r`` is an in-memory
            subrequest; the error is logged with nginx's message.
    """
    main = r.main
    parent_sr: SubrequestState | None = r.sr
    if parent_sr is not None and parent_sr.mode is Mode.MEMORY:
        log_error(r, logging.ERROR, f'nested in-memory subrequest "{uri}"')
        raise SubrequestError("nested in-memory subrequest")
    if r.subrequests == 0:
        log_error(r, logging.ERROR, f'subrequests cycle while processing "{uri}"')
        raise SubrequestError("subrequests cycle")
    pp = _postpone_of(r)
    if pp.count >= MAX_REFERENCES:
        log_error(r, logging.CRITICAL,
                  f'request reference counter overflow while processing "{uri}"')
        raise SubrequestError("too many subrequests")
    pp.count += 1

    sr = Request(r.conn, r.cycle, r.server)
    sr.main = main
    sr.parent = r
    sr.method = method
    sr.http_version = main.http_version
    sr.request_line = main.request_line
    sr.request_uri = main.request_uri
    sr.headers_in = r.headers_in
    sr.headers = r.headers
    sr.host = r.host
    sr.body = main.body
    sr.variables = r.variables  # nginx shares the variable cache with the parent
    sr.start_time = main.start_time
    sr.internal = True
    sr.header_only = header_only
    sr.subrequests = r.subrequests - 1
    sr.set_uri(uri)
    sr.args = args
    set_location(sr, r.server.root)

    node = None
    if mode is Mode.INPLACE:
        node = OutputNode(_node_of(r))
        _append_child(pp, node.parent, node)  # type: ignore[arg-type]
    sr.out_node = node
    sr.sr = SubrequestState(mode, on_done, node, keep_filters)
    pp.running += 1
    if pp.running == 1:
        pp.idle = Flag()
    prev, pp.last_started = pp.last_started, Flag()
    if _runs_inline(sr, mode):
        pp.deferred.append((sr, prev, pp.last_started))
    else:
        scope = trio.CancelScope()
        pp.scopes.add(scope)
        if pp.failed:
            scope.cancel()
        r.conn.nursery.start_soon(_run_subrequest, sr, pp, scope, prev, pp.last_started)
    return sr


_INLINE_DEPTH = 8  # deeper nesting gets tasks: each inline level adds to the Python stack


def _runs_inline(sr: Request, mode: Mode) -> bool:
    """Whether ``sr`` can run in its creator's task instead of a task of its own.

    A subrequest whose location serves files (no content handler of its own: static,
    index) does not wait on anything but the client, so it runs in its creator's task when
    the creator's current output call returns or it waits, as nginx runs posted subrequests
    after the buffer being filtered: a task per include cost more than the include.  Anything with a handler (proxy, memcached...) may wait on
    the network and gets a task, so includes of slow locations still run in parallel.
    A rewrite to another location can defeat the guess; the output is right either way.
    """
    if mode is Mode.BACKGROUND or MAX_SUBREQUESTS - sr.subrequests > _INLINE_DEPTH:
        return False
    loc, _, _ = find_location(sr.server.root, sr.uri)
    if loc is None:
        loc = sr.server.root
    return loc.loc_conf[HTTP_CORE].handler is None  # type: ignore[no-any-return]


async def wait_subrequest(sr: Request) -> int:
    """Wait until ``sr`` has finished; its final code (HTTP status, or ERROR)."""
    state: SubrequestState = sr.sr
    pp: Postpone = sr.main.postpone
    if pp.deferred:
        # sr (or an earlier sibling it waits to start after) may be among them
        await pp.run_deferred(upto=sr if any(d[0] is sr for d in pp.deferred) else None,
                              wait=True)
    if not state.finished.is_set():
        # what is ready goes to the client before the wait, not after it
        await sr.conn.flush_idle()
        await state.finished.wait()
    return state.rc


async def wait_subrequests(r: Request) -> None:
    """Wait until every subrequest of main request ``r`` has finished."""
    pp: Postpone | None = r.postpone
    if pp is not None:
        await pp.run_deferred(wait=True)
    if pp is not None and not pp.idle.is_set():
        await r.conn.flush_idle()
        await pp.idle.wait()


async def _run_subrequest(sr: Request, pp: Postpone, scope: trio.CancelScope | None,
                          prev: Flag | None, started: Flag) -> None:
    """Run ``sr`` to its end: in a task of its own under ``scope`` (which ``pp.cancel``
    cancels), or inline in its creator's task (``scope`` None: cancelled with it)."""
    state: SubrequestState = sr.sr
    try:
        if scope is None:
            if not pp.failed:
                await _subrequest_body(sr, pp, prev, started)
            else:
                started.set()
        else:
            with scope:
                await _subrequest_body(sr, pp, prev, started)
        # nginx logs a subrequest only under log_subrequest (ngx_http_finalize_request)
        if sr.loc_conf[HTTP_CORE].log_subrequest:
            for fn in sr.cycle.phases.get(Phase.LOG, ()):
                fn(sr)
    except Exception as e:  # noqa: BLE001 - one subrequest's failure ends its response
        pp.cancel()
        sr.conn.fail_response(e)
    finally:
        if state.node is not None:
            state.node.done = True
        if scope is not None:
            pp.scopes.discard(scope)
        state.finished.set()
        pp.running -= 1
        if pp.running == 0:
            pp.idle.set()


async def _subrequest_body(sr: Request, pp: Postpone, prev: Flag | None,
                           started: Flag) -> None:
    state: SubrequestState = sr.sr
    # Subrequests start in creation order, each after the previous one has run up to its
    # first wait (trio shuffles runnable tasks): as in nginx, a fragment that does not
    # block (a file) has its side effects (SSI set) before the next one starts.
    try:
        if prev is not None and not prev.is_set():
            await prev.wait()
    finally:
        started.set()
    try:
        rc = await run_phases(sr)
        await finalize(sr, rc)
        state.rc = _final_code(sr, rc)
        if state.mode is Mode.MEMORY:
            sr.out_body = bytes(state.body)
        if state.on_done is not None:
            res = state.on_done(sr, state.rc)
            if res is not None:
                await res
        if state.node is not None and not pp.failed:
            await _close_node(pp, state.node)
    finally:
        if state.node is not None:
            # held buffers may still refer to this request's files: they close with the
            # main request, as in nginx (a subrequest shares its pool)
            sr.main.cleanup.extend(sr.cleanup)
            sr.cleanup.clear()
        else:
            sr.run_cleanup()


def _final_code(sr: Request, rc: int) -> int:
    if sr.header_sent:
        return sr.headers_out.status or 200
    return rc if rc >= 100 else ERROR


# --- reserved slots -----------------------------------------------------------------------------

class OutputSlot:
    """A reserved place in a request's output, filled later by ``send`` and ended by ``close``."""

    __slots__ = ("r", "node", "pp")

    def __init__(self, r: Request, node: OutputNode, pp: Postpone) -> None:
        self.r = r
        self.node = node
        self.pp = pp

    async def send(self, chain: list[Buf]) -> None:
        """Put buffers in the slot (``last`` marks are ignored: ``close`` ends it)."""
        if self.node.done:
            raise RuntimeError("output slot already closed")
        await _node_output(self.pp, self.node, [b for b in chain if len(b) or b.flush])

    async def close(self) -> None:
        if not self.node.done:
            await _close_node(self.pp, self.node)


def reserve_output(r: Request) -> OutputSlot:
    """Reserve a place at ``r``'s current output position (see the module docstring)."""
    pp = _postpone_of(r)
    node = OutputNode(_node_of(r))
    _append_child(pp, node.parent, node)  # type: ignore[arg-type]
    return OutputSlot(r, node, pp)


# --- the filter -------------------------------------------------------------------------------

async def postpone_filter(r: Request, chain: list[Buf]) -> None:
    """The postpone body filter: pass, hold or collect ``r``'s buffers (see docstring)."""
    main = r.main
    if r is main:
        last = bool(chain) and chain[-1].last
        if last:
            r.done = True
        pp: Postpone | None = r.postpone
        if pp is None:
            await main.main_conf[POSTPONE].next_body(r, chain)
            return
        if pp.failed:
            return
        await _node_output(pp, pp.root, chain)
        if last:
            await _close_node(pp, pp.root)
        return
    state: SubrequestState = r.sr
    if chain and chain[-1].last:
        # the end of a subrequest's part is its node closing, not a last buffer
        r.done = True
        end = chain[-1]
        chain = chain[:-1]
        if len(end) or end.flush:
            chain.append(Buf(end.data, file=end.file, file_pos=end.file_pos,
                             file_last=end.file_last, flush=end.flush))
    if state.mode is Mode.INPLACE:
        pp = main.postpone
        if not pp.failed:  # type: ignore[union-attr]
            await _node_output(pp, state.node, chain)  # type: ignore[arg-type]
    elif state.mode is Mode.MEMORY:
        _collect(r, state, chain)


def _collect(r: Request, state: SubrequestState, chain: list[Buf]) -> None:
    limit = r.loc_conf[POSTPONE].output_buffer_size
    for b in chain:
        n = len(b)
        if not n:
            continue
        if len(state.body) + n > limit:
            log_error(r, logging.ERROR, "too big subrequest response")
            raise SubrequestError("too big subrequest response")
        state.body += b.bytes()


async def _node_output(pp: Postpone, node: OutputNode, chain: list[Buf]) -> None:
    if not chain:
        return
    if pp.active is node and not node.items:
        await pp.next_body(pp.main, chain)
        return
    node.items.append(chain)
    pp.held += _in_memory(chain)
    while pp.held > pp.limit and pp.active is not node and not pp.failed:
        if pp.deferred:
            await pp.run_deferred(wait=True)  # they may be what is in front: run them
            continue
        ev = pp.progress
        if ev is None:
            ev = pp.progress = trio.Event()
        await ev.wait()


def _in_memory(chain: list[Buf]) -> int:
    """The bytes of ``chain`` held in memory (file regions cost nothing to hold)."""
    return sum(len(b.data) for b in chain if b.file is None and b.data is not None)


async def _close_node(pp: Postpone, node: OutputNode) -> None:
    node.done = True
    if pp.active is node:
        await _drain(pp)


async def _drain(pp: Postpone) -> None:
    """Send everything that is now at the head of the document; find the new active node."""
    pp.active = None
    node = pp.root
    main = pp.main
    next_body = pp.next_body
    while True:
        items = node.items
        if items:
            item = items[0]
            if isinstance(item, OutputNode):
                node = item
                continue
            items.popleft()
            pp.held -= _in_memory(item)
            pp._wake()
            if not pp.failed:
                await next_body(main, item)
            continue
        parent = node.parent
        if node.done and parent is not None:
            parent.items.popleft()
            node = parent
            continue
        pp.active = node
        pp._wake()
        return


def _postconfiguration(cf: ConfContext) -> None:
    cf.push_filters(cf.cycle.main_conf[POSTPONE], body=postpone_filter,
                    subrequest_inert=ALWAYS)
    cf.cycle.sr_body_filter = postpone_filter


POSTPONE.postconfiguration = _postconfiguration
