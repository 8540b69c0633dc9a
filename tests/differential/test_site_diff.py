"""The demo site (site/trinx.conf, composed with SSI, gzip on) served by trinx and by Debian's
nginx from copies of site/: every page gives the same status and body (the footer's
composition time aside), gzipped or not."""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (NGINX_BIN, REPO_ROOT, ServerProcess, http_request, parse_response,
                           start_nginx, start_trinx)

pytestmark = pytest.mark.differential

PAGES = ["/", "/?name=%3Cb%3E", "/index.html", "/about.html", "/docs/", "/docs/ranges.html",
         "/no-such-page", "/fragments/nav.html", "/healthz", "/css/site.css"]


def _site_conf() -> str:
    conf = (REPO_ROOT / "site/trinx.conf").read_text()
    conf = re.sub(r"^(daemon|pid|error_log) .*$", "", conf, flags=re.M)
    conf = conf.replace("include mime.types;", "include {prefix}/mime.types;")
    return conf.replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:{port};")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                     ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    tmp = tmp_path_factory.mktemp("site")
    servers = []
    for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
        prefix = tmp / name
        shutil.copytree(REPO_ROOT / "site/html", prefix / "html",
                        ignore=shutil.ignore_patterns("big.txt"))
        shutil.copy(REPO_ROOT / "site/mime.types", prefix / "mime.types")
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        servers.append(start(_site_conf().replace("{prefix}", str(prefix)), prefix))
    yield servers[0], servers[1]
    for s in servers:
        s.stop()


_DATE = re.compile(rb"composed [0-9: -]+GMT")


def view(server: ServerProcess, target: str, gz: bool) -> tuple[object, ...]:
    ae = "Accept-Encoding: gzip\r\n" if gz else ""
    raw = f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{ae}Connection: close\r\n\r\n"
    r = parse_response(http_request(server.port, raw.encode()))
    body = gzip.decompress(r.body) if r.header("Content-Encoding") == "gzip" else r.body
    return (r.status, r.header("Content-Type"), r.header("Content-Encoding"),
            r.header("Vary"), _DATE.sub(b"composed DATE", body))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("target", PAGES)
def test_site_pages(pair: tuple[ServerProcess, ServerProcess], target: str, gz: bool) -> None:
    nginx, trinx = pair
    assert view(trinx, target, gz) == view(nginx, target, gz)
