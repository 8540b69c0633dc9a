"""``least_conn`` (``ngx_http_upstream_least_conn_module``), reference/upstream.md §7.5:
the usable untried peer with the fewest ``conns / weight``; ties are broken by smooth
round robin among exactly the tied peers; then the backups the same way.
"""

from __future__ import annotations

import time

from engine import api

__all__ = ["MODULE", "LeastConn"]


class LeastConnState(api.RoundRobinState):
    def get(self) -> api.Peer | None:
        data = self.peers
        if data.single:
            return super().get()
        now = time.monotonic()
        peer = self._pick(data.backup if self.backup else data.primary, now)
        if peer is None and not self.backup and data.backup:
            self.backup, self.tried = True, set()
            peer = self._pick(data.backup, now)
        return self.take(peer, now) if peer is not None else None

    def _pick(self, peers: list[api.Peer], now: float) -> api.Peer | None:
        best = None
        tied: list[api.Peer] = []
        for p in peers:
            if not self.usable(p, now):
                continue
            if best is None or p.conns * best.weight < best.conns * p.weight:
                best, tied = p, [p]
            elif p.conns * best.weight == best.conns * p.weight:
                tied.append(p)
        return best if len(tied) <= 1 else self.smooth(tied)


class LeastConn(api.RoundRobin):
    name = "least_conn"

    def init_peer(self, r: api.Request, us: api.UpstreamConf) -> LeastConnState:
        return LeastConnState(us.data)


def _enable(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    us = api.current_upstream(cf)
    us.balancer = LeastConn()
    us.flags = LeastConn.flags


MODULE = api.Module(name="http_upstream_least_conn", directives=[
    api.Directive("least_conn", api.Ctx.UPS, api.Args.NOARGS, _enable, api.ConfLevel.MAIN)])
