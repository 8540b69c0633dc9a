"""``log_format``/``access_log`` (engine/modules/log.py) on a real trinx.

The expected lines for the escaping cases were produced by nginx 1.22 with the same formats
and requests.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.main import main
from tests.e2e.test_config_errors import as_console
from tests.harness import ServerProcess, http_request, parse_response, start_trinx

CONF = r"""
events {}
http {
    log_format t1 '$remote_addr "$request" $status [$http_x_foo] [$arg_a] [$remote_user] [$pipe]';
    log_format t2 escape=json '{"r":"$request","x":"$http_x_foo","a":"$arg_a","u":"$remote_user"}';
    log_format t3 escape=none '$request|$http_x_foo|$arg_a|$remote_user|';
    log_format t4 '$request|' "$http_x_foo" '|$arg_a|${uri}x|$remote_user';
    log_format short '$uri $status';
    access_log logs/t1.log t1;
    access_log logs/t2.log t2;
    access_log logs/t3.log t3;
    access_log logs/t4.log t4;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /off/ { access_log off; }
        location /own/ {
            access_log logs/own.log short;
            access_log logs/own2.log short if=$arg_log;
            location /own/off/ { access_log off; }
        }
        location /var/ { access_log logs/var-$arg_f.log short; }
        location /err/ { error_page 404 /own/f.txt; }
        location /iflog/ {
            access_log logs/iflog.log short;
            if ($arg_quiet) { access_log off; }
        }
    }
}
"""

FILES = {f"html/{d}f.txt": b"ok\n" for d in ["", "off/", "own/", "own/off/", "var/", "err/",
                                                     "iflog/"]}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_trinx(CONF, tmp_path_factory.mktemp("log"), FILES)
    yield server
    server.stop()


def request(server: ServerProcess, target: str, extra: bytes = b"") -> int:
    raw = b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
    return parse_response(http_request(server.port, raw)).status


def lines(server: ServerProcess, name: str, n: int) -> list[str]:
    """The last ``n`` lines of ``logs/name`` once it has at least ``n`` (written after the
    response, so they may lag it slightly)."""
    path = server.prefix / "logs" / name
    deadline = time.monotonic() + 5
    while True:
        got = path.read_bytes().decode("latin-1").splitlines() if path.exists() else []
        if len(got) >= n:
            return got[-n:] if n else got
        assert time.monotonic() < deadline, f"{name}: {got}"
        time.sleep(0.02)


def count(server: ServerProcess, name: str) -> int:
    path = server.prefix / "logs" / name
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_escaping_like_nginx(trinx: ServerProcess) -> None:
    before = count(trinx, "t1.log")
    request(trinx, "/f.txt?a=&b=1", b'X-Foo: a"b\\c\x01\x7f\xe9\ttab\r\n')
    request(trinx, "/f.txt?a=1", b"X-Foo: \r\n")
    request(trinx, "/r%22e%01t")
    n = before + 3
    assert lines(trinx, "t1.log", n)[-3:] == [
        r'127.0.0.1 "GET /f.txt?a=&b=1 HTTP/1.1" 200 [a\x22b\x5Cc\x01\x7F\xE9\x09tab] [] [-] [.]',
        '127.0.0.1 "GET /f.txt?a=1 HTTP/1.1" 200 [] [1] [-] [.]',
        '127.0.0.1 "GET /r%22e%01t HTTP/1.1" 404 [-] [-] [-] [.]',
    ]
    assert lines(trinx, "t2.log", n)[-3:] == [
        '{"r":"GET /f.txt?a=&b=1 HTTP/1.1","x":"a\\"b\\\\c\\u0001\x7f\xe9\\ttab","a":"","u":""}',
        '{"r":"GET /f.txt?a=1 HTTP/1.1","x":"","a":"1","u":""}',
        '{"r":"GET /r%22e%01t HTTP/1.1","x":"","a":"","u":""}',
    ]
    assert lines(trinx, "t3.log", n)[-3:] == [
        'GET /f.txt?a=&b=1 HTTP/1.1|a"b\\c\x01\x7f\xe9\ttab|||',
        "GET /f.txt?a=1 HTTP/1.1||1||",
        "GET /r%22e%01t HTTP/1.1||||",
    ]
    assert lines(trinx, "t4.log", n)[-3:] == [
        r"GET /f.txt?a=&b=1 HTTP/1.1|a\x22b\x5Cc\x01\x7F\xE9\x09tab||/f.txtx|-",
        "GET /f.txt?a=1 HTTP/1.1||1|/f.txtx|-",
        r"GET /r%22e%01t HTTP/1.1|-|-|/r\x22e\x01tx|-",
    ]


def test_off_and_replacement(trinx: ServerProcess) -> None:
    t1 = count(trinx, "t1.log")
    assert request(trinx, "/off/f.txt") == 200
    assert request(trinx, "/own/f.txt") == 200
    assert request(trinx, "/own/off/f.txt") == 200
    assert request(trinx, "/f.txt?marker") == 200
    assert lines(trinx, "t1.log", t1 + 1)[-1].endswith('"GET /f.txt?marker HTTP/1.1" 200 [-] '
                                                       "[-] [-] [.]")
    assert count(trinx, "t1.log") == t1 + 1  # neither /off/ nor /own/ went to the http logs
    assert lines(trinx, "own.log", 1) == ["/own/f.txt 200"]


def test_if_condition(trinx: ServerProcess) -> None:
    for args in ("", "?log=0", "?log=", "?log=1", "?log=yes", "/missing?log=last"):
        request(trinx, "/own/f.txt" + args)
    # the last request is logged last: once its line is there, all lines are
    path = trinx.prefix / "logs" / "own2.log"
    deadline = time.monotonic() + 5
    while not path.exists() or not path.read_bytes().endswith(b"missing 404\n"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert path.read_text().splitlines() == ["/own/f.txt 200", "/own/f.txt 200",
                                             "/own/f.txt/missing 404"]


def test_final_uri_and_status_after_error_page(trinx: ServerProcess) -> None:
    t4 = count(trinx, "t4.log")
    own = count(trinx, "own.log")
    assert request(trinx, "/err/missing") == 404
    # logged by the location that finished the request (/own/), with the final $uri
    assert lines(trinx, "own.log", own + 1)[-1] == "/own/f.txt 404"
    time.sleep(0.1)
    assert count(trinx, "t4.log") == t4


def test_access_log_in_if(trinx: ServerProcess) -> None:
    request(trinx, "/iflog/f.txt?quiet=1")
    request(trinx, "/iflog/f.txt?last")
    assert lines(trinx, "iflog.log", 1) == ["/iflog/f.txt 200"]
    assert count(trinx, "iflog.log") == 1


def test_variable_path(trinx: ServerProcess) -> None:
    request(trinx, "/var/f.txt?f=one")
    request(trinx, "/var/f.txt?f=two")
    request(trinx, "/var/f.txt?f=one")
    assert lines(trinx, "var-one.log", 2) == ["/var/f.txt 200"] * 2
    assert lines(trinx, "var-two.log", 1) == ["/var/f.txt 200"]


def test_default_combined(tmp_path: Path) -> None:
    conf = "events {}\nhttp { server { listen 127.0.0.1:{port}; root html; } }\n"
    with start_trinx(conf, tmp_path, {"html/f.txt": b"hello\n"}) as server:
        request(server, "/f.txt", b"Referer: http://r/\r\nUser-Agent: t/1.0\r\n")
        request(server, "/missing")
        got = lines(server, "access.log", 2)
    stamp = r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"
    assert re.fullmatch(r'127\.0\.0\.1 - - ' + stamp +
                        r' "GET /f\.txt HTTP/1\.1" 200 6 "http://r/" "t/1\.0"', got[0]), got
    assert re.fullmatch(r'127\.0\.0\.1 - - ' + stamp +
                        r' "GET /missing HTTP/1\.1" 404 153 "-" "-"', got[1]), got


def test_buffer_and_gzip_flushed_at_exit(tmp_path: Path) -> None:
    conf = """events {}
http {
    log_format short '$uri $status';
    access_log logs/buf.log short buffer=64k;
    access_log logs/gz.log.gz short gzip=5 flush=1h;
    server { listen 127.0.0.1:{port}; root html; }
}
"""
    server = start_trinx(conf, tmp_path, {"html/f.txt": b"hello\n"})
    try:
        for _ in range(3):
            request(server, "/f.txt")
        time.sleep(0.1)
        assert (tmp_path / "logs" / "buf.log").read_bytes() == b""
        assert (tmp_path / "logs" / "gz.log.gz").read_bytes() == b""
    finally:
        server.stop()
    assert (tmp_path / "logs" / "buf.log").read_bytes() == b"/f.txt 200\n" * 3
    assert gzip.decompress((tmp_path / "logs" / "gz.log.gz").read_bytes()) == \
        b"/f.txt 200\n" * 3


def test_reopen_on_usr1(tmp_path: Path) -> None:
    conf = """events {}
http {
    log_format short '$uri';
    access_log logs/a.log short;
    server { listen 127.0.0.1:{port}; root html; }
}
"""
    with start_trinx(conf, tmp_path, {"html/f.txt": b"hello\n"}) as server:
        request(server, "/f.txt?1")
        lines(server, "a.log", 1)
        os.rename(tmp_path / "logs" / "a.log", tmp_path / "logs" / "a.log.1")
        request(server, "/f.txt?2")  # still written to the renamed file
        deadline = time.monotonic() + 5
        while len((tmp_path / "logs" / "a.log.1").read_bytes().splitlines()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(server.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while not (tmp_path / "logs" / "a.log").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        request(server, "/f.txt?3")
        assert lines(server, "a.log", 1) == ["/f.txt"]
    assert (tmp_path / "logs" / "a.log.1").read_bytes() == b"/f.txt\n/f.txt\n"


# --- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("directives, message", [
    ("log_format t1 x; log_format t1 y;", 'duplicate "log_format" name "t1"'),
    ("log_format combined x;", 'duplicate "log_format" name "combined"'),
    ("log_format x escape=bogus y;", 'unknown log format escaping "bogus"'),
    ('log_format x "$";', 'invalid parameter "$"'),
    ('log_format x "a$ b";', 'invalid parameter "$ b"'),
    ('log_format x "${uri";', 'the closing bracket in "uri" variable is missing'),
    ('log_format x "${}";', 'invalid parameter "${}"'),
    ("access_log logs/x.log nosuchfmt;", 'unknown log format "nosuchfmt"'),
    ("access_log logs/x.log buffer=1k;", 'unknown log format "buffer=1k"'),
    ("access_log logs/x.log combined buffer=bad;", 'invalid buffer size "bad"'),
    ("access_log logs/x.log combined flush=1s;",
     'no buffer is defined for access_log "logs/x.log"'),
    ("access_log logs/x.log combined gzip=10;", 'invalid compression level "10"'),
    ("access_log logs/x.log combined gzip=0;", 'invalid compression level "0"'),
    ("access_log logs/x.log combined bogus;", 'invalid parameter "bogus"'),
    ("access_log logs/x.log combined flush=bad buffer=1k;", 'invalid flush time "bad"'),
    ("access_log off combined;", 'invalid parameter "combined"'),
    ("open_log_file_cache inactive=20s;", '"open_log_file_cache" must have "max" parameter'),
    ("open_log_file_cache bogus;", 'invalid "open_log_file_cache" parameter "bogus"'),
])
def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str,
                       message: str) -> None:
    rc, err = check(tmp_path, capsys, directives)
    assert rc == 1
    assert f"[emerg] {message} in {tmp_path}/conf/nginx.conf:3\n" in err


@pytest.mark.parametrize("directives, message", [
    ('log_format x "$nosuchvar";', 'unknown "nosuchvar" variable'),
    ("access_log /nonexistent/dir/x.log;",
     'open() "/nonexistent/dir/x.log" failed (2: No such file or directory)'),
])
def test_errors_without_position(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 directives: str, message: str) -> None:
    rc, err = check(tmp_path, capsys, directives)
    assert rc == 1
    assert f"[emerg] {message}\n" in err


@pytest.mark.parametrize("directives", [
    "log_format x escape=json;", "access_log logs/x.log combined if=;",
    "access_log logs/$host.log;", "open_log_file_cache off;",
    "open_log_file_cache max=10 inactive=20s;",
    "access_log logs/x.log combined buffer=1k buffer=2k;",
    "log_format x '$request_time $msec $time_iso8601 $bytes_sent $request_length';",
])
def test_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str) -> None:
    rc, err = check(tmp_path, capsys, directives)
    assert rc == 0, err


def test_format_must_precede_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = check(tmp_path, capsys, "access_log logs/x.log later; log_format later x;")
    assert 'unknown log format "later"' in err


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], directives: str) -> tuple[int, str]:
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text(
        "events {}\nhttp {\n %s\n server { }\n}\n" % directives)
    rc = main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"])
    return rc, as_console(capsys.readouterr().err)


def test_escape_tables() -> None:
    # nginx 1.22 wrote exactly these for the header value "a\x1bb\x1f\x0c\x08"
    from engine.modules.log import escape_default, escape_json

    assert escape_json("a\x1bb\x1f\x0c\x08") == "a\\u001Bb\\u001F\\f\\b"
    assert escape_default("a\x1bb\x1f\x0c\x08") == "a\\x1Bb\\x1F\\x0C\\x08"
    assert escape_default("plain") == "plain"


def test_location_error_log_takes_the_request_s_errors(tmp_path: Path) -> None:
    conf = """
events {}
http {
    access_log off;
    error_log logs/http.log;
    server {
        listen 127.0.0.1:{port};
        location /own/ { error_log logs/own.log info; }
        location /quiet/ { error_log logs/quiet.log crit; }
    }
}
"""
    with start_trinx(conf, tmp_path) as server:
        for target in ("/nope", "/own/nope", "/quiet/nope"):
            http_request(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                                      "Connection: close\r\n\r\n".encode())
        logs = tmp_path / "logs"
        assert '"/html/nope" failed' in (logs / "http.log").read_text().replace(
            str(tmp_path), "")
        own = (logs / "own.log").read_text()
        assert "/html/own/nope" in own and "/own/nope" not in (logs / "http.log").read_text()
        assert (logs / "quiet.log").read_text() == ""
        assert "quiet" not in server.error_log_text()
