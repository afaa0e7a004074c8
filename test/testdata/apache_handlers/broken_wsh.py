"""A handler file without the required functions: the dispatcher must skip it."""

from __future__ import annotations

BROKEN = True
