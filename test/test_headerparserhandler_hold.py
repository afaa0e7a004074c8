"""``PythonOption mod_pywebsocket.hold_replies``: pipelined replies leave Apache in fewer writes.

In this process, against the fake mod_python of ``test/fake_mod_python.py``:
every ``connection.write`` is one entry of ``FakeConnection.written``, so the
tests see exactly which bytes leave together, and when (``test_apache_hold_replies.py``
runs the option in a real Apache).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mod_pywebsocket import common, headerparserhandler
from test import fake_mod_python
from test.fake_mod_python import FakeConnection, FakeRequest
from test.servers import ROBUST_HANDLERS
from test.wire import SAMPLE_ACCEPT, client_frame, header_fields, parse_response, upgrade_request

pytestmark = pytest.mark.usefixtures("apache")

# What the tests' client sends to close (1001), and the server's answer (1000).
CLIENT_CLOSE_1001 = client_frame(common.OPCODE_CLOSE, b"\x03\xe9")
SERVER_CLOSE_1000 = client_frame(common.OPCODE_CLOSE, b"\x03\xe8", mask=False)

# The shared echo handler, and one that answers each message with four copies of it (the same loop, another send).
ECHO = Path(ROBUST_HANDLERS, "echo_wsh.py").read_text(encoding="utf-8")
ECHO_SEND = "request.ws_stream.send_message(message, binary=isinstance(message, bytes))"
assert ECHO_SEND in ECHO
ECHO4 = ECHO.replace(ECHO_SEND, "request.ws_stream.send_message(message * 4)")

# Replies to the first message, then the connection is dropped without a close frame.
REPLY_THEN_ABORT = """
from mod_pywebsocket import handshake

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.send_message(request.ws_stream.receive_message())
    raise handshake.AbortedByUserException("done")
"""

# After the first message, a second thread sends "tick" once the handler's own
# thread is blocked in mod_python's read, in the middle of a frame.
TICK_FROM_ANOTHER_THREAD = """
import threading

def web_socket_do_extra_handshake(request):
    pass

def web_socket_transfer_data(request):
    request.ws_stream.receive_message()

    def tick():
        request.connection.reader_blocked.wait(10)
        request.ws_stream.send_message("tick")

    sender = threading.Thread(target=tick)
    sender.start()
    try:
        request.ws_stream.receive_message()
    finally:
        sender.join(10)
"""


def text(payload: bytes) -> bytes:
    """A client's masked text frame."""
    return client_frame(common.OPCODE_TEXT, payload)


def reply(payload: bytes) -> bytes:
    """The server's unmasked text frame."""
    return client_frame(common.OPCODE_TEXT, payload, mask=False)


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    """A handler root with ``/echo``, ``/echo4``, ``/reply_then_abort`` and ``/tick``."""
    sources = {"echo": ECHO, "echo4": ECHO4, "reply_then_abort": REPLY_THEN_ABORT, "tick": TICK_FROM_ANOTHER_THREAD}
    for name, source in sources.items():
        (tmp_path / f"{name}_wsh.py").write_text(source)
    return tmp_path


def request_for(
    handlers: Path, resource: str, connection: FakeConnection, hold: str | None = "On", protocol: str = "HTTP/1.1"
) -> FakeRequest:
    """Apache's request for an RFC 6455 handshake (with RFC 6455's sample key) to ``resource``."""
    options = [(headerparserhandler.OPTION_HANDLER_ROOT, str(handlers))]
    if hold is not None:
        options.append((headerparserhandler.OPTION_HOLD_REPLIES, hold))
    fields = [(name, value) for name, values in header_fields(upgrade_request(resource)).items() for value in values]
    return FakeRequest(resource, fields, options, connection, protocol=protocol)


def is_101(data: bytes) -> bool:
    """Tell whether ``data`` is the whole 101 answering RFC 6455's sample key."""
    status, fields, rest = parse_response(data)
    return (status, fields["sec-websocket-accept"], rest) == (101, [SAMPLE_ACCEPT], b"")


def messages(request: FakeRequest, level: int) -> list[str]:
    """What went to the error log at ``level``."""
    return [message for message, at in request.logged if at == level]


def serve(request: FakeRequest) -> int:
    return headerparserhandler.headerparserhandler(request)


PIPELINED = text(b"one") + text(b"two") + text(b"three") + CLIENT_CLOSE_1001
REPLIES = [reply(b"one"), reply(b"two"), reply(b"three")]


@pytest.mark.parametrize("value", [None, "Off", "no"])
def test_without_the_option_every_reply_is_its_own_write(handlers, value):
    connection = FakeConnection(PIPELINED)
    assert serve(request_for(handlers, "/echo", connection, hold=value)) == fake_mod_python.DONE
    assert is_101(connection.written[0])
    assert connection.written[1:] == [*REPLIES, SERVER_CLOSE_1000]


@pytest.mark.parametrize("value", ["On", "yes", "ON"])
def test_replies_to_messages_read_in_one_go_leave_in_one_write(handlers, value):
    connection = FakeConnection(PIPELINED)
    assert serve(request_for(handlers, "/echo", connection, hold=value)) == fake_mod_python.DONE
    # The 101 is never held; the replies and the close wait for the input to run out.
    assert is_101(connection.written[0])
    assert connection.written[1:] == [b"".join(REPLIES) + SERVER_CLOSE_1000]


class LoggingConnection(FakeConnection):
    """A FakeConnection that records reads and writes in the order they happen."""

    __slots__ = ("events",)

    def __init__(self, data: bytes, chunk: int) -> None:
        super().__init__(data, chunk=chunk)
        self.events: list[tuple[str, bytes | None]] = []

    def read(self, length: int) -> bytes | None:
        data = super().read(length)
        self.events.append(("read", data))
        return data

    def write(self, data: bytes) -> None:
        super().write(data)
        self.events.append(("write", bytes(data)))


def test_held_replies_leave_before_a_read_that_waits_for_the_peer(handlers):
    one, two = text(b"one"), text(b"two")
    # The first read brings "one" and the first 3 bytes of "two"; the rest of "two" needs another read.
    connection = LoggingConnection(one + two + CLIENT_CLOSE_1001, chunk=len(one) + 3)
    assert serve(request_for(handlers, "/echo", connection)) == fake_mod_python.DONE
    rest = (two + CLIENT_CLOSE_1001)[3:]
    kind, head = connection.events[0]
    assert kind == "write"
    assert is_101(head)
    assert connection.events[1:] == [
        ("read", one + two[:3]),
        # "two" is partly here, so the reply to "one" waited; it leaves before the read that completes "two".
        ("write", reply(b"one")),
        ("read", rest[: len(one) + 3]),
        # The close frame is partly here: the same again.
        ("write", reply(b"two")),
        ("read", rest[len(one) + 3 :]),
        ("write", SERVER_CLOSE_1000),
    ]


def test_held_bytes_leave_once_they_reach_64_kib(handlers):
    messages_in = [bytes([65 + i]) * 8000 for i in range(3)]
    connection = FakeConnection(b"".join(text(payload) for payload in messages_in) + CLIENT_CLOSE_1001)
    assert serve(request_for(handlers, "/echo4", connection)) == fake_mod_python.DONE
    # One read brings everything; the third 32004-byte reply takes the held bytes past 65536.
    replies = [reply(payload * 4) for payload in messages_in]
    assert is_101(connection.written[0])
    assert connection.written[1:] == [b"".join(replies), SERVER_CLOSE_1000]


def test_what_is_held_when_the_handler_ends_leaves_then(handlers):
    connection = FakeConnection(text(b"one") + text(b"two"))
    request = request_for(handlers, "/reply_then_abort", connection)
    assert serve(request) == fake_mod_python.DONE
    # "two" was never read, so the reply to "one" stayed held until the handler was done.
    assert is_101(connection.written[0])
    assert connection.written[1:] == [reply(b"one")]


def test_a_failed_write_of_the_held_bytes_at_the_end_is_logged_at_debug(handlers):
    connection = FakeConnection(text(b"one") + text(b"two"))
    connection.write_error = OSError("Broken pipe")
    connection.writes_before_error = 1
    request = request_for(handlers, "/reply_then_abort", connection)
    request.server.loglevel = fake_mod_python.APLOG_DEBUG
    assert serve(request) == fake_mod_python.DONE
    assert len(connection.written) == 1
    assert is_101(connection.written[0])
    assert (
        "mod_pywebsocket.headerparserhandler: WebSocket connection to /reply_then_abort ended before its last"
        " bytes left: connection write failed: Broken pipe"
    ) in messages(request, fake_mod_python.APLOG_DEBUG)
    assert messages(request, fake_mod_python.APLOG_ERR) == []


class BlockingConnection(FakeConnection):
    """A FakeConnection whose read, once ``data`` is used up, waits up to 10 s for "tick" to be written."""

    __slots__ = ("reader_blocked", "tick_came_while_blocked", "ticked")

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reader_blocked = threading.Event()
        self.ticked = threading.Event()
        self.tick_came_while_blocked = False

    def read(self, length: int) -> bytes | None:
        if not self._data:
            self.reader_blocked.set()
            self.tick_came_while_blocked = self.ticked.wait(10)
        return super().read(length)

    def write(self, data: bytes) -> None:
        super().write(data)
        if data == reply(b"tick"):
            self.ticked.set()


def test_a_send_from_another_thread_while_the_reader_waits_mid_frame_is_not_held(handlers):
    # Three bytes of the next frame are buffered while the reader waits for the rest.
    connection = BlockingConnection(text(b"go") + text(b"more")[:3])
    assert serve(request_for(handlers, "/tick", connection)) == fake_mod_python.DONE
    assert connection.tick_came_while_blocked
    assert is_101(connection.written[0])
    assert connection.written[1:] == [reply(b"tick")]


def test_http2_stream_data_is_held_the_same_way(handlers):
    request = request_for(handlers, "/echo", FakeConnection(PIPELINED), protocol="HTTP/2.0")
    assert serve(request) == fake_mod_python.DONE
    assert request.status == 101
    assert request.flushes == 1
    assert request.body == [b"".join(REPLIES) + SERVER_CLOSE_1000]


def test_a_bad_value_answers_500_and_says_why(handlers):
    connection = FakeConnection()
    request = request_for(handlers, "/echo", connection, hold="sometimes")
    assert serve(request) == 500
    assert messages(request, fake_mod_python.APLOG_ERR) == [
        "mod_pywebsocket: PythonOption mod_pywebsocket.hold_replies must be On or Off (Yes/No also work),"
        " not 'sometimes'"
    ]
    assert connection.written == []
