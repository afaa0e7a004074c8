"""Not a *_wsh.py file: never loaded."""

raise AssertionError("must not be loaded")
