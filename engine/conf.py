"""The nginx configuration language: tokens and statements.

Theory of operation
-------------------
This is a transcription of nginx's ``ngx_conf_read_token`` (src/core/ngx_conf_file.c) into a
sans-IO tokenizer over the text of one file.  nginx does not build a syntax tree: it reads one
directive (its words and the terminator: ``;``, ``{`` or ``}``), hands it to the directive's
handler, and a block directive's handler parses its own block recursively.  Reproducing that
shape matters for error messages, because the first error in *file order* wins, whether it is a
syntax error or a semantic one.  So the tokenizer yields statements one at a time and
``engine.cycle`` drives it.

Text is decoded as latin-1 everywhere in trinx so that a ``str`` holds the exact bytes nginx
would compare (config values, URIs and file names are all byte strings to nginx).

Word rules (nginx 1.22, see reference/core.md §2.1):

* ``#`` starts a comment only at the start of a word; ``}`` is only special there too.
* a quote at the start of a word opens a quoted word; after the closing quote only
  whitespace, ``;``, ``{`` or ``)`` may follow, else ``unexpected "x"``.
* ``\\`` protects the next byte from word splitting; when the word is stored ``\\"``, ``\\'``,
  ``\\\\``, ``\\t``, ``\\r``, ``\\n`` are unescaped and any other ``\\x`` stays two bytes.
* inside a bare word ``${`` does not open a block.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ConfigError", "Token", "Statement", "Tokenizer", "unescape"]


class ConfigError(Exception):
    """A configuration problem, formatted as nginx formats it.

    ``str(err)`` is ``<message> in <file>:<line>`` (or just the message when no location is
    known), the text nginx prints after ``[emerg]``.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        if self.file == "command line":
            return f"{self.message} in command line"
        return f"{self.message} in {self.file}:{self.line}"


class Token(enum.Enum):
    DIRECTIVE = ";"
    BLOCK_START = "{"
    BLOCK_DONE = "}"
    EOF = "eof"


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """One directive as read: its words, how it ended, and where (line of the terminator)."""

    kind: Token
    words: tuple[str, ...]
    file: str
    line: int


_SPACE = " \t\r\n"
# nginx's NGX_CONF_BUFFER: the file is read through a buffer this size, so no word (nor comment)
# may be longer
CONF_BUFFER = 4096
_UNESCAPE = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def unescape(raw: str) -> str:
    """Apply nginx's word unescaping: only six escapes are recognised, others are kept."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\" and i + 1 < n and raw[i + 1] in _UNESCAPE:
            out.append(_UNESCAPE[raw[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class Tokenizer:
    """Reads statements from the text of one configuration file (or of the ``-g`` option).

    ``next()`` returns the next ``Statement``; at end of text it returns a ``Token.EOF``
    statement (repeatedly).  Syntax errors raise ``ConfigError`` naming the file and line; the
    tokenizer is not usable afterwards.

    Args:
        text: the whole text, decoded as latin-1.
        file: the name used in messages (``"command line"`` for ``-g``).
        param: True for the ``-g`` string.  nginx reads that from memory rather than through
            its 4096-byte file buffer, so it has no word-length limit, and a missing ``;`` at
            its end is ``unexpected end of parameter, expecting ";"``.
    """

    def __init__(self, text: str, file: str, param: bool = False) -> None:
        self.text = text
        self.file = file
        self.param = param
        self.pos = 0
        self.line = 1

    def _error(self, message: str) -> ConfigError:
        return ConfigError(message, self.file, self.line)

    def next(self) -> Statement:  # noqa: C901 - a transcription of one nginx state machine
        text, n = self.text, len(self.text)
        words: list[str] = []
        last_space = True
        need_space = False
        quoted = s_quoted = d_quoted = sharp_comment = variable = False
        # ``start`` is where nginx's file buffer must begin: the current word (or comment, or
        # the last whitespace byte).  A word that fills the whole buffer is an error.
        pos = start = self.pos
        start_line = self.line
        while True:
            if pos >= n:
                self.pos = pos
                if words or not last_space:
                    if self.param:
                        raise self._error('unexpected end of parameter, expecting ";"')
                    raise self._error('unexpected end of file, expecting ";" or "}"')
                return Statement(kind=Token.EOF, words=(), file=self.file, line=self.line)
            if pos - start >= CONF_BUFFER and not self.param:
                self.line = start_line
                if d_quoted or s_quoted:
                    q = '"' if d_quoted else "'"
                    raise self._error(f'too long parameter, probably missing terminating '
                                      f'"{q}" character')
                raise self._error(f'too long parameter "{text[start:start + 10]}..." started')
            ch = text[pos]
            pos += 1
            if ch == "\n":
                self.line += 1
                if sharp_comment:
                    sharp_comment = False
            if sharp_comment:
                continue
            if quoted:
                quoted = False
                continue
            if need_space:
                if ch in _SPACE:
                    last_space, need_space = True, False
                    continue
                if ch == ";":
                    return self._done(pos, Token.DIRECTIVE, words)
                if ch == "{":
                    return self._done(pos, Token.BLOCK_START, words)
                if ch != ")":
                    raise self._error(f'unexpected "{ch}"')
                # nginx does not skip the ")": it falls through and starts a new word with it
                last_space, need_space = True, False
            if last_space:
                start, start_line = pos - 1, self.line
                if ch in _SPACE:
                    continue
                if ch == ";" or ch == "{":
                    if not words:
                        raise self._error(f'unexpected "{ch}"')
                    kind = Token.BLOCK_START if ch == "{" else Token.DIRECTIVE
                    return self._done(pos, kind, words)
                if ch == "}":
                    if words:
                        raise self._error('unexpected "}"')
                    return self._done(pos, Token.BLOCK_DONE, words)
                if ch == "#":
                    sharp_comment = True
                    continue
                last_space = False
                if ch == "\\":
                    quoted = True
                elif ch == '"':
                    start += 1
                    d_quoted = True
                elif ch == "'":
                    start += 1
                    s_quoted = True
                elif ch == "$":
                    variable = True
                continue
            if ch == "{" and variable:
                continue
            variable = False
            if ch == "\\":
                quoted = True
                continue
            if ch == "$":
                variable = True
                continue
            found = False
            if d_quoted:
                if ch == '"':
                    d_quoted, need_space, found = False, True, True
            elif s_quoted:
                if ch == "'":
                    s_quoted, need_space, found = False, True, True
            elif ch in _SPACE or ch == ";" or ch == "{":
                last_space, found = True, True
            if found:
                words.append(unescape(text[start : pos - 1]))
                if ch == ";":
                    return self._done(pos, Token.DIRECTIVE, words)
                if ch == "{":
                    return self._done(pos, Token.BLOCK_START, words)

    def _done(self, pos: int, kind: Token, words: list[str]) -> Statement:
        self.pos = pos
        return Statement(kind=kind, words=tuple(words), file=self.file, line=self.line)
