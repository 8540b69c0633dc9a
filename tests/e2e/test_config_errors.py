"""Bad configurations: ``trinx -t`` must print nginx's ``[emerg]`` message with nginx's file:line.

Every expected message below was taken from Debian's nginx 1.22 (``nginx -t -p P -c C -e
stderr``); tests/differential/test_config_errors_diff.py runs the same CASES through nginx to
keep them honest.  Here trinx runs in-process (``engine.main.main`` with the same argv as the
command line), which exercises the whole command-line path but costs milliseconds per case
instead of a Python start-up; tests/e2e/test_cli.py covers the real process.

A case's ``conf`` is the main file ``P/conf/nginx.conf``; ``files`` are more files under the
prefix; ``{P}`` in the expected message stands for the prefix directory (no trailing slash).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.main import main
from tests.harness import NGINX_BIN

__all__ = ["CASES", "WARN_CASES", "Case", "H", "write_prefix", "trinx_argv", "warn_messages",
           "as_console", "location_conf_error"]

# a minimal valid frame; the case's directives go on line 5, inside the server block
H = "events {}\nhttp {\n server {\n  listen 127.0.0.1:18080;\n%s\n }\n}\n"


@dataclass(frozen=True)
class Case:
    id: str
    conf: str
    expected: str | None  # the text after "[emerg] "; None: the config is valid
    files: dict[str, str] = field(default_factory=dict)
    g: str | None = None
    # why nginx-light prints something else (the differential test then only checks trinx)
    nginx_differs: str | None = None
    # a known trinx bug outside this test's owner's files: xfail(strict) with this reason
    trinx_bug: str | None = None


def _long(n: int) -> str:
    return "a" * n


CASES: list[Case] = [
    # --- syntax (ngx_conf_read_token) ---
    Case("unexpected-close", H % " }", 'unexpected "}" in {P}/conf/nginx.conf:7'),
    Case("unexpected-semicolon", H % " ;", 'unexpected ";" in {P}/conf/nginx.conf:5'),
    Case("unexpected-open", H % " {", 'unexpected "{" in {P}/conf/nginx.conf:5'),
    Case("close-after-words", H % " root /x }", 'unexpected "}" in {P}/conf/nginx.conf:5'),
    Case("eof-in-directive", "events {}\nhttp { server { root /x",
         'unexpected end of file, expecting ";" or "}" in {P}/conf/nginx.conf:2'),
    Case("eof-in-block", "events {}\nhttp { server { root /x;\n",
         'unexpected end of file, expecting "}" in {P}/conf/nginx.conf:3'),
    Case("eof-in-quote", H % ' root "a\n;',
         'unexpected end of file, expecting ";" or "}" in {P}/conf/nginx.conf:9'),
    Case("char-after-quote", H % ' root "a"b;', 'unexpected "b" in {P}/conf/nginx.conf:5'),
    Case("char-after-single-quote", H % " root 'a'b;",
         'unexpected "b" in {P}/conf/nginx.conf:5'),
    Case("paren-after-quote-starts-word", H % ' location / { root "x"); }',
         'invalid number of arguments in "root" directive in {P}/conf/nginx.conf:5'),
    Case("too-long-word", H % f" root {_long(4096)};",
         'too long parameter "aaaaaaaaaa..." started in {P}/conf/nginx.conf:5'),
    Case("longest-word", H % f" root /{_long(4094)};", None),
    Case("longest-quoted", H % f' root "/{_long(4093)}";', None),
    Case("too-long-quoted-ending-at-buffer", H % f' root "{_long(4095)}";',
         'too long parameter "aaaaaaaaaa..." started in {P}/conf/nginx.conf:5'),
    Case("too-long-quoted", H % f' root "{_long(4096)}";',
         'too long parameter, probably missing terminating """ character in '
         "{P}/conf/nginx.conf:5"),
    Case("too-long-comment", H % f" #{_long(4095)}\n",
         'too long parameter "#aaaaaaaaa..." started in {P}/conf/nginx.conf:5'),
    Case("word-spanning-lines-line-of-terminator", H % " root\n/a\n/b\n;",
         'invalid number of arguments in "root" directive in {P}/conf/nginx.conf:8'),
    # --- directive dispatch (ngx_conf_handler) ---
    Case("unknown-directive", H % " bogus on;", 'unknown directive "bogus" in {P}/conf/nginx.conf:5'),
    Case("not-allowed-here", "events {}\nhttp { worker_processes 2; }\n",
         '"worker_processes" directive is not allowed here in {P}/conf/nginx.conf:2'),
    Case("not-allowed-in-events", "events { listen 80; }\n",
         '"listen" directive is not allowed here in {P}/conf/nginx.conf:1'),
    Case("http-main-only", H % " server_names_hash_max_size 512;",
         '"server_names_hash_max_size" directive is not allowed here in '
         "{P}/conf/nginx.conf:5"),
    Case("arg-count", H % " root a b;",
         'invalid number of arguments in "root" directive in {P}/conf/nginx.conf:5'),
    Case("arg-count-flag", "events {}\ndaemon on off;\n",
         'invalid number of arguments in "daemon" directive in {P}/conf/nginx.conf:2'),
    Case("arg-count-location", H % " location {}",
         'invalid number of arguments in "location" directive in {P}/conf/nginx.conf:5'),
    Case("not-terminated", H % " root html { }",
         'directive "root" is not terminated by ";" in {P}/conf/nginx.conf:5'),
    Case("no-opening-brace", "events {}\nhttp { server; }\n",
         'directive "server" has no opening "{" in {P}/conf/nginx.conf:2'),
    Case("main-directive-after-http", "events {}\nhttp { }\nworker_processes 2;\n", None),
    # --- values ---
    Case("bad-flag", H % " sendfile maybe;",
         'invalid value "maybe" in "sendfile" directive, it must be "on" or "off" in '
         "{P}/conf/nginx.conf:5"),
    Case("bad-flag-ignored-directive", H % " tcp_nopush maybe;",
         'invalid value "maybe" in "tcp_nopush" directive, it must be "on" or "off" in '
         "{P}/conf/nginx.conf:5"),
    Case("bad-size", H % " client_max_body_size 1x;",
         '"client_max_body_size" directive invalid value in {P}/conf/nginx.conf:5'),
    Case("offset-takes-g", H % " client_max_body_size 1g;", None),
    Case("bad-time", H % " send_timeout 1x;",
         '"send_timeout" directive invalid value in {P}/conf/nginx.conf:5'),
    Case("time-units-order", H % " client_body_timeout 30m1h;",
         '"client_body_timeout" directive invalid value in {P}/conf/nginx.conf:5'),
    Case("bad-keepalive-timeout", H % " keepalive_timeout 1x;",
         '"keepalive_timeout" directive invalid value in {P}/conf/nginx.conf:5'),
    Case("keepalive-header-no-ms", H % " keepalive_timeout 10 500ms;",
         '"keepalive_timeout" directive invalid value in {P}/conf/nginx.conf:5'),
    Case("bad-if-modified-since", H % " if_modified_since sometimes;",
         'invalid value "sometimes" in {P}/conf/nginx.conf:5'),
    Case("bad-worker-processes", "events {}\nworker_processes abc;\n",
         '"worker_processes" directive invalid value in {P}/conf/nginx.conf:2'),
    Case("bad-worker-connections", "events { worker_connections x; }\n",
         'invalid number "x" in {P}/conf/nginx.conf:1'),
    Case("bad-large-buffers", H % " large_client_header_buffers 4 8x;",
         '"large_client_header_buffers" directive invalid value in {P}/conf/nginx.conf:5'),
    Case("bad-log-level", "events {}\nerror_log stderr bogus;\n",
         'invalid log level "bogus" in {P}/conf/nginx.conf:2'),
    Case("bad-enum", H % " lingering_close sometimes;",
         'invalid value "sometimes" in {P}/conf/nginx.conf:5'),
    Case("bad-number", H % " keepalive_requests abc;",
         '"keepalive_requests" directive invalid number in {P}/conf/nginx.conf:5'),
    # --- duplicates ---
    Case("duplicate-root", H % " root /a; root /b;",
         '"root" directive is duplicate in {P}/conf/nginx.conf:5'),
    Case("root-after-alias", H % " location / { alias /a/; root /b; }",
         '"root" directive is duplicate, "alias" directive was specified earlier in '
         "{P}/conf/nginx.conf:5"),
    Case("alias-after-root", H % " location / { root /b; alias /a/; }",
         '"alias" directive is duplicate, "root" directive was specified earlier in '
         "{P}/conf/nginx.conf:5"),
    Case("duplicate-events", "events {}\nevents {}\n",
         '"events" directive is duplicate in {P}/conf/nginx.conf:2'),
    Case("duplicate-http", "events {}\nhttp {}\nhttp {}\n",
         '"http" directive is duplicate in {P}/conf/nginx.conf:3'),
    Case("duplicate-pid", "events {}\npid a;\npid b;\n",
         '"pid" directive is duplicate in {P}/conf/nginx.conf:3'),
    Case("duplicate-in-events", "events { worker_connections 10; worker_connections 20; }\n",
         '"worker_connections" directive is duplicate in {P}/conf/nginx.conf:1'),
    Case("duplicate-ignored-directive", H % " tcp_nopush on; tcp_nopush off;",
         '"tcp_nopush" directive is duplicate in {P}/conf/nginx.conf:5'),
    Case("duplicate-try-files", H % " location /a { try_files a b; try_files c d; }",
         '"try_files" directive is duplicate in {P}/conf/nginx.conf:5'),
    # --- whole-config checks ---
    Case("no-events", "http {}\n", 'no "events" section in configuration'),
    Case("unknown-variable", H % " root /x/$foo;", 'unknown "foo" variable'),
    # --- include ---
    Case("include-missing", "events {}\ninclude missing.conf;\n",
         'open() "{P}/conf/missing.conf" failed (2: No such file or directory) in '
         "{P}/conf/nginx.conf:2"),
    Case("include-glob-no-match", "events {}\ninclude /nonexistent/*.conf;\n", None),
    Case("error-in-included-file", "events {}\ninclude inc/a.conf;\n",
         'unknown directive "bogus" in {P}/conf/inc/a.conf:3',
         files={"conf/inc/a.conf": "\n\nbogus;\n"}),
    Case("error-in-included-types", "events {}\nhttp { include mime.types; }\n",
         'unexpected "}" in {P}/conf/mime.types:4',
         files={"conf/mime.types": "types {\n text/html html;\n bogus\n}\n"}),
    Case("types-entry-without-extensions", H % " types { text/html; }", None),
    # --- -g ---
    Case("g-duplicate-with-file", "events {}\ndaemon off;\n",
         '"daemon" directive is duplicate in {P}/conf/nginx.conf:2', g="daemon off;"),
    Case("g-block", "events {}\n", "block directives are not supported in -g option "
         "in command line", g="events {}"),
    Case("g-unknown", "events {}\n", 'unknown directive "bogus" in command line', g="bogus;"),
    Case("g-missing-semicolon", "events {}\n",
         'unexpected end of parameter, expecting ";" in command line', g="daemon off"),
    Case("g-bad-flag", "events {}\n", 'invalid value "maybe" in "daemon" directive, it must '
         'be "on" or "off" in command line', g="daemon maybe;"),
    # --- locations ---
    Case("duplicate-location", H % " location /a {} location /a {}",
         'duplicate location "/a" in {P}/conf/nginx.conf:5'),
    Case("duplicate-prefix-and-noregex", H % " location ^~ /a { } location /a { }",
         'duplicate location "/a" in {P}/conf/nginx.conf:5'),
    Case("location-outside-parent", H % " location /a { location /b {} }",
         'location "/b" is outside location "/a" in {P}/conf/nginx.conf:5'),
    Case("location-in-exact", H % " location = /a { location /a/b {} }",
         'location "/a/b" cannot be inside the exact location "/a" in {P}/conf/nginx.conf:5'),
    Case("location-in-named", H % " location @x { location /y {} }",
         'location "/y" cannot be inside the named location "@x" in {P}/conf/nginx.conf:5'),
    Case("named-location-nested", H % " location /a { location @x {} }",
         'named location "@x" can be on the server level only in {P}/conf/nginx.conf:5'),
    Case("alias-in-named", H % " location @n { alias /a; }",
         'the "alias" directive cannot be used inside the named location in '
         "{P}/conf/nginx.conf:5"),
    # --- listen ---
    Case("listen-bad-port", H % " listen 127.0.0.1:99999;",
         'invalid port in "127.0.0.1:99999" of the "listen" directive in '
         "{P}/conf/nginx.conf:5"),
    Case("listen-port-zero", H % " listen 0;",
         'invalid port in "0" of the "listen" directive in {P}/conf/nginx.conf:5'),
    Case("listen-bad-parameter", H % " listen 18080 foo;",
         'invalid parameter "foo" in {P}/conf/nginx.conf:5'),
    Case("duplicate-listen", "events {}\nhttp { server {\nlisten 127.0.0.1:18080;\n"
         "listen 127.0.0.1:18080; } }\n", "a duplicate listen 127.0.0.1:18080 in "
         "{P}/conf/nginx.conf:4"),
    Case("duplicate-default-server", "events {}\nhttp {\nserver { listen 18080; }\n"
         "server { listen 18080 default_server; }\nserver { listen 18080 default; }\n}\n",
         "a duplicate default server for 0.0.0.0:18080 in {P}/conf/nginx.conf:5"),
    Case("duplicate-listen-options", "events {}\nhttp {\nserver { listen 18080 backlog=10; }"
         "\nserver { listen 18080 reuseport; }\n}\n",
         "duplicate listen options for 0.0.0.0:18080 in {P}/conf/nginx.conf:4"),
    # --- error_page, try_files ---
    Case("error-page-code-low", H % " error_page 299 /x;",
         'value "299" must be between 300 and 599 in {P}/conf/nginx.conf:5'),
    Case("error-page-code-high", H % " error_page 600 /x;",
         'value "600" must be between 300 and 599 in {P}/conf/nginx.conf:5'),
    Case("error-page-bad-code", H % " error_page abc /x;",
         'invalid value "abc" in {P}/conf/nginx.conf:5'),
    Case("error-page-bad-overwrite", H % " error_page 404 =abc /x;",
         'invalid value "=abc" in {P}/conf/nginx.conf:5'),
    Case("error-page-one-arg", H % " error_page 404;",
         'invalid number of arguments in "error_page" directive in {P}/conf/nginx.conf:5'),
    Case("try-files-bad-code", H % " try_files a =1000;",
         'invalid code "=1000" in {P}/conf/nginx.conf:5'),
    # --- first error in file order wins, even a semantic one before a syntax one ---
    Case("first-error-wins", H % " root /a; root /b;\n }", '"root" directive is duplicate in '
         "{P}/conf/nginx.conf:5"),
    # --- legitimate differences ---
    Case("listen-unix", H % " listen unix:/tmp/trinx-test.sock;",
         'unix domain sockets are not supported by trinx in "unix:/tmp/trinx-test.sock" in '
         "{P}/conf/nginx.conf:5",
         nginx_differs="trinx serves TCP only; nginx accepts unix: listen sockets"),
    # --- regexes (ngx_http_regex_compile: PCRE2's words, named captures are variables) ---
    Case("bad-regex", H % " location ~ ( {}",
         'pcre2_compile() failed: missing closing parenthesis in "(" in {P}/conf/nginx.conf:5'),
    Case("regex-unmatched-paren", H % " location ~ ^/a) {}",
         'pcre2_compile() failed: unmatched closing parenthesis in "^/a)" at ")" in '
         "{P}/conf/nginx.conf:5"),
    Case("regex-bad-class", H % " location ~* ^/[a {}",
         'pcre2_compile() failed: missing terminating ] for character class in "^/[a" in '
         "{P}/conf/nginx.conf:5"),
    Case("regex-digit-name", H % " location ~ ^/(?<b>x)(?<1a>a) {}",
         'pcre2_compile() failed: subpattern name must start with a non-digit in '
         '"^/(?<b>x)(?<1a>a)" at "1a>a)" in {P}/conf/nginx.conf:5'),
    Case("regex-same-name", H % " location ~ ^/(?<x>a)(?P<y>a)(?<x>b) {}",
         'pcre2_compile() failed: two named subpatterns have the same name (PCRE2_DUPNAMES '
         'not set) in "^/(?<x>a)(?P<y>a)(?<x>b)" at "b)" in {P}/conf/nginx.conf:5'),
    Case("server-name-bad-regex", H % " server_name ~^(a;",
         'pcre2_compile() failed: missing closing parenthesis in "^(a" in '
         "{P}/conf/nginx.conf:5"),
    Case("gzip-disable-bad-regex", H % ' gzip_disable "(a";',
         'pcre2_compile() failed: missing closing parenthesis in "(a" in '
         "{P}/conf/nginx.conf:5"),
    Case("capture-shadows-core-variable", H % " location ~ ^/(?<uri>a) {}",
         'the duplicate "uri" variable in {P}/conf/nginx.conf:5'),
    Case("capture-is-a-variable", H % " location ~ ^/(?<nm>a) { return 200 $nm; }", None),
    Case("python-named-group-is-a-variable",
         H % " location ~ ^/(?P<nm>a) { return 200 $nm; }", None),
    Case("server-name-capture-is-a-variable",
         H % " server_name ~^(?<sub>[a-z]+)\\.example$; location / { return 200 $sub; }",
         None),
    Case("capture-may-be-args", H % " location ~ ^/(?<args>a) { set $nm 1; }", None),
    Case("capture-then-set", H % " location ~ ^/(?<nm>a) { set $nm 1; }", None),
    Case("capture-then-set-elsewhere", H % " set $nm 1; location ~ ^/(?<nm>a) {}", None),
    Case("gzip-disable-capture-no-variable",
         H % ' gzip_disable "(?<ua>x)"; location / { return 200 $ua; }',
         'unknown "ua" variable'),
    # --- contexts ---
    Case("default-type-in-if", H % " location / { if ($uri) { default_type a/b; } }",
         '"default_type" directive is not allowed here in {P}/conf/nginx.conf:5'),
    Case("root-in-if", H % " location / { if ($uri) { root /a; } }", None),
    # --- locations ---
    Case("duplicate-named-location", H % " location @a {} location @a {}", None),
    Case("duplicate-exact-location", H % " location =/a {} location = /a {}",
         'duplicate location "/a" in {P}/conf/nginx.conf:5'),
    # --- set_enum (ngx_conf_set_enum_slot: a bare message) ---
    Case("enum-bad-value", H % " gzip_http_version 2.0;",
         'invalid value "2.0" in {P}/conf/nginx.conf:5'),
    Case("enum-duplicate", H % " gzip_http_version 1.0; gzip_http_version 1.1;",
         '"gzip_http_version" directive is duplicate in {P}/conf/nginx.conf:5'),
    # --- variables in values (ngx_http_script_compile) ---
    Case("variable-dollar-at-end", H % ' location / { return 200 "a$"; }',
         "invalid variable name in {P}/conf/nginx.conf:5"),
    Case("variable-empty-braces", H % ' location / { return 200 "a${}"; }',
         "invalid variable name in {P}/conf/nginx.conf:5"),
    Case("variable-open-bracket", H % ' location / { return 200 "${a"; }',
         'the closing bracket in "a" variable is missing in {P}/conf/nginx.conf:5'),
    Case("variable-open-bracket-later", H % ' location / { return 200 "${uri}x${ab"; }',
         'the closing bracket in "ab" variable is missing in {P}/conf/nginx.conf:5'),
]


def write_prefix(prefix: Path, case: Case) -> Path:
    """Lay out ``prefix`` for ``case``; returns the main config's path."""
    (prefix / "conf").mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(case.conf, encoding="latin-1")
    for rel, text in case.files.items():
        path = prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="latin-1")
    return conf


def trinx_argv(prefix: Path, case: Case) -> list[str]:
    argv = ["-t", "-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", "stderr"]
    return argv + (["-g", case.g] if case.g is not None else [])


def emerg_message(stderr: str) -> str | None:
    """The text after ``[emerg] `` (nginx's ``PID#TID: `` prefix removed), or None."""
    for line in stderr.splitlines():
        if "[emerg] " in line:
            msg = line.split("[emerg] ", 1)[1]
            head, sep, rest = msg.partition(": ")
            if sep and head.replace("#", "").isdigit():
                return rest
            return msg
    return None


def test_enough_cases() -> None:
    assert sum(c.expected is not None for c in CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


def _params() -> list[object]:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.trinx_bug, strict=True)]
                         if c.trinx_bug else []) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_config_error(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "p"
    conf = write_prefix(prefix, case)
    status = main(trinx_argv(prefix, case))
    err = as_console(capsys.readouterr().err)
    if case.expected is None:
        assert status == 0, err
        assert err == (f"nginx: the configuration file {conf} syntax is ok\n"
                       f"nginx: configuration file {conf} test is successful\n")
        return
    expected = case.expected.replace("{P}", str(prefix))
    assert status == 1, err
    # nginx checks the events section after saying the syntax is ok (ngx_init_cycle)
    ok = f"nginx: the configuration file {conf} syntax is ok\n" if case.id in _POST_PARSE else ""
    assert err == (f"{ok}nginx: [emerg] {expected}\n"
                   f"nginx: configuration file {conf} test failed\n")


_POST_PARSE = {"no-events"}


# --- warnings (ngx_conf_log_error(NGX_LOG_WARN, ...)): the config is valid, a line is printed --

WARN_CASES: list[tuple[str, str, list[str]]] = [
    ("duplicate-extension",
     H % " types { text/html HTML htm; Text/Plain html; image/gif htm; }",
     ['duplicate extension "html", content type: "Text/Plain", previous content type: '
      '"text/html" in {P}/conf/nginx.conf:5',
      'duplicate extension "htm", content type: "image/gif", previous content type: '
      '"text/html" in {P}/conf/nginx.conf:5']),
]


_LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", re.M)


def as_console(stderr: str) -> str:
    """Log lines (``-e stderr``: nginx writes ``time [level] pid#tid: message`` there and
    nothing else) in the ``nginx: [level] message`` form they have with a log file."""
    return _LOG_LINE.sub(r"nginx: [\1] ", stderr)


def location_conf_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str
                        ) -> str:
    """trinx's ``-t`` [emerg] text for a location holding ``directives`` ({conf} for the
    file), checked to be nginx's own when nginx is there."""
    conf = tmp_path / "conf" / "nginx.conf"
    conf.parent.mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    conf.write_text("events {} http { server { location / { %s } } }\n" % directives)
    argv = ["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"]
    assert main(argv) == 1
    got = capsys.readouterr().err.splitlines()[0].split("[emerg] ", 1)[1]
    got = got.replace(str(conf), "{conf}")
    if NGINX_BIN.exists():
        out = subprocess.run([str(NGINX_BIN), *argv], capture_output=True, text=True)
        emerg = [ln for ln in out.stderr.splitlines() if "[emerg]" in ln][0]
        assert emerg.split("[emerg] ", 1)[1].split(": ", 1)[1].replace(str(conf), "{conf}") \
            == got
    return got


def warn_messages(stderr: str) -> list[str]:
    """The texts after ``[warn] `` (nginx's ``PID#TID: `` prefix removed), in order."""
    out = []
    for line in stderr.splitlines():
        if "[warn] " in line:
            msg = line.split("[warn] ", 1)[1]
            head, sep, rest = msg.partition(": ")
            out.append(rest if sep and head.replace("#", "").isdigit() else msg)
    return out


@pytest.mark.parametrize("conf, expected", [c[1:] for c in WARN_CASES],
                         ids=[c[0] for c in WARN_CASES])
def test_config_warning(conf: str, expected: list[str], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "p"
    path = write_prefix(prefix, Case("warn", conf, None))
    status = main(trinx_argv(prefix, Case("warn", conf, None)))
    err = as_console(capsys.readouterr().err)
    assert status == 0, err
    warned = [f"nginx: [warn] {m.replace('{P}', str(prefix))}\n" for m in expected]
    assert err == "".join(warned) + (f"nginx: the configuration file {path} syntax is ok\n"
                                     f"nginx: configuration file {path} test is successful\n")
