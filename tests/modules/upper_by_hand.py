"""``upper_by_hand;``: tests/modules/upper.py's filter installed the way the README's first
example does it, by assigning ``cycle.top_*_filter``: the engine cannot know what it does
to subrequests, so it must run every filter for every subrequest."""

from __future__ import annotations

from engine import api
from tests.modules.upper import UpperLocConf, make_filters, set_on


def _postconfiguration(cf: api.ConfContext) -> None:
    links = api.FilterLinks(cf.cycle.top_header_filter, cf.cycle.top_body_filter)
    cf.cycle.top_header_filter, cf.cycle.top_body_filter = make_filters(MODULE, links)


MODULE = api.Module(
    name="upper_by_hand",
    loc_conf=UpperLocConf,
    directives=[api.Directive("upper_by_hand", api.Ctx.HTTP_ALL, api.Args.NOARGS, set_on)],
    postconfiguration=_postconfiguration,
)
