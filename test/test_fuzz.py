"""Property-based tests (Hypothesis) of the parsers: random and mutated input.

The contract checked everywhere: a parser given any bytes or text either
returns a value or raises one of its documented exceptions (the stream
exceptions of ``_stream_base``, ``HandshakeException``,
``ExtensionParsingException``) and nothing else; and what the codec
serializes, it parses back unchanged, whether the bytes come whole, one per
read, or followed by bytes it must leave unread.

Example counts are kept modest (``settings`` below) so that the whole file
runs in well under 30 s. ``fuzz/`` has atheris targets for longer runs.
"""

from __future__ import annotations

import base64
import contextlib
import email.message
import importlib
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mod_pywebsocket import common, extensions, http_header_util
from mod_pywebsocket._stream_base import (
    BadOperationException,
    ConnectionTerminatedException,
    InvalidFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
    UnsupportedFrameException,
)
from mod_pywebsocket._stream_hixie75 import StreamHixie75
from mod_pywebsocket._stream_hybi import (
    Frame,
    Stream,
    StreamOptions,
    parse_close_body,
    parse_frame,
    parse_frame_header,
    serialize_frame,
)
from mod_pywebsocket.handshake import hybi, hybi00
from mod_pywebsocket.handshake._base import HandshakeException, parse_token_list
from test import mock
from test.grammar import reference_list

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What a stream may raise on bad input from the peer.
STREAM_ERRORS = (
    ConnectionTerminatedException,  # InvalidFrameException is one
    UnsupportedFrameException,
    InvalidUTF8Exception,
    MessageTooBigException,
)
FRAME_ERRORS = (InvalidFrameException, MessageTooBigException, ConnectionTerminatedException)
DATA_OPCODES = (common.OPCODE_CONTINUATION, common.OPCODE_TEXT, common.OPCODE_BINARY)
CONTROL_OPCODES = (common.OPCODE_CLOSE, common.OPCODE_PING, common.OPCODE_PONG)


class Reader:
    """A ``read_exact`` over bytes: exactly n bytes, else ConnectionTerminatedException.

    ``chunk`` 1 gives the bytes one per call through a loop, as a slow
    network would (h11's ``tr()`` idea).
    """

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.chunk = chunk

    def __call__(self, length: int) -> bytes:
        parts = []
        wanted = length
        while wanted:
            take = wanted if self.chunk is None else min(wanted, self.chunk)
            part = self.data[self.pos : self.pos + take]
            if not part:
                raise ConnectionTerminatedException(f"EOF after {length - wanted} of {length} bytes")
            self.pos += len(part)
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)

    def rest(self) -> bytes:
        return self.data[self.pos :]


def _payload(draw, max_size: int) -> bytes:
    # Mostly short payloads, sometimes across the 125/126 and 65535/65536 length boundaries.
    boundaries = st.sampled_from([125, 126, 127, 65535, 65536])
    size = draw(st.one_of(st.integers(0, 130), boundaries, st.integers(0, max_size)))
    if size > 200:
        seed = draw(st.binary(min_size=1, max_size=16))
        return (seed * (size // len(seed) + 1))[:size]
    return draw(st.binary(min_size=size, max_size=size))


@st.composite
def frames(draw) -> Frame:
    opcode = draw(st.sampled_from(DATA_OPCODES + CONTROL_OPCODES))
    control = opcode >> 3
    fin = 1 if control else draw(st.integers(0, 1))
    payload = _payload(draw, 125 if control else 70000)
    if control:
        payload = payload[:125]
    return Frame(
        fin=fin,
        rsv1=draw(st.integers(0, 1)),
        rsv2=draw(st.integers(0, 1)),
        rsv3=draw(st.integers(0, 1)),
        opcode=opcode,
        payload=payload,
    )


mask_keys = st.one_of(st.none(), st.binary(min_size=4, max_size=4))


# -- the frame codec ----------------------------------------------------------------


@FAST
@given(frame=frames(), mask_key=mask_keys, chunk=st.sampled_from([None, 1, 7]), trailing=st.binary(max_size=8))
def test_parse_of_serialize_is_the_identity(frame, mask_key, chunk, trailing):
    wire = serialize_frame(frame, mask_key)
    reader = Reader(wire + trailing, chunk)
    assert parse_frame(reader, expect_mask=mask_key is not None) == frame
    assert reader.rest() == trailing  # nothing past the frame is read


@FAST
@given(frame=frames(), mask_key=mask_keys)
def test_serialize_of_parse_gives_the_same_bytes(frame, mask_key):
    wire = serialize_frame(frame, mask_key)
    assert serialize_frame(parse_frame(Reader(wire), expect_mask=None), mask_key) == wire


@FAST
@given(
    data=st.binary(max_size=40),
    expect_mask=st.sampled_from([True, False, None]),
    limit=st.sampled_from([None, 0, 125, 1 << 20]),
)
def test_parse_frame_of_random_bytes_raises_only_frame_errors(data, expect_mask, limit):
    try:
        frame = parse_frame(Reader(data), expect_mask=expect_mask, max_payload_length=limit)
    except FRAME_ERRORS:
        return
    assert isinstance(frame, Frame)
    assert common.is_known_opcode(frame.opcode)
    assert limit is None or len(frame.payload) <= limit


@FAST
@given(data=st.binary(max_size=20))
def test_parse_frame_header_of_random_bytes_checks_what_it_returns(data):
    try:
        header = parse_frame_header(Reader(data), expect_mask=None)
    except FRAME_ERRORS:
        return
    assert 0 <= header.payload_length < 2**63
    assert common.is_known_opcode(header.opcode)
    if header.opcode >> 3:
        assert header.fin == 1 and header.payload_length <= 125
    assert header.mask_key is None or len(header.mask_key) == 4


@st.composite
def mutated(draw, wire: bytes) -> bytes:
    data = bytearray(wire)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[position]
    return bytes(data)


@FAST
@given(st.data())
def test_parse_frame_of_mutated_frames_raises_only_frame_errors(data):
    frame = data.draw(frames())
    wire = serialize_frame(frame, data.draw(mask_keys))
    broken = data.draw(mutated(wire))
    with contextlib.suppress(FRAME_ERRORS):
        parse_frame(Reader(broken), expect_mask=None, max_payload_length=1 << 20)


@FAST
@given(body=st.binary(max_size=130))
def test_parse_close_body_of_random_bytes_raises_only_documented_errors(body):
    try:
        code, reason = parse_close_body(body)
    except (InvalidFrameException, InvalidUTF8Exception):
        return
    if body:
        assert common.is_valid_close_code(code)
        assert reason == body[2:].decode("utf-8")
    else:
        assert (code, reason) == (None, None)


# -- the RFC 6455 stream over a fake connection ---------------------------------------------


def _client_frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    return serialize_frame(Frame(fin=int(fin), rsv1=int(rsv1), opcode=opcode, payload=payload), b"\x01\x02\x03\x04")


def _stream(data: bytes, *, deflate: bool = False, max_size: int = 1 << 16, chunk: int | None = None) -> Stream:
    connection = mock.FakeConnection(data, chunk=chunk)
    request = mock.FakeRequest(connection=connection)
    options = StreamOptions()
    options.max_message_size = max_size
    if deflate:
        options.permessage_deflate = extensions.PerMessageDeflateCodec(None, False)
    return Stream(request, options)


def _drain(stream: Stream, limit: int = 200) -> list[object]:
    """Receive until the close or a stream error; return the messages."""
    messages = []
    for _ in range(limit):
        try:
            message = stream.receive_message()
        except STREAM_ERRORS:
            return messages
        if message is None:
            return messages
        messages.append(message)
    return messages


@SLOW
@given(data=st.binary(max_size=300), deflate=st.booleans(), chunk=st.sampled_from([None, 1]))
def test_stream_fed_random_bytes_raises_only_stream_errors(data, deflate, chunk):
    _drain(_stream(data, deflate=deflate, chunk=chunk))


@st.composite
def message_sequences(draw) -> list[tuple[int, bytes, bool]]:
    """Frames a good client might send: text, binary, fragments, pings; then a close."""
    sequence = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["text", "binary", "fragmented", "ping"]))
        if kind == "text":
            sequence.append((common.OPCODE_TEXT, draw(st.text(max_size=50)).encode(), True))
        elif kind == "binary":
            sequence.append((common.OPCODE_BINARY, draw(st.binary(max_size=200)), True))
        elif kind == "ping":
            sequence.append((common.OPCODE_PING, draw(st.binary(max_size=20)), True))
        else:
            parts = draw(st.lists(st.binary(max_size=30), min_size=2, max_size=4))
            sequence.append((common.OPCODE_BINARY, parts[0], False))
            sequence.extend((common.OPCODE_CONTINUATION, part, False) for part in parts[1:-1])
            sequence.append((common.OPCODE_CONTINUATION, parts[-1], True))
    sequence.append((common.OPCODE_CLOSE, b"\x03\xe8", True))
    return sequence


def _expected_messages(sequence) -> list[object]:
    messages: list[object] = []
    pending: list[bytes] = []
    for opcode, payload, fin in sequence:
        if opcode in (common.OPCODE_PING, common.OPCODE_CLOSE):
            continue
        pending.append(payload)
        if fin:
            whole = b"".join(pending)
            first_opcode = opcode if len(pending) == 1 else common.OPCODE_BINARY
            messages.append(whole.decode() if first_opcode == common.OPCODE_TEXT else whole)
            pending = []
    return messages


@SLOW
@given(sequence=message_sequences(), chunk=st.sampled_from([None, 1, 3]))
def test_stream_delivers_every_message_of_a_valid_sequence(sequence, chunk):
    data = b"".join(_client_frame(opcode, payload, fin) for opcode, payload, fin in sequence)
    stream = _stream(data, chunk=chunk)
    assert _drain(stream) == _expected_messages(sequence)
    assert stream._request.client_terminated
    with pytest.raises(BadOperationException):
        stream.receive_message()


@SLOW
@given(st.data())
def test_stream_fed_mutated_valid_sequences_raises_only_stream_errors(data):
    sequence = data.draw(message_sequences())
    wire = b"".join(_client_frame(opcode, payload, fin) for opcode, payload, fin in sequence)
    _drain(_stream(data.draw(mutated(wire)), max_size=data.draw(st.sampled_from([16, 1 << 16]))))


def _deflate(payload: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


@SLOW
@given(payload=st.binary(max_size=300), data=st.data())
def test_stream_fed_mutated_compressed_messages_raises_only_stream_errors(payload, data):
    wire = _client_frame(common.OPCODE_BINARY, _deflate(payload), rsv1=True)
    broken = data.draw(st.one_of(st.just(wire), mutated(wire)))
    messages = _drain(_stream(broken + _client_frame(common.OPCODE_CLOSE, b""), deflate=True, max_size=256))
    if broken == wire and len(payload) <= 256:
        assert messages == [payload]


@SLOW
@given(data=st.binary(max_size=200), closing=st.booleans())
def test_hixie75_stream_fed_random_bytes_raises_only_stream_errors(data, closing):
    request = mock.FakeRequest(connection=mock.FakeConnection(data))
    stream = StreamHixie75(request, enable_closing_handshake=closing, max_message_size=64)
    for _ in range(100):
        try:
            if stream.receive_message() is None:
                break
        except STREAM_ERRORS:
            break


# -- handshake parsers ------------------------------------------------------------------------

header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)


def _request(headers, uri: str = "/echo") -> mock.FakeRequest:
    request = mock.FakeRequest(uri=uri)
    request.headers_in = email.message.Message()
    for name, value in headers:
        request.headers_in[name] = value
    return request


VALID_HEADERS = [
    ("Host", "127.0.0.1"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
]
HEADER_NAMES = [name for name, _ in VALID_HEADERS] + [
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "Sec-WebSocket-Origin",
]


@st.composite
def mutated_headers(draw) -> list[tuple[str, str]]:
    headers = list(VALID_HEADERS)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["drop", "duplicate", "replace", "add"]))
        if action == "drop" and headers:
            del headers[draw(st.integers(0, len(headers) - 1))]
        elif action == "duplicate" and headers:
            headers.append(headers[draw(st.integers(0, len(headers) - 1))])
        elif action == "replace" and headers:
            index = draw(st.integers(0, len(headers) - 1))
            headers[index] = (headers[index][0], draw(header_text))
        else:
            headers.append((draw(st.sampled_from(HEADER_NAMES)), draw(header_text)))
    return headers


@FAST
@given(headers=mutated_headers())
def test_hybi_handshake_of_mutated_requests_raises_only_handshake_exception(headers):
    request = _request(headers)
    try:
        hybi.Handshaker(request, mock.FakeDispatcher()).do_handshake()
    except HandshakeException:
        assert request.connection.written_bytes() == b""
        return
    response = request.connection.written_bytes()
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    key = request.headers_in["Sec-WebSocket-Key"].strip()
    assert base64.b64decode(key, validate=True) and len(base64.b64decode(key)) == 16


@FAST
@given(key=header_text)
def test_hybi00_parse_key_returns_a_32_bit_part_or_raises_400(key):
    try:
        part = hybi00.parse_key(key)
    except HandshakeException as exc:
        assert exc.status == 400
        return
    assert 0 <= part <= 0xFFFFFFFF
    spaces = key.count(" ")
    assert part * spaces == int("".join(c for c in key if "0" <= c <= "9"))


@FAST
@given(
    part=st.integers(0, 0xFFFFFFFF),
    spaces=st.integers(1, 12),
    noise=st.lists(st.sampled_from("!\"#$%&'()*+,-./:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ~"), max_size=12),
    data=st.data(),
)
def test_hybi00_parse_key_finds_the_part_a_client_hid(part, spaces, noise, data):
    assume(part * spaces <= 0xFFFFFFFF)
    characters = list(str(part * spaces))
    for piece in [" "] * spaces + noise:
        characters.insert(data.draw(st.integers(1, len(characters) - 1)) if len(characters) > 1 else 1, piece)
    key = "".join(characters)
    assert hybi00.parse_key(key) == part


@FAST
@given(text=header_text)
def test_parse_token_list_returns_tokens_or_raises_handshake_exception(text):
    try:
        tokens = parse_token_list(text)
    except HandshakeException:
        return
    assert tokens
    assert all(token and all(c in _TOKEN_CHARS for c in token) for token in tokens)


_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=12)
# What a quoted-string can carry (RFC 9110 §5.6.4): HTAB, SP, VCHAR, obs-text
# (and, from mod_python's UTF-8 decoding, code points above 0xFF).
quotable_values = st.text(
    alphabet=st.one_of(
        st.sampled_from('\t "\\,;='),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x80),
    ),
    max_size=12,
)


def reference_parse_token_list(data):
    """RFC 2616 ``1#token`` read character by character (what parse_token_list must agree with)."""
    return reference_list(data, http_header_util.consume_token)


@FAST
@given(text=st.text(alphabet="ab,; \t\r\n\x00é", max_size=20) | header_text)
def test_parse_token_list_agrees_with_a_character_by_character_parser(text):
    try:
        result = parse_token_list(text)
    except HandshakeException:
        result = "error"
    assert result == reference_parse_token_list(text)


@FAST
@given(items=st.lists(tokens, min_size=1, max_size=6), separator=st.sampled_from([",", ", ", " ,\t", " , "]))
def test_parse_token_list_round_trips(items, separator):
    assert parse_token_list(separator.join(items)) == items


@FAST
@given(text=header_text)
def test_parse_extensions_returns_extensions_or_raises_extension_parsing_exception(text):
    try:
        parsed = common.parse_extensions(text)
    except common.ExtensionParsingException:
        return
    assert parsed
    # What was parsed formats to a value that parses to the same thing.
    again = common.parse_extensions(common.format_extensions(parsed))
    assert [(e.name(), e.get_parameters()) for e in again] == [(e.name(), e.get_parameters()) for e in parsed]


@st.composite
def extension_lists(draw) -> list[common.ExtensionParameter]:
    result = []
    for _ in range(draw(st.integers(1, 4))):
        extension = common.ExtensionParameter(draw(tokens))
        for _ in range(draw(st.integers(0, 3))):
            extension.add_parameter(draw(tokens), draw(st.one_of(st.none(), tokens, quotable_values)))
        result.append(extension)
    return result


@FAST
@given(offered=extension_lists())
def test_parse_extensions_of_format_extensions_is_the_identity(offered):
    parsed = common.parse_extensions(common.format_extensions(offered))
    assert [(e.name(), e.get_parameters()) for e in parsed] == [(e.name(), e.get_parameters()) for e in offered]


@FAST
@given(value=quotable_values, trailing=header_text)
def test_quote_if_necessary_then_consume_gives_the_value_back_and_leaves_what_follows(value, trailing):
    quoted = http_header_util.quote_if_necessary(value)
    state = http_header_util.ParsingState(quoted + "," + trailing)
    assert http_header_util.consume_token_or_quoted_string(state) == value
    assert state.data[state.head :] == "," + trailing


@FAST
@given(name=tokens, parameter=tokens, value=tokens)
def test_parse_extensions_unquotes_a_quoted_token_value(name, parameter, value):
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    (parsed,) = common.parse_extensions(f"{name}; {parameter}={quoted}")
    assert (parsed.name(), parsed.get_parameters()) == (name, [(parameter, value)])


# -- the optional atheris targets keep working ---------------------------------------------


@pytest.mark.parametrize("target", ["fuzz_frames", "fuzz_stream", "fuzz_headers"])
def test_atheris_target_survives_a_short_smoke_run(target, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "fuzz"))
    module = importlib.import_module(target)
    driver = importlib.import_module("_driver")
    assert driver.smoke(module.test_one_input, 0.5) > 100
