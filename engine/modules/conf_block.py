"""Helpers the block modules (``map``, ``geo``, ``split_clients``) share.

``include`` inside a free-form block: nginx's ``ngx_conf_include`` called from a block
handler, so the included file's statements go to the same handler (nginx keeps
``cf->handler`` while it parses the file).  The engine's own ``include`` directive
dispatches through the directive table, which a ``map`` body is not.

Not a module (no ``MODULE``).
"""

from __future__ import annotations

import glob
import os
from typing import Callable

from engine import api

__all__ = ["include"]

Handler = Callable[[api.ConfContext, api.Statement], None]


def include(cf: api.ConfContext, handler: Handler) -> None:
    """Parse the file named by ``cf.args[1]`` (relative to the conf directory; a glob takes
    every matching file in name order), every statement going to ``handler``.

    Raises ConfigError: nginx's ``open() "..." failed`` or the handler's own errors, with
    the included file's name and line.
    """
    path = cf.full_path(cf.args[1], conf_prefix=True)
    if any(c in path for c in "*?["):
        for p in sorted(glob.glob(path)):
            if os.path.isfile(p):
                _parse_file(cf, p, handler)
        return
    _parse_file(cf, path, handler)


def _parse_file(cf: api.ConfContext, path: str, handler: Handler) -> None:
    tok = cf.open_file(path)
    saved = (cf.file, cf.line, cf.args)
    while True:
        st = tok.next()
        cf.file, cf.line = st.file, st.line
        if st.kind is api.Token.EOF:
            break
        if st.kind is api.Token.BLOCK_DONE:
            raise cf.error('unexpected "}"')
        cf.args = st.words
        handler(cf, st)
    cf.file, cf.line, cf.args = saved
