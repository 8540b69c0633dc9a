"""Location selection end to end (core.md section 7.3) and server selection by Host
(section 7.1), on the real trinx.

Every location sets its own ``default_type`` and ``types {}`` is emptied, so the
Content-Type of a served file names the location (or server) that answered.  The same
config runs against nginx in tests/differential/test_core_diff.py; the expectations here
are nginx 1.22.1's answers.  (Named ``test_location_match.py``: a second
``test_locations.py`` would clash with tests/engine/test_locations.py under pytest's default
import mode.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerProcess, http_request, parse_response, start_trinx

LOC_CONF = """
events {}
http {
    access_log off;
    types {}
    default_type t/server;
    root html;
    server {
        listen 127.0.0.1:{port};
        server_name loc.test;
        location = /exact { default_type t/eq-exact; }
        location /exact { default_type t/exact; }
        location /images/ { default_type t/images; }
        location ~* \\.(gif|jpg)$ { default_type t/rx-gif-jpg; }
        location ~ \\.JPG$ { default_type t/rx-JPG; }
        location ^~ /static/ { default_type t/noregex-static; }
        location /nest/ {
            default_type t/nest;
            location ^~ /nest/deep/ { default_type t/nest-deep; }
            location /nest/deep2/ { default_type t/nest-deep2; }
            location ~ \\.php$ { default_type t/nest-php; }
        }
        location ~ \\.php$ { default_type t/top-php; }
        location ^~ /static2/ {
            default_type t/static2;
            location ~ \\.png$ { default_type t/static2-png; }
        }
        location ~ ^/cap/([a-z]+)/(.*)$ { alias html/capdir/$1/$2; default_type t/cap; }
        location /int/ { internal; default_type t/int; }
    }
    server { listen 127.0.0.1:{port}; server_name exact.test alias.test; default_type t/s-exact; }
    server { listen 127.0.0.1:{port}; server_name *.wild.test; default_type t/s-lead; }
    server { listen 127.0.0.1:{port}; server_name *.a.wild.test; default_type t/s-lead-long; }
    server { listen 127.0.0.1:{port}; server_name www.*; default_type t/s-trail; }
    server { listen 127.0.0.1:{port}; server_name ~^rx(\\d+)\\.test$; default_type t/s-rx1; }
    server { listen 127.0.0.1:{port}; server_name ~^rx; default_type t/s-rx2; }
    server { listen 127.0.0.1:{port}; server_name .dot.test; default_type t/s-dot; }
    server { listen 127.0.0.1:{port} default_server; server_name dflt.test; default_type t/s-default; }
}
"""

LOC_FILES = {f"html{p}": p.encode() + b"\n" for p in [
    "/exact", "/exactx", "/images/a.gif", "/images/a.txt", "/static/a.gif", "/a.GIF", "/a.JPG",
    "/b.jpg", "/nest/x.php", "/nest/x.txt", "/nest/deep/x.php", "/nest/deep/x.txt",
    "/nest/deep2/x.php", "/nest/deep2/x.txt", "/x.php", "/static2/a.png", "/static2/a.gif",
    "/other", "/int/x",
]}
LOC_FILES["html/capdir/abc/d/e"] = b"captured\n"

# (uri, Content-Type naming the location), checked on nginx 1.22.1
LOCATION_CASES = [
    ("/exact", "t/eq-exact"),
    ("/exactx", "t/exact"),
    ("/images/a.gif", "t/rx-gif-jpg"),
    ("/images/a.txt", "t/images"),
    ("/static/a.gif", "t/noregex-static"),
    ("/a.GIF", "t/rx-gif-jpg"),
    ("/a.JPG", "t/rx-gif-jpg"),
    ("/b.jpg", "t/rx-gif-jpg"),
    ("/nest/x.php", "t/nest-php"),
    ("/nest/x.txt", "t/nest"),
    ("/nest/deep/x.php", "t/top-php"),
    ("/nest/deep/x.txt", "t/nest-deep"),
    ("/nest/deep2/x.php", "t/nest-php"),
    ("/nest/deep2/x.txt", "t/nest-deep2"),
    ("/x.php", "t/top-php"),
    ("/static2/a.png", "t/static2-png"),
    ("/static2/a.gif", "t/static2"),
    ("/other", "t/server"),
    ("/cap/abc/d/e", "t/cap"),
]

# (Host header, Content-Type naming the server)
SERVER_CASES = [
    ("exact.test", "t/s-exact"),
    ("ALIAS.test:8080", "t/s-exact"),
    ("exact.test.", "t/s-exact"),
    ("x.wild.test", "t/s-lead"),
    ("x.a.wild.test", "t/s-lead-long"),
    ("wild.test", "t/s-default"),
    ("www.example.org", "t/s-trail"),
    ("www.wild.test", "t/s-lead"),
    ("rx12.test", "t/s-rx1"),
    ("rxa.test", "t/s-rx2"),
    ("dot.test", "t/s-dot"),
    ("a.dot.test", "t/s-dot"),
    ("unknown.test", "t/s-default"),
    ("127.0.0.1", "t/s-default"),
]


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(LOC_CONF, tmp_path_factory.mktemp("loc"), LOC_FILES)
    yield server
    server.stop()


def get(server: ServerProcess, uri: str, host: str = "loc.test") -> tuple[int, str | None, bytes]:
    raw = http_request(server.port, f"GET {uri} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    resp = parse_response(raw)
    return resp.status, resp.header("Content-Type"), resp.body


@pytest.mark.parametrize("uri,ctype", LOCATION_CASES)
def test_location_selected(trinx: ServerProcess, uri: str, ctype: str) -> None:
    status, got, body = get(trinx, uri)
    assert (status, got) == (200, ctype)
    if uri != "/cap/abc/d/e":
        assert body == uri.encode() + b"\n"


def test_regex_alias_with_captures(trinx: ServerProcess) -> None:
    assert get(trinx, "/cap/abc/d/e")[2] == b"captured\n"


def test_internal_location_is_404_for_clients(trinx: ServerProcess) -> None:
    assert get(trinx, "/int/x")[0] == 404


@pytest.mark.parametrize("host,ctype", SERVER_CASES)
def test_server_selected_by_host(trinx: ServerProcess, host: str, ctype: str) -> None:
    status, got, _ = get(trinx, "/other", host)
    assert (status, got) == (200, ctype)


def test_no_host_http10_uses_default_server(trinx: ServerProcess) -> None:
    resp = parse_response(http_request(trinx.port, b"GET /other HTTP/1.0\r\n\r\n"))
    assert resp.header("Content-Type") == "t/s-default"
