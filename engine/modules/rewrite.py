"""``rewrite`` (``ngx_http_rewrite_module``): rewrite, return, set, if, break, rewrite_log,
uninitialized_variable_warn.

Theory of operation
-------------------
nginx compiles the rewrite directives written at one level (a ``server`` block, or one
location) into a single script, run by ``ngx_http_rewrite_handler``: the server's in the
server-rewrite phase, the selected location's in the rewrite phase.  Scripts are never
inherited, so a nested location runs only its own.  trinx compiles the same statements into
a list of *ops* per level, in config order; an ``if`` op carries the ops of its block.  As in
nginx, the block's ops are part of the enclosing script: after a true ``if`` block runs,
execution goes on with the statements that follow it ("if is evil" is this fall-through).

Each op returns ``None`` (go on) or the phase's return code: ``DECLINED`` when the script
stops without a response (``break``, ``rewrite ... last|break``), a status, or ``DONE`` when
``return`` sent a body itself.  URI changes are left to the engine: a rewrite sets
``r.uri_changed`` and the engine selects the location again after the phase, counting one of
the request's 10 URI changes.

A true ``if`` in a location makes its anonymous location (``LocKind.IF``) the request's
configuration; that location gets the enclosing one's content handler (postconfiguration).
An ``if`` in a server block only groups statements: nginx gives it confs, but never uses them.

Script values (the replacement of ``rewrite``, ``set``, ``if`` operands, ``return`` text) are
parsed as ``ngx_http_script_compile`` does, with its error messages.  Two quirks are kept on
purpose because they show in URIs and headers:

* captures (``$1``..``$9``) are %-escaped (``NGX_ESCAPE_ARGS``) when the request's path had a
  ``%`` or ``+`` and they land in args, in a redirect, or in a ``set``/``if`` value evaluated
  before the first rewrite that matched (nginx's ``e->quote`` starts at 1);
* a redirect target is then partly unescaped (``NGX_UNESCAPE_REDIRECT``): ``%XX`` for bytes
  above ``%`` and below DEL becomes the byte, up to the first ``?``.

Regexes are Python's ``re`` with ``re.ASCII`` (PCRE without UTF: ``\\w`` and case folding
are ASCII-only); ``(?<name>...)`` is translated, and named captures set ``$name``.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, Union

from engine import api

__all__ = ["MODULE", "RewriteLocConf", "RewriteMainConf"]

_NOTICE = logging.INFO + 5  # the error log's "notice" level (engine/log.py LEVELS)
_REDIRECTS = (301, 302, 303, 307, 308)


# --- confs ---------------------------------------------------------------------------------------

@dataclass
class RewriteMainConf:
    # (if-block core conf, enclosing core conf): the content handler is copied over
    if_blocks: list[tuple[api.CoreLocConf, api.CoreLocConf]] = field(default_factory=list)


@dataclass
class RewriteLocConf:
    ops: list["Op"] | None = None  # this level's script: never inherited
    log: bool | api.Unset = api.UNSET
    uninitialized_variable_warn: bool | api.Unset = api.UNSET

    def merge(self, parent: "RewriteLocConf") -> None:
        self.log = api.inherit(self.log, parent.log, False)
        self.uninitialized_variable_warn = api.inherit(
            self.uninitialized_variable_warn, parent.uninitialized_variable_warn, True)


# --- compiled scripts ----------------------------------------------------------------------------

# A script part: literal text, a capture number (1..9), or a variable reference (an object
# with ``.getter``, bound by the engine when the configuration is complete).
Part = Union[str, int, Any]


@dataclass(frozen=True, kw_only=True)
class Script:
    """A value with variables (``ngx_http_script_compile``).

    ``query`` holds the parts after the first literal ``?`` when compiled with args (a
    non-redirect ``rewrite``); ``question`` tells whether a literal ``?`` appears at all
    (nginx's ``sc->args``: a redirect then appends the original args with ``&``).
    """

    source: str
    path: tuple[Part, ...]
    query: tuple[Part, ...] | None = None
    question: bool = False

    @property
    def empty(self) -> bool:
        return not self.path and self.query is None


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def compile_script(cf: api.ConfContext, source: str, compile_args: bool = False) -> Script:
    """Parse ``source`` into a Script; raises nginx's messages for bad variable syntax."""
    path: list[Part] = []
    query: list[Part] | None = None
    cur = path
    question = False
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "$":
            i += 1
            if i == n:
                raise cf.error("invalid variable name")
            if "1" <= source[i] <= "9":
                cur.append(int(source[i]))
                i += 1
                continue
            bracket = source[i] == "{"
            if bracket:
                i += 1
                if i == n:
                    raise cf.error("invalid variable name")
            j = i
            while j < n and source[j] in _NAME_CHARS:
                j += 1
            name = source[i:j]
            if bracket:
                if j == n or source[j] != "}":
                    raise cf.error(f'the closing bracket in "{name}" variable is missing')
                j += 1
            if not name:
                raise cf.error("invalid variable name")
            cur.append(cf.cycle.variables.ref(name))
            i = j
            continue
        if ch == "?" and compile_args and query is None:
            question = True
            query = cur = []
            i += 1
            continue
        j = i
        while j < n and source[j] != "$":
            if source[j] == "?":
                question = True
                if compile_args and query is None:
                    break
            j += 1
        cur.append(source[i:j])
        i = j
    return Script(source=source, path=tuple(path),
                  query=tuple(query) if query is not None else None, question=question)


def _evaluate(r: api.Request, parts: tuple[Part, ...], escape: bool) -> str:
    out: list[str] = []
    for p in parts:
        if type(p) is str:
            out.append(p)
        elif type(p) is int:
            v = _capture(r, p)
            out.append(_escape_args(v) if escape else v)
        else:
            v = p.getter(r)
            if v:
                out.append(v)
    return "".join(out)


def _capture(r: api.Request, n: int) -> str:
    m = r.captures
    if m is None or n > m.re.groups:
        return ""
    return m.group(n) or ""


# NGX_ESCAPE_ARGS: " ", "#", "%", "&", "+", ";", "?", controls and bytes >= 0x7f
_ARGS_UNSAFE = frozenset(" #%&+;?")


def _escape_args(s: str) -> str:
    if all(" " < c < "\x7f" and c not in _ARGS_UNSAFE for c in s):
        return s
    return "".join(f"%{ord(c):02X}" if c <= " " or c >= "\x7f" or c in _ARGS_UNSAFE else c
                   for c in s)


_HEX = frozenset("0123456789abcdefABCDEF")


def unescape_redirect(s: str) -> str:
    """nginx's ``ngx_unescape_uri(NGX_UNESCAPE_REDIRECT)``, applied to redirect targets.

    Up to the first ``?`` (literal or ``%3F``), ``%XX`` becomes the byte when it lies in
    (``%``, DEL); other escapes stay; a bad escape loses its ``%`` (and a bad second digit
    loses all three bytes), exactly as the C state machine does.
    """
    if "%" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch == "?":
            out.append(s[i:])
            break
        i += 1
        if ch != "%":
            out.append(ch)
            continue
        if i == n:
            break
        h1 = s[i]
        i += 1
        if h1 not in _HEX:
            out.append(h1)
            continue
        if i == n:
            break
        h2 = s[i]
        i += 1
        if h2 not in _HEX:
            continue
        c = int(h1 + h2, 16)
        if c == 0x3F:
            out.append("?" + s[i:])
            break
        out.append(chr(c) if 0x25 < c < 0x7F else "%" + h1 + h2)
    return "".join(out)


def _quoted_uri(r: api.Request) -> bool:
    """nginx's ``r->quoted_uri || r->plus_in_uri``: ``%`` or ``+`` in the client's path."""
    if r is not r.main:
        return False
    path = r.request_uri.split("?", 1)[0]
    return "%" in path or "+" in path


# --- ops -----------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class RewriteOp:
    pattern: str
    regex: re.Pattern[str]
    replacement: Script
    status: int  # 301/302 for a redirect, else 0
    flag: str  # "", "last", "break", "redirect", "permanent"
    add_args: bool  # the replacement does not end with "?"


@dataclass(frozen=True, kw_only=True)
class ReturnOp:
    status: int
    text: Script | None  # None: no text, or a constant empty one


@dataclass(frozen=True, kw_only=True)
class SetOp:
    name: str
    value: Script


@dataclass(frozen=True, kw_only=True)
class BreakOp:
    pass


@dataclass(frozen=True, kw_only=True)
class VarCond:
    var: Any  # variable reference


@dataclass(frozen=True, kw_only=True)
class CompareCond:
    var: Any
    value: Script
    negative: bool


@dataclass(frozen=True, kw_only=True)
class RegexCond:
    var: Any
    pattern: str
    regex: re.Pattern[str]
    negative: bool


@dataclass(frozen=True, kw_only=True)
class FileCond:
    path: Script
    test: str  # "f", "d", "e" or "x"
    negative: bool


Cond = Union[VarCond, CompareCond, RegexCond, FileCond]


@dataclass(frozen=True, kw_only=True)
class IfOp:
    cond: Cond
    body: list["Op"]  # filled while the block is parsed
    loc: api.Location | None  # the anonymous location of an ``if`` in a location


Op = Union[RewriteOp, ReturnOp, SetOp, BreakOp, IfOp]


# --- directives ----------------------------------------------------------------------------------

def _ops(conf: RewriteLocConf) -> list[Op]:
    if conf.ops is None:
        conf.ops = []
    return conf.ops


def _rewrite(cf: api.ConfContext, cmd: api.Directive, conf: RewriteLocConf) -> None:
    args = cf.args
    regex = api.regex_compile(cf, args[1])
    replacement = args[2]
    add_args = True
    if replacement.endswith("?"):
        replacement = replacement[:-1]  # a final "?" drops the original args
        add_args = False
    status = 0
    if replacement.startswith(("http://", "https://", "$scheme")):
        status = 302
    flag = args[3] if len(args) == 4 else ""
    if flag == "redirect":
        status = 302
    elif flag == "permanent":
        status = 301
    elif flag not in ("", "last", "break"):
        raise cf.error(f'invalid parameter "{flag}"')
    script = compile_script(cf, replacement, compile_args=not status)
    _ops(conf).append(RewriteOp(pattern=args[1], regex=regex, replacement=script,
                                status=status, flag=flag, add_args=add_args))


def _return(cf: api.ConfContext, cmd: api.Directive, conf: RewriteLocConf) -> None:
    args = cf.args
    code = args[1]
    text: str | None
    if code.isdigit() and code.isascii():
        status = int(code)
        if status > 999:
            raise cf.error(f'invalid return code "{code}"')
        text = args[2] if len(args) == 3 else None
    elif len(args) == 2 and code.startswith(("http://", "https://", "$scheme")):
        status, text = 302, code
    else:
        raise cf.error(f'invalid return code "{code}"')
    script = compile_script(cf, text) if text is not None else None
    _ops(conf).append(ReturnOp(status=status,
                               text=None if script is None or script.empty else script))


def _set(cf: api.ConfContext, cmd: api.Directive, conf: RewriteLocConf) -> None:
    new = cf.args[1][1:].lower() not in cf.cycle.variables.getters
    lname = cf.variable_name(cf.args[1])
    if new:
        cf.add_variable(lname, _set_variable_getter(lname))
    _ops(conf).append(SetOp(name=lname, value=compile_script(cf, cf.args[2])))


def _set_variable_getter(name: str) -> Any:
    """A ``set`` variable read before this request set it (``ngx_http_rewrite_var``)."""
    def get(r: api.Request) -> str:
        v = r.variables.get(name)
        if v is not None:
            return v
        if MODULE.loc(r).uninitialized_variable_warn:
            api.log_error(r, logging.WARNING, f'using uninitialized "{name}" variable')
        # nginx stores the empty value in r->variables: the next read finds it, no new warning
        r.variables[name] = ""
        return ""
    return get


def _break(cf: api.ConfContext, cmd: api.Directive, conf: RewriteLocConf) -> None:
    _ops(conf).append(BreakOp())


def _if(cf: api.ConfContext, cmd: api.Directive, conf: RewriteLocConf) -> None:
    in_location = cf.ctx == api.Ctx.LOC
    parent = cf.location
    assert parent is not None
    # nginx gives every if block its own confs; only a location's are ever used
    if_loc = api.Location(parent.name, api.LocKind.IF, cf.new_confs("loc_conf"), parent,
                          cf.file, cf.line)
    inner_core, outer_core = _core(if_loc.loc_conf), _core(cf.loc_conf)
    inner_core.loc_name, inner_core.loc_regex = outer_core.loc_name, outer_core.loc_regex
    if in_location:
        parent.ifs.append(if_loc)
    cond = _parse_condition(cf)
    op = IfOp(cond=cond, body=[], loc=if_loc if in_location else None)
    _ops(conf).append(op)
    inner: RewriteLocConf = if_loc.loc_conf[MODULE]
    inner.ops = op.body  # the block compiles into the enclosing script
    cf.parse_location_block(if_loc, api.Ctx.LIF if in_location else api.Ctx.SIF)
    inner.ops = None
    if in_location:
        main: RewriteMainConf = cf.main_conf[MODULE]
        main.if_blocks.append((inner_core, outer_core))


def _core(loc_conf: dict[api.Module, Any]) -> api.CoreLocConf:
    for c in loc_conf.values():
        if isinstance(c, api.CoreLocConf):
            return c
    raise AssertionError("no http core loc conf")


def _parse_condition(cf: api.ConfContext) -> Cond:
    """The words of ``if (...)`` as ``ngx_http_rewrite_if_condition`` reads them.

    The tokenizer leaves the parentheses on the words (``($a``, ``=``, ``b)``), or as words
    of their own after spaces or quotes; they are stripped here, then the rest is checked.
    """
    words = list(cf.args[1:])
    first = words[0]
    if not first.startswith("("):
        raise cf.error(f'invalid condition "{first}"')
    if first == "(":
        cur = 1
    else:
        cur = 0
        words[0] = first[1:]
    last = len(words) - 1
    if not words[last].endswith(")"):
        raise cf.error(f'invalid condition "{words[last]}"')
    if words[last] == ")":
        last -= 1
    else:
        words[last] = words[last][:-1]
    word = words[cur]
    if len(word) > 1 and word[0] == "$":
        if cur != last and cur + 2 != last:
            raise cf.error(f'invalid condition "{word}"')
        var = cf.cycle.variables.ref(word[1:])
        if cur == last:
            return VarCond(var=var)
        op = words[cur + 1]
        if op in ("=", "!="):
            return CompareCond(var=var, value=compile_script(cf, words[last]),
                               negative=op == "!=")
        if op in ("~", "~*", "!~", "!~*"):
            regex = api.regex_compile(cf, words[last], caseless=op.endswith("*"))
            return RegexCond(var=var, pattern=words[last], regex=regex,
                             negative=op.startswith("!"))
        raise cf.error(f'unexpected "{op}" in condition')
    if (len(word) == 2 and word[0] == "-") or (len(word) == 3 and word.startswith("!-")):
        if cur + 1 != last:
            raise cf.error(f'invalid condition "{word}"')
        path = compile_script(cf, words[last])
        if word[-1] not in "fdex":
            raise cf.error(f'invalid condition "{word}"')
        return FileCond(path=path, test=word[-1], negative=word[0] == "!")
    raise cf.error(f'invalid condition "{word}"')


_REWRITE_CTX = api.Ctx.SRV | api.Ctx.SIF | api.Ctx.LOC | api.Ctx.LIF
_FLAG_CTX = api.Ctx.HTTP | _REWRITE_CTX

DIRECTIVES = [
    api.Directive("rewrite", _REWRITE_CTX, api.Args.TAKE23, _rewrite),
    api.Directive("return", _REWRITE_CTX, api.Args.TAKE12, _return),
    api.Directive("break", _REWRITE_CTX, api.Args.NOARGS, _break),
    api.Directive("if", api.Ctx.SRV | api.Ctx.LOC, api.Args.ONE_MORE, _if, block=True),
    api.Directive("set", _REWRITE_CTX, api.Args.TAKE2, _set),
    api.Directive("rewrite_log", _FLAG_CTX, api.Args.FLAG, api.set_flag("log")),
    api.Directive("uninitialized_variable_warn", _FLAG_CTX, api.Args.FLAG,
                  api.set_flag("uninitialized_variable_warn")),
]


# --- hooks ---------------------------------------------------------------------------------------

def _postconfiguration(cf: api.ConfContext) -> None:
    main: RewriteMainConf = cf.cycle.main_conf[MODULE]
    for inner, outer in main.if_blocks:
        if inner.handler is None:
            inner.handler = outer.handler
    cf.add_phase_handler(api.Phase.SERVER_REWRITE, server_rewrite_handler,
                         subrequest_inert=_no_script)
    cf.add_phase_handler(api.Phase.REWRITE, rewrite_handler, subrequest_inert=_no_script)


def _no_script(loc_conf: dict[Any, Any]) -> bool:
    return not loc_conf[MODULE].ops


# --- request processing --------------------------------------------------------------------------

@dataclass
class _Engine:
    """Per-run state of one script (the parts of ``ngx_http_script_engine_t`` that matter)."""

    log: bool
    quote: bool = True  # captures in set/if values are escaped until a rewrite matched


# The phase handlers are synchronous and return a coroutine only when there is a script to
# run: most locations have none, and the engine awaits only what is not an int.

def server_rewrite_handler(r: api.Request) -> Any:
    conf: RewriteLocConf = MODULE.loc(r)
    return _run_script(r, conf) if conf.ops else api.DECLINED


def rewrite_handler(r: api.Request) -> Any:
    if r.loc.kind is api.LocKind.SERVER:
        return api.DECLINED  # the server's script already ran in the server-rewrite phase
    conf: RewriteLocConf = MODULE.loc(r)
    return _run_script(r, conf) if conf.ops else api.DECLINED


async def _run_script(r: api.Request, conf: "RewriteLocConf") -> int:
    rc = await _run(r, conf.ops, _Engine(log=bool(conf.log)))
    return api.DECLINED if rc is None else rc


async def _run(r: api.Request, ops: list[Op], e: _Engine) -> int | None:
    for op in ops:
        if type(op) is RewriteOp:
            rc = _run_rewrite(r, op, e)
        elif type(op) is IfOp:
            if not _test(r, op.cond, e):
                continue
            if op.loc is not None:
                api.set_location(r, op.loc)
            rc = await _run(r, op.body, e)
        elif type(op) is SetOp:
            value = _evaluate(r, op.value.path, e.quote and _quoted_uri(r))
            if op.name == "args":
                r.args = value
            else:
                r.variables[op.name] = value
            continue
        elif type(op) is ReturnOp:
            return await _run_return(r, op)
        else:  # BreakOp
            if r.uri_changed:
                r.valid_location = False
                r.uri_changed = False
            return api.DECLINED
        if rc is not None:
            return rc
    return None


def _run_rewrite(r: api.Request, op: RewriteOp, e: _Engine) -> int | None:
    """``ngx_http_script_regex_start_code`` and ``_end_code`` for one ``rewrite``."""
    m = op.regex.search(r.uri)
    if m is None:
        if e.log:
            api.log_error(r, _NOTICE, f'"{op.pattern}" does not match "{r.uri}"')
        r.captures = None
        return None
    if e.log:
        api.log_error(r, _NOTICE, f'"{op.pattern}" matches "{r.uri}"')
    api.set_captures(r, m)
    r.internal = True
    if op.flag == "break":
        r.valid_location = False
        r.uri_changed = False
    else:
        r.uri_changed = True
    e.quote = False
    rep = op.replacement
    quoted = _quoted_uri(r)
    if op.status:
        location = unescape_redirect(_evaluate(r, rep.path, quoted))
        if op.add_args and r.args:
            location += ("&" if rep.question else "?") + r.args
        if e.log:
            api.log_error(r, _NOTICE, f'rewritten redirect: "{location}"')
        r.headers_out.location = location
        return op.status
    uri = _evaluate(r, rep.path, False)
    if rep.query is not None:
        args = _evaluate(r, rep.query, quoted)
        if op.add_args and r.args:
            args += "&" + r.args
        r.args = args
    elif not op.add_args:
        r.args = ""
    if e.log:
        api.log_error(r, _NOTICE, f'rewritten data: "{uri}", args: "{r.args}"')
    if not uri:
        api.log_error(r, logging.ERROR, "the rewritten URI has a zero length")
        return 500
    r.set_uri(uri)
    return api.DECLINED if op.flag else None


async def _run_return(r: api.Request, op: ReturnOp) -> int:
    """``ngx_http_script_return_code``: a status, a redirect, or a response with a body."""
    if op.status >= 400 and op.text is None:
        return op.status  # the error page (error_page applies)
    await api.discard_request_body(r)
    text = _evaluate(r, op.text.path, False) if op.text is not None else ""
    ho = r.headers_out
    ho.status = op.status
    if op.status in _REDIRECTS:
        ho.location = text
        return op.status
    ho.content_length = len(text)
    api.set_content_type(r)
    rc = await api.send_response(r, text.encode("latin-1"))
    return api.DONE if rc == api.OK else rc


def _test(r: api.Request, cond: Cond, e: _Engine) -> bool:
    if type(cond) is VarCond:
        v = cond.var.getter(r)
        return bool(v) and v != "0"
    if type(cond) is CompareCond:
        v = cond.var.getter(r) or ""
        return (v == _evaluate(r, cond.value.path, e.quote and _quoted_uri(r))) \
            != cond.negative
    if type(cond) is RegexCond:
        v = cond.var.getter(r) or ""
        m = cond.regex.search(v)
        if e.log:
            verb = "matches" if m is not None else "does not match"
            api.log_error(r, _NOTICE, f'"{cond.pattern}" {verb} "{v}"')
        if m is None:
            r.captures = None
            return cond.negative
        api.set_captures(r, m)
        return not cond.negative
    assert type(cond) is FileCond
    return _file_test(r, _evaluate(r, cond.path.path, e.quote and _quoted_uri(r)),
                      cond.test) != cond.negative


def _file_test(r: api.Request, path: str, test: str) -> bool:
    """``ngx_http_script_file_code`` without the negation: -f, -d, -e, -x."""
    try:
        st = os.stat(path.encode("latin-1"))
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            api.log_error(r, logging.CRITICAL,
                          f'stat() "{path}" failed ({err.errno}: {err.strerror})')
        return False
    mode = st.st_mode
    if test == "f":
        return stat.S_ISREG(mode)
    if test == "d":
        return stat.S_ISDIR(mode)
    if test == "e":
        return stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)
    return bool(mode & stat.S_IXUSR)


MODULE = api.Module(
    name="http_rewrite",
    directives=DIRECTIVES,
    main_conf=RewriteMainConf,
    loc_conf=RewriteLocConf,
    postconfiguration=_postconfiguration,
)
