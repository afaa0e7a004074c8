"""Not a *_wsh.py file: never loaded."""

from __future__ import annotations

raise AssertionError("must not be loaded")
