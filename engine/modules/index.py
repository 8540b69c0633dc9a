"""``index`` (``ngx_http_index_module``): a URI ending in ``/`` redirects to its index file.

Each name is tried in order as ``<directory>/<name>``; the first that exists (any type) is an
internal redirect to URI + name with the args kept.  A name starting with ``/`` is a fallback
taken unconditionally.  A missing directory is 404 (logged with the index file's path, as
nginx does); nothing found passes to the next handler.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
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
    if not dir_path:
        return 500 if dir_path is None else 404
    dir_tested = False
    for cv in conf.indices:  # type: ignore[union-attr]
        name = cv.evaluate(r)
        if name.startswith("/"):
            # taken as is: nginx splits no "?args" off an index name
            return await api.internal_redirect(r, name, r.args)
        path = dir_path + name
        try:
            os.stat(path.encode("latin-1", "surrogateescape"))
        except OSError as e:
            if e.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.EACCES):
                return _index_error(r, path, e)
            if not dir_tested:
                rc = _test_dir(r, dir_path, path)
                if rc:
                    return rc
                dir_tested = True
            if e.errno == errno.ENOENT:
                continue
            api.log_error(r, logging.CRITICAL, f'stat() "{path}" failed ({e.errno}: {e.strerror})')
            return 500
        return await api.internal_redirect(r, r.uri + name, r.args)
    return api.DECLINED


def _index_error(r: api.Request, path: str, e: OSError) -> int:
    """``ngx_http_index_error``: 403 for EACCES, else 404 (logged unless log_not_found off)."""
    if e.errno == errno.EACCES:
        api.log_error(r, logging.ERROR, f'"{path}" is forbidden ({e.errno}: {e.strerror})')
        return 403
    if api.core_loc_conf(r).log_not_found:
        api.log_error(r, logging.ERROR, f'"{path}" is not found ({e.errno}: {e.strerror})')
    return 404


def _test_dir(r: api.Request, dir_path: str, index_path: str) -> int:
    """``ngx_http_index_test_dir``: 0 if the directory exists (or cannot be searched), else the
    status; a missing directory is reported with the index file's path, as nginx does."""
    try:
        st = os.stat(dir_path.encode("latin-1", "surrogateescape"))
    except OSError as e:
        if e.errno == errno.ENOENT:
            return _index_error(r, index_path, e)
        if e.errno == errno.EACCES:
            return 0  # the index stat failed otherwise, so searching the directory is allowed
        api.log_error(r, logging.CRITICAL, f'stat() "{dir_path}" failed ({e.errno}: {e.strerror})')
        return 500
    if not stat.S_ISDIR(st.st_mode):
        api.log_error(r, logging.CRITICAL + 5, f'"{dir_path}" is not a directory')
        return 500
    return 0


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.CONTENT, index_handler)


MODULE = api.Module(
    name="http_index",
    loc_conf=IndexLocConf,
    directives=[api.Directive("index", api.Ctx.HTTP_ALL, api.Args.ONE_MORE, _index)],
    postconfiguration=_postconfiguration,
)
