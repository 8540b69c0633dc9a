"""``add_header`` and ``expires`` (filters/headers.py) on a real trinx over loopback.

Expected header orders and values were taken from nginx 1.22 with the same locations;
tests/differential/test_headers_diff.py compares the two servers directly.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.main import main
from tests.harness import Response, ServerProcess, http_request, parse_response, start_trinx

MTIME = 1704164645  # Tue, 02 Jan 2024 03:04:05 GMT
LM = "Tue, 02 Jan 2024 03:04:05 GMT"

CONF = """
events {}
http {
    access_log off;
    add_header X-Http http;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /inherit/ { }
        location /own/ { add_header X-Own own; }
        location /ah/ {
            add_header X-A 1;
            add_header Cache-Control private;
            add_header X-Empty "";
            add_header X-Var "[$arg_v]";
            add_header X-Maybe $arg_m;
            add_header X-Always yes always;
            add_header Link "</a>; rel=preload";
            add_header Link "</b>; rel=preload";
            expires 1h;
        }
        location /etag/ { add_header X-A 1; add_header ETag '"custom"'; add_header X-B 2; }
        location /etagoff/ { add_header ETag ""; add_header X-B 2; }
        location /lm/ { add_header X-A 1; add_header Last-Modified $http_x_lm always; }
        location /exp/ { expires $arg_e; }
        location /expmod/ { expires modified 1h; }
        location /expmodfar/ { expires modified 100000d; }
        location /expneg/ { expires -1; }
        location /expzero/ { expires 0; }
        location /expdaily/ { expires @15h30m; }
        location /expepoch/ { expires epoch; }
        location /expmax/ { expires max; add_header Cache-Control extra; }
        location /expoff/ { expires off; }
        location /nested/ {
            expires epoch;
            location /nested/inner/ { add_header X-Inner inner; }
        }
    }
}
"""

DIRS = ["inherit", "own", "ah", "etag", "etagoff", "lm", "exp", "expmod", "expmodfar",
        "expneg", "expzero", "expdaily", "expepoch", "expmax", "expoff", "nested",
        "nested/inner"]
FILES = {f"html/{d}/f.txt": f"file {d}\n".encode() for d in DIRS}
FILES["html/ah/d/x"] = b"x"


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    prefix = tmp_path_factory.mktemp("headers")
    server = start_trinx(CONF, prefix, FILES)
    for rel in FILES:
        os.utime(prefix / rel, (MTIME, MTIME))
    yield server
    server.stop()


def get(server: ServerProcess, target: str, extra: str = "", method: str = "GET") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode("latin-1")
    return parse_response(http_request(server.port, raw), method)


def names(resp: Response) -> list[str]:
    return [n for n, _ in resp.headers if n not in ("Server", "Date")]


def http_time(value: str) -> int:
    return int(email.utils.parsedate_to_datetime(value).timestamp())


# --- add_header --------------------------------------------------------------------------------

def test_http_level_header_inherited(trinx: ServerProcess) -> None:
    resp = get(trinx, "/inherit/f.txt")
    assert resp.header("X-Http") == "http"


def test_inner_add_header_replaces_outer(trinx: ServerProcess) -> None:
    resp = get(trinx, "/own/f.txt")
    assert resp.header("X-Own") == "own"
    assert resp.header("X-Http") is None


def test_order_values_and_multi_lines(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/f.txt?v=1")
    assert resp.status == 200
    # nginx 1.22: expires first, then add_header lines in config order, after ETag
    tail = [(n, v) for n, v in resp.headers if n not in ("Server", "Date", "Expires",
                                                          "Accept-Ranges")]
    assert tail == [
        ("Content-Type", "text/plain"), ("Content-Length", "8"), ("Last-Modified", LM),
        ("Connection", "keep-alive"), ("ETag", '"65937d25-8"'),
        ("Cache-Control", "max-age=3600"), ("X-A", "1"), ("Cache-Control", "private"),
        ("X-Var", "[1]"), ("X-Always", "yes"), ("Link", "</a>; rel=preload"),
        ("Link", "</b>; rel=preload"),
    ]
    assert names(resp).index("Expires") == names(resp).index("ETag") + 1


def test_empty_value_not_added(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/f.txt")
    assert resp.header("X-Empty") is None
    assert resp.header("X-Maybe") is None
    assert resp.header("X-Var") == "[]"
    assert get(trinx, "/ah/f.txt?m=yes").header("X-Maybe") == "yes"


def test_error_status_gets_only_always(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/missing")
    assert resp.status == 404
    assert resp.header("X-Always") == "yes"
    assert resp.header("X-A") is None
    assert resp.header("Expires") is None


def test_redirect_is_safe_status(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/d")
    assert resp.status == 301
    assert resp.header("X-A") == "1"
    assert resp.header("Expires") is not None


def test_head_gets_headers(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/f.txt", method="HEAD")
    assert resp.header("X-A") == "1" and resp.body == b""


def test_etag_replaced_in_place(trinx: ServerProcess) -> None:
    resp = get(trinx, "/etag/f.txt")
    assert resp.header_list("ETag") == ['"custom"']
    assert names(resp)[names(resp).index("ETag"):][:3] == ["ETag", "X-A", "X-B"]


def test_etag_empty_removes(trinx: ServerProcess) -> None:
    resp = get(trinx, "/etagoff/f.txt")
    assert resp.header("ETag") is None
    assert resp.header("X-B") == "2"


def test_custom_etag_used_by_conditionals(trinx: ServerProcess) -> None:
    # not_modified runs before headers: it still sees the file's own ETag
    resp = get(trinx, "/etag/f.txt", f"If-None-Match: {etag_of('etag')}\r\n")
    assert resp.status == 304
    assert resp.header("ETag") == '"custom"'


def etag_of(d: str) -> str:
    return f'"{MTIME:x}-{len(FILES[f"html/{d}/f.txt"]):x}"'


@pytest.mark.parametrize("value", ["garbage", LM, "Tuesday, 02-Jan-24 03:04:05 GMT"])
def test_last_modified_goes_in_list(trinx: ServerProcess, value: str) -> None:
    resp = get(trinx, "/lm/f.txt", f"X-LM: {value}\r\n")
    got = names(resp)
    assert got.count("Last-Modified") == 1
    assert got[got.index("ETag"):][:3] == ["ETag", "X-A", "Last-Modified"]
    assert resp.header("Last-Modified") == value


def test_last_modified_empty_removes(trinx: ServerProcess) -> None:
    resp = get(trinx, "/lm/f.txt")
    assert resp.header("Last-Modified") is None
    assert resp.header("ETag") == etag_of("lm")


def test_last_modified_kept_on_error(trinx: ServerProcess) -> None:
    # nginx 1.22 keeps an add_header Last-Modified (always) whatever the status
    assert get(trinx, "/lm/missing", f"X-LM: {LM}\r\n").header("Last-Modified") == LM
    assert get(trinx, "/lm/missing", "X-LM: garbage\r\n").header("Last-Modified") == "garbage"


# --- expires ----------------------------------------------------------------------------------------

def expires_delta(resp: Response) -> int:
    return http_time(resp.header("Expires") or "") - http_time(resp.header("Date") or "")


def test_expires_relative(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/f.txt")
    assert resp.header_list("Cache-Control") == ["max-age=3600", "private"]
    assert expires_delta(resp) in (3600, 3599)


@pytest.mark.parametrize("target, cache_control, expires", [
    ("/expepoch/f.txt", "no-cache", "Thu, 01 Jan 1970 00:00:01 GMT"),
    ("/expmax/f.txt", "max-age=315360000", "Thu, 31 Dec 2037 23:55:55 GMT"),
    ("/expmod/f.txt", "no-cache", "Tue, 02 Jan 2024 04:04:05 GMT"),
    ("/exp/f.txt?e=epoch", "no-cache", "Thu, 01 Jan 1970 00:00:01 GMT"),
    ("/exp/f.txt?e=max", "max-age=315360000", "Thu, 31 Dec 2037 23:55:55 GMT"),
])
def test_expires_fixed(trinx: ServerProcess, target: str, cache_control: str,
                       expires: str) -> None:
    resp = get(trinx, target)
    assert resp.header("Expires") == expires
    assert resp.header_list("Cache-Control")[0] == cache_control


def test_expires_max_then_add_header(trinx: ServerProcess) -> None:
    resp = get(trinx, "/expmax/f.txt")
    assert resp.header_list("Cache-Control") == ["max-age=315360000", "extra"]


def test_expires_modified_in_future(trinx: ServerProcess) -> None:
    resp = get(trinx, "/expmodfar/f.txt")
    assert resp.header("Expires") == email.utils.formatdate(MTIME + 100000 * 86400, usegmt=True)
    max_age = int((resp.header("Cache-Control") or "").removeprefix("max-age="))
    assert abs(max_age - (MTIME + 100000 * 86400 - int(time.time()))) <= 2


@pytest.mark.parametrize("target, cache_control, delta", [
    ("/expneg/f.txt", "no-cache", -1), ("/expzero/f.txt", "max-age=0", 0),
    ("/exp/f.txt?e=-5", "no-cache", -5), ("/exp/f.txt?e=2m", "max-age=120", 120),
])
def test_expires_access(trinx: ServerProcess, target: str, cache_control: str,
                        delta: int) -> None:
    resp = get(trinx, target)
    assert resp.header("Cache-Control") == cache_control
    assert expires_delta(resp) in (delta, delta - 1)


def test_expires_daily(trinx: ServerProcess) -> None:
    resp = get(trinx, "/expdaily/f.txt")
    exp = http_time(resp.header("Expires") or "")
    local = time.localtime(exp)
    assert (local.tm_hour, local.tm_min, local.tm_sec) == (15, 30, 0)
    now = http_time(resp.header("Date") or "")
    assert 0 < exp - now <= 86400
    assert resp.header("Cache-Control") == f"max-age={exp - now}" or abs(
        int((resp.header("Cache-Control") or "")[8:]) - (exp - now)) <= 1


@pytest.mark.parametrize("target", ["/exp/f.txt?e=off", "/exp/f.txt?e=bad", "/exp/f.txt",
                                    "/expoff/f.txt", "/expmax/missing"])
def test_no_expires(trinx: ServerProcess, target: str) -> None:
    resp = get(trinx, target)
    assert resp.header("Expires") is None


def test_nested_location_inherits_expires(trinx: ServerProcess) -> None:
    resp = get(trinx, "/nested/inner/f.txt")
    assert resp.header("Expires") == "Thu, 01 Jan 1970 00:00:01 GMT"
    assert resp.header("X-Inner") == "inner"
    assert resp.header("X-Http") is None


def test_304_gets_headers(trinx: ServerProcess) -> None:
    resp = get(trinx, "/ah/f.txt", f"If-Modified-Since: {LM}\r\n")
    assert resp.status == 304
    assert resp.header("X-A") == "1"
    assert resp.header("Expires") is not None


# --- configuration errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("directive, message", [
    ("add_header X-A 1 sometimes;", 'invalid parameter "sometimes"'),
    ("add_header X-A;", 'invalid number of arguments in "add_header" directive'),
    ("expires soon;", '"expires" directive invalid value'),
    ("expires 1ms;", '"expires" directive invalid value'),
    ("expires later 1h;", '"expires" directive invalid value'),
    ("expires modified @1h;", '"expires" directive daily time cannot be used with "modified" '
                              'parameter'),
    ("expires @25h;", '"expires" directive daily time value must be less than 24 hours'),
    ("expires 1h; expires 2h;", '"expires" directive is duplicate'),
])
def test_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], directive: str,
                       message: str) -> None:
    err = check_conf(tmp_path, capsys, directive)
    assert f"[emerg] {message} in {tmp_path}/conf/nginx.conf:5" in err


@pytest.mark.parametrize("directive", ["expires modified 1h;", "expires +1d;", "expires @0;",
                                       "expires $arg_x;", "add_header X $uri always;"])
def test_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str], directive: str) -> None:
    assert "test is successful" in check_conf(tmp_path, capsys, directive)


def check_conf(tmp_path: Path, capsys: pytest.CaptureFixture[str], directive: str) -> str:
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text(
        "events {}\nhttp {\n access_log off;\n server {\n  location / { %s }\n }\n}\n"
        % directive)
    main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"])
    return capsys.readouterr().err
