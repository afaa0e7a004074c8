"""Raises while loading: skipped with a warning."""

raise RuntimeError("broken on purpose")
