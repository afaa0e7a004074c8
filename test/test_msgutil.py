"""Tests for msgutil.py: the request-level helpers and the background threads."""

from __future__ import annotations

import pytest

from mod_pywebsocket import msgutil
from mod_pywebsocket._stream_hybi import Frame, Stream, StreamOptions, serialize_frame
from test import mock

KEY = b"\x01\x02\x03\x04"


def stream_request(data: bytes = b""):
    request = mock.FakeRequest(connection=mock.FakeConnection(data))
    request.ws_stream = Stream(request, StreamOptions())
    return request


def test_send_message_accepts_end_and_binary_positionally_and_by_keyword():
    request = stream_request()
    msgutil.send_message(request, "a", False)
    msgutil.send_message(request, "b", end=True)
    msgutil.send_message(request, b"\x00", True, True)
    assert request.connection.written == [b"\x01\x01a", b"\x80\x01b", b"\x82\x01\x00"]


def test_send_message_with_str_and_binary_raises():
    with pytest.raises(msgutil.BadOperationException, match="must be bytes, not str"):
        msgutil.send_message(stream_request(), "text", binary=True)


def test_receive_message_send_ping_and_close_connection():
    data = serialize_frame(Frame(1, 0, 0, 0, 1, b"hi"), KEY) + serialize_frame(Frame(1, 0, 0, 0, 8, b"\x03\xe8"), KEY)
    request = stream_request(data)
    assert msgutil.receive_message(request) == "hi"
    msgutil.send_ping(request, b"p")
    msgutil.close_connection(request)
    assert request.connection.written == [b"\x89\x01p", b"\x88\x02\x03\xe8"]
    assert request.client_terminated


def test_message_receiver_queues_messages_until_close():
    frames = [Frame(1, 0, 0, 0, 1, b"one"), Frame(1, 0, 0, 0, 2, b"two"), Frame(1, 0, 0, 0, 8, b"\x03\xe8")]
    request = stream_request(b"".join(serialize_frame(f, KEY) for f in frames))
    receiver = msgutil.MessageReceiver(request)
    assert [receiver.receive(), receiver.receive(), receiver.receive()] == ["one", b"two", None]
    receiver.join(5)
    assert not receiver.is_alive()
    assert receiver.receive_nowait() is None


def test_message_receiver_calls_onmessage_and_stops_when_the_connection_ends():
    seen = []
    request = stream_request(serialize_frame(Frame(1, 0, 0, 0, 1, b"x"), KEY))
    receiver = msgutil.MessageReceiver(request, seen.append)
    # The data ends without a close frame: the receiver stops on its own.
    receiver.join(5)
    assert not receiver.is_alive()
    assert seen == ["x"]


def test_message_sender_sends_in_order():
    request = stream_request()
    sender = msgutil.MessageSender(request)
    sender.send_nowait("a")
    sender.send("b")
    assert request.connection.written == [b"\x81\x01a", b"\x81\x01b"]
