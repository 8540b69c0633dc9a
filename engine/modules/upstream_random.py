"""``random [two [least_conn]]`` (``ngx_http_upstream_random_module``), reference/upstream.md
§7.6: a peer drawn with probability proportional to its weight; with ``two``, two different
usable peers are drawn and the one with fewer ``conns / weight`` wins (the second on a tie).
Round robin after 20 unsuccessful draws or with a single peer.  No ``backup``.
"""

from __future__ import annotations

import bisect
import random
import time
from itertools import accumulate
from typing import Any

from engine import api

__all__ = ["MODULE", "Random"]


class RandomState(api.RoundRobinState):
    def __init__(self, peers: Any, two: bool) -> None:
        super().__init__(peers)
        self.two = two
        self.misses = 0

    def _draw(self) -> api.Peer:
        primary = self.peers.primary
        bounds = list(accumulate(p.weight for p in primary))
        return primary[bisect.bisect_right(bounds, random.randrange(bounds[-1]))]

    def get(self) -> api.Peer | None:
        if self.peers.single:
            return super().get()
        now = time.monotonic()
        first = None
        while self.misses <= 20:
            p = self._draw()
            if not self.usable(p, now) or p is first:
                self.misses += 1
                continue
            if not self.two:
                return self.take(p, now)
            if first is None:
                first = p
                continue
            # nginx: the second drawn unless it is strictly busier than the first
            return self.take(first if p.conns * first.weight > first.conns * p.weight
                        else p, now)
        return super().get()


class Random(api.RoundRobin):
    name = "random"
    flags = frozenset(["weight", "max_fails", "fail_timeout", "down", "max_conns"])

    def __init__(self, two: bool) -> None:
        self.two = two

    def init_peer(self, r: api.Request, us: api.UpstreamConf) -> RandomState:
        return RandomState(us.data, self.two)


def _enable(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    words = list(cf.args[1:])
    if len(words) > 2:
        raise cf.error('invalid number of arguments in "random" directive')
    if words not in ([], ["two"], ["two", "least_conn"]):
        raise cf.error(f'invalid parameter "{words[-1]}"')
    us = api.current_upstream(cf)
    us.balancer = Random(bool(words))
    us.flags = Random.flags


MODULE = api.Module(name="http_upstream_random", directives=[
    api.Directive("random", api.Ctx.UPS, api.Args.ANY, _enable, api.ConfLevel.MAIN)])
