"""``handshake.base`` (pywebsocket3's name for ``handshake._base``) and ``HandshakerBase``.

wptserve's HTTP/2 server imports ``HandshakerBase`` and three helpers from
``pywebsocket3.handshake.base`` and subclasses it for RFC 8441 (WebSockets
over HTTP/2). The tests below do the same with a subclass of their own: a
request whose ``headers_in`` holds the fields of the extended CONNECT's
HEADERS frame, a handshake that leaves its answer in ``status`` and
``headers_out`` for the server to send, then ``Stream`` over the stream's
DATA frames, first with fakes, then over a real HTTP/2 connection on
loopback, and finally through wptserve's own server.
"""

from __future__ import annotations

import importlib
import logging
import socket
import threading
from typing import Any

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side

from mod_pywebsocket import common, dispatch, extensions, handshake, stream
from mod_pywebsocket.handshake import _base, hybi
from mod_pywebsocket.handshake.base import (
    HandshakeException,
    HandshakerBase,
    VersionException,
    get_default_port,
    get_mandatory_header,
    parse_host_header,
    validate_mandatory_header,
)
from test import mock
from test.conftest import EXAMPLE_DIR

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10.0

# Module-level names of pywebsocket3 4.0.2's handshake/base.py, its imports included.
PYWEBSOCKET3_BASE_NAMES = [
    "AbortedByUserException",
    "HandshakeException",
    "HandshakerBase",
    "VersionException",
    "get_default_port",
    "get_mandatory_header",
    "parse_host_header",
    "parse_token_list",
    "validate_mandatory_header",
    "validate_subprotocol",
    "common",
    "http_header_util",
    "util",
    "get_extension_processor",
    "Stream",
    "StreamOptions",
]


# -- the module name ----------------------------------------------------------


@pytest.mark.parametrize("package", ["mod_pywebsocket", "pywebsocket3"])
def test_base_exports_the_very_objects_of_private_base(package):
    base = importlib.import_module(package + ".handshake.base")
    assert base.__all__ == _base.__all__
    assert [name for name in base.__all__ if getattr(base, name) is not getattr(_base, name)] == []


@pytest.mark.parametrize("package", ["mod_pywebsocket", "pywebsocket3"])
def test_base_has_every_module_level_name_of_pywebsocket3s_base(package):
    base = importlib.import_module(package + ".handshake.base")
    assert [name for name in PYWEBSOCKET3_BASE_NAMES if not hasattr(base, name)] == []


def test_names_base_has_by_import_are_the_packages_own_objects():
    from pywebsocket3.handshake import base

    assert base.common is common
    assert base.get_extension_processor is extensions.get_extension_processor
    assert base.Stream is stream.Stream
    assert base.StreamOptions is stream.StreamOptions


def test_wptserve_imports_give_the_exceptions_every_handshaker_raises():
    # wptserve's ws_h2_handshake.py and server.py import exactly these.
    from pywebsocket3.handshake import AbortedByUserException as aborted
    from pywebsocket3.handshake import HandshakeException as from_package
    from pywebsocket3.handshake.base import HandshakeException as from_base
    from pywebsocket3.handshake.base import HandshakerBase as base_class
    from pywebsocket3.handshake.base import get_mandatory_header as get_header
    from pywebsocket3.handshake.base import validate_mandatory_header as validate_header

    assert from_base is from_package is handshake.HandshakeException is _base.HandshakeException
    assert aborted is handshake.AbortedByUserException
    assert base_class is _base.HandshakerBase
    assert get_header is _base.get_mandatory_header
    assert validate_header is _base.validate_mandatory_header


# -- helpers pywebsocket3's base.py defines ----------------------------------


@pytest.mark.parametrize(("is_https", "port"), [(False, 80), (True, 443)])
def test_get_default_port_is_80_or_443(is_https, port):
    assert get_default_port(is_https) == port


@pytest.mark.parametrize(
    ("host", "is_https", "expected"),
    [
        ("example.com", False, ("example.com", 80)),
        ("example.com", True, ("example.com", 443)),
        ("example.com:8080", False, ("example.com", 8080)),
        ("example.com:0", True, ("example.com", 0)),
        ("[::1]", True, ("[::1]", 443)),
        ("[::1]:8080", False, ("[::1]", 8080)),
        ("127.0.0.1:65535", False, ("127.0.0.1", 65535)),
    ],
)
def test_parse_host_header_returns_host_and_port(host, is_https, expected):
    request = mock.FakeRequest(headers={"Host": host}, is_https=is_https)
    assert parse_host_header(request) == expected


@pytest.mark.parametrize(
    "host", ["example.com:", "example.com:http", "example.com:65536", "example.com:+80", "[::1]:", "h:" + "1" * 5000]
)
def test_parse_host_header_with_a_bad_port_gets_400(host):
    with pytest.raises(HandshakeException, match="invalid port") as info:
        parse_host_header(mock.FakeRequest(headers={"Host": host}))
    assert info.value.status == 400


def test_parse_host_header_without_host_gets_400():
    with pytest.raises(HandshakeException, match="header Host is not defined") as info:
        parse_host_header(mock.FakeRequest())
    assert info.value.status == 400


# -- an RFC 8441 handshaker, shaped like wptserve's ---------------------------

# Pseudo-header fields wptserve files in headers_in without their colon
# (":protocol" keeps it).
_PSEUDO_FIELDS_WITHOUT_COLON = ("method", "scheme", "host", "path", "authority", "status")


def h2_headers_in(fields: list[tuple[str, str]]) -> dict[str, str]:
    """Return ``headers_in`` as wptserve files a HEADERS frame's fields: a plain dict."""
    headers = {}
    for name, value in fields:
        if name.startswith(":") and name[1:] in _PSEUDO_FIELDS_WITHOUT_COLON:
            name = name[1:]
        headers[name] = value
    return headers


class H2Request:
    """The request object wptserve builds for an extended CONNECT stream.

    No ``is_https``, ``protocol`` is ``'HTTP/2'``, and the answer goes to
    ``status`` and ``headers_out`` instead of the connection.
    """

    def __init__(self, fields: list[tuple[str, str]], connection: Any) -> None:
        self.headers_in = h2_headers_in(fields)
        self.method = self.headers_in.get("method")
        self.uri = self.unparsed_uri = self.headers_in.get("path")
        self.protocol = "HTTP/2"
        self.connection = connection
        self.status: int | None = None
        self.headers_out: dict[str, str] = {}


class H2Handshaker(HandshakerBase):
    """RFC 8441 through the hooks wptserve's ``WsH2Handshaker`` overrides."""

    def _protocol_rfc(self) -> str:
        return "RFC 8441"

    def _transform_header(self, header: str) -> str:
        # RFC 9113 §8.2: field names are lowercase in HTTP/2.
        return header.lower()

    def _validate_request(self) -> None:
        # RFC 8441 §4: an extended CONNECT whose ":protocol" is "websocket".
        if self._request.method != "CONNECT":
            raise HandshakeException(f"method {self._request.method!r} is not CONNECT")
        validate_mandatory_header(self._request, ":protocol", "websocket")
        get_mandatory_header(self._request, "authority")

    def _set_accept(self) -> None:
        # RFC 8441 §5: no Sec-WebSocket-Key, hence no Sec-WebSocket-Accept.
        pass

    def _send_handshake(self) -> None:
        # The server sends status and headers as one HEADERS frame. RFC 9113
        # §8.2.2 forbids Upgrade and Connection there.
        request = self._request
        request.status = 200
        if request.ws_protocol is not None:
            request.headers_out["sec-websocket-protocol"] = request.ws_protocol
        if request.ws_extensions:
            request.headers_out["sec-websocket-extensions"] = common.format_extensions(request.ws_extensions)
        for name, value in request.extra_headers:
            request.headers_out[name] = value


CONNECT_FIELDS = [
    (":method", "CONNECT"),
    (":protocol", "websocket"),
    (":scheme", "http"),
    (":path", "/echo?room=1"),
    (":authority", "127.0.0.1"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-protocol", "chat, superchat"),
    ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
    ("origin", "http://example.test"),
]
EXPECTED_RESPONSE_HEADERS = [
    (":status", "200"),
    ("sec-websocket-protocol", "chat"),
    ("sec-websocket-extensions", "permessage-deflate"),
]


def connect_fields(**changes: str | None) -> list[tuple[str, str]]:
    """Return CONNECT_FIELDS with fields replaced (``protocol=`` for ":protocol") or, for None, removed."""
    names = {name.lstrip(":").replace("-", "_"): name for name, _ in CONNECT_FIELDS}
    fields = dict(CONNECT_FIELDS)
    for key, value in changes.items():
        if value is None:
            del fields[names[key]]
        else:
            fields[names[key]] = value
    return list(fields.items())


def select_first_protocol(request: Any) -> None:
    request.ws_protocol = request.ws_requested_protocols[0]


def test_rfc8441_handshake_leaves_status_200_and_the_negotiated_headers_for_the_server():
    request = H2Request(CONNECT_FIELDS, mock.FakeConnection())
    dispatcher = mock.FakeDispatcher(select_first_protocol)
    H2Handshaker(request, dispatcher).do_handshake()
    assert request.status == 200
    assert list(request.headers_out.items()) == EXPECTED_RESPONSE_HEADERS[1:]
    assert request.connection.written == []
    assert dispatcher.calls == ["do_extra_handshake"]
    assert request.ws_version == common.VERSION_HYBI13
    assert request.ws_resource == "/echo?room=1"
    assert request.ws_origin == "http://example.test"
    assert request.ws_requested_protocols == ["chat", "superchat"]
    assert [extension.name() for extension in request.ws_requested_extensions] == ["permessage-deflate"]
    assert isinstance(request.ws_stream, stream.Stream)


def test_rfc8441_handshake_adds_the_handlers_extra_headers_after_the_websocket_ones():
    def add_cookie(request):
        request.ws_protocol = "superchat"
        request.ws_extension_processors = []
        request.extra_headers.append(("set-cookie", "a=1"))

    request = H2Request(CONNECT_FIELDS, mock.FakeConnection())
    H2Handshaker(request, mock.FakeDispatcher(add_cookie)).do_handshake()
    assert list(request.headers_out.items()) == [("sec-websocket-protocol", "superchat"), ("set-cookie", "a=1")]
    assert request.ws_extensions == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "GET"}, "method 'GET' is not CONNECT"),
        ({"protocol": None}, "header :protocol is not defined"),
        ({"protocol": "h2c"}, "expected 'websocket' for header :protocol but found 'h2c'"),
        ({"authority": None}, "header authority is not defined"),
        ({"sec_websocket_protocol": "chat, bad/token"}, "bad sec-websocket-protocol header"),
        ({"sec_websocket_extensions": ";"}, "bad sec-websocket-extensions header"),
    ],
)
def test_malformed_extended_connect_gets_400_without_a_response(changes, message):
    request = H2Request(connect_fields(**changes), mock.FakeConnection())
    with pytest.raises(HandshakeException, match=message) as info:
        H2Handshaker(request, mock.FakeDispatcher(select_first_protocol)).do_handshake()
    assert info.value.status == 400
    assert request.status is None
    assert request.headers_out == {}


def test_extended_connect_with_an_unsupported_version_gets_400_with_the_supported_ones():
    request = H2Request(connect_fields(sec_websocket_version="7"), mock.FakeConnection())
    with pytest.raises(VersionException, match="unsupported version '7'") as info:
        H2Handshaker(request, mock.FakeDispatcher()).do_handshake()
    assert (info.value.status, info.value.supported_versions) == (400, "13, 8")


def test_extended_connect_without_a_version_fails_without_a_status():
    # As for RFC 6455, where a missing version lets the next protocol try.
    request = H2Request(connect_fields(sec_websocket_version=None), mock.FakeConnection())
    with pytest.raises(HandshakeException, match="no sec-websocket-version header: not an RFC 8441 request") as info:
        H2Handshaker(request, mock.FakeDispatcher()).do_handshake()
    assert info.value.status is None


def test_handler_refusal_without_a_status_gets_400():
    def refuse(request):
        raise HandshakeException("no")

    with pytest.raises(HandshakeException, match="no") as info:
        H2Handshaker(H2Request(CONNECT_FIELDS, mock.FakeConnection()), mock.FakeDispatcher(refuse)).do_handshake()
    assert info.value.status == 400


# -- the template ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "args"),
    [
        ("_protocol_rfc", ()),
        ("_transform_header", ("Origin",)),
        ("_validate_request", ()),
        ("_set_accept", ()),
        ("_send_handshake", ()),
    ],
)
def test_hooks_a_subclass_must_override_raise_not_implemented(hook, args):
    handshaker = HandshakerBase(mock.FakeRequest(), mock.FakeDispatcher())
    with pytest.raises(NotImplementedError, match=f"HandshakerBase must override {hook}"):
        getattr(handshaker, hook)(*args)


def recorded(name: str) -> Any:
    """Return a method that records ``name``, then runs H2Handshaker's."""

    def call(self: RecordingHandshaker, *args: Any) -> Any:
        self.calls.append(name)
        return getattr(H2Handshaker, name)(self, *args)

    return call


class RecordingHandshaker(H2Handshaker):
    """Records the hooks ``do_handshake`` calls, in order."""

    def __init__(self, request: Any, dispatcher: Any) -> None:
        super().__init__(request, dispatcher)
        self.calls: list[str] = []

    _check_version = recorded("_check_version")
    _validate_request = recorded("_validate_request")
    _get_origin = recorded("_get_origin")
    _set_protocol = recorded("_set_protocol")
    _parse_extensions = recorded("_parse_extensions")
    _set_accept = recorded("_set_accept")
    _get_extension_processors_requested = recorded("_get_extension_processors_requested")
    _process_extensions = recorded("_process_extensions")
    _send_handshake = recorded("_send_handshake")


def test_do_handshake_calls_the_hooks_in_order_around_the_extra_handshake():
    request = H2Request(CONNECT_FIELDS, mock.FakeConnection())
    handshaker = RecordingHandshaker(request, None)

    class Dispatcher:
        def do_extra_handshake(self, request):
            handshaker.calls.append("do_extra_handshake")
            select_first_protocol(request)

    handshaker._dispatcher = Dispatcher()
    handshaker.do_handshake()
    assert handshaker.calls == [
        "_check_version",
        "_validate_request",
        "_get_origin",
        "_set_protocol",
        "_parse_extensions",
        "_set_accept",
        "_get_extension_processors_requested",
        "do_extra_handshake",
        "_process_extensions",
        "_send_handshake",
    ]


def test_rfc6455_handshaker_is_built_on_the_base_and_keeps_its_steps():
    assert issubclass(hybi.Handshaker, HandshakerBase)
    assert "do_handshake" not in vars(hybi.Handshaker)


# -- RFC 8441 over a real HTTP/2 connection -------------------------------------


class StreamConnection:
    """``read(n)``/``write(data)`` over one HTTP/2 stream's DATA frames, as wptserve gives them."""

    def __init__(self, server: H2WebSocketServer, stream_id: int) -> None:
        self._server = server
        self._stream_id = stream_id
        self._received = bytearray()
        self._ended = False
        self._changed = threading.Condition()
        self.remote_addr = ("127.0.0.1", 0)

    def feed(self, data: bytes) -> None:
        with self._changed:
            self._received += data
            self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def read(self, length: int) -> bytes:
        """Return ``length`` bytes, fewer once the stream has ended."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= length or self._ended, TIMEOUT):
                raise TimeoutError(f"stream {self._stream_id}: no {length} bytes within {TIMEOUT} s")
            data = bytes(self._received[:length])
            del self._received[:length]
            return data

    def write(self, data: bytes) -> None:
        self._server.send_data(self._stream_id, data)


class H2WebSocketServer:
    """An HTTP/2 server for one connection, running each extended CONNECT stream as wptserve does.

    A thread reads the socket and files DATA into each stream's
    ``StreamConnection``; each stream gets a thread that runs
    ``H2Handshaker``, sends its answer as one HEADERS frame, then runs the
    handler through ``Dispatcher.transfer_data``. Messages must fit one
    DATA frame and the flow-control window: this carries a test, not a site.
    """

    def __init__(self, handler_root: str) -> None:
        h2_config = pytest.importorskip("h2.config", reason="h2 is not installed (requirements/test.txt pins it)")
        from h2.connection import H2Connection
        from h2.settings import SettingCodes, Settings

        # The arguments wptserve passes for its WebSocket streams.
        self._dispatcher = dispatch.Dispatcher(handler_root, None, False)
        self._h2 = H2Connection(h2_config.H2Configuration(client_side=False, header_encoding="latin-1"))
        # RFC 8441 §3: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in the first SETTINGS frame.
        self._h2.local_settings = Settings(client=False, initial_values={SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        self._lock = threading.Lock()
        self._streams: dict[int, StreamConnection] = {}
        self._stream_threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self.port = self._listener.getsockname()[1]
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._thread.join(TIMEOUT)
        self._listener.close()
        assert not self._thread.is_alive()

    def _flush(self) -> None:
        assert self._sock is not None
        self._sock.sendall(self._h2.data_to_send())

    def send_headers(self, stream_id: int, headers: list[tuple[str, str]], end_stream: bool = False) -> None:
        with self._lock:
            self._h2.send_headers(stream_id, headers, end_stream=end_stream)
            self._flush()

    def send_data(self, stream_id: int, data: bytes) -> None:
        with self._lock:
            self._h2.send_data(stream_id, data)
            self._flush()

    def _serve(self) -> None:
        from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset

        self._sock, _ = self._listener.accept()
        self._sock.settimeout(TIMEOUT)
        try:
            with self._lock:
                self._h2.initiate_connection()
                self._flush()
            while True:
                data = self._sock.recv(65536)
                if not data:
                    return
                with self._lock:
                    events = self._h2.receive_data(data)
                    for event in events:
                        if isinstance(event, DataReceived):
                            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    self._flush()
                for event in events:
                    if isinstance(event, RequestReceived):
                        self._streams[event.stream_id] = StreamConnection(self, event.stream_id)
                        thread = threading.Thread(target=self._run_stream, args=(event.stream_id, event.headers))
                        self._stream_threads.append(thread)
                        thread.start()
                    elif isinstance(event, DataReceived):
                        self._streams[event.stream_id].feed(event.data)
                    elif isinstance(event, (StreamEnded, StreamReset)):
                        self._streams[event.stream_id].end()
                    elif isinstance(event, ConnectionTerminated):
                        return
        finally:
            for connection in self._streams.values():
                connection.end()
            for thread in self._stream_threads:
                thread.join(TIMEOUT)
            self._sock.close()

    def _run_stream(self, stream_id: int, fields: list[tuple[str, str]]) -> None:
        from h2.exceptions import ProtocolError

        request = H2Request(fields, self._streams[stream_id])
        try:
            H2Handshaker(request, self._dispatcher).do_handshake()
        except HandshakeException as exc:
            self.send_headers(stream_id, [(":status", str(exc.status))], end_stream=True)
            return
        self.send_headers(stream_id, [(":status", str(request.status)), *request.headers_out.items()])
        self._dispatcher.transfer_data(request)
        try:
            with self._lock:
                self._h2.end_stream(stream_id)
                self._flush()
        except (ProtocolError, OSError):
            pass  # the client closed the connection first


class H2Client:
    """An HTTP/2 client (the ``h2`` package) with a WebSocket on one extended CONNECT stream."""

    def __init__(self, port: int) -> None:
        h2_config = pytest.importorskip("h2.config", reason="h2 is not installed (requirements/test.txt pins it)")
        from h2.connection import H2Connection

        self.h2 = H2Connection(h2_config.H2Configuration(client_side=True, header_encoding="latin-1"))
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.h2.initiate_connection()
        self.flush()
        self.stream_id = 0
        # RFC 7692 as negotiated by EXPECTED_RESPONSE_HEADERS: no parameters, 15-bit windows.
        self.websocket = Protocol(Side.CLIENT)
        self.websocket.extensions = [PerMessageDeflate(False, False, 15, 15)]
        self.data_frames: list[bytes] = []
        self._pending: list[Any] = []

    def flush(self) -> None:
        self.sock.sendall(self.h2.data_to_send())

    def receive_until(self, event_type: type) -> Any:
        """Return the next event of ``event_type``, reading as needed; file DATA for the WebSocket."""
        from h2.events import DataReceived

        while True:
            for index, event in enumerate(self._pending):
                if isinstance(event, event_type):
                    del self._pending[: index + 1]
                    return event
            self._pending.clear()
            data = self.sock.recv(65536)
            assert data, f"connection closed before {event_type.__name__}"
            self._pending = self.h2.receive_data(data)
            for event in self._pending:
                if isinstance(event, DataReceived):
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if event.data:
                        self.data_frames.append(event.data)
                        self.websocket.receive_data(event.data)
            self.flush()

    def open(self, fields: list[tuple[str, str]]) -> Any:
        """Send the extended CONNECT and return the response's headers."""
        from h2.events import RemoteSettingsChanged, ResponseReceived
        from h2.settings import SettingCodes

        self.receive_until(RemoteSettingsChanged)
        assert self.h2.remote_settings[SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1
        self.stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(self.stream_id, fields)
        self.flush()
        return self.receive_until(ResponseReceived).headers

    def send_websocket_data(self) -> None:
        for data in self.websocket.data_to_send():
            if data:
                self.h2.send_data(self.stream_id, data)
        self.flush()

    def receive_frame(self) -> Any:
        """Return the next WebSocket frame from the server."""
        from h2.events import DataReceived

        while True:
            frames = self.websocket.events_received()
            if frames:
                assert len(frames) == 1
                return frames[0]
            self.receive_until(DataReceived)

    def echo_and_close(self) -> list[Any]:
        """Send a text and a binary message, then close with 1000; return the frames received."""
        from h2.events import StreamEnded

        self.websocket.send_text(b"Hello, HTTP/2")
        self.send_websocket_data()
        received = [self.receive_frame()]
        self.websocket.send_binary(b"\x00\xff" * 100)
        self.send_websocket_data()
        received.append(self.receive_frame())
        self.websocket.send_close(1000, "done")
        self.send_websocket_data()
        received.append(self.receive_frame())
        # The handler returned, so the server ends the stream (wptserve too).
        self.receive_until(StreamEnded)
        return received

    def close(self) -> None:
        self.h2.close_connection()
        self.flush()
        self.sock.close()


def check_echo_over_http2(port: int) -> None:
    """Open the echo WebSocket over HTTP/2 at ``port``, echo two messages and close: each frame as expected."""
    client = H2Client(port)
    try:
        assert client.open(CONNECT_FIELDS) == EXPECTED_RESPONSE_HEADERS
        frames = client.echo_and_close()
        assert [(frame.opcode, frame.data) for frame in frames] == [
            (Opcode.TEXT, b"Hello, HTTP/2"),
            (Opcode.BINARY, b"\x00\xff" * 100),
            (Opcode.CLOSE, b"\x03\xe8"),
        ]
        # RFC 7692 §6: the echoes were compressed (RSV1 on), the close frame not.
        assert [data[:1] for data in client.data_frames] == [b"\xc1", b"\xc2", b"\x88"]
    finally:
        # Its GOAWAY ends wptserve's connection loop too (it does not notice EOF).
        client.close()


def test_rfc8441_websocket_over_a_real_http2_stream_echoes_through_a_handler_file():
    server = H2WebSocketServer(EXAMPLE_DIR)
    try:
        check_echo_over_http2(server.port)
    finally:
        server.stop()


def test_rfc8441_refused_extended_connect_gets_its_status_on_the_stream():
    from h2.events import StreamEnded

    server = H2WebSocketServer(EXAMPLE_DIR)
    client = H2Client(server.port)
    try:
        headers = client.open(connect_fields(sec_websocket_version="7"))
        assert headers == [(":status", "400")]
        client.receive_until(StreamEnded)
    finally:
        client.close()
        server.stop()


@pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")
def test_wptserves_own_http2_server_runs_a_websocket_through_this_package():
    wptserve_server = pytest.importorskip(
        "wptserve.server", reason="WPTSERVE NOT RUN: wptserve is not installed (requirements/test-no-deps.txt pins it)"
    )
    httpd = wptserve_server.WebTestHttpd(
        host="127.0.0.1",
        port=0,
        handler_cls=wptserve_server.Http2WebTestRequestHandler,
        http2=True,
        doc_root=EXAMPLE_DIR,
        ws_doc_root=EXAMPLE_DIR,
    )
    httpd.start()
    try:
        check_echo_over_http2(httpd.port)
    finally:
        httpd.stop()


# -- handshake.failure_reply: the one table from a failure to its answer ------


@pytest.mark.parametrize(
    ("exc", "status", "headers", "log_level"),
    [
        pytest.param(handshake.AbortedByUserException("x"), None, (), logging.INFO, id="aborted"),
        pytest.param(stream.ConnectionTerminatedException("x"), None, (), logging.INFO, id="peer-gone"),
        pytest.param(ConnectionResetError(104, "reset"), None, (), logging.INFO, id="reset"),
        pytest.param(HandshakeException("x"), 400, (), logging.INFO, id="no-status"),
        pytest.param(_base.ProtocolMismatchException("x"), 400, (), logging.INFO, id="no-protocol"),
        pytest.param(HandshakeException("x", 401), 401, (), logging.INFO, id="status"),
        pytest.param(
            VersionException("x", "13, 8"), 400, (("Sec-WebSocket-Version", "13, 8"),), logging.INFO, id="version"
        ),
        pytest.param(VersionException("x"), 400, (), logging.INFO, id="version-without-list"),
        pytest.param(dispatch.DispatchException("x"), 404, (), logging.INFO, id="no-handler"),
        pytest.param(dispatch.DispatchException("x", 400), 400, (), logging.INFO, id="fragment"),
        pytest.param(stream.BadOperationException("x"), 500, (), logging.ERROR, id="stream-misuse"),
        pytest.param(UnicodeEncodeError("latin-1", "\u20ac", 0, 1, "x"), 500, (), logging.ERROR, id="bug"),
    ],
)
def test_failure_reply_maps_each_failure_to_its_answer(exc, status, headers, log_level):
    assert handshake.failure_reply(exc) == handshake.FailureReply(status, headers, log_level)


@pytest.mark.parametrize(
    "exc", [HandshakeException("x", 403), VersionException("x", "13, 8"), ValueError("x")], ids=type
)
def test_failure_reply_sends_no_status_after_part_of_a_response(exc):
    assert handshake.failure_reply(exc, response_started=True).status is None


def test_do_handshake_answers_400_when_no_protocol_recognises_the_request():
    request = mock.FakeRequest(headers={"Host": "example.com", "Upgrade": "websocket", "Connection": "Upgrade"})
    with pytest.raises(HandshakeException, match="no protocol version accepts the request") as info:
        handshake.do_handshake(request, mock.FakeDispatcher())
    assert info.value.status == 400
    assert "not an RFC 6455 request" in str(info.value)
