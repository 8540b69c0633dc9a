"""``log`` (``ngx_http_log_module``): the access log.

Directives::

    log_format name [escape=default|json|none] string ...;       (http)
    access_log path [format [buffer=size] [gzip[=level]] [flush=time] [if=condition]];
    access_log off;                (http, server, location, if in location, limit_except)
    open_log_file_cache off | max=N [inactive=time] [min_uses=N] [valid=time];  (accepted)

Theory of operation
-------------------
Everything that can be decided at configuration time is: a format compiles to a tuple of
(literal, variable) pairs with its escaping chosen once; each ``access_log`` becomes an
``AccessLog`` (file, format, condition); a location's logs merge into one tuple, empty for
``access_log off`` (so the log-phase handler costs one attribute lookup there).  Files are
shared by path, opened once per cycle with ``O_APPEND`` (one ``write`` per line, as nginx
does, so lines from concurrent writers never interleave), closed by the cycle's cleanup and
reopened on USR1.  Paths with variables are opened per line, as nginx does without
``open_log_file_cache``.

``access_log`` is a list directive: a level with any ``access_log`` replaces the outer ones.
Where no level sets one, the default is ``logs/access.log combined`` under the prefix.

Variable values are escaped (``default``: ``"``, ``\\``, bytes < 0x20 and >= 0x7F as
``\\xHH``; ``json``: JSON string escapes); literals are not.  A variable that is not found
prints ``-`` (``default``, ``none``) or nothing (``json``).

Differences from nginx, on purpose or not yet done: ``buffer=`` is flushed when full, at a
line written after ``flush=`` time has passed, on USR1 and when the cycle ends (nginx also
has a timer); ``gzip`` writes each flushed buffer as one gzip member, like nginx.  ``syslog:``
targets are refused.  ``open_log_file_cache`` is accepted and has no effect.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from engine import api

__all__ = ["MODULE", "LogMainConf", "LogLocConf", "LogFormat", "LogFile", "AccessLog",
           "escape_default", "escape_json"]

COMBINED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"')

# --- escaping -------------------------------------------------------------------------------------

_DEFAULT_TABLE = {c: f"\\x{c:02X}" for c in [*range(0x20), 0x22, 0x5C, *range(0x7F, 0x100)]}
_DEFAULT_NEEDS = re.compile(r'[\x00-\x1f"\\\x7f-\xff]')
_JSON_TABLE = {c: f"\\u{c:04X}" for c in range(0x20)}
_JSON_TABLE.update({0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
                    0x08: "\\b", 0x0C: "\\f"})
_JSON_NEEDS = re.compile(r'[\x00-\x1f"\\]')


def escape_default(value: str) -> str:
    """nginx's ngx_http_log_escape: ``\\xHH`` (uppercase) for quotes, backslash, controls."""
    return value.translate(_DEFAULT_TABLE) if _DEFAULT_NEEDS.search(value) else value


def escape_json(value: str) -> str:
    """nginx's ngx_escape_json (bytes >= 0x80 pass through)."""
    return value.translate(_JSON_TABLE) if _JSON_NEEDS.search(value) else value


def _escape_none(value: str) -> str:
    return value


_ESCAPES = {"default": escape_default, "json": escape_json, "none": _escape_none}

# --- confs -------------------------------------------------------------------------------------------


class LogFormat:
    """A compiled ``log_format``: literal/variable pairs, rendered with one join."""

    __slots__ = ("name", "ops", "escape", "unset")

    def __init__(self, name: str, ops: list[tuple[str, Any]], escape: str) -> None:
        self.name = name
        self.ops = tuple(ops)  # (literal, variable ref or None)
        self.escape = _ESCAPES[escape]
        self.unset = "" if escape != "default" else "-"  # what a not-found variable prints

    def render(self, r: api.Request) -> str:
        out = []
        esc, unset = self.escape, self.unset
        for text, ref in self.ops:
            if ref is None:
                out.append(text)
                continue
            value = ref.getter(r)
            if value is None:
                out.append(unset)
            elif value:
                out.append(esc(value))
        out.append("\n")
        return "".join(out)


class _Pipe:
    """nginx's ``$pipe``, a log-module built-in rather than a variable: "p" for a request
    read from what the client sent with the previous one, else a dot."""

    __slots__ = ("getter",)

    def __init__(self) -> None:
        self.getter = lambda r: "p" if r.main.pipeline else "."


class LogFile:
    """One log file of a cycle, shared by every ``access_log`` naming its path.

    Resource handling: ``open`` at the end of configuration, ``reopen`` on USR1, ``close``
    from the cycle's cleanup.  A request still running on a cycle whose files were closed
    (a reload) writes with a one-off open, so its line is not lost.
    """

    __slots__ = ("path", "fd", "used", "buffer_size", "flush_ms", "gzip_level", "buf",
                 "last_flush")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.used = False
        self.buffer_size = 0
        self.flush_ms = 0
        self.gzip_level = 0
        self.buf = bytearray()
        self.last_flush = time.monotonic()

    def open(self) -> None:
        self.fd = _open_append(self.path)

    def write(self, data: bytes) -> None:
        if self.buffer_size:
            self.buf += data
            if (len(self.buf) >= self.buffer_size or (
                    self.flush_ms and (time.monotonic() - self.last_flush) * 1000
                    >= self.flush_ms)):
                self.flush()
            return
        self._write(data)

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buf:
            return
        data = bytes(self.buf)
        self.buf.clear()
        if self.gzip_level:
            data = gzip.compress(data, compresslevel=self.gzip_level)
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            if self.fd >= 0:
                os.write(self.fd, data)
                return
            fd = _open_append(self.path)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            pass  # nginx logs the failure to the error log at most once a second; trinx drops

    def reopen(self) -> None:
        self.flush()
        try:
            fd = _open_append(self.path)
        except OSError:
            return  # keep writing to the old file, as nginx does when reopening fails
        old, self.fd = self.fd, fd
        if old >= 0:
            os.close(old)

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _open_append(path: str) -> int:
    return os.open(path.encode("latin-1"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                   0o644)


@dataclass(frozen=True, kw_only=True)
class AccessLog:
    """One ``access_log``: a shared file (or a path with variables), a format, a condition."""

    file: LogFile | None
    path: api.ComplexValue | None
    fmt: LogFormat
    cond: api.ComplexValue | None


@dataclass
class LogMainConf:
    formats: dict[str, LogFormat] = field(default_factory=dict)
    files: dict[str, LogFile] = field(default_factory=dict)
    default_log: AccessLog | None = None

    def merge(self, parent: "LogMainConf") -> None:
        pass


@dataclass
class LogLocConf:
    logs: list[AccessLog] | api.Unset = api.UNSET
    off: bool = False
    # the http level's default (``logs/access.log combined``), carried down by merge
    default: list[AccessLog] = field(default_factory=list)
    # what the log phase reads: () when off
    active: tuple[AccessLog, ...] = ()

    def merge(self, parent: "LogLocConf") -> None:
        self.default = parent.default
        if self.off:
            self.logs = []
        elif self.logs is api.UNSET:
            self.off = parent.off
            if parent.off or parent.logs is not api.UNSET:
                self.logs = parent.logs
            else:
                self.logs = self.default
                for log in self.default:
                    log.file.used = True  # type: ignore[union-attr]
        self.active = () if self.off else tuple(self.logs)  # type: ignore[arg-type]


# --- directives ------------------------------------------------------------------------------------

_NAME_CHAR = re.compile(r"[A-Za-z0-9_]*")


def compile_format(cf: api.ConfContext, name: str, escape: str, words: list[str]) -> LogFormat:
    """Compile a format as ngx_http_log_compile_format does (variables resolved at the end)."""
    ops: list[tuple[str, Any]] = []
    for word in words:
        i, n = 0, len(word)
        while i < n:
            if word[i] != "$":
                j = word.find("$", i + 1)
                j = n if j < 0 else j
                ops.append((word[i:j], None))
                i = j
                continue
            start = i
            i += 1
            if i == n:
                raise cf.error(f'invalid parameter "{word[start:]}"')
            bracket = word[i] == "{"
            if bracket:
                i += 1
                if i == n:
                    raise cf.error(f'invalid parameter "{word[start:]}"')
            m = _NAME_CHAR.match(word, i)
            assert m is not None
            var, i = m.group(), m.end()
            if bracket:
                if i < n and word[i] == "}":
                    i += 1
                else:
                    raise cf.error(f'the closing bracket in "{var}" variable is missing')
            if not var:
                raise cf.error(f'invalid parameter "{word[start:]}"')
            if var.lower() == "pipe":
                ops.append(("", _Pipe()))
            else:
                ops.append(("", cf.cycle.variables.ref(var)))
    return LogFormat(name, _merge_literals(ops), escape)


def _merge_literals(ops: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for text, ref in ops:
        if ref is None and out and out[-1][1] is None:
            out[-1] = (out[-1][0] + text, None)
        else:
            out.append((text, ref))
    return out


def _log_format(cf: api.ConfContext, cmd: api.Directive, conf: LogMainConf) -> None:
    name = cf.args[1]
    if name in conf.formats:
        raise cf.error(f'duplicate "log_format" name "{name}"')
    words = list(cf.args[2:])
    escape = "default"
    if words and words[0].startswith("escape="):
        escape = words.pop(0)[7:]
        if escape not in _ESCAPES:
            raise cf.error(f'unknown log format escaping "{escape}"')
    conf.formats[name] = compile_format(cf, name, escape, words)


def _access_log(cf: api.ConfContext, cmd: api.Directive, conf: LogLocConf) -> None:
    args = cf.args
    if args[1] == "off":
        conf.off = True
        if len(args) == 2:
            return
        raise cf.error(f'invalid parameter "{args[2]}"')
    if args[1].startswith("syslog:"):
        raise cf.error(f'syslog is not supported by trinx in "{args[1]}"')
    mconf: LogMainConf = cf.main_conf[MODULE]
    fmt_name = args[2] if len(args) > 2 else "combined"
    params = args[3:]
    fmt = mconf.formats.get(fmt_name)
    if fmt is None:
        raise cf.error(f'unknown log format "{fmt_name}"')
    size, flush_ms, level, cond = 0, 0, 0, None
    for p in params:
        if p.startswith("buffer="):
            v = api.parse_size(p[7:])
            if v is None:
                raise cf.error(f'invalid buffer size "{p[7:]}"')
            size = v
        elif p.startswith("flush="):
            v = api.parse_time(p[6:])
            if v is None:
                raise cf.error(f'invalid flush time "{p[6:]}"')
            flush_ms = v
        elif p == "gzip" or p.startswith("gzip="):
            level = 1 if p == "gzip" else _gzip_level(p[5:])
            if not 1 <= level <= 9:
                raise cf.error(f'invalid compression level "{p[5:]}"')
        elif p.startswith("if="):
            cond = cf.compile(p[3:])
        else:
            raise cf.error(f'invalid parameter "{p}"')
    if level and not size:
        size = 64 * 1024  # nginx: gzip without buffer= gets a 64k buffer
    if flush_ms and not size:
        raise cf.error(f'no buffer is defined for access_log "{args[1]}"')
    path_cv = cf.compile(args[1])
    if path_cv.const is None:
        if size:
            raise cf.error(f'buffered logs cannot have variables in name "{args[1]}"')
        path = args[1] if args[1].startswith("/") else cf.full_path("") + args[1]
        log = AccessLog(file=None, path=cf.compile(path), fmt=fmt, cond=cond)
    else:
        log = AccessLog(file=_file(cf, mconf, args[1], size, flush_ms, level), path=None,
                        fmt=fmt, cond=cond)
    if conf.logs is api.UNSET:
        conf.logs = []
    conf.logs.append(log)


def _gzip_level(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _file(cf: api.ConfContext, mconf: LogMainConf, path: str, size: int, flush_ms: int,
          level: int) -> LogFile:
    full = cf.full_path(path)
    f = mconf.files.get(full)
    if f is None:
        f = mconf.files[full] = LogFile(full)
        f.buffer_size, f.flush_ms, f.gzip_level = size, flush_ms, level
    elif size and (f.buffer_size, f.flush_ms, f.gzip_level) != (size, flush_ms, level):
        raise cf.error(f'access_log "{path}" already defined with conflicting parameters')
    f.used = True
    return f


def _open_log_file_cache(cf: api.ConfContext, cmd: api.Directive, conf: LogLocConf) -> None:
    args = cf.args[1:]
    if args == ("off",):
        return
    has_max = False
    for a in args:
        key, eq, value = a.partition("=")
        ok = False
        if eq and key in ("max", "min_uses"):
            ok = value.isdigit() and int(value) > 0
            has_max = has_max or (key == "max" and ok)
        elif eq and key in ("inactive", "valid"):
            ok = api.parse_time(value) is not None
        if not ok:
            raise cf.error(f'invalid "open_log_file_cache" parameter "{a}"')
    if not has_max:
        raise cf.error('"open_log_file_cache" must have "max" parameter')


# --- hooks and the log-phase handler --------------------------------------------------------------

def _preconfiguration(cf: api.ConfContext) -> None:
    mconf: LogMainConf = cf.main_conf[MODULE]
    fmt = compile_format(cf, "combined", "default", [COMBINED])
    mconf.formats["combined"] = fmt
    default_file = LogFile(cf.full_path("logs/access.log"))
    mconf.files.setdefault(default_file.path, default_file)
    default_file = mconf.files[default_file.path]
    default_file.used = False
    lconf: LogLocConf = cf.loc_conf[MODULE]
    lconf.default = [AccessLog(file=default_file, path=None, fmt=fmt, cond=None)]


def _postconfiguration(cf: api.ConfContext) -> None:
    mconf: LogMainConf = cf.main_conf[MODULE]
    opened: list[LogFile] = []
    cycle = cf.cycle
    cycle.cleanup.append(lambda: _close_all(opened))

    def open_files() -> None:
        """Run by the cycle once the configuration is checked (nginx's open_files)."""
        for f in mconf.files.values():
            if not f.used:
                continue
            try:
                f.open()
            except OSError as e:
                _close_all(opened)
                raise api.ConfigError(f'open() "{f.path}" failed ({e.errno}: {e.strerror})'
                                      ) from None
            opened.append(f)
        cycle.reopen.extend(f.reopen for f in opened)

    cycle.openers.append(open_files)
    cf.add_phase_handler(api.Phase.LOG, log_handler)


def _close_all(files: list[LogFile]) -> None:
    for f in files:
        try:
            f.close()
        except OSError:
            pass
    files.clear()


def log_handler(r: api.Request) -> None:
    logs = MODULE.loc(r).active
    if not logs or (r is not r.main and not api.core_loc_conf(r).log_subrequest):
        return
    for log in logs:
        if log.cond is not None:
            v = log.cond.evaluate(r)
            if not v or v == "0":
                continue
        data = log.fmt.render(r).encode("latin-1", "replace")
        if log.file is not None:
            log.file.write(data)
        else:
            _write_to(log.path.evaluate(r), data, r)  # type: ignore[union-attr]


def _write_to(path: str, data: bytes, r: api.Request) -> None:
    try:
        fd = _open_append(path)
    except OSError as e:
        api.log_error(r, logging.CRITICAL, f'open() "{path}" failed ({e.errno}: {e.strerror})')
        return
    try:
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)


_LOG_CTX = api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC | api.Ctx.LIF | api.Ctx.LMT

MODULE = api.Module(
    name="http_log",
    main_conf=LogMainConf,
    loc_conf=LogLocConf,
    directives=[
        api.Directive("log_format", api.Ctx.HTTP, api.Args.TWO_MORE, _log_format,
                      api.ConfLevel.MAIN),
        api.Directive("access_log", _LOG_CTX, api.Args.ONE_MORE, _access_log),
        api.Directive("open_log_file_cache", api.Ctx.HTTP | api.Ctx.SRV | api.Ctx.LOC,
                      api.Args.TAKE1234, _open_log_file_cache),
    ],
    preconfiguration=_preconfiguration,
    postconfiguration=_postconfiguration,
)
