"""engine/conf.py: the sans-IO tokenizer (nginx's ngx_conf_read_token), no files, no processes.

Expected words come from reference/core.md §2.1 (checked on nginx 1.22) and from the
differential config-error tests, which pin the error messages against nginx itself.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.conf import CONF_BUFFER, ConfigError, Statement, Token, Tokenizer, unescape


def statements(text: str, param: bool = False) -> list[tuple[Token, tuple[str, ...], int]]:
    tok = Tokenizer(text, "t.conf", param=param)
    out = []
    while True:
        st_ = tok.next()
        out.append((st_.kind, st_.words, st_.line))
        if st_.kind is Token.EOF:
            return out


def words(text: str) -> list[tuple[str, ...]]:
    return [w for kind, w, _ in statements(text) if kind is not Token.EOF]


def error(text: str, param: bool = False) -> str:
    with pytest.raises(ConfigError) as exc:
        statements(text, param)
    return str(exc.value)


def test_statement_kinds_and_lines() -> None:
    assert statements("a b;\nc {\n}\n") == [
        (Token.DIRECTIVE, ("a", "b"), 1),
        (Token.BLOCK_START, ("c",), 2),
        (Token.BLOCK_DONE, (), 3),
        (Token.EOF, (), 4),
    ]


def test_statement_is_frozen() -> None:
    s = Statement(kind=Token.EOF, words=(), file="f", line=1)
    with pytest.raises(AttributeError):
        s.line = 2  # type: ignore[misc]


@pytest.mark.parametrize("text, expected", [
    ("return 200 a#b;", [("return", "200", "a#b")]),          # '#' inside a word
    ("a # comment ; {\nb;", [("a", "b")]),                   # comment to end of line
    ('a "" \'\';', [("a", "", "")]),                          # empty quoted words
    ('a "x y;{}#";', [("a", "x y;{}#")]),                     # quoted specials
    ('a "x\\"y\\\\z\\tq\\nr\\qt";', [("a", 'x"y\\z\tq\nr\\qt')]),  # six escapes only
    ("a un\\ quoted\\;semi;", [("a", "un\\ quoted\\;semi")]),  # backslash protects, kept
    ("a pre${uri}post;", [("a", "pre${uri}post")]),            # ${ in a bare word
    ("a b}c;", [("a", "b}c")]),                               # } special only at start
    ('a "q"{', [("a", "q")]),                                 # block right after a quote
    ('if ( "a") {', [("if", "(", "a", ")")]),                 # ')' after a quote: a new word
    ('a "x");', [("a", "x", ")")]),
    ("a\tb\r\nc;", [("a", "b", "c")]),
])
def test_words(text: str, expected: list[tuple[str, ...]]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize("text, message", [
    ("a }", 'unexpected "}" in t.conf:1'),
    (";", 'unexpected ";" in t.conf:1'),
    ("\n{", 'unexpected "{" in t.conf:2'),
    ("a b", 'unexpected end of file, expecting ";" or "}" in t.conf:1'),
    ('a "b\n\n', 'unexpected end of file, expecting ";" or "}" in t.conf:3'),
    ('a "b"c;', 'unexpected "c" in t.conf:1'),
    ("a 'b'\"c\";", "unexpected \"\"\" in t.conf:1"),
    ("a " + "x" * CONF_BUFFER + ";", 'too long parameter "xxxxxxxxxx..." started in t.conf:1'),
    ('\na "' + "x" * CONF_BUFFER + '";',
     'too long parameter, probably missing terminating """ character in t.conf:2'),
    ("a '" + "x" * CONF_BUFFER + "';",
     "too long parameter, probably missing terminating \"'\" character in t.conf:1"),
    ("#" + "x" * CONF_BUFFER + "\n", 'too long parameter "#xxxxxxxxx..." started in t.conf:1'),
])
def test_errors(text: str, message: str) -> None:
    assert error(text) == message


def test_too_long_reports_the_line_where_the_word_started() -> None:
    assert error('a "\n' + "x\n" * (CONF_BUFFER // 2) + '";').endswith("t.conf:1")


def test_word_length_limit_boundary() -> None:
    """nginx's 4096-byte buffer must hold the word and the byte after it."""
    assert words("a " + "x" * (CONF_BUFFER - 1) + ";") == [("a", "x" * (CONF_BUFFER - 1))]
    # a word ending exactly at end of file is an EOF error, not a too-long one
    assert error("a " + "x" * CONF_BUFFER).startswith("unexpected end of file")
    # long runs of whitespace are not words
    assert words("a" + " " * (3 * CONF_BUFFER) + ";") == [("a",)]


def test_param_mode() -> None:
    """The -g string: no length limit, its own end-of-input message."""
    assert error("daemon off", param=True) == (
        'unexpected end of parameter, expecting ";" in t.conf:1')
    long = "x" * (2 * CONF_BUFFER)
    assert statements(f"a {long};", param=True)[0][1] == ("a", long)


def test_eof_is_repeated() -> None:
    tok = Tokenizer("a;", "f")
    tok.next()
    assert tok.next().kind is Token.EOF
    assert tok.next().kind is Token.EOF


def test_config_error_format() -> None:
    assert str(ConfigError("m", "/f", 3)) == "m in /f:3"
    assert str(ConfigError("m")) == "m"
    assert str(ConfigError("m", "command line", 0)) == "m in command line"


# --- properties ------------------------------------------------------------------------

_bare = st.text(alphabet="abcxyz019_/.-=$:", min_size=1, max_size=12).filter(
    lambda w: not w.startswith("$") or len(w) > 1)
_quoted_body = st.text(alphabet="ab ;{}#\t\n'", max_size=10)


def _encode(word: str, quote: str | None) -> str:
    if quote is None:
        return word
    return quote + word.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


@st.composite
def _directive(draw: st.DrawFn) -> tuple[tuple[str, ...], str]:
    name = draw(st.text(alphabet="abcdefgh_", min_size=1, max_size=8))
    args: list[str] = []
    encoded = [name]
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            w = draw(_bare)
            args.append(w)
            encoded.append(w)
        else:
            w = draw(_quoted_body)
            q = draw(st.sampled_from(['"', "'"]))
            args.append(w)
            encoded.append(_encode(w, q))
    sep = draw(st.sampled_from([" ", "\t", "\n", "  \n "]))
    return (name, *args), sep.join(encoded)


@given(st.lists(_directive(), max_size=6), st.sampled_from([" ", "\n", " # c\n"]))
def test_roundtrip_property(directives: list[tuple[tuple[str, ...], str]], gap: str) -> None:
    """Any directives written with nginx's quoting read back as the same words."""
    text = gap.join(enc + ";" for _, enc in directives)
    assert words(text) == [w for w, _ in directives]


@given(st.text(alphabet="ab \n;{}\"'\\#$()", max_size=40))
def test_garbage_property(text: str) -> None:
    """Any input yields statements or a ConfigError with a line inside the text."""
    try:
        result = statements(text)
    except ConfigError as e:
        assert e.file == "t.conf"
        assert e.line is not None and 1 <= e.line <= text.count("\n") + 1
        return
    assert result[-1][0] is Token.EOF
    assert all(w for kind, w, _ in result if kind is Token.DIRECTIVE)


@given(st.text(alphabet="ab\\\"'tnrq", max_size=20))
def test_unescape_property(raw: str) -> None:
    """Unescaping never grows a word; without a backslash it is the identity."""
    out = unescape(raw)
    assert len(out) <= len(raw)
    if "\\" not in raw:
        assert out == raw
