"""The error log: nginx's line format, levels, reopen on USR1.

``2026/11/23 02:08:40 [error] 12040#12040: *3 message, client: ..., request: "..."``
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

__all__ = ["ErrorLog", "LEVELS", "level_value"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO + 5,
          "warn": logging.WARNING, "error": logging.ERROR, "crit": logging.CRITICAL,
          "alert": logging.CRITICAL + 5, "emerg": logging.CRITICAL + 10}
_NAMES = {v: k for k, v in LEVELS.items()}
# nginx's exact start-up output with "-e stderr" (time-stamped lines only); off until the
# tests that parse "nginx: [emerg] ..." from "-e stderr" runs read both forms
STDERR_AS_NGINX = False


MAX_ERROR_STR = 2048  # NGX_MAX_ERROR_STR: nginx's longest log line, newline included


def level_value(name: str) -> int:
    return LEVELS[name]


class ErrorLog:
    """A set of (file, minimum level) targets; ``stderr`` is a valid target."""

    def __init__(self, targets: list[tuple[str, str]]) -> None:
        self.targets = targets
        self._files: list[tuple[TextIO, int, bool]] = []
        self.open()

    def open(self) -> None:
        """(Re)open the targets; failure raises OSError (start-up reports it)."""
        files: list[tuple[TextIO, int, bool]] = []
        for path, level in self.targets:
            if path == "stderr":
                files.append((sys.stderr, LEVELS[level], False))
            else:
                files.append((open(path, "a", buffering=1, encoding="latin-1",
                                   errors="replace"), LEVELS[level], True))
        old = self._files
        self._files = files
        for f, _, owned in old:
            if owned:
                f.close()

    def reopen(self) -> None:
        try:
            self.open()
        except OSError as e:
            self.log(logging.ERROR, f"reopen failed: {e}")

    def close(self) -> None:
        for f, _, owned in self._files:
            if owned:
                f.close()
        self._files = []

    def enabled(self, level: int) -> bool:
        return any(level >= lv for _, lv, _ in self._files)

    def log_startup(self, level: int, message: str) -> None:
        """Log as nginx does before the server runs (``ngx_use_stderr``): the line goes to
        the files, and a warning or worse is also printed on stderr as ``nginx: [level]
        message``.

        One difference, kept on purpose for now: when a target is ``stderr`` itself
        (``-e stderr``), nginx writes only its time-stamped line there; trinx prints the
        ``nginx: [level]`` form instead (many tests of other modules read that form; see
        `STDERR_AS_NGINX` to switch).
        """
        if STDERR_AS_NGINX:
            self.log(level, message)
            took = any(not owned and level >= lv for _, lv, owned in self._files)
        else:
            self.log(level, message, files_only=True)
            took = False
        if level >= logging.WARNING and not took:
            print(f"nginx: [{_NAMES.get(level, 'error')}] {message}", file=sys.stderr)

    def log(self, level: int, message: str, files_only: bool = False) -> None:
        """Write one line to every target whose level admits it.

        ``files_only`` skips a ``stderr`` target: used when the message was already printed
        to stderr in the ``nginx: [emerg] ...`` form, so a terminal shows it once.
        """
        if not self.enabled(level):
            return
        pid = os.getpid()
        line = (f"{time.strftime('%Y/%m/%d %H:%M:%S')} [{_NAMES.get(level, 'error')}] "
                f"{pid}#{pid}: {message}")
        # nginx formats a line into NGX_MAX_ERROR_STR (2048) bytes, newline included
        line = line[:MAX_ERROR_STR - 1] + "\n"
        for f, lv, owned in self._files:
            if level >= lv and (owned or not files_only):
                try:
                    _write(f, line, owned)
                except (OSError, ValueError):
                    pass


def _write(f: TextIO, line: str, owned: bool) -> None:
    """One line, its characters as the bytes they came from (latin-1, as the files are
    opened): nginx writes a client's or an upstream's bytes as received, and stderr's own
    encoding (UTF-8) would turn a byte such as 0xE9 into two."""
    buffer = None if owned else getattr(f, "buffer", None)
    if buffer is None:
        f.write(line)
        f.flush()
        return
    f.flush()  # what was printed before goes first
    buffer.write(line.encode("latin-1", "replace"))
    buffer.flush()
