"""The ``trinx`` command: nginx's command line, signals and process lifecycle.

Options and their meanings are nginx's (reference/core.md §1): ``-p`` prefix, ``-c`` config
(relative to the prefix), ``-e`` start-up error log, ``-g`` extra main-context directives
(parsed before the file, block directives refused), ``-t``/``-T`` test, ``-q``, ``-s`` signal,
``-v``/``-V``, ``-h``.  Without ``-p``/``-c`` trinx serves the demo site: prefix
``<repo>/site/`` and config ``trinx.conf`` there.

One process serves all connections.  ``worker_processes`` is accepted; the cycle/server split
(sockets opened by ``Server.open_listeners``, no module-level state) is what lets workers share
listening sockets later.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import trio

from engine.conf import ConfigError
from engine.cycle import Cycle, read_cycle
from engine.http_core import CORE, CoreConf, core_defaults
from engine.log import ErrorLog
from engine.modules import builtin_modules, module_names
from engine.special import NGINX_VERSION

__all__ = ["main", "Options", "parse_args", "load_cycle"]

VERSION = "0.1.0"
SITE = Path(__file__).resolve().parent.parent / "site"

USAGE = f"""Usage: trinx [-?hvVtTq] [-s signal] [-p prefix]
             [-e filename] [-c filename] [-g directives]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version, build information and modules, then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: {SITE}/)
  -e filename   : set error log file (default: logs/error.log)
  -c filename   : set configuration file (default: trinx.conf under the default prefix,
                  conf/nginx.conf under a prefix given with -p)
  -g directives : set global directives out of configuration file
"""

SIGNALS_HANDLED = (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
SIGNALS = {"stop": signal.SIGTERM, "quit": signal.SIGQUIT, "reopen": signal.SIGUSR1,
           "reload": signal.SIGHUP}


@dataclass
class Options:
    prefix: str | None = None
    conf: str | None = None
    errlog: str | None = None
    directives: str | None = None
    test: bool = False
    dump: bool = False
    quiet: bool = False
    signal: str | None = None
    version: bool = False
    version_full: bool = False
    help: bool = False
    extra: list[str] = field(default_factory=list)


class UsageError(Exception):
    pass


def parse_args(argv: list[str]) -> Options:
    """nginx's option parser: combined letters (``-tq``) and attached values (``-c/x``)."""
    o = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            raise UsageError(f'invalid option: "{arg}"')
        j = 1
        while j < len(arg):
            ch = arg[j]
            j += 1
            if ch in "?h":
                o.help = True
            elif ch == "v":
                o.version = True
            elif ch == "V":
                o.version = o.version_full = True
            elif ch == "t":
                o.test = True
            elif ch == "T":
                o.test = o.dump = True
            elif ch == "q":
                o.quiet = True
            elif ch in "pceg s":
                if j < len(arg):
                    value = arg[j:]
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    names = {"p": "-p", "c": "-c", "e": "-e", "g": "-g", "s": "-s"}
                    raise UsageError(f'option "{names[ch]}" requires '
                                     + {"p": "directory name", "c": "file name",
                                        "e": "file name", "g": "parameter",
                                        "s": "parameter"}[ch])
                if ch == "p":
                    o.prefix = value
                elif ch == "c":
                    o.conf = value
                elif ch == "e":
                    o.errlog = value
                elif ch == "g":
                    o.directives = value
                elif ch == "s":
                    if value not in SIGNALS:
                        raise UsageError(f'invalid option: "-s {value}"')
                    o.signal = value
                break
            else:
                raise UsageError(f'invalid option: "{ch}"')  # nginx names the letter
    return o


def _paths(o: Options) -> tuple[str, str]:
    if o.prefix is not None:
        prefix = os.path.abspath(o.prefix)
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        default_conf = "conf/nginx.conf"
    else:
        prefix = str(SITE) + "/"
        default_conf = "trinx.conf"
    conf = o.conf if o.conf is not None else default_conf
    if not conf.startswith("/"):
        conf = os.path.join(prefix, conf)
    return prefix, os.path.normpath(conf)


def load_cycle(o: Options, warn_log: Callable[[int, str], None] | None = None,
               on_parsed: Callable[[], None] | None = None) -> Cycle:
    """Read the configuration named by the options; raises ConfigError.

    ``warn_log(level, message)`` receives its warnings (nginx's ``cf->log``); ``on_parsed``
    runs once the text is read (see `read_cycle`).  Files are not opened yet.
    """
    prefix, conf = _paths(o)
    cycle = read_cycle(conf, prefix, builtin_modules(), o.directives, warn_log, on_parsed)
    core_defaults(cycle.core_conf[CORE])
    return cycle


def _emerg(message: str, errlog: ErrorLog | None = None) -> None:
    """An ``[emerg]`` before the server runs: to the log, and on stderr as ``nginx: [emerg]
    message`` unless the log is stderr (then only its time-stamped line, as nginx)."""
    if errlog is None:
        print(f"nginx: [emerg] {message}", file=sys.stderr)
    else:
        errlog.log_startup(logging.CRITICAL + 10, message)


def _startup_log(o: Options, prefix: str) -> ErrorLog:
    """``ngx_log_init``: the ``-e`` file (default logs/error.log) at level notice, opened
    before the configuration is read; a file that cannot be opened is an alert on stderr,
    and stderr is the log then."""
    path = o.errlog or "logs/error.log"
    if path != "stderr" and not path.startswith("/"):
        path = os.path.join(prefix, path)
    try:
        return ErrorLog([(path, "notice")])
    except OSError as e:
        print(f'nginx: [alert] could not open error log file: open() "{path}" failed '
              f"({e.errno}: {e.strerror})", file=sys.stderr)
        return ErrorLog([("stderr", "notice")])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        o = parse_args(args)
    except UsageError as e:
        # nginx prints only the complaint, not the usage
        print(f"nginx: {e}", file=sys.stderr)
        return 1
    if o.help or o.version:
        print(f"nginx version: nginx/{NGINX_VERSION} (trinx {VERSION})", file=sys.stderr)
        if o.help:
            print(USAGE, file=sys.stderr, end="")
        if o.version_full:
            print(f"built by trinx {VERSION} on Python {sys.version.split()[0]} "
                  f"(trio {trio.__version__})", file=sys.stderr)
            prefix, conf = _paths(o)
            print(f"configure arguments: --prefix={prefix} --conf-path={conf}",
                  file=sys.stderr)
            print("modules: " + " ".join(module_names()), file=sys.stderr)
        if not o.test:  # as in nginx, -v/-V/-h combined with -t go on to test
            return 0
    prefix, conf = _paths(o)
    startup_log = _startup_log(o, prefix)
    try:
        if o.signal:
            return _send_signal(o, startup_log)
        return _load_and_run(o, conf, startup_log)
    finally:
        startup_log.close()


def _load_and_run(o: Options, conf: str, startup_log: ErrorLog) -> int:
    def syntax_ok() -> None:  # nginx says it before its post-parse checks and file opening
        if o.test and not o.quiet:
            print(f"nginx: the configuration file {conf} syntax is ok", file=sys.stderr)

    try:
        cycle = load_cycle(o, startup_log.log_startup, syntax_ok)
        if o.test:
            _check_pid_file(cycle)
        error_log = _open_error_log(cycle, o)
        if o.test:
            error_log.close()  # -t only checks that the files open, as nginx -t does
        cycle.open_files()
    except ConfigError as e:
        _emerg(str(e), startup_log)
        if o.test:
            print(f"nginx: configuration file {conf} test failed", file=sys.stderr)
        return 1
    except OSError as e:
        _emerg(f'open() "{e.filename}" failed ({e.errno}: {e.strerror})', startup_log)
        if o.test:
            print(f"nginx: configuration file {conf} test failed", file=sys.stderr)
        return 1
    if o.test:
        if not o.quiet:
            print(f"nginx: configuration file {conf} test is successful", file=sys.stderr)
        if o.dump:
            dumped: set[str] = set()
            for path, text in cycle.files_read:
                if path in dumped:  # a file included twice is dumped once, as nginx does
                    continue
                dumped.add(path)
                sys.stdout.write(f"# configuration file {path}:\n{text}\n")
            sys.stdout.flush()
        cycle.close()
        return 0
    return run(cycle, o, error_log)


def _open_error_log(cycle: Cycle, o: Options) -> ErrorLog:
    return ErrorLog(_error_log_targets(cycle, o))


def _error_log_targets(cycle: Cycle, o: Options) -> list[tuple[str, str]]:
    core: CoreConf = cycle.core_conf[CORE]
    targets = list(core.error_logs)
    if not targets:
        path = o.errlog or "logs/error.log"
        if path != "stderr" and not path.startswith("/"):
            path = os.path.join(cycle.prefix, path)
        targets = [(path, "error")]
    return targets


def _pid_path(cycle: Cycle) -> str:
    core: CoreConf = cycle.core_conf[CORE]
    pid = str(core.pid)
    return pid if pid.startswith("/") else os.path.join(cycle.prefix, pid)


def _check_pid_file(cycle: Cycle) -> None:
    """``-t`` opens the pid file (creating it, never truncating) as nginx's test does."""
    path = _pid_path(cycle)
    with open(path, "a"):
        pass


def _send_signal(o: Options, startup_log: ErrorLog) -> int:
    """nginx's ngx_signal_process: read the pid file named by the config, send the signal."""
    try:
        cycle = load_cycle(o, startup_log.log_startup)
    except ConfigError as e:
        _emerg(str(e), startup_log)
        return 1
    cycle.close()
    print("nginx: [notice] signal process started", file=sys.stderr)
    path = _pid_path(cycle)
    try:
        raw = Path(path).read_bytes()[:22].decode("latin-1")
    except OSError as e:
        print(f'nginx: [error] open() "{path}" failed ({e.errno}: {e.strerror})',
              file=sys.stderr)
        return 1
    text = raw.rstrip("\r\n")  # nginx strips only the line ending before ngx_atoi
    if not text.isdigit():
        print(f'nginx: [error] invalid PID number "{text}" in "{path}"', file=sys.stderr)
        return 1
    pid, signum = int(text), SIGNALS[o.signal]  # type: ignore[index]
    try:
        os.kill(pid, signum)
    except OSError as e:
        print(f"nginx: [alert] kill({pid}, {signum.value}) failed ({e.errno}: {e.strerror})",
              file=sys.stderr)
        return 1
    return 0


def _daemonize() -> None:
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1):
        os.dup2(fd, std)
    os.close(fd)


class BindError(Exception):
    def __init__(self, key: tuple[str, int], err: OSError) -> None:
        super().__init__(key, err)
        self.key, self.err = key, err

    def __str__(self) -> str:
        addr, port = self.key
        host = f"[{addr}]" if ":" in addr else addr
        return f"bind() to {host}:{port} failed ({self.err.errno}: {self.err.strerror})"


def bind_listeners(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], list[socket.socket]]:
    """Bind and listen on every address (nginx's ngx_open_listening_sockets).

    Done before daemonizing and before writing the pid file, as nginx does, so a port in use
    fails the command the user typed (exit 1), and never clobbers a running server's pid file.

    Raises:
        BindError: naming the address; sockets bound so far are closed.
    """
    bound: dict[tuple[str, int], list[socket.socket]] = {}
    try:
        for key in keys:
            addr, port = key
            try:
                infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_PASSIVE)
            except OSError as e:
                raise BindError(key, e) from None
            socks = bound.setdefault(key, [])
            for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(sockaddr)
                    sock.listen(511)
                except OSError as e:
                    raise BindError(key, e) from None
    except BindError:
        for socks in bound.values():
            for sock in socks:
                sock.close()
        raise
    return bound


def run(cycle: Cycle, o: Options, error_log: ErrorLog) -> int:
    """Serve until a stop signal; returns the exit status."""
    core: CoreConf = cycle.core_conf[CORE]
    # From the moment the ports accept connections a client (or a test) may think we are up
    # and signal us; held signals wait for the trio receiver instead of killing the process.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS_HANDLED)
    try:
        socks = bind_listeners(cycle.listens)
    except BindError as e:
        _emerg(str(e), error_log)
        _emerg("still could not bind()", error_log)
        return 1
    if core.daemon:
        _daemonize()
    pid_path = _pid_path(cycle)
    try:
        Path(pid_path).write_text(f"{os.getpid()}\n")
    except OSError as e:
        _emerg(f'open() "{pid_path}" failed ({e.errno}: {e.strerror})', error_log)
        return 1
    try:
        return trio.run(_serve, cycle, o, error_log, socks)
    finally:
        try:
            if Path(pid_path).read_text().strip() == str(os.getpid()):
                os.unlink(pid_path)
        except OSError:
            pass


async def _serve(cycle: Cycle, o: Options, error_log: ErrorLog,
                 socks: dict[tuple[str, int], list[socket.socket]]) -> int:
    """The master loop: serve, and act on signals until every connection is done.

    QUIT stops accepting and lets in-flight requests finish (idle keep-alive connections are
    closed); TERM/INT also cancel the connections.  The signal loop keeps running during a
    graceful stop, so a TERM can still turn it into a fast one.
    """
    from engine.listeners import Server

    server = Server(cycle, error_log)
    _adopt(server, socks)
    with trio.open_signal_receiver(*SIGNALS_HANDLED) as receiver:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS_HANDLED)
        async with trio.open_nursery() as nursery:

            async def serve(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                            ) -> None:
                await server.run(task_status=task_status)
                nursery.cancel_scope.cancel()  # every connection is done: leave the loop

            await nursery.start(serve)
            error_log.log(logging.INFO + 5, "start worker processes")
            async for signum in receiver:
                if signum == signal.SIGHUP and not server.shutting_down:
                    await _reload(server, o, error_log)
                elif signum == signal.SIGUSR1:
                    error_log.log(logging.INFO + 5, "reopening logs")
                    error_log.reopen()
                    for fn in getattr(server.cycle, "reopen", ()):
                        fn()
                elif signum == signal.SIGQUIT:
                    error_log.log(logging.INFO + 5, "gracefully shutting down")
                    server.stop_accepting()
                    core: CoreConf = server.cycle.core_conf[CORE]
                    if core.worker_shutdown_timeout:
                        nursery.start_soon(_shutdown_timer, server,
                                           core.worker_shutdown_timeout / 1000)  # type: ignore
                elif signum in (signal.SIGTERM, signal.SIGINT):
                    error_log.log(logging.INFO + 5, "exiting")
                    server.stop_accepting()
                    server.cancel_connections()
    server.cycle.close()
    error_log.log(logging.INFO + 5, "exit")
    return 0


def _adopt(server: Any, socks: dict[tuple[str, int], list[socket.socket]]) -> None:
    """Hand sockets bound by ``bind_listeners`` to the server (it binds only what is missing)."""
    for key, lst in socks.items():
        for sock in lst:
            sock.setblocking(False)
        server.listeners[key] = lst


async def _shutdown_timer(server: "object", seconds: float) -> None:
    await trio.sleep(seconds)
    server.cancel_connections()  # type: ignore[attr-defined]


async def _reload(server: Any, o: Options, error_log: ErrorLog) -> None:
    """SIGHUP: read the config again; on any error keep serving the old one (and log why)."""
    error_log.log(logging.INFO + 5, "reconfiguring")
    try:
        cycle = load_cycle(o, error_log.log)
        targets = _error_log_targets(cycle, o)
        _open_error_log(cycle, o).close()  # can every file be opened?
        cycle.open_files()
    except ConfigError as e:
        error_log.log(logging.CRITICAL + 10, str(e))
        return
    except OSError as e:
        error_log.log(logging.CRITICAL + 10,
                      f'open() "{e.filename}" failed ({e.errno}: {e.strerror})')
        return
    try:
        _adopt(server, bind_listeners(k for k in cycle.listens if k not in server.listeners))
    except BindError as e:
        error_log.log(logging.CRITICAL + 10, str(e))
        cycle.close()
        return
    await server.reload(cycle)
    if targets != error_log.targets:
        error_log.targets = targets
        error_log.reopen()
