"""Static files (``ngx_http_static_module``): the content handler of last resort.

Serves the file ``root``/``alias`` + URI with Last-Modified, ETag and a file-backed body
buffer (sent with sendfile when no filter needs the bytes).  A directory answers 301 with a
slash appended.  Errors follow nginx: missing → 404, permission or a refused symlink → 403,
other → 500.

``disable_symlinks off | on | if_not_owner [from=part]`` is a core directive in nginx; trinx
declares it here, in the module that opens files, and `engine.safe_open` does the walking.
The index module finds this module's conf by the directive (modules see each other only
through the api), so the fields keep nginx's ``clcf`` names.  With ``off`` (the default) the
handler makes exactly the system calls it made before the directive existed.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass

from engine import api

__all__ = ["MODULE", "StaticLocConf"]


@dataclass
class StaticLocConf:
    disable_symlinks: api.Symlinks | api.Unset = api.UNSET
    disable_symlinks_from: api.ComplexValue | None | api.Unset = api.UNSET

    def merge(self, parent: "StaticLocConf") -> None:
        self.disable_symlinks = api.inherit(self.disable_symlinks, parent.disable_symlinks,
                                            api.Symlinks.OFF)
        self.disable_symlinks_from = api.inherit(self.disable_symlinks_from,
                                                 parent.disable_symlinks_from, None)


_MODES = {"off": api.Symlinks.OFF, "on": api.Symlinks.ON,
          "if_not_owner": api.Symlinks.IF_NOT_OWNER}


def _disable_symlinks(cf: api.ConfContext, cmd: api.Directive, conf: StaticLocConf) -> None:
    """``ngx_http_disable_symlinks``: one mode word and at most one ``from=`` (TAKE12)."""
    if conf.disable_symlinks is not api.UNSET:
        raise cf.error('"disable_symlinks" directive is duplicate')
    args = cf.args[1:]
    mode: api.Symlinks | None = None
    from_: api.ComplexValue | None = None
    for word in args:
        if word in _MODES:
            if mode is not None:  # nginx's check: both words were a mode
                raise cf.error(f'duplicate parameters "{args[0]} {args[1]}"')
            mode = _MODES[word]
        elif word.startswith("from="):
            from_ = cf.compile(word[5:])
        else:
            raise cf.error(f'invalid parameter "{word}"')
    if mode is None:
        raise cf.error('"disable_symlinks" must have "off", "on" or "if_not_owner" parameter')
    if from_ is not None and mode is api.Symlinks.OFF:
        raise cf.error('"from=" cannot be used with "off" parameter')
    conf.disable_symlinks, conf.disable_symlinks_from = mode, from_


_NOT_FOUND = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)
# EMLINK and ELOOP: a symlink disable_symlinks refused (nginx's NGX_HAVE_OPENAT cases)
_FORBIDDEN = (errno.EACCES, errno.EPERM, errno.EMLINK, errno.ELOOP)


async def static_handler(r: api.Request) -> int:
    if r.method not in ("GET", "HEAD", "POST"):
        return 405
    if r.uri.endswith("/"):
        return api.DECLINED
    path = api.map_uri_to_path(r)
    if not path:
        return 500 if path is None else 404
    clcf = api.core_loc_conf(r)
    bpath = path.encode("latin-1")
    conf: StaticLocConf = MODULE.loc(r)
    mode, from_len = conf.disable_symlinks, 0
    if mode is not api.Symlinks.OFF:  # nginx's ngx_http_set_disable_symlinks
        cv = conf.disable_symlinks_from
        mode, from_len = api.symlinks_from(mode,  # type: ignore[arg-type]
                                           cv.evaluate(r) if cv else None, path)
    try:
        fd = api.open_file(bpath, mode, from_len)  # type: ignore[arg-type]
    except api.OpenError as e:
        msg = f'{e.syscall} "{path}" failed ({e.errno}: {e.strerror})'
        if e.errno in _NOT_FOUND:
            if clcf.log_not_found:
                api.log_error(r, logging.ERROR, msg)
            return 404
        if e.errno in _FORBIDDEN:
            api.log_error(r, logging.ERROR, msg)
            return 403
        api.log_error(r, logging.CRITICAL, msg)
        return 500
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return 500
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        location = api.escape_uri(r.uri) + "/"
        if r.args:
            location += "?" + r.args
        r.headers_out.location = location
        return 301
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        api.log_error(r, logging.CRITICAL, f'"{path}" is not a regular file')
        return 404
    r.cleanup.append(lambda: os.close(fd))
    if r.method == "POST":
        return 405
    if r is r.main:  # a subrequest has no body of its own to drop
        rc = await api.discard_request_body(r)
        if rc != api.OK:
            return rc
    api.set_log_action(r, "sending response to client")  # what the filters' errors say
    ho = r.headers_out
    ho.status = 200
    ho.content_length = st.st_size
    ho.last_modified = int(st.st_mtime)
    api.set_etag(r)
    api.set_content_type(r)
    r.allow_ranges = True
    rc = api.send_header(r)
    if rc != api.OK or r.header_only:
        if rc == api.OK:
            await api.output(r, [api.Buf(last=True)])
        return rc
    if st.st_size == 0:
        await api.output(r, [api.Buf(last=True)])
        return api.OK
    f = api.FileRef(fd, path, st.st_size, int(st.st_mtime))
    await api.output(r, [api.Buf(file=f, file_pos=0, file_last=st.st_size, last=True)])
    return api.OK


def _postconfiguration(cf: api.ConfContext) -> None:
    cf.add_phase_handler(api.Phase.CONTENT, static_handler)


MODULE = api.Module(
    name="http_static",
    loc_conf=StaticLocConf,
    directives=[api.Directive("disable_symlinks", api.Ctx.HTTP_ALL, api.Args.TAKE12,
                              _disable_symlinks)],
    postconfiguration=_postconfiguration,
)
