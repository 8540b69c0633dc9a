"""``allow``/``deny`` (engine/modules/access.py) on a real trinx; the client is 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.main import main
from engine.modules.access import _client
from tests.e2e.test_config_errors import as_console
from tests.harness import ServerProcess, http_request, parse_response, start_trinx

CONF = """
events {}
http {
    access_log off;
    deny 127.0.0.2;
    server {
        listen 127.0.0.1:{port};
        root html;
        location /open/ { }
        location /denyall/ { deny all; }
        location /allowme/ { allow 127.0.0.1; deny all; }
        location /cidr/ { allow 127.0.0.0/8; deny all; }
        location /lowbits/ { allow 127.1.2.3/8; deny all; }
        location /other/ { allow 10.0.0.0/8; deny all; }
        location /denyme/ { deny 127.0.0.1; allow all; }
        location /first/ { allow all; deny 127.0.0.1; }
        location /v6/ { allow ::1; allow ::ffff:10.0.0.0/104; deny all; }
        location /v6all/ { deny ::/0; }
        location /unix/ { deny unix:; }
        location /outer/ {
            deny all;
            location /outer/inner/ { }
            location /outer/own/ { allow 127.0.0.1; }
        }
    }
    server {
        listen 127.0.0.1:{port2};
        root html;
        deny all;
        location /open/ { allow all; }
    }
}
"""

DIRS = ["open", "denyall", "allowme", "cidr", "lowbits", "other", "denyme", "first", "v6",
        "v6all", "unix", "outer", "outer/inner", "outer/own"]
FILES = {f"html/{d}/f.txt": b"ok\n" for d in DIRS}


@pytest.fixture(scope="module")
def trinx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from tests.harness import free_port

    port2 = free_port()
    server = start_trinx(CONF.replace("{port2}", str(port2)), tmp_path_factory.mktemp("acc"),
                         FILES)
    server.port2 = port2  # type: ignore[attr-defined]
    yield server
    server.stop()


def status(port: int, target: str) -> int:
    raw = f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    return parse_response(http_request(port, raw)).status


@pytest.mark.parametrize("location, expected", [
    ("open", 200), ("denyall", 403), ("allowme", 200), ("cidr", 200), ("lowbits", 200),
    ("other", 403), ("denyme", 403), ("first", 200), ("v6", 403), ("v6all", 200),
    ("unix", 200), ("outer", 403), ("outer/inner", 403), ("outer/own", 200),
])
def test_rules(trinx: ServerProcess, location: str, expected: int) -> None:
    assert status(trinx.port, f"/{location}/f.txt") == expected


def test_server_level_list_replaced(trinx: ServerProcess) -> None:
    port2 = trinx.port2  # type: ignore[attr-defined]
    assert status(port2, "/open/f.txt") == 200
    assert status(port2, "/denyall/f.txt") == 403
    assert status(port2, "/missing") == 403  # access runs before the content handler


def test_denied_even_when_missing(trinx: ServerProcess) -> None:
    assert status(trinx.port, "/denyall/nothing") == 403


def test_403_page_and_log(trinx: ServerProcess) -> None:
    raw = b"GET /denyall/f.txt HTTP/1.1\r\nHost: example\r\n\r\n"
    resp = parse_response(http_request(trinx.port, raw))
    assert resp.status == 403
    assert b"<title>403 Forbidden</title>" in resp.body
    assert resp.header("Connection") == "keep-alive"
    deadline = time.monotonic() + 5
    while 'host: "example"' not in trinx.error_log_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    line = next(ln for ln in trinx.error_log_text().splitlines() if '"example"' in ln)
    assert "[error]" in line
    assert line.endswith('access forbidden by rule, client: 127.0.0.1, server: , request: '
                         '"GET /denyall/f.txt HTTP/1.1", host: "example"')


def test_client_address_families() -> None:
    assert _client("127.0.0.1") == (4, 0x7F000001)
    assert _client("::ffff:127.0.0.1") == (4, 0x7F000001)  # mapped: the IPv4 rules apply
    assert _client("::1") == (6, 1)


@pytest.mark.parametrize("value", ["x", "ALL", "10.0.0.1/33", "::1/129", "fe80::1%eth0",
                                   "10.0.0"])
def test_invalid_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           value: str) -> None:
    rc, err = check(tmp_path, capsys, f"allow {value};")
    assert rc == 1
    assert f'[emerg] invalid parameter "{value}" in {tmp_path}/conf/nginx.conf:5' in err


def test_low_bits_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = check(tmp_path, capsys, "deny 10.0.0.1/8;")
    assert rc == 0
    assert (f"[warn] low address bits of 10.0.0.1/8 are meaningless in "
            f"{tmp_path}/conf/nginx.conf:5") in err


def test_not_allowed_in_if_or_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text("allow all;\nevents {}\n")
    assert main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"]) == 1
    assert '"allow" directive is not allowed here' in as_console(capsys.readouterr().err)


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], directive: str) -> tuple[int, str]:
    (tmp_path / "conf").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text(
        "events {}\nhttp {\n access_log off;\n server {\n  location / { %s }\n }\n}\n"
        % directive)
    rc = main(["-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"])
    return rc, as_console(capsys.readouterr().err)
