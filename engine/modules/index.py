"""``index`` (``ngx_http_index_module``): a URI ending in ``/`` redirects to its index file.

Each name is tried in order as ``<directory>/<name>``; the first that exists (any type) is an
internal redirect to URI + name with the args kept.  A name starting with ``/`` is a fallback
taken unconditionally.  A missing directory is 404 (logged with the index file's path, as
nginx does); nothing found passes to the next handler.

``disable_symlinks`` applies to both tests, as nginx's ``ngx_open_cached_file`` with
``test_only``: a refused symlink (ELOOP, EMLINK) answers 403 without a log line.  The
directive's conf belongs to the module that declares it (static, until the core takes it
over); `_postconfiguration` finds that module by the directive and keeps it in the handler's
closure, so the handler reads ``disable_symlinks``/``disable_symlinks_from`` by nginx's names.
With ``off``, the tests are the plain ``stat()`` calls they were.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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


# EMLINK, ELOOP: a symlink disable_symlinks refused, or a symlink loop (403, not logged)
_REFUSED = (errno.EMLINK, errno.ELOOP)


def _make_handler(symlinks_module: api.Module | None) -> Callable[[api.Request],
                                                                  Awaitable[int]]:
    async def index_handler(r: api.Request) -> int:
        if not r.uri.endswith("/") or r.method not in ("GET", "HEAD", "POST"):
            return api.DECLINED
        conf: IndexLocConf = MODULE.loc(r)
        dir_path = api.map_uri_to_path(r)
        if not dir_path:
            return 500 if dir_path is None else 404
        mode = api.Symlinks.OFF
        sl = symlinks_module.loc(r) if symlinks_module is not None else None
        if sl is not None and sl.disable_symlinks is not api.Symlinks.OFF:
            mode = sl.disable_symlinks
        dir_tested = False
        for cv in conf.indices:  # type: ignore[union-attr]
            name = cv.evaluate(r)
            if name.startswith("/"):
                # taken as is: nginx splits no "?args" off an index name
                return await api.internal_redirect(r, name, r.args)
            path = dir_path + name
            try:
                _file_info(r, sl, mode, path)
            except api.OpenError as e:
                if e.errno in _REFUSED:
                    return 403
                if e.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.EACCES):
                    return _index_error(r, path, e)
                if not dir_tested:
                    rc = _test_dir(r, sl, mode, dir_path, path)
                    if rc:
                        return rc
                    dir_tested = True
                if e.errno == errno.ENOENT:
                    continue
                api.log_error(r, logging.CRITICAL,
                              f'{e.syscall} "{path}" failed ({e.errno}: {e.strerror})')
                return 500
            return await api.internal_redirect(r, r.uri + name, r.args)
        return api.DECLINED

    return index_handler


def _file_info(r: api.Request, sl: Any, mode: api.Symlinks, path: str) -> os.stat_result:
    """stat() with disable_symlinks off, else nginx's checked open + fstat.

    Raises:
        api.OpenError: naming the failing call (``stat()``, ``open()``, ``openat()``).
        ValueError: a NUL in the path.
    """
    from_len = 0
    if mode is not api.Symlinks.OFF:
        cv = sl.disable_symlinks_from
        mode, from_len = api.symlinks_from(mode, cv.evaluate(r) if cv else None, path)
    return api.file_info(path.encode("latin-1", "surrogateescape"), mode, from_len)


def _index_error(r: api.Request, path: str, e: OSError) -> int:
    """``ngx_http_index_error``: 403 for EACCES, else 404 (logged unless log_not_found off)."""
    if e.errno == errno.EACCES:
        api.log_error(r, logging.ERROR, f'"{path}" is forbidden ({e.errno}: {e.strerror})')
        return 403
    if api.core_loc_conf(r).log_not_found:
        api.log_error(r, logging.ERROR, f'"{path}" is not found ({e.errno}: {e.strerror})')
    return 404


def _test_dir(r: api.Request, sl: Any, mode: api.Symlinks, dir_path: str,
              index_path: str) -> int:
    """``ngx_http_index_test_dir``: 0 if the directory exists (or cannot be searched), else the
    status; a missing directory is reported with the index file's path, as nginx does.  The
    directory is named without its trailing slash, as nginx does (so under disable_symlinks a
    symlinked directory is a refused last component)."""
    if len(dir_path) > 1:
        dir_path = dir_path[:-1]
    try:
        st = _file_info(r, sl, mode, dir_path)
    except api.OpenError as e:
        if e.errno in _REFUSED:
            return 403
        if e.errno == errno.ENOENT:
            return _index_error(r, index_path, e)
        if e.errno == errno.EACCES:
            return 0  # the index stat failed otherwise, so searching the directory is allowed
        api.log_error(r, logging.CRITICAL,
                      f'{e.syscall} "{dir_path}" failed ({e.errno}: {e.strerror})')
        return 500
    if not stat.S_ISDIR(st.st_mode):
        api.log_error(r, logging.CRITICAL + 5, f'"{dir_path}" is not a directory')
        return 500
    return 0


def _postconfiguration(cf: api.ConfContext) -> None:
    # the module declaring disable_symlinks: its loc conf has nginx's field names
    symlinks_module = cf.cycle.directive_module("disable_symlinks")
    cf.add_phase_handler(api.Phase.CONTENT, _make_handler(symlinks_module))


MODULE = api.Module(
    name="http_index",
    loc_conf=IndexLocConf,
    directives=[api.Directive("index", api.Ctx.HTTP_ALL, api.Args.ONE_MORE, _index)],
    postconfiguration=_postconfiguration,
)
