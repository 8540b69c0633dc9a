"""The command line (reference/core.md §1.1).

Tests that depend on the working directory, on files, or on the exit path run a real
``python -m engine`` process; the pure option-parsing ones call ``engine.main.main`` with the
same argv in-process (a Python start-up per case would triple this file's run time).  Where nginx's output is the same by design (usage errors, ``-t``/``-T`` output, ``-s``
failures), the test runs Debian's nginx with the same arguments and compares.  Only options
that make nginx stop before starting a server are ever given to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.main import main
from tests.harness import NGINX_BIN, REPO_ROOT

MAIN_CONF = "events {}\npid logs/x.pid;\nerror_log logs/e.log;\n"


def trinx(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=20, stdin=subprocess.DEVNULL, env=env)


class InProcess:
    """``trinx`` without the process: same argv, same CompletedProcess shape."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.capsys.readouterr()
        status = main(list(args))
        out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), status, out, err)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> InProcess:
    return InProcess(capsys)


def nginx(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent")
    return subprocess.run([str(NGINX_BIN), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=20, stdin=subprocess.DEVNULL)


def make_prefix(path: Path, conf: str = MAIN_CONF, files: dict[str, str] | None = None) -> Path:
    (path / "conf").mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(exist_ok=True)
    (path / "conf" / "nginx.conf").write_text(conf)
    for rel, text in (files or {}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


@pytest.mark.parametrize("flag", ["-h", "-?"])
def test_help(flag: str, cli: InProcess) -> None:
    r = cli(flag)
    assert r.returncode == 0
    assert r.stderr.startswith("nginx version: nginx/1.22.1")
    assert r.stderr.count("nginx version:") == 1  # as nginx: one version line
    assert "Usage: trinx [-?hvVtTq] [-s signal] [-p prefix]" in r.stderr
    for option in ("-?,-h", "-v ", "-V ", "-t ", "-T ", "-q ", "-s signal", "-p prefix",
                   "-e filename", "-c filename", "-g directives"):
        assert f"\n  {option}" in r.stderr
    assert r.stdout == ""


def test_version(cli: InProcess) -> None:
    r = cli("-v")
    assert (r.returncode, r.stdout) == (0, "")
    assert r.stderr.startswith("nginx version: nginx/1.22.1")
    assert r.stderr.count("\n") == 1


def test_version_full_lists_modules(cli: InProcess) -> None:
    r = cli("-V")
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    assert lines[0].startswith("nginx version: nginx/1.22.1")
    assert any(line.startswith("configure arguments: --prefix=") for line in lines)
    modules = [line for line in lines if line.startswith("modules: ")]
    assert len(modules) == 1
    assert {"core", "static", "index"} <= set(modules[0].split()[1:])


def test_version_modules_are_the_modules_built_in(cli: InProcess) -> None:
    # tools written for nginx read this line to tell what the build supports: every name on
    # it must be a module that is really there, and every filter module must be named
    from engine.modules import builtin_modules
    from filters import FILTER_MODULES

    names = next(line for line in cli("-V").stderr.splitlines()
                 if line.startswith("modules: ")).split()[1:]
    built = {m.name for m in builtin_modules()}
    for name in names:
        assert built & {name, f"http_{name}", f"http_{name}_filter",
                        f"http_{name}_header_filter", f"http_{name}_body_filter"}, name
    for m in FILTER_MODULES:
        if m.name != "http_postpone_filter":
            assert m.name.removeprefix("http_").removesuffix("_filter").replace(
                "_header", "").replace("_body", "") in names


@pytest.mark.parametrize("args", [
    ["-x"], ["foo"], ["-tx"], ["-c"], ["-s"], ["-p"], ["-g"], ["-e"], ["-s", "bogus"],
    ["-sbogus"],
], ids=lambda a: " ".join(a))
def test_usage_errors_match_nginx(args: list[str], cli: InProcess) -> None:
    n, t = nginx(*args), cli(*args)
    assert (t.returncode, t.stderr, t.stdout) == (n.returncode, n.stderr, n.stdout)
    assert t.returncode == 1


def test_version_then_test(tmp_path: Path, cli: InProcess) -> None:
    """As in nginx, -v does not stop -t: the version line, then the test."""
    p = make_prefix(tmp_path / "p")
    r = cli("-vt", "-p", str(p), "-c", "conf/nginx.conf")
    conf = p / "conf" / "nginx.conf"
    assert r.returncode == 0
    assert r.stderr.splitlines()[1:] == [
        f"nginx: the configuration file {conf} syntax is ok",
        f"nginx: configuration file {conf} test is successful"]


def test_test_success_and_quiet(tmp_path: Path) -> None:
    p = make_prefix(tmp_path / "p")
    conf = p / "conf" / "nginx.conf"
    ok = (f"nginx: the configuration file {conf} syntax is ok\n"
          f"nginx: configuration file {conf} test is successful\n")
    r = trinx("-t", "-p", f"{p}/", "-c", "conf/nginx.conf")
    assert (r.returncode, r.stderr, r.stdout) == (0, ok, "")
    # combined letters and an attached value
    r = trinx("-tq", f"-p{p}", f"-c{conf}")
    assert (r.returncode, r.stderr, r.stdout) == (0, "", "")
    # like nginx -t, the test opens (creates) the pid and error log files
    assert (p / "logs" / "x.pid").exists() and (p / "logs" / "e.log").exists()


def test_test_failure_even_when_quiet(tmp_path: Path) -> None:
    p = make_prefix(tmp_path / "p", "events {}\nbogus;\n")
    conf = p / "conf" / "nginx.conf"
    for flags in (["-t"], ["-tq"], ["-T"]):
        r = trinx(*flags, "-p", str(p), "-c", "conf/nginx.conf")
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == (f'nginx: [emerg] unknown directive "bogus" in {conf}:2\n'
                            f"nginx: configuration file {conf} test failed\n")


def test_test_fails_on_unopenable_pid_file(tmp_path: Path) -> None:
    p = make_prefix(tmp_path / "p", "events {}\npid nodir/x.pid;\n")
    r = trinx("-t", "-p", str(p), "-c", "conf/nginx.conf")
    assert r.returncode == 1
    assert (f'nginx: [emerg] open() "{p}/nodir/x.pid" failed (2: No such file or directory)\n'
            in r.stderr)


def test_dump_matches_nginx(tmp_path: Path) -> None:
    """-T: every file read, in read order, each once, with the header and a blank line."""
    conf = ("events {}\npid logs/x.pid;\ninclude inc/*.conf;\n"
            "http {\n  include types.conf;\n  include types.conf;\n}\n")
    p = make_prefix(tmp_path / "p", conf, {
        "conf/inc/b.conf": "# b, no final newline",
        "conf/inc/a.conf": "# a\n",
        "conf/types.conf": "types { text/html html; }\n",
    })
    args = ["-T", "-q", "-p", f"{p}/", "-c", "conf/nginx.conf"]
    t, n = trinx(*args), nginx(*args)
    # types.conf twice: nginx warns about the duplicate extension even with -q
    from tests.e2e.test_config_errors import warn_messages
    assert t.returncode == 0
    assert warn_messages(t.stderr) == warn_messages(n.stderr)
    assert t.stdout == n.stdout
    c = p / "conf"
    assert t.stdout == (f"# configuration file {c}/nginx.conf:\n{conf}\n"
                        f"# configuration file {c}/inc/a.conf:\n# a\n\n"
                        f"# configuration file {c}/inc/b.conf:\n# b, no final newline\n"
                        f"# configuration file {c}/types.conf:\ntypes {{ text/html html; }}\n\n")


def test_prefix_resolution(tmp_path: Path) -> None:
    """-p relative to the cwd, -c relative to the prefix, include relative to the conf dir,
    pid and error_log relative to the prefix."""
    p = make_prefix(tmp_path / "p", "", {
        "conf/sub/main.conf": "events {}\npid run/t.pid;\nerror_log e.log;\ninclude inc.conf;\n",
        "conf/sub/inc.conf": "include missing.conf;\n",
    })
    (p / "run").mkdir()
    r = trinx("-t", "-p", "p", "-c", "conf/sub/main.conf", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith(
        f'nginx: [emerg] open() "{p}/conf/sub/missing.conf" failed (2: No such file or '
        f'directory) in {p}/conf/sub/inc.conf:1\n')
    (p / "conf" / "sub" / "missing.conf").write_text("")
    r = trinx("-tq", "-p", "p", "-c", "conf/sub/main.conf", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, "")
    assert (p / "run" / "t.pid").exists() and (p / "e.log").exists()


def test_g_parsed_before_file(tmp_path: Path) -> None:
    p = make_prefix(tmp_path / "p", "events {}\n\ndaemon off;\n")
    r = trinx("-t", "-p", str(p), "-c", "conf/nginx.conf", "-g", "daemon off;")
    assert r.returncode == 1
    assert r.stderr.startswith(
        f'nginx: [emerg] "daemon" directive is duplicate in {p}/conf/nginx.conf:3\n')


def test_startup_error_goes_to_e_file(tmp_path: Path) -> None:
    """Without -t, a config error is printed and written to the -e log."""
    p = make_prefix(tmp_path / "p", "events {}\nbogus;\n")
    r = trinx("-p", str(p), "-c", "conf/nginx.conf", "-e", "logs/startup.log",
              "-g", "daemon off;")
    assert r.returncode == 1
    msg = f'unknown directive "bogus" in {p}/conf/nginx.conf:2'
    assert r.stderr == f"nginx: [emerg] {msg}\n"
    assert f"[emerg] " in (p / "logs" / "startup.log").read_text()
    assert (p / "logs" / "startup.log").read_text().endswith(f": {msg}\n")


@pytest.mark.parametrize("content, expected", [
    (None, 'nginx: [error] open() "{P}/logs/x.pid" failed (2: No such file or directory)'),
    ("abc\n", 'nginx: [error] invalid PID number "abc" in "{P}/logs/x.pid"'),
    (" 12\n", 'nginx: [error] invalid PID number " 12" in "{P}/logs/x.pid"'),
    ("999999999\n", "nginx: [alert] kill(999999999, 1) failed (3: No such process)"),
], ids=["missing", "garbage", "space", "no-process"])
def test_signal_failures(tmp_path: Path, content: str | None, expected: str,
                         cli: InProcess) -> None:
    p = make_prefix(tmp_path / "p")
    if content is not None:
        (p / "logs" / "x.pid").write_text(content)
    r = cli("-p", str(p), "-c", "conf/nginx.conf", "-s", "reload")
    assert r.returncode == 1
    assert r.stderr == ("nginx: [notice] signal process started\n"
                        + expected.replace("{P}", str(p)) + "\n")
    n = nginx("-p", str(p), "-c", "conf/nginx.conf", "-s", "reload")
    assert n.returncode == 1
    assert expected.split("] ", 1)[1].replace("{P}", str(p)) in n.stderr


def test_signal_with_bad_config(tmp_path: Path) -> None:
    p = make_prefix(tmp_path / "p", "events {\n")
    r = trinx("-p", str(p), "-c", "conf/nginx.conf", "-s", "stop")
    assert r.returncode == 1
    assert r.stderr == (f'nginx: [emerg] unexpected end of file, expecting "}}" in '
                        f"{p}/conf/nginx.conf:2\n")
