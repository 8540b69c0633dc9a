"""The balancers, sans-IO: the peer sequences nginx 1.22 gives (reference/upstream.md §7,
values checked there against nginx), consistent hashing's stability, least_conn and random."""

from __future__ import annotations

import collections

import pytest

from engine import api
from engine.modules.upstream_hash import HashState, ring
from engine.modules.upstream_ip_hash import IpHashState, _key
from engine.modules.upstream_least_conn import LeastConnState
from engine.modules.upstream_random import RandomState


def group(*weights: int, names: list[str] | None = None) -> api.UpstreamConf:
    names = names or [f"127.0.0.1:{19001 + i}" for i in range(len(weights))]
    us = api.UpstreamConf(name="u", servers=[
        api.ServerSpec(n, [("127.0.0.1", int(n.rsplit(":", 1)[1]))], weight=w)
        for n, w in zip(names, weights)])
    api.RoundRobin().init_upstream(None, us)
    return us


def pick(state: api.RoundRobinState) -> str:
    p = state.get()
    assert p is not None
    state.free(p, failed=False)
    return p.server.rsplit(":", 1)[1]


def test_round_robin_weights() -> None:
    us = group(5, 1, 1)
    seq = [pick(api.RoundRobinState(us.data)) for _ in range(14)]
    assert seq == ["19001", "19001", "19002", "19001", "19003", "19001", "19001"] * 2


@pytest.mark.parametrize("addr, port", [
    ("127.0.0.1", "19001"), ("127.0.1.1", "19002"), ("127.9.9.9", "19003"),
    ("127.200.1.1", "19002"), ("127.55.66.77", "19003"),
])
def test_ip_hash_as_nginx(addr: str, port: str) -> None:
    us = group(1, 1, 2)
    assert pick(IpHashState(us.data, _key(addr))) == port


def test_ip_hash_keeps_a_24_together() -> None:
    us = group(1, 1, 1)
    assert len({pick(IpHashState(us.data, _key(f"10.1.2.{i}"))) for i in range(256)}) == 1


@pytest.mark.parametrize("key, port", [
    ("a", "19003"), ("c", "19002"), ("user2", "19001"), ("hello", "19001"),
    ("12345", "19002"),
])
def test_hash_as_nginx(key: str, port: str) -> None:
    us = group(1, 1, 2)
    assert pick(HashState(us.data, key.encode(), None)) == port


@pytest.mark.parametrize("key, port", [("a", "19002"), ("b", "19001"), ("c", "19003"),
                                       ("user2", "19002")])
def test_consistent_hash_as_nginx(key: str, port: str) -> None:
    us = group(1, 1, 2)
    assert pick(HashState(us.data, key.encode(), ring(us.servers))) == port


def test_consistent_hash_moves_about_one_nth_of_keys() -> None:
    keys = [f"key{i}".encode() for i in range(3000)]
    four = group(1, 1, 1, 1)
    three = group(1, 1, 1, names=[f"127.0.0.1:{19001 + i}" for i in range(3)])
    before = [pick(HashState(four.data, k, ring(four.servers))) for k in keys]
    after = [pick(HashState(three.data, k, ring(three.servers))) for k in keys]
    moved = sum(1 for b, a in zip(before, after) if b != a)
    assert moved == before.count("19004")  # only the removed server's keys move
    assert 0.15 < moved / len(keys) < 0.35


def test_least_conn_prefers_the_idle_peer() -> None:
    us = group(1, 1)
    busy = LeastConnState(us.data).get()  # held: one active connection
    assert busy is not None
    seq = [pick(LeastConnState(us.data)) for _ in range(4)]
    other = "19002" if busy.server.endswith("19001") else "19001"
    assert seq == [other] * 4


def test_random_follows_weights_and_two_picks_the_less_busy() -> None:
    us = group(1, 3)
    counts = collections.Counter(pick(RandomState(us.data, False)) for _ in range(4000))
    assert 0.65 < counts["19002"] / 4000 < 0.85
    even = group(1, 1)
    even.data.primary[1].conns = 100  # busy
    two = collections.Counter(pick(RandomState(even.data, True)) for _ in range(200))
    assert two["19001"] == 200
