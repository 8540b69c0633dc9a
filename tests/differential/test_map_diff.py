"""map against Debian's nginx: exact (caseless), hostnames wildcards, regexes with captures,
values with variables, empty source, caching, volatile; hypothesis draws keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.modules4_pair import get, pair, shape
from tests.harness import ServerProcess

pytestmark = pytest.mark.differential

CONF = r"""
events {}
http {
    access_log off;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    map $arg_k $v {
        default def-$uri;
        abc exact-abc;
        Mixed mixed;
        ~^re(?<tail>\d+)$ re-$1-$tail;
        ~*^CI(.)  ci-$1;
        ~b[a-c]+$ bac;
        \~lit lit;
        include m.inc;
    }
    map $arg_h $hv {
        hostnames;
        default none;
        example.com exact;
        *.example.com head;
        .foo.org dotfoo;
        *.a.foo.org deeper;
        www.bar.* tail;
        www.bar.baz.* tail2;
    }
    map $arg_k $cached { default $arg_x; }
    map $arg_k $vol { volatile; default $arg_x; }
    map $args $nodefault { a=1 one; }
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "[$v][$1][$connection_upgrade]\n"; }
        location /h { return 200 "[$hv]\n"; }
        location /cache {
            set $first $cached; set $vfirst $vol; set $args "k=z&x=2";
            return 200 "[$first][$cached][$vfirst][$vol]\n";
        }
        location /nodefault { return 200 "[$nodefault]\n"; }
    }
}
"""
FILES = {"conf/m.inc": b"inc1 from-inc;\ninclude m2.inc;\n", "conf/m2.inc": b"inc2 deep;\n"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with pair(CONF, tmp_path_factory.mktemp("map"), FILES) as p:
        yield p


CASES = [
    "/?k=abc", "/?k=ABC", "/?k=mixed", "/?k=MIXED", "/?k=re12", "/?k=RE12", "/?k=cixy",
    "/?k=CIz", "/?k=xbca", "/?k=xbcd", "/?k=~lit", "/?k=inc1", "/?k=inc2", "/?k=", "/",
    "/?k=zz", "/?k=abc%20", "/h?h=example.com", "/h?h=Example.COM.", "/h?h=a.example.com",
    "/h?h=a.b.example.com", "/h?h=foo.org", "/h?h=x.foo.org", "/h?h=x.a.foo.org",
    "/h?h=www.bar.com", "/h?h=www.bar", "/h?h=www.bar.baz.q", "/h?h=www.bar.bazq.q",
    "/h?h=.", "/h?h=", "/cache?k=1&x=1", "/nodefault?a=1", "/nodefault?a=2",
]


@pytest.mark.parametrize("target", CASES)
def test_map_matches_nginx(servers: tuple[ServerProcess, ServerProcess], target: str) -> None:
    nginx, trinx = servers
    assert shape(get(trinx, target)) == shape(get(nginx, target))


def test_map_upgrade_header(servers: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = servers
    h = "Upgrade: websocket\r\n"
    assert shape(get(trinx, "/", h)) == shape(get(nginx, "/", h))


_KEY = st.text(alphabet="abcABCireRE0129~xb.-_", max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=_KEY, host=st.sampled_from(["", "www.", "a.", "x.a."]).flatmap(
    lambda p: st.sampled_from([p + s for s in ["example.com", "foo.org", "bar.com",
                                               "bar.baz.x", "EXAMPLE.com."]])))
def test_map_keys_hypothesis(servers: tuple[ServerProcess, ServerProcess], key: str,
                             host: str) -> None:
    nginx, trinx = servers
    for target in (f"/?k={key}", f"/h?h={host}"):
        assert shape(get(trinx, target)) == shape(get(nginx, target)), target
