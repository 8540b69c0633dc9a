"""``upper;``: a test filter that upper-cases the body of every response in its location,
main or subrequest, installed with ``cf.push_filters`` and declared inert for subrequests
where it is off.  ``tests/modules/upper_by_hand.py`` is the same filter installed the old
way.  Either way an include of a file in such a location must come out upper-cased
(tests/e2e/test_subrequest_plan.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine import api


@dataclass
class UpperLocConf:
    on: bool | api.Unset = api.UNSET

    def merge(self, parent: "UpperLocConf") -> None:
        self.on = api.inherit(self.on, parent.on, False)


def make_filters(module: api.Module, links: Any) -> tuple[Any, Any]:
    """The header and body filters of ``module`` (whose loc conf is an UpperLocConf)."""
    def header(r: api.Request) -> int:
        if module.loc(r).on:
            r.headers_out.clear_length_and_ranges()
        return links.next_header(r)  # type: ignore[no-any-return]

    async def body(r: api.Request, chain: list[api.Buf]) -> None:
        if module.loc(r).on:
            chain = [api.Buf(b.bytes().upper(), flush=b.flush, last=b.last,
                             last_in_chain=b.last_in_chain) for b in chain]
        await links.next_body(r, chain)

    return header, body


def set_on(cf: api.ConfContext, cmd: api.Directive, conf: UpperLocConf) -> None:
    conf.on = True


def _postconfiguration(cf: api.ConfContext) -> None:
    links = api.FilterLinks()
    cf.push_filters(links, *make_filters(MODULE, links),
                    subrequest_inert=lambda lc: not lc[MODULE].on)


MODULE = api.Module(
    name="upper",
    loc_conf=UpperLocConf,
    directives=[api.Directive("upper", api.Ctx.HTTP_ALL, api.Args.NOARGS, set_on)],
    postconfiguration=_postconfiguration,
)
