"""HTTP header grammar: tokens, quoted strings, linear white space, URIs.

Layer 0: pure functions over ``str``. A ``ParsingState`` is a cursor into a
header value; each ``consume_*`` function advances it only on success.
Tokens and white space follow RFC 2616 §2.2 (as the 0.7 line did);
quoted-strings follow RFC 9110 §5.6.4. ``parse_parameterized_list`` reads a
whole ``1#( token *( ";" parameter ) )`` value (``Sec-WebSocket-Extensions``).

Every scan is a regular expression without nested ambiguity, so its cost is
linear in the length of the value: a hostile value costs what its bytes
cost, never more (each character is looked at by C code, not by a Python loop).
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
    "parse_parameterized_list",
    "parse_request_target",
    "parse_uri",
    "peek",
    "quote_if_necessary",
]

# RFC 2616 §2.2: separators, and CTLs (0-31, 127) are not token characters.
_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')
_TOKEN_CHARS = frozenset(chr(c) for c in range(33, 127)) - _SEPARATORS
# The same set as a character class (RFC 9110 §5.6.2 tchar spells it out).
_TOKEN_PATTERN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN = re.compile(_TOKEN_PATTERN)
# RFC 9110 §8.6: Content-Length = 1*DIGIT.
_DIGITS = re.compile(r"[0-9]+")
# RFC 2616 §2.2: LWS = [CRLF] 1*( SP | HT ). A run of them is written so that
# each character has one way to match (a CRLF always with the SP or HT after
# it): with "(?:(?:\r\n)?[ \t]+)*" a failing match would try every split.
_LWS_PATTERN = r"(?:\r\n[ \t]|[ \t])*"
_LWS = re.compile(r"(?:\r\n)?[ \t]+")
_LWSES = re.compile(_LWS_PATTERN)

# RFC 9110 §5.6.4:
#   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
# obs-text is %x80-FF; values decoded as UTF-8 (mod_python) hold any code
# point from 0x80 up, so those count as obs-text too. An obs-fold (CRLF and
# white space, RFC 9112 §5.2) inside the quotes reads as one SP.
# The fold takes one SP or HT, the rest are qdtext: one way to match each
# character (with "\r\n[ \t]+" an unterminated string of folds took
# exponential time).
_OBS_TEXT = "\x80-\U0010ffff"
_QUOTED_STRING_PATTERN = rf'"((?:[\t !#-\[\]-~{_OBS_TEXT}]|\\[\t -~{_OBS_TEXT}]|\r\n[ \t])*)"'
_QUOTED_STRING = re.compile(_QUOTED_STRING_PATTERN)
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
    match = _LWS.match(state.data, state.head)
    if match is None:
        return False
    state.head = match.end()
    return True


def consume_lwses(state: ParsingState) -> None:
    """Take any amount of LWS."""
    state.head = _LWSES.match(state.data, state.head).end()  # type: ignore[union-attr]  # matches empty


def consume_token(state: ParsingState) -> str | None:
    """Take a token; None (and no move) if there is none here."""
    match = _TOKEN.match(state.data, state.head)
    if match is None:
        return None
    state.head = match.end()
    return match.group()


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
    return _unquote(match.group(1))


def _unquote(content: str) -> str:
    """Return the text between the quotes of a well-formed quoted-string, unescaped."""
    if "\\" not in content and "\r" not in content:
        return content
    return _QUOTED_PAIR_OR_FOLD.sub(lambda m: m.group(1) or " ", content)


def consume_token_or_quoted_string(state: ParsingState) -> str | None:
    """Take a token, or a quoted-string and return its unescaped text; None if neither is here."""
    if peek(state) == '"':
        return consume_quoted_string(state)
    return consume_token(state)


def quote_if_necessary(s: str) -> str:
    r"""Return ``s`` as is if it is a token, else as a quoted-string.

    Inside the quotes, ``"`` and ``\`` get a backslash (RFC 9110 §5.6.4
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


# One element of ``1#( token *( ";" parameter ) )`` with the white space
# around it: group 1 the name, group 2 its parameters (each ``; name`` or
# ``; name=value``); an empty element matches too (only white space). A
# parameter value is a token, or, where quoted-strings are allowed, either.
def _element_pattern(value: str) -> re.Pattern[str]:
    parameter = rf"{_LWS_PATTERN};{_LWS_PATTERN}{_TOKEN_PATTERN}(?:{_LWS_PATTERN}={_LWS_PATTERN}(?:{value}))?"
    return re.compile(rf"{_LWS_PATTERN}(?:({_TOKEN_PATTERN})((?:{parameter})*))?{_LWS_PATTERN}")


_ELEMENT_WITH_TOKENS = _element_pattern(_TOKEN_PATTERN)
# The quoted-string's capturing group is not needed here: (?: ) keeps the groups at two.
_ELEMENT = _element_pattern(_TOKEN_PATTERN + "|" + _QUOTED_STRING_PATTERN.replace('"(', '"(?:', 1))
# One parameter out of an element's group 2: name, token value, quoted value.
_PARAMETER_PARTS = re.compile(
    rf"{_LWS_PATTERN};{_LWS_PATTERN}({_TOKEN_PATTERN})"
    rf"(?:{_LWS_PATTERN}={_LWS_PATTERN}(?:({_TOKEN_PATTERN})|{_QUOTED_STRING_PATTERN}))?"
)
# How much of a value or line an error message quotes.
_EXCERPT = 80


def parse_parameterized_list(
    data: str, allow_quoted_string: bool = True
) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse ``1#( token *( ";" name [ "=" value ] ) )`` (RFC 6455 §9.1's extension-list).

    Elements are separated by commas, parameters by semicolons, with LWS
    (RFC 2616 §2.2) allowed around each of them; empty elements between
    commas are skipped. The cost is linear in ``len(data)``.

    Args:
        data: the header value (several header lines joined with ``,``).
        allow_quoted_string: whether a value may be a quoted-string (RFC
            9110 §5.6.4, returned unescaped); else only a token.

    Returns:
        ``(name, [(parameter, value or None), ...])`` for each element, in order.

    Raises:
        ValueError: the value is empty or malformed; the message says where.
    """
    element = _ELEMENT if allow_quoted_string else _ELEMENT_WITH_TOKENS
    result: list[tuple[str, list[tuple[str, str | None]]]] = []
    end = len(data)
    pos = 0
    while True:
        match = element.match(data, pos)
        name, parameters = match.group(1, 2)  # type: ignore[union-attr]  # matches empty
        pos = match.end()  # type: ignore[union-attr]
        if name is not None:
            result.append((name, _parameters(parameters) if parameters else []))
        if pos == end:
            break
        if data[pos] != ",":
            raise ValueError(_element_error(data, pos, name, parameters))
        pos += 1
    if not result:
        raise ValueError(f"no extension in {_excerpt(data)}")
    return result


def _parameters(text: str) -> list[tuple[str, str | None]]:
    parameters: list[tuple[str, str | None]] = []
    for match in _PARAMETER_PARTS.finditer(text):
        name, token, quoted = match.group(1, 2, 3)
        parameters.append((name, token if quoted is None else _unquote(quoted)))
    return parameters


def _element_error(data: str, pos: int, name: str | None, parameters: str | None) -> str:
    """Say why the element that stops before ``data[pos]`` cannot go on there."""
    if name is not None and data[pos] == ";":
        # A ";" the element could not take: no parameter name after it.
        return f"no valid parameter name at position {_LWSES.match(data, pos + 1).end()}"  # type: ignore[union-attr]
    if parameters and data[pos] == "=":
        # The last parameter's "=" has no value the element could take.
        *_, last = _PARAMETER_PARTS.finditer(parameters)
        after = _LWSES.match(data, pos + 1).end()  # type: ignore[union-attr]
        return f"no valid parameter value for {last.group(1)!r} at position {after}"
    return f"unexpected character at position {pos} in {_excerpt(data)}"


def _excerpt(data: str) -> str:
    """Return ``repr(data)``, shortened if long (error messages reach logs and 400 bodies)."""
    if len(data) <= _EXCERPT:
        return repr(data)
    return f"{data[:_EXCERPT]!r}... ({len(data)} characters)"


# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# The schemes whose absolute-form targets name one of our resources, and their ports.
_DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}


def parse_uri(uri: str) -> tuple[str | None, int | None, str | None]:
    """Split a request URI into host, port and resource.

    Args:
        uri: a request-target: an absolute ``ws``, ``wss``, ``http`` or
            ``https`` URI, or anything else (a path), which is not parsed.

    Returns:
        ``(host, port, resource)`` for an absolute URI of those schemes: the
        port defaults to the scheme's, the resource is what follows the
        authority (path, query, fragment) with a ``/`` put in front if it
        lacks one. ``(None, None, None)`` for such a URI without a host or
        with an invalid port. ``(None, None, uri)`` for anything else, as in
        0.7.9 and pywebsocket3 (which parse ``ws`` and ``wss`` URIs only).
    """
    scheme = _SCHEME.match(uri)
    if scheme is None or scheme.group()[:-1].lower() not in _DEFAULT_PORTS:
        return None, None, uri
    if not uri.startswith("//", scheme.end()):
        return None, None, uri
    try:
        parsed = urllib.parse.urlsplit(uri)
        port = parsed.port
    except ValueError:
        return None, None, None
    if not parsed.hostname:
        return None, None, None
    # The resource as sent: the text after the authority, not urlsplit's
    # re-assembly (which drops an empty query or fragment).
    authority_end = len(uri)
    for delimiter in "/?#":
        found = uri.find(delimiter, scheme.end() + 2)
        if found != -1:
            authority_end = min(authority_end, found)
    resource = uri[authority_end:]
    if not resource.startswith("/"):
        resource = "/" + resource
    return parsed.hostname, port if port is not None else _DEFAULT_PORTS[parsed.scheme], resource


def parse_request_target(target: str) -> str:
    """Return the resource an HTTP request-target names: its path and query.

    RFC 9112 §3.2.2: "A server MUST accept the absolute-form in requests".
    ``ws://host:port/echo?x`` (``wss``, ``http``, ``https`` alike) names
    ``/echo?x``; ``ws://host`` names ``/``. An origin-form target
    (``/echo?x``) and the other forms (``*``...) are returned unchanged. A
    fragment stays, so that the dispatcher refuses it as in origin-form.

    Raises:
        ValueError: an absolute-form target with another scheme (``ftp:``),
            without a host, or with an invalid port.
    """
    if target.startswith("/") or _SCHEME.match(target) is None:
        return target
    host, _, resource = parse_uri(target)
    if host is None or resource is None:
        raise ValueError(f"absolute-form request-target {target!r} is not a ws, wss, http or https URI with a host")
    return resource
