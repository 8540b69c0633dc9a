"""Output filters, one module per file.

``FILTER_MODULES`` is the one place the filter order lives, bottom of the chain first (as in
nginx's HTTP_FILTER_MODULES): the last entry is the first filter a response passes through.
An entry ``"pkg.mod:ATTR"`` names a Module object other than ``MODULE``, so that one file can
place two modules at two positions (range's header and body filters).
"""

from __future__ import annotations

import importlib

__all__ = ["FILTER_MODULES"]

_ORDER = [
    "filters.range:RANGE_HEADER",
    "filters.gzip",
    "engine.subrequest:POSTPONE",
    "filters.ssi",
    "filters.charset",
    "filters.sub",
    "filters.addition",
    "filters.headers",
    "filters.range:RANGE_BODY",
    "filters.not_modified",
]


def _load() -> list:  # type: ignore[type-arg]
    out = []
    for entry in _ORDER:
        name, _, attr = entry.partition(":")
        out.append(getattr(importlib.import_module(name), attr or "MODULE"))
    return out


FILTER_MODULES = _load()
