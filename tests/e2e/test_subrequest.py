"""The subrequest API and the postpone stage on a real trinx (reference/subrequests.md §1-5).

Pages are built by the test module ``tests/modules/srtest.py`` (loaded with ``load_module``),
which calls the same ``engine.api`` functions SSI and addition use.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import (ServerProcess, http_request, parse_response, parse_responses,
                           start_trinx)

CONF = """
load_module tests.modules.srtest;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /page { srtest_page; }
        location /s { srtest_sleep; }
        location /gen { srtest_gen; }
        location /small/ { subrequest_output_buffer_size 8; root html; }
        location /tight { postpone_buffer_size 16k; srtest_page; }
        location /loop { rewrite ^ /page?p=L|/loop last; }
        location /redir { return 302 /elsewhere; }
    }
}
"""

FILES = {"html/small/x.txt": b"123456789", "html/small/ok.txt": b"1234",
         "html/f/x.txt": b"FFF", "html/f/big.txt": b"B" * 5000, "html/f/empty.txt": b""}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("sr"), FILES)
    yield server
    server.stop()


def get(server: ServerProcess, target: str, timeout: float = 10.0) -> tuple[int, bytes]:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    resp = parse_response(http_request(server.port, raw, timeout=timeout))
    return resp.status, resp.body


def page(*items: str) -> str:
    return "/page?p=" + "|".join(items)


def test_text_and_includes_come_out_in_document_order(trinx: ServerProcess) -> None:
    status, body = get(trinx, page("A", "/f/x.txt", "B", "/s~t=S", "C"))
    assert (status, body) == (200, b"AFFFBSC")


def test_reverse_finishing_includes_keep_document_order(trinx: ServerProcess) -> None:
    # the first include finishes last: everything after it is held, then released in order
    items = [f"/s~ms={(20 - i) * 15}!t={i}." for i in range(20)]
    status, body = get(trinx, page("<", *items, ">"))
    assert body == b"<" + b"".join(b"%d." % i for i in range(20)) + b">"


def test_parallel_includes_overlap(trinx: ServerProcess) -> None:
    started = time.monotonic()
    status, body = get(trinx, page(*[f"/s~ms=200!t={i}" for i in range(10)]))
    elapsed = time.monotonic() - started
    assert body == b"0123456789"
    assert elapsed < 0.4, f"10 parallel 200 ms includes took {elapsed:.2f}s"


def test_waited_includes_are_sequential(trinx: ServerProcess) -> None:
    started = time.monotonic()
    status, body = get(trinx, page(*[f"w/s~ms=100!t={i}" for i in range(5)]))
    elapsed = time.monotonic() - started
    assert body == b"01234"
    assert elapsed >= 0.5


def test_first_bytes_arrive_before_a_slow_include_ends(trinx: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=5) as s:
        s.sendall(b"GET " + page("HEAD", "/s~ms=800!t=Z", "TAIL").encode()
                  + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        started = time.monotonic()
        first = b""
        while b"HEAD" not in first:
            first += s.recv(4096)
        assert time.monotonic() - started < 0.5
        rest = b""
        while chunk := s.recv(4096):
            rest += chunk
    assert b"TAIL" in rest and b"TAIL" not in first


def test_error_status_of_an_include_becomes_its_page_body(trinx: ServerProcess) -> None:
    status, body = get(trinx, page("A", "/nope", "B"))
    assert status == 200
    assert body.startswith(b"A<html>") and b"404 Not Found" in body and body.endswith(b"B")
    assert 'subrequest: "/nope"' in trinx.error_log_text()


def test_redirecting_include_gives_its_page_body_not_its_headers(trinx: ServerProcess) -> None:
    raw = f"GET {page('A', '/redir', 'B')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    resp = parse_response(http_request(trinx.port, raw.encode()))
    assert resp.status == 200 and resp.header("location") is None
    assert b"302 Found" in resp.body


def test_in_memory_subrequest_body_and_status(trinx: ServerProcess) -> None:
    assert get(trinx, page("A", "m/f/x.txt", "B", "m/nope", "C"))[1][:14] == b"A[200:FFF]B[40"
    status, body = get(trinx, page("m/f/empty.txt"))
    assert body == b"[200:]"


def test_in_memory_subrequest_too_big_terminates_the_request(trinx: ServerProcess) -> None:
    # the limit is the subrequest's location's: 4k by default, 8 bytes under /small/
    for target in (page("A", "m/f/big.txt", "B"), page("A", "m/small/x.txt", "B")):
        data = http_request(trinx.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert b"B" not in data.split(b"\r\n\r\n", 1)[-1]
        assert not data.endswith(b"0\r\n\r\n"), "a terminated response must look failed"
    assert trinx.error_log_text().count("too big subrequest response") == 2
    assert get(trinx, page("m/small/ok.txt"))[1] == b"[200:1234]"
    assert get(trinx, page("still", "/f/x.txt"))[1] == b"stillFFF"


def test_background_subrequest_output_is_discarded(trinx: ServerProcess) -> None:
    assert get(trinx, page("A", "b/f/x.txt", "b/s~ms=50", "B"))[1] == b"AB"


def test_nesting_depth_ends_with_an_error(trinx: ServerProcess) -> None:
    # /loop includes itself: main + 51 levels of "L" (as nginx prints), then the creation fails
    status, body = get(trinx, "/loop")
    assert status == 200
    assert body == b"L" * 52 + b"[error]"
    assert 'subrequests cycle while processing "/loop"' in trinx.error_log_text()


def test_held_output_is_bounded_and_the_producer_waits(trinx: ServerProcess) -> None:
    # a slow first include holds everything after it; the generator behind it must wait
    # once 16k are held instead of piling up its 2 MiB
    status, body = get(trinx, "/tight?p=/s~ms=300|/gen~n=512!kb=4")
    assert body.startswith(b"x" + b"g" * 4096)
    held = int(body.rsplit(b"<held:", 1)[1].rstrip(b">"))
    assert 0 < held <= 16 * 1024 + 4096
    assert len(body) == 1 + 512 * 4096 + len(b"<held:%d>" % held)


def test_client_disconnect_cancels_the_tree(trinx: ServerProcess, tmp_path: Path) -> None:
    mark = tmp_path / "ticks"
    target = page("A", f"/s~ms=50!n=100!f={mark}")
    with socket.create_connection(("127.0.0.1", trinx.port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.recv(100)
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.5)
    ticks = mark.stat().st_size
    time.sleep(0.5)
    assert mark.stat().st_size == ticks, "the subrequest kept running after the client left"
    assert ticks < 30
    assert get(trinx, page("ok"))[1] == b"ok"


def test_keepalive_after_subrequests(trinx: ServerProcess) -> None:
    one = f"GET {page('A', '/f/x.txt', '/s~ms=20!t=S', 'B')} HTTP/1.1\r\nHost: x\r\n\r\n"
    data = http_request(trinx.port, (one * 3).encode(), responses=3)
    bodies = [r.body for r in parse_responses(data)]
    assert bodies == [b"AFFFSB"] * 3


# --- any mix of text, parallel and waited includes finishing in any order -----------------

_ITEM = st.one_of(
    st.text(alphabet="abcXYZ", min_size=1, max_size=3).map(lambda t: (t, t)),
    st.tuples(st.sampled_from(["", "w"]), st.integers(0, 40),
              st.text(alphabet="123", min_size=1, max_size=2)).map(
        lambda k: (f"{k[0]}/s~ms={k[1]}!t={k[2]}", k[2])),
    st.just(("/f/x.txt", "FFF")),
    st.just(("m/f/x.txt", "[200:FFF]")),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(_ITEM, max_size=8))
def test_any_page_comes_out_in_document_order(trinx: ServerProcess,
                                              items: list[tuple[str, str]]) -> None:
    status, body = get(trinx, page(*(spec for spec, _ in items)))
    assert status == 200
    assert body == "".join(expected for _, expected in items).encode()
