"""Fuzz target: the header grammars (extensions, token lists) and the HyBi-00 key parser."""

from __future__ import annotations

import contextlib

import _driver  # puts the repository on sys.path

from mod_pywebsocket import common
from mod_pywebsocket.handshake import hybi00
from mod_pywebsocket.handshake._base import HandshakeException, parse_token_list


def test_one_input(data: bytes) -> None:
    text = data.decode("latin-1")
    try:
        parsed = common.parse_extensions(text)
    except common.ExtensionParsingException:
        pass
    else:
        again = common.parse_extensions(common.format_extensions(parsed))
        if [(e.name(), e.get_parameters()) for e in again] != [(e.name(), e.get_parameters()) for e in parsed]:
            raise AssertionError(f"extensions of {text!r} do not round-trip")
    with contextlib.suppress(HandshakeException):
        parse_token_list(text)
    try:
        part = hybi00.parse_key(text)
    except HandshakeException:
        pass
    else:
        if not 0 <= part <= 0xFFFFFFFF:
            raise AssertionError(f"key part {part} of {text!r} out of range")


if __name__ == "__main__":
    _driver.main(test_one_input)
