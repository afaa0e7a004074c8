"""Type stub of the optional C accelerator ``mod_pywebsocket._speedups`` (source: ``_speedups.c``)."""

from __future__ import annotations

def mask(data: bytes | bytearray | memoryview, key: bytes, /) -> bytes:
    """Return ``data`` XORed with the 4-byte ``key`` repeated (RFC 6455 §5.3); ValueError unless ``key`` is 4 bytes."""
