"""trinx's resumable state-machine toolkit (Ragel in spirit, pure Python).

Describe a regular grammar with the expression language, compile it once into flat DFA
tables, then run it over a stream in chunks of any size, saving one int of state between
chunks.  See parsers/README.md for the theory of operation and a worked filter.

Grammars built with it: :mod:`parsers.range`, :mod:`parsers.httpdate`, :mod:`parsers.ssi`.
"""

from ._compile import compile_machine as compile_machine
from ._dsl import Action as Action
from ._dsl import ByteFn as ByteFn
from ._dsl import Expr as Expr
from ._dsl import SpanFn as SpanFn
from ._dsl import alt as alt
from ._dsl import any_but as any_but
from ._dsl import any_byte as any_byte
from ._dsl import byte_in as byte_in
from ._dsl import byte_range as byte_range
from ._dsl import cat as cat
from ._dsl import diff as diff
from ._dsl import empty as empty
from ._dsl import lit as lit
from ._dsl import lit_ci as lit_ci
from ._dsl import opt as opt
from ._dsl import plus as plus
from ._dsl import repeat as repeat
from ._dsl import star as star
from ._runner import Machine as Machine
from ._runner import ParseError as ParseError
from ._runner import Scanner as Scanner

__all__ = [
    "Action", "ByteFn", "Expr", "Machine", "ParseError", "Scanner", "SpanFn",
    "alt", "any_but", "any_byte", "byte_in", "byte_range", "cat", "compile_machine", "diff",
    "empty", "lit", "lit_ci", "opt", "plus", "repeat", "star",
]
