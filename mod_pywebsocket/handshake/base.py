"""``handshake.base``: pywebsocket3's name for ``handshake._base``.

Layer 1. Every name here is the very object ``handshake._base`` defines
(``base.HandshakeException is _base.HandshakeException``), so code written
for pywebsocket3, such as wptserve's RFC 8441 handshaker, which subclasses
``HandshakerBase``, shares its exceptions and helpers with the handshakers
of this package.
"""

from __future__ import annotations

# pywebsocket3's base.py also has these names, through its own imports.
from mod_pywebsocket import common, http_header_util, util  # noqa: F401
from mod_pywebsocket.extensions import get_extension_processor  # noqa: F401
from mod_pywebsocket.handshake._base import (
    AbortedByUserException,
    HandshakeException,
    HandshakerBase,
    ProtocolMismatchException,
    VersionException,
    build_location,
    check_request_line,
    format_header,
    get_default_port,
    get_header_values,
    get_mandatory_header,
    parse_host_header,
    parse_token_list,
    prepare_request,
    validate_mandatory_header,
    validate_subprotocol,
)
from mod_pywebsocket.stream import Stream, StreamOptions  # noqa: F401

__all__ = [
    "AbortedByUserException",
    "HandshakeException",
    "HandshakerBase",
    "ProtocolMismatchException",
    "VersionException",
    "build_location",
    "check_request_line",
    "format_header",
    "get_default_port",
    "get_header_values",
    "get_mandatory_header",
    "parse_host_header",
    "parse_token_list",
    "prepare_request",
    "validate_mandatory_header",
    "validate_subprotocol",
]
