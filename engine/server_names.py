"""``server_name`` checks nginx makes: when the directive is read and when the names of each
listening address are hashed (``ngx_http_server_names`` / ``ngx_hash_add_key``).

Theory of operation
-------------------
The directive refuses ``*`` not followed by ``.`` and a lone ``.`` (``server name "x" is
invalid``), warns about a ``/`` (suspicious symbols) and turns ``$hostname`` into the host's
name.  After the http block, every address that has more than one server (or a server whose
regex has captures) has its names added to nginx's three hashes in configuration order:

- an exact name conflicts with an exact name (or with the exact part of a ``.x``);
- ``.x`` conflicts with an exact ``x`` (checked first: then its wildcard is not added), else
  with ``*.x``/``.x``, then is added to both;
- ``*.x`` conflicts with ``*.x``/``.x``; ``x.*`` with ``x.*``.

A conflict is nginx's ``conflicting server name "x" on addr:port, ignored`` warning: the first
server in configuration order keeps the name, and the whole conflicting name is ignored.
The resulting hashes are kept in ``cycle.name_hashes`` for the server lookup.  A name with two
``*``, a ``*`` elsewhere than a wildcard's end, ``..`` or a NUL is ``invalid server name or
wildcard`` (an emerg, without file:line as nginx).  Regexes are not hashed.
"""

from __future__ import annotations

import socket
from typing import Any

from engine.conf import ConfigError

__all__ = ["NameHashes", "directive_name", "check_server_names"]


def directive_name(cf: Any, name: str) -> str:
    """One ``server_name`` argument as ``ngx_http_core_server_name`` keeps it (lowercased
    unless a regex).  Raises ConfigError for nginx's invalid names."""
    ch = name[:1]
    if (ch == "*" and (len(name) < 3 or name[1] != ".")) or (ch == "." and len(name) < 2):
        raise cf.error(f'server name "{name}" is invalid')
    if "/" in name:
        cf.warn(f'server name "{name}" has suspicious symbols')
    if name.lower() == "$hostname":
        name = socket.gethostname()
    return name if ch == "~" else name.lower()


class NameHashes:
    """nginx's exact, head-wildcard and tail-wildcard hashes of one address: name -> the
    server that got it (the first in configuration order; a conflicting name is ignored
    whole, so ``.x`` losing its wildcard part does not keep its exact part either).

    ``head`` keys are the part after ``*.``/``.`` (``.x`` is in ``exact`` too); ``tail``
    keys the part before ``.*``.
    """

    def __init__(self) -> None:
        self.exact: dict[str, Any] = {}
        self.head: dict[str, Any] = {}
        self.tail: dict[str, Any] = {}

    def add(self, name: str, server: Any) -> str:
        """``ngx_hash_add_key`` with NGX_HASH_WILDCARD_KEY: "ok", "busy" or "declined"."""
        stars = name.count("*")
        if stars > 1 or ".." in name or "\0" in name:
            return "declined"
        if len(name) > 1 and name[0] == ".":
            key = name[1:]
            if key in self.exact or key in self.head:
                return "busy"
            self.exact[key] = self.head[key] = server
            return "ok"
        if len(name) > 2 and name.startswith("*."):
            return self._add(self.head, name[2:], server)
        if len(name) > 2 and name.endswith(".*"):
            return self._add(self.tail, name[:-2], server)
        if stars:
            return "declined"
        return self._add(self.exact, name, server)

    def find_wildcard(self, name: str) -> Any:
        """``ngx_hash_find_wc_head`` then ``_tail``: the value of the most specific
        ``*.x``/``.x`` matching ``name``, else of the longest ``x.*``; None if neither."""
        if self.head:
            dot = name.find(".")
            while dot >= 0:
                value = self.head.get(name[dot + 1:])
                if value is not None:
                    return value
                dot = name.find(".", dot + 1)
        if self.tail:
            dot = name.rfind(".")
            while dot > 0:
                value = self.tail.get(name[:dot])
                if value is not None:
                    return value
                dot = name.rfind(".", 0, dot)
        return None

    def find(self, name: str) -> Any:
        """``ngx_hash_find_combined``: the exact name, else `find_wildcard`."""
        value = self.exact.get(name)
        return value if value is not None else self.find_wildcard(name)

    @staticmethod
    def _add(keys: dict[str, Any], key: str, server: Any) -> str:
        if key in keys:
            return "busy"
        keys[key] = server
        return "ok"


def _addr_text(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def check_server_names(cf: Any, listens: dict[tuple[str, int], list[Any]],
                       core: Any) -> dict[tuple[str, int], NameHashes]:
    """Warn about conflicting names, refuse invalid ones, address by address in nginx's
    order (ports as first seen; on a port, bound addresses, others, the wildcard last).

    Args:
        listens: (addr, port) -> the servers listening there.
        core: the http core module (its srv conf has ``server_names``, ``name_regexes``).

    Returns:
        (addr, port) -> its names as nginx hashed them, for addresses nginx hashes (more
        than one server, or a regex with captures): what a server lookup should use.
    """
    out: dict[tuple[str, int], NameHashes] = {}
    ports: dict[int, list[tuple[str, int]]] = {}
    for key in listens:
        ports.setdefault(key[1], []).append(key)
    for keys in ports.values():
        keys.sort(key=lambda k: _addr_rank(listens[k], k, core))  # stable, as ngx_sort
        for key in keys:
            servers = sorted(listens[key], key=cf.cycle.servers.index)  # configuration order
            captures = any(rx.groups for srv in servers
                           for rx in srv.srv_conf[core].name_regexes)
            if len(servers) < 2 and not captures:
                continue
            hashes = out[key] = NameHashes()
            for srv in servers:
                for name in srv.srv_conf[core].server_names:
                    if name.startswith("~"):
                        continue
                    rc = hashes.add(name, srv)
                    if rc == "declined":
                        raise ConfigError(f'invalid server name or wildcard "{name}" on '
                                          f"{_addr_text(*key)}")
                    if rc == "busy":
                        cf.warn(f'conflicting server name "{name}" on {_addr_text(*key)}, '
                                "ignored", where=False)
    return out


def _addr_rank(servers: list[Any], key: tuple[str, int], core: Any) -> int:
    """``ngx_http_cmp_conf_addrs``: the wildcard address last, bound addresses first."""
    if key[0] in ("0.0.0.0", "::"):
        return 2
    bound = any(ls.opts_set for srv in servers for ls in srv.srv_conf[core].listens
                if (ls.addr, ls.port) == key)
    return 0 if bound else 1
