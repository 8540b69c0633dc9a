"""The rewrite module against nginx: same config, same requests, same status/Location/body.

One config holds a location per behaviour (return forms, rewrite flags and args forms,
``set``, ``if`` conditions, captures, the URI-change limit); a table of requests runs through
both servers and each row is its own test.  Absolute ``Location`` headers and bodies carry
each server's port, which is replaced by ``PORT`` before comparing.

A hypothesis property sends generated paths and query strings (``%`` and ``+`` included:
they switch on nginx's capture escaping) through the args forms of ``rewrite``.

Config errors of the module are compared too: ``nginx -t`` and ``trinx -t`` on the same
bad snippets must print the same ``[emerg]`` message.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.main import main
from tests.harness import (
    NGINX_BIN,
    Response,
    ServerProcess,
    http_request,
    parse_response,
    start_nginx,
    start_trinx,
)

pytestmark = pytest.mark.differential

_LOOP = "\n".join(f"        location = /loop/a{i} {{ rewrite ^ /loop/a{i + 1} last; }}"
                  for i in range(11))

CONF = """
events {}
http {
    access_log off;
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;

        rewrite ^/srv-old/(.*)$ /srv-new/$1 last;
        if ($arg_srvret) { return 200 "server if $arg_srvret\\n"; }
        if ($http_x_srv_rewrite) { rewrite ^ /echo/from-server-if; }
        set $srvvar "from-server";

        location /srv-new/ { return 200 "srv-new uri=$uri args=$args srvvar=$srvvar\\n"; }
        location /echo { return 200 "uri=$uri args=$args\\n"; }

        location = /ret/200 { return 200; }
        location = /ret/text { return 200 "text $uri $arg_a\\n"; }
        location = /ret/404 { return 404; }
        location = /ret/404t { return 404 "custom body\\n"; }
        location = /ret/404empty { return 404 ""; }
        location = /ret/418 { return 418; }
        location = /ret/301 { return 301 /echo/moved; }
        location = /ret/302abs { return 302 http://example.com/x?$args; }
        location = /ret/303 { return 303 /x; }
        location = /ret/307 { return 307 "/x?y=1"; }
        location = /ret/308 { return 308 https://e.com/; }
        location = /ret/302rel { return 302 rel/x; }
        location = /ret/url { return http://example.com/u; }
        location = /ret/scheme { return $scheme://example.com/s; }
        location = /ret/204 { return 204; }
        location = /ret/500t { return 500 "oops\\n"; }
        location = /ret/300 { return 300 "three"; }
        location = /ret/typed.html { return 200 "<p>\\n"; }
        location = /ret/999 { return 999 "odd"; }
        location = /ret/cap { return 200 "$1"; }
        location = /ret/error_page { error_page 404 /echo/ep; return 404; }
        location = /ret/ep-text { error_page 404 /ep-target; return 404; }
        location = /ret/ep-eq { error_page 404 = /ep-target; return 404; }
        location = /ep-target { return 200 "ep body $uri\\n"; }
        location /tf/ { try_files /nonexistent @named; }
        location @named { rewrite ^/tf/(.*)$ /echo/named-$1 last; }
        location = /ret/empty-location { return 301; }
        location = /ret/first { return 200 "first\\n"; return 200 "second\\n"; }

        location /rw/last/ { rewrite ^/rw/last/(.*)$ /echo/$1 last; return 200 "no\\n"; }
        location /rw/break/ { rewrite ^/rw/break/(.*)$ /files/$1 break; return 200 "no\\n"; }
        location /rw/redirect/ { rewrite ^/rw/redirect/(.*)$ /echo/$1 redirect; }
        location /rw/permanent/ { rewrite ^/rw/permanent/(.*)$ /echo/$1 permanent; }
        location /rw/url/ { rewrite ^/rw/url/(.*)$ http://example.com/$1; }
        location /rw/urlperm/ { rewrite ^ https://example.com/p permanent; }
        location /rw/scheme/ { rewrite ^ $scheme://example.com/s?q=1; }
        location /rw/noflag/ {
            rewrite ^/rw/noflag/(.*)$ /echo/a-$1;
            rewrite ^/echo/a-(.*)$ /echo/b-$1;
        }
        location /rw/nomatch/ { rewrite ^/nope /x last; return 200 "fallthrough $uri\\n"; }
        location /rw/args/ {
            rewrite ^/rw/args/keep$ /echo/keep last;
            rewrite ^/rw/args/add$ /echo/add?new=1 last;
            rewrite ^/rw/args/drop$ /echo/drop? last;
            rewrite ^/rw/args/replace$ /echo/replace?only=1? last;
            rewrite ^/rw/args/emptyq$ /echo/e?$arg_none last;
            rewrite ^/rw/args/redir$ /echo/r?x=1 redirect;
            rewrite ^/rw/args/redirdrop$ /echo/r? redirect;
            rewrite ^/rw/args/redirplain$ /echo/r redirect;
            rewrite ^/rw/args/var$ /echo/v?a=$arg_a&$args last;
        }
        location /rw/cap/ { rewrite "^/rw/cap/(\\w+)/(\\d+)$" /echo/$2/$1?n=$2 last; }
        location /rw/named/ { rewrite "^/rw/named/(?<word>[a-z]+)" /echo/$word last; }
        location /rw/zero/ { rewrite ^ $arg_empty last; }
        location /rw/internal/ { rewrite ^ /int/x last; }
        location /int/ { internal; return 200 "internal $uri\\n"; }
        location /rw/lit/ { rewrite ^ /echo/a%41%20b?x=%41 last; }
        location /rw/litr/ { rewrite ^ /echo/a%41%20b%2f?x=%41 redirect; }
        location /rw/esc/ { rewrite ^/rw/esc/(.*)$ /echo/$1?c=$1 last; }
        location /rw/escr/ { rewrite ^/rw/escr/(.*)$ /echo/$1?c=$1 redirect; }

        location /brk/ { rewrite ^ /echo/changed; break; return 200 "no\\n"; }
        location /brk2/ { break; return 200 "no\\n"; }

        location /set/ { set $a "A$arg_x"; set $b "$a-B"; return 200 "$a $b\\n"; }
        location /set/args { set $args "replaced=1"; return 200 "args=$args\\n"; }
        location /set/esc/ { if ($uri ~ ^/set/esc/(.*)) { set $x $1; } return 200 "x=$x 1=$1\\n"; }

        location /if/var { if ($arg_v) { return 200 "true\\n"; } return 200 "false\\n"; }
        location /if/eq {
            if ($arg_v = "yes") { return 200 "eq\\n"; }
            if ($arg_v != "yes") { return 200 "ne\\n"; }
        }
        location /if/re {
            if ($arg_v ~ ^(a+)(b*)$) { return 200 "re $1 $2\\n"; }
            if ($arg_v ~* ^X(?<rest>.*)) { return 200 "rei $rest\\n"; }
            if ($arg_v !~ z) { return 200 "nz\\n"; }
            if ($arg_v !~* Q) { return 200 "nq\\n"; }
            return 200 "zq\\n";
        }
        location /if/ftest/ {
            set $p $document_root/$arg_p;
            if (-f $p) { return 200 "f\\n"; }
            if (-d $p) { return 200 "d\\n"; }
            if (!-e $p) { return 200 "!e\\n"; }
            return 200 "other\\n";
        }
        location /if/fall/ { if ($arg_a) { set $x "in-if"; } return 200 "x=$x\\n"; }
        location /if/loc/ { root html/alt; if ($arg_main) { root html; } }
        location /if/rw/ { if ($arg_go) { rewrite ^ /echo/from-if last; } return 200 "stay\\n"; }
        location /if/paren/ {
            if ( $arg_a = "x y" ) { return 200 "spaced\\n"; }
            if ($arg_a) { return 200 "plain $arg_a\\n"; }
            return 200 "none\\n";
        }

        location ~ ^/lre/(\\w+)$ { return 200 "lre $1\\n"; }
        location ~ ^/lre2/(\\w+)$ { if ($arg_x ~ nomatch) { } return 200 "lre2 [$1]\\n"; }
        location ~ ^/lre3/(\\w+)$ { rewrite ^/nomatch /x; return 200 "lre3 [$1]\\n"; }

{loop}
        location = /loop/a11 { return 200 "end of loop\\n"; }
        location = /loop/noflag { rewrite ^ /loop/noflag; }
    }
}
""".replace("{loop}", _LOOP)

FILES = {
    "html/files/f.txt": b"file f\n",
    "html/echo/changed": b"changed by a rewrite, then break\n",
    "html/if/loc/f.txt": b"main root\n",
    "html/alt/if/loc/f.txt": b"alt root\n",
    "html/dir/.keep": b"",
}

# (request target, extra header lines)
REQUESTS: list[tuple[str, str]] = [
    ("/srv-old/x?q=1", ""),
    ("/anything?srvret=yes", ""),
    ("/nowhere", "X-Srv-Rewrite: 1\r\n"),
    ("/srv-new/direct", ""),
    ("/ret/200", ""),
    ("/ret/text?a=1", ""),
    ("/ret/404", ""),
    ("/ret/404t", ""),
    ("/ret/404empty", ""),
    ("/ret/418", ""),
    ("/ret/301", ""),
    ("/ret/302abs?k=v", ""),
    ("/ret/303", ""),
    ("/ret/307", ""),
    ("/ret/308", ""),
    ("/ret/302rel", ""),
    ("/ret/url", ""),
    ("/ret/scheme", ""),
    ("/ret/204", ""),
    ("/ret/500t", ""),
    ("/ret/300", ""),
    ("/ret/typed.html", ""),
    ("/ret/999", ""),
    ("/ret/cap", ""),
    ("/ret/error_page", ""),
    ("/ret/first", ""),
    ("/ret/ep-text", ""),
    ("/ret/ep-eq", ""),
    ("/tf/x?a=1", ""),
    ("/rw/last/x?a=1", ""),
    ("/rw/break/f.txt", ""),
    ("/rw/break/missing", ""),
    ("/rw/redirect/x?a=1", ""),
    ("/rw/permanent/y", ""),
    ("/rw/url/z?a=1", ""),
    ("/rw/urlperm/", ""),
    ("/rw/scheme/?k=2", ""),
    ("/rw/noflag/n?a=1", ""),
    ("/rw/nomatch/", ""),
    ("/rw/args/keep?a=1&b=2", ""),
    ("/rw/args/keep", ""),
    ("/rw/args/add?a=1", ""),
    ("/rw/args/add", ""),
    ("/rw/args/drop?a=1", ""),
    ("/rw/args/replace?a=1", ""),
    ("/rw/args/emptyq?a=1", ""),
    ("/rw/args/emptyq", ""),
    ("/rw/args/redir?a=1", ""),
    ("/rw/args/redirdrop?a=1", ""),
    ("/rw/args/redirplain?a=1", ""),
    ("/rw/args/redirplain", ""),
    ("/rw/args/var?a=5&b=6", ""),
    ("/rw/cap/abc/123", ""),
    ("/rw/cap/abc/xyz", ""),
    ("/rw/named/hello", ""),
    ("/rw/zero/", ""),
    ("/rw/internal/", ""),
    ("/int/direct", ""),
    ("/rw/lit/", ""),
    ("/rw/litr/?k=1", ""),
    ("/rw/esc/a%20b+c&d", ""),
    ("/rw/esc/a&b", ""),
    ("/rw/escr/a%20b%3F%26?z=1", ""),
    ("/brk/", ""),
    ("/brk2/", ""),
    ("/set/?x=1", ""),
    ("/set/args?orig=1", ""),
    ("/set/esc/a%20b+", ""),
    ("/set/esc/plain", ""),
    ("/if/var?v=1", ""),
    ("/if/var?v=0", ""),
    ("/if/var?v=", ""),
    ("/if/var", ""),
    ("/if/eq?v=yes", ""),
    ("/if/eq?v=no", ""),
    ("/if/re?v=aab", ""),
    ("/if/re?v=xyz", ""),
    ("/if/re?v=zz", ""),
    ("/if/re?v=zq", ""),
    ("/if/ftest/?p=files/f.txt", ""),
    ("/if/ftest/?p=dir", ""),
    ("/if/ftest/?p=nope", ""),
    ("/if/fall/?a=1", ""),
    ("/if/fall/", ""),
    ("/if/loc/f.txt", ""),
    ("/if/loc/f.txt?main=1", ""),
    ("/if/rw/?go=1", ""),
    ("/if/rw/", ""),
    ("/if/paren/?a=x%20y", ""),
    ("/if/paren/?a=q", ""),
    ("/if/paren/", ""),
    ("/lre/word", ""),
    ("/lre2/word", ""),
    ("/lre3/word", ""),
    ("/loop/a1", ""),
    ("/loop/a0", ""),
    ("/loop/noflag", ""),
]


def _pair(tmp: Path, conf: str, files: dict[str, bytes]) -> tuple[ServerProcess, ServerProcess]:
    nginx = start_nginx(conf, tmp / "nginx", files)
    try:
        trinx = start_trinx(conf, tmp / "trinx", files)
    except BaseException:
        nginx.stop()
        raise
    return nginx, trinx


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    nginx, trinx = _pair(tmp_path_factory.mktemp("rewrite"), CONF, FILES)
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


def _fetch(server: ServerProcess, target: str, headers: str = "", method: str = "GET") -> Response:
    raw = (f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n{headers}"
           "Connection: close\r\n\r\n").encode("latin-1")
    return parse_response(http_request(server.port, raw), method)


def _view(server: ServerProcess, resp: Response) -> tuple[int, str | None, str | None, bytes]:
    """What must agree: status, Location (port-normalised), Content-Type, body."""
    port = str(server.port)
    location = resp.header("Location")
    if location is not None:
        location = location.replace(f":{port}", ":PORT")
    return resp.status, location, resp.header("Content-Type"), \
        resp.body.replace(port.encode(), b"PORT")


@pytest.mark.parametrize(("target", "headers"), REQUESTS, ids=[t for t, _ in REQUESTS])
def test_request(pair: tuple[ServerProcess, ServerProcess], target: str, headers: str) -> None:
    nginx, trinx = pair
    expected = _view(nginx, _fetch(nginx, target, headers))
    assert _view(trinx, _fetch(trinx, target, headers)) == expected


def test_head_on_return_text(pair: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = pair
    n = _fetch(nginx, "/ret/text?a=1", method="HEAD")
    t = _fetch(trinx, "/ret/text?a=1", method="HEAD")
    assert (t.status, t.header("Content-Length"), t.body) == \
        (n.status, n.header("Content-Length"), n.body)


def test_return_redirect_without_url(pair: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = pair
    n = _fetch(nginx, "/ret/empty-location")
    t = _fetch(trinx, "/ret/empty-location")
    assert n.header("Location") == ""
    assert t.header("Location") == n.header("Location")


# --- generated args through the args forms of rewrite -------------------------------------------

ARGS_CONF = """
events {}
http {
    access_log off;
    default_type text/plain;
    server {
        listen 127.0.0.1:{port};
        location /keep/ { rewrite ^/keep/(.*)$ /echo/$1 last; }
        location /add/ { rewrite ^/add/(.*)$ /echo/$1?c=$1&n=1 last; }
        location /drop/ { rewrite ^/drop/(.*)$ /echo/$1? last; }
        location /only/ { rewrite ^/only/(.*)$ /echo/x?c=$1? last; }
        location /redir/ { rewrite ^/redir/(.*)$ /echo/$1 redirect; }
        location /redirq/ { rewrite ^/redirq/(.*)$ /echo/$1?c=$1 redirect; }
        location /set/ { if ($uri ~ ^/set/(.*)$) { set $v $1; } return 200 "v=$v\\n"; }
        location /echo { return 200 "uri=$uri args=$args arg_c=$arg_c\\n"; }
    }
}
"""


@pytest.fixture(scope="module")
def args_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                          ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")
    nginx, trinx = _pair(tmp_path_factory.mktemp("rewrite-args"), ARGS_CONF, {})
    yield nginx, trinx
    trinx.stop()
    nginx.stop()


# bytes a client may put in a path segment or query, plus valid %-escapes (incl. %3F, %26,
# %25, %2F and a non-ASCII byte) that exercise escaping and the redirect unescaping
_ATOMS = st.sampled_from(list("abcXYZ019-._~!$'()*,;=:@&+") +
                         ["%20", "%3F", "%26", "%25", "%2F", "%2f", "%41", "%7E", "%E9", "%2B"])
_SEGMENT = st.lists(_ATOMS, min_size=1, max_size=8).map("".join)
_QUERY = st.one_of(st.just(""), st.lists(st.sampled_from(list("abc=&+;%/?:") + ["%20", "%41"]),
                                         max_size=8).map("".join))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.sampled_from(["keep", "add", "drop", "only", "redir", "redirq", "set"]),
       segment=_SEGMENT, query=_QUERY)
def test_generated_args(args_pair: tuple[ServerProcess, ServerProcess], form: str,
                        segment: str, query: str) -> None:
    nginx, trinx = args_pair
    target = f"/{form}/{segment}" + (f"?{query}" if query else "")
    expected = _view(nginx, _fetch(nginx, target))
    assert _view(trinx, _fetch(trinx, target)) == expected, target


# --- config errors --------------------------------------------------------------------------------

_FRAME = "events {}\nhttp {\n server {\n  listen 127.0.0.1:18080;\n%s\n }\n}\n"

BAD_SNIPPETS = [
    "return 1000;", "return abc;", "return -1;", 'return "";', "return http://x y;",
    "return 200 a b;", "rewrite ^ /x bogus;", "rewrite ^;", 'rewrite "(" /x;',
    'rewrite "a)b" /x;', 'rewrite "[a" /x;', "set x 1;", "set $ 1;", "set $uri 1;",
    "set $query_string 1;", "set $x;", "if $a {}", "if ($a = ) {}", "if () {}",
    "if ($a == b) {}", "if ($a = b c) {}", "if (-f) {}", "if (-q /x) {}", "if (!-q /x) {}",
    "if (a) {}", 'if ($uri ~ "(") {}', "if ($) {}", "if (($a)) {}", "if ($a) ;", "if {}",
    "if ($uri) { if ($uri) {} }", "if ($uri) { root /x; }",
    "location / { if ($uri) { location /y {} } }", "break 1;", "rewrite_log maybe;",
    "location / { rewrite_log on; rewrite_log on; }", "return 200 $bogus;",
    "rewrite ^ /x$;", "rewrite ^ /x${a;", "set $x $;", 'if ("") {}', "if ($bogus) {}",
    'if ($uri -f) {}', "if (-F /a) {}",
]

GOOD_SNIPPETS = [
    "set $args 1; set $arg_x 1; set $http_x 1; set $limit_rate 1; set $A 1; set $a 2;",
    "if ($uri = a) { rewrite_log on; } rewrite_log on;",
    "return $scheme://x; return 0; return 302; rewrite ^ /x?; rewrite ^ ?;",
    "if ( -e /a ) {} if (!-x /a) {} if ($uri !~* A) {} if ($uri != '') {}",
    "location / { if ($uri) { root /x; rewrite_log on; } }",
]


def _emerg(text: str) -> str:
    for line in text.splitlines():
        if "[emerg]" in line:
            msg = line.split("[emerg] ", 1)[1]
            head, sep, rest = msg.partition(": ")
            return rest if sep and head.replace("#", "").isdigit() else msg
    return ""


@pytest.mark.parametrize("snippet", BAD_SNIPPETS + GOOD_SNIPPETS)
def test_config_message(snippet: str, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """The same [emerg] message (or none) from ``nginx -t`` and ``trinx -t`` (in-process)."""
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text(_FRAME % snippet)
    common = ["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"]
    out = subprocess.run([str(NGINX_BIN), *common, "-g", "pid logs/n.pid;"],
                         capture_output=True, text=True, timeout=30)
    nginx = _emerg(out.stderr)
    assert bool(nginx) == (snippet in BAD_SNIPPETS), nginx
    main(common)
    assert _emerg(capsys.readouterr().err) == nginx
