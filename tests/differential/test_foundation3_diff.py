"""Core behaviour tables against nginx 1.22: ``satisfy``, rewrite flags with captures and
args, every ``return`` form, ``error_page`` chains and ``=`` forms (GET and HEAD), ``if``
conditions, ``add_header always`` on error codes, ``internal``, ``types``/``default_type``
edge cases and odd request lines.

One nginx and one trinx run the same config for the whole module (starting servers is what
costs); each request goes to both.  Compared: status line, the header list in order (Date
normalised, the port in Location normalised), body, and the error-log lines the request
wrote (time, pid, connection number and prefix normalised).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (NGINX_BIN, ServerProcess, http_request, log_lines_since,
                           parse_responses, pin_mtimes, request_methods, start_nginx,
                           start_trinx)

pytestmark = pytest.mark.differential

MTIME = 1704164645

CONF = r"""
events {}
http {
    access_log off;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;

        location = /auth401 { internal; add_header WWW-Authenticate 'Basic realm="r"' always;
                              return 401; }
        location = /auth403 { internal; return 403; }
        location = /authok { internal; return 204; }
        location = /auth500 { internal; return 500; }
        location /sa/allow401/ { satisfy any; allow 127.0.0.1; deny all;
                                 auth_request /auth401; alias html/; }
        location /sa/deny401/ { satisfy any; deny all; auth_request /auth401; alias html/; }
        location /sa/deny403/ { satisfy any; deny all; auth_request /auth403; alias html/; }
        location /sa/denyok/ { satisfy any; deny all; auth_request /authok; alias html/; }
        location /sa/all/ { satisfy all; deny all; auth_request /authok; alias html/; }
        location /sa/allow500/ { satisfy any; allow all; auth_request /auth500; alias html/; }
        location /sa/deny500/ { satisfy any; deny all; auth_request /auth500; alias html/; }
        location /sa/none/ { satisfy any; alias html/; }
        location /sa/nomatch/ { satisfy any; allow 10.0.0.0/8; alias html/; }
        location /sa/ep/ { satisfy any; deny all; auth_request /auth403;
                           error_page 403 /f.txt; alias html/; }
        location /sa/inh/ { satisfy any;
            location /sa/inh/in/ { deny all; auth_request /authok; alias html/; } }

        location /echo { return 200 "uri=$uri args=$args 1=$1\n"; }
        location @named { return 202 "named uri=$uri args=$args\n"; }
        location /int/ { internal; return 200 "internal $uri\n"; }

        # error_page chains and "=" forms
        location /ep/a/ { error_page 404 /ep/b/x; return 404; }
        location /ep/b/ { error_page 404 /f.txt; return 404; }
        location /ep/r/ { recursive_error_pages on; error_page 404 /ep/b/x; return 404; }
        location /ep/eq/ { error_page 404 = /echo/eq; return 404; }
        location /ep/eqn/ { error_page 404 =201 /echo/eqn; return 404; }
        location /ep/eqs/ { error_page 404 = /f.txt; return 404; }
        location /ep/eq404/ { error_page 404 = /missing; return 404; }
        location /ep/named/ { error_page 404 = @named; return 404; }
        location /ep/namedn/ { error_page 404 =203 @named; return 404; }
        location /ep/url/ { error_page 404 http://e.com/z?$args; return 404; }
        location /ep/url301/ { error_page 404 =301 http://e.com/z; return 404; }
        location /ep/url200/ { error_page 404 =200 http://e.com/z; return 404; }
        location /ep/args/ { error_page 404 /echo/x?a=b; return 404; }
        location /ep/int/ { error_page 404 /int/x; return 404; }
        location /ep/500/ { error_page 500 502 503 504 /f.txt; return 503; }
        location /ep/302/ { error_page 302 /f.txt; return 302 /elsewhere; }
        location /ep/204/ { error_page 404 =204 /f.txt; return 404; }
        location /ep/304/ { error_page 404 =304 /f.txt; return 404; }
        location /ep/304t/ { error_page 404 =304 /echo; return 404; }
        location /ret/304/ { return 304; }
        location /ret/304t/ { return 304 "text"; }
        location /ret/204t/ { return 204 "text"; }
        location /ep/ims/ { error_page 404 =200 /f.txt; return 404; }
        location /ep/head/ { error_page 405 =200 /echo/h; }
        location /ep/static/ { error_page 404 /f.txt; alias html/nope/; }
        location /ep/post/ { error_page 405 = /echo/p; alias html/; }
        location /ep/if/ { error_page 418 /f.txt; if ($arg_x) { return 418; } return 200 "n\n"; }

        # add_header and always
        location /ah/404/ { add_header X-A a; add_header X-B b always; return 404; }
        location /ah/200/ { add_header X-A a; add_header X-B b always; return 200 "ok\n"; }
        location /ah/302/ { add_header X-A a; add_header X-B b always; return 302 /x; }
        location /ah/418/ { add_header X-A a; add_header X-B b always; return 418; }
        location /ah/500/ { add_header X-A a; add_header X-B b always; return 500 "e\n"; }
        location /ah/ep/ { add_header X-A a always; error_page 404 /f.txt; return 404; }
        location /ah/file/ { add_header X-A a; add_header X-B $uri always; alias html/; }
        location /ah/empty/ { add_header X-A ""; add_header X-B "" always; return 200 "e\n"; }

        # if
        location /if/f/ { alias html/;
            if (-f $request_filename) { return 200 "f\n"; }
            if (-d $request_filename) { return 200 "d\n"; }
            if (-e $request_filename) { return 200 "e\n"; }
            if (!-e $request_filename) { return 200 "none\n"; } }
        location /if/x/ { alias html/;
            if (-x $request_filename) { return 200 "x\n"; }
            if (!-x $request_filename) { return 200 "notx\n"; } }
        location /if/nf/ { alias html/; if (!-f $request_filename) { return 200 "nf\n"; }
            if (!-d $request_filename) { return 200 "nd\n"; } return 200 "dir\n"; }
        location /if/re/ {
            if ($uri ~ "^/if/re/(\w+)-(\d+)$") { return 200 "1=$1 2=$2\n"; }
            if ($uri ~* "^/IF/RE/(?<up>[A-Z]+)$") { return 200 "up=$up 1=$1\n"; }
            if ($uri !~* "^/if/re/keep") { return 200 "not keep 1=$1\n"; }
            if ($uri !~ "^/if/re/keep") { return 200 "keep caseless\n"; }
            return 200 "fell 1=$1\n"; }
        location /if/eq/ {
            if ($arg_a = "") { return 200 "empty\n"; }
            if ($arg_a != x) { return 200 "notx\n"; }
            return 200 "x\n"; }
        location /if/var/ { if ($arg_a) { return 200 "true\n"; } return 200 "false\n"; }

        # rewrite_log, uninitialized variables
        location /rl/ { rewrite_log on; rewrite ^/rl/(.*)$ /echo/$1 last; }
        location /rl2/ { rewrite_log on; if ($arg_a ~ ^(x)) { return 200 "m $1\n"; }
                         rewrite ^/rl2/nomatch /x; rewrite ^/rl2/(b)$ /echo/$1?q=1 redirect;
                         return 200 "n\n"; }
        location /rl3/ { rewrite_log on; set $v "$uri"; rewrite ^ /echo/$v? break; }
        location /declare/ { set $uvar 1; return 200; }
        location /uv/ { return 200 "[$uvar]\n"; }
        location /uv2/ { uninitialized_variable_warn off; return 200 "[$uvar]\n"; }
        location /uv3/ { if ($uvar) { return 200 "set\n"; } return 200 "[$uvar$uvar]\n"; }

        # limit_except
        location /le/a/ { limit_except GET { deny all; } alias html/; }
        location /le/b/ { limit_except get post { allow 127.0.0.1; deny all; } alias html/; }
        location /le/c/ { limit_except GET { deny all; } return 200 "ret $request_method\n"; }
        location /le/d/ { limit_except HEAD { deny all; } alias html/; }
        location /le/e/ { limit_except OPTIONS { allow all; } try_files /nope /f.txt; }
        location /le/f/ { limit_except GET { access_log off; deny all; } error_page 403 /echo; }
        location /le/g/ { satisfy any; limit_except GET { deny all; } auth_request /authok;
                          alias html/; }
        location /le/h/ { limit_except PUT { deny all; }
                          location /le/h/in/ { alias html/; } alias html/; }
        location /le/i/ { limit_except GET { deny all; } client_max_body_size 1;
                          alias html/; }

        # internal
        location /toint/rw/ { rewrite ^ /int/x last; }
        location /toint/tf/ { try_files /nope /int/x; }
        location /toint/idx/ { index /int/x; alias html/d/; }

        # types / default_type
        location /ty/ { types { text/x-a a; application/x-B B; image/y "y z"; }
                        default_type application/x-def; alias html/ty/; }
        location /ty2/ { types { } default_type ""; alias html/ty/; }
        location /ty3/ { default_type text/html; alias html/ty/; }
        location /ty4/ { types { text/x-a a; } alias html/ty/; }
    }
}
"""

FILES = {
    "html/f.txt": b"file\n",
    "html/d/g.txt": b"dir file\n",
    "html/index.html": b"index\n",
    "html/x.sh": b"#!/bin/sh\n",
    **{f"html/ty/{n}": n.encode() for n in [
        "f.a", "f.A", "f.b", "f.B", "f", ".a", "f.tar.a", "f.", "f.y", "f.z", "f.html",
        "f.txt", "f.TXT", "f.Html", "a.b.c/g"]},
}



class Pair:
    def __init__(self, nginx: ServerProcess, trinx: ServerProcess) -> None:
        self.servers = (nginx, trinx)

    def exchange(self, raw: bytes) -> list[tuple[object, ...]]:
        """The normalised answers and new log lines of each server, nginx first."""
        out = []
        for server in self.servers:
            log_before = len(server.error_log_text())
            data = http_request(server.port, raw, timeout=5)
            responses = []
            for resp in parse_responses(data, request_methods(raw)):
                headers = [(n, "<date>" if n in ("Date", "Last-Modified") else
                            v.replace(f":{server.port}", ":<port>")) for n, v in resp.headers]
                responses.append((resp.status, resp.reason, headers, resp.body))
            out.append((responses, log_lines_since(server, log_before)))
        return out


def _stamp(prefix: Path) -> None:
    os.chmod(prefix / "html" / "x.sh", 0o755)
    pin_mtimes(prefix, MTIME)


def _start(tmp: Path, conf: str, files: dict[str, bytes]) -> tuple[ServerProcess, ServerProcess]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    procs = []
    for name, start in (("nginx", start_nginx), ("trinx", start_trinx)):
        prefix = tmp / name
        for rel, data in files.items():
            path = prefix / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _stamp(prefix)
        try:
            procs.append(start(conf, prefix))
        except BaseException:
            for p in procs:
                p.stop()
            raise
    return procs[0], procs[1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    nginx, trinx = _start(tmp_path_factory.mktemp("f3"), CONF, FILES)
    yield Pair(nginx, trinx)
    trinx.stop()
    nginx.stop()


def raw(target: str, method: str = "GET", host: str = "localhost",
        extra: str = "") -> bytes:
    return (f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}"
            "Connection: close\r\n\r\n").encode("latin-1")


SATISFY = ["/sa/allow401/f.txt", "/sa/deny401/f.txt", "/sa/deny403/f.txt",
           "/sa/denyok/f.txt", "/sa/all/f.txt", "/sa/allow500/f.txt", "/sa/deny500/f.txt",
           "/sa/none/f.txt", "/sa/nomatch/f.txt", "/sa/ep/f.txt", "/sa/inh/in/f.txt"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", SATISFY)
def test_satisfy(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(raw(target, method))
    assert trinx == nginx


EP = ["/ep/a/x", "/ep/r/x", "/ep/eq/x", "/ep/eqn/x", "/ep/eqs/x", "/ep/eq404/x", "/ep/named/x?q=1",
      "/ep/namedn/x", "/ep/url/x?k=v", "/ep/url301/x", "/ep/url200/x", "/ep/args/x?z=1",
      "/ep/int/x", "/ep/500/x", "/ep/302/x", "/ep/204/x", "/ep/304/x", "/ep/304t/x", "/ret/304/", "/ret/304t/",
      "/ret/204t/", "/ep/static/x",
      "/ep/if/x?x=1", "/ep/if/x"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", EP)
def test_error_page(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(raw(target, method))
    assert trinx == nginx


@pytest.mark.parametrize("target", ["/f.txt", "/ep/ims/x", "/ep/304/x", "/ret/304/"])
@pytest.mark.parametrize("ims", ["Tue, 02 Jan 2024 03:04:05 GMT", "Tue, 02 Jan 2024 03:04:04 GMT"])
def test_if_modified_since(pair: Pair, target: str, ims: str) -> None:
    nginx, trinx = pair.exchange(raw(target, extra=f"If-Modified-Since: {ims}\r\n"))
    assert trinx == nginx


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("target", ["/ep/post/f.txt", "/ep/head/f.txt", "/ep/static/x"])
def test_error_page_other_methods(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(raw(target, method, extra="Content-Length: 0\r\n"))
    assert trinx == nginx


AH = ["/ah/404/", "/ah/200/", "/ah/302/", "/ah/418/", "/ah/500/", "/ah/ep/", "/ah/file/f.txt",
      "/ah/file/nope", "/ah/file/d", "/ah/file/d/", "/ah/empty/"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", AH)
def test_add_header(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(raw(target, method))
    assert trinx == nginx


IF = ["/if/f/f.txt", "/if/f/d", "/if/f/d/", "/if/f/nope", "/if/f/", "/if/x/x.sh", "/if/x/f.txt",
      "/if/x/d", "/if/x/nope", "/if/nf/f.txt", "/if/nf/d", "/if/nf/nope",
      "/if/re/abc-12", "/if/re/ABC", "/if/re/abc", "/if/re/keep", "/if/re/KEEP", "/IF/RE/ABC",
      "/if/eq/", "/if/eq/?a=", "/if/eq/?a=x", "/if/eq/?a=X", "/if/eq/?a=y",
      "/if/var/", "/if/var/?a=0", "/if/var/?a=1", "/if/var/?a=", "/if/var/?a=00"]


@pytest.mark.parametrize("target", IF)
def test_if(pair: Pair, target: str) -> None:
    nginx, trinx = pair.exchange(raw(target))
    assert trinx == nginx


@pytest.mark.parametrize("target", ["/int/x", "/toint/rw/", "/toint/tf/", "/toint/idx/",
                                    "/ep/int/x"])
def test_internal(pair: Pair, target: str) -> None:
    nginx, trinx = pair.exchange(raw(target))
    assert trinx == nginx


TY = ["f.a", "f.A", "f.b", "f.B", "f", ".a", "f.tar.a", "f.", "f.y", "f.z", "f.html", "f.txt",
      "f.TXT", "f.Html", "a.b.c/g"]


@pytest.mark.parametrize("loc", ["ty", "ty2", "ty3", "ty4"])
@pytest.mark.parametrize("name", TY)
def test_types(pair: Pair, loc: str, name: str) -> None:
    nginx, trinx = pair.exchange(raw(f"/{loc}/{name}", "HEAD"))
    assert trinx == nginx


@pytest.mark.parametrize("extra", [
    "Referer: http://ref.example/page?q=1\r\n",
    "Referer: \r\n",
    "Referer: a\r\nUser-Agent: ua\r\n",
])
@pytest.mark.parametrize("target", ["/nope", "/sa/deny403/f.txt", "/ep/static/x"])
def test_log_context(pair: Pair, target: str, extra: str) -> None:
    """Error-log lines carry nginx's context, referrer included."""
    nginx, trinx = pair.exchange(raw(target, extra=extra))
    assert trinx == nginx


def _config_diff(directive: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                 where: str = "location / { %s }") -> None:
    """``-t`` of a config holding ``directive`` gives nginx's status and messages."""
    import subprocess

    from engine.main import main
    from tests.e2e.test_config_errors import as_console

    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    out = []
    for name in ("nginx", "trinx"):
        prefix = tmp_path / name
        (prefix / "conf").mkdir(parents=True)
        (prefix / "logs").mkdir()
        (prefix / "conf" / "nginx.conf").write_text(
            "events {}\nhttp {\n    server {\n        %s\n    }\n}\n" % (where % directive))
        argv = ["-t", "-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", "stderr",
                "-g", "pid logs/t.pid;"]
        if name == "nginx":
            r = subprocess.run([str(NGINX_BIN), *argv], capture_output=True, text=True,
                               timeout=20)
            rc, err = r.returncode, r.stderr
        else:
            capsys.readouterr()
            rc, err = main(argv), capsys.readouterr().err
        out.append((rc, as_console(err).replace(str(prefix), "<P>")))
    assert out[1] == out[0]


@pytest.mark.parametrize("directive", ["gzip_proxied ANY Expired;", "gzip_proxied any bogus;",
                                       "gzip_proxied any; gzip_proxied expired ANY;",
                                       "log_not_found ON;", "sendfile Off;",
                                       "server_tokens BUILD;", "server_tokens maybe;", "if_modified_since Exact;",
                                       "gzip_http_version 1.0;"])
def test_values_without_case(directive: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    # ngx_conf_set_flag/enum/bitmask_slot compare with ngx_strcasecmp
    _config_diff(directive, tmp_path, capsys)


@pytest.mark.parametrize("directive", ["satisfy ANY;", "satisfy maybe;",
                                       "satisfy all; satisfy any;", "satisfy;"])
def test_satisfy_config(directive: str, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    _config_diff(directive, tmp_path, capsys)


H11 = "HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
ODD = [
    f"GET http://localhost/f.txt {H11}",
    "GET http://other.example/f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    "GET http://other.example:8080/f.txt?a=1 HTTP/1.1\r\nConnection: close\r\n\r\n",
    f"GET HTTP://LOCALHOST/f.txt {H11}",
    f"GET http://localhost {H11}",
    f"GET http:/f.txt {H11}",
    f"GET /f%00.txt {H11}", f"GET /f.txt?%00 {H11}", f"GET /%2e%2e/f.txt {H11}",
    f"GET /d/..%2ff.txt {H11}", f"GET /d/%2E%2E/f.txt {H11}", f"GET /../f.txt {H11}",
    f"GET /d/../f.txt {H11}", f"GET /d/./g.txt {H11}", f"GET /d/.%2e/f.txt {H11}",
    f"GET //f.txt {H11}", f"GET /d//g.txt {H11}", f"GET /f.txt%3f {H11}",
    f"GET /f.txt#x {H11}", f"GET f.txt {H11}", f"GET /f%zz {H11}", f"GET /%C3%A9 {H11}",
    f"GET /\x01 {H11}", f"GET /a\tb {H11}", f"GET /f.txt?a b {H11}",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nHost: other\r\nConnection: close\r\n\r\n",
    "GET /f.txt HTTP/1.1\r\nHost: bad/host\r\nConnection: close\r\n\r\n",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nReferer: r\r\nX-Big: " + "b" * 1100
    + "\r\nConnection: close\r\n\r\n",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nX: " + "b" * 8200
    + "\r\nConnection: close\r\n\r\n",
    "GET /nope HTTP/1.1\r\nHost: localhost\r\nX-A_B: 1\r\nConnection: close\r\n\r\n",
    "GET /nope HTTP/1.1\r\nHost: localhost\r\nX A: 1\r\nConnection: close\r\n\r\n",
    "GET /f.txt HTTP/1.0\r\nConnection: close\r\n\r\n",
    "GET /f.txt HTTP/1.0\r\nHost: localhost\r\n\r\n",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: "
    "chunked\r\n\r\n0\r\n\r\n",
    "POST /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nIf-None-Match: *\r\n\r\n",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    "If-Match: \"nope\"\r\n\r\n",
    "GET /f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n",
]


@pytest.mark.parametrize("request_text", ODD, ids=range(len(ODD)))
def test_odd_requests(pair: Pair, request_text: str) -> None:
    nginx, trinx = pair.exchange(request_text.encode("latin-1"))
    assert trinx == nginx


@pytest.mark.parametrize("target", ["/rl/abc?z=1", "/rl2/x?a=xy", "/rl2/nomatch", "/rl2/b",
                                    "/rl2/c", "/rl3/v", "/uv/", "/uv2/", "/uv3/"])
def test_rewrite_log_and_uninitialized(pair: Pair, target: str) -> None:
    nginx, trinx = pair.exchange(raw(target))
    assert trinx == nginx


LOG_CONF = r"""
events {}
http {
    log_format t '%s';
    access_log logs/t.log t;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;
        location /r/ { return 302 /f.txt; }
        location /t/ { return 200 "text"; }
        location /e/ { error_page 404 /f.txt; }
    }
}
"""
LOG_FORMAT = ('$remote_addr "$request" $status $body_bytes_sent $bytes_sent '
              '"$http_referer" "$http_user_agent" $request_method '
              '"$uri" "$request_uri" $server_protocol $connection_requests '
              '"$sent_http_content_type" "$sent_http_location" "$host" '
              '"$is_args" "$content_length" "$http_x_a"')
LOG_REQUESTS = [
    raw("/f.txt?a=1&b", extra="Referer: http://r/\r\nUser-Agent: UA x\r\nX-A: 1\r\n"),
    raw("/nope", "HEAD"), raw("/r/x"), raw("/t/"), raw("/e/x"), raw("/f.txt?"),
    raw("/f.txt", "POST", extra="Content-Length: 3\r\n").replace(b"\r\n\r\n", b"\r\n\r\nabc"),
    (b"GET /f.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
     b"GET /t/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    b"GET /%41?x HTTP/1.0\r\n\r\n",
]


def _log_lines(servers: object, fmt: str, reqs: list[bytes]) -> list[list[str]]:
    """Each server's access-log lines for ``reqs``.  A server may write the line just after
    the client saw the connection close, so the file is polled until it has one line per
    request (nginx: up to 3 s; trinx: up to 0.5 s more, so a missing line costs little)."""
    import time

    from tests.harness import http_request as send

    conf = LOG_CONF % fmt.replace("'", "\\'")
    nginx, trinx = servers(conf, {"html/f.txt": b"file\n"})  # type: ignore[operator]
    expected = sum(r.count(b" HTTP/1.") or 1 for r in reqs)
    lines = []
    for server, patience in ((nginx, 3.0), (trinx, 0.5)):
        for r in reqs:
            send(server.port, r, timeout=5)
        path = server.prefix / "logs" / "t.log"
        deadline = time.monotonic() + patience
        while True:
            text = path.read_text() if path.exists() else ""
            if text.count("\n") >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        lines.append(text.replace(str(server.port), "<port>").splitlines())
    return lines


def test_access_log_variables(servers: object) -> None:
    """The same requests write the same access-log lines (keep-alive and pipelined
    requests, errors, redirects (the absolute Location nginx sent), HEAD, bodies)."""
    nginx, trinx = _log_lines(servers, LOG_FORMAT, LOG_REQUESTS)
    assert trinx == nginx


def test_access_log_request_length(servers: object) -> None:
    nginx, trinx = _log_lines(servers, "$request_length", LOG_REQUESTS)
    assert trinx == nginx


def test_access_log_args(servers: object) -> None:
    nginx, trinx = _log_lines(servers, '"$args" "$query_string"', LOG_REQUESTS)
    assert trinx == nginx


def test_access_log_pipe(servers: object) -> None:
    nginx, trinx = _log_lines(servers, "$pipe", LOG_REQUESTS)
    assert trinx == nginx


def test_access_log_of_refused_requests(servers: object) -> None:
    # what nginx had parsed when it refused them: nothing of a bad request line, the URI
    # of a line whose headers were bad ($uri of a line refused outright: "" here, "-" there)
    reqs = [b"GET /a%zz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n",
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /q?z HTTP/1.1\r\n\r\n"]
    nginx, trinx = _log_lines(servers, '"$request_uri" "$request_method" "$args" $status '
                              '$request_length "$request"', reqs)
    assert trinx == nginx


def test_access_log_bad_request(servers: object) -> None:
    nginx, trinx = _log_lines(servers, '"$request" $status', [b"BAD\r\n\r\n"])
    assert trinx == nginx


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
                                    "TRACE", "FOO"])
@pytest.mark.parametrize("target", ["/le/a/f.txt", "/le/b/f.txt", "/le/c/", "/le/d/f.txt",
                                    "/le/e/x", "/le/f/x", "/le/g/f.txt", "/le/h/in/f.txt",
                                    "/le/i/f.txt"])
def test_limit_except(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(raw(target, method, extra="Content-Length: 2\r\n"
                                     ).replace(b"\r\n\r\n", b"\r\n\r\nab"))
    assert trinx == nginx


@pytest.mark.parametrize("directive", [
    "limit_except FOO { }", "limit_except get { deny all; }",
    "limit_except GET { } limit_except POST { }", "limit_except GET;",
    "limit_except GET { root /x; }", "limit_except GET { return 403; }",
    "limit_except GET { location /x { } }", "limit_except GET { try_files a b; }",
    "limit_except GET { error_page 404 /x; }", "limit_except GET { internal; }",
    "limit_except { }", "limit_except GET { access_log off; allow all; }",
])
def test_limit_except_config(directive: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    _config_diff(directive, tmp_path, capsys)


def test_limit_except_in_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config_diff("limit_except GET { }", tmp_path, capsys, where="%s")


CONFLICT_CONF = r"""
events {}
http {
    access_log off;
    server { listen 127.0.0.1:{port}; server_name a.test; return 200 "first\n"; }
    server { listen 127.0.0.1:{port} default_server; server_name a.test *.w.test;
             return 200 "default\n"; }
    server { listen 127.0.0.1:{port}; server_name .w.test b.test; return 200 "third\n"; }
}
"""


@pytest.mark.parametrize("host", ["a.test", "x.w.test", "b.test", "other", "w.test",
                                  "y.x.w.test", "A.TEST"])
def test_conflicting_names_first_wins(servers: object, host: str) -> None:
    # a.test: the first server in configuration order keeps a conflicting name (not the
    # default); w.test: .w.test was ignored whole (its wildcard part conflicts)
    nginx, trinx = servers(CONFLICT_CONF)  # type: ignore[operator]
    got = []
    for server in (nginx, trinx):
        data = http_request(server.port, raw("/", host=host))
        got.append([(r.status, r.body) for r in parse_responses(data, ["GET"])])
    assert got[1] == got[0]
