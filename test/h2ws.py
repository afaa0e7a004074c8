"""Drive the Node.js RFC 8441 client (``test/h2ws_client.js``) from Python tests.

``run(url, script)`` opens WebSockets over HTTP/2 with a client written apart
from the code under test, sends the script's messages and returns what came
back. Without Node.js (Debian's ``nodejs``) ``require_node()`` skips loudly.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CLIENT",
    "H2WsResult",
    "H2WsStream",
    "binary",
    "node",
    "require_node",
    "run",
]

CLIENT = Path(__file__).with_name("h2ws_client.js")


def node() -> str | None:
    """Return the Node.js executable, or None when there is none."""
    return shutil.which("node") or shutil.which("nodejs")


def require_node() -> str:
    """Return the Node.js executable, or skip the test saying how to get one."""
    path = node()
    if path is None:
        pytest.skip("SKIPPED LOUDLY: Node.js is not installed (apt-get install nodejs); the RFC 8441 client needs it")
    return path


def binary(data: bytes) -> str:
    """Encode bytes for the script (``{"binary": binary(b"...")}``)."""
    return base64.b64encode(data).decode("ascii")


@dataclass
class H2WsStream:
    """What one WebSocket stream saw: the response and the events in arrival order."""

    status: int | None
    headers: dict[str, Any] | None
    events: list[dict[str, Any]]
    extensions: str | None
    protocol: str | None

    @property
    def messages(self) -> list[str | bytes]:
        """The text (``str``) and binary (``bytes``) messages received."""
        out: list[str | bytes] = []
        for event in self.events:
            if event["type"] == "text":
                out.append(event["data"])
            elif event["type"] == "binary":
                out.append(base64.b64decode(event["data"]))
        return out

    @property
    def close(self) -> tuple[int | None, str] | None:
        """The server's close frame as ``(code, reason)``, or None if none came."""
        for event in self.events:
            if event["type"] == "close":
                return event["code"], event["reason"]
        return None

    @property
    def close_code(self) -> int | None:
        """The server's close code (None if no close frame or an empty one)."""
        return self.close[0] if self.close else None

    @property
    def pongs(self) -> list[bytes]:
        """The payloads of the pongs received."""
        return [base64.b64decode(e["data"]) for e in self.events if e["type"] == "pong"]

    @property
    def reset_code(self) -> int | None:
        """The HTTP/2 error code of an RST_STREAM from the server, or None."""
        for event in self.events:
            if event["type"] == "reset":
                return int(event["code"])
        return None

    @property
    def errors(self) -> list[str]:
        """Errors the client noticed (masked server frames, bad deflate data...)."""
        return [e["message"] for e in self.events if e["type"] == "error"]


@dataclass
class H2WsResult:
    """The client's whole run: one ``H2WsStream`` per stream, and connection-level news."""

    streams: list[H2WsStream]
    error: str | None
    goaway: dict[str, int] | None
    stderr: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> H2WsStream:
        """The first (usually only) stream."""
        if not self.streams:
            raise AssertionError(f"no stream was opened: error {self.error!r}, stderr {self.stderr!r}")
        return self.streams[0]


def run(
    url: str,
    script: list[dict[str, Any]],
    *,
    extensions: str | None = None,
    protocols: list[str] | None = None,
    headers: dict[str, str] | None = None,
    ca: str | None = None,
    insecure: bool = False,
    streams: int = 1,
    timeout: float = 10.0,
) -> H2WsResult:
    """Run the Node.js client on ``url`` (``https://`` for h2, ``http://`` for h2c).

    Args:
        url: where to open the WebSocket; its path is the resource.
        script: the actions of ``test/h2ws_client.js`` (``{"text": "hi"}``,
            ``{"recv": 1}``, ``{"close": 1000}``, ``{"wait_close": True}``...).
        extensions: the ``Sec-WebSocket-Extensions`` offer.
        protocols: the ``Sec-WebSocket-Protocol`` offer.
        headers: more request header fields (lowercase names).
        ca: a PEM file to trust for TLS.
        insecure: skip TLS certificate verification.
        streams: how many WebSocket streams to run side by side on the one
            connection, each with the same script.
        timeout: the client's deadline in seconds; the subprocess gets 5 more.

    Returns:
        What each stream saw.
    """
    executable = require_node()
    config = {
        "url": url,
        "script": script,
        "extensions": extensions,
        "protocols": protocols or [],
        "headers": headers or {},
        "ca": ca,
        "insecure": insecure,
        "streams": streams,
        "timeout_ms": int(timeout * 1000),
    }
    proc = subprocess.run(
        [executable, str(CLIENT)],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=timeout + 5,
        check=False,
    )
    if not proc.stdout.strip():
        raise AssertionError(f"the Node.js client printed nothing (exit {proc.returncode}): {proc.stderr}")
    raw = json.loads(proc.stdout)
    return H2WsResult(
        streams=[H2WsStream(**s) for s in raw["streams"]],
        error=raw["error"],
        goaway=raw["goaway"],
        stderr=proc.stderr,
        raw=raw,
    )
