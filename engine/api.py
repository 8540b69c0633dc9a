"""The trinx module API: the one namespace built-in and third-party modules import.

A module file imports ``engine.api`` and nothing else from ``engine``: this is the whole
surface a filter, handler or balancer may rely on (``tests/engine/test_api.py`` checks it).
"""

from __future__ import annotations

from engine.conf import ConfigError as ConfigError
from engine.conf import Statement as Statement
from engine.conf import Token as Token
from engine.cycle import ConfContext as ConfContext
from engine.cycle import ALWAYS as ALWAYS
from engine.cycle import FilterLinks as FilterLinks
from engine.cycle import Phase as Phase
from engine.http import absolute_location as absolute_location
from engine.http import core_loc_conf as core_loc_conf
from engine.http import discard_request_body as discard_request_body
from engine.http import filter_finalize as filter_finalize
from engine.http import internal_redirect as internal_redirect
from engine.http import log_error as log_error
from engine.http import set_log_action as set_log_action
from engine.http import set_log_upstream as set_log_upstream
from engine.http import map_uri_to_path as map_uri_to_path
from engine.http import named_location as named_location
from engine.http import output as output
from engine.http import send_header as send_header
from engine.http import send_response as send_response
from engine.http import set_content_handler as set_content_handler
from engine.http import set_content_type as set_content_type
from engine.http import set_etag as set_etag
from engine.http import set_location as set_location
from engine.http import variable as variable
from engine.http_core import CoreLocConf as CoreLocConf
from engine.locations import Location as Location
from engine.locations import LocKind as LocKind
from engine.locations import pcre_to_python as pcre_to_python
from engine.variables import pcre_message as pcre_message
from engine.module import UNSET as UNSET
from engine.module import Args as Args
from engine.module import ConfLevel as ConfLevel
from engine.module import Ctx as Ctx
from engine.module import Directive as Directive
from engine.module import Module as Module
from engine.module import Unset as Unset
from engine.module import ignore as ignore
from engine.module import inherit as inherit
from engine.module import parse_size as parse_size
from engine.module import parse_time as parse_time
from engine.module import set_bitmask as set_bitmask
from engine.module import set_enum as set_enum
from engine.module import set_flag as set_flag
from engine.module import set_msec as set_msec
from engine.module import set_num as set_num
from engine.module import set_sec as set_sec
from engine.module import set_size as set_size
from engine.module import set_str as set_str
from engine.module import set_str_list as set_str_list
from engine.module import set_types as set_types
from engine.module import type_matches as type_matches
from engine.request import DECLINED as DECLINED
from engine.request import DONE as DONE
from engine.request import ERROR as ERROR
from engine.request import OK as OK
from engine.request import Buf as Buf
from engine.request import FILE_PIECE as FILE_PIECE
from engine.request import FileRef as FileRef
from engine.request import HeadersOut as HeadersOut
from engine.request import Request as Request
from engine.request import parse_uri as parse_uri
from engine.upstream import TRACK_KEY as UPSTREAM_TRACK
from engine.upstream import Failure as Failure
from engine.upstream import Peer as Peer
from engine.upstream import RoundRobin as RoundRobin
from engine.upstream import RoundRobinState as RoundRobinState
from engine.upstream import ServerSpec as ServerSpec
from engine.upstream import UpstreamConf as UpstreamConf
from engine.upstream import UpstreamSettings as UpstreamSettings
from engine.upstream import current_upstream as current_upstream
from engine.upstream import find_upstream as find_upstream
from engine.upstream import implicit_upstream as implicit_upstream
from engine.upstream import upstream_add as upstream_add
from engine.upstream import run_upstream as run_upstream
from engine.upstream import runtime_upstream as runtime_upstream
from engine.safe_open import OpenError as OpenError
from engine.server_names import NameHashes as NameHashes
from engine.safe_open import Symlinks as Symlinks
from engine.safe_open import file_info as file_info
from engine.safe_open import open_file as open_file
from engine.safe_open import symlinks_from as symlinks_from
from engine.subrequest import SR_BACKGROUND as SR_BACKGROUND
from engine.subrequest import SR_INPLACE as SR_INPLACE
from engine.subrequest import SR_MEMORY as SR_MEMORY
from engine.subrequest import OutputSlot as OutputSlot
from engine.subrequest import SubrequestError as SubrequestError
from engine.subrequest import reserve_output as reserve_output
from engine.subrequest import subrequest as subrequest
from engine.subrequest import wait_subrequest as wait_subrequest
from engine.subrequest import wait_subrequests as wait_subrequests
from engine.util import escape_uri as escape_uri
from engine.util import http_date as http_date
from engine.variables import ComplexValue as ComplexValue
from engine.variables import regex_compile as regex_compile
from engine.variables import regex_exec as regex_exec
from engine.variables import set_captures as set_captures

__all__ = [
    "ConfigError", "Statement", "Token", "ConfContext", "ALWAYS", "FilterLinks", "FILE_PIECE", "Phase", "absolute_location", "core_loc_conf",
    "discard_request_body", "filter_finalize", "internal_redirect", "log_error", "map_uri_to_path",
    "named_location", "output", "send_header", "send_response", "set_content_handler",
    "set_content_type", "set_etag",
    "set_location", "CoreLocConf", "Location", "LocKind", "pcre_to_python", "pcre_message", "UNSET", "Args",
    "ConfLevel", "Ctx",
    "Directive", "Module", "Unset", "ignore", "inherit", "parse_size", "parse_time",
    "set_bitmask", "set_enum",
    "set_flag", "set_msec", "set_num", "set_sec", "set_size", "set_str", "set_str_list",
    "set_types", "type_matches",
    "DECLINED", "DONE", "ERROR", "OK", "Buf", "FileRef", "HeadersOut", "Request", "escape_uri",
    "http_date", "ComplexValue", "SR_BACKGROUND", "SR_INPLACE", "SR_MEMORY", "OutputSlot",
    "SubrequestError", "variable", "reserve_output", "parse_uri", "UPSTREAM_TRACK", "Failure",
    "Peer", "RoundRobin", "RoundRobinState", "ServerSpec", "UpstreamConf", "UpstreamSettings",
    "current_upstream", "find_upstream", "implicit_upstream", "upstream_add", "run_upstream",
    "runtime_upstream", "subrequest", "wait_subrequest", "wait_subrequests",
    "regex_compile", "regex_exec", "set_captures",
    "OpenError", "Symlinks", "file_info", "open_file", "symlinks_from",
    "set_log_action", "set_log_upstream", "NameHashes",
]
