"""Tests for util.py: masking, hex dumps, loggers."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from mod_pywebsocket import util


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


# util.mask uses the accelerator when websockets is installed (it is, for the
# tests); _mask_pure is what runs everywhere else. Both must agree.
MASKS = [pytest.param(util.mask, id="mask"), pytest.param(util._mask_pure, id="pure")]


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
def test_rfc_example_unmasks_to_hello(mask):
    assert mask(b"\x7f\x9f\x4d\x51\x58", b"\x37\xfa\x21\x3d") == b"Hello"


def _mask_implementation(env_value):
    env = {key: value for key, value in os.environ.items() if key != util.NO_ACCELERATOR_ENV}
    if env_value is not None:
        env[util.NO_ACCELERATOR_ENV] = env_value
    code = "from mod_pywebsocket import util; print(util.MASK_IMPLEMENTATION)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip(), result.stderr


def test_mask_uses_the_websockets_accelerator_when_installed_without_importing_the_package():
    pytest.importorskip("websockets.speedups")
    assert _mask_implementation(None) == ("websockets.speedups", "")
    code = "import sys; from mod_pywebsocket import util; print('websockets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_mask_stays_pure_python_when_the_environment_says_so():
    assert _mask_implementation("1") == ("pure-python", "")


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
