"""``hash key [consistent]`` (``ngx_http_upstream_hash_module``), reference/upstream.md
§7.3-7.4.  Plain: ``h += (crc32([i] + key) >> 16) & 0x7fff`` per try (Cache::Memcached's
formula), ``w = h % total_weight`` walked over the peers.  Consistent: nginx's ketama ring,
160 points per weight unit, ``crc32(host + "\\0" + port + le32(prev))``; the first point at
or after ``crc32(key)``, its server's peers chosen by smooth round robin.  Both fall back to
round robin after 20 misses, for an empty key, or with a single peer.  No ``backup``.
"""

from __future__ import annotations

import bisect
import struct
import time
import zlib
from typing import Any

from engine import api

__all__ = ["MODULE", "Hash", "ring"]


class HashState(api.RoundRobinState):
    def __init__(self, peers: Any, key: bytes, points: Any) -> None:
        super().__init__(peers)
        self.key = key
        self.points = points
        self.hash = 0
        self.rehash = 0
        self.misses = 0
        self.point = -1

    def get(self) -> api.Peer | None:
        data = self.peers
        if self.misses > 20 or data.single or not self.key:
            return super().get()
        now = time.monotonic()
        if self.points is not None:
            return self._consistent(now)
        while True:
            prefix = str(self.rehash).encode() if self.rehash > 0 else b""
            self.hash += (zlib.crc32(prefix + self.key) >> 16) & 0x7FFF
            self.rehash += 1
            peer = data.weighted(self.hash % data.total_weight)
            if self.usable(peer, now):
                return self.take(peer, now)
            self.misses += 1
            if self.misses > 20:
                return super().get()

    def _consistent(self, now: float) -> api.Peer | None:
        hashes, servers = self.points
        if self.point < 0:
            self.point = bisect.bisect_left(hashes, zlib.crc32(self.key))
        while True:
            server = servers[self.point % len(servers)]
            best = self.smooth(p for p in self.peers.primary
                               if p.server == server and self.usable(p, now))
            if best is not None:
                return self.take(best, now)
            self.point += 1
            self.misses += 1
            if self.misses > 20:
                return super().get()


def ring(servers: list[api.ServerSpec]) -> tuple[list[int], list[str]]:
    """nginx's consistent-hash points: sorted hashes and the server name of each."""
    points: dict[int, str] = {}
    for spec in servers:
        if spec.backup:
            continue
        name = spec.name
        host, port = name, b""
        head, sep, tail = name.rpartition(":")
        if name.startswith("unix:"):
            host = name[5:]
        elif sep and tail.isdigit():
            host, port = head, tail.encode()
        base = host.encode() + b"\0" + port
        prev = 0
        for _ in range(160 * spec.weight):
            h = zlib.crc32(base + struct.pack("<I", prev))
            points.setdefault(h, name)
            prev = h
    hashes = sorted(points)
    return hashes, [points[h] for h in hashes]


class Hash(api.RoundRobin):
    name = "hash"
    flags = frozenset(["weight", "max_fails", "fail_timeout", "down", "max_conns"])

    def __init__(self, key: api.ComplexValue, consistent: bool) -> None:
        self.key = key
        self.consistent = consistent
        self.points: tuple[list[int], list[str]] | None = None  # the group's ring

    def init_upstream(self, cf: Any, us: api.UpstreamConf) -> None:
        super().init_upstream(cf, us)
        if self.consistent:
            self.points = ring(us.servers)

    def init_peer(self, r: api.Request, us: api.UpstreamConf) -> HashState:
        key = self.key.evaluate(r).encode("latin-1", "replace")
        return HashState(us.data, key, self.points)


def _enable(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    if len(cf.args) == 3 and cf.args[2] != "consistent":
        raise cf.error(f'invalid parameter "{cf.args[2]}"')
    us = api.current_upstream(cf)
    us.balancer = Hash(cf.compile(cf.args[1]), len(cf.args) == 3)
    us.flags = Hash.flags


MODULE = api.Module(name="http_upstream_hash", directives=[
    api.Directive("hash", api.Ctx.UPS, api.Args.TAKE12, _enable, api.ConfLevel.MAIN)])
