"""Fuzz target: the RFC 6455 frame parser, and the frame round trip."""

from __future__ import annotations

import _driver  # puts the repository on sys.path

from mod_pywebsocket._stream_base import ConnectionTerminatedException, InvalidFrameException, MessageTooBigException
from mod_pywebsocket._stream_hybi import parse_frame, serialize_frame


def _reader(data: bytes):
    position = 0

    def read_exact(length: int) -> bytes:
        nonlocal position
        if position + length > len(data):
            raise ConnectionTerminatedException("EOF")
        position += length
        return data[position - length : position]

    return read_exact


def test_one_input(data: bytes) -> None:
    try:
        frame = parse_frame(_reader(data), expect_mask=None, max_payload_length=1 << 20)
    except (InvalidFrameException, MessageTooBigException, ConnectionTerminatedException):
        return
    again = parse_frame(_reader(serialize_frame(frame)), expect_mask=False)
    if again != frame:
        raise AssertionError(f"round trip changed {frame!r} into {again!r}")


if __name__ == "__main__":
    _driver.main(test_one_input)
