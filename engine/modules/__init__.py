"""The built-in modules, in load order (nginx's ``auto/modules``).

The order is significant twice.  Content-phase handlers registered later run first (so
``index`` is tried before ``static``).  Filters are pushed onto the chains in this order, so
the *last* filter module listed is the *first* to see a response, exactly as in nginx:
header serialisation and the writer sit at the bottom, ``not_modified`` at the top.
"""

from __future__ import annotations

from engine.http import HEADER_FILTER, WRITE_FILTER
from engine.http_core import CORE, HTTP_CORE
from engine.module import Module
from engine.modules import (access, auth_request, autoindex, index, log, memcached, mirror,
                            proxy, realip,
                            rewrite, static, upstream_hash, upstream_ip_hash,
                            upstream_least_conn, upstream_random)
from engine.modules import empty_gif, geo, referer, split_clients
from engine.modules import map as http_map
from engine.upstream import UPSTREAM

__all__ = ["builtin_modules", "module_names"]


def builtin_modules() -> list[Module]:
    """A fresh list of the built-in modules (a cycle may append ``load_module`` ones)."""
    from filters import FILTER_MODULES

    return [
        CORE,
        HTTP_CORE,
        static.MODULE,
        autoindex.MODULE,  # between static and index: index runs first, then autoindex
        index.MODULE,
        log.MODULE,
        rewrite.MODULE,
        mirror.MODULE,
        auth_request.MODULE,  # before access, as in nginx's auto/modules: access runs first
        access.MODULE,
        realip.MODULE,
        geo.MODULE,  # nginx's auto/modules order: geo, map, split_clients, referer
        http_map.MODULE,
        split_clients.MODULE,
        referer.MODULE,
        UPSTREAM,
        proxy.MODULE,
        memcached.MODULE,
        empty_gif.MODULE,
        upstream_hash.MODULE,
        upstream_ip_hash.MODULE,
        upstream_least_conn.MODULE,
        upstream_random.MODULE,
        # filters: bottom of the chain first
        WRITE_FILTER,
        HEADER_FILTER,
        *FILTER_MODULES,
        *entry_point_modules(),
    ]


def entry_point_modules() -> list[Module]:
    """Third-party modules installed with a ``trinx.modules`` entry point (value: MODULE)."""
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group="trinx.modules"):
        module = ep.load()
        if isinstance(module, Module):
            out.append(module)
    return out


_INTERNAL = frozenset({"http_core", "http_header_filter", "http_write_filter",
                       "http_postpone_filter"})
_SHORT = {"http_range_header_filter": "range", "http_range_body_filter": "range"}


def module_names() -> list[str]:
    """nginx's short names of what this build provides, for ``trinx -V`` (``ssi``,
    ``range``, ``proxy``, ``upstream_hash``...): derived from the modules really built in."""
    out: list[str] = []
    for m in builtin_modules():
        if m.name in _INTERNAL:
            continue
        name = _SHORT.get(m.name, m.name)
        if name.startswith("http_"):
            name = name[5:]
        for suffix in ("_filter", "_module"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if name not in out:
            out.append(name)
    return out
