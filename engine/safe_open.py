"""Opening files with ``disable_symlinks`` (nginx's ``ngx_open_file_wrapper`` and friends).

Theory of operation
-------------------
With ``disable_symlinks off`` a path is opened with one ``open()``, following symlinks.  Otherwise
nginx never hands the whole path to the kernel: it opens ``/`` (or the ``from=`` prefix, which is
trusted and may contain symlinks), then walks the remaining components one ``openat()`` at a
time, each relative to the directory descriptor of the previous one.  So what is checked is
exactly what is opened: no window between a check and the open in which a component could be
swapped for a symlink.

- ``on``: every component is opened with ``O_NOFOLLOW``.  Directories are opened as nginx's
  ``NGX_FILE_SEARCH`` (``O_PATH|O_DIRECTORY``); on a symlink that fails with ``ENOTDIR``
  (so a symlinked directory in the middle of a path is a 404, as on nginx), and the last
  component fails with ``ELOOP`` (a 403).
- ``if_not_owner``: each component is opened following symlinks, then the owner of what was
  opened (``fstat``) is compared with the owner of the name itself (``fstatat`` without
  following); a difference is ``ELOOP``.  nginx compares even when the name is not a symlink,
  because it may have been one at the moment of the ``openat()``.
- A path ending in ``/`` reopens the last directory as ``.`` with the caller's flags.

The helpers here do only system calls (no trio, no requests), raise `OpenError` carrying the
name of the failing call (nginx logs ``open()`` or ``openat()`` accordingly), and leave no
descriptor open on failure.
"""

from __future__ import annotations

import enum
import errno
import os

__all__ = ["OpenError", "Symlinks", "file_info", "open_file", "symlinks_from"]


class Symlinks(enum.IntEnum):
    """The ``disable_symlinks`` modes (``NGX_DISABLE_SYMLINKS_*``)."""

    OFF = 0
    ON = 1
    IF_NOT_OWNER = 2


class OpenError(OSError):
    """An open failed; ``syscall`` is what nginx would name in its log (``openat()``)."""

    def __init__(self, err: int, syscall: str) -> None:
        super().__init__(err, os.strerror(err))
        self.syscall = syscall


# nginx's NGX_FILE_SEARCH on Linux: a directory we only walk through, never read
_SEARCH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
# nginx opens files to serve or test non-blocking, so a FIFO cannot hang the worker
FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def symlinks_from(mode: Symlinks, from_value: str | None, path: str) -> tuple[Symlinks, int]:
    """``ngx_http_set_disable_symlinks``: the mode and the length of the trusted prefix.

    ``from_value`` is the evaluated ``from=`` parameter.  It counts only when it is a prefix
    of ``path`` ending at a component boundary; equal to the path it turns checking off.

    Returns:
        (mode, from_len): ``from_len`` is 0 (check from ``/``) or the index of the ``/``
        after the trusted prefix.
    """
    if not from_value or len(from_value) > len(path) or not path.startswith(from_value):
        return mode, 0
    n = len(from_value)
    if n == len(path):
        return Symlinks.OFF, 0
    if path[n] == "/":
        return mode, n
    if path[n - 1] == "/":
        return mode, n - 1
    return mode, 0


def open_file(path: bytes, mode: Symlinks, from_len: int = 0, flags: int = FILE_FLAGS) -> int:
    """Open ``path`` under ``mode`` (``ngx_open_file_wrapper``).

    Args:
        path: the file system path (absolute in practice: root/alias are made absolute).
        mode: the ``disable_symlinks`` mode; OFF is a plain ``open()``.
        from_len: from `symlinks_from`: components before this offset are not checked.
        flags: the open flags of the last component.

    Returns:
        An open descriptor; the caller closes it.

    Raises:
        OpenError: with the errno and the failing call's name; nothing is left open.
        ValueError: a NUL in ``path``.
    """
    if mode is Symlinks.OFF:
        try:
            return os.open(path, flags)
        except OSError as e:
            raise OpenError(e.errno, "open()") from None
    p = 0
    at: int | None = None  # None: relative to the working directory
    try:
        if from_len:
            at = os.open(path[:from_len], _SEARCH)
            p = from_len + 1
        elif path[:1] == b"/":
            at = os.open(b"/", _SEARCH)
            p = 1
    except OSError as e:
        raise OpenError(e.errno, "open()") from None
    try:
        while True:
            cp = path.find(b"/", p)
            if cp < 0:
                break
            if cp == p:
                p += 1
                continue
            fd = _openat(at, path[p:cp], _SEARCH, mode)
            if at is not None:
                os.close(at)
            at, p = fd, cp + 1
        if p == len(path):
            return _openat(at, b".", flags, Symlinks.ON)
        return _openat(at, path[p:], flags, mode)
    finally:
        if at is not None:
            os.close(at)


def file_info(path: bytes, mode: Symlinks, from_len: int = 0) -> os.stat_result:
    """``ngx_file_info_wrapper``: ``stat()`` when OFF, else open as `open_file` does and
    ``fstat`` (so a symlink is refused exactly as for serving).

    Raises:
        OpenError: ``stat()`` or the failing open's name, with its errno.
    """
    if mode is Symlinks.OFF:
        try:
            return os.stat(path)
        except OSError as e:
            raise OpenError(e.errno, "stat()") from None
    fd = open_file(path, mode, from_len)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _openat(at: int | None, name: bytes, flags: int, mode: Symlinks) -> int:
    try:
        if mode is not Symlinks.IF_NOT_OWNER:
            return os.open(name, flags | os.O_NOFOLLOW, dir_fd=at)
        return _openat_owner(at, name, flags)
    except OSError as e:
        raise OpenError(e.errno, "openat()") from None


def _openat_owner(at: int | None, name: bytes, flags: int) -> int:
    """``ngx_openat_file_owner``: open following, then refuse (ELOOP) a name whose owner is
    not the owner of what was opened."""
    fd = os.open(name, flags, dir_fd=at)
    try:
        link_uid = os.stat(name, dir_fd=at, follow_symlinks=False).st_uid
        if os.fstat(fd).st_uid != link_uid:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
    except BaseException:
        os.close(fd)
        raise
    return fd
