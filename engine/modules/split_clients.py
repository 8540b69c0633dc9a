"""``split_clients`` (``ngx_http_split_clients_module``): A/B buckets from a hashed key.

Directive (http level)::

    split_clients string $variable { 0.5% .one; 2% .two; * ""; }

The string (with variables) is hashed with nginx's MurmurHash2 (``ngx_murmur_hash2``, seed
0, over the latin-1 bytes); each percentage (up to two decimals, ``ngx_atofp``) owns the
next slice of the 32-bit hash space, ``*`` the rest.  A hash in no slice (total under 100%
and no ``*``) gives the empty value.  Values are literal text (nginx does not compile
them).  The result is cached in ``r.variables`` under the variable's name, as nginx caches
it in ``r->variables``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine import api

__all__ = ["MODULE", "murmur_hash2", "SplitClients"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur_hash2(data: bytes) -> int:
    """nginx's ``ngx_murmur_hash2``: MurmurHash2, 32 bits, seed 0, little-endian words."""
    n = len(data)
    h = n & _MASK
    i = 0
    while n - i >= 4:
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = k * _M & _MASK
        k ^= k >> 24
        k = k * _M & _MASK
        h = (h * _M & _MASK) ^ k
        i += 4
    rest = n - i
    if rest == 3:
        h ^= data[i + 2] << 16
    if rest >= 2:
        h ^= data[i + 1] << 8
    if rest >= 1:
        h ^= data[i]
        h = h * _M & _MASK
    h ^= h >> 13
    h = h * _M & _MASK
    h ^= h >> 15
    return h


@dataclass(eq=False)
class SplitClients:
    """One block: ``parts`` are (upper bound of the hash, exclusive, or 0 for ``*``, value)."""

    name: str
    key: api.ComplexValue
    parts: list[tuple[int, str]] = field(default_factory=list)

    def variable(self, r: api.Request) -> str:
        cached = r.variables.get(self.name)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        h = murmur_hash2(self.key.evaluate(r).encode("latin-1"))
        out = ""
        for bound, value in self.parts:
            if h < bound or bound == 0:
                out = value
                break
        r.variables[self.name] = out
        return out


def atofp(text: str, point: int) -> int | None:
    """nginx's ``ngx_atofp``: a decimal with at most ``point`` fraction digits, times
    10**point; None when invalid (or beyond NGX_MAX_INT_T_VALUE)."""
    if not text:
        return None
    cutoff, cutlim = ((1 << 63) - 1) // 10, ((1 << 63) - 1) % 10
    value, dot = 0, False
    for ch in text:
        if point == 0:
            return None
        if ch == ".":
            if dot:
                return None
            dot = True
            continue
        if not "0" <= ch <= "9":
            return None
        d = ord(ch) - 48
        if value >= cutoff and (value > cutoff or d > cutlim):
            return None
        value = value * 10 + d
        point -= dot
    while point:
        if value > cutoff:
            return None
        value *= 10
        point -= 1
    return value


def _block(cf: api.ConfContext, cmd: api.Directive, conf: object) -> None:
    key = cf.compile(cf.args[1])
    name = cf.variable_name(cf.args[2])
    split = SplitClients(name=name, key=key)
    percents: list[tuple[int, str]] = []
    # nginx reads the value as the second slot of cf->args without counting the words: a
    # lone "50%;" gets whatever the slot still holds from the last statement with two words
    # (at first the directive's own key), and words after the value are ignored
    slot = [cf.args[1]]

    def entry(cf: api.ConfContext, st: api.Statement) -> None:
        if st.kind is api.Token.BLOCK_START:
            raise cf.error('unexpected "{"')
        args = cf.args
        if len(args) >= 2:
            slot[0] = args[1]
        if args[0] == "*":
            percent = 0
        else:
            n = atofp(args[0][:-1], 2) if args[0].endswith("%") else None
            if not n:
                raise cf.error(f'invalid percent value "{args[0]}"')
            percent = n & _MASK  # nginx keeps it in a uint32_t
        percents.append((percent, slot[0]))

    cf.parse_block(cf.ctx, handler=entry)
    total, last = 0, 0
    for percent, value in percents:
        total = total + percent if percent else 10000
        if total > 10000:
            raise cf.error("percent total is greater than 100%")
        if percent:
            last = (last + percent * 0xFFFFFFFF // 10000) & _MASK
        split.parts.append((last if percent else 0, value))
    cf.add_variable(name, split.variable)


MODULE = api.Module(
    name="http_split_clients",
    directives=[api.Directive("split_clients", api.Ctx.HTTP, api.Args.TAKE2, _block,
                              api.ConfLevel.MAIN, block=True)],
)
