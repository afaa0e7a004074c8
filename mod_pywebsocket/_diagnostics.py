"""Text for logs and error messages: hex dumps, shortened reprs, stack traces, class loggers.

Layer 0.
"""

from __future__ import annotations

import logging
import traceback

__all__ = ["get_class_logger", "get_stack_trace", "hexify", "prepend_message_to_exception", "shorten"]


def hexify(s: bytes | bytearray) -> str:
    """Return ``s`` as space-separated hex pairs, e.g. ``'88 80'``."""
    return " ".join(f"{b:02x}" for b in s)


def shorten(data: bytes | str, limit: int = 75) -> str:
    """Return a repr of ``data`` cut to about ``limit`` characters for logs."""
    text = repr(data)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...{text[-12:]} ({len(data)} {'bytes' if isinstance(data, bytes) else 'chars'})"


def get_stack_trace() -> str:
    """Return the traceback of the exception being handled, as text."""
    return traceback.format_exc()


def prepend_message_to_exception(message: str, exc: BaseException) -> None:
    """Prefix the first argument of ``exc`` with ``message`` (0.7 compatibility)."""
    args = exc.args
    if args and isinstance(args[0], str):
        exc.args = (message + args[0], *args[1:])
    else:
        exc.args = (message, *args)


def get_class_logger(o: object) -> logging.Logger:
    """Return the logger named after the module and class of ``o``."""
    cls = o if isinstance(o, type) else type(o)
    return logging.getLogger(f"{cls.__module__}.{cls.__name__}")
