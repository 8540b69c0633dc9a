"""valid_referers / $invalid_referer and empty_gif against Debian's nginx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.differential.modules4_pair import get, pair, shape
from tests.harness import ServerProcess

pytestmark = pytest.mark.differential

CONF = r"""
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        server_name site.test *.site.test ~^re\d+\.test$;
        valid_referers none blocked server_names example.com *.example.org www.ex.*
                       pics.com/images/ ~\.google\. ;
        location / { return 200 "[$invalid_referer]\n"; }
        location /strict { valid_referers example.com; return 200 "[$invalid_referer]\n"; }
        location /none { valid_referers ~\.test; return 200 "[$invalid_referer]\n"; }
        location /gif { empty_gif; }
    }
    server {
        listen 127.0.0.1:{port};
        server_name other;
        location / { return 200 "[$invalid_referer]\n"; }
    }
}
"""

REFERERS = [None, "", "junk", "http://x", "http://example.com", "HTTPS://EXAMPLE.COM/a",
            "http://example.com:8080/x", "http://a.example.com/", "http://a.example.org/",
            "http://example.org/", "http://www.ex.co.uk/p", "http://www.ex/", "http://pics.com/",
            "http://pics.com/images/x.png", "http://pics.com/imagesx", "http://www.google.com/",
            "http://site.test/", "http://a.site.test/", "http://re12.test/", "http://re.test/",
            "https://" + "a" * 300 + ".example.org/", "ftp://example.com/",
            "http://exAmple.com/"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with pair(CONF, tmp_path_factory.mktemp("referer")) as p:
        yield p


@pytest.mark.parametrize("path", ["/", "/strict", "/none"])
@pytest.mark.parametrize("referer", REFERERS)
def test_invalid_referer(servers: tuple[ServerProcess, ServerProcess], path: str,
                         referer: str | None) -> None:
    nginx, trinx = servers
    h = "" if referer is None else f"Referer: {referer}\r\n"
    assert shape(get(trinx, path, h)) == shape(get(nginx, path, h))


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
def test_empty_gif(servers: tuple[ServerProcess, ServerProcess], method: str) -> None:
    nginx, trinx = servers
    a, b = get(trinx, "/gif", method=method), get(nginx, "/gif", method=method)
    assert shape(a) == shape(b)
    if method == "GET":
        assert len(a.body) == 43 and a.body.startswith(b"GIF89a")


def test_empty_gif_not_modified(servers: tuple[ServerProcess, ServerProcess]) -> None:
    nginx, trinx = servers
    h = "If-Modified-Since: Mon, 28 Sep 1970 06:00:00 GMT\r\n"
    assert shape(get(trinx, "/gif", h)) == shape(get(nginx, "/gif", h))
