"""HTTP header grammar: tokens, quoted strings, linear white space, URIs.

Layer 0: pure functions over ``str``. A ``ParsingState`` is a cursor into a
header value; each ``consume_*`` function advances it only on success.
Tokens and white space follow RFC 2616 §2.2 (as the 0.7 line did);
quoted-strings follow RFC 9110 §5.6.4.
"""

from __future__ import annotations

import re
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

# RFC 9110 §5.6.4:
#   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
# obs-text is %x80-FF; values decoded as UTF-8 (mod_python) hold any code
# point from 0x80 up, so those count as obs-text too. An obs-fold (CRLF and
# white space, RFC 9112 §5.2) inside the quotes reads as one SP.
_OBS_TEXT = "\x80-\U0010ffff"
_QUOTED_STRING = re.compile(
    rf'"((?:[\t !#-\[\]-~{_OBS_TEXT}]|\\[\t -~{_OBS_TEXT}]|\r\n[ \t]+)*)"'
)
_QUOTED_PAIR_OR_FOLD = re.compile(r"\\(.)|\r\n[ \t]+", re.DOTALL)
# What a quoted-string can carry: everything but the CTLs other than HTAB.
_QUOTABLE = re.compile(rf"[\t -~{_OBS_TEXT}]*")


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
    """Take a quoted-string (RFC 9110 §5.6.4) and return its text, unescaped.

    Returns None (and does not move) if there is no well-formed
    quoted-string here: an unterminated one, or one holding a CTL other than
    HTAB, outside a quoted-pair or inside it.
    """
    match = _QUOTED_STRING.match(state.data, state.head)
    if match is None:
        return None
    state.head = match.end()
    content = match.group(1)
    if "\\" not in content and "\r" not in content:
        return content
    return _QUOTED_PAIR_OR_FOLD.sub(lambda m: m.group(1) or " ", content)


def consume_token_or_quoted_string(state: ParsingState) -> str | None:
    """Take a token, or a quoted-string and return its unescaped text; None if neither is here."""
    if peek(state) == '"':
        return consume_quoted_string(state)
    return consume_token(state)


def quote_if_necessary(s: str) -> str:
    """Return ``s`` as is if it is a token, else as a quoted-string.

    Inside the quotes, ``"`` and ``\\`` get a backslash (RFC 9110 §5.6.4
    quoted-pair); ``consume_token_or_quoted_string`` gives ``s`` back.

    Raises:
        ValueError: ``s`` holds a control character other than HTAB (a
            quoted-string cannot carry it; CR or LF would end the header).
    """
    if is_token(s):
        return s
    if _QUOTABLE.fullmatch(s) is None:
        raise ValueError(f"{s!r} holds a control character: it cannot be sent as a quoted-string")
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
