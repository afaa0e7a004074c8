"""A reference reader for the header lists of RFC 2616's ``1#element`` rule, one cursor step at a time.

The package's list parsers (``handshake._base.parse_token_list``,
``common.parse_extensions``) must give the same answers as this slow,
obviously right reading: test_fuzz.py and test_reliability_http.py compare
them on generated text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mod_pywebsocket import http_header_util

__all__ = ["Refused", "reference_list"]


class Refused(Exception):
    """Raised by an element reader: the text is no valid list."""


def reference_list(data: str, element: Callable[[http_header_util.ParsingState], Any]) -> Any:
    """Read ``data`` as a comma-separated list with optional whitespace (and empty elements).

    Args:
        data: the header value.
        element: reads one element at the cursor and returns it, returns None
            where there is none (an empty element), or raises ``Refused``.

    Returns:
        The elements in order, or "error" where the list is not valid
        (no element at all, something other than a comma between two, or an
        element reader that refused).
    """
    state = http_header_util.ParsingState(data)
    found = []
    try:
        while True:
            http_header_util.consume_lwses(state)
            item = element(state)
            if item is not None:
                found.append(item)
            http_header_util.consume_lwses(state)
            if http_header_util.peek(state) is None:
                break
            if not http_header_util.consume_string(state, ","):
                return "error"
    except Refused:
        return "error"
    return found or "error"
