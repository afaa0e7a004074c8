"""Every public name of the 0.7 API stays importable, under both package names."""

from __future__ import annotations

import importlib
import io
import sys

import pytest

import mod_pywebsocket
from test.layout import SPEC_MODULES

PUBLIC_NAMES = {
    "handshake": ["do_handshake", "AbortedByUserException", "HandshakeException", "VersionException"],
    "handshake._base": ["AbortedByUserException", "HandshakeException", "VersionException"],
    "handshake.hybi": ["Handshaker", "compute_accept", "compute_accept_from_unicode"],
    "stream": [
        "Stream",
        "StreamOptions",
        "Frame",
        "FragmentedFrameBuilder",
        "StreamHixie75",
        "create_header",
        "create_text_frame",
        "create_binary_frame",
        "create_close_frame",
        "create_ping_frame",
        "create_pong_frame",
        "create_closing_handshake_body",
        "ConnectionTerminatedException",
        "InvalidFrameException",
        "BadOperationException",
        "UnsupportedFrameException",
        "InvalidUTF8Exception",
    ],
    "msgutil": [
        "send_message",
        "receive_message",
        "close_connection",
        "send_ping",
        "MessageReceiver",
        "MessageSender",
        "ConnectionTerminatedException",
        "InvalidFrameException",
        "BadOperationException",
        "UnsupportedFrameException",
        "InvalidUTF8Exception",
    ],
    "util": [
        "RepeatedXorMasker",
        "NoopMasker",
        "hexify",
        "pack_byte",
        "get_stack_trace",
        "get_class_logger",
        "prepend_message_to_exception",
    ],
    "common": ["ExtensionParameter", "parse_extensions", "format_extensions", "ExtensionParsingException"],
    "dispatch": ["Dispatcher", "DispatchException"],
    "extensions": ["ExtensionProcessorInterface", "get_extension_processor"],
    "memorizingfile": ["MemorizingFile"],
}


@pytest.mark.parametrize("module", SPEC_MODULES)
def test_module_imports_without_mod_python(module, monkeypatch):
    monkeypatch.setitem(sys.modules, "mod_python", None)
    importlib.import_module("mod_pywebsocket." + module)


@pytest.mark.parametrize(("module", "names"), sorted(PUBLIC_NAMES.items()))
def test_public_names_are_importable(module, names):
    loaded = importlib.import_module("mod_pywebsocket." + module)
    missing = [name for name in names if not hasattr(loaded, name)]
    assert missing == []


@pytest.mark.parametrize("module", SPEC_MODULES)
def test_pywebsocket3_submodules_are_the_same_objects(module):
    assert importlib.import_module("pywebsocket3." + module) is importlib.import_module("mod_pywebsocket." + module)


def test_pywebsocket3_attribute_access_matches():
    import pywebsocket3.msgutil

    from pywebsocket3 import handshake as alias_handshake

    assert pywebsocket3.msgutil.send_message is mod_pywebsocket.msgutil.send_message
    assert alias_handshake.AbortedByUserException is mod_pywebsocket.handshake.AbortedByUserException


def test_exception_hierarchy_keeps_0_7_bases():
    from mod_pywebsocket import common, stream

    assert issubclass(stream.InvalidFrameException, stream.ConnectionTerminatedException)
    for exception in (
        stream.ConnectionTerminatedException,
        stream.BadOperationException,
        stream.UnsupportedFrameException,
        stream.InvalidUTF8Exception,
    ):
        assert issubclass(exception, common.WebSocketException)


def test_memorizing_file_remembers_lines_up_to_the_limit():
    from mod_pywebsocket.memorizingfile import MemorizingFile

    wrapped = MemorizingFile(io.BytesIO(b"a\r\nb\r\nc\r\nrest"), max_memorized_lines=2)
    assert [wrapped.readline(), wrapped.readline(), wrapped.readline()] == [b"a\r\n", b"b\r\n", b"c\r\n"]
    assert wrapped.get_memorized_lines() == [b"a\r\n", b"b\r\n"]
    assert wrapped.read() == b"rest"
