"""Directives trinx accepts from existing nginx configs but does not act on.

nginx checks these as it checks any directive: the context, the argument count, the value
(a flag must be ``on``/``off``, a size must parse...), and that a scalar is not set twice at
one level.  A config nginx rejects must be rejected here too, with nginx's message, so each
entry names the nginx slot type it is parsed with; the value is then dropped.

The setter records the directive name in a per-level set (``conf.seen``) only to report
``"x" directive is duplicate`` as nginx's ``NGX_CONF_UNSET`` check does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.module import Args, ConfLevel, Ctx, Directive, Setter, parse_size, parse_time

if TYPE_CHECKING:
    from engine.cycle import ConfContext

__all__ = ["compat_directives", "events_directives", "validated"]

_HTTP = Ctx.HTTP | Ctx.SRV | Ctx.LOC


def _check(cf: "ConfContext", kind: str) -> None:
    """Check ``cf.args`` as nginx's slot for ``kind`` would; raise its message."""
    name, args = cf.args[0], cf.args[1:]
    v = args[0] if args else ""
    if kind == "flag":
        if v.lower() not in ("on", "off"):
            raise cf.error(f'invalid value "{v}" in "{name}" directive, '
                           'it must be "on" or "off"')
    elif kind == "num":
        if not v.isdigit():
            raise cf.error(f'"{name}" directive invalid number')
    elif kind == "connections":  # ngx_event_connections has its own message
        if not v.isdigit():
            raise cf.error(f'invalid number "{v}"')
    elif kind in ("size", "off"):
        if parse_size(v, allow_g=kind == "off") is None:
            raise cf.error(f'"{name}" directive invalid value')
    elif kind == "size_var":  # a size that may contain variables (limit_rate)
        if "$" not in v and parse_size(v) is None:
            raise cf.error(f'"{name}" directive invalid value')
    elif kind == "msec":
        if parse_time(v) is None:
            raise cf.error(f'"{name}" directive invalid value')
    elif kind == "sec":
        t = parse_time(v)
        if t is None or t % 1000:
            raise cf.error(f'"{name}" directive invalid value')
    elif kind == "off_or_off":  # directio: "off" or an offset
        if v != "off" and parse_size(v, allow_g=True) is None:
            raise cf.error(f'"{name}" directive invalid value')
    elif kind == "bufs":  # output_buffers 2 32k
        size = parse_size(args[1]) if len(args) > 1 else None
        if not v.isdigit() or int(v) == 0 or not size:
            raise cf.error(f'"{name}" directive invalid value')
    elif kind.startswith("enum:"):
        if v.lower() not in kind[5:].split("|"):  # ngx_conf_set_enum_slot: without case
            raise cf.error(f'invalid value "{v}"')


def validated(kind: str, scalar: bool = True) -> Setter:
    """A setter that checks the value like nginx's slot ``kind`` and then drops it."""
    def setter(cf: "ConfContext", cmd: Directive, conf: Any) -> None:
        seen: set[str] | None = getattr(conf, "seen", None)
        if scalar and seen is not None:
            if cmd.name in seen:
                raise cf.error(f'"{cmd.name}" directive is duplicate')
            seen.add(cmd.name)
        _check(cf, kind)
    setter.compat = True  # type: ignore[attr-defined]  # yields to a module implementing it
    return setter


def _h(name: str, kind: str, args: Args = Args.TAKE1, ctx: Ctx = _HTTP,
       level: ConfLevel = ConfLevel.LOC, scalar: bool = True) -> Directive:
    return Directive(name, ctx, args, validated(kind, scalar), level)


def compat_directives() -> list[Directive]:
    """The http-level directives accepted and ignored (nginx 1.22 contexts and slots)."""
    main, srv = ConfLevel.SRV, ConfLevel.SRV  # http-main-only ones live in the http srv conf
    return [
        *[_h(n, "flag") for n in (
            "tcp_nopush", "tcp_nodelay", "reset_timedout_connection", "open_file_cache_errors",
            "aio_write", "msie_refresh", "client_body_in_single_buffer")],
        *[_h(n, "size") for n in (
            "sendfile_max_chunk", "client_body_buffer_size", "postpone_output", "send_lowat",
            "read_ahead")],
        *[_h(n, "size_var", ctx=_HTTP | Ctx.LIF) for n in ("limit_rate", "limit_rate_after")],
        *[_h(n, "num") for n in ("types_hash_max_size", "types_hash_bucket_size",
                                 "open_file_cache_min_uses")],
        *[_h(n, "num", ctx=Ctx.HTTP, level=main) for n in (
            "server_names_hash_max_size", "server_names_hash_bucket_size",
            "variables_hash_max_size", "variables_hash_bucket_size")],
        *[_h(n, "msec") for n in ("lingering_time", "lingering_timeout", "resolver_timeout",
                                  "auth_delay", "keepalive_time")],
        _h("open_file_cache_valid", "sec"),
        _h("lingering_close", "enum:off|on|always"),
        _h("client_body_in_file_only", "enum:on|clean|off"),
        _h("satisfy", "enum:all|any"),
        _h("directio", "off_or_off"),
        _h("directio_alignment", "off"),
        _h("output_buffers", "bufs", Args.TAKE2),
        *[_h(n, "size", ctx=Ctx.HTTP | Ctx.SRV, level=srv) for n in (
            "connection_pool_size", "request_pool_size")],
        _h("aio", "any", scalar=False),
        _h("open_file_cache", "any", Args.TAKE12, scalar=False),
        _h("resolver", "any", Args.ONE_MORE, scalar=False),
        _h("keepalive_disable", "any", Args.TAKE12, scalar=False),
        *[_h(n, "any", Args.TAKE1234, scalar=False) for n in (
            "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path",
            "uwsgi_temp_path", "scgi_temp_path")],
    ]


def events_directives() -> list[Directive]:
    """The ``events {}`` directives (stored nowhere: trio does the event loop)."""
    def e(name: str, kind: str, args: Args = Args.TAKE1, scalar: bool = True) -> Directive:
        return Directive(name, Ctx.EVENTS, args, validated(kind, scalar), ConfLevel.CORE)

    return [
        e("worker_connections", "connections"),
        e("use", "any"),  # "is duplicate" like ngx_event_use
        e("multi_accept", "flag"),
        e("accept_mutex", "flag"),
        e("accept_mutex_delay", "msec"),
        e("worker_aio_requests", "num"),
        e("debug_connection", "any", scalar=False),
    ]
