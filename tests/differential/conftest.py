"""Fixtures for differential tests: trinx and Debian's nginx-light, same config, same files.

A differential test marks itself ``@pytest.mark.differential`` and asks for `servers`::

    pytestmark = pytest.mark.differential

    def test_index(servers: ServerPairFactory) -> None:
        nginx, trinx = servers(CONF, {"html/index.html": b"hi\\n"})
        assert body_of(nginx) == body_of(trinx)

The config rules (listen on ``{port}``; no ``daemon``/``pid``/``master_process``; set
``access_log``) are in the docstring of tests/harness.py. The two servers run in separate
prefixes on separate ports, so normalise anything that echoes them before comparing.

Tests are skipped, with the reason shown, only when /usr/sbin/nginx is missing. It must be
present in CI (./run-tests installs it), and a trinx that fails to start is an error, not
a skip.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.harness` is imported by its package path; without an __init__.py here, pytest's
# default import mode puts only this directory on sys.path, and plain `pytest` (unlike
# `python -m pytest`) does not add the working directory.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.harness import (  # noqa: E402
    NGINX_BIN,
    ServerFactory,
    ServerPairFactory,
    ServerProcess,
    start_nginx,
    start_trinx,
)


def _require_nginx() -> None:
    """Skip the calling test when Debian's nginx is not installed."""
    if not NGINX_BIN.exists():
        pytest.skip(f"{NGINX_BIN} is absent; install nginx-light (./run-tests does)")


@pytest.fixture
def run_nginx(tmp_path: Path) -> Iterator[ServerFactory]:
    """Factory: start nginx alone with a config and files; stopped after the test."""
    _require_nginx()
    started: list[ServerProcess] = []

    def start(conf_text: str, files: dict[str, bytes] | None = None) -> ServerProcess:
        server = start_nginx(conf_text, tmp_path / f"nginx-{len(started)}", files)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPairFactory]:
    """Factory: start nginx and trinx with the same config and files, in separate prefixes.

    May be called more than once per test; every server started is stopped after it.
    """
    _require_nginx()
    started: list[ServerProcess] = []

    def start(
        conf_text: str, files: dict[str, bytes] | None = None
    ) -> tuple[ServerProcess, ServerProcess]:
        n = len(started) // 2
        nginx = start_nginx(conf_text, tmp_path / f"nginx-{n}", files)
        started.append(nginx)
        trinx = start_trinx(conf_text, tmp_path / f"trinx-{n}", files)
        started.append(trinx)
        return nginx, trinx

    yield start
    for server in reversed(started):
        server.stop()
