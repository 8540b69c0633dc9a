"""Small shared helpers: cached HTTP dates and nginx's log time formats."""

from __future__ import annotations

import time
from email.utils import formatdate

__all__ = ["http_date", "time_local", "time_iso8601", "escape_uri"]

_cache_sec = -1
_cache_val = ""


_dates: dict[int, str] = {}


def http_date(ts: float | None = None) -> str:
    """IMF-fixdate; the current time is cached per second since every response needs it,
    and file times (Last-Modified) in a small cache since the same files are served often."""
    global _cache_sec, _cache_val
    if ts is not None:
        its = int(ts)
        v = _dates.get(its)
        if v is None:
            if len(_dates) > 4096:
                _dates.clear()
            v = _dates[its] = formatdate(its, usegmt=True)
        return v
    now = int(time.time())
    if now != _cache_sec:
        _cache_val = formatdate(now, usegmt=True)
        _cache_sec = now
    return _cache_val


def time_local(ts: float) -> str:
    """``23/Nov/2026:02:09:11 +0000`` (``$time_local``)."""
    t = time.localtime(ts)
    off = t.tm_gmtoff
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return time.strftime("%d/%b/%Y:%H:%M:%S ", t) + f"{sign}{off // 3600:02d}{off % 3600 // 60:02d}"


def time_iso8601(ts: float) -> str:
    t = time.localtime(ts)
    off = t.tm_gmtoff
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


# characters nginx escapes in a redirect Location (NGX_ESCAPE_URI-ish for the path)
_SAFE = set(range(0x21, 0x7F)) - {ord(c) for c in ' "#%<>?\\^`{|}'}
_ESCAPE = [chr(b) if b in _SAFE else f"%{b:02X}" for b in range(256)]


def escape_uri(uri: str) -> str:
    """Percent-escape a decoded URI for a Location header (uppercase hex, like nginx)."""
    return "".join(_ESCAPE[ord(c)] if ord(c) < 256 else c for c in uri)
