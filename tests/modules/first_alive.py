"""``first_alive;`` in an upstream block: always the first usable server in config order
(a third-party balancer on the peer API; the README shows this file)."""

from __future__ import annotations

import time

from engine import api


class FirstAliveState(api.RoundRobinState):
    """Round robin's per-request state (tries, failures, max_fails), another choice."""

    def get(self) -> api.Peer | None:
        now = time.monotonic()
        for p in self.peers.primary:
            if id(p) not in self.tried and p.available(now):
                self.tried.add(id(p))
                p.conns += 1
                return p
        return None  # "no live upstreams": 502


class FirstAlive(api.RoundRobin):
    name = "first_alive"

    def init_peer(self, r: api.Request, us: api.UpstreamConf) -> FirstAliveState:
        return FirstAliveState(us.data)


def _enable(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    api.current_upstream(cf).balancer = FirstAlive()


MODULE = api.Module(name="upstream_first_alive", directives=[
    api.Directive("first_alive", api.Ctx.UPS, api.Args.NOARGS, _enable, api.ConfLevel.MAIN)])
