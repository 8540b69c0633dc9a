"""Static files (``ngx_http_static_module``): the content handler of last resort.

Serves the file ``root``/``alias`` + URI with Last-Modified, ETag and a file-backed body
buffer (sent with sendfile when no filter needs the bytes).  A directory answers 301 with a
slash appended.  Errors follow nginx: missing → 404, permission → 403, other → 500.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from engine import api

__all__ = ["MODULE"]

_NOT_FOUND = (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG)


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
    try:
        fd = os.open(bpath, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in _NOT_FOUND:
            if clcf.log_not_found:
                api.log_error(r, logging.ERROR,
                              f'open() "{path}" failed ({e.errno}: {e.strerror})')
            return 404
        if e.errno in (errno.EACCES, errno.ELOOP, errno.EPERM):
            api.log_error(r, logging.ERROR, f'open() "{path}" failed ({e.errno}: {e.strerror})')
            return 403
        api.log_error(r, logging.CRITICAL, f'open() "{path}" failed ({e.errno}: {e.strerror})')
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
    rc = await api.discard_request_body(r)
    if rc != api.OK:
        return rc
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


MODULE = api.Module(name="http_static", postconfiguration=_postconfiguration)
