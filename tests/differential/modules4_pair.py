"""Shared helpers of the map/geo/split_clients/referer/empty_gif differential tests: one
nginx and one trinx per test module (hypothesis draws many requests against them), and
a request normalised for comparison (Date and Server dropped)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness import (NGINX_BIN, Response, ServerProcess, http_request, parse_response,
                           start_nginx, start_trinx)

__all__ = ["pair", "get", "shape"]


@contextmanager
def pair(conf: str, tmp: Path, files: dict[str, bytes] | None = None
         ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    if not NGINX_BIN.exists():
        pytest.skip("no nginx")
    with start_nginx(conf, tmp / "nginx", files) as nginx, \
            start_trinx(conf, tmp / "trinx", files) as trinx:
        yield nginx, trinx


def get(server: ServerProcess, target: str, headers: str = "", method: str = "GET"
        ) -> Response:
    raw = (f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n{headers}"
           "Connection: close\r\n\r\n").encode("latin-1")
    return parse_response(http_request(server.port, raw), method)


def shape(resp: Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers without Date/Server, body."""
    return (resp.status, [(k, v) for k, v in resp.headers if k.lower() not in ("date",)],
            resp.body)
