"""Sans-IO units of the SSI filter (filters/_ssi_eval.py): string evaluation, ``if``
expressions, echo encodings, include-URI checks and $date_* formatting.  The expected
values are the ones reference/ssi.md gives as checked on nginx 1.22."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, strategies as st

from filters._ssi_eval import SSIError, encode, eval_expr, evaluate, format_date, \
    parse_expr, percent_decode, unsafe_uri

VARS = {"a": "Hello World", "b": "x", "empty": "", "lt": "<b>"}


def lookup(name: str) -> str | None:
    return VARS.get(name)


def test_evaluate_backslashes_and_quotes() -> None:
    raw = 'single "dq" \\\'sq\\\' \\$notvar \\n \\\\ \\t'
    assert evaluate(raw, lookup) == 'single "dq" \'sq\' $notvar \\n \\ \\t'


@pytest.mark.parametrize("raw, want", [
    ("$a", "Hello World"),
    ("[$b]", "[x]"),
    ("${b}y", "xy"),
    ("$by", ""),  # the longest name run: "by" is unset
    ("$nosuch|$empty|", "||"),
    ("$A", "Hello World"),  # names are looked up lowercased
    ("$b$b", "xx"),
])
def test_evaluate_variables(raw: str, want: str) -> None:
    assert evaluate(raw, lookup) == want


@pytest.mark.parametrize("raw, message", [
    ("a$", 'invalid variable name in "a$"'),
    ("$ x", 'invalid variable name in "$ x"'),
    ("$/", 'invalid variable name in "$/"'),
    ("${}", 'invalid variable name in "${}"'),
    ("${b", 'the closing bracket in "b" variable is missing'),
    ("${b x}", 'the closing bracket in "b" variable is missing'),
])
def test_evaluate_errors(raw: str, message: str) -> None:
    with pytest.raises(SSIError) as e:
        evaluate(raw, lookup)
    assert str(e.value) == message


def truth(expr: str) -> bool:
    return eval_expr(parse_expr(expr), lookup)[0]


@pytest.mark.parametrize("expr, want", [
    ("$a", True), ("$nosuch", False), ("$empty", False), ("x", True),
    ("$a = Hello World", True), ("$a=Hello World", True), ("$a   =   Hello World", True),
    ("$a = hello world", False), ("$a != Hello World", False), ("$b != y", True),
    ("$nosuch = ", True),  # unset compares as empty
    ("$a = Hello World ", False),  # RIGHT keeps trailing spaces
    ("$a == Hello World", False),  # compares with "= Hello World"
    ("ABC = abc", True), ("abc = ABC", False),  # LEFT's literal text is lowercased
    ("'$a' = 'Hello World'", True),  # quotes are ordinary bytes
    ("$a = /World/", True), ("$a = /^World/", False), ("$a != /^World/", True),
    ("$a = /(?i)hello/", True), ("$a = /hello/", False),
    ("$a = /\\w+ \\w+/", True),
    ("$b = \\/x", False), ("$b = $b", True),
    ("", False), ("$a=", False), ("$a = //", True),  # checked on nginx 1.22
])
def test_expressions(expr: str, want: bool) -> None:
    assert truth(expr) is want


@pytest.mark.parametrize("expr", [
    "!$a", "$a.b", "$a\t= x", "$a ~ x", " $a", "$a = /x", "$a = /x/i", "$a - x",
])
def test_invalid_expressions(expr: str) -> None:
    with pytest.raises(SSIError) as e:
        truth(expr)
    assert str(e.value) == f'invalid expression in "{expr}"'


def test_a_lone_slash_is_a_string() -> None:
    # checked on nginx 1.22: with s="/", expr="$s = /" is true
    VARS["slash"] = "/"
    try:
        assert truth("$slash = /")
    finally:
        del VARS["slash"]


def test_regex_captures_and_named_groups() -> None:
    ok, m = eval_expr(parse_expr("$a = /^Hello (\\w+)/"), lookup)
    assert ok and m is not None and m.group(0) == "Hello World" and m.group(1) == "World"
    ok, m = eval_expr(parse_expr("$a = /(?<first>\\w+) (?P<second>\\w+)/"), lookup)
    assert ok and m is not None and m.groupdict() == {"first": "Hello", "second": "World"}
    ok, m = eval_expr(parse_expr("$a = /nomatch/"), lookup)
    assert not ok and m is None


def test_regex_variables_are_substituted_first() -> None:
    with pytest.raises(SSIError, match="invalid variable name"):
        truth("$a = /World$/")
    assert truth("$a = /World\\$/")
    assert truth("$a = /^$b?Hello/")


def test_a_bad_regex_fails_the_command() -> None:
    with pytest.raises(SSIError, match="pcre2_compile"):
        truth("$a = /(/")


VALUE = "<b>&\"x' y#%~^`{|}\\ \xc3\xa9"  # bytes as latin-1, é in UTF-8


@pytest.mark.parametrize("mode, want", [
    ("entity", "&lt;b&gt;&amp;&quot;x' y#%~^`{|}\\ \xc3\xa9"),
    ("url", "%3Cb%3E&%22x%27%20y%23%25~%5E%60%7B%7C%7D%5C%20%C3%A9"),
    ("none", VALUE),
])
def test_encodings(mode: str, want: str) -> None:
    assert encode(VALUE, mode) == want


def test_url_encoding_keeps_the_reserved_set_and_escapes_the_rest() -> None:
    kept = "&+;=?/:~!$()*,@[]-._azAZ09"
    assert encode(kept, "url") == kept
    assert encode("\x00\x20\x7f\xff", "url") == "%00%20%7F%FF"
    assert encode("%3Cb%3E", "url") == "%253Cb%253E"


@pytest.mark.parametrize("path, want", [
    ("/a%20b", "/a b"), ("/%41%42", "/AB"), ("/100%", "/100"), ("/%zz", "/zz"),
    ("/%4z", "/"), ("/%2e%2e/x", "/../x"), ("/plain", "/plain"),
])
def test_percent_decode(path: str, want: str) -> None:
    assert percent_decode(path) == want


@pytest.mark.parametrize("path, unsafe", [
    ("/a/b", False), ("/a/..b", False), ("/a..", False), ("", True), ("?x", True),
    ("..", True), ("../x", True), ("/a/../b", True), ("/a/..", True), ("/a\x00b", True),
])
def test_unsafe_uri(path: str, unsafe: bool) -> None:
    assert unsafe_uri(path) is unsafe


EPOCH = 1795399560.7  # Monday, 23-Nov-2026 ... UTC


def test_date_default_format_and_seconds() -> None:
    assert format_date("%A, %d-%b-%Y %H:%M:%S %Z", EPOCH, gmt=True) == \
        time.strftime("%A, %d-%b-%Y %H:%M:%S GMT", time.gmtime(EPOCH))
    assert format_date("%s", EPOCH, gmt=True) == "1795399560"
    assert format_date("%s", EPOCH, gmt=False) == "1795399560"


def test_date_zone_names_and_literal_percent() -> None:
    # checked on nginx 1.22 (TZ=UTC): "%%Z %Z|x" gives "%Z GMT|x" and "%Z UTC|x"
    assert format_date("%%Z %Z|x", EPOCH, gmt=True) == "%Z GMT|x"
    assert format_date("%Z", EPOCH, gmt=False) == time.strftime("%Z", time.localtime(EPOCH))


def test_date_formats_that_nginx_cannot_format() -> None:
    assert format_date("", EPOCH, gmt=True) is None
    assert format_date("%Y" * 600, EPOCH, gmt=True) is None  # 2400 bytes > 2048
    assert format_date("%Y" * 500, EPOCH, gmt=True) is not None


@given(st.text(alphabet="ab$\\{}_ 'x\"", max_size=20))
def test_evaluate_either_fails_cleanly_or_leaves_no_unescaped_dollar(raw: str) -> None:
    try:
        value = evaluate(raw, lambda name: None)
    except SSIError:
        return
    # every variable was unset, so only escaped dollars can remain
    assert value.count("$") <= raw.count("\\$")
