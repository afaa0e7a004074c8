"""The Hixie-75 / HyBi-00 stream. (Being written: issue 3.)"""

from __future__ import annotations

__all__: list[str] = []
