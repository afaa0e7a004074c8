"""The optional C accelerator ``mod_pywebsocket._speedups`` against the pure-Python masking it replaces.

Both must give the same bytes for any data, key, length and memory layout.
The tests skip when the extension is not built (``make speedups``;
tools/test.sh builds it when a C compiler is present).
"""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mod_pywebsocket import _masking

speedups = pytest.importorskip(
    "mod_pywebsocket._speedups", reason="the C accelerator is not built (make speedups; needs a C compiler)"
)

pure = _masking._mask_pure

# The C loop XORs 8 bytes at a time and the rest one by one; 64 KiB is where
# it starts to release the GIL; the pure version works in 4 KiB chunks.
BOUNDARY_LENGTHS = [4095, 4096, 4097, 65535, 65536, 65537, (1 << 20) + 3]


def test_c_mask_unmasks_the_rfc_6455_example_to_hello():
    # RFC 6455 §5.7: a single-frame masked text message containing "Hello".
    assert speedups.mask(b"\x7f\x9f\x4d\x51\x58", b"\x37\xfa\x21\x3d") == b"Hello"


@pytest.mark.parametrize("length", [*range(70), *BOUNDARY_LENGTHS])
def test_c_mask_equals_pure_mask_for_every_short_length_and_the_boundaries(length):
    data = os.urandom(length)
    key = os.urandom(4)
    result = speedups.mask(data, key)
    assert type(result) is bytes
    assert result == pure(data, key)


@pytest.mark.parametrize("offset", range(8))
@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 63, 4097, 65537])
def test_c_mask_equals_pure_mask_on_unaligned_memoryviews_and_bytearrays(offset, length):
    buffer = bytearray(os.urandom(offset + length + 5))
    key = os.urandom(4)
    view = memoryview(buffer)[offset : offset + length]
    expected = pure(bytes(view), key)
    assert speedups.mask(view, key) == expected
    assert speedups.mask(bytearray(view), key) == expected


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), key=st.binary(min_size=4, max_size=4), offset=st.integers(0, 15))
def test_c_mask_equals_pure_mask_for_random_data_keys_and_offsets(data, key, offset):
    view = memoryview(b"\xa5" * offset + data)[offset:]
    assert speedups.mask(view, key) == pure(data, key)


def test_c_mask_copies_a_non_contiguous_memoryview_first():
    data = os.urandom(1000)
    key = os.urandom(4)
    strided = memoryview(data)[1::3]
    assert speedups.mask(strided, key) == pure(data[1::3], key)


def test_c_mask_takes_the_key_as_any_4_byte_buffer_and_leaves_its_inputs_alone():
    data = bytearray(b"\x00\x01\x02\x03\x04")
    key = bytearray(b"\x10\x20\x30\x40")
    assert speedups.mask(data, memoryview(key)) == b"\x10\x21\x32\x43\x14"
    assert data == b"\x00\x01\x02\x03\x04"
    assert key == b"\x10\x20\x30\x40"


# A key that is not 4 bytes: test_util.py, for both versions.
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((b"data",), r"^mask\(\) takes exactly 2 arguments \(1 given\)$"),
        ((b"data", b"abcd", b""), r"^mask\(\) takes exactly 2 arguments \(3 given\)$"),
        (("text", b"abcd"), r"a bytes-like object is required, not 'str'"),
        ((b"data", "abcd"), r"a bytes-like object is required, not 'str'"),
        ((None, b"abcd"), r"a bytes-like object is required, not 'NoneType'"),
    ],
)
def test_c_mask_rejects_wrong_arguments_with_type_error(args, message):
    with pytest.raises(TypeError, match=message):
        speedups.mask(*args)


def test_c_mask_gives_each_thread_its_own_result_when_threads_mask_large_payloads_at_once():
    # Above 64 KiB the XOR runs without the GIL, so these calls overlap.
    key = os.urandom(4)
    payloads = [os.urandom((1 << 20) + n) for n in range(4)]
    results: dict[int, bytes] = {}

    def work(index: int) -> None:
        for _ in range(5):
            results[index] = speedups.mask(payloads[index], key)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [results[index] == pure(payloads[index], key) for index in range(len(payloads))] == [True] * 4


def test_masking_module_uses_the_c_mask_when_it_is_built():
    if os.environ.get(_masking.NO_ACCELERATOR_ENV):
        pytest.skip(f"{_masking.NO_ACCELERATOR_ENV} is set for this test run")
    assert _masking.MASK_IMPLEMENTATION == "mod_pywebsocket._speedups"
    assert _masking._mask_in_use is speedups.mask
