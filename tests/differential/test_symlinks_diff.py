"""``disable_symlinks`` against nginx 1.22: same config, same trees of symlinks (built by
tests/e2e/test_symlinks.py's `build_site` in each prefix), every request to both servers.

Compared: status line, headers (Date and the port in Location normalised), body, and the
error-log lines each request wrote (time, pid, connection number and prefix normalised), since
the log line (``openat() ... failed (40: ...)`` or nothing) is part of nginx's behaviour here.
Also checks that nginx still gives the statuses written out in the e2e test's table.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.differential.modules4_pair import pair as start_pair
from tests.e2e.test_symlinks import CASES, CONF, PATHS, build_site
from tests.harness import (NGINX_BIN, ServerProcess, http_request, log_lines_since,
                           parse_responses, pin_mtimes, request_methods)

pytestmark = pytest.mark.differential

MTIME = 1704164645

# try_files tests its candidates under the location's disable_symlinks (nginx's
# ngx_open_cached_file with test_only): a refused candidate is skipped and logged at crit.
TRY_FILES = """
        location /tf/ { alias html/on/; disable_symlinks on; try_files $uri =410; }
        location /tfd/ { alias html/on/; disable_symlinks on; try_files $uri/ =410; }
        location /tfo/ { alias html/on/; disable_symlinks if_not_owner; try_files $uri $uri/ =410; }
        location /tff/ { alias html/on/; disable_symlinks on from=$document_root;
                         try_files $uri $uri/ =410; }
        location /tfn/ { alias html/on/; try_files $uri $uri/ =410; }
"""
DIFF_CONF = CONF.replace("        location /al/", TRY_FILES + "        location /al/", 1)


class Pair:
    def __init__(self, nginx: ServerProcess, trinx: ServerProcess) -> None:
        self.servers = (nginx, trinx)

    def exchange(self, raw: bytes) -> list[tuple[object, ...]]:
        """The normalised answer and new log lines of each server, nginx first."""
        out = []
        for server in self.servers:
            log_before = len(server.error_log_text())
            data = http_request(server.port, raw, timeout=5)
            responses = []
            for resp in parse_responses(data, request_methods(raw)):
                headers = [(n, "<date>" if n == "Date" else
                            v.replace(f":{server.port}/", ":<port>/")) for n, v in resp.headers]
                responses.append((resp.status, resp.reason, headers, resp.body))
            out.append((responses, log_lines_since(server, log_before)))
        return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    tmp = tmp_path_factory.mktemp("symlinks")
    for name in ("nginx", "trinx"):
        build_site(tmp / name)
        pin_mtimes(tmp / name, MTIME)
    with start_pair(DIFF_CONF, tmp) as servers:
        yield Pair(*servers)


def _raw(target: str, method: str = "GET", host: str = "x") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


LOCS = ["off", "on", "own", "fr", "frl", "frp", "trail", "frall", "rel", "ownfr", "empty",
        "al", "alown"]
EXTRA = ["/sroot/f.txt", "/srootfr/f.txt", "/idx2/", "/idx3/", "/frall/lf.txt", "/own/ldir?a=1",
         "/on/ldir?a=1", "/nope/", "/on/real", "/own/real?x",
         "/off/loopdir/", "/on/loopdir/", "/own/loopdir/", "/off/loopdir"]


# HEAD only where the modes differ most: its answers follow GET's
REQUESTS = ([("GET", f"/{loc}/{p}") for loc in LOCS for p in PATHS] + [("GET", t) for t in EXTRA]
            + [("HEAD", f"/{loc}/{p}") for loc in ("off", "on", "own") for p in PATHS])


@pytest.mark.parametrize("method,target", REQUESTS)
def test_same_answer_and_log(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(_raw(target, method))
    assert trinx == nginx


@pytest.mark.parametrize("target", ["/on/lf.txt", "/off/lf.txt", "/inherit/lf.txt",
                                    "/inherit/ldir/", "/on/"])
def test_inherited_from_server(pair: Pair, target: str) -> None:
    nginx, trinx = pair.exchange(_raw(target, host="inherit"))
    assert trinx == nginx


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("loc", ["tf", "tfd", "tfo", "tff", "tfn"])
def test_try_files(pair: Pair, loc: str, path: str) -> None:
    nginx, trinx = pair.exchange(_raw(f"/{loc}/{path}"))
    assert trinx == nginx


def test_e2e_table_is_nginx(pair: Pair) -> None:
    """The statuses written out in tests/e2e/test_symlinks.py are nginx's."""
    nginx = pair.servers[0]
    wrong = []
    for loc, path, status in CASES:
        data = http_request(nginx.port, _raw(f"/{loc}/{path}"))
        got = parse_responses(data, ["GET"])[0].status
        if got != status:
            wrong.append((loc, path, status, got))
    assert wrong == []
