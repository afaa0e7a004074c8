"""Frame masking (RFC 6455 §5.3): ``mask`` and the two maskers, with the optional C accelerator.

Layer 0. ``mask`` runs our C extension ``mod_pywebsocket._speedups`` when it
was built, else pure Python; ``MASK_IMPLEMENTATION`` says which, and setting
``MOD_PYWEBSOCKET_NO_ACCELERATOR`` keeps the pure-Python one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

__all__ = [
    "MASK_IMPLEMENTATION",
    "NO_ACCELERATOR_ENV",
    "NoopMasker",
    "RepeatedXorMasker",
    "log_implementation",
    "mask",
]

_LOGGER = logging.getLogger(__name__)

# Masking XORs the data with the 4-byte key repeated. The fastest pure-stdlib
# way measured here is big-integer XOR over 4 KiB slices of a memoryview
# (~750 MB/s on 1 MiB; one int over the whole MiB is half that speed because
# it falls out of the cache, and per-byte loops are ~100x slower).
_CHUNK = 4096
_KEY_REPEATS = _CHUNK // 4

# Set to a non-empty value to keep the pure-Python masking even when the C
# accelerator is built (the benchmark measures both).
NO_ACCELERATOR_ENV = "MOD_PYWEBSOCKET_NO_ACCELERATOR"


def _mask_pure(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    if len(key) != 4:  # as the C version: a shorter key would silently leave bytes unmasked
        raise ValueError(f"masking key must be 4 bytes, not {len(key)}")
    n = len(data)
    from_bytes = int.from_bytes
    if n <= _CHUNK:
        repeated = (key * ((n >> 2) + 1))[:n]
        return (from_bytes(data, "little") ^ from_bytes(repeated, "little")).to_bytes(n, "little")
    view = memoryview(data)
    key_int = from_bytes(key * _KEY_REPEATS, "little")
    full = n - n % _CHUNK
    parts = [
        (from_bytes(view[offset : offset + _CHUNK], "little") ^ key_int).to_bytes(_CHUNK, "little")
        for offset in range(0, full, _CHUNK)
    ]
    if full < n:
        rest = n - full
        tail = from_bytes(view[full:], "little") ^ from_bytes((key * _KEY_REPEATS)[:rest], "little")
        parts.append(tail.to_bytes(rest, "little"))
    return b"".join(parts)


def _load_speedups() -> tuple[Callable[[bytes | bytearray | memoryview, bytes], bytes] | None, str]:
    """Return the C ``mask`` of ``mod_pywebsocket._speedups`` (None if not used) and why it is or is not used.

    The extension masks at memory speed (tens of GB/s, against ~0.75 GB/s
    for the pure version). setup.py builds it when a C compiler is present; a
    checkout builds it with ``make speedups``.
    """
    if os.environ.get(NO_ACCELERATOR_ENV):
        return None, f"{NO_ACCELERATOR_ENV} is set"
    try:
        import mod_pywebsocket._speedups as _speedups
    except ImportError as exc:  # not built (no compiler), or built for another Python
        _LOGGER.debug("masking accelerator not importable", exc_info=True)
        return None, f"mod_pywebsocket._speedups is not importable: {exc}"
    return _speedups.mask, "C extension"


_accelerated, _REASON = _load_speedups()
_mask_in_use: Callable[[bytes | bytearray | memoryview, bytes], bytes] = _accelerated or _mask_pure

# The masking in use: "mod_pywebsocket._speedups" or "pure-python".
MASK_IMPLEMENTATION = "pure-python" if _accelerated is None else "mod_pywebsocket._speedups"


def log_implementation() -> None:
    """Log at INFO which masking runs and why; the two servers call this once at start."""
    _LOGGER.info("frame masking: %s (%s)", MASK_IMPLEMENTATION, _REASON)


def mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Return ``data`` XORed with the 4-byte ``key`` repeated (RFC 6455 §5.3).

    Runs the C extension ``mod_pywebsocket._speedups`` when it is built (see
    ``MASK_IMPLEMENTATION``), else pure Python; both give the same bytes.

    Args:
        data: the payload.
        key: exactly 4 bytes; ``key[0]`` applies to ``data[0]``.

    Returns:
        The masked (or unmasked: the operation is its own inverse) bytes.

    Raises:
        ValueError: ``key`` is not 4 bytes long.
    """
    return _mask_in_use(data, key)


class RepeatedXorMasker:
    """Masks a stream of data with one key, remembering the key position.

    Successive ``mask`` calls continue where the previous one stopped, so a
    payload can be unmasked in pieces as it arrives.
    """

    def __init__(self, masking_key: bytes) -> None:
        if len(masking_key) != 4:
            raise ValueError(f"masking key must be 4 bytes, not {len(masking_key)}")
        self._masking_key = bytes(masking_key)
        self._position = 0

    def mask(self, s: bytes | bytearray | memoryview) -> bytes:
        """Return ``s`` XORed with the key, continuing at the current position."""
        position = self._position
        key = self._masking_key[position:] + self._masking_key[:position] if position else self._masking_key
        self._position = (position + len(s)) & 3
        return mask(s, key)


class NoopMasker:
    """A masker that returns its input unchanged (for unmasked frames)."""

    def __init__(self, masking_key: bytes | None = None) -> None:
        self._masking_key = masking_key

    def mask(self, s: bytes | bytearray | memoryview) -> bytes:
        """Return ``s`` as bytes."""
        return bytes(s)
