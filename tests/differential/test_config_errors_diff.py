"""Every bad config of tests/e2e/test_config_errors.py, through nginx and through trinx.

Both get ``-t -p P -c conf/nginx.conf -e stderr`` (plus ``-g`` when the case has one) on the
same files in separate prefixes.  With ``-e stderr`` both print ``YYYY/MM/DD HH:MM:SS [emerg]
PID#PID: msg``; the message after the prefix, with each prefix directory replaced by ``{P}``,
must be equal, and so must the exit status.

nginx runs as a real process.  trinx runs as one too, but in a single Python process per test
run (``_trinx_batch``): starting Python ~90 times would cost half a minute.  Cases whose text
legitimately differs (``nginx_differs``) are checked against nginx only to confirm that it
still differs, so a case cannot silently become comparable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_config_errors import (CASES, WARN_CASES, Case, emerg_message, trinx_argv,
                                          warn_messages, write_prefix)
from tests.harness import NGINX_BIN, REPO_ROOT

pytestmark = pytest.mark.differential

# Runs every case in one trinx process: argv lists in on stdin, results out as JSON lines.
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


def _nginx(prefix: Path, case: Case) -> tuple[int, str]:
    argv = [str(NGINX_BIN), "-t", "-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", "stderr"]
    if case.g is not None:
        argv += ["-g", case.g]
    r = subprocess.run(argv, capture_output=True, text=True, encoding="latin-1", timeout=10)
    return r.returncode, r.stderr


@pytest.fixture(scope="module")
def trinx_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, Path]]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    base = tmp_path_factory.mktemp("trinx")
    prefixes = {c.id: base / c.id for c in CASES}
    lines = "".join(json.dumps(trinx_argv(prefixes[c.id], c)) + "\n"
                    for c in CASES if write_prefix(prefixes[c.id], c))
    r = subprocess.run([sys.executable, "-c", _BATCH], input=lines, capture_output=True,
                       text=True, cwd=REPO_ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(results) == len(CASES)
    return {c.id: (status, err, prefixes[c.id]) for c, (status, err) in zip(CASES, results)}


def _message(stderr: str, prefix: Path) -> str | None:
    msg = emerg_message(stderr)
    return None if msg is None else msg.replace(str(prefix), "{P}")


def _params() -> list[object]:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.trinx_bug, strict=True)]
                         if c.trinx_bug else []) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_config_error_matches_nginx(case: Case, tmp_path: Path,
                                    trinx_results: dict[str, tuple[int, str, Path]]) -> None:
    prefix = tmp_path / "nginx"
    write_prefix(prefix, case)
    n_status, n_err = _nginx(prefix, case)
    n_msg = _message(n_err, prefix)
    t_status, t_err, t_prefix = trinx_results[case.id]
    t_msg = _message(t_err, t_prefix)
    if case.nginx_differs:
        assert n_msg != t_msg, f"nginx now agrees with trinx; drop nginx_differs: {n_msg}"
        return
    assert (t_status, t_msg) == (n_status, n_msg), f"nginx said:\n{n_err}\ntrinx said:\n{t_err}"
    # the test's own expectation is nginx's text, not just trinx's
    assert n_msg == case.expected


@pytest.mark.parametrize("conf, expected", [c[1:] for c in WARN_CASES],
                         ids=[c[0] for c in WARN_CASES])
def test_config_warning_matches_nginx(conf: str, expected: list[str], tmp_path: Path) -> None:
    case = Case("warn", conf, None)
    prefix = tmp_path / "nginx"
    write_prefix(prefix, case)
    n_status, n_err = _nginx(prefix, case)
    assert n_status == 0, n_err
    assert [m.replace(str(prefix), "{P}") for m in warn_messages(n_err)] == expected
