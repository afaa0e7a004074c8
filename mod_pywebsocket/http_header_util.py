"""RFC 2616 header grammar: tokens, quoted strings, linear white space, URIs.

Layer 0: pure functions over ``str``. A ``ParsingState`` is a cursor into a
header value; each ``consume_*`` function advances it only on success.
"""

from __future__ import annotations

import urllib.parse

__all__ = [
    "ParsingState",
    "consume",
    "consume_lws",
    "consume_lwses",
    "consume_quoted_string",
    "consume_string",
    "consume_token",
    "consume_token_or_quoted_string",
    "is_token",
    "is_token_char",
    "parse_uri",
    "peek",
    "quote_if_necessary",
]

# RFC 2616 §2.2: separators, and CTLs (0-31, 127) are not token characters.
_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')
_TOKEN_CHARS = frozenset(chr(c) for c in range(33, 127)) - _SEPARATORS


def is_token_char(c: str) -> bool:
    """Return True if ``c`` may appear in an RFC 2616 token."""
    return c in _TOKEN_CHARS


def is_token(s: str) -> bool:
    """Return True if ``s`` is a non-empty RFC 2616 token."""
    return bool(s) and _TOKEN_CHARS.issuperset(s)


class ParsingState:
    """A header value and the position of the next character to read."""

    def __init__(self, data: str) -> None:
        self.data = data
        self.head = 0


def peek(state: ParsingState, pos: int = 0) -> str | None:
    """Return the character ``pos`` places ahead, or None past the end."""
    index = state.head + pos
    return state.data[index] if index < len(state.data) else None


def consume(state: ParsingState, amount: int = 1) -> str | None:
    """Take ``amount`` characters; None (and no move) if fewer remain."""
    end = state.head + amount
    if end > len(state.data):
        return None
    result = state.data[state.head : end]
    state.head = end
    return result


def consume_string(state: ParsingState, expected: str) -> bool:
    """Take ``expected`` if the value continues with it; return whether it did."""
    if state.data.startswith(expected, state.head):
        state.head += len(expected)
        return True
    return False


def consume_lws(state: ParsingState) -> bool:
    """Take one LWS (``[CRLF] 1*( SP | HT )``); return whether there was one."""
    start = state.head
    consume_string(state, "\r\n")
    if peek(state) in (" ", "\t"):
        while peek(state) in (" ", "\t"):
            state.head += 1
        return True
    state.head = start
    return False


def consume_lwses(state: ParsingState) -> None:
    """Take any amount of LWS."""
    while consume_lws(state):
        pass


def consume_token(state: ParsingState) -> str | None:
    """Take a token; None (and no move) if there is none here."""
    start = state.head
    data = state.data
    end = start
    while end < len(data) and data[end] in _TOKEN_CHARS:
        end += 1
    if end == start:
        return None
    state.head = end
    return data[start:end]


def consume_quoted_string(state: ParsingState) -> str | None:
    """Take a quoted-string and return its unquoted text.

    Returns None (and does not move) if there is no well-formed quoted-string.
    """
    start = state.head
    if not consume_string(state, '"'):
        return None
    chars: list[str] = []
    while True:
        c = consume(state)
        if c is None or (c != "\t" and (ord(c) < 32 or ord(c) == 127)):
            state.head = start
            return None
        if c == '"':
            return "".join(chars)
        if c == "\\":
            escaped = consume(state)
            if escaped is None or ord(escaped) > 127:
                state.head = start
                return None
            chars.append(escaped)
        else:
            chars.append(c)


def consume_token_or_quoted_string(state: ParsingState) -> str | None:
    """Take a token or a quoted-string; None if neither is here."""
    if peek(state) == '"':
        return consume_quoted_string(state)
    return consume_token(state)


def quote_if_necessary(s: str) -> str:
    """Return ``s`` as is if it is a token, else as a quoted-string."""
    if is_token(s):
        return s
    escaped = s.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def parse_uri(uri: str) -> tuple[str | None, int | None, str | None]:
    """Split an absolute http/https/ws/wss URI into host, port and resource.

    Returns:
        ``(host, port, resource)``; all None if ``uri`` is not such a URI.
        The port defaults to the scheme's; the resource keeps the query.
    """
    try:
        parsed = urllib.parse.urlsplit(uri)
        port = parsed.port
    except ValueError:
        return None, None, None
    default_ports = {"http": 80, "ws": 80, "https": 443, "wss": 443}
    if parsed.scheme not in default_ports or not parsed.hostname:
        return None, None, None
    resource = parsed.path or "/"
    if parsed.query:
        resource += "?" + parsed.query
    return parsed.hostname, port or default_ports[parsed.scheme], resource
