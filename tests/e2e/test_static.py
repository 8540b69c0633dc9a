"""Static files, index, try_files, error_page, internal and types on the real trinx, with
nginx 1.22.1's answers written out (core.md sections 8-12, subrequests.md section 6).  The
differential twin is tests/differential/test_core_diff.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Response, ServerProcess, http_request, parse_response, start_trinx

MTIME = 1704164645  # Tue, 02 Jan 2024 03:04:05 GMT

CONF = """
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /al/ { alias html/files/; }
        location ~ ^/re/([a-z]+)/(.*)$ { alias html/$1/$2; }
        location /noetag/ { etag off; }
        location /types/ { types { text/x-foo foo; } default_type app/def; }
        location /sf/ { sendfile on; }
        location /tf/ { try_files $uri $uri/ /fallback.txt?fb=1; }
        location /tf2/ { try_files /nope =418; }
        location /tf3/ { try_files /nope @named; }
        location /tf4/ { try_files /nope /int/err.txt; }
        location @named { root html/named; }
        location /ep1/ { error_page 404 /files/err.txt; }
        location /ep2/ { error_page 404 =200 /files/err.txt; }
        location /ep3/ { error_page 404 = /ep3/missing; }
        location /ep4/ { error_page 404 @named; }
        location /ep5/ { error_page 404 http://example.com/x; }
        location /ep6/ { error_page 404 =301 http://example.com/x; }
        location /ep7/ { error_page 404 =200 /nope.txt; }
        location /ep8/ { error_page 404 /int/err.txt; }
        location /int/ { internal; }
        location /idx/ { index nope.html /fallback.txt; }
        location /idx2/ { index a.html b.html; }
        location /st/ { server_tokens off; }
    }
}
"""

FILES = {
    "html/files/a.txt": b"hello\n", "html/files/err.txt": b"err\n", "html/empty.html": b"",
    "html/files/sub/x": b"x", "html/index.html": b"index\n",
    "html/sf/big.bin": os.urandom(200_000), "html/big.bin": os.urandom(100_000),
    "html/noetag/a.html": b"ne", "html/types/a.foo": b"f", "html/types/a.FOO": b"F",
    "html/types/a.html": b"h", "html/x.GIF": b"g", "html/.htaccess": b"h", "html/a.b/c": b"c",
    "html/sp ace/f": b"s", "html/fallback.txt": b"fb\n", "html/named/tf3/x": b"named\n",
    "html/named/ep4/x": b"named4\n", "html/int/err.txt": b"interr\n",
    "html/tf/real": b"real\n", "html/idx2/b.html": b"b\n", "html/idx2/a.html/x": b"dir",
    "html/st/x": b"", "html/idx/x": b"", "secret.txt": b"TOP SECRET\n",
}

PAGE_404 = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
            b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n"
            b"</body>\r\n</html>\r\n")


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    prefix = tmp_path_factory.mktemp("static")
    server = start_trinx(CONF, prefix, FILES)
    for name in FILES:
        os.utime(prefix / name, (MTIME, MTIME))
    os.symlink("loop", prefix / "html" / "loop")
    yield server
    server.stop()


def req(server: ServerProcess, target: str, method: str = "GET", extra: str = "") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode("latin-1")
    return parse_response(http_request(server.port, raw), method)


def names(resp: Response) -> list[str]:
    return [n for n, _ in resp.headers]


# --- the static handler ---------------------------------------------------------------------------

def test_file_headers_in_nginx_order(trinx: ServerProcess) -> None:
    resp = req(trinx, "/files/a.txt")
    assert resp.raw.startswith(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: ")
    order = [n for n in names(resp) if n != "Accept-Ranges"]
    assert order == ["Server", "Date", "Content-Type", "Content-Length", "Last-Modified",
                     "Connection", "ETag"]
    assert resp.header("Content-Type") == "text/plain"
    assert resp.header("Content-Length") == "6"
    assert resp.header("Last-Modified") == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert resp.header("ETag") == '"65937d25-6"'
    assert resp.body == b"hello\n"


def test_head_has_identical_headers_no_body(trinx: ServerProcess) -> None:
    get, head = req(trinx, "/files/a.txt"), req(trinx, "/files/a.txt", "HEAD")
    strip = lambda r: [(n, v) for n, v in r.headers if n != "Date"]  # noqa: E731
    assert strip(head) == strip(get)
    assert head.raw.endswith(b"\r\n\r\n") and head.body == b""


def test_empty_file(trinx: ServerProcess) -> None:
    resp = req(trinx, "/empty.html")
    assert (resp.status, resp.header("Content-Length"), resp.body) == (200, "0", b"")
    assert resp.header("ETag") == '"65937d25-0"'
    assert resp.header("Content-Type") == "text/html"


@pytest.mark.parametrize("target,location", [
    ("/files", "/files/"),
    ("/files?a=1&b=2", "/files/?a=1&b=2"),
    ("/sp%20ace", "/sp%20ace/"),
    ("/al/sub", "/al/sub/"),
    ("/re/files/sub", "/re/files/sub/"),
])
def test_directory_redirect(trinx: ServerProcess, target: str, location: str) -> None:
    resp = req(trinx, target)
    assert resp.status == 301
    assert resp.header("Location") == f"http://x:{trinx.port}{location}"
    assert names(resp).index("Location") < names(resp).index("Connection")


def test_directory_redirect_host_and_post(trinx: ServerProcess) -> None:
    raw = b"GET /files?a=1 HTTP/1.1\r\nHost: Example.COM:9999\r\n\r\n"
    resp = parse_response(http_request(trinx.port, raw))
    assert resp.header("Location") == f"http://example.com:{trinx.port}/files/?a=1"
    assert req(trinx, "/files", "POST", "Content-Length: 0\r\n").status == 301


@pytest.mark.parametrize("method,target,status", [
    ("PUT", "/missing", 405), ("DELETE", "/missing", 405), ("DELETE", "/files/a.txt", 405),
    ("POST", "/files/a.txt", 405), ("POST", "/missing", 404), ("GET", "/missing", 404),
    ("GET", "/loop", 403), ("PUT", "/", 405),
])
def test_method_and_error_statuses(trinx: ServerProcess, method: str, target: str,
                                   status: int) -> None:
    resp = req(trinx, target, method, "Content-Length: 0\r\n")
    assert resp.status == status
    assert resp.header("Content-Type") == "text/html"
    assert "Last-Modified" not in names(resp) and "ETag" not in names(resp)


def test_404_page_bytes_exactly(trinx: ServerProcess) -> None:
    resp = req(trinx, "/missing")
    assert resp.raw.split(b"\r\n\r\n", 1)[1] == PAGE_404
    assert resp.header("Content-Length") == "153"


def test_server_tokens_off(trinx: ServerProcess) -> None:
    resp = req(trinx, "/st/missing")
    assert resp.header("Server") == "nginx"
    assert resp.body.endswith(b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    assert req(trinx, "/st/x").header("Server") == "nginx"


@pytest.mark.parametrize("ua,padded", [
    ("Mozilla/5.0 (X11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     True),
    ("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", True),
    ("Mozilla/5.0 Gecko/20100101 Firefox/120.0", False),
    ("Opera/9.80 Chrome/1", False),
    ("curl/7.88.1", False),
])
def test_msie_chrome_padding(trinx: ServerProcess, ua: str, padded: bool) -> None:
    resp = req(trinx, "/missing", extra=f"User-Agent: {ua}\r\n")
    padding = b"<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" * 6
    assert resp.body == (PAGE_404 + padding if padded else PAGE_404)
    assert resp.header("Content-Length") == str(len(resp.body))
    # 3xx pages are never padded
    assert b"padding" not in req(trinx, "/files", extra=f"User-Agent: {ua}\r\n").body


@pytest.mark.parametrize("path", ["/sf/big.bin", "/big.bin"])
def test_large_file_byte_exact(trinx: ServerProcess, path: str) -> None:
    resp = req(trinx, path)
    assert resp.status == 200
    assert resp.body == FILES["html" + path]


def test_etag_off(trinx: ServerProcess) -> None:
    resp = req(trinx, "/noetag/a.html")
    assert resp.status == 200 and "ETag" not in names(resp)


@pytest.mark.parametrize("target,ctype", [
    ("/types/a.foo", "text/x-foo"), ("/types/a.FOO", "text/x-foo"),
    ("/types/a.html", "app/def"),  # the types {} block replaced the built-in map
    ("/x.GIF", "image/gif"), ("/.htaccess", "text/plain"), ("/a.b/c", "text/plain"),
    ("/index.html", "text/html"),
])
def test_content_type_rules(trinx: ServerProcess, target: str, ctype: str) -> None:
    assert req(trinx, target).header("Content-Type") == ctype


def test_root_alias_and_regex_alias(trinx: ServerProcess) -> None:
    assert req(trinx, "/files/a.txt").body == b"hello\n"
    assert req(trinx, "/al/a.txt").body == b"hello\n"
    assert req(trinx, "/re/files/a.txt").body == b"hello\n"
    assert req(trinx, "/re/files/../secret.txt").status == 404  # normalised before matching


# --- index ------------------------------------------------------------------------------------

def test_index(trinx: ServerProcess) -> None:
    assert req(trinx, "/").body == b"index\n"
    # the first name that exists, of any type, wins: a.html is a directory, so 301
    resp = req(trinx, "/idx2/")
    assert resp.status == 301
    assert resp.header("Location") == f"http://x:{trinx.port}/idx2/a.html/"
    assert req(trinx, "/idx/?q=1").body == b"fb\n"  # "/fallback.txt" taken unconditionally


def test_index_missing_directory_and_forbidden(trinx: ServerProcess) -> None:
    assert req(trinx, "/nodir/").status == 404
    assert req(trinx, "/files/").status == 403
    log = _wait_log(trinx, 'directory index of "')
    assert f'directory index of "{trinx.prefix}/html/files/" is forbidden' in log
    assert f'"{trinx.prefix}/html/nodir/index.html" is not found (2: No such file or ' \
           "directory)" in log


# --- try_files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target,status,body", [
    ("/tf/real", 200, b"real\n"),
    ("/tf/nope?a=b", 200, b"fb\n"),
    ("/tf2/x", 418, b""),
    ("/tf3/x", 200, b"named\n"),
    ("/tf4/x", 200, b"interr\n"),  # a fallback URI reaches internal locations
])
def test_try_files(trinx: ServerProcess, target: str, status: int, body: bytes) -> None:
    resp = req(trinx, target)
    assert (resp.status, resp.body) == (status, body)


def test_try_files_code_without_page(trinx: ServerProcess) -> None:
    resp = req(trinx, "/tf2/x")
    assert resp.raw.startswith(b"HTTP/1.1 418 \r\n")
    assert resp.header("Content-Length") == "0" and resp.header("Content-Type") is None


def test_try_files_directory_candidate_redirects(trinx: ServerProcess) -> None:
    os.makedirs(trinx.prefix / "html/tf/d", exist_ok=True)
    resp = req(trinx, "/tf/d")
    assert resp.status == 301  # "$uri/" matched: $uri stays /tf/d, static answers 301
    assert resp.header("Location") == f"http://x:{trinx.port}/tf/d/"


# --- error_page and internal -----------------------------------------------------------------------

@pytest.mark.parametrize("target,status,body", [
    ("/ep1/x", 404, b"err\n"),
    ("/ep2/x", 200, b"err\n"),
    ("/ep3/x", 404, PAGE_404),
    ("/ep4/x", 404, b"named4\n"),
    ("/ep7/x", 404, PAGE_404),  # the target's own 404 wins over =200
    ("/ep8/x", 404, b"interr\n"),
    ("/int/err.txt", 404, PAGE_404),
])
def test_error_page_forms(trinx: ServerProcess, target: str, status: int, body: bytes) -> None:
    resp = req(trinx, target)
    assert (resp.status, resp.body) == (status, body)


def test_error_page_keeps_status_drops_last_modified(trinx: ServerProcess) -> None:
    resp = req(trinx, "/ep1/x")
    assert "Last-Modified" not in names(resp)
    assert resp.header("ETag") == '"65937d25-4"'


def test_error_page_head_and_post(trinx: ServerProcess) -> None:
    head = req(trinx, "/ep1/x", "HEAD")
    assert (head.status, head.header("Content-Length"), head.body) == (404, "4", b"")
    # POST becomes GET for a /uri target, but stays POST in a named location
    assert req(trinx, "/ep1/x", "POST", "Content-Length: 0\r\n").body == b"err\n"
    assert req(trinx, "/ep4/x", "POST", "Content-Length: 0\r\n").status == 405


@pytest.mark.parametrize("target,status", [("/ep5/x", 302), ("/ep6/x", 301)])
def test_error_page_url(trinx: ServerProcess, target: str, status: int) -> None:
    resp = req(trinx, target)
    assert resp.status == status
    assert resp.header("Location") == "http://example.com/x"
    # not made absolute, so nginx writes it after Connection
    assert names(resp).index("Location") == names(resp).index("Connection") + 1


def _wait_log(server: ServerProcess, needle: str) -> str:
    deadline = time.monotonic() + 2
    while True:
        text = server.error_log_text()
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_alias_never_serves_above_its_directory(tmp_path: Path) -> None:
    # the classic misconfiguration: location without, alias with a trailing slash.  nginx
    # 1.22 serves html/secret.txt for /i../secret.txt; trinx refuses anything outside.
    conf = """
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location /i { alias html/w/; }
        location /t { alias html/w/; try_files $uri =404; }
    }
}
"""
    files = {"html/secret.txt": b"secret", "html/w/a.txt": b"inside"}
    with start_trinx(conf, tmp_path, files) as server:
        def get(target: str) -> Response:
            return parse_response(http_request(
                server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .encode()))
        assert get("/i/a.txt").body == b"inside"
        assert get("/t/a.txt").body == b"inside"
        for target in ("/i../secret.txt", "/i%2E%2E/secret.txt", "/t../secret.txt", "/i.."):
            resp = get(target)
            assert resp.status == 404 and b"secret" not in resp.body, target
        assert "is outside the alias" in server.error_log_text()
