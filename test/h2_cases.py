"""The HTTP/2 counterparts of what the Autobahn|Testsuite's sections 1-10 check, over RFC 8441.

Autobahn speaks HTTP/1.1 only. ``CASES`` is the table: each case names the
Autobahn cases it stands for, the script the independent Node.js client
(``test/h2ws.py``) runs on an echo resource, and the exact outcome: the
messages and pongs echoed and the server's close code. ``check_case(url,
case)`` runs one against any server: test_h2_conformance.py runs the table
against the standalone server, test_h2_apache_conformance.py through Apache.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from test import h2ws

__all__ = ["CASES", "NORMAL", "Case", "check_case"]

B = h2ws.binary
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
NORMAL = 1000


@dataclass(frozen=True)
class Case:
    """One conformance case: a script for the Node.js client and its exact outcome.

    Attributes:
        id: the Autobahn case numbers it stands for, and what it does.
        script: the client's actions (``test/h2ws_client.js``); the closing
            handshake is appended for cases that end with ``NORMAL``.
        messages: the messages the server must echo, in order.
        close: the server's close code.
        pongs: the pong payloads the server must send, in order.
        extensions: the ``Sec-WebSocket-Extensions`` offer.
    """

    id: str
    script: list[dict[str, Any]]
    messages: list[str | bytes] = field(default_factory=list)
    close: int = NORMAL
    pongs: list[bytes] = field(default_factory=list)
    extensions: str | None = None


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> dict[str, Any]:
    return {"frame": {"opcode": opcode, "payload": B(payload), "fin": fin, "rsv": rsv}}


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def _echo(id: str, messages: list[str | bytes], fragments: int = 1, **extra: Any) -> Case:
    script: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, str):
            script.append({"text": message, "fragments": fragments, "compress": extra.get("compress", False)})
        else:
            script.append({"binary": B(message), "fragments": fragments, "compress": extra.get("compress", False)})
    script.append({"recv": len(messages)})
    return Case(id, script, messages=list(messages), extensions=extra.get("extensions"))


def _fails(
    id: str, actions: list[dict[str, Any]], code: int, messages: list[str | bytes] = (), pongs: list[bytes] = ()
) -> Case:  # type: ignore[assignment]
    return Case(id, [*actions, {"wait_close": True}], messages=list(messages), close=code, pongs=list(pongs))


# A valid UTF-8 text of 1-, 2-, 3- and 4-byte characters (Autobahn 6.2).
HELLO = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞"

CASES: list[Case] = [
    # 1. Framing: text and binary messages of the lengths around the 7/16/64-bit length boundaries.
    *[_echo(f"1.1.x text of {n} bytes", ["*" * n]) for n in (0, 125, 126, 127, 128, 65535, 65536)],
    *[_echo(f"1.2.x binary of {n} bytes", [b"\xfe" * n]) for n in (0, 125, 126, 127, 128, 65535, 65536)],
    # 2. Pings and pongs.
    Case("2.1 ping without payload", [{"ping": ""}, {"text": "x"}, {"recv": 1}], messages=["x"], pongs=[b""]),
    Case(
        "2.2 ping with text payload",
        [{"ping": B(b"Hello, world!")}, {"text": "x"}, {"recv": 1}],
        messages=["x"],
        pongs=[b"Hello, world!"],
    ),
    Case(
        "2.3 ping with binary payload",
        [{"ping": B(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")}, {"text": "x"}, {"recv": 1}],
        messages=["x"],
        pongs=[b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"],
    ),
    Case(
        "2.4 ping with 125-byte payload",
        [{"ping": B(b"\xfe" * 125)}, {"text": "x"}, {"recv": 1}],
        messages=["x"],
        pongs=[b"\xfe" * 125],
    ),
    _fails("2.5 ping with 126-byte payload", [frame(0x9, b"\xfe" * 126)], PROTOCOL_ERROR),
    Case("2.7 unsolicited pong is ignored", [frame(0xA), {"text": "x"}, {"recv": 1}], messages=["x"]),
    Case(
        "2.8 unsolicited pong with payload is ignored",
        [frame(0xA, b"unsolicited"), {"text": "x"}, {"recv": 1}],
        messages=["x"],
    ),
    Case(
        "2.9 pong, then ping",
        [frame(0xA, b"pong"), {"ping": B(b"ping")}, {"text": "x"}, {"recv": 1}],
        messages=["x"],
        pongs=[b"ping"],
    ),
    Case(
        "2.10 ten pings",
        [*({"ping": B(b"p%d" % i)} for i in range(10)), {"text": "x"}, {"recv": 1}],
        messages=["x"],
        pongs=[b"p%d" % i for i in range(10)],
    ),
    # 3. Reserved bits, without a negotiated extension.
    *[
        _fails(f"3.{i} RSV={rsv}", [frame(0x1, b"hi", rsv=rsv)], PROTOCOL_ERROR)
        for i, rsv in enumerate((4, 2, 1, 6, 5, 3, 7), start=1)
    ],
    _fails(
        "3.2 RSV after a valid message",
        [{"text": "ok"}, {"recv": 1}, frame(0x1, b"hi", rsv=2)],
        PROTOCOL_ERROR,
        messages=["ok"],
    ),
    # 4. Reserved opcodes.
    *[_fails(f"4.1.x opcode {op:#x}", [frame(op)], PROTOCOL_ERROR) for op in (3, 4, 5, 6, 7)],
    *[_fails(f"4.2.x opcode {op:#x}", [frame(op)], PROTOCOL_ERROR) for op in (0xB, 0xC, 0xD, 0xE, 0xF)],
    _fails(
        "4.1.3 opcode 0x5 after a valid message",
        [{"text": "ok"}, {"recv": 1}, frame(0x5, b"x")],
        PROTOCOL_ERROR,
        messages=["ok"],
    ),
    # 5. Fragmentation.
    _fails("5.1 fragmented ping", [frame(0x9, b"frag", fin=False), frame(0x0, b"ment")], PROTOCOL_ERROR),
    _fails("5.2 fragmented pong", [frame(0xA, b"frag", fin=False), frame(0x0, b"ment")], PROTOCOL_ERROR),
    _echo("5.3 text in 2 fragments", ["fragment1fragment2"], fragments=2),
    _echo("5.5 text in 9 single-byte fragments", ["fragments"], fragments=9),
    Case(
        "5.6 ping between two fragments",
        [frame(0x1, b"frag", fin=False), {"ping": B(b"between")}, frame(0x0, b"ment"), {"recv": 1}],
        messages=["fragment"],
        pongs=[b"between"],
    ),
    _fails("5.9 continuation without a message", [frame(0x0, b"orphan")], PROTOCOL_ERROR),
    _fails(
        "5.12 a new text frame inside a fragmented one", [frame(0x1, b"a", fin=False), frame(0x1, b"b")], PROTOCOL_ERROR
    ),
    _fails(
        "5.16 continuation after a complete message",
        [{"text": "ok"}, {"recv": 1}, frame(0x0, b"x")],
        PROTOCOL_ERROR,
        messages=["ok"],
    ),
    _echo("5.19 binary in 5 fragments", [b"\x01\x02\x03\x04\x05" * 3], fragments=5),
    # 6. UTF-8.
    _echo("6.1 empty text frames", [""]),
    _echo("6.2 valid UTF-8, whole and fragmented", [HELLO, HELLO]),
    _echo("6.2.3 valid UTF-8 split inside characters", [HELLO], fragments=len(HELLO.encode())),
    _echo("6.5 the 1- to 4-byte boundaries", ["\x7f\x80\u07ff\u0800\uffff\U00010000\U0010ffff"]),
    *[
        _fails(f"6.x invalid UTF-8 {bad!r}", [frame(0x1, bad)], INVALID_DATA)
        for bad in (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # 6.3: a surrogate
            b"\xc0\xaf",  # 6.8: overlong "/"
            b"\xf4\x90\x80\x80",  # 6.10: beyond U+10FFFF
            b"\xed\xbf\xbf",  # 6.19: a lone low surrogate
            b"\x80",  # 6.6: a lone continuation byte
            b"\xfe\xff",  # 6.3: bytes UTF-8 never uses
        )
    ],
    _fails(
        "6.4 invalid UTF-8 in a later fragment",
        [frame(0x1, "κόσμε".encode(), fin=False), frame(0x0, b"\xf4\x90\x80\x80")],
        INVALID_DATA,
    ),
    # 7. Close handling.
    Case("7.1.1 echo, then close", [{"text": "Hello"}, {"recv": 1}], messages=["Hello"]),
    Case("7.1.2 close without a code", [{"close": None}, {"wait_close": True}]),
    Case("7.1.3 text after close is not answered", [{"close": NORMAL}, {"text": "late"}, {"wait_close": True}]),
    _fails("7.3.2 close with a one-byte payload", [frame(0x8, b"\x03")], PROTOCOL_ERROR),
    _fails(
        "7.3.6 close with a 124-byte reason (126-byte payload)",
        [frame(0x8, close_payload(NORMAL, b"r" * 124))],
        PROTOCOL_ERROR,
    ),
    Case("7.3.5 close with a 123-byte reason", [frame(0x8, close_payload(NORMAL, b"r" * 123)), {"wait_close": True}]),
    *[
        Case(f"7.7.x close with valid code {code}", [frame(0x8, close_payload(code, b"ok")), {"wait_close": True}])
        for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)
    ],
    *[
        _fails(f"7.9.x close with invalid code {code}", [frame(0x8, close_payload(code))], PROTOCOL_ERROR)
        for code in (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000)
    ],
    _fails(
        "7.5.1 close reason of invalid UTF-8",
        [frame(0x8, close_payload(NORMAL, b"\xce\xba\xed\xa0\x80"))],
        INVALID_DATA,
    ),
    # 9. Large messages, whole and in many fragments (Autobahn 9.1-9.4, scaled down).
    _echo("9.1.3 text of 1 MiB", ["*" * (1 << 20)]),
    _echo("9.2.3 binary of 1 MiB", [b"\xfe" * (1 << 20)]),
    _echo("9.3.x text of 1 MiB in 1024 fragments", ["*" * (1 << 20)], fragments=1024),
    _echo("9.4.x binary of 1 MiB in 64 fragments", [b"\xfe" * (1 << 20)], fragments=64),
    # 10. Misc: 64 KiB text in 1300-byte fragments.
    _echo("10.1.1 65536-byte text in 1300-byte fragments", ["*" * 65536], fragments=65536 // 1300 + 1),
    # Beyond 1-10: permessage-deflate (Autobahn 12/13) over HTTP/2 too.
    _echo(
        "12.x compressed text and binary",
        ["compressible " * 500, bytes(4096)],
        compress=True,
        extensions="permessage-deflate",
    ),
]


def check_case(url: str, case: Case, **client: Any) -> None:
    """Run ``case`` with the Node.js client on ``url`` and assert its exact outcome.

    Args:
        url: the echo resource (``https://.../echo`` or ``http://.../echo``).
        case: the case.
        client: more keyword arguments for ``h2ws.run`` (``ca``, ``insecure``).
    """
    script = list(case.script)
    if case.close == NORMAL and not any("wait_close" in action for action in script):
        script += [{"close": NORMAL}, {"wait_close": True}]
    result = h2ws.run(url, script, extensions=case.extensions, timeout=20, **client)
    stream = result.stream
    assert result.error is None, result.stderr
    assert stream.status == 200
    assert stream.messages == case.messages
    assert stream.pongs == case.pongs
    assert stream.close_code == case.close
    assert stream.errors == []
    assert stream.reset_code is None
