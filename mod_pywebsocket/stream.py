"""The stream classes and exceptions, for handlers and embedders.

Layer 1 facade over ``_stream_base``, ``_stream_hybi`` and ``_stream_hixie75``.
"""

from __future__ import annotations

from mod_pywebsocket._stream_base import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MemoryBudgetExceededException,
    MessageTooBigException,
    StreamBase,
    UnsupportedFrameException,
)
from mod_pywebsocket._stream_hixie75 import StreamHixie75
from mod_pywebsocket._stream_hybi import (
    FragmentedFrameBuilder,
    Frame,
    Stream,
    StreamOptions,
    create_binary_frame,
    create_close_frame,
    create_closing_handshake_body,
    create_header,
    create_length_header,
    create_ping_frame,
    create_pong_frame,
    create_text_frame,
    parse_frame,
)

__all__ = [
    "BadOperationException",
    "ConnectionTerminatedException",
    "FragmentedFrameBuilder",
    "Frame",
    "InvalidFrameException",
    "InvalidUTF8Exception",
    "MemoryBudgetExceededException",
    "MessageTooBigException",
    "Stream",
    "StreamBase",
    "StreamHixie75",
    "StreamOptions",
    "UnsupportedFrameException",
    "create_binary_frame",
    "create_close_frame",
    "create_closing_handshake_body",
    "create_header",
    "create_length_header",
    "create_ping_frame",
    "create_pong_frame",
    "create_text_frame",
    "parse_frame",
]
