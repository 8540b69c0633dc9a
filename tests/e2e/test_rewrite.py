"""The rewrite module (engine/modules/rewrite.py) on a real trinx over loopback.

Expected values were taken from nginx 1.22 with the same locations; the differential twin,
tests/differential/test_rewrite_diff.py, compares the two servers directly.

This file is also a trinx module: the config loads it (``load_module tests.e2e.test_rewrite``)
for ``rw_test_echo``, a tiny content handler that shows which location (and kind) served the
request, so the content-handler inheritance of ``if`` blocks is observable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import api
from engine.main import main
from tests.harness import Response, ServerProcess, http_request, parse_response, start_trinx

# --- the test content handler (loaded into the server process) ---------------------------------


def _rw_test_echo(cf: api.ConfContext, cmd: api.Directive, conf: Any) -> None:
    text = cf.args[1]

    async def handler(r: api.Request) -> int:
        body = f"echo {text} kind={r.loc.kind.value} uri={r.uri}\n".encode()
        r.headers_out.status = 200
        r.headers_out.content_length = len(body)
        r.headers_out.content_type = "text/plain"
        return await api.send_response(r, body)

    for c in cf.loc_conf.values():
        if isinstance(c, api.CoreLocConf):
            c.handler = handler


MODULE = api.Module(name="test_rewrite_echo", directives=[
    api.Directive("rw_test_echo", api.Ctx.LOC | api.Ctx.LIF, api.Args.TAKE1, _rw_test_echo)])


# --- the server ----------------------------------------------------------------------------------

_LOOP = "\n".join(f"        location = /loop/a{i} {{ rewrite ^ /loop/a{i + 1} last; }}"
                  for i in range(11))

CONF = """
load_module tests.e2e.test_rewrite;
error_log logs/error.log notice;
events {}
http {
    access_log off;
    default_type text/plain;
    types { text/html html; }
    server {
        listen 127.0.0.1:{port};
        root html;

        rewrite ^/old/(.*)$ /new/$1 last;
        rewrite ^/never-matches$ /x;
        if ($arg_srv = stop) { return 200 "stopped by the server\\n"; }

        location /new/ { return 200 "new $uri\\n"; }
        location /echo { return 200 "uri=$uri args=$args\\n"; }

        location = /ret/text.html { return 200 "<b>$arg_a</b>\\n"; }
        location = /ret/404 { return 404; }
        location = /ret/418 { return 418; }
        location = /ret/302 { return 302 /echo/there; }
        location = /ret/url { return https://example.com/x; }

        location /flag/last/ { rewrite ^/flag/last/(.*)$ /echo/$1 last; return 200 "no\\n"; }
        location /flag/break/ { rewrite ^/flag/break/(.*)$ /files/$1 break; return 200 "no\\n"; }
        location /flag/redirect/ { rewrite ^/flag/redirect/(.*)$ /echo/$1 redirect; }
        location /flag/permanent/ { rewrite ^/flag/permanent/(.*)$ /echo/$1 permanent; }
        location /flag/url/ { rewrite ^/flag/url/(.*)$ http://example.com/$1; }
        location /flag/none/ {
            rewrite ^/flag/none/(.*)$ /echo/one-$1;
            rewrite ^/echo/one-(.*)$ /echo/two-$1;
        }

        location /args/ {
            rewrite ^/args/keep$ /echo/keep last;
            rewrite ^/args/add$ /echo/add?new=1 last;
            rewrite ^/args/drop$ /echo/drop? last;
            rewrite ^/args/redirect$ /echo/r?x=1 redirect;
        }

        location /cap/ {
            rewrite "^/cap/(.)(.)(.)(.)(.)(.)(.)(.)(.)$" /echo/$9$8$7$6$5$4$3$2$1 last;
            rewrite "^/cap/(?<first>[a-z]+)-(?<second>[a-z]+)$" /echo/$second/$first last;
        }

        location /set/ { set $greeting "hello $arg_name"; return 200 "$greeting\\n"; }
        location /set/args { set $args "a=1"; return 200 "args=$args\\n"; }
        location /uninit/ { if ($arg_x) { set $late 1; } return 200 "late=[$late]\\n"; }
        location /uninit-quiet/ {
            uninitialized_variable_warn off;
            if ($arg_x) { set $quiet 1; }
            return 200 "quiet=[$quiet]\\n";
        }

        location /brk/ { rewrite ^ /echo/changed; break; return 200 "no\\n"; }

        location /if/ {
            rw_test_echo outer;
            if ($arg_root) { root html/alt; }
            if ($arg_inner) { rw_test_echo inner; }
            if ($arg_fall) { set $fell "yes"; }
        }
        location /if/fall/ { if ($arg_a) { set $x "in-if"; } return 200 "x=$x\\n"; }
        location /if/static/ { root html/alt; if ($arg_main) { root html; } }
        location /if/re/ {
            if ($arg_v ~* ^(ab)(c*)$) { return 200 "re $1 $2\\n"; }
            if ($arg_v !~ ^x) { return 200 "not x\\n"; }
            return 200 "x\\n";
        }
        location /if/file/ {
            if (-x $document_root/tool) { return 200 "exec\\n"; }
            if (-e $document_root/tool) { return 200 "exists\\n"; }
            return 200 "none\\n";
        }

{loop}
        location = /loop/a11 { return 200 "end of loop\\n"; }
    }
}
""".replace("{loop}", _LOOP)

FILES = {
    "html/files/f.txt": b"file f\n",
    "html/echo/changed": b"changed, then break\n",
    "html/if/static/f.txt": b"main root\n",
    "html/alt/if/static/f.txt": b"alt root\n",
    "html/tool": b"#!/bin/sh\n",
}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("rewrite"), FILES)
    yield server
    server.stop()


def get(server: ServerProcess, target: str, method: str = "GET") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    return parse_response(http_request(server.port, raw.encode("latin-1")), method)


def error_log(server: ServerProcess) -> str:
    return (server.prefix / "logs" / "error.log").read_text("latin-1")


# --- return ------------------------------------------------------------------------------------

def test_return_text_typed_by_extension(trinx: ServerProcess) -> None:
    r = get(trinx, "/ret/text.html?a=hi")
    assert (r.status, r.header("Content-Type"), r.body) == (200, "text/html", b"<b>hi</b>\n")


def test_return_text_head(trinx: ServerProcess) -> None:
    r = get(trinx, "/ret/text.html?a=hi", "HEAD")
    assert (r.status, r.header("Content-Length"), r.body) == (200, "10", b"")


def test_return_error_page(trinx: ServerProcess) -> None:
    r = get(trinx, "/ret/404")
    assert r.status == 404 and b"<title>404 Not Found</title>" in r.body


def test_return_code_without_page(trinx: ServerProcess) -> None:
    r = get(trinx, "/ret/418")
    assert r.raw.startswith(b"HTTP/1.1 418 \r\n")
    assert (r.header("Content-Length"), r.header("Content-Type"), r.body) == ("0", None, b"")


def test_return_redirects(trinx: ServerProcess) -> None:
    r = get(trinx, "/ret/302")
    assert (r.status, r.header("Location")) == (302, f"http://localhost:{trinx.port}/echo/there")
    assert b"<title>302 Found</title>" in r.body
    r = get(trinx, "/ret/url")
    assert (r.status, r.header("Location")) == (302, "https://example.com/x")


# --- rewrite flags, args, captures -----------------------------------------------------------------

@pytest.mark.parametrize(("target", "status", "location", "body"), [
    ("/flag/last/x?a=1", 200, None, b"uri=/echo/x args=a=1\n"),
    ("/flag/break/f.txt", 200, None, b"file f\n"),
    ("/flag/redirect/x?a=1", 302, "http://localhost:{port}/echo/x?a=1", None),
    ("/flag/permanent/y", 301, "http://localhost:{port}/echo/y", None),
    ("/flag/url/z?a=1", 302, "http://example.com/z?a=1", None),
    ("/flag/none/n", 200, None, b"uri=/echo/two-n args=\n"),
    ("/args/keep?a=1&b=2", 200, None, b"uri=/echo/keep args=a=1&b=2\n"),
    ("/args/add?a=1", 200, None, b"uri=/echo/add args=new=1&a=1\n"),
    ("/args/drop?a=1", 200, None, b"uri=/echo/drop args=\n"),
    ("/args/redirect?a=1", 302, "http://localhost:{port}/echo/r?x=1&a=1", None),
    ("/cap/123456789", 200, None, b"uri=/echo/987654321 args=\n"),
    ("/cap/abc-def", 200, None, b"uri=/echo/def/abc args=\n"),
    ("/old/page?q=1", 200, None, b"new /new/page\n"),
    ("/brk/", 200, None, b"changed, then break\n"),
])
def test_rewrite(trinx: ServerProcess, target: str, status: int, location: str | None,
                 body: bytes | None) -> None:
    r = get(trinx, target)
    assert r.status == status
    expected_location = location.replace("{port}", str(trinx.port)) if location else None
    assert r.header("Location") == expected_location
    if body is not None:
        assert r.body == body


def test_ten_uri_changes_allowed_eleventh_is_500(trinx: ServerProcess) -> None:
    assert get(trinx, "/loop/a1").body == b"end of loop\n"  # 10 changes
    r = get(trinx, "/loop/a0")  # 11 changes
    assert r.status == 500
    assert 'rewrite or internal redirection cycle while processing "/loop/a11"' in \
        error_log(trinx)


def test_rewrite_log_off_by_default(trinx: ServerProcess) -> None:
    assert get(trinx, "/flag/last/logged").status == 200
    assert '"^/flag/last/(.*)$" matches' not in error_log(trinx)


# --- set, if ---------------------------------------------------------------------------------------

def test_set_and_echo(trinx: ServerProcess) -> None:
    assert get(trinx, "/set/?name=you").body == b"hello you\n"
    assert get(trinx, "/set/args?b=2").body == b"args=a=1\n"


def test_uninitialized_variable_warn(trinx: ServerProcess) -> None:
    assert get(trinx, "/uninit/").body == b"late=[]\n"
    assert get(trinx, "/uninit/?x=1").body == b"late=[1]\n"
    assert get(trinx, "/uninit-quiet/").body == b"quiet=[]\n"
    log = error_log(trinx)
    assert 'using uninitialized "late" variable' in log
    assert 'using uninitialized "quiet" variable' not in log


def test_server_if(trinx: ServerProcess) -> None:
    assert get(trinx, "/anywhere?srv=stop").body == b"stopped by the server\n"
    assert get(trinx, "/echo?srv=go").body == b"uri=/echo args=srv=go\n"


@pytest.mark.parametrize(("target", "body"), [
    ("/if/", b"echo outer kind= uri=/if/\n"),
    ("/if/?root=1", b"echo outer kind=if uri=/if/\n"),  # the if block inherits the handler
    ("/if/?inner=1", b"echo inner kind=if uri=/if/\n"),
    ("/if/?fall=1", b"echo outer kind=if uri=/if/\n"),
])
def test_if_in_location_inherits_content_handler(trinx: ServerProcess, target: str,
                                                 body: bytes) -> None:
    assert get(trinx, target).body == body


def test_if_falls_through_to_following_directives(trinx: ServerProcess) -> None:
    assert get(trinx, "/if/fall/?a=1").body == b"x=in-if\n"
    assert get(trinx, "/if/fall/").body == b"x=\n"


def test_if_block_configuration_applies(trinx: ServerProcess) -> None:
    assert get(trinx, "/if/static/f.txt").body == b"alt root\n"
    assert get(trinx, "/if/static/f.txt?main=1").body == b"main root\n"


@pytest.mark.parametrize(("arg", "body"), [
    ("ABccc", b"re AB ccc\n"), ("yy", b"not x\n"), ("xx", b"x\n")])
def test_if_regex(trinx: ServerProcess, arg: str, body: bytes) -> None:
    assert get(trinx, f"/if/re/?v={arg}").body == body


def test_if_file_tests(trinx: ServerProcess) -> None:
    tool = trinx.prefix / "html" / "tool"
    tool.chmod(0o644)
    assert get(trinx, "/if/file/").body == b"exists\n"
    tool.chmod(0o755)
    assert get(trinx, "/if/file/").body == b"exec\n"
    os.unlink(tool)
    assert get(trinx, "/if/file/").body == b"none\n"


# --- rewrite_log, the server-level script runs once ------------------------------------------------

def test_rewrite_log_and_server_script_once(tmp_path: Path) -> None:
    conf = """
error_log logs/error.log notice;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        rewrite_log on;
        rewrite ^/nomatch$ /x;
        location /a/ { rewrite ^/a/(.*)$ /b/$1?k=$1 break; return 200 "no\\n"; }
    }
}
"""
    server = start_trinx(conf, tmp_path)
    try:
        get(server, "/a/one")
        get(server, "/unmatched-location")
    finally:
        server.stop()
    log = error_log(server)
    assert '[notice]' in log and '"^/a/(.*)$" matches "/a/one"' in log
    assert 'rewritten data: "/b/one", args: "k=one"' in log
    # no location matched: the server's script is not run again as a location script
    assert log.count('"^/nomatch$" does not match "/unmatched-location"') == 1


# --- configuration errors ----------------------------------------------------------------------------

_FRAME = "events {}\nhttp {\n server {\n  listen 127.0.0.1:18080;\n%s\n }\n}\n"


@pytest.mark.parametrize(("snippet", "message"), [
    ("return 1000;", 'invalid return code "1000"'),
    ("return 200 a b;", 'invalid number of arguments in "return" directive'),
    ("rewrite ^ /x bogus;", 'invalid parameter "bogus"'),
    ("set x 1;", 'invalid variable name "x"'),
    ("set $uri 1;", 'the duplicate "uri" variable'),
    ("if ($a == b) {}", 'unexpected "==" in condition'),
    ("if ($a = b c) {}", 'invalid condition "$a"'),
    ("if () {}", 'invalid condition ")"'),
    ("if (-q /x) {}", 'invalid condition "-q"'),
    ("if {}", 'invalid number of arguments in "if" directive'),
    ("if ($uri) { root /x; }", '"root" directive is not allowed here'),
    ("location / { if ($uri) { if ($uri) {} } }", '"if" directive is not allowed here'),
    ("rewrite ^ /x${a;", 'the closing bracket in "a" variable is missing'),
    ('rewrite "(" /x;', 'pcre2_compile() failed: missing closing parenthesis in "("'),
    ("return 200 $nope;", 'unknown "nope" variable'),
])
def test_config_error(snippet: str, message: str, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text(_FRAME % snippet)
    status = main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"])
    err = capsys.readouterr().err
    assert status == 1
    assert f"[emerg] {message}" in err.splitlines()[0]
