"""Tests for util.py and the private modules behind it: masking, hex dumps, loggers, DEFLATE."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import time
import zlib

import pytest

from mod_pywebsocket import _deflate, _deflate_stream, _diagnostics, _masking, util

# Each util name and the private module that defines it.
HOMES = {
    _masking: ["mask", "RepeatedXorMasker", "NoopMasker", "MASK_IMPLEMENTATION", "NO_ACCELERATOR_ENV"],
    _diagnostics: ["hexify", "shorten", "get_stack_trace", "prepend_message_to_exception", "get_class_logger"],
    _deflate: ["DeflateSizeError", "BUDGET_STEP", "_Deflater", "_Inflater", "_RFC1979Deflater", "_RFC1979Inflater"],
    _deflate_stream: ["DeflateConnection", "DeflateRequest", "DeflateSocket"],
}
DEFINED_IN_UTIL = ["pack_byte", "md5_hash", "sha1_hash", "get_script_interp", "drain_received_data"]


@pytest.mark.parametrize(("home", "name"), [(home, name) for home, names in HOMES.items() for name in names])
def test_util_reexports_the_object_its_home_module_defines(home, name):
    assert getattr(util, name) is getattr(home, name)


def test_util_all_lists_exactly_the_public_names_it_had_before_the_split():
    moved = {name for names in HOMES.values() for name in names if not name.startswith("_")}
    old_all = moved - {"MASK_IMPLEMENTATION", "NO_ACCELERATOR_ENV", "BUDGET_STEP"} | set(DEFINED_IN_UTIL)
    assert sorted(util.__all__) == sorted(old_all)


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


# util.mask runs the C accelerator when it is built (tools/test.sh builds it;
# test_speedups.py compares the two on random data); _mask_pure is what runs
# everywhere else. Both must agree.
MASKS = [pytest.param(util.mask, id="mask"), pytest.param(_masking._mask_pure, id="pure")]


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 4095, 4096, 4097, 8192, 65537, 1 << 20])
def test_mask_matches_reference_xor(mask, length):
    data = os.urandom(length)
    key = os.urandom(4)
    assert mask(data, key) == reference_mask(data, key)


@pytest.mark.parametrize("mask", MASKS)
def test_mask_is_its_own_inverse_and_accepts_memoryview_and_bytearray(mask):
    data = os.urandom(10000)
    key = b"\x01\x02\x03\x04"
    assert mask(memoryview(mask(data, key)), key) == data
    assert mask(bytearray(mask(data, key)), key) == data
    assert mask(memoryview(data)[3:9], key) == reference_mask(data[3:9], key)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_mask_rejects_a_key_that_is_not_4_bytes(mask, key):
    with pytest.raises(ValueError, match=rf"^masking key must be 4 bytes, not {len(key)}$"):
        mask(b"data", key)


@pytest.mark.parametrize("mask", MASKS)
def test_rfc_example_unmasks_to_hello(mask):
    assert mask(b"\x7f\x9f\x4d\x51\x58", b"\x37\xfa\x21\x3d") == b"Hello"


def _mask_implementation(env_value, *, block_speedups=False):
    """Import util in a fresh interpreter; return its MASK_IMPLEMENTATION, the masking log line and stderr."""
    env = {key: value for key, value in os.environ.items() if key != util.NO_ACCELERATOR_ENV}
    if env_value is not None:
        env[util.NO_ACCELERATOR_ENV] = env_value
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(name)s %(message)s')\n"
        + ("sys.modules['mod_pywebsocket._speedups'] = None\n" if block_speedups else "")
        + "from mod_pywebsocket import _masking, util\n"
        "print(util.MASK_IMPLEMENTATION)\n"
        "_masking.log_implementation()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.splitlines(), result.stderr


def test_mask_runs_the_c_accelerator_when_it_is_built_and_logs_so():
    pytest.importorskip("mod_pywebsocket._speedups", reason="the C accelerator is not built (make speedups)")
    assert _mask_implementation(None) == (
        [
            "mod_pywebsocket._speedups",
            "mod_pywebsocket._masking frame masking: mod_pywebsocket._speedups (C extension)",
        ],
        "",
    )


def test_mask_stays_pure_python_when_the_environment_says_so():
    assert _mask_implementation("1") == (
        ["pure-python", f"mod_pywebsocket._masking frame masking: pure-python ({util.NO_ACCELERATOR_ENV} is set)"],
        "",
    )


def test_mask_falls_back_to_pure_python_when_the_c_accelerator_is_not_importable():
    lines, stderr = _mask_implementation(None, block_speedups=True)
    assert lines == [
        "pure-python",
        "mod_pywebsocket._masking frame masking: pure-python (mod_pywebsocket._speedups is not importable: "
        "import of mod_pywebsocket._speedups halted; None in sys.modules)",
    ]
    assert stderr == ""


def test_importing_the_masking_never_imports_websockets():
    code = "import sys; from mod_pywebsocket import util; print('websockets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_repeated_xor_masker_keeps_key_position_across_calls():
    data = os.urandom(1001)
    key = os.urandom(4)
    masker = util.RepeatedXorMasker(key)
    pieces = [data[:1], data[1:6], data[6:7], data[7:500], data[500:]]
    assert b"".join(masker.mask(piece) for piece in pieces) == reference_mask(data, key)


def test_repeated_xor_masker_rejects_wrong_key_length():
    with pytest.raises(ValueError, match="masking key must be 4 bytes, not 3"):
        util.RepeatedXorMasker(b"abc")


def test_noop_masker_returns_input():
    assert util.NoopMasker().mask(bytearray(b"abc")) == b"abc"


def test_hexify_and_pack_byte():
    assert util.hexify(b"\x88\x80") == "88 80"
    assert util.hexify(b"") == ""
    assert util.pack_byte(0x81) == b"\x81"


def test_shorten_keeps_short_values_and_cuts_long_ones():
    assert util.shorten(b"abc") == "b'abc'"
    long = util.shorten("x" * 1000)
    assert len(long) < 100 and long.endswith("(1000 chars)")


def test_get_class_logger_is_named_after_module_and_class():
    class Probe:
        pass

    assert util.get_class_logger(Probe()).name == f"{__name__}.Probe"
    assert isinstance(util.get_class_logger(Probe), logging.Logger)


def test_get_stack_trace_and_prepend_message():
    try:
        raise ValueError("inner")
    except ValueError as exc:
        assert "ValueError: inner" in util.get_stack_trace()
        util.prepend_message_to_exception("outer: ", exc)
        assert exc.args == ("outer: inner",)


def test_hash_aliases_are_the_hashlib_constructors():
    assert util.sha1_hash(b"abc").hexdigest() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert util.md5_hash(b"abc").hexdigest() == "900150983cd24fb0d6963f7d28e17f72"


@pytest.mark.parametrize(
    ("first_line", "cygwin_path", "expected"),
    [
        ("#!/usr/bin/perl -wT\n", None, "/usr/bin/perl -wT"),
        ("#!/usr/bin/perl -wT\r\n", None, "/usr/bin/perl -wT"),
        ("#!/usr/bin/perl -wT\n", "/cygwin/bin", os.path.join("/cygwin/bin", "perl") + " -wT"),
        ("#!/bin/sh\n", "/cygwin/bin", os.path.join("/cygwin/bin", "sh")),
        ("#!python3\n", "/cygwin/bin", "python3"),
        ("print('no interpreter line')\n", None, None),
        ("", None, None),
    ],
)
def test_get_script_interp_reads_the_interpreter_line(tmp_path, first_line, cygwin_path, expected):
    script = tmp_path / "script"
    script.write_text(first_line + "body\n", newline="")
    assert util.get_script_interp(str(script), cygwin_path) == expected


def _raw_deflate(data):
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def test_rfc1979_deflater_flush_false_holds_data_back_until_a_flush():
    deflater = util._RFC1979Deflater(None, False)
    assert deflater.filter(b"abc", flush=False) == b""
    assert deflater.filter(b"", flush=True) == util._RFC1979Deflater(None, False).filter(b"abc")
    assert util._RFC1979Deflater(None, False).filter(b"abc") == _raw_deflate(b"abc")[:-4]


def test_deflate_socket_sends_sync_flushed_deflate_and_inflates_what_it_receives():
    left, right = socket.socketpair()
    with left, right:
        left.settimeout(5)
        right.settimeout(5)
        sender = util.DeflateSocket(left)
        assert sender.send(b"Hello, world") == 12
        assert right.recv(100) == _raw_deflate(b"Hello, world")
        right.sendall(_raw_deflate(b"x" * 5000))
        receiver = util.DeflateSocket(left)
        received = b""
        while len(received) < 5000:
            piece = receiver.recv(1024)
            assert 0 < len(piece) <= 1024
            received += piece
        assert received == b"x" * 5000
        right.shutdown(socket.SHUT_WR)
        assert receiver.recv(10) == b""
        with pytest.raises(ValueError, match="recv size must be positive, not 0"):
            receiver.recv(0)


class RecordingConnection:
    remote_addr = ("192.0.2.1", 1234)

    def __init__(self, incoming=b""):
        self._incoming = io.BytesIO(incoming)
        self.written = []

    def read(self, length):
        return self._incoming.read(length)

    def write(self, data):
        self.written.append(data)


def test_deflate_connection_reads_to_eof_writes_deflated_and_exposes_remote_addr():
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
    incoming = [compressor.compress(part) + compressor.flush(zlib.Z_SYNC_FLUSH) for part in (b"abc", b"def")]
    raw = RecordingConnection(b"".join(incoming))
    connection = util.DeflateConnection(raw)
    assert connection.read(2) == b"ab"
    assert connection.read() == b"cdef"
    assert connection.read(-1) == b""
    connection.put_bytes(b"hi")
    connection.write(b"hi")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    assert [inflater.decompress(data) for data in raw.written] == [b"hi", b"hi"]
    assert raw.written[0] == _raw_deflate(b"hi")
    assert connection.get_remote_addr() == connection.remote_addr == ("192.0.2.1", 1234)


def test_deflate_request_wraps_the_connection_and_forwards_everything_else():
    class Request:
        uri = "/echo"

    request = Request()
    request.connection = RecordingConnection()
    wrapped = util.DeflateRequest(request)
    assert isinstance(wrapped.connection, util.DeflateConnection)
    assert wrapped.uri == "/echo"
    wrapped.ws_protocol = "chat"
    assert request.ws_protocol == "chat"
    wrapped.connection.write(b"abc")
    assert request.connection.written == [_raw_deflate(b"abc")]


def test_drain_received_data_returns_buffered_bytes_and_restores_the_timeout():
    left, right = socket.socketpair()
    with left, right:
        left.settimeout(5)
        right.sendall(b"abc")
        right.sendall(b"def")
        deadline = time.monotonic() + 5
        drained = b""
        while drained != b"abcdef" and time.monotonic() < deadline:
            drained += util.drain_received_data(left)
        assert drained == b"abcdef"
        assert left.gettimeout() == 5
        assert util.drain_received_data(left) == b""
        right.close()
        assert util.drain_received_data(left) == b""
