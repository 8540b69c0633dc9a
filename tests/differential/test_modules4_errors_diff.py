"""Config errors and warnings of map, split_clients, geo, referer, empty_gif (and the
$variable names and addresses they share with set, auth_request_set, allow/deny, and the
upstream names proxy_pass uses) compared
with ``nginx -t`` (message and file:line), trinx run in one process for all cases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import NGINX_BIN, REPO_ROOT

pytestmark = pytest.mark.differential

CASES = {
    "map_dup_var": "map $a $uri { }",
    "map_dup_default": "map $a $b {\n default x;\n default y; }",
    "map_conflict": "map $a $b { A x;\n a y; }",
    "map_wc_conflict": "map $a $b { hostnames; .a.com x; *.a.com y; }",
    "map_wc_exact_conflict": "map $a $b { hostnames; a.com x; .a.com y; }",
    "map_bad_wildcard": "map $a $b { hostnames; a.*.com x; }",
    "map_params": "map $a $b { a b c; }",
    "map_regex": "map $a $b { ~(x y; }",
    "map_block_in": "map $a $b { a { }",
    "map_args": "map $a { }",
    "map_not_here": "server { map $a $b {} }",
    "map_no_include": "map $a $b { include nonexist; }",
    "map_bad_name": "map $a b { }",
    "map_named_dup": "map $a $b { ~(?<uri>x) y; }",
    "map_hash": "map_hash_max_size x;",
    "map_no_block": "map $a $b;",
    "map_unknown_var": "map $nonexistent $b { }",
    "split_percent": "split_clients $remote_addr $v { 0.555% a; }",
    "split_total": "split_clients $remote_addr $v { 60% a;\n 50% b; }",
    "split_star_first": "split_clients $remote_addr $v { * a; 50% b; }",
    "split_zero": "split_clients $remote_addr $v { 0% a; }",
    "split_name": "split_clients $remote_addr v { 1% a; }",
    "geo_overlap": "geo $g { ranges; 10.0.0.0-10.0.0.255 a; 10.0.0.100-10.0.1.5 b; }",
    "geo_overlap_carved": "geo $g { ranges; 10.0.0.0-10.3.0.255 a;\n 10.0.0.5-10.0.0.20 b;\n"
                          " 10.0.0.15-10.0.0.30 c; }",
    "geo_bad_net": "geo $g { 10.0.0.0/33 a; }",
    "geo_ranges_late": "geo $g { 10.0.0.0/8 a; ranges; }",
    "geo_params": "geo $g { a b c; }",
    "geo_bad_range": "geo $g { ranges; default a; 1.2.3.4 x; }",
    "geo_args": "geo $a $b $c { }",
    "geo_name": "geo g { }",
    "geo_proxy": "geo $g { proxy 1.2.3.x; }",
    "geo_unknown_var": "geo $nonexist $g { }",
    "geo_reversed": "geo $g { ranges; 10.0.0.9-10.0.0.1 a; }",
    # one $variable-name check (ConfContext.variable_name) for every defining directive
    "geo_bare_dollar": "geo $a $ { default 1; }",
    "split_bare_dollar": "split_clients $a $ { * x; }",
    "map_bare_dollar": "map $a $ { default 1; }",
    "set_bare_dollar": "server { set $ 1; }",
    "set_changeable": "server { set $args 1; set $limit_rate 1; set $uri 1; }",
    "auth_request_set_changeable": "server { location / { auth_request /x;\n"
                                   " auth_request_set $args 1; auth_request_set $limit_rate 2;\n"
                                   " auth_request_set $uri 1; } }",
    # one address parser (engine.inet, nginx's ngx_inet_addr) for allow/deny and geo
    "access_inaddr_none": "server { allow 255.255.255.255; }",
    "access_empty_part": "server { allow 1..2.3; deny 010.0.0.1/8; }",  # a warning
    "access_scope": "server { allow fe80::1%eth0; }",
    "geo_scope": "geo $g { fe80::1%eth0 x; }",
    "geo_empty_part": "geo $g { 1..2.1/24 x; }",
    "set_changeable_modules": "server { set $proxy_host 1;\n set $proxy_port 2;\n"
                              " set $invalid_referer 3;\n set $http_user_agent 4; }",
    "map_core_named": "map $a $sent_http_link { }",
    "geo_core_named": "geo $http_cookie { }",
    "regex_core_named": "server { location ~ (?<http_via>x) { } }",
    # upstream names compared without case; a *_pass naming a block may not give a port
    "upstream_port_before": "upstream backend { server 127.0.0.1:1; }\n"
                            "server { location / { proxy_pass http://backend:80/; } }",
    "upstream_port_after": "server { location / { proxy_pass http://backend:80/; } }\n"
                           "upstream backend { server 127.0.0.1:1; }",
    "upstream_dup_case": "upstream backend { server 127.0.0.1:1; }\n"
                         "upstream BACKEND { server 127.0.0.1:2; }",
    "upstream_case": "upstream backend { server 127.0.0.1:1; }\nserver {\n"
                     " location / { proxy_pass http://BackEnd/; }\n"
                     " location /x { proxy_pass http://backend:8080/; } }",
    "map_then_set": "map $a $m { default 1; }\nserver { set $m 2; set $host 3; }",
    "referer_only_none": "server { valid_referers none; }",
    "referer_empty_regex": "server { valid_referers ~; }",
    "referer_bad_regex": "server { valid_referers ~(a; }",
    "referer_conflict": "server { valid_referers a.com A.com; }",
    "referer_wildcard": "server { valid_referers a.*.com; }",
    "referer_http": "valid_referers a.com;",
    "empty_gif_args": "server { location / { empty_gif on; } }",
    "empty_gif_server": "server { empty_gif; }",
}

# warnings (nginx -t succeeds): every [warn] line must match
WARN_CASES = {
    "geo_warnings": "geo $g { 10.0.0.0/8 a;\n 10.0.0.0/8 b;\n delete 1.0.0.0/8;\n"
                    " 10.1.0.0/8 c;\n default x;\n default y; }",
    "geo_range_warnings": "geo $g { ranges;\n default a;\n default b;\n"
                          " 10.0.0.0-10.0.0.5 x;\n 10.0.0.0-10.0.0.5 y;\n"
                          " delete 10.0.0.1-10.0.0.2;\n delete 1.1.1.1-1.1.1.2; }",
}

_BATCH = """
import contextlib, io, json, sys
from engine.main import main
for line in sys.stdin:
    argv = json.loads(line)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    print(json.dumps([status, err.getvalue()]), flush=True)
"""

_LINE = re.compile(r"\[(emerg|warn)\] (?:\d+#\d+: )?(.*)")


def _write(prefix: Path, http: str) -> None:
    (prefix / "conf").mkdir(parents=True)
    (prefix / "logs").mkdir()
    (prefix / "conf" / "nginx.conf").write_text(f"events {{}}\nhttp {{\n{http}\n}}\n")


def _messages(stderr: str, prefix: Path) -> list[str]:
    out = []
    for line in stderr.splitlines():
        m = _LINE.search(line)
        if m:
            out.append(f"{m.group(1)}: {m.group(2).replace(str(prefix), '{P}')}")
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], list[str]]]:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    base = tmp_path_factory.mktemp("m4err")
    cases = {**CASES, **WARN_CASES}
    argvs = []
    nginx: dict[str, list[str]] = {}
    for name, http in cases.items():
        for side in ("nginx", "trinx"):
            _write(base / side / name, http)
        p = base / "nginx" / name
        r = subprocess.run([str(NGINX_BIN), "-t", "-p", f"{p}/", "-c", "conf/nginx.conf",
                            "-e", "stderr"], capture_output=True, text=True,
                           encoding="latin-1", timeout=10)
        nginx[name] = _messages(r.stderr, p)
        argvs.append(["-t", "-p", f"{base / 'trinx' / name}/", "-c", "conf/nginx.conf",
                      "-e", "stderr"])
    r = subprocess.run([sys.executable, "-c", _BATCH], capture_output=True, text=True,
                       input="".join(json.dumps(a) + "\n" for a in argvs), cwd=REPO_ROOT,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = {}
    for name, line in zip(cases, r.stdout.splitlines()):
        _, err = json.loads(line)
        out[name] = (nginx[name], _messages(err, base / "trinx" / name))
    return out


@pytest.mark.parametrize("name", [*CASES, *WARN_CASES])
def test_config_messages_match_nginx(results: dict[str, tuple[list[str], list[str]]],
                                     name: str) -> None:
    nginx, trinx = results[name]
    assert nginx, "nginx accepted the case"
    assert trinx == nginx
