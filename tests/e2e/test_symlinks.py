"""``disable_symlinks`` on the real trinx, with nginx 1.22.1's answers written out.

Every location directory gets the same tree (`build_tree`): plain files, symlinks to files and
directories inside it, a symlink out of the root, dangling and looping links, and links owned
by another user (uid 65534, set with ``lchown``: the tests run as root) for ``if_not_owner``.
The expected statuses and log lines below were taken from nginx-light 1.22.1 running the same
config (tests/differential/test_symlinks_diff.py keeps checking that).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (Response, ServerProcess, ServerStartError, http_request,
                           parse_response, start_trinx)

OTHER = 65534  # nobody: a different owner for if_not_owner
SENTINEL = b"SENTINEL OUTSIDE ROOT\n"

# disable_symlinks on from=... is evaluated per request; each location names its mode
LOCATIONS = {
    "off": "",
    "on": "disable_symlinks on;",
    "own": "disable_symlinks if_not_owner;",
    "fr": "disable_symlinks on from=$document_root;",
    "frl": "disable_symlinks on from=$document_root/frl;",   # a prefix below the root
    "frp": "disable_symlinks on from=$document_root/fr;",    # not at a component boundary
    "trail": "disable_symlinks on from=$document_root/;",    # trailing slash
    "frall": "disable_symlinks on from=$document_root/frall/lf.txt;",  # the whole path
    "rel": "disable_symlinks on from=html;",                 # never a prefix: full check
    "ownfr": "disable_symlinks if_not_owner from=$document_root;",
    "empty": "disable_symlinks on from=;",
}

CONF = """
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        root html;
%s
        location /al/ { alias html/on/; disable_symlinks on; }
        location /alown/ { alias html/own/; disable_symlinks if_not_owner; }
        location /sroot/ { root html/rootlink; disable_symlinks on; }
        location /srootfr/ { root html/rootlink; disable_symlinks on from=$document_root; }
        location /idx2/ { alias html/on/; disable_symlinks on; index lf.txt f.txt; }
        location /idx3/ { alias html/on/; disable_symlinks on; index nope f.txt; }
    }
    server {
        listen 127.0.0.1:{port};
        server_name inherit;
        root html;
        disable_symlinks on;
        location /on/ { }
        location /off/ { disable_symlinks off; }
    }
}
""" % "\n".join(f"        location /{d}/ {{ {v} }}" for d, v in LOCATIONS.items())


def build_tree(d: Path, sentinel: Path) -> None:
    """One location's directory: see the module docstring.  ``d`` must exist."""
    (d / "real").mkdir()
    (d / "real" / "f.txt").write_bytes(b"real\n")
    (d / "real" / "index.html").write_bytes(b"ri\n")
    (d / "f.txt").write_bytes(b"plain\n")
    links = {"lf.txt": "real/f.txt", "ldir": "real", "out.txt": str(sentinel),
             "outdir": str(sentinel.parent), "index.html": "real/index.html",
             "lother": "real", "lfother": "real/f.txt", "dangling": "nonexistent",
             "loop": "loop", "lodir": "odir", "lodir_root": "odir", "lofile": "ofile",
             "lofile_other": "ofile"}
    (d / "odir").mkdir()
    (d / "odir" / "f.txt").write_bytes(b"odir\n")
    (d / "ofile").write_bytes(b"ofile\n")
    (d / "dirx").mkdir()
    for name, target in links.items():
        os.symlink(target, d / name)
    os.symlink("../real/f.txt", d / "dirx" / "l")
    (d / "loopdir").mkdir()
    os.symlink("index.html", d / "loopdir" / "index.html")  # an index that loops
    for name in ("lother", "lfother", "lodir", "lofile_other"):
        os.lchown(d / name, OTHER, OTHER)
    for p in (d / "odir", d / "odir" / "f.txt", d / "ofile"):
        os.chown(p, OTHER, OTHER)


def build_site(prefix: Path) -> None:
    """All location trees under ``prefix/html`` and the sentinel outside the root."""
    sentinel = prefix / "outside" / "secret.txt"
    sentinel.parent.mkdir(parents=True, exist_ok=True)
    sentinel.write_bytes(SENTINEL)
    html = prefix / "html"
    for d in [*LOCATIONS, "inherit"]:
        (html / d).mkdir(parents=True)
        build_tree(html / d, sentinel)
    (html / "realroot" / "sroot").mkdir(parents=True)
    (html / "realroot" / "sroot" / "f.txt").write_bytes(b"sroot\n")
    (html / "realroot" / "srootfr").mkdir()
    (html / "realroot" / "srootfr" / "f.txt").write_bytes(b"srootfr\n")
    os.symlink("realroot", html / "rootlink")


# request path below the location -> status, for each kind of location (nginx 1.22.1)
PATHS = ["f.txt", "lf.txt", "ldir", "ldir/", "ldir/f.txt", "out.txt", "outdir/secret.txt", "",
         "lother/f.txt", "lfother", "lother/", "dirx/l", "dangling", "loop", "real/", "nope",
         "ldir/nope", "lodir/f.txt", "lodir_root/f.txt", "lofile", "lofile_other"]
ON = [200, 403, 403, 404, 404, 403, 404, 403, 404, 403, 404, 403, 403, 403, 200, 404, 404, 404,
      404, 403, 403]
OFF = [200, 200, 301, 200, 200, 200, 200, 200, 200, 200, 200, 200, 404, 403, 200, 404, 404, 200,
       200, 200, 200]
OWNER = [200, 200, 301, 200, 200, 200, 200, 200, 403, 403, 403, 200, 404, 403, 200, 404, 404,
         200, 403, 403, 200]
EXPECTED = {"off": OFF, "on": ON, "own": OWNER, "fr": ON, "frl": ON, "frp": ON, "trail": ON,
            "rel": ON, "ownfr": OWNER, "empty": ON, "al": ON, "alown": OWNER}
BODIES = {"f.txt": b"plain\n", "lf.txt": b"real\n", "ldir/": b"ri\n", "ldir/f.txt": b"real\n",
          "out.txt": SENTINEL, "outdir/secret.txt": SENTINEL, "": b"ri\n", "real/": b"ri\n",
          "lother/f.txt": b"real\n", "lfother": b"real\n", "lother/": b"ri\n",
          "dirx/l": b"real\n", "lodir/f.txt": b"odir\n", "lodir_root/f.txt": b"odir\n",
          "lofile": b"ofile\n", "lofile_other": b"ofile\n"}
CASES = [(loc, path, statuses[i]) for loc, statuses in EXPECTED.items()
         for i, path in enumerate(PATHS)]


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    prefix = tmp_path_factory.mktemp("symlinks")
    build_site(prefix)
    server = start_trinx(CONF, prefix)
    yield server
    server.stop()


def get(server: ServerProcess, target: str, host: str = "x", method: str = "GET") -> Response:
    raw = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    return parse_response(http_request(server.port, raw.encode("latin-1")), method)


@pytest.mark.parametrize("loc,path,status", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_status(trinx: ServerProcess, loc: str, path: str, status: int) -> None:
    resp = get(trinx, f"/{loc}/{path}")
    assert resp.status == status
    if status == 200:
        assert resp.body == BODIES[path]
    if status == 301:
        assert resp.header("Location") == f"http://x:{trinx.port}/{loc}/{path}/"


def test_from_equal_to_the_path_turns_checking_off(trinx: ServerProcess) -> None:
    assert get(trinx, "/frall/lf.txt").body == b"real\n"
    assert get(trinx, "/frall/lfother").status == 403  # another path: checked


def test_symlinked_root(trinx: ServerProcess) -> None:
    # a symlink above the location: ENOTDIR in the walk (404); trusted with from=$document_root
    assert get(trinx, "/sroot/f.txt").status == 404
    assert get(trinx, "/srootfr/f.txt").body == b"srootfr\n"


def test_index_files(trinx: ServerProcess) -> None:
    # a refused index file stops the search with 403: the next index is not tried
    assert get(trinx, "/idx2/").status == 403
    assert get(trinx, "/idx3/").status == 200  # a missing one is skipped


def test_index_symlink_loop_is_403_in_any_mode(trinx: ServerProcess) -> None:
    for loc in ("off", "on", "own"):
        assert get(trinx, f"/{loc}/loopdir/").status == 403
    assert "loopdir" not in trinx.error_log_text()


def test_inherited_from_server_and_overridden(trinx: ServerProcess) -> None:
    assert get(trinx, "/on/lf.txt", host="inherit").status == 403
    assert get(trinx, "/off/lf.txt", host="inherit").body == b"real\n"
    assert get(trinx, "/inherit/lf.txt", host="inherit").status == 403


def test_head_and_args_on_directory_redirect(trinx: ServerProcess) -> None:
    resp = get(trinx, "/own/ldir?a=1", method="HEAD")
    assert resp.status == 301
    assert resp.header("Location") == f"http://x:{trinx.port}/own/ldir/?a=1"
    assert get(trinx, "/on/ldir?a=1", method="HEAD").status == 403


def test_error_log_lines(trinx: ServerProcess) -> None:
    get(trinx, "/on/lf.txt")
    get(trinx, "/on/ldir/f.txt")
    get(trinx, "/on/ldir/")
    get(trinx, "/own/lother/f.txt")
    log = trinx.error_log_text()
    html = f"{trinx.prefix}/html"
    for line in [
        f'openat() "{html}/on/lf.txt" failed (40: Too many levels of symbolic links)',
        f'openat() "{html}/on/ldir/f.txt" failed (20: Not a directory)',
        f'"{html}/on/ldir/index.html" is not found (20: Not a directory)',
        f'openat() "{html}/own/lother/f.txt" failed (40: Too many levels of symbolic links)',
    ]:
        assert re.search(r"\[error\] \d+#\d+: \*\d+ " + re.escape(line), log), line
    # the refused index file (/on/ is index.html -> real/index.html) is not logged
    get(trinx, "/on/")
    assert "on/index.html" not in trinx.error_log_text()


@pytest.mark.parametrize("directive,message", [
    ("disable_symlinks;", 'invalid number of arguments in "disable_symlinks" directive'),
    ("disable_symlinks maybe;", 'invalid parameter "maybe"'),
    ("disable_symlinks ON;", 'invalid parameter "ON"'),
    ("disable_symlinks from=/x;",
     '"disable_symlinks" must have "off", "on" or "if_not_owner" parameter'),
    ("disable_symlinks off from=/x;", '"from=" cannot be used with "off" parameter'),
    ("disable_symlinks on off;", 'duplicate parameters "on off"'),
    ("disable_symlinks on; disable_symlinks off;", '"disable_symlinks" directive is duplicate'),
    ("disable_symlinks on from=$nosuch;", 'unknown "nosuch" variable'),
])
def test_config_errors(tmp_path: Path, directive: str, message: str) -> None:
    conf = "events {}\nhttp {\n server {\n  listen 127.0.0.1:{port};\n  location / {\n   %s\n  }\n }\n}\n"
    with pytest.raises(ServerStartError) as info:
        start_trinx(conf % directive, tmp_path)
    assert message in str(info.value)


def test_config_accepted_forms(tmp_path: Path) -> None:
    conf = """events {}
http { access_log off; disable_symlinks if_not_owner;
 server { listen 127.0.0.1:{port}; disable_symlinks on from=$document_root;
  location / { disable_symlinks from=/x on; } location /e/ { disable_symlinks on from=; } } }
"""
    with start_trinx(conf, tmp_path) as server:
        assert get(server, "/nope").status == 404
