"""Subrequests that skip their no-op phases and filters (engine.http_core.plan_subrequests)
give the same output as when everything runs: a location whose filters or rewrite-phase
handlers act on subrequests still gets them, and a filter installed by hand (unknown to the
engine) still sees every subrequest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServerProcess, http_request, parse_response, start_trinx

CONF = """
{load}
events {{}}
http {{
    access_log off;
    types {{ text/html html; text/plain txt; }}
    server {{
        listen 127.0.0.1:{{port}};
        root html;
        location /ssi/ {{ ssi on; }}
        location /up/ {{ {directive}; }}
        location /plain/ {{ }}
        location /sub/ {{ sub_filter a A; sub_filter_once off; sub_filter_types *; }}
        location /rw/ {{ rewrite ^/rw/(.*)$ /plain/$1 last; }}
        location /tf/ {{ try_files /plain/x.txt =404; }}
        location /inner/ {{ ssi on; ssi_types text/plain; }}
        location /lim/ {{ limit_except POST {{ deny all; }} }}
    }}
}}
"""
FILES = {
    "html/ssi/page.html": b"<".join(b'<!--#include virtual="/%s/x.txt" -->|' % d.encode()
                                    for d in ("up", "plain", "sub", "rw", "tf", "inner", "lim")),
    "html/up/x.txt": b"abc",
    "html/plain/x.txt": b"abc",
    "html/sub/x.txt": b"abc",
    "html/inner/x.txt": b'a<!--#echo var="uri" -->',
    "html/lim/x.txt": b"abc",
}
EXPECTED = b"<".join([b"ABC|", b"abc|", b"Abc|", b"abc|", b"abc|", b"a/inner/x.txt|", b"abc|"])


def get(server: ServerProcess, target: str) -> bytes:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    response = parse_response(http_request(server.port, raw))
    assert response.status == 200
    return response.body


def config(modules: tuple[str, ...], directive: str) -> str:
    load = "".join(f"load_module tests.modules.{m};\n" for m in modules)
    return CONF.format(load=load, directive=directive)


# by hand, then pushed: the filter pushed later must not hide the one set by hand
@pytest.fixture(scope="module", params=[(("upper",), "upper"),
                                        (("upper_by_hand",), "upper_by_hand"),
                                        (("upper_by_hand", "upper"), "upper_by_hand")],
                ids=["pushed", "by-hand", "by-hand-then-pushed"])
def trinx(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    conf = config(*request.param)
    server = start_trinx(conf, tmp_path_factory.mktemp("plan"), FILES)
    yield server
    server.stop()


def test_includes_get_exactly_the_work_their_location_does(trinx: ServerProcess) -> None:
    assert get(trinx, "/ssi/page.html") == EXPECTED
    assert get(trinx, "/up/x.txt") == b"ABC"  # the main request too


def test_the_plan_follows_the_configuration(tmp_path: Path) -> None:
    """What each location lets a subrequest skip (sans-IO: the configuration only)."""
    from engine.cycle import read_cycle
    from engine.locations import find_location
    from engine.modules import builtin_modules

    conf = tmp_path / "trinx.conf"
    conf.write_text(config(("upper",), "upper").replace("{port}", "8080"))
    cycle = read_cycle(str(conf), str(tmp_path) + "/", builtin_modules())
    server = cycle.servers[0]
    plan = {}
    for uri in ("/up/", "/plain/", "/sub/", "/rw/", "/tf/", "/inner/", "/lim/", "/ssi/", "/"):
        loc, _, _ = find_location(server.root, uri)
        loc = loc or server.root
        plan[uri] = (loc.sr_skip_phases, loc.sr_skip_filters)
    assert server.sr_skip_server_rewrite
    assert plan == {
        "/up/": (True, False), "/plain/": (True, True), "/sub/": (True, False),
        "/rw/": (False, True), "/tf/": (False, True), "/inner/": (True, False),
        "/lim/": (False, False), "/ssi/": (True, False), "/": (True, True)}
    by_hand = tmp_path / "by_hand.conf"
    for modules in (("upper_by_hand",), ("upper_by_hand", "upper")):
        by_hand.write_text(config(modules, "upper_by_hand").replace("{port}", "8080"))
        cycle = read_cycle(str(by_hand), str(tmp_path) + "/", builtin_modules())
        assert not any(loc.sr_skip_filters for loc in cycle.servers[0].root.walk())
