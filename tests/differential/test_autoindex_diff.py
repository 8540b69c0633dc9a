"""``autoindex`` against nginx 1.22: same tree (names needing URI, HTML and JSON escaping,
long and UTF-8 names, directories, symlinks to files and directories, a dangling link, a
FIFO, sizes on each side of nginx's K/M rounding), same config, every request to both.

Compared: status line, headers (Date normalised), body bytes, and the error-log lines the
request wrote.  Config errors of the four directives are compared with ``nginx -t``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.main import main
from tests.differential.modules4_pair import pair as start_pair
from tests.differential.test_foundation3_diff import Pair
from tests.e2e.test_config_errors import as_console
from tests.harness import NGINX_BIN, pin_mtimes

pytestmark = pytest.mark.differential

MTIME = 1704164645

CONF = r"""
events {}
http {
    access_log off;
    error_log logs/error.log info;
    server {
        listen 127.0.0.1:{port};
        root html;
        location / { autoindex on; }
        location /x/ { alias html/d/; autoindex on; autoindex_format xml; }
        location /j/ { alias html/d/; autoindex on; autoindex_format json; }
        location /p/ { alias html/d/; autoindex on; autoindex_format jsonp; }
        location /s/ { alias html/d/; autoindex on; autoindex_exact_size off; }
        location /u/ { alias html/d/; autoindex on; charset utf-8; }
        location /lt/ { alias html/d/; autoindex on; autoindex_localtime on; }
        location /off/ { alias html/d/; }
        location /ix/ { alias html/withindex/; autoindex on; }
        location /ixn/ { alias html/withindex/; autoindex on; index nope.html; }
        location ~ ^/re/(.*)$ { alias html/d/$1; autoindex on; }
        location /inh/ { autoindex on; autoindex_format json;
            location /inh/in/ { alias html/d/dir1/; autoindex_format xml; } }
    }
}
"""

NAMES = ["a.txt", "B.txt", "sp ace", 'amp&<>"q', "ünï.txt", "x" * 49, "y" * 50, "z" * 51,
         "w" * 60, ".hidden", "%41", "q?x", "semi;c", "tilde~_-.", "#h", "plus+", "tab\tnl",
         "bs\\q", "ÿ", "é" * 48, "é" * 51, "<b>"]
SIZES = {"big": 10000, "big2": 3 * 1024 * 1024 + 600 * 1024, "big3": 9999, "k511": 10240 + 511,
         "k512": 10240 + 512, "m": 1024 * 1024 - 1, "m2": 1024 * 1024 + 512 * 1024,
         "m3": 1024 * 1024 + 512 * 1024 - 1}
DIRS = ["dir1", "Dir2", "d" * 55, "dirü" * 3, "e" * 49, "e" * 50, "sp ace dir", "<i>"]


def build(prefix: Path) -> None:
    d = prefix / "html" / "d"
    d.mkdir(parents=True)
    for i, name in enumerate(NAMES):
        (d / name).write_bytes(b"x" * (i * 700))
    for name, size in SIZES.items():
        with open(d / name, "wb") as f:
            f.truncate(size)
    for name in DIRS:
        (d / name).mkdir()
    (d / "dir1" / "in.txt").write_bytes(b"in\n")
    os.symlink("a.txt", d / "link")
    os.symlink("nope", d / "broken")
    os.symlink("dir1", d / "ldir")
    os.symlink("loop", d / "loop")
    os.mkfifo(d / "fifo")
    (prefix / "html" / "withindex").mkdir()
    (prefix / "html" / "withindex" / "index.html").write_bytes(b"the index\n")
    (prefix / "html" / "empty").mkdir()
    (prefix / "html" / "f.txt").write_bytes(b"f\n")
    pin_mtimes(prefix, MTIME)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    tmp = tmp_path_factory.mktemp("autoindex")
    for name in ("nginx", "trinx"):
        build(tmp / name)
    with start_pair(CONF, tmp) as servers:
        yield Pair(*servers)


def _raw(target: str, method: str = "GET", extra: str = "") -> bytes:
    return (f"{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
            ).encode("latin-1")


TARGETS = ["/d/", "/x/", "/j/", "/p/", "/p/?callback=cb", "/p/?callback=", "/p/?callback=a.b_C9",
           "/p/?callback=a-b", "/p/?callback=" + "c" * 128, "/p/?callback=" + "c" * 129,
           "/p/?a=1&callback=x&callback=y", "/p/?CALLBACK=up", "/p/?callback=%41",
           "/s/", "/u/", "/lt/", "/off/", "/ix/", "/ixn/", "/re/", "/re/dir1/", "/re/nope/",
           "/inh/", "/inh/in/", "/", "/empty/", "/nope/", "/f.txt/", "/d/dir1/", "/d/ldir/",
           "/d/sp%20ace%20dir/", "/d/%3Ci%3E/", "/d/dir%C3%BCdir%C3%BCdir%C3%BC/", "/d/?q=1",
           "/d/loop/", "/d/broken/"]


@pytest.mark.parametrize("target", TARGETS)
def test_listing(pair: Pair, target: str) -> None:
    nginx, trinx = pair.exchange(_raw(target))
    assert trinx == nginx


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("target", ["/d/", "/j/", "/nope/"])
def test_methods(pair: Pair, target: str, method: str) -> None:
    nginx, trinx = pair.exchange(_raw(target, method, "Content-Length: 0\r\n"))
    assert trinx == nginx


def test_body_is_discarded_keepalive(pair: Pair) -> None:
    """A GET with a body: the body is read away and the next request on the connection
    is answered."""
    raw = (b"GET /j/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
           b"GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    nginx, trinx = pair.exchange(raw)
    assert trinx == nginx


@pytest.mark.parametrize("directive", [
    "autoindex maybe;", "autoindex on; autoindex off;", "autoindex_format yaml;",
    "autoindex_format html xml;", "autoindex_exact_size 1;", "autoindex_localtime;",
    "autoindex_format JSON;", "autoindex_format xml; autoindex_format xml;", "autoindex ON;",
])
def test_config_errors(directive: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    out = []
    for name in ("nginx", "trinx"):
        prefix = tmp_path / name
        (prefix / "conf").mkdir(parents=True)
        (prefix / "logs").mkdir()
        (prefix / "conf" / "nginx.conf").write_text(
            "events {}\nhttp {\n    server {\n        location / { %s }\n    }\n}\n" % directive)
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
