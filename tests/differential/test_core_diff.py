"""trinx against nginx 1.22 with the same config and files: static files, index, try_files,
error_page, internal, types, URI normalisation, location and server selection, HTTP-level
errors.

Each request goes to both servers and the responses must be equal: status line, the whole
header list in order (Date only for presence; the port normalised in Location), and body.
Accept-Ranges is compared once trinx has the range filter.  Known, documented differences
(HTTP/0.9, multi-digit versions, ``try_files ... =200`` which hangs nginx) are left out.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.test_location_match import LOC_CONF, LOC_FILES, LOCATION_CASES, SERVER_CASES
from tests.harness import (NGINX_BIN, ServerPairFactory, ServerProcess, http_request,
                           parse_response, parse_responses, request_methods, start_nginx,
                           start_trinx)

pytestmark = pytest.mark.differential

MTIME = 1704164645  # Tue, 02 Jan 2024 03:04:05 GMT
HAVE_RANGES = importlib.util.find_spec("filters.range") is not None

STATIC_CONF = """
events {}
http {
    access_log off;
    client_header_timeout 5s;
    server {
        listen 127.0.0.1:{port};
        root html;
        client_max_body_size 10;
        location /al/ { alias html/files/; }
        location ~ ^/re/(.*)$ { alias html/files/$1; }
        location /noetag/ { etag off; }
        location /types/ { types { text/x-foo foo; } default_type app/def; }
        location /sf/ { sendfile on; }
        location /tf/ { try_files $uri $uri/ /fallback.txt?fb=1; }
        location /tf2/ { try_files /nope =418; }
        location /tf3/ { try_files /nope @named; }
        location /tf4/ { try_files /nope /tf4dir/ =404; }
        location /tf5/ { try_files /files/ =403; }
        location /tf6/ { try_files /nope /int/err.txt; }
        location /tfa/ { alias html/files/; try_files $uri /tfa/a.txt =404; }
        location @named { root html/named; }
        location /ep1/ { error_page 404 /files/err.txt; }
        location /ep2/ { error_page 404 =200 /files/err.txt; }
        location /ep3/ { error_page 404 = /files/err.txt; }
        location /ep4/ { error_page 404 @named; }
        location /ep5/ { error_page 404 http://example.com/x; }
        location /ep6/ { error_page 404 =301 http://example.com/x; }
        location /ep7/ { error_page 404 /nope2.txt; }
        location /ep8/ { error_page 404 /int/err.txt; }
        location /ep9/ { error_page 404 = /ep9/missing2; }
        location /ep10/ { error_page 405 /files/err.txt; }
        location /ep11/ { error_page 404 =200 /nope.txt; }
        location /ep12/ { error_page 404 /ep12b/x; }
        location /ep12b/ { error_page 404 /files/err.txt; }
        location /ep13/ { recursive_error_pages on; error_page 404 /ep13b/x; }
        location /ep13b/ { error_page 404 /files/err.txt; }
        location /ep14/ { error_page 404 /files/err.txt?a=b; }
        location /ep15/ { error_page 404 /files/; }
        location /ep16/ { error_page 404 /files; }
        location /ep17/ { error_page 404 =302 /files/err.txt; }
        location /ep18/ { error_page 418 /files/err.txt; try_files /nope =418; }
        location /ep19/ { error_page 404 = @named; }
        location /int/ { internal; }
        location /idx/ { index nope.html /fallback.txt; }
        location /idx2/ { index a.html b.html; }
        location /idx3/ { index nope.html; }
        location /st/ { server_tokens off; }
        location /nopad/ { msie_padding off; }
        location /ar/ { absolute_redirect off; }
        location /pr/ { port_in_redirect off; }
        location /snr/ { server_name_in_redirect on; }
        location /lnf/ { log_not_found off; }
        location /loop/ { try_files /nope /loop/x; }
    }
}
"""

STATIC_FILES = {
    "html/files/a.txt": b"hello\n", "html/files/err.txt": b"err\n", "html/empty.html": b"",
    "html/files/sub/x.html": b"x", "html/index.html": b"index\n",
    "html/sf/big.bin": bytes(range(256)) * 400 + b"tail",
    "html/big.bin": bytes(range(256)) * 300,
    "html/noetag/a.html": b"ne", "html/types/a.foo": b"f", "html/types/a.html": b"h",
    "html/types/a.FOO": b"F", "html/x.GIF": b"g", "html/.htaccess": b"h", "html/a.b/c": b"c",
    "html/sp ace/f": b"s", "html/fallback.txt": b"fb\n", "html/named/tf3/x": b"named\n",
    "html/named/ep4/x": b"named4\n", "html/named/ep19/x": b"named19\n",
    "html/int/err.txt": b"interr\n", "html/tf/real": b"real\n",
    "html/tf/d/index.html": b"dindex\n", "html/idx2/b.html": b"b\n",
    "html/idx2/a.html/x": b"adir", "html/idx3/x": b"x", "html/tf4dir/x": b"x",
    "html/ar/d/x": b"x", "html/pr/d/x": b"", "html/snr/d/x": b"", "html/st/x": b"",
    "html/a%20b": b"literal percent\n", "html/q?.txt": b"question\n",
    "secret.txt": b"TOP SECRET\n",
}

H = " HTTP/1.1\r\nHost: x\r\n\r\n"

STATIC_REQUESTS = [
    # static files, HEAD, empty, directories, methods
    *[f"GET {u}{H}" for u in [
        "/files/a.txt", "/empty.html", "/files", "/files?a=1&b=2", "/sp%20ace", "/missing",
        "/al/a.txt", "/re/a.txt", "/re/sub", "/al/sub", "/noetag/a.html", "/types/a.foo",
        "/types/a.FOO", "/types/a.html", "/x.GIF", "/.htaccess", "/a.b/c", "/", "/files/",
        "/nodir/", "/files/a.txt/.", "/sf/big.bin", "/big.bin", "/a%2520b", "/q%3F.txt",
        "/lnf/missing", "/lnf/",
    ]],
    "HEAD /files/a.txt" + H, "HEAD /missing" + H, "HEAD /files" + H,
    "GET /files?a=1 HTTP/1.1\r\nHost: example.com:9999\r\n\r\n",
    "GET /files HTTP/1.0\r\n\r\n",
    "PUT /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "DELETE /files/a.txt" + H, "DELETE /files/" + H,
    "POST /files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    # try_files, error_page, internal, index
    *[f"GET {u}{H}" for u in [
        "/tf/real", "/tf/real?a=1", "/tf/d", "/tf/d/", "/tf/nope", "/tf/nope?a=b", "/tf2/x",
        "/tf3/x", "/tf4/x", "/tf5/x", "/tf6/x", "/tfa/a.txt", "/tfa/zz",
        *[f"/ep{i}/x" for i in range(1, 20)], "/ep1/x?z=9", "/ep19/x", "/int/err.txt",
        "/idx/", "/idx/?q=1", "/idx2/", "/idx3/", "/st/nope", "/st/", "/ar/d", "/ar/d?x=1",
        "/pr/d", "/snr/d", "/loop/x",
    ]],
    "HEAD /ep1/x" + H,
    "POST /ep1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "PUT /ep10/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "POST /ep4/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    # msie/Chrome padding
    *[f"GET {u} HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n\r\n" for u in ("/nope", "/files")
      for ua in ("Mozilla/5.0 (X11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
                 "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", "Opera Chrome/1",
                 "Gecko/2010 Chrome/1", "MSIE 6")],
    "GET /nopad/x HTTP/1.1\r\nHost: x\r\nUser-Agent: Chrome/1\r\n\r\n",
    # URI normalisation (core.md section 6)
    *[f"GET {u}{H}" for u in [
        "/%66iles/a.txt", "/files%2Fa.txt", "/../x", "/a/../../x", "/%00", "//files///a.txt",
        "/files/./a.txt", "/files/..", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
        "/files/%2e%2e/%2e%2e/secret.txt", "/files/..%2F..%2Fsecret.txt", "/%zz",
        "/files/a.txt#frag", "/files/a.txt?x#y",
    ]],
    "GET http://other/files/a.txt?q HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET * HTTP/1.1\r\nHost: x\r\n\r\n", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    # HTTP level
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "GET /files/a.txt HTTP/1.0\r\n\r\n",
    # HTTP/1.0 keep-alive (nginx's ngx_http_process_connection: "close" first, then
    # "keep-alive", else the version), several requests on one connection
    "GET /files/a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /files/a.txt HTTP/1.0"
    "\r\nConnection: Keep-Alive\r\n\r\nGET /files/a.txt HTTP/1.0\r\n\r\nGET /files HTTP/1.0\r\n\r\n",
    "GET /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /files HTTP/1.0\r\n"
    "Connection: keep-alive\r\n\r\nGET /files/a.txt HTTP/1.0\r\n\r\n",
    "POST /files/a.txt HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"
    "GET /files/a.txt HTTP/1.0\r\n\r\n",
    "GET /files/a.txt HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\nGET /files/a.txt "
    "HTTP/1.0\r\n\r\n",
    # every Connection line counts, the last "close"/"keep-alive" one wins
    "GET /files/a.txt HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
    "GET /files/a.txt HTTP/1.0\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /files/a.txt HTTP/1.0\r\nConnection: foo\r\nConnection: keep-alive\r\n\r\n"
    "GET /files/a.txt HTTP/1.0\r\n\r\n",
    # HTTP/1.0 has no chunked bodies: 400, and the pipelined request is not run
    "GET /files/a.txt HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
    "0\r\n\r\nGET /files/a.txt HTTP/1.0\r\n\r\n",
    "POST /files/a.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: foo\r\n\r\nGET /files/a.txt HTTP/1.0"
    "\r\nConnection: xkeep-alivex\r\n\r\nGET /files/a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    "POST /files/a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    "GET /missing HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    "POST /files/a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "14\r\nhellohellohellohello\r\n0\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    "GET /missing HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    "GARBAGE\r\n\r\n", "get /files/a.txt" + H, "G1 /files/a.txt" + H,
    "GET /files/a.txt HTTP/3.0\r\nHost: x\r\n\r\n", "GET /files/a.txt HTTP/0.9\r\nHost: x\r\n\r\n",
    "GET /files/a.txt HTTP/1.2\r\nHost: x\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\n\r\n",
    *[f"GET /files HTTP/1.1\r\nHost: {h}\r\n\r\n" for h in [
        "", ".x", "x.", "x..", ".", "a:b:c", "a\\b", "a b", "[::1", "[::1]:8080", "A.B",
        "x.:80", "_x_", "EXAMPLE.com."]],
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "GET /" + "a" * 9000 + H,
    "GET /" + "a" * 8000 + H,
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 9000 + "\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 8000 + "\r\n\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\n"
    + "".join(f"X-H{i}: {'b' * 1000}\r\n" for i in range(40)) + "\r\n",
    "GET /files/a.txt HTTP/1.1\r\nHost: x\r\n"
    + "".join(f"X-H{i}: {'b' * 1000}\r\n" for i in range(20)) + "\r\n",
    # pipelining
    ("GET /files/a.txt" + H) * 2 + "HEAD /files/a.txt" + H + "GET /missing" + H,
]


def _norm(data: bytes, port: int, methods: list[str]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for resp in parse_responses(data, methods):
        headers = []
        for name, value in resp.headers:
            if name == "Date":
                value = "<date>"
            elif name == "Location":
                value = value.replace(f":{port}/", ":<port>/")
            elif name == "Accept-Ranges" and not HAVE_RANGES:
                continue
            headers.append((name, value))
        out.append((resp.status, resp.reason, headers, resp.body))
    return out


class Pair:
    def __init__(self, nginx: ServerProcess, trinx: ServerProcess) -> None:
        self.nginx, self.trinx = nginx, trinx

    def exchange(self, raw: bytes) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        methods = request_methods(raw)
        got = []
        for server in (self.nginx, self.trinx):
            data = http_request(server.port, raw, timeout=5)
            got.append(_norm(data, server.port, methods))
        return got[0], got[1]


def _start_pair(tmp: Path, conf: str, files: dict[str, bytes]) -> Pair:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    nginx = start_nginx(conf, tmp / "nginx", files)
    try:
        trinx = start_trinx(conf, tmp / "trinx", files)
    except BaseException:
        nginx.stop()
        raise
    for prefix in (tmp / "nginx", tmp / "trinx"):
        for name in files:
            os.utime(prefix / name, (MTIME, MTIME))
        # a symlink loop: open() fails with ELOOP, which nginx answers with 403
        os.symlink("loop", prefix / "html" / "loop")
    return Pair(nginx, trinx)


@pytest.fixture(scope="module")
def static_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    pair = _start_pair(tmp_path_factory.mktemp("static"), STATIC_CONF, STATIC_FILES)
    yield pair
    pair.trinx.stop()
    pair.nginx.stop()


@pytest.fixture(scope="module")
def loc_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    pair = _start_pair(tmp_path_factory.mktemp("loc"), LOC_CONF, LOC_FILES)
    yield pair
    pair.trinx.stop()
    pair.nginx.stop()


@pytest.mark.parametrize("raw", STATIC_REQUESTS + ["GET /loop" + H],
                         ids=lambda r: re.sub(r"\s+", " ", r[:60]))
def test_same_response(static_pair: Pair, raw: str) -> None:
    nginx, trinx = static_pair.exchange(raw.encode("latin-1"))
    assert trinx == nginx


@pytest.mark.parametrize("uri", [u for u, _ in LOCATION_CASES] + ["/int/x"])
def test_same_location(loc_pair: Pair, uri: str) -> None:
    nginx, trinx = loc_pair.exchange(f"GET {uri} HTTP/1.1\r\nHost: loc.test\r\n\r\n".encode())
    assert trinx == nginx


@pytest.mark.parametrize("host", [h for h, _ in SERVER_CASES])
def test_same_server(loc_pair: Pair, host: str) -> None:
    nginx, trinx = loc_pair.exchange(f"GET /other HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert trinx == nginx


_TRAVERSAL = st.sampled_from(["..", ".", "%2e%2e", "%2E.", ".%2e", "%2f", "%2F", "..%2f",
                              "%2e%2e%2f", "files", "a.txt", "secret.txt", "", "%252e",
                              "..;", "%5c..", "...", "sub"])


@given(segments=st.lists(_TRAVERSAL, min_size=1, max_size=8))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_traversal_never_escapes_root(static_pair: Pair, segments: list[str]) -> None:
    """Whatever the encoding, nothing outside ``root`` is served, and the status is nginx's."""
    raw = f"GET /{'/'.join(segments)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    nginx, trinx = static_pair.exchange(raw)
    assert all(b"TOP SECRET" not in resp[3] for resp in trinx)  # type: ignore[operator]
    assert [r[0] for r in trinx] == [r[0] for r in nginx]


@pytest.mark.parametrize("name", ["Host", "If-Range", "If-Match", "If-None-Match",
                                  "If-Modified-Since", "If-Unmodified-Since", "Expect",
                                  "Authorization", "Content-Range", "User-Agent", "Cookie",
                                  "Accept", "Range", "Via"])
def test_repeated_request_headers(servers: ServerPairFactory, name: str) -> None:
    # a header nginx takes once is a 400 when sent twice; the others are fine
    conf = "events {}\nhttp { access_log off; server { listen 127.0.0.1:{port}; root html; } }"
    nginx, trinx = servers(conf, {"html/i.txt": b"i"})
    raw = f"GET /i.txt HTTP/1.1\r\nHost: a\r\n{name}: 1\r\n{name}: 2\r\nConnection: close\r\n\r\n"
    statuses = [parse_response(http_request(s.port, raw.encode())).status
                for s in (nginx, trinx)]
    assert statuses[1] == statuses[0]
