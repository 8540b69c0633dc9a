"""``ip_hash`` (``ngx_http_upstream_ip_hash_module``): a client's /24 (IPv4) or address
(IPv6) always maps to the same server (reference/upstream.md §7.2): ``h = 89``, then
``h = (h * 113 + byte) % 6271`` per key byte, ``w = h % total_weight`` walked over the peers;
a peer that is down, failed, full or tried makes it hash again; after 20 misses, round
robin.  No ``backup``.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from engine import api

__all__ = ["MODULE", "IpHash"]


class IpHashState(api.RoundRobinState):
    def __init__(self, peers: Any, key: bytes) -> None:
        super().__init__(peers)
        self.key = key
        self.hash = 89
        self.misses = 0

    def get(self) -> api.Peer | None:
        data = self.peers
        if self.misses > 20 or data.single:
            return super().get()
        now = time.monotonic()
        h = self.hash
        while True:
            for b in self.key:
                h = (h * 113 + b) % 6271
            peer = data.weighted(h % data.total_weight)
            if self.usable(peer, now):
                self.hash = h
                return self.take(peer, now)
            self.misses += 1
            if self.misses > 20:
                return super().get()


class IpHash(api.RoundRobin):
    name = "ip_hash"
    flags = frozenset(["weight", "max_fails", "fail_timeout", "down", "max_conns"])

    def init_peer(self, r: api.Request, us: api.UpstreamConf) -> IpHashState:
        return IpHashState(us.data, _key(r.conn.remote_addr))


def _key(addr: str) -> bytes:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return b"\0\0\0"
    return ip.packed[:3] if ip.version == 4 else ip.packed


def _enable(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    us = api.current_upstream(cf)
    us.balancer = IpHash()
    us.flags = IpHash.flags


MODULE = api.Module(name="http_upstream_ip_hash", directives=[
    api.Directive("ip_hash", api.Ctx.UPS, api.Args.NOARGS, _enable, api.ConfLevel.MAIN)])
