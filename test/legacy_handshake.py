"""The two legacy opening handshakes' samples, and how to run their handshakers on a fake request.

``HIXIE75`` is draft-hixie-thewebsocketprotocol-75 §1.2's sample handshake,
``HYBI00`` is draft-hixie-thewebsocketprotocol-76 §1.3's (HyBi-00). Each
``Legacy`` holds the sample request's headers, the bytes its client sends
after them, the handshaker's exact answer, and makes the fake request and
runs the handshaker: test_handshake_draft75.py and test_handshake_hybi00.py
use one each, test_handshake_legacy.py runs what they share over both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mod_pywebsocket import common
from mod_pywebsocket.handshake import draft75, hybi00
from test import mock

__all__ = [
    "HIXIE75",
    "HYBI00",
    "LEGACY",
    "SAMPLE_KEY1",
    "SAMPLE_KEY2",
    "SAMPLE_KEY3",
    "SAMPLE_RESPONSE_BODY",
    "Legacy",
]

SAMPLE_KEY1 = "4 @1  46546xW%0l 1 5"
SAMPLE_KEY2 = "12998 5 Y3 1  .P00"
SAMPLE_KEY3 = b"^n:ds[4U"
SAMPLE_RESPONSE_BODY = b"8jKS'y:G*Co,Wxa-"


@dataclass(frozen=True)
class Legacy:
    """One legacy handshake: its sample request, its exact answer, and its handshaker.

    Attributes:
        name: the test id.
        handshaker: the ``Handshaker`` class of its module.
        version: the ``request.ws_version`` it sets.
        headers: the sample request's headers (resource ``/demo``).
        challenge: the bytes the client sends after the headers.
        response: the exact answer to the sample request.
        protocol_line: the line of ``response`` that names the subprotocol.
        attributes: the request attributes, beyond those both set, the sample
            handshake sets, with their values.
    """

    name: str
    handshaker: Any
    version: int
    headers: list[tuple[str, str]]
    challenge: bytes
    response: bytes
    protocol_line: bytes
    attributes: dict[str, Any] = field(default_factory=dict)

    def make_request(
        self,
        headers: list[tuple[str, str]] | None = None,
        data: bytes | None = None,
        uri: str = "/demo",
        connection: mock.FakeConnection | None = None,
        raw_lines: list[bytes] | None = None,
        **kwargs: Any,
    ) -> mock.FakeRequest:
        """Return a fake request: the sample's headers and, to read, ``data`` (the challenge by default)."""
        if connection is None:
            connection = mock.FakeConnection(self.challenge if data is None else data)
        headers = self.headers if headers is None else headers
        request = mock.FakeRequest(uri=uri, headers=headers, connection=connection, **kwargs)
        if raw_lines is not None:
            request.raw_request_lines = raw_lines  # type: ignore[attr-defined]
        return request

    def expected(self, location: str = "ws://example.com/demo", protocol: bool = True) -> bytes:
        """Return the exact answer to the sample request at ``location``, with or without its subprotocol line."""
        response = self.response.replace(b"ws://example.com/demo", location.encode())
        return response if protocol else response.replace(self.protocol_line, b"")

    def do_handshake(
        self, request: mock.FakeRequest, dispatcher: mock.FakeDispatcher | None = None, **kwargs: Any
    ) -> mock.FakeDispatcher:
        """Run the handshaker on ``request`` (``kwargs`` go to it) and return the dispatcher it used."""
        dispatcher = dispatcher if dispatcher is not None else mock.FakeDispatcher()
        self.handshaker(request, dispatcher, **kwargs).do_handshake()
        return dispatcher


HIXIE75 = Legacy(
    name="hixie75",
    handshaker=draft75.Handshaker,
    version=common.VERSION_HIXIE75,
    headers=[
        ("Upgrade", "WebSocket"),
        ("Connection", "Upgrade"),
        ("Host", "example.com"),
        ("Origin", "http://example.com"),
        ("WebSocket-Protocol", "sample"),
    ],
    challenge=b"",
    response=(
        b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
        b"Upgrade: WebSocket\r\n"
        b"Connection: Upgrade\r\n"
        b"WebSocket-Origin: http://example.com\r\n"
        b"WebSocket-Location: ws://example.com/demo\r\n"
        b"WebSocket-Protocol: sample\r\n"
        b"\r\n"
    ),
    protocol_line=b"WebSocket-Protocol: sample\r\n",
)

HYBI00 = Legacy(
    name="hybi00",
    handshaker=hybi00.Handshaker,
    version=common.VERSION_HYBI00,
    headers=[
        ("Host", "example.com"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key2", SAMPLE_KEY2),
        ("Sec-WebSocket-Protocol", "sample"),
        ("Upgrade", "WebSocket"),
        ("Sec-WebSocket-Key1", SAMPLE_KEY1),
        ("Origin", "http://example.com"),
    ],
    challenge=SAMPLE_KEY3,
    response=(
        b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n"
        b"Upgrade: WebSocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Origin: http://example.com\r\n"
        b"Sec-WebSocket-Location: ws://example.com/demo\r\n"
        b"Sec-WebSocket-Protocol: sample\r\n"
        b"\r\n" + SAMPLE_RESPONSE_BODY
    ),
    protocol_line=b"Sec-WebSocket-Protocol: sample\r\n",
    attributes={
        "ws_challenge": b"\x31\x6e\x41\x13\x0f\x7e\xd6\x3c" + SAMPLE_KEY3,
        "ws_challenge_md5": SAMPLE_RESPONSE_BODY,
        "client_terminated": False,
        "server_terminated": False,
    },
)

LEGACY = [HIXIE75, HYBI00]
