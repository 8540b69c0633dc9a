"""Output filters, one module per file.

``FILTER_MODULES`` is the one place the filter order lives, bottom of the chain first (as in
nginx's HTTP_FILTER_MODULES): the last entry is the first filter a response passes through.
"""

from __future__ import annotations

import importlib

__all__ = ["FILTER_MODULES"]

_ORDER = [
    "filters.chunked",
    "filters.range_header",
    "filters.gzip",
    "filters.postpone",
    "filters.ssi",
    "filters.charset",
    "filters.sub",
    "filters.addition",
    "filters.headers",
    "filters.range_body",
    "filters.not_modified",
]


def _load() -> list:  # type: ignore[type-arg]
    out = []
    for name in _ORDER:
        try:
            out.append(importlib.import_module(name).MODULE)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
    return out


FILTER_MODULES = _load()
