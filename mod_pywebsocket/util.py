"""pywebsocket's ``util``: its 0.7 names, re-exported from the private modules that hold them.

Layer 0. ``_masking`` (masking, the accelerator), ``_diagnostics`` (hex dumps,
shortened reprs, stack traces, class loggers), ``_deflate`` (DEFLATE codecs),
``_deflate_stream`` (deflate-stream wrappers): ``util.X is _module.X``. The
few helpers defined here are kept for handler files; the package does not
use them. ``drain_received_data`` takes the socket as an argument.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from typing import Any

from mod_pywebsocket._deflate import (  # noqa: F401 (the underscore names are 0.7's; handler tests call them)
    BUDGET_STEP,
    DeflateSizeError,
    _Deflater,
    _Inflater,
    _RFC1979Deflater,
    _RFC1979Inflater,
)
from mod_pywebsocket._deflate_stream import DeflateConnection, DeflateRequest, DeflateSocket
from mod_pywebsocket._diagnostics import (
    get_class_logger,
    get_stack_trace,
    hexify,
    prepend_message_to_exception,
    shorten,
)
from mod_pywebsocket._masking import (  # noqa: F401 (the bench and embedders read the two constants here)
    MASK_IMPLEMENTATION,
    NO_ACCELERATOR_ENV,
    NoopMasker,
    RepeatedXorMasker,
    mask,
)

__all__ = [
    "DeflateConnection",
    "DeflateRequest",
    "DeflateSizeError",
    "DeflateSocket",
    "NoopMasker",
    "RepeatedXorMasker",
    "drain_received_data",
    "get_class_logger",
    "get_script_interp",
    "get_stack_trace",
    "hexify",
    "mask",
    "md5_hash",
    "pack_byte",
    "prepend_message_to_exception",
    "sha1_hash",
    "shorten",
]

# The hash constructors under their 0.7 names: ``sha1_hash(data).digest()``.
md5_hash = hashlib.md5
sha1_hash = hashlib.sha1


def pack_byte(b: int) -> bytes:
    """Return the single byte with value ``b``."""
    return bytes((b,))


def get_script_interp(script_path: str, cygwin_path: str | None = None) -> str | None:
    """Return the interpreter command line of a ``#!`` script, or None for another file.

    Args:
        script_path: the script.
        cygwin_path: a directory of Cygwin binaries (a Windows Python running
            Cygwin scripts): the interpreter's directory is replaced by it,
            ``#!/usr/bin/perl -wT`` giving ``<cygwin_path>/perl -wT``.

    Raises:
        OSError: the file cannot be read.
    """
    with open(script_path, encoding="latin-1") as script:
        first_line = script.readline().rstrip("\r\n")
    if not first_line.startswith("#!"):
        return None
    interp = first_line[2:]
    if cygwin_path:
        match = re.match(r"[^ ]*/([^ ]+)( .*)?", interp)
        if match:
            return os.path.join(cygwin_path, match.group(1)) + (match.group(2) or "")
    return interp


def drain_received_data(raw_socket: Any) -> bytes:
    """Return what has arrived on a socket and can be read without waiting.

    Reads until the peer closed or nothing more is buffered, with the socket
    made non-blocking meanwhile; its timeout is restored afterwards.

    Raises:
        OSError: receiving failed for another reason than "would block".
    """
    timeout = raw_socket.gettimeout()
    raw_socket.settimeout(0.0)
    drained = []
    try:
        while True:
            try:
                data = raw_socket.recv(65536)
            except OSError as exc:
                if isinstance(exc, BlockingIOError) or exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                raise
            if not data:
                break
            drained.append(data)
    finally:
        raw_socket.settimeout(timeout)
    return b"".join(drained)
