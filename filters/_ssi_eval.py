"""The sans-IO half of the SSI filter: string evaluation, ``if`` expressions, echo
encodings and include-URI checks, exactly as reference/ssi.md §5-§6 describes nginx 1.22.

Values are ``str`` holding bytes as latin-1 (one character per byte), so escaping and
percent-encoding work byte by byte as nginx's do.  Variable lookup is a callable supplied
by the filter (``Lookup``): it returns the value, or None for an unset variable.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from engine.variables import pcre_message, pcre_to_python

__all__ = ["SSIError", "Lookup", "evaluate", "parse_expr", "eval_expr", "encode",
           "unsafe_uri", "percent_decode", "Expr", "format_date", "TIMEFMT"]

Lookup = Callable[[str], "str | None"]


class SSIError(Exception):
    """A command fails; the message is nginx's error-log text."""


_NAME = re.compile(r"[A-Za-z0-9_]+")


def evaluate(raw: str, lookup: Lookup) -> str:
    """nginx's ``ngx_http_ssi_evaluate_string`` (ssi.md §5.2).

    Raises:
        SSIError: ``$`` not followed by a name, or ``${name`` without ``}``.
    """
    if "$" not in raw and "\\" not in raw:
        return raw
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n:
            nxt = raw[i + 1]
            out.append(nxt if nxt in "\\'\"$" else c + nxt)
            i += 2
            continue
        if c != "$":
            out.append(c)
            i += 1
            continue
        i += 1
        if i < n and raw[i] == "{":
            m = _NAME.match(raw, i + 1)
            if not m:
                raise SSIError(f'invalid variable name in "{raw}"')
            if m.end() >= n or raw[m.end()] != "}":
                raise SSIError(f'the closing bracket in "{m.group()}" variable is missing')
            name, i = m.group(), m.end() + 1
        else:
            m = _NAME.match(raw, i)
            if not m:
                raise SSIError(f'invalid variable name in "{raw}"')
            name, i = m.group(), m.end()
        value = lookup(name.lower())
        if value:
            out.append(value)
    return "".join(out)


# --- if expressions ---------------------------------------------------------------------------

_LEFT = re.compile(r"[A-Za-z0-9_${}\"']*")


class Expr:
    """A parsed ``expr=``: LEFT alone, or LEFT op RIGHT (``regex`` when RIGHT is /.../)."""

    __slots__ = ("left", "op", "right", "regex")

    def __init__(self, left: str, op: str | None, right: str, regex: bool) -> None:
        self.left, self.op, self.right, self.regex = left, op, right, regex


def parse_expr(expr: str) -> Expr:
    """Split an ``if`` expression as ``ngx_http_ssi_if`` does (ssi.md §6.5).

    Raises:
        SSIError: ``invalid expression in "..."``.
    """
    m = _LEFT.match(expr)
    left = m.group() if m else ""
    pos = len(left)
    if pos == len(expr):  # an empty expression is false, not an error (nginx 1.22)
        return Expr(_lower_literal(left), None, "", False)
    while pos < len(expr) and expr[pos] == " ":
        pos += 1
    if expr.startswith("!=", pos):
        op, pos = "!=", pos + 2
    elif expr.startswith("=", pos):
        op, pos = "=", pos + 1
    else:
        raise SSIError(f'invalid expression in "{expr}"')
    while pos < len(expr) and expr[pos] == " ":
        pos += 1
    right = expr[pos:]
    if right.startswith("/") and len(right) > 1:  # a lone "/" is a string (nginx 1.22)
        if not right.endswith("/"):
            raise SSIError(f'invalid expression in "{expr}"')
        return Expr(_lower_literal(left), op, right[1:-1], True)
    return Expr(_lower_literal(left), op, right, False)


def _lower_literal(left: str) -> str:
    """Uppercase letters of LEFT's literal text are lowercased; variable names are looked
    up lowercased anyway, so lowercasing the whole text is the same thing."""
    return left.lower() if any("A" <= c <= "Z" for c in left) else left


def eval_expr(e: Expr, lookup: Lookup) -> tuple[bool, "re.Match[str] | None"]:
    """Evaluate; returns the truth and, for a successful regex match, the match.

    Raises:
        SSIError: a variable syntax error, or a regex that does not compile.
    """
    left = evaluate(e.left, lookup)
    if e.op is None:
        return bool(left), None
    right = evaluate(e.right, lookup)
    if e.regex:
        try:
            rx = re.compile(pcre_to_python(right), re.ASCII)  # PCRE2 without UTF, as nginx
        except re.error as err:
            raise SSIError(pcre_message(right, err)) from None
        m = rx.search(left)
        return (m is not None) == (e.op == "="), m
    return (left == right) == (e.op == "="), None


# --- echo encodings ---------------------------------------------------------------------------

_ENTITY = {ord("<"): "&lt;", ord(">"): "&gt;", ord("&"): "&amp;", ord('"'): "&quot;"}
_URL_SAFE = frozenset(b"&+;=?/:~!$()*,@[]-._" + bytes(range(0x30, 0x3A))
                      + bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B)))
_URL = {c: (chr(c) if c in _URL_SAFE else "%%%02X" % c) for c in range(256)}


def encode(value: str, mode: str) -> str:
    if mode == "entity":
        return value.translate(_ENTITY)
    if mode == "url":
        return "".join(_URL[ord(c)] for c in value)
    return value


# --- include URIs -----------------------------------------------------------------------------

_HEX = "0123456789abcdefABCDEF"


def percent_decode(path: str) -> str:
    """nginx's ``ngx_unescape_uri`` as SSI uses it (ssi.md §6.4 step 4)."""
    out: list[str] = []
    i, n = 0, len(path)
    while i < n:
        c = path[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 < n and path[i + 1] in _HEX:
            if i + 2 < n and path[i + 2] in _HEX:
                out.append(chr(int(path[i + 1:i + 3], 16)))
            i += 3  # "%" + hex + non-hex: all three are dropped
            continue
        i += 1  # "%" + non-hex: the "%" is dropped
    return "".join(out)


def unsafe_uri(path: str) -> bool:
    """The checks of ``ngx_http_parse_unsafe_uri`` that SSI relies on."""
    return (not path or path[0] == "?" or path == ".." or path.startswith("../")
            or "/../" in path or path.endswith("/..") or "\x00" in path)


# --- $date_local / $date_gmt ------------------------------------------------------------------

TIMEFMT = "%A, %d-%b-%Y %H:%M:%S %Z"
_DATE_MAX = 2048  # nginx formats into a buffer of NGX_HTTP_SSI_DATE_LEN bytes


def format_date(fmt: str, now: float, gmt: bool) -> str | None:
    """``ngx_http_ssi_date_gmt_local_variable`` (ssi.md §5.3); None where nginx fails (a
    format that yields nothing, or more than the buffer holds)."""
    if fmt == "%s":
        return str(int(now))
    if gmt:
        # glibc names the zone of a gmtime() result "GMT"; Python's says "UTC"
        tm = time.struct_time(tuple(time.gmtime(now)[:9]) + ("GMT", 0))  # type: ignore[arg-type]
    else:
        tm = time.localtime(now)
    try:
        value = time.strftime(fmt, tm)
    except (ValueError, UnicodeError):
        return None
    return value if 0 < len(value.encode("latin-1", "replace")) < _DATE_MAX else None
