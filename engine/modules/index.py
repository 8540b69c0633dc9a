"""``index`` (``ngx_http_index_module``): a URI ending in ``/`` redirects to its index file.

Each name is tried in order as ``<directory>/<name>``; the first that exists (any type) is an
internal redirect to URI + name with the args kept.  A name starting with ``/`` is a fallback
taken unconditionally.  A missing directory is 404; nothing found passes to the next handler.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass

from engine import api

__all__ = ["MODULE", "IndexLocConf"]


@dataclass
class IndexLocConf:
    indices: list[api.ComplexValue] | api.Unset = api.UNSET

    def merge(self, parent: "IndexLocConf") -> None:
        self.indices = api.inherit(self.indices, parent.indices, _DEFAULT)


_DEFAULT = [api.ComplexValue("index.html", ["index.html"])]


def _index(cf: api.ConfContext, cmd: api.Directive, conf: IndexLocConf) -> None:
    if conf.indices is api.UNSET:
        conf.indices = []
    for name in cf.args[1:]:
        if not name:
            raise cf.error(f'index "{name}" in "index" directive is invalid')
        conf.indices.append(cf.compile(name))


async def index_handler(r: api.Request) -> int:
    if not r.uri.endswith("/") or r.method not in ("GET", "HEAD", "POST"):
        return api.DECLINED
    conf: IndexLocConf = MODULE.loc(r)
    dir_path = api.map_uri_to_path(r)
    if dir_path is None:
        return 500
    dir_checked = False
    for cv in conf.indices:  # type: ignore[union-attr]
        name = cv.evaluate(r)
        if name.startswith("/"):
            uri, _, args = name.partition("?")
            return await api.internal_redirect(r, uri, args or r.args)
        path = dir_path + name
        try:
            os.stat(path.encode("latin-1"))
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
                if not dir_checked:
                    rc = _test_dir(r, dir_path)
                    if rc:
                        return rc
                    dir_checked = True
                continue
            if e.errno == errno.EACCES:
                api.log_error(r, logging.ERROR, f'"{path}" is forbidden ({e.errno}: {e.strerror})')
                return 403
            return 500
        return await api.internal_redirect(r, r.uri + name, r.args)
    return api.DECLINED


def _test_dir(r: api.Request, dir_path: str) -> int:
    try:
        st = os.stat(dir_path.encode("latin-1"))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            api.log_error(r, logging.ERROR, f'"{dir_path}" is not found ({e.errno}: {e.strerror})')
            return 404
        if e.errno == errno.EACCES:
            return 403
        return 500
    import stat as stat_mod
    if not stat_mod.S_ISDIR(st.st_mode):
        return 404
    return 0


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.CONTENT, index_handler)


MODULE = api.Module(
    name="http_index",
    loc_conf=IndexLocConf,
    directives=[api.Directive("index", api.Ctx.HTTP_ALL, api.Args.ONE_MORE, _index)],
    postconfiguration=_postconfiguration,
)
