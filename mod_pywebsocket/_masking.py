"""Frame masking (RFC 6455 §5.3): ``mask`` and the two maskers, with the optional C accelerator.

Layer 0. ``MASK_IMPLEMENTATION`` says which masking is in use; setting
``MOD_PYWEBSOCKET_NO_ACCELERATOR`` keeps the pure-Python one.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

__all__ = ["MASK_IMPLEMENTATION", "NO_ACCELERATOR_ENV", "NoopMasker", "RepeatedXorMasker", "mask"]

_LOGGER = logging.getLogger(__name__)

# Masking XORs the data with the 4-byte key repeated. The fastest pure-stdlib
# way measured here is big-integer XOR over 4 KiB slices of a memoryview
# (~750 MB/s on 1 MiB; one int over the whole MiB is half that speed because
# it falls out of the cache, and per-byte loops are ~100x slower).
_CHUNK = 4096
_KEY_REPEATS = _CHUNK // 4

# Set to a non-empty value to keep the pure-Python masking even when an
# accelerator is installed (the benchmark measures both).
NO_ACCELERATOR_ENV = "MOD_PYWEBSOCKET_NO_ACCELERATOR"


def _mask_pure(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
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


def _load_accelerated_mask() -> Callable[[Any, bytes], bytes] | None:
    """Return ``apply_mask`` from the ``websockets`` package's C extension, if installed.

    It masks at memory speed (~25 GB/s here against ~0.75 GB/s for the pure
    version). The extension module is loaded from its file without running
    ``websockets/__init__.py``, which would add ~40 ms to every start.
    """
    if os.environ.get(NO_ACCELERATOR_ENV):
        return None
    try:
        spec = importlib.util.find_spec("websockets")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for location in locations:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(location, "speedups" + suffix)
                if os.path.isfile(path):
                    extension_spec = importlib.util.spec_from_file_location("websockets.speedups", path)
                    assert extension_spec is not None and extension_spec.loader is not None
                    module = importlib.util.module_from_spec(extension_spec)
                    extension_spec.loader.exec_module(module)
                    apply_mask: Callable[[Any, bytes], bytes] = module.apply_mask
                    if apply_mask(b"\x7f\x9f\x4d\x51\x58", b"\x37\xfa\x21\x3d") == b"Hello":
                        return apply_mask
    except Exception:  # a broken or foreign install: the pure version works everywhere
        _LOGGER.debug("masking accelerator not usable", exc_info=True)
    return None


_mask_in_use = _load_accelerated_mask() or _mask_pure

# The masking in use: "websockets.speedups" or "pure-python".
MASK_IMPLEMENTATION = "pure-python" if _mask_in_use is _mask_pure else "websockets.speedups"


def mask(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Return ``data`` XORed with the 4-byte ``key`` repeated (RFC 6455 §5.3).

    Uses the C ``apply_mask`` of the ``websockets`` package when it is
    installed (see ``MASK_IMPLEMENTATION``), else pure Python.

    Args:
        data: the payload.
        key: exactly 4 bytes; ``key[0]`` applies to ``data[0]``.

    Returns:
        The masked (or unmasked: the operation is its own inverse) bytes.
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
