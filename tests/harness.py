"""Start real servers (trinx, Debian's nginx, anything else) on loopback, and talk raw HTTP to them.

Used by the e2e and differential tests and by the benchmarks; it imports nothing from pytest.

Theory of operation
-------------------
A server is a child process with its own *prefix* directory, laid out as nginx expects::

    prefix/conf/trinx.conf   (or conf/nginx.conf)   the config, with {port} filled in
    prefix/html/...                                 whatever `files` the test passes
    prefix/logs/stderr.log                          the child's stdout and stderr

Both servers run in the foreground with ``-e stderr``, so start-up errors and the default
error log land in ``logs/stderr.log``; a file on disk rather than a pipe, because nobody
reads a pipe while the server runs and a full pipe would block it. The harness chooses a
free port, writes the files, starts the process and polls the port until it accepts a
connection. If the process exits first, `ServerStartError` carries its output.

Config rules for tests. Every config is given to both servers unchanged, so:

- listen on ``{port}``. The placeholder is replaced with ``str.replace``, not
  ``str.format``, because configs are full of braces.
- don't set ``daemon``, ``pid`` or ``master_process``: the harness sets them with ``-g``,
  and nginx refuses a main-context directive given twice (``"pid" directive is
  duplicate``).
- set ``access_log`` (``logs/access.log`` or ``off``) if the test cares: Debian's nginx
  otherwise writes to /var/log/nginx/access.log, its compile-time default. Its temp
  directories are compile-time absolute paths under /var/lib/nginx for the same reason.
- the two servers get different ports and prefixes, so anything that echoes them
  (absolute ``Location`` headers, ``$server_port``, ``$document_root``) must be normalised
  before comparing.

Raw HTTP. `http_request` sends bytes exactly as given and returns exactly what came back;
`parse_response` / `parse_responses` split that into `Response` objects that keep their raw
bytes, so tests can compare trinx and nginx byte for byte where it matters.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

__all__ = [
    "NGINX_BIN",
    "REPO_ROOT",
    "IncompleteResponse",
    "Response",
    "ServerFactory",
    "ServerPairFactory",
    "ServerProcess",
    "ServerStartError",
    "free_port",
    "http_request",
    "parse_response",
    "parse_responses",
    "pin_mtimes",
    "request_methods",
    "srtest_pair",
    "start_nginx",
    "start_trinx",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
NGINX_BIN = Path("/usr/sbin/nginx")

# Given with -g, so test configs must not set these directives themselves.
TRINX_GLOBALS = "daemon off; pid logs/trinx.pid;"
NGINX_GLOBALS = "daemon off; master_process off; pid logs/nginx.pid;"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# Short enough that start-up costs little more than the server's own start time.
POLL_INTERVAL = 0.02
# A start fails this often only when another process grabs the port between free_port()
# and the server's bind; any more is a real problem.
BIND_ATTEMPTS = 3


# Builds a server's command line from the config path relative to the prefix.
ArgvFactory = Callable[[str], list[str]]


class ServerStartError(RuntimeError):
    """The server exited or never accepted connections; the message includes its output."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The port is released before returning, so another process can take it before the
    server binds; `start_trinx` and `start_nginx` retry with a new port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server child process bound to one port on 127.0.0.1.

    Use as a context manager: entering starts the process (if not started yet) and
    exiting stops it. `stop` is idempotent and safe to call on a server that never started.

    Args:
        name: shown in error messages ("nginx", "trinx", "bare").
        argv: the command line.
        prefix: the server's directory; its output goes to ``prefix/logs/stderr.log``.
        port: the port to poll for readiness; `base_url` points at it.
        cwd: working directory of the child (default: the prefix).
        env: the child's environment (default: this process's).
    """

    def __init__(
        self,
        *,
        name: str,
        argv: Sequence[str],
        prefix: Path,
        port: int,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.prefix = prefix
        self.port = port
        self.cwd = cwd if cwd is not None else prefix
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def output_path(self) -> Path:
        """The file holding the child's stdout and stderr."""
        return self.prefix / "logs" / "stderr.log"

    @property
    def pid(self) -> int:
        """The child's pid. Raises RuntimeError if not started."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until the port accepts a connection.

        Raises:
            ServerStartError: the process exited, or the port did not open within
                `timeout` seconds. The process is stopped, and the message holds its output.
            RuntimeError: already started.
        """
        if self.process is not None:
            raise RuntimeError(f"{self.name} is already started")
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        # Truncated: a retry after a lost port starts with a clean log.
        self._output = open(self.output_path, "wb")
        # A new session keeps a Ctrl-C aimed at pytest away from the server, so the
        # test's teardown, not a signal race, decides how it stops.
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_listening(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self, timeout: float) -> None:
        """Poll-connect to the port until it answers, the process exits, or time runs out."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with status {self.process.returncode} before "
                    f"listening on port {self.port}.\n"
                    f"command: {shlex.join(self.argv)}\noutput:\n{self.error_log_text()}"
                )
            if _accepts(self.port) and _owns_listener(self.process.pid, self.port):
                return
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} did not listen on port {self.port} within {timeout}s.\n"
                    f"command: {shlex.join(self.argv)}\noutput:\n{self.error_log_text()}"
                )
            time.sleep(POLL_INTERVAL)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stop gracefully (SIGQUIT); SIGKILL if still running after `timeout` seconds.

        Returns:
            The exit status (negative for a signal, as in `subprocess`), or None if the
            process was never started.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None
        return self.process.returncode

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited, else None."""
        return None if self.process is None else self.process.poll()

    def error_log_text(self) -> str:
        """The child's output so far, followed by ``logs/error.log`` if the config wrote one."""
        parts = []
        for path in (self.output_path, self.prefix / "logs" / "error.log"):
            if path.exists():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
        return "".join(parts)

    def __enter__(self) -> ServerProcess:
        if self.process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not started" if self.process is None else f"pid {self.process.pid}"
        return f"<ServerProcess {self.name} port {self.port} {state}>"


def _accepts(port: int) -> bool:
    """Whether something on 127.0.0.1:`port` accepts a TCP connection."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _owns_listener(pid: int, port: int) -> bool:
    """Whether process `pid` holds a socket listening on TCP `port` (read from Linux /proc).

    A successful connect cannot tell our server from another process that took the port
    between free_port() and the server's bind (nginx then retries bind() for 2.5 s before
    giving up). Where /proc is unreadable, the connect is trusted.
    """
    listeners: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows)  # column titles
                for row in rows:
                    cols = row.split()
                    local, state, inode = cols[1], cols[3], cols[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                        listeners.add(f"socket:[{inode}]")
        except OSError:
            continue
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in listeners:
                return True
        except OSError:
            continue  # closed since listdir
    return False


def start_trinx(
    conf_text: str,
    prefix: Path,
    files: dict[str, bytes] | None = None,
    *,
    port: int | None = None,
) -> ServerProcess:
    """Start ``python -m engine`` (from this checkout) with `conf_text` and wait until it listens.

    Args:
        conf_text: an nginx-language config listening on ``{port}``; see the module
            docstring for what it must not contain.
        prefix: an empty or new directory to use as the prefix.
        files: extra files, by path relative to the prefix (``"html/index.html"``).
        port: use this port instead of a free one (the config still needs ``{port}``,
            or must already name it).

    Returns:
        The started server; stop it with `stop()` or by using it as a context manager.

    Raises:
        ServerStartError: trinx exited or never listened.
    """

    prefix = prefix.resolve()

    def argv(conf: str) -> list[str]:
        options = ["-p", f"{prefix}/", "-c", conf, "-e", "stderr", "-g", TRINX_GLOBALS]
        return [sys.executable, "-m", "engine", *options]

    # The checkout, not whatever trinx happens to be installed, is what's under test:
    # `python -m` puts the working directory first on sys.path.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return _start("trinx", argv, "conf/trinx.conf", conf_text, prefix, files, port, REPO_ROOT, env)


def start_nginx(
    conf_text: str,
    prefix: Path,
    files: dict[str, bytes] | None = None,
    *,
    port: int | None = None,
) -> ServerProcess:
    """Start Debian's nginx in one foreground process; otherwise as `start_trinx`.

    ``master_process off`` keeps nginx to a single process, so SIGQUIT and SIGKILL
    reach the process that serves, and no worker outlives a killed master.
    """
    if not NGINX_BIN.exists():
        raise ServerStartError(f"{NGINX_BIN} not found (apt-get install nginx-light)")

    prefix = prefix.resolve()

    def argv(conf: str) -> list[str]:
        options = ["-p", f"{prefix}/", "-c", conf, "-e", "stderr", "-g", NGINX_GLOBALS]
        return [str(NGINX_BIN), *options]

    return _start("nginx", argv, "conf/nginx.conf", conf_text, prefix, files, port, None, None)


class ServerFactory(Protocol):
    """A fixture-style starter: config text and files in, one started server out."""

    def __call__(self, conf_text: str, files: dict[str, bytes] | None = None) -> ServerProcess: ...


class ServerPairFactory(Protocol):
    """Starts nginx and trinx with the same config and files; returns (nginx, trinx)."""

    def __call__(
        self, conf_text: str, files: dict[str, bytes] | None = None
    ) -> tuple[ServerProcess, ServerProcess]: ...


def _start(
    name: str,
    make_argv: ArgvFactory,
    conf_rel: str,
    conf_text: str,
    prefix: Path,
    files: dict[str, bytes] | None,
    port: int | None,
    cwd: Path | None,
    env: dict[str, str] | None,
) -> ServerProcess:
    """Write the prefix and start the server, retrying on a port lost to another process."""
    if port is None and "{port}" not in conf_text:
        raise ValueError("conf_text must listen on {port} (or pass port=...)")
    prefix = prefix.resolve()
    _write_files(prefix, files or {})
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else BIND_ATTEMPTS
    for attempt in range(attempts):
        chosen = port if port is not None else free_port()
        _write_files(prefix, {conf_rel: conf_text.replace("{port}", str(chosen)).encode()})
        server = ServerProcess(
            name=name, argv=make_argv(conf_rel), prefix=prefix, port=chosen, cwd=cwd, env=env
        )
        try:
            server.start()
        except ServerStartError as exc:
            if attempt + 1 < attempts and "Address already in use" in str(exc):
                continue
            raise
        return server
    raise AssertionError("unreachable")


def _write_files(prefix: Path, files: dict[str, bytes]) -> None:
    """Write `files` under `prefix`, refusing paths that would land outside it."""
    for rel, data in files.items():
        target = (prefix / rel).resolve()
        if not target.is_relative_to(prefix):
            raise ValueError(f"file path {rel!r} is outside the prefix {prefix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@contextmanager
def srtest_pair(conf: str, trinx_only: str, tmp: Path, files: dict[str, bytes]
               ) -> Iterator[tuple[ServerProcess, ServerProcess | None]]:
    """trinx and, when installed, nginx on one config behind a `tests.backends.Backend`
    (``{B}`` in ``conf``); trinx also loads tests.modules.srtest and gets ``trinx_only``'s
    locations at ``{TRINX}`` (nginx gets nothing there)."""
    from tests.backends import Backend

    with Backend("b") as backend, ExitStack() as stack:
        conf = conf.replace("{B}", backend.address)
        trinx = stack.enter_context(start_trinx(
            "load_module tests.modules.srtest;\n" + conf.replace("{TRINX}", trinx_only),
            tmp / "trinx", files))
        nginx = stack.enter_context(start_nginx(conf.replace("{TRINX}", ""), tmp / "nginx",
                                                files)) if NGINX_BIN.exists() else None
        yield trinx, nginx


def pin_mtimes(prefix: Path, mtime: int) -> None:
    """Give everything under `prefix`/html (links themselves too) the same mtime, so that
    ETag, Last-Modified and listings compare between two servers' trees."""
    for top, dirs, files in os.walk(prefix / "html"):
        for name in dirs + files:
            os.utime(os.path.join(top, name), (mtime, mtime), follow_symlinks=False)


# ---------------------------------------------------------------------------------------
# Raw HTTP/1.x client side
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Response:
    """One HTTP/1.x response as received.

    `headers` keeps names as sent (case, order, duplicates); `body` is the payload with
    chunked framing removed; `raw` is the exact bytes of this response on the wire.
    """

    http_version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        """Every value of header `name` (any case), in order."""
        lower = name.lower()
        return [value for key, value in self.headers if key.lower() == lower]

    @property
    def head(self) -> bytes:
        """The status line and header block, up to and including the blank line."""
        end = self.raw.index(b"\r\n\r\n") + 4
        return self.raw[:end]


class IncompleteResponse(ValueError):
    """The bytes end inside a response: more data was needed."""


def parse_response(data: bytes, method: str = "GET") -> Response:
    """Parse `data` as exactly one complete response to a `method` request.

    `data` is taken to be everything the server sent, so a body with neither
    Content-Length nor chunked framing runs to the end of `data`.

    Raises:
        IncompleteResponse: `data` ends before the response does.
        ValueError: malformed, or not exactly one response (use `parse_responses`).
    """
    responses = parse_responses(data, [method])
    if len(responses) != 1:
        raise ValueError(f"expected one response, got {len(responses)}")
    return responses[0]


def parse_responses(data: bytes, methods: Sequence[str] = ()) -> list[Response]:
    """Split everything a server sent on one connection into responses.

    Args:
        data: all bytes received, up to the connection's close.
        methods: the request methods in order, so that responses to HEAD are known to
            have no body. Missing entries count as GET. Interim (1xx) responses do not
            consume an entry.

    Raises:
        IncompleteResponse: `data` ends inside a response.
        ValueError: the bytes are not HTTP/1.x responses.
    """
    responses, _ = _parse_available(data, methods, at_eof=True)
    return responses


def _parse_available(
    data: bytes, methods: Sequence[str], *, at_eof: bool
) -> tuple[list[Response], bool]:
    """Parse as many whole responses as `data` holds.

    Returns:
        The responses, and whether `data` ended exactly at a response boundary. When
        not `at_eof`, an incomplete tail is left unparsed instead of raising.
    """
    responses: list[Response] = []
    pos = 0
    final_count = 0
    while pos < len(data):
        method = methods[final_count] if final_count < len(methods) else "GET"
        try:
            response, pos = _parse_one(data, pos, method, at_eof=at_eof)
        except IncompleteResponse:
            if at_eof:
                raise
            return responses, False
        responses.append(response)
        if response.status >= 200:
            final_count += 1
    return responses, True


_STATUS_LINE = re.compile(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?")


def _parse_one(data: bytes, pos: int, method: str, *, at_eof: bool) -> tuple[Response, int]:
    """Parse the response starting at `pos`; return it and the offset just after it."""
    head_end = data.find(b"\r\n\r\n", pos)
    if head_end < 0:
        raise IncompleteResponse(f"no end of header block after offset {pos}")
    lines = data[pos:head_end].split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ValueError(f"bad status line at offset {pos}: {lines[0][:80]!r}")
    version, status, reason = match.group(1), int(match.group(2)), match.group(3) or b""
    headers = _parse_fields(lines[1:])
    body_start = head_end + 4
    trailers: list[tuple[str, str]] = []
    # RFC 9112 section 6.3, in its order: bodiless responses, then chunked, then
    # Content-Length, then read-until-close.
    lowered = {key.lower(): value for key, value in headers}
    if method.upper() == "HEAD" or status < 200 or status in (204, 304):
        body, end = b"", body_start
    elif "chunked" in lowered.get("transfer-encoding", "").lower():
        body, trailers, end = _parse_chunked(data, body_start)
    elif "content-length" in lowered:
        length = int(lowered["content-length"])
        end = body_start + length
        if end > len(data):
            raise IncompleteResponse(f"body needs {length} bytes from offset {body_start}")
        body = data[body_start:end]
    else:
        if not at_eof:
            raise IncompleteResponse("body is delimited by the connection's close")
        body, end = data[body_start:], len(data)
    response = Response(
        http_version=version.decode(),
        status=status,
        reason=reason.decode("latin-1"),
        headers=headers,
        body=body,
        raw=data[pos:end],
        trailers=trailers,
    )
    return response, end


def _parse_fields(lines: list[bytes]) -> list[tuple[str, str]]:
    """Parse ``Name: value`` lines, keeping case and order; values lose surrounding OWS."""
    fields: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line: {line[:80]!r}")
        fields.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return fields


def _parse_chunked(data: bytes, pos: int) -> tuple[bytes, list[tuple[str, str]], int]:
    """Decode a chunked body starting at `pos`; return body, trailers and the end offset."""
    chunks: list[bytes] = []
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            raise IncompleteResponse("chunk size line incomplete")
        size_text = data[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ValueError(f"bad chunk size {size_text[:20]!r} at offset {pos}") from None
        pos = line_end + 2
        if size == 0:
            break
        if pos + size + 2 > len(data):
            raise IncompleteResponse(f"chunk of {size} bytes incomplete")
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError(f"chunk at offset {pos} not followed by CRLF")
        chunks.append(data[pos : pos + size])
        pos += size + 2
    if data.startswith(b"\r\n", pos):
        return b"".join(chunks), [], pos + 2
    trailer_end = data.find(b"\r\n\r\n", pos)
    if trailer_end < 0:
        raise IncompleteResponse("trailer section incomplete")
    trailers = _parse_fields(data[pos:trailer_end].split(b"\r\n"))
    return b"".join(chunks), trailers, trailer_end + 4


_ERROR_LOG_LINE = re.compile(r"^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")


def log_lines_since(server: "ServerProcess", before: int) -> list[tuple[str, ...]]:
    """The error-log lines ``server`` wrote after offset ``before`` of its
    ``error_log_text()``: (level, message with its context), time, pid and connection
    number dropped, its prefix and port normalised, so nginx's and trinx's compare."""
    text = server.error_log_text()[before:].replace(str(server.prefix), "<prefix>")
    text = text.replace(f":{server.port}", ":<port>")
    return [m.groups() for m in map(_ERROR_LOG_LINE.match, text.splitlines()) if m]


def request_methods(raw: bytes) -> list[str]:
    """Best-effort list of the methods of the requests in `raw`, in order.

    Walks request heads and skips Content-Length or chunked bodies. Stops quietly at
    anything it cannot follow (a test sending malformed bytes on purpose), so the list
    may be short.
    """
    methods: list[str] = []
    pos = 0
    while pos < len(raw):
        head_end = raw.find(b"\r\n\r\n", pos)
        if head_end < 0:
            break
        lines = raw[pos:head_end].split(b"\r\n")
        methods.append(lines[0].split(b" ", 1)[0].decode("latin-1"))
        pos = head_end + 4
        try:
            fields = {k.lower(): v for k, v in _parse_fields(lines[1:])}
            if "chunked" in fields.get("transfer-encoding", "").lower():
                _, _, pos = _parse_chunked(raw, pos)
            elif "content-length" in fields:
                pos += int(fields["content-length"])
        except ValueError:
            break
    return methods


def http_request(
    port: int,
    raw: bytes,
    timeout: float = 5.0,
    *,
    responses: int | None = None,
    methods: Sequence[str] | None = None,
) -> bytes:
    """Send `raw` to 127.0.0.1:`port` and return every byte received.

    Reading stops when the server closes the connection, or as soon as the bytes hold
    `responses` complete final (non-1xx) responses. By default that is one per request
    found in `raw` (at least one), so keep-alive connections need not time out.

    Args:
        methods: the request methods, for HEAD detection; default: read from `raw`.

    Returns:
        The bytes exactly as received. If `timeout` passes between two reads after some
        bytes have arrived, those bytes are returned (the caller's assertions will say
        what is missing).

    Raises:
        TimeoutError: nothing at all arrived within `timeout` seconds.
        OSError: connecting or sending failed.
    """
    if methods is None:
        methods = request_methods(raw)
    wanted = responses if responses is not None else max(1, len(methods))
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if not received:
                    raise
                break
            except ConnectionResetError:
                # nginx resets after answering a request it refused to read in full
                # (lingering close ends early); keep whatever it answered.
                break
            if not chunk:
                break
            received += chunk
            if _has_final_responses(bytes(received), methods, wanted):
                break
    return bytes(received)


def _has_final_responses(data: bytes, methods: Sequence[str], wanted: int) -> bool:
    """Whether `data` already holds `wanted` complete final responses."""
    try:
        parsed, _ = _parse_available(data, methods, at_eof=False)
    except ValueError:
        # Not parseable as HTTP (an HTTP/0.9 reply, say): only the close can end it.
        return False
    return sum(1 for response in parsed if response.status >= 200) >= wanted
