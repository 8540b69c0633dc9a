"""split_clients against Debian's nginx: the bucket of many hypothesis-drawn keys (nginx's
MurmurHash2 and percentage slices), totals under 100% with no "*"."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.modules.split_clients import murmur_hash2
from tests.differential.modules4_pair import get, pair, shape
from tests.harness import ServerProcess

pytestmark = pytest.mark.differential

CONF = r"""
events {}
http {
    access_log off;
    split_clients "${arg_k}AAA" $variant { 0.5% .one; 2% .two; 10.25% .three; 50% .half; * ""; }
    split_clients $arg_k $partial { 33.33% a; 33.33% b; }
    split_clients $arg_k $fine { 0.01% tiny; 99.99% rest; }
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "[$variant][$partial][$fine]\n"; }
    }
}
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with pair(CONF, tmp_path_factory.mktemp("split")) as p:
        yield p


def test_murmur_hash2_known_values() -> None:
    # reference values of MurmurHash2 with seed 0 (little-endian words)
    assert murmur_hash2(b"") == 0
    assert murmur_hash2(b"a") == 0x92685F5E
    assert murmur_hash2(b"abcd") != murmur_hash2(b"abce")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=12))
def test_split_clients_bucket_matches_nginx(servers: tuple[ServerProcess, ServerProcess],
                                            key: str) -> None:
    nginx, trinx = servers
    target = "/?k=" + quote(key, safe="")
    assert shape(get(trinx, target)) == shape(get(nginx, target)), key
