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
from engine.modules import index, static

__all__ = ["builtin_modules", "MODULE_NAMES"]


def builtin_modules() -> list[Module]:
    """A fresh list of the built-in modules (a cycle may append ``load_module`` ones)."""
    from filters import FILTER_MODULES

    return [
        CORE,
        HTTP_CORE,
        static.MODULE,
        index.MODULE,
        *_optional("engine.modules.autoindex"),
        *_optional("engine.modules.log"),
        *_optional("engine.modules.rewrite"),
        *_optional("engine.modules.realip"),
        *_optional("engine.modules.access"),
        *_optional("engine.modules.auth_request"),
        *_optional("engine.modules.mirror"),
        *_optional("engine.modules.upstream"),
        *_optional("engine.modules.proxy"),
        *_optional("engine.modules.memcached"),
        *_optional("engine.modules.upstream_hash"),
        *_optional("engine.modules.upstream_ip_hash"),
        *_optional("engine.modules.upstream_least_conn"),
        *_optional("engine.modules.upstream_random"),
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


def _optional(name: str) -> list[Module]:
    import importlib

    try:
        return [importlib.import_module(name).MODULE]
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        return []


# nginx's short names of what this build provides, for ``trinx -V``
MODULE_NAMES = ["core", "static", "index", "log", "rewrite", "access", "headers",
                "not_modified"]
