"""A file wrapper that remembers the lines read through it.

Layer 0. Kept for embedders and handlers written against 0.7; the
standalone server's own request parser keeps the raw request lines itself
(``request.raw_request_lines``, used by the Hixie-75 ``strict`` check).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["MemorizingFile"]


class MemorizingFile:
    """Wrap a binary file; remember up to ``max_memorized_lines`` lines read.

    Every attribute other than ``readline`` and ``get_memorized_lines`` is the
    wrapped file's.
    """

    def __init__(self, file_: Any, max_memorized_lines: int = sys.maxsize) -> None:
        self._file = file_
        self._memorized_lines: list[bytes] = []
        self._max_memorized_lines = max_memorized_lines

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def readline(self, size: int = -1) -> bytes:
        """Read a line like ``file.readline`` and remember it."""
        line: bytes = self._file.readline(size)
        if len(self._memorized_lines) < self._max_memorized_lines:
            self._memorized_lines.append(line)
        return line

    def get_memorized_lines(self) -> list[bytes]:
        """Return the lines read so far, as read."""
        return self._memorized_lines
