#!/usr/bin/env python3
"""A WebSocket echo client for every protocol version the server speaks.

Sends each message, reads the echo, prints ``Send: X`` and ``Recv: Y``, then
runs the closing handshake of the protocol and prints what the server sent
back. The exit status is 0 when every echo matched, 1 on a mismatch, a
failed handshake or a timeout.

    python3 example/echo_client.py ws://localhost:8880/echo -m 'Hello,<>'
    python3 example/echo_client.py -s localhost -p 8880 -r /echo -m 'Hello,<>'
    python3 example/echo_client.py -p 8880 --protocol-version hybi00
    python3 example/echo_client.py -i ws://localhost:8880/echo --protocol-version hixie75

The server is a ``ws://`` or ``wss://`` URL, or ``-s``/``-p``/``-r``/``-t``
(not both). With ``-i`` (interactive) the client sends each line read from
stdin as a text message and prints ``Recv: X`` for every message the server
sends, as it arrives; at the end of the input (Ctrl-D) it runs the closing
handshake. It exits 0 when the closing handshake completed.

Versions: ``hybi13`` (RFC 6455, the default), ``hybi08`` (RFC 6455 framing
with ``Sec-WebSocket-Version: 8`` and ``Sec-WebSocket-Origin``), ``hybi00``
(draft-hixie-thewebsocketprotocol-76) and ``hixie75``
(draft-hixie-thewebsocketprotocol-75; the server needs ``--allow-draft75``).

It can also be imported: ``EchoClient(parse_args([...])).run()`` returns the
exit status (``run_interactive(lines)`` for ``-i``), and ``main(argv)`` is the
command line. Only the standard
library and the RFC 6455 frame codec of ``mod_pywebsocket`` are used.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import queue
import random
import socket
import ssl
import struct
import sys
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

if __package__ in (None, ""):
    # Run as a script from a checkout: make the repository root importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mod_pywebsocket import common
from mod_pywebsocket._stream_hybi import (
    Frame,
    create_closing_handshake_body,
    parse_close_body,
    parse_frame,
    serialize_frame,
)
from mod_pywebsocket.handshake.hybi import compute_accept

__all__ = [
    "VERSIONS",
    "EchoClient",
    "EchoClientError",
    "build_parser",
    "generate_hybi00_key",
    "main",
    "parse_args",
    "split_url",
]

VERSIONS = ("hybi13", "hybi08", "hybi00", "hixie75")
_DEFAULT_MESSAGES = "Hello,<>"
_MAX_LINE = 8192
_MAX_HEADERS = 100
_RECV_SIZE = 65536


class EchoClientError(Exception):
    """The session failed: a bad handshake, an unexpected frame, a mismatch."""


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        description="Send messages to a WebSocket echo service and check the echoes; with -i, "
        "send the lines you type and print what comes back."
    )
    add = parser.add_argument
    add(
        "url",
        nargs="?",
        default=None,
        help="the server as a ws:// or wss:// URL (instead of -s, -p, -r and -t)",
    )
    add(
        "-i",
        "--interactive",
        dest="interactive",
        action="store_true",
        default=False,
        help="send each line of stdin as a text message, print every message received, close at the end of input",
    )
    add(
        "-s",
        "--server-host",
        "--server_host",
        dest="server_host",
        default=None,
        help="server host name or address (default: localhost)",
    )
    add(
        "-p",
        "--server-port",
        "--server_port",
        dest="server_port",
        type=int,
        default=None,
        help="server port (default: 80, or 443 with --use-tls)",
    )
    add("-r", "--resource", dest="resource", default=None, help="resource path, query included (default: /echo)")
    add("-o", "--origin", dest="origin", default="http://localhost", help="value of the Origin header")
    add(
        "-t",
        "--use-tls",
        "--use_tls",
        dest="use_tls",
        action="store_true",
        default=False,
        help="connect with TLS (wss); the certificate is not verified, this is a test tool",
    )
    add(
        "--protocol-version",
        "--protocol_version",
        dest="protocol_version",
        choices=VERSIONS,
        default="hybi13",
        help="protocol version (default: hybi13)",
    )
    add(
        "--protocols",
        dest="protocols",
        default=None,
        help="subprotocols to offer, comma-separated (hybi00 and hixie75 send the value as one protocol)",
    )
    add(
        "-m",
        "--message",
        dest="message",
        default=_DEFAULT_MESSAGES,
        help="comma-separated messages to send (default: %(default)s)",
    )
    add(
        "-c",
        "--close-code",
        "--close_code",
        dest="close_code",
        type=int,
        default=common.STATUS_NORMAL_CLOSURE,
        help="close code to send (hybi13 and hybi08; default: 1000)",
    )
    add(
        "--close-reason",
        "--close_reason",
        dest="close_reason",
        default="",
        help="close reason to send (hybi13 and hybi08)",
    )
    add("--timeout", dest="timeout", type=float, default=5.0, help="seconds to wait for each reply (default: 5)")
    add(
        "-v",
        "--verbose",
        dest="verbose",
        action="store_true",
        default=False,
        help="print the handshake and the frames to stderr",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``sys.argv[1:]`` when ``argv`` is None).

    A URL fills in ``server_host``, ``server_port``, ``resource`` and
    ``use_tls``; a bad URL, or one given with any of those options, exits
    with status 2.
    """
    parser = build_parser()
    options = parser.parse_args(argv)
    if options.url is None:
        options.server_host = options.server_host or "localhost"
        options.resource = options.resource or "/echo"
        return options
    if options.server_host or options.server_port is not None or options.resource or options.use_tls:
        parser.error("give the server either as a URL or with -s/-p/-r/-t, not both")
    try:
        options.server_host, options.server_port, options.resource, options.use_tls = split_url(options.url)
    except ValueError as exc:
        parser.error(str(exc))
    return options


def split_url(url: str) -> tuple[str, int | None, str, bool]:
    """Return ``(host, port or None, resource, use_tls)`` for a ws:// or wss:// URL.

    Raises:
        ValueError: not a ws:// or wss:// URL with a host, or one with a
            fragment (RFC 6455 §3: fragments must not be used in these URIs).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"URL must be ws://HOST[:PORT]/PATH or wss://..., not {url!r}")
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"URL must not have a fragment: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"URL has a bad port: {url!r}") from exc
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, resource, parts.scheme.lower() == "wss"


def generate_hybi00_key(rng: random.Random) -> tuple[str, int]:
    """Return a ``Sec-WebSocket-Key1``/``Key2`` value and the number it encodes.

    draft-hixie-thewebsocketprotocol-76 §4.1: pick 1-12 spaces and a number
    up to 4,294,967,295 / spaces; write number * spaces in decimal, insert
    1-12 random characters from U+0021-U+002F and U+003A-U+007E, then insert
    the spaces anywhere but at the start or the end.
    """
    spaces = rng.randint(1, 12)
    number = rng.randint(0, 0xFFFFFFFF // spaces)
    key = list(str(number * spaces))
    noise = [chr(c) for c in list(range(0x21, 0x30)) + list(range(0x3A, 0x7F))]
    for _ in range(rng.randint(1, 12)):
        key.insert(rng.randint(0, len(key)), rng.choice(noise))
    for _ in range(spaces):
        key.insert(rng.randint(1, len(key) - 1), " ")
    return "".join(key), number


class _Connection:
    """A socket with a receive buffer: exact reads, line reads."""

    def __init__(self, sock: Any) -> None:
        self._socket = sock
        self._buffer = bytearray()
        # In interactive mode the reader thread answers pings while the main thread sends.
        self._write_lock = threading.Lock()

    def _fill(self) -> None:
        try:
            data = self._socket.recv(_RECV_SIZE)
        except socket.timeout as exc:
            raise EchoClientError("timed out waiting for the server") from exc
        except OSError as exc:
            raise EchoClientError(f"receiving failed: {exc}") from exc
        if not data:
            raise EchoClientError("connection closed by the server")
        self._buffer += data

    def read_exact(self, length: int) -> bytes:
        while len(self._buffer) < length:
            self._fill()
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data

    def read_line(self) -> str:
        """Return the next CRLF-terminated line, without its CRLF (latin-1)."""
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end]).decode("latin-1")
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise EchoClientError(f"response line longer than {_MAX_LINE} bytes")
            self._fill()

    def at_eof(self) -> bool:
        """Read until the server closes TCP; return False if it sent more data instead."""
        if self._buffer:
            return False
        try:
            return not self._socket.recv(_RECV_SIZE)
        except OSError:
            return True

    def write(self, data: bytes) -> None:
        try:
            with self._write_lock:
                self._socket.sendall(data)
        except socket.timeout as exc:
            raise EchoClientError("timed out sending") from exc
        except OSError as exc:
            raise EchoClientError(f"sending failed: {exc}") from exc


class EchoClient:
    """One echo session: connect, handshake, echo each message, close.

    Args:
        options: the namespace from ``parse_args``.
        out: where ``Send:``/``Recv:`` lines go (default stdout).
        err: where errors and verbose traces go (default stderr).
    """

    def __init__(self, options: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._options = options
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr
        self._rng = random.SystemRandom()
        self._socket: Any = None
        self._conn: _Connection | None = None
        default_port = common.DEFAULT_WEB_SOCKET_SECURE_PORT if options.use_tls else common.DEFAULT_WEB_SOCKET_PORT
        port = options.server_port if options.server_port is not None else default_port
        self._port = port
        host = options.server_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self._host_header = host if port == default_port else f"{host}:{port}"

    def run(self) -> int:
        """Run the session; return 0 when every echo matched, else 1."""
        try:
            self._connect()
            self._handshake()
            messages = self._options.message.split(",")
            for message in messages:
                self._print(f"Send: {message}")
                self._send_text(message)
                received = self._receive_text()
                self._print(f"Recv: {received}")
                if received != message:
                    raise EchoClientError(f"echo mismatch: sent {message!r}, received {received!r}")
            self._close()
            return 0
        except EchoClientError as exc:
            self._error(str(exc))
            return 1
        finally:
            if self._socket is not None:
                self._socket.close()

    def run_interactive(self, lines: Iterable[str]) -> int:
        """Send each of ``lines`` (line ends stripped) as a text message and print what the server sends.

        A thread prints every message as it arrives (``Recv: X``). At the end
        of ``lines`` the client starts the closing handshake; if the server
        closes first, the client stops sending. Return 0 when the closing
        handshake completed, else 1.
        """
        try:
            self._connect()
            self._handshake()
        except EchoClientError as exc:
            self._error(str(exc))
            if self._socket is not None:
                self._socket.close()
            return 1
        self._socket.settimeout(None)  # replies may come at any time
        self._closing = threading.Event()  # set once the client sent its close
        self._interactive_status = 1
        reader = threading.Thread(target=self._print_messages, name="echo-client-reader", daemon=True)
        reader.start()
        inputs: queue.Queue[str | None] = queue.Queue()

        def read_input() -> None:
            for line in lines:
                inputs.put(line)
            inputs.put(None)

        threading.Thread(target=read_input, name="echo-client-input", daemon=True).start()
        try:
            while reader.is_alive():
                try:
                    line = inputs.get(timeout=0.1)
                except queue.Empty:
                    continue
                if line is None:
                    self._closing.set()
                    self._send_close(self._options.close_code, self._options.close_reason)
                    break
                try:
                    self._send_text(line.rstrip("\r\n"))
                except EchoClientError:
                    if not self._closing.is_set():
                        raise
                    break  # the server closed meanwhile: the reader thread reports it
            reader.join(self._options.timeout)
            if reader.is_alive():
                self._error("timed out waiting for the server's closing handshake")
                return 1
            return self._interactive_status
        except EchoClientError as exc:
            self._error(str(exc))
            return 1
        finally:
            self._socket.close()

    def _print_messages(self) -> None:
        """Print each message received until the closing handshake (the reader thread of ``run_interactive``)."""
        try:
            while True:
                if self._is_hybi():
                    opcode, payload = self._receive_hybi_message()
                    if opcode == common.OPCODE_CLOSE:
                        code, reason = payload
                        self._print(f"Close: code={code} reason={reason!r}")
                        if not self._closing.is_set():
                            # RFC 6455 §5.5.1: answer a close with a close, echoing its status code.
                            self._closing.set()
                            self._send_close(code, "")
                        break
                    self._print(f"Recv: {payload}" if opcode == common.OPCODE_TEXT else f"Recv: {payload!r}")
                    continue
                message = self._receive_legacy_message()
                if message is None:
                    self._print("Close: closing handshake received")
                    if not self._closing.is_set():
                        self._closing.set()
                        self._send_close(None, "")
                    break
                self._print(f"Recv: {message}")
            self._interactive_status = 0
        except EchoClientError as exc:
            if self._options.protocol_version == "hixie75" and self._closing.is_set():
                # Hixie-75 has no closing handshake: the server closing TCP ends the connection.
                self._print("Closed")
                self._interactive_status = 0
            else:
                self._error(str(exc))

    def _send_close(self, code: int | None, reason: str) -> None:
        """Send the protocol's close (RFC 6455: with ``code`` and ``reason``); Hixie-75 half-closes TCP."""
        version = self._options.protocol_version
        if self._is_hybi():
            try:
                body = create_closing_handshake_body(code, reason)
            except common.WebSocketException as exc:
                raise EchoClientError(f"cannot send close: {exc}") from exc
            self._trace(f"> close code={code} reason={reason!r}")
            frame = Frame(opcode=common.OPCODE_CLOSE, payload=body)
            self._connection.write(serialize_frame(frame, mask_key=os.urandom(4)))
        elif version == "hybi00":
            self._trace("> closing handshake")
            self._connection.write(b"\xff\x00")
        else:
            self._socket.shutdown(socket.SHUT_WR)

    # Output.

    def _print(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def _error(self, line: str) -> None:
        self._err.write(line + "\n")
        self._err.flush()

    def _trace(self, line: str) -> None:
        if self._options.verbose:
            self._error(line)

    # Connection.

    def _connect(self) -> None:
        options = self._options
        try:
            sock = socket.create_connection((options.server_host, self._port), timeout=options.timeout)
        except socket.timeout as exc:
            raise EchoClientError(f"timed out connecting to {options.server_host}:{self._port}") from exc
        except OSError as exc:
            raise EchoClientError(f"cannot connect to {options.server_host}:{self._port}: {exc}") from exc
        if options.use_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                sock = context.wrap_socket(sock, server_hostname=options.server_host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise EchoClientError(f"TLS handshake failed: {exc}") from exc
        self._socket = sock
        self._conn = _Connection(sock)

    @property
    def _connection(self) -> _Connection:
        assert self._conn is not None
        return self._conn

    # Opening handshake.

    def _handshake(self) -> None:
        version = self._options.protocol_version
        if version in ("hybi13", "hybi08"):
            self._handshake_hybi(13 if version == "hybi13" else 8)
        elif version == "hybi00":
            self._handshake_hybi00()
        else:
            self._handshake_hixie75()

    def _send_request(self, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        lines = [f"GET {self._options.resource} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers]
        for line in lines:
            self._trace(f"> {line}")
        self._connection.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _read_response(self, expected_status_line: str | None) -> dict[str, list[str]]:
        """Read the status line and headers; fail unless the status is 101.

        Returns:
            The header values by lower-case name.
        """
        status_line = self._connection.read_line()
        self._trace(f"< {status_line}")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            raise EchoClientError(f"handshake failed: {status_line}")
        if expected_status_line is not None and status_line != expected_status_line:
            raise EchoClientError(f"handshake failed: unexpected status line {status_line!r}")
        headers: dict[str, list[str]] = {}
        for _ in range(_MAX_HEADERS):
            line = self._connection.read_line()
            if not line:
                return headers
            self._trace(f"< {line}")
            name, sep, value = line.partition(":")
            if not sep:
                raise EchoClientError(f"handshake failed: malformed header line {line!r}")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        raise EchoClientError(f"handshake failed: more than {_MAX_HEADERS} header lines")

    @staticmethod
    def _single(headers: dict[str, list[str]], name: str, required: bool = True) -> str | None:
        values = headers.get(name.lower(), [])
        if len(values) > 1:
            raise EchoClientError(f"handshake failed: {len(values)} {name} headers")
        if not values:
            if required:
                raise EchoClientError(f"handshake failed: no {name} header")
            return None
        return values[0]

    def _expect(self, headers: dict[str, list[str]], name: str, expected: str, case_sensitive: bool = True) -> None:
        value = self._single(headers, name)
        assert value is not None
        if value != expected and (case_sensitive or value.lower() != expected.lower()):
            raise EchoClientError(f"handshake failed: {name} is {value!r}, expected {expected!r}")

    def _offered_protocols(self) -> list[str]:
        protocols = self._options.protocols
        return [p.strip() for p in protocols.split(",") if p.strip()] if protocols else []

    def _handshake_hybi(self, version: int) -> None:
        options = self._options
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        origin_header = common.ORIGIN_HEADER if version == 13 else common.SEC_WEBSOCKET_ORIGIN_HEADER
        headers = [
            (common.HOST_HEADER, self._host_header),
            (common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE),
            (common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
            (common.SEC_WEBSOCKET_KEY_HEADER, key),
            (common.SEC_WEBSOCKET_VERSION_HEADER, str(version)),
            (origin_header, options.origin),
        ]
        offered = self._offered_protocols()
        if offered:
            headers.append((common.SEC_WEBSOCKET_PROTOCOL_HEADER, ", ".join(offered)))
        self._send_request(headers)
        response = self._read_response(None)
        self._expect(response, common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE, case_sensitive=False)
        connection = self._single(response, common.CONNECTION_HEADER) or ""
        if "upgrade" not in [token.strip().lower() for token in connection.split(",")]:
            raise EchoClientError(f"handshake failed: Connection is {connection!r}")
        self._expect(response, common.SEC_WEBSOCKET_ACCEPT_HEADER, compute_accept(key.encode("ascii"))[0].decode())
        # RFC 6455 §4.1: the client fails the connection on a subprotocol it
        # did not offer, or on an extension it did not ask for.
        protocol = self._single(response, common.SEC_WEBSOCKET_PROTOCOL_HEADER, required=False)
        if protocol is not None and protocol not in offered:
            raise EchoClientError(f"handshake failed: server selected subprotocol {protocol!r} that was not offered")
        extensions = self._single(response, common.SEC_WEBSOCKET_EXTENSIONS_HEADER, required=False)
        if extensions is not None:
            raise EchoClientError(f"handshake failed: server accepted extensions {extensions!r} that were not offered")
        if protocol is not None:
            self._print(f"Protocol: {protocol}")

    def _location(self) -> str:
        scheme = common.WEB_SOCKET_SECURE_SCHEME if self._options.use_tls else common.WEB_SOCKET_SCHEME
        return f"{scheme}://{self._host_header}{self._options.resource}"

    def _check_legacy_response(
        self, response: dict[str, list[str]], origin_header: str, location_header: str, protocol_header: str
    ) -> None:
        options = self._options
        self._expect(response, common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE_HIXIE75)
        self._expect(response, common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE)
        self._expect(response, origin_header, options.origin)
        self._expect(response, location_header, self._location())
        protocol = self._single(response, protocol_header, required=False)
        if protocol != (options.protocols or None):
            raise EchoClientError(
                f"handshake failed: {protocol_header} is {protocol!r}, expected {options.protocols!r}"
            )
        if protocol is not None:
            self._print(f"Protocol: {protocol}")

    def _handshake_hybi00(self) -> None:
        options = self._options
        key1, number1 = generate_hybi00_key(self._rng)
        key2, number2 = generate_hybi00_key(self._rng)
        key3 = bytes(self._rng.getrandbits(8) for _ in range(8))
        headers = [
            (common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE_HIXIE75),
            (common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
            (common.HOST_HEADER, self._host_header),
            (common.ORIGIN_HEADER, options.origin),
            (common.SEC_WEBSOCKET_KEY1_HEADER, key1),
            (common.SEC_WEBSOCKET_KEY2_HEADER, key2),
        ]
        if options.protocols:
            headers.append((common.SEC_WEBSOCKET_PROTOCOL_HEADER, options.protocols))
        self._send_request(headers, key3)
        response = self._read_response("HTTP/1.1 101 WebSocket Protocol Handshake")
        self._check_legacy_response(
            response,
            common.SEC_WEBSOCKET_ORIGIN_HEADER,
            common.SEC_WEBSOCKET_LOCATION_HEADER,
            common.SEC_WEBSOCKET_PROTOCOL_HEADER,
        )
        # -76 §4.1: the 16 bytes after the headers must be the MD5 of the
        # two numbers (big-endian uint32) and key3.
        expected = hashlib.md5(struct.pack("!II", number1, number2) + key3).digest()
        challenge_response = self._connection.read_exact(16)
        if challenge_response != expected:
            raise EchoClientError(f"handshake failed: challenge response {challenge_response!r}, expected {expected!r}")

    def _handshake_hixie75(self) -> None:
        options = self._options
        # -75 §4.1: the client sends these fields in this order.
        headers = [
            (common.UPGRADE_HEADER, common.WEBSOCKET_UPGRADE_TYPE_HIXIE75),
            (common.CONNECTION_HEADER, common.UPGRADE_CONNECTION_TYPE),
            (common.HOST_HEADER, self._host_header),
            (common.ORIGIN_HEADER, options.origin),
        ]
        if options.protocols:
            headers.append((common.WEBSOCKET_PROTOCOL_HEADER, options.protocols))
        self._send_request(headers)
        response = self._read_response("HTTP/1.1 101 Web Socket Protocol Handshake")
        self._check_legacy_response(
            response, common.WEBSOCKET_ORIGIN_HEADER, common.WEBSOCKET_LOCATION_HEADER, common.WEBSOCKET_PROTOCOL_HEADER
        )

    # Messages.

    def _is_hybi(self) -> bool:
        return self._options.protocol_version in ("hybi13", "hybi08")

    def _send_text(self, message: str) -> None:
        payload = message.encode("utf-8")
        if self._is_hybi():
            # RFC 6455 §5.3: every client frame is masked with a fresh random key.
            data = serialize_frame(Frame(opcode=common.OPCODE_TEXT, payload=payload), mask_key=os.urandom(4))
        else:
            data = b"\x00" + payload + b"\xff"
        self._trace(f"> {data!r}")
        self._connection.write(data)

    def _receive_text(self) -> str:
        if self._is_hybi():
            opcode, payload = self._receive_hybi_message()
            if opcode == common.OPCODE_CLOSE:
                code, reason = payload
                raise EchoClientError(f"server closed the connection: code={code} reason={reason!r}")
            if opcode != common.OPCODE_TEXT:
                raise EchoClientError(f"expected a text message, received opcode {opcode:#x}")
            return str(payload)
        message = self._receive_legacy_message()
        if message is None:
            raise EchoClientError("server started the closing handshake")
        return message

    def _receive_hybi_message(self) -> tuple[int, Any]:
        """Return ``(opcode, str)`` for a text message, ``(opcode, bytes)`` for a
        binary one, ``(OPCODE_CLOSE, (code, reason))`` for a close; answer pings."""
        conn = self._connection
        opcode: int | None = None
        parts: list[bytes] = []
        while True:
            try:
                frame = parse_frame(conn.read_exact, expect_mask=False)
            except common.WebSocketException as exc:
                raise EchoClientError(f"invalid frame from the server: {exc}") from exc
            self._trace(f"< opcode={frame.opcode:#x} fin={frame.fin} {frame.payload[:80]!r}")
            if frame.rsv1 or frame.rsv2 or frame.rsv3:
                raise EchoClientError("frame with reserved bits set, but no extension was negotiated")
            if frame.opcode == common.OPCODE_PING:
                pong = Frame(opcode=common.OPCODE_PONG, payload=frame.payload)
                conn.write(serialize_frame(pong, mask_key=os.urandom(4)))
                continue
            if frame.opcode == common.OPCODE_PONG:
                continue
            if frame.opcode == common.OPCODE_CLOSE:
                try:
                    return common.OPCODE_CLOSE, parse_close_body(frame.payload)
                except common.WebSocketException as exc:
                    raise EchoClientError(f"invalid close frame from the server: {exc}") from exc
            if frame.opcode == common.OPCODE_CONTINUATION:
                if opcode is None:
                    raise EchoClientError("continuation frame without a message to continue")
            elif opcode is not None:
                raise EchoClientError(f"new message (opcode {frame.opcode:#x}) inside a fragmented one")
            else:
                opcode = frame.opcode
            parts.append(frame.payload)
            if frame.fin:
                assert opcode is not None
                data = b"".join(parts)
                if opcode == common.OPCODE_TEXT:
                    try:
                        return opcode, data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise EchoClientError(f"text message is not valid UTF-8: {exc}") from exc
                return opcode, data

    def _receive_legacy_message(self) -> str | None:
        """Return the next text message of a hybi00/hixie75 server, None for its close."""
        conn = self._connection
        while True:
            (frame_type,) = conn.read_exact(1)
            if frame_type & 0x80:
                length = 0
                while True:
                    (byte,) = conn.read_exact(1)
                    length = (length << 7) | (byte & 0x7F)
                    if not byte & 0x80:
                        break
                if frame_type == 0xFF and length == 0:
                    return None
                conn.read_exact(length)
                continue
            payload = bytearray()
            while True:
                byte = conn.read_exact(1)
                if byte == b"\xff":
                    break
                payload += byte
            if frame_type != 0x00:
                continue
            self._trace(f"< {bytes(payload)!r}")
            try:
                return payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EchoClientError(f"text message is not valid UTF-8: {exc}") from exc

    # Closing handshake.

    def _close(self) -> None:
        version = self._options.protocol_version
        if self._is_hybi():
            self._close_hybi()
        elif version == "hybi00":
            self._close_hybi00()
        else:
            # Hixie-75 has no closing handshake: closing TCP ends the connection.
            self._print("Closed")

    def _close_hybi(self) -> None:
        self._send_close(self._options.close_code, self._options.close_reason)
        while True:
            opcode, payload = self._receive_hybi_message()
            if opcode == common.OPCODE_CLOSE:
                break
            self._print(f"Recv (while closing): {payload!r}")
        code, reason = payload
        self._print(f"Close: code={code} reason={reason!r}")
        # RFC 6455 §7.1.1: the server closes the TCP connection first.
        if not self._connection.at_eof():
            raise EchoClientError("server sent data after its close frame")

    def _close_hybi00(self) -> None:
        self._send_close(None, "")
        # -76 §4.2: read until the server's 0xFF 0x00; drop other frames.
        while True:
            message = self._receive_legacy_message()
            if message is None:
                break
            self._print(f"Recv (while closing): {message!r}")
        self._print("Close: closing handshake received")
        if not self._connection.at_eof():
            raise EchoClientError("server sent data after its closing handshake")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client from the command line; return the exit status."""
    options = parse_args(argv)
    client = EchoClient(options)
    if not options.interactive:
        return client.run()
    if sys.stdin.isatty():
        sys.stderr.write("Type a message and Enter to send it; Ctrl-D closes the connection.\n")
    return client.run_interactive(sys.stdin)


if __name__ == "__main__":
    sys.exit(main())
