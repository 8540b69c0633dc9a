"""parsers/ssi.py: the SSI tag lexer (ssi.md §3, §3.4, §4)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parsers.ssi import SSI_MACHINE, SSILexer, Tag, TagError, Text

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
WS = b" \t\r\n"


def normalise(events: list[Any]) -> list[Any]:
    """Join adjacent Text events into bytes; Tag/TagError stay as they are."""
    out: list[Any] = []
    for e in events:
        if isinstance(e, Text):
            if out and isinstance(out[-1], bytes):
                out[-1] += bytes(e.data)
            else:
                out.append(bytes(e.data))
        else:
            out.append(e)
    return out


def lex(chunks: list[bytes], value_len: int = 255, fast_tags: bool = True) -> list[Any]:
    lexer = SSILexer(value_len, fast_tags=fast_tags)
    events: list[Any] = []
    for chunk in chunks:
        events += lexer.feed(chunk)
    events += lexer.finish()
    return events


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def reference(body: bytes, value_len: int = 255) -> list[Any]:
    """ngx_http_ssi_parse's state machine, transliterated byte by byte, independent of the
    toolkit.  Emits bytes for text, Tag, and ("error", start, end) for malformed tags."""
    out: list[Any] = []
    text = bytearray()
    looked = b""
    state, start = "start", 0
    cmd = key = value = b""
    params: list[tuple[bytes, bytes]] = []
    quote = 0

    def flush() -> None:
        if text:
            out.append(bytes(text))
            text.clear()

    for i, ch in enumerate(body):
        b = bytes([ch])
        if state == "start":
            if ch == 0x3C:
                looked, state = b"<", "tag"
            else:
                text.extend(b)
        elif state in ("tag", "comment0", "comment1", "sharp"):
            want, nxt = {"tag": (b"!", "comment0"), "comment0": (b"-", "comment1"),
                         "comment1": (b"-", "sharp"), "sharp": (b"#", "precommand")}[state]
            if b == want and state == "sharp":
                flush()
                start, looked, state, params = i - 4, b"", "precommand", []
            elif b == want:
                looked, state = looked + b, nxt
            elif ch == 0x3C:
                text.extend(looked)
                looked = b"<"
                state = "tag"
            else:
                text.extend(looked + b)
                looked, state = b"", "start"
        elif state == "precommand":
            if ch not in WS:
                cmd, state = b, "command"
        elif state == "command":
            if ch in WS:
                state = "preparam"
            elif b == b"-":
                state = "end0"
            elif len(cmd) == 32:
                state = "error"
            else:
                cmd += b
        elif state == "preparam":
            if ch in WS:
                pass
            elif b == b"-":
                state = "end0"
            elif len(params) == 16:
                state = "error"
            else:
                key, value, state = b, b"", "param"
        elif state == "param":
            if ch in WS:
                state = "preequal"
            elif b == b"=":
                state = "prevalue"
            elif b == b"-":
                state = "error_end0"
            elif len(key) == 32:
                state = "error"
            else:
                key += b
        elif state == "preequal":
            if b == b"=":
                state = "prevalue"
            elif b == b"-":  # counts toward the closing "-->" (checked on nginx 1.22)
                state = "error_end0"
            elif ch not in WS:
                state = "error"
        elif state == "prevalue":
            if b in (b'"', b"'"):
                quote, state = ch, "value"
            elif b == b"-":  # likewise: "<!--#echo var= -->b" is the error text, then b
                state = "error_end0"
            elif ch not in WS:
                state = "error"
        elif state in ("value", "qsym"):
            if state == "value" and ch == quote:
                params.append((key, value))
                state = "postparam"
            elif len(value) == value_len:
                state = "error"
            else:
                value += b
                state = "qsym" if state == "value" and b == b"\\" else "value"
        elif state == "postparam":
            if ch in WS:
                state = "preparam"
            elif b == b"-":
                state = "end0"
            else:
                state = "error"
        elif state in ("end0", "end1"):
            if state == "end0" and b == b"-":
                state = "end1"
            elif state == "end1" and b == b">":
                out.append(Tag(start=start, end=i + 1, command=cmd, params=tuple(params)))
                state = "start"
            else:
                state = "error"
        elif state == "error":
            if b == b"-":
                state = "error_end0"
        elif state == "error_end0":
            state = "error_end1" if b == b"-" else "error"
        elif state == "error_end1":
            if b == b">":
                out.append(("error", start, i + 1))
                state = "start"
            else:
                state = "error"
    flush()  # a partial opener or an unfinished tag is dropped
    return out


def comparable(events: list[Any]) -> list[Any]:
    return [("error", e.start, e.end) if isinstance(e, TagError) else e
            for e in normalise(events)]


# -- ssi.md §3.1 examples ------------------------------------------------------------------

def tag(cmd: bytes, *params: tuple[bytes, bytes], start: int = 0, end: int) -> Tag:
    return Tag(start=start, end=end, command=cmd, params=params)


@pytest.mark.parametrize("body, want", [
    (b'<!--#echo var="a"-->', [tag(b"echo", (b"var", b"a"), end=20)]),
    (b'<!--# echo var="a" -->', [tag(b"echo", (b"var", b"a"), end=22)]),
    (b'<!--#echo\tvar = "a"\t-->', [tag(b"echo", (b"var", b"a"), end=23)]),
    (b"<!--#echo var='a' -->", [tag(b"echo", (b"var", b"a"), end=21)]),
    (b'<!--#echo var="a" default="x -->" -->',
     [tag(b"echo", (b"var", b"a"), (b"default", b"x -->"), end=37)]),
    (b'<!--#ECHO VAR="a" -->', [tag(b"ECHO", (b"VAR", b"a"), end=21)]),  # case is the filter's
    (b'<!--#echo\r\nvar="a"\n-->', [tag(b"echo", (b"var", b"a"), end=22)]),
    (b'<!--#echo var="a\\"b" -->', [tag(b"echo", (b"var", b'a\\"b'), end=24)]),
    (b'<!--#echo var="it\'s" -->', [tag(b"echo", (b"var", b"it's"), end=24)]),
    (b"<!--#endif-->", [tag(b"endif", end=13)]),
    (b'<<!--#echo var="a"-->', [b"<", tag(b"echo", (b"var", b"a"), start=1, end=21)]),
    (b"<!---#echo -->", [b"<!---#echo -->"]),
    (b"<!-#echo -->", [b"<!-#echo -->"]),
    (b"<!--echo -->", [b"<!--echo -->"]),
    (b"a <!-- comment --> b", [b"a <!-- comment --> b"]),
])
def test_tag_grammar(body: bytes, want: list[Any]) -> None:
    assert normalise(lex([body])) == want


@pytest.mark.parametrize("body, message, after", [
    (b"<!--#echo var=a -->x",
     'unexpected "a" symbol before value of "var" parameter in "echo" SSI command', b"x"),
    (b'<!--#echo var="x"y -->x',
     'unexpected "y" symbol after "x" value of "var" parameter in "echo" SSI command', b"x"),
    (b'<!--#echo var="x">-->x',
     'unexpected ">" symbol after "x" value of "var" parameter in "echo" SSI command', b"x"),
    (b'<!--#echo var x="1" -->x',
     'unexpected "x" symbol after "var" parameter in "echo" SSI command', b"x"),
    (b"<!--#-->x-->y", 'unexpected ">" symbol in "-" SSI command', b"y"),
    # §4: skip to the next "-->", swallowing text and even a later tag
    (b'<!--#echo var="a" -- >]after -->z', 'unexpected " " symbol in "echo" SSI command', b"z"),
    (b'<!--#echo var="a" --->sw<!--#echo var="b" -->z',
     'unexpected "-" symbol in "echo" SSI command', b"z"),
    (b"<!--#echo var-->z", 'invalid "var-" parameter in "echo" SSI command', b"z"),
])
def test_syntax_errors(body: bytes, message: str, after: bytes) -> None:
    events = normalise(lex([body]))
    assert len(events) == 2 and isinstance(events[0], TagError)
    assert events[0].message == message
    assert events[0].start == 0 and events[0].end == len(body) - len(after)
    assert events[1] == after


def test_limits() -> None:
    """ssi.md §3.3, including the checked ssi_value_length 10 cases."""
    ok = normalise(lex([b'<!--#e v="0123456789"-->'], value_len=10))
    assert ok == [tag(b"e", (b"v", b"0123456789"), end=24)]
    assert isinstance(lex([b'<!--#e v="0123456789a"-->'], value_len=10)[0], TagError)
    assert isinstance(lex([b'<!--#e v="01234567\\""-->'], value_len=10)[0], Tag)
    assert isinstance(lex([b'<!--#e v="012345678\\""-->'], value_len=10)[0], TagError)
    assert isinstance(lex([b"<!--#" + b"c" * 32 + b" -->"])[0], Tag)
    err = lex([b"<!--#" + b"c" * 33 + b" -->"])[0]
    assert isinstance(err, TagError) and err.message.startswith('the "' + "c" * 33 + '..."')
    assert isinstance(lex([b"<!--#e " + b"p" * 32 + b'="1" -->'])[0], Tag)
    assert isinstance(lex([b"<!--#e " + b"p" * 33 + b'="1" -->'])[0], TagError)
    params16 = b" ".join(b'p%d="1"' % i for i in range(16))
    assert len(lex([b"<!--#e " + params16 + b" -->"])[0].params) == 16
    err = lex([b"<!--#e " + params16 + b' q="1" -->'])[0]
    assert isinstance(err, TagError) and err.message == 'too many SSI command parameters: "e"'


def test_overlong_value_fails_at_the_limit_byte() -> None:
    """The error begins at byte 256 of the value, so a "-->" later inside the quotes ends
    the bad tag and the rest is text (nginx's ssi_error_state starts there)."""
    body = b'<!--#e v="' + b"x" * 300 + b'-->"-->tail'
    assert normalise(lex([body]))[1:] == [b'"-->tail']


@pytest.mark.parametrize("body, want", [
    (b"abc<", b"abc"), (b"abc<!", b"abc"), (b"abc<!-", b"abc"), (b"abc<!--", b"abc"),
    (b"abc<!--#", b"abc"), (b'abc<!--#echo var="x"', b"abc"), (b"abc<!--x", b"abc<!--x"),
])
def test_truncated_at_end_of_body(body: bytes, want: bytes) -> None:
    """ssi.md §3.4, fed whole and byte by byte."""
    assert normalise(lex([body])) == [want]
    assert normalise(lex([body[i:i + 1] for i in range(len(body))])) == [want]


def test_text_is_emitted_before_the_tag_completes_and_holds_only_the_opener() -> None:
    lexer = SSILexer()
    assert normalise(lexer.feed(b"hello <!-")) == [b"hello "]
    assert lexer.pending == 3
    assert normalise(lexer.feed(b"-#echo var")) == [] and lexer.pending == 13
    assert normalise(lexer.feed(b'="v" --> bye')) == [tag(b"echo", (b"var", b"v"), start=6,
                                                          end=27), b" bye"]
    assert normalise(lexer.feed(b"<!-")) == [] and lexer.pending == 3
    assert normalise(lexer.feed(b"x")) == [b"<!-x"]


def test_text_is_zero_copy() -> None:
    chunk = b"x" * 1000
    (event,) = SSILexer().feed(chunk)
    assert isinstance(event, Text) and isinstance(event.data, memoryview)
    assert event.data.obj is chunk and event.end == 1000


# -- properties ------------------------------------------------------------------------------

PIECES = st.sampled_from([b"<!--#", b"-->", b"<", b"<!--", b"<!", b"-", b"--", b'"', b"'",
                          b"\\", b" ", b"\t", b"\n", b"=", b"echo", b"var", b"a", b"#", b">",
                          b"x" * 40, b'<!--#echo var="a" -->', b"<!--#e p='", b"p" * 20])
PAGES = st.lists(PIECES, max_size=30).map(b"".join)


@SETTINGS
@given(page=PAGES, value_len=st.sampled_from([255, 3, 0]))
@example(page=b"<!--#< < -->", value_len=255)  # '-' after a parameter name ends at "-->"
def test_matches_nginx_state_machine(page: bytes, value_len: int) -> None:
    want = reference(page, value_len)
    assert comparable(lex([page], value_len)) == want
    assert comparable(lex([page], value_len, fast_tags=False)) == want


@SETTINGS
@given(page=PAGES, cuts=st.lists(st.integers(0, 400), max_size=8),
       value_len=st.sampled_from([255, 3]))
def test_split_invariant(page: bytes, cuts: list[int], value_len: int) -> None:
    whole = normalise(lex([page], value_len, fast_tags=False))
    assert normalise(lex(split_at(page, cuts), value_len)) == whole
    assert normalise(lex(split_at(page, cuts), value_len, fast_tags=False)) == whole


@SETTINGS
@given(page=PAGES, value_len=st.sampled_from([255, 3]))
def test_skip_ahead_matches_byte_stepping(page: bytes, value_len: int) -> None:
    """The fast runner (find/regex skips, span counters) against the plain byte stepper."""
    fast, slow = SSILexer(value_len, fast_tags=False), SSILexer(value_len, fast_tags=False)
    slow_state = SSI_MACHINE.start
    fast_events = fast.feed(page)
    slow._chunk, slow._events = page, []
    slow_state = SSI_MACHINE.run_slow(slow_state, page, slow, 0)
    fast_tags = [e for e in fast_events if not isinstance(e, Text)]
    assert [e for e in slow._events if not isinstance(e, Text)] == fast_tags
    assert fast._state == slow_state


@settings(max_examples=300, deadline=None)
@given(page=st.binary(max_size=200), cuts=st.lists(st.integers(0, 200), max_size=5))
def test_garbage_never_raises_and_events_tile_the_body(page: bytes, cuts: list[int]) -> None:
    lexer = SSILexer()
    events: list[Any] = []
    for chunk in split_at(page, cuts):
        events += lexer.feed(chunk)
    pos = 0
    for e in events:  # in order, no overlap, text exactly the body's bytes
        assert e.start == pos
        if isinstance(e, Text):
            assert bytes(e.data) == page[e.start:e.end]
        pos = e.end
    assert len(page) - pos == lexer.pending
