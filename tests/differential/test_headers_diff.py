"""trinx vs nginx: add_header, expires, conditional requests (304/412) and allow/deny (403).

Both servers get the same config and files (mtimes pinned with ``os.utime``, so ETag and
Last-Modified agree); each case compares the status, the header names in order, their
values and the body.  ``Date`` is dropped, ``Expires`` is compared as its offset from
``Date`` and a ``max-age`` may differ by the one second that can pass between the two
requests.  ``Accept-Ranges`` is dropped while trinx has no range filter.
"""

from __future__ import annotations

import email.utils
import importlib.util
import os

import pytest

from tests.harness import (Response, ServerPairFactory, ServerProcess, http_request,
                           parse_responses)

pytestmark = pytest.mark.differential

MTIME = 1704164645
LM = "Tue, 02 Jan 2024 03:04:05 GMT"

CONF = """
events {}
http {
    access_log off;
    add_header X-Http http;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /own/ { add_header X-Own own; }
        location /ah/ {
            add_header X-A 1;
            add_header Cache-Control private;
            add_header X-Empty "";
            add_header X-Var "[$arg_v]";
            add_header X-Always yes always;
            add_header Link "</a>; rel=preload";
            expires 1h;
        }
        location /etag/ { add_header X-A 1; add_header ETag '"custom"'; add_header X-B 2; }
        location /etagoff/ { add_header ETag ""; add_header X-B 2; }
        location /lm/ { add_header X-A 1; add_header Last-Modified $http_x_lm always; }
        location /exp/ { expires $arg_e; }
        location /expmod/ { expires modified 1h; }
        location /expmodfar/ { expires modified 10000d; }
        location /expneg/ { expires -1; }
        location /expzero/ { expires 0; }
        location /expdaily/ { expires @15h30m; }
        location /expepoch/ { expires epoch; }
        location /expmax/ { expires max; add_header Cache-Control extra; }
        location /before/ { if_modified_since before; }
        location /imsoff/ { if_modified_since off; }
        location /noetag/ { etag off; }
        location /ep/ { error_page 412 /err412.txt; }
        location /denyall/ { deny all; add_header X-Always yes always; }
        location /allowme/ { allow 127.0.0.1; deny all; }
        location /cidr/ { allow 10.0.0.0/8; allow 127.0.0.0/8; deny all; }
        location /denyme/ { deny 127.0.0.1; allow all; }
        location /v6/ { allow ::1; deny all; }
        location /ret { add_header X-A 1; expires 1h; return 200 "ret\n"; }
        location /ret204 { add_header X-A 1; add_header Last-Modified $http_x_lm; return 204; }
        location /ret404 { add_header X-A 1; add_header X-B 2 always; return 404; }
        location /ret302 { add_header X-A 1; expires epoch; return 302 /f.txt; }
        location /outer/ {
            deny all;
            location /outer/inner/ { }
            location /outer/own/ { allow all; }
        }
    }
}
"""

DIRS = ["", "own/", "ah/", "etag/", "etagoff/", "lm/", "exp/", "expmod/", "expmodfar/",
        "expneg/", "expzero/", "expdaily/", "expepoch/", "expmax/", "before/", "imsoff/",
        "noetag/", "ep/", "denyall/", "allowme/", "cidr/", "denyme/", "v6/", "outer/",
        "outer/inner/", "outer/own/"]
FILES = {f"html/{d}f.txt": b"0123456789abcdefghi\n" for d in DIRS}
FILES["html/err412.txt"] = b"custom 412\n"
FILES["html/ah/d/x"] = b"x"
ETAG = '"65937d25-14"'

CASES: list[tuple[str, str]] = [
    # add_header
    ("/f.txt", ""), ("/own/f.txt", ""), ("/ah/f.txt?v=1", ""), ("/ah/f.txt", ""),
    ("/ah/missing", ""), ("/ah/d", ""), ("/etag/f.txt", ""), ("/etagoff/f.txt", ""),
    ("/lm/f.txt", "X-LM: garbage"), ("/lm/f.txt", f"X-LM: {LM}"), ("/lm/f.txt", ""),
    ("/lm/f.txt", "X-LM: Tuesday, 02-Jan-24 03:04:05 GMT"), ("/lm/missing", f"X-LM: {LM}"),
    ("/lm/missing", "X-LM: garbage"),
    # expires
    ("/exp/f.txt?e=1h", ""), ("/exp/f.txt?e=off", ""), ("/exp/f.txt?e=bad", ""),
    ("/exp/f.txt?e=epoch", ""), ("/exp/f.txt?e=max", ""), ("/exp/f.txt?e=-5", ""),
    ("/exp/f.txt?e=@10h", ""), ("/exp/f.txt?e=", ""), ("/exp/f.txt?e=1h30m", ""),
    ("/expmod/f.txt", ""), ("/expmodfar/f.txt", ""), ("/expneg/f.txt", ""),
    ("/expzero/f.txt", ""), ("/expdaily/f.txt", ""), ("/expepoch/f.txt", ""),
    ("/expmax/f.txt", ""), ("/expmax/missing", ""),
    # conditional requests
    ("/f.txt", f"If-Modified-Since: {LM}"),
    ("/f.txt", "If-Modified-Since: Tue, 02 Jan 2024 03:04:06 GMT"),
    ("/f.txt", "If-Modified-Since: Tuesday, 02-Jan-24 03:04:05 GMT"),
    ("/f.txt", "If-Modified-Since: Tue Jan  2 03:04:05 2024"),
    ("/f.txt", "If-Modified-Since: Tue, 02 Jan 2024 03:04:05 XYZ"),
    ("/f.txt", "If-Modified-Since: garbage"),
    ("/before/f.txt", "If-Modified-Since: Tue, 02 Jan 2024 03:04:06 GMT"),
    ("/imsoff/f.txt", f"If-Modified-Since: {LM}"),
    ("/f.txt", f'If-None-Match: "x", {ETAG}'), ("/f.txt", f"If-None-Match: W/{ETAG}"),
    ("/f.txt", f'If-None-Match: "x" ,\t{ETAG}'), ("/f.txt", f"If-None-Match: {ETAG}x"),
    ("/f.txt", "If-None-Match: *"), ("/noetag/f.txt", "If-None-Match: *"),
    ("/noetag/f.txt", f"If-None-Match: {ETAG}"), ("/noetag/f.txt", "If-Match: *"),
    ("/f.txt", f"If-Match: {ETAG}"), ("/f.txt", 'If-Match: "nope"'),
    ("/f.txt", f"If-Match: W/{ETAG}"),
    ("/f.txt", "If-Unmodified-Since: Tue, 02 Jan 2024 03:04:04 GMT"),
    ("/f.txt", f"If-Unmodified-Since: {LM}"), ("/f.txt", "If-Unmodified-Since: garbage"),
    ("/f.txt", f"If-None-Match: {ETAG}\r\nIf-Modified-Since: Tue, 02 Jan 2024 03:04:06 GMT"),
    ("/ah/f.txt", f"If-None-Match: {ETAG}"), ("/ah/f.txt", 'If-Match: "nope"'),
    ("/ep/f.txt", 'If-Match: "nope"'), ("/etag/f.txt", f"If-None-Match: {ETAG}"),
    ("/exp/f.txt?e=1h", f"If-Modified-Since: {LM}"), ("/missing", "If-None-Match: *"),
    # responses made by "return"
    ("/ret", ""), ("/ret", "If-None-Match: *"), ("/ret", 'If-Match: "x"'),
    ("/ret", f"If-Modified-Since: {LM}"), ("/ret204", f"X-LM: {LM}"), ("/ret404", ""),
    ("/ret302", ""),
    # access
    ("/denyall/f.txt", ""), ("/denyall/missing", ""), ("/allowme/f.txt", ""),
    ("/cidr/f.txt", ""), ("/denyme/f.txt", ""), ("/v6/f.txt", ""), ("/outer/f.txt", ""),
    ("/outer/inner/f.txt", ""), ("/outer/own/f.txt", ""),
]


def fetch(server: ServerProcess, target: str, extra: str, method: str = "GET") -> Response:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\n" + (extra + "\r\n" if extra else "")
    # a second request on the same connection shows whether the server kept it open
    raw = (head + "\r\n" + "GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n").encode("latin-1")
    responses = parse_responses(http_request(server.port, raw), [method, "GET"])
    first = responses[0]
    return Response(http_version=first.http_version, status=first.status,
                    reason=first.reason, headers=first.headers + [("X-Kept-Open",
                                                                   str(len(responses) == 2))],
                    body=first.body, raw=first.raw)


def normalised(resp: Response, port: int) -> list[tuple[str, str]]:
    date = resp.header("Date") or ""
    out = []
    for name, value in resp.headers:
        if name == "Date" or (name == "Accept-Ranges" and not _HAS_RANGE):
            continue
        if name == "Expires" and not value.startswith(("Thu, 01 Jan 1970", "Thu, 31 Dec 2037")):
            value = f"Date{_seconds(value) - _seconds(date):+d}" if _seconds(value) > \
                _seconds(date) - 100 else value
        if name == "Location":
            value = value.replace(f":{port}/", ":PORT/")
        out.append((name, value))
    return out


def _seconds(value: str) -> int:
    return int(email.utils.parsedate_to_datetime(value).timestamp())


_HAS_RANGE = importlib.util.find_spec("filters.range_header") is not None


def assert_same(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> None:
    """Equal, except a max-age or an Expires offset may differ by one second."""
    assert [n for n, _ in a] == [n for n, _ in b]
    for (name, va), (_, vb) in zip(a, b):
        if va != vb and (va.startswith(("max-age=", "Date")) and vb[:4] == va[:4]):
            num_a = int(va.removeprefix("max-age=").removeprefix("Date"))
            num_b = int(vb.removeprefix("max-age=").removeprefix("Date"))
            assert abs(num_a - num_b) <= 1, (name, va, vb)
        else:
            assert va == vb, name


@pytest.fixture
def pair(servers: ServerPairFactory) -> tuple[ServerProcess, ServerProcess]:
    nginx, trinx = servers(CONF, FILES)
    for server in (nginx, trinx):
        for rel in FILES:
            os.utime(server.prefix / rel, (MTIME, MTIME))
    return nginx, trinx


def test_headers_and_statuses(pair: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = pair
    for target, extra in CASES:
        for method in ("GET", "HEAD"):
            n = fetch(nginx, target, extra, method)
            t = fetch(trinx, target, extra, method)
            case = f"{method} {target} [{extra}]"
            assert t.status == n.status, case
            try:
                assert_same(normalised(n, nginx.port), normalised(t, trinx.port))
            except AssertionError as e:
                raise AssertionError(f"{case}\nnginx: {n.headers}\ntrinx: {t.headers}") from e
            assert t.body == n.body, case
