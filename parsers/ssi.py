"""The SSI tag lexer, as nginx 1.22's ``ngx_http_ssi_parse`` scans (ssi.md §3, §3.4, §4).

Theory of operation
-------------------
The grammar below compiles into one DFA.  Text is the language "no ``<!--#`` in it"; the
compiler turns its loop into a ``bytes.find(b"<!--#")`` skip, so tag-sparse pages are scanned
at memory speed.  Inside a tag every nginx state has a DFA counterpart, and nginx's error
messages are error actions on the matching sub-machines.  The three length limits (command
and parameter names: 32 bytes, values: ``ssi_value_length``) and the 16-parameter limit are
counters in actions; going over one jumps, at that very byte, to the error-recovery machine
``skip``, which is nginx's ``ssi_error_state``: everything up to the next ``-->`` is the bad
tag (``--->`` does not end it).  A ``-`` in a parameter name jumps one state further
(nginx goes straight to ``ssi_error_end0_state`` there).

What the lexer emits, in stream order:

* :class:`Text` for bytes that are not part of a tag, as soon as they are known to be text.
  Only a partial opener at the end of a chunk (``<``, ``<!``, ``<!-``, ``<!--``, at most 4
  bytes) is held back, inside the lexer, until the next chunk decides; a filter never has to
  keep anything.  Text before a tag is emitted when the ``#`` of its opener is seen, before
  the tag itself is complete.  Text data is a zero-copy memoryview of the caller's chunk
  when it is ``bytes`` (other buffer types are copied once per feed), or small bytes for
  held-back bytes;
* :class:`Tag` for a well-formed tag: command and raw parameter values (backslashes kept);
  checking command and parameter names is the filter's job (nginx does it after parsing);
* :class:`TagError` for a malformed tag, spanning up to and including the ``-->`` that ended
  the error skip, with nginx's log message.

At end of body (``finish``) a partial opener or an unfinished tag is dropped (ssi.md §3.4).
How text is cut into Text events depends on the chunking; the concatenation does not, and
Tag/TagError events do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from ._compile import compile_machine
from ._dsl import (Action, Expr, any_but, any_byte, byte_in, cat, diff, lit, opt, plus,
                   star)
from ._runner import Chunk, Machine

__all__ = ["Text", "Tag", "TagError", "SSIEvent", "SSILexer", "SSI_MACHINE",
           "COMMAND_LEN", "PARAM_LEN", "MAX_PARAMS", "DEFAULT_VALUE_LEN"]

COMMAND_LEN = 32        # NGX_HTTP_SSI_COMMAND_LEN
PARAM_LEN = 32          # NGX_HTTP_SSI_PARAM_LEN
MAX_PARAMS = 16         # NGX_HTTP_SSI_MAX_PARAMS
DEFAULT_VALUE_LEN = 255  # ssi_value_length default
OPENER = b"<!--#"


@dataclass(frozen=True, kw_only=True)
class Text:
    """Literal bytes at absolute offset ``start`` of the body."""

    start: int
    data: Union[bytes, memoryview]

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass(frozen=True, kw_only=True)
class Tag:
    """A well-formed ``<!--#command name="value" ... -->`` at ``[start, end)``."""

    start: int
    end: int
    command: bytes
    params: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, kw_only=True)
class TagError:
    """A malformed tag at ``[start, end)``; ``message`` is nginx's error log text."""

    start: int
    end: int
    message: str


SSIEvent = Union[Text, Tag, TagError]

# The lexer's hot path builds events without the frozen dataclass __init__, which goes
# through object.__setattr__ per field (about 1 us per event, a third of the time per tag on
# a tag-dense page).  The objects are the same: equal, hashable, still frozen.
_new = object.__new__


def _text(start: int, data: Union[bytes, memoryview]) -> Text:
    ev = _new(Text)
    ev.__dict__.update(start=start, data=data)
    return ev


def _tag(start: int, end: int, command: bytes, params: tuple[tuple[bytes, bytes], ...]) -> Tag:
    ev = _new(Tag)
    ev.__dict__.update(start=start, end=end, command=command, params=params)
    return ev


def _q(b: bytes) -> str:
    return b.decode("latin-1")


# -- actions ---------------------------------------------------------------------------------
# Each is fn(lexer, byte, offset).  A returned int is the state to continue in (error jumps).

def _open(lx: SSILexer, c: int, o: int) -> tuple[int, int] | None:
    start = lx._tag_start = o - 4
    ts, base = lx._text_start, lx._base
    if start > ts >= base:  # the common case of _emit_text, inlined: text in this chunk
        lx._events.append(_text(ts, lx._view[ts - base:start - base]))
        lx._text_start = start
    else:
        lx._emit_text(start)
        lx._held = b""
    if lx.fast_tags:
        # Fast path: a well-formed tag wholly inside this chunk is matched by one regex and
        # the machine resumes after it, in the text state (Ragel's fexec + fgoto).
        m = _FAST_TAG.match(lx._chunk, o + 1 - base)
        if m is not None:
            limit = lx.value_len
            if m[6]:
                # findall gives b"" for the quote style not used: "" or '' is b"" either way
                found = _FAST_PARAM.findall(lx._chunk, m.start(2), m.end(2))
                params = tuple([(k, dq or sq) for k, dq, sq in found])
                ok = len(params) <= MAX_PARAMS and all(
                    len(dq) <= limit and len(sq) <= limit for _, dq, sq in found)
            elif m[3] is not None:
                value = m[4] if m[4] is not None else m[5]
                params, ok = ((m[3], value),), len(value) <= limit
            else:
                params, ok = (), True
            if ok:
                end = base + m.end()
                lx._events.append(_tag(start, end, m[1], params))
                lx._text_start = end
                return _TEXT, end
    lx._cmd, lx._key, lx._params, lx._error = b"", b"", [], ""
    return None


def _mark(lx: SSILexer, c: int, o: int) -> None:
    lx._mark, lx._n = o, 0


def _mark_next(lx: SSILexer, c: int, o: int) -> None:
    lx._mark, lx._n = o + 1, 0


def _cmd_end(lx: SSILexer, c: int, o: int) -> None:
    lx._cmd = lx._token(o)


def _param_start(lx: SSILexer, c: int, o: int) -> int | None:
    if len(lx._params) == MAX_PARAMS:
        return lx._fail(f'too many SSI command parameters: "{_q(lx._cmd)}"')
    lx._mark, lx._n = o, 0
    return None


def _param_end(lx: SSILexer, c: int, o: int) -> None:
    lx._key = lx._token(o)


def _value_close(lx: SSILexer, c: int, o: int) -> None:
    lx._params.append((lx._key, lx._token(o)))


def _counter(limit_attr: str | None, limit: int, message: str) -> Action:
    """A counting ``$`` action: on the (limit+1)-th byte, fail with ``message``."""
    def fn(lx: SSILexer, c: int, o: int) -> int | None:
        lx._n += 1
        if lx._n > (getattr(lx, limit_attr) if limit_attr else limit):
            tok = _q(lx._token(o) + bytes([c]))
            return lx._fail(message.format(tok=tok, key=_q(lx._key), cmd=_q(lx._cmd)))
        return None

    def span(lx: SSILexer, o: int, n: int) -> int:
        room = (getattr(lx, limit_attr) if limit_attr else limit) - lx._n
        take = n if n <= room else max(room, 0)
        lx._n += take
        return take

    return Action(name=f"count_{limit_attr or limit}", fn=fn, span=span)


def _error(message: str, jump_dash: bool = False, dash_ends: bool = False) -> Action:
    """An error action: ``message`` may use {ch}, {key}, {cmd} and {value}.

    ``dash_ends``: when the offending byte is ``-``, it counts as the first byte of the
    closing ``-->`` (nginx goes to ``ssi_error_end0_state`` there: checked on nginx 1.22,
    ``<!--#echo var= -->end`` gives the error text, then ``end``).
    """
    def fn(lx: SSILexer, c: int, o: int) -> int:
        key = lx._key
        if jump_dash:  # the name being read is the key, dash included
            key = lx._token(o) + b"-"
        value = lx._params[-1][1] if lx._params else b""
        msg = message.format(ch=chr(c), key=_q(key), cmd=_q(lx._cmd), value=_q(value))
        return lx._fail(msg, dash=jump_dash or (dash_ends and c == 0x2D))
    return Action(name="error", fn=fn)


def _close(lx: SSILexer, c: int, o: int) -> None:
    lx._events.append(_tag(lx._tag_start, o + 1, lx._cmd, tuple(lx._params)))
    lx._text_start = o + 1


def _skip_done(lx: SSILexer, c: int, o: int) -> None:
    lx._events.append(TagError(start=lx._tag_start, end=o + 1, message=lx._error))
    lx._text_start = o + 1


# -- grammar ---------------------------------------------------------------------------------

def _grammar() -> Machine:
    ws = b" \t\r\n"
    sp = byte_in(ws)
    text = diff(star(any_byte()), cat(star(any_byte()), lit(OPENER), star(any_byte())))
    opener = lit(OPENER).final(Action(name="open", fn=_open))
    mark = Action(name="mark", fn=_mark)
    cmd = cat(any_but(ws), star(any_but(ws + b"-"))).enter(mark) \
        .all(_counter(None, COMMAND_LEN, 'the "{tok}..." SSI command is too long')) \
        .leave(Action(name="cmd_end", fn=_cmd_end)).named("command")
    pname = cat(any_but(ws + b"-"), star(any_but(ws + b"=-"))) \
        .enter(Action(name="param_start", fn=_param_start)) \
        .all(_counter(None, PARAM_LEN, 'too long "{tok}..." parameter in "{cmd}" SSI command')) \
        .leave(Action(name="param_end", fn=_param_end)) \
        .err(_error('invalid "{key}" parameter in "{cmd}" SSI command', True), "final") \
        .named("param")
    pre_eq = opt(plus(sp).err(_error(
        'unexpected "{ch}" symbol after "{key}" parameter in "{cmd}" SSI command',
        dash_ends=True), "final"))
    eq = cat(lit("="), star(sp)).err(_error(
        'unexpected "{ch}" symbol before value of "{key}" parameter in "{cmd}" SSI command',
        dash_ends=True), "final")
    count_value = _counter("value_len", 0, 'too long "{tok}..." value of "{key}" parameter '
                           'in "{cmd}" SSI command')
    after_value = _error('unexpected "{ch}" symbol after "{value}" value of "{key}" '
                         'parameter in "{cmd}" SSI command')

    def value(quote: bytes) -> Expr:
        body = star(any_but(quote + b"\\") | cat(lit("\\"), any_byte())).all(count_value)
        return cat(lit(quote).final(Action(name="value_open", fn=_mark_next)), body,
                   lit(quote).enter(Action(name="value_close", fn=_value_close))) \
            .err(after_value, "final").named("value")

    param = cat(pname, pre_eq, eq, value(b'"') | value(b"'"))
    close = lit("-->").final(Action(name="close", fn=_close)) \
        .err(_error('unexpected "{ch}" symbol in "{cmd}" SSI command'), "middle")
    body = cat(star(sp), cmd, opt(cat(plus(sp), star(cat(param, plus(sp))), opt(param))),
               close).named("tag")
    main = cat(star(cat(text, opener, body)), text)
    # nginx's ssi_error_state / error_end0 / error_end1: "--->" does not end the skip.
    skip = cat(star(any_but("-") | cat(lit("-"), any_but("-")) | cat(lit("--"), any_but(">"))),
               lit("-->").final(Action(name="skip_done", fn=_skip_done))).named("skip")
    return compile_machine(main, {"skip": cat(skip, main)}, name="ssi")


SSI_MACHINE = _grammar()
_TEXT = SSI_MACHINE.start
# The fast path's view of a well-formed tag after "<!--#": names within the 32-byte limits,
# quoted values with backslash escapes.  Anything else (overlong names, odd first bytes, a
# tag that continues into the next chunk) does not match and takes the DFA path.  Values over
# ssi_value_length and more than 16 parameters are checked after the match.
_WS = rb"[ \t\r\n]"
_NAME = rb"[^ \t\r\n-][^ \t\r\n=-]{0,31}"
_QUOTED = rb"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"""
_PARAM = _WS + rb"+(" + _NAME + b")" + _WS + rb"*=" + _WS + rb"*" + _QUOTED
_PARAM_NC = _WS + rb"+" + _NAME + _WS + rb"*=" + _WS + rb"*" + \
    rb"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
_FAST_PARAM = re.compile(_PARAM, re.DOTALL)
# Groups: 1 command, 2 all parameters, 3-5 the first one (name, "value", 'value'), 6 the
# rest (so that the common zero- or one-parameter tag needs no second regex).
_FAST_TAG = re.compile(_WS + rb"*([^ \t\r\n-]{1,32})(" + _PARAM + rb"((?:" + _PARAM_NC +
                       rb")*))?" + _WS + rb"*-->", re.DOTALL)
_SKIP = SSI_MACHINE.entry("skip")
_SKIP_DASH = SSI_MACHINE.next_state(_SKIP, ord("-"))
# Text states -> number of bytes of a possible opener they are holding back.
_HELD = {SSI_MACHINE.start: 0}
for _i in range(1, len(OPENER)):
    _s = SSI_MACHINE.start
    for _b in OPENER[:_i]:
        _s = SSI_MACHINE.next_state(_s, _b)
    _HELD[_s] = _i


class SSILexer:
    """Incremental SSI lexer for one body.

    Args:
        value_len: ``ssi_value_length``, the longest accepted raw parameter value.
        fast_tags: match well-formed tags that lie within one chunk with a single regex
            instead of stepping the DFA through them (same events; off for testing).

    ``feed`` never raises on any input: malformed tags are :class:`TagError` events.
    """

    def __init__(self, value_len: int = DEFAULT_VALUE_LEN, *, fast_tags: bool = True) -> None:
        self.value_len, self.fast_tags = value_len, fast_tags
        self._state = SSI_MACHINE.start
        self._base = 0               # stream offset of the current chunk
        self._chunk = b""
        self._view = memoryview(b"")
        self._events: list[SSIEvent] = []
        self._text_start = 0         # first byte of text not yet emitted
        self._held = b""             # bytes [text_start, base) while they are held back
        self._tag_start = 0
        self._mark: int | None = None  # start of the token being read (name, value)
        self._acc = bytearray()      # its bytes from earlier chunks
        self._n = 0                  # its length so far, for the limits
        self._cmd = b""
        self._key = b""
        self._params: list[tuple[bytes, bytes]] = []
        self._error = ""

    @property
    def pending(self) -> int:
        """How many bytes at the end of what was fed are not yet accounted for by events
        (held back as a possible opener, or part of an unfinished tag)."""
        held = _HELD.get(self._state)
        return held if held is not None else self._base - self._tag_start

    def feed(self, chunk: Chunk) -> list[SSIEvent]:
        """Scan the next chunk of the body; returns the events it completed."""
        data = chunk.tobytes() if isinstance(chunk, memoryview) else bytes(chunk)
        base = self._base
        self._chunk, self._view, self._events = data, memoryview(data), []
        self._state = SSI_MACHINE.run(self._state, data, self, base)
        end = base + len(data)
        held = _HELD.get(self._state)
        if held is not None:
            self._emit_text(end - held)
            if held > len(data):
                self._held = (self._held + data)[-held:]
            else:
                self._held = data[len(data) - held:]
        elif self._mark is not None and self._mark < end:
            self._acc += data[self._mark - base:]
            self._mark = end
        self._base = end
        events, self._events = self._events, []
        return events

    def finish(self) -> list[SSIEvent]:
        """End of body: a held partial opener or an unfinished tag is dropped (§3.4)."""
        self._state = SSI_MACHINE.start
        self._held, self._acc, self._mark = b"", bytearray(), None
        self._text_start = self._base
        return []

    # -- helpers for the actions --

    def _emit_text(self, upto: int) -> None:
        start = self._text_start
        if upto <= start:
            return
        base = self._base
        if start < base:  # begins in bytes held back from the previous chunk
            cut = min(upto, base) - start
            self._events.append(_text(start, self._held[:cut]))
            self._held = self._held[cut:]
            start += cut
        if upto > start:
            self._events.append(_text(start, self._view[start - base:upto - base]))
        self._text_start = upto

    def _token(self, o: int) -> bytes:
        assert self._mark is not None
        piece = self._chunk[self._mark - self._base:o - self._base]
        tok = bytes(self._acc) + piece if self._acc else piece
        self._mark, self._acc = None, bytearray()
        return tok

    def _fail(self, message: str, dash: bool = False) -> int:
        self._error = message
        self._mark, self._acc = None, bytearray()
        return _SKIP_DASH if dash else _SKIP
