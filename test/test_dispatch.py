"""Tests for handler loading and the exception -> close code mapping (dispatch.py)."""

from __future__ import annotations

import logging
import os
import re
import sys

import pytest

from mod_pywebsocket import dispatch, handshake
from mod_pywebsocket._stream_hybi import Stream, StreamOptions
from test import mock
from test.servers import HANDLERS


@pytest.fixture(scope="module")
def dispatcher():
    return dispatch.Dispatcher(HANDLERS)


def stream_request(resource: str, data: bytes = b"", passive_closing_handshake=None):
    request = mock.FakeRequest(uri=resource, connection=mock.FakeConnection(data))
    request.ws_resource = resource
    request.ws_stream = Stream(request, StreamOptions(), passive_closing_handshake)
    return request


def test_loads_every_wsh_file_and_maps_resources(dispatcher):
    for resource in ["/blank", "/raise", "/passive", "/counter", "/sub/Mixed_Case"]:
        assert dispatcher.get_handler_suite(resource) is not None, resource
    assert dispatcher.get_handler_suite("/not_a_handler") is None
    assert dispatcher.get_handler_suite("/missing") is None


def test_get_handler_suite_ignores_the_query(dispatcher):
    assert dispatcher.get_handler_suite("/blank?a=b") is dispatcher.get_handler_suite("/blank")


def test_get_handler_suite_rejects_fragment_with_400(dispatcher):
    with pytest.raises(dispatch.DispatchException) as info:
        dispatcher.get_handler_suite("/blank#frag")
    assert info.value.status == 400


def test_broken_handler_files_are_skipped_and_reported(dispatcher):
    warnings = "\n".join(dispatcher.source_warnings())
    assert "no_transfer_wsh.py has no function web_socket_transfer_data" in warnings
    assert "syntax_error_wsh.py" in warnings
    assert "raise_on_load_wsh.py raised while loading: RuntimeError('broken on purpose')" in warnings
    assert len(dispatcher.source_warnings()) == 3
    for resource in ["/no_transfer", "/syntax_error", "/raise_on_load"]:
        assert dispatcher.get_handler_suite(resource) is None


def test_scan_dir_limits_loading_but_names_stay_relative_to_root():
    scoped = dispatch.Dispatcher(HANDLERS, os.path.join(HANDLERS, "sub"))
    assert scoped.get_handler_suite("/sub/Mixed_Case") is not None
    assert scoped.get_handler_suite("/blank") is None


def test_scan_dir_outside_root_is_rejected(tmp_path):
    with pytest.raises(dispatch.DispatchException, match="must be under the handler root"):
        dispatch.Dispatcher(HANDLERS, str(tmp_path))


def test_symlinked_handler_outside_root_loads_only_when_allowed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil_wsh.py").write_text(
        "def web_socket_do_extra_handshake(r): pass\ndef web_socket_transfer_data(r): pass\n"
    )
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside / "evil_wsh.py", root / "evil_wsh.py")
    refused = dispatch.Dispatcher(str(root), allow_handlers_outside_root_dir=False)
    assert refused.get_handler_suite("/evil") is None
    assert "outside the handler root" in refused.source_warnings()[0]
    allowed = dispatch.Dispatcher(str(root), allow_handlers_outside_root_dir=True)
    assert allowed.get_handler_suite("/evil") is not None


def test_alias_serves_the_existing_handler(dispatcher):
    dispatcher.add_resource_path_alias("/alias_of_blank", "/blank")
    assert dispatcher.get_handler_suite("/alias_of_blank") is dispatcher.get_handler_suite("/blank")
    with pytest.raises(dispatch.DispatchException, match="no handler for /nothing"):
        dispatcher.add_resource_path_alias("/x", "/nothing")


def test_handler_modules_are_loaded_once_and_share_state(dispatcher):
    first = stream_request("/counter")
    second = stream_request("/counter")
    dispatcher.do_extra_handshake(first)
    dispatcher.do_extra_handshake(second)
    dispatcher.transfer_data(second)
    assert second.connection.written[0] == b"\x81\x012"


def test_extra_handshake_failure_becomes_403(dispatcher):
    request = stream_request("/raise?in_extra")
    with pytest.raises(handshake.HandshakeException, match="rejected the handshake") as info:
        dispatcher.do_extra_handshake(request)
    assert info.value.status == 403


def test_unknown_resource_in_extra_handshake_is_404(dispatcher):
    with pytest.raises(dispatch.DispatchException) as info:
        dispatcher.do_extra_handshake(stream_request("/missing"))
    assert info.value.status == 404


def test_normal_return_closes_with_1000(dispatcher):
    request = stream_request("/sub/Mixed_Case")
    dispatcher.transfer_data(request)
    assert request.connection.written == [b"\x81\x03sub", b"\x88\x02\x03\xe8"]


@pytest.mark.parametrize(
    ("kind", "close_frame"),
    [
        ("invalid_frame", b"\x88\x02\x03\xea"),
        ("unsupported", b"\x88\x02\x03\xeb"),
        ("invalid_utf8", b"\x88\x02\x03\xef"),
        ("too_big", b"\x88\x02\x03\xf1"),
        ("bad_operation", b"\x88\x02\x03\xf3"),
    ],
)
def test_stream_exceptions_close_with_their_code(dispatcher, kind, close_frame):
    request = stream_request("/raise?" + kind)
    dispatcher.transfer_data(request)
    assert request.connection.written == [close_frame]


@pytest.mark.parametrize("kind", ["terminated", "aborted", "value_error"])
def test_other_failures_drop_the_connection_without_close_frame(dispatcher, kind):
    request = stream_request("/raise?" + kind)
    dispatcher.transfer_data(request)
    assert request.connection.written == []


def test_handler_exception_is_logged_with_traceback(dispatcher, caplog):
    with caplog.at_level(logging.ERROR, logger="mod_pywebsocket.dispatch"):
        dispatcher.transfer_data(stream_request("/raise?value_error"))
    (record,) = caplog.records
    assert record.getMessage() == "handler for /raise?value_error raised"
    assert record.exc_info[0] is ValueError


def test_passive_closing_handshake_answers_client_close(dispatcher):
    close_1001 = b"\x88\x82\x00\x00\x00\x00\x03\xe9"
    request = stream_request("/passive", close_1001, dispatcher.passive_closing_handshake)
    dispatcher.transfer_data(request)
    assert request.connection.written == [b"\x88\x0e\x0f\xa0passive:1001"]


def test_default_passive_closing_handshake_is_1000(dispatcher):
    request = stream_request("/blank")
    assert dispatcher.passive_closing_handshake(request) == (1000, "")


def test_normalize_path_makes_absolute_real_slash_separated_paths(tmp_path):
    real = os.path.realpath(tmp_path)
    assert dispatch._normalize_path(str(tmp_path / "a" / "c" / ".." / "b")) == real.replace("\\", "/") + "/a/b"
    assert dispatch._normalize_path(str(tmp_path).replace("/", "\\") + "\\a\\b") == real.replace("\\", "/") + "/a/b"
    os.symlink(tmp_path / "target", tmp_path / "link")
    assert dispatch._normalize_path(str(tmp_path / "link" / "h_wsh.py")) == real + "/target/h_wsh.py"


def test_path_to_resource_converter_maps_handler_files_under_the_base(tmp_path):
    base = os.path.realpath(tmp_path)
    spellings = [
        str(tmp_path),
        str(tmp_path) + "///",
        str(tmp_path / "x" / ".." / "."),
        str(tmp_path).replace("/", "\\"),
    ]
    for spelling in spellings:
        converter = dispatch._create_path_to_resource_converter(spelling)
        assert converter(base + "/h_wsh.py") == "/h"
        assert converter(base + "/c/h_wsh.py") == "/c/h"
        assert converter(base.replace("/", "\\") + "\\c\\h_wsh.py") == "/c/h"
        assert converter(base + "/h.py") is None
        assert converter(base + "c/h_wsh.py") is None  # a sibling directory whose name starts like the base
        assert converter("a/b/h_wsh.py") is None  # not absolute


def test_enumerate_handler_file_paths_lists_wsh_files_sorted_and_skips_directory_loops(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b_wsh.py", "a_WSH.py", "plain.py", "sub/c_wsh.py"):
        (tmp_path / name).write_text("")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    warnings = []
    paths = list(dispatch._enumerate_handler_file_paths(str(tmp_path), warnings.append))
    assert paths == [str(tmp_path / "a_WSH.py"), str(tmp_path / "b_wsh.py"), str(tmp_path / "sub" / "c_wsh.py")]
    assert warnings == [f"{tmp_path / 'sub' / 'loop'} leads to a directory already scanned; skipped"]


HANDLER_SOURCE = "def web_socket_do_extra_handshake(request): pass\ndef web_socket_transfer_data(request): pass\n"


def test_source_handler_file_returns_the_handler_functions():
    suite = dispatch._source_handler_file(HANDLER_SOURCE)
    assert (suite.do_extra_handshake.__name__, suite.transfer_data.__name__) == (
        "web_socket_do_extra_handshake",
        "web_socket_transfer_data",
    )
    assert suite.passive_closing_handshake is None
    assert suite.source_path == "<handler>"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "<handler> has no function web_socket_do_extra_handshake"),
        ("def", "cannot load <handler>: invalid syntax"),
        ("1/0", "<handler> raised while loading: ZeroDivisionError('division by zero')"),
        ("web_socket_do_extra_handshake = 1\ndef web_socket_transfer_data(r): pass", "has no function web_socket_do"),
    ],
)
def test_source_handler_file_rejects_broken_definitions(source, message):
    with pytest.raises(dispatch.DispatchException, match=re.escape(message)):
        dispatch._source_handler_file(source)


def test_source_handler_file_registers_the_module_only_when_it_loads(monkeypatch):
    monkeypatch.delitem(sys.modules, "_census_probe_handler", raising=False)
    suite = dispatch._source_handler_file(HANDLER_SOURCE, "/h/probe_wsh.py", "_census_probe_handler")
    assert sys.modules["_census_probe_handler"].web_socket_transfer_data is suite.transfer_data
    assert sys.modules["_census_probe_handler"].__file__ == "/h/probe_wsh.py"
    monkeypatch.delitem(sys.modules, "_census_probe_handler")
    with pytest.raises(dispatch.DispatchException):
        dispatch._source_handler_file("1/0", "/h/broken_wsh.py", "_census_probe_handler")
    assert "_census_probe_handler" not in sys.modules


def test_handler_handshake_exception_without_status_becomes_403(dispatcher):
    with pytest.raises(handshake.HandshakeException, match=r"^refused$") as info:
        dispatcher.do_extra_handshake(stream_request("/raise?refuse_without_status"))
    assert info.value.status == 403


@pytest.mark.parametrize("code", [999, 1006, 1015, 5000])
def test_passive_reply_with_a_code_that_must_not_be_sent_closes_with_1011(dispatcher, code):
    close_1000 = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
    request = stream_request("/passive", close_1000, lambda request: (code, ""))
    dispatcher.transfer_data(request)
    assert request.connection.written == [b"\x88\x02\x03\xf3"]


def test_passive_reply_echoing_1005_sends_an_empty_close(dispatcher):
    empty_close = b"\x88\x80\x00\x00\x00\x00"
    request = stream_request("/passive", empty_close, lambda request: (request.ws_close_code, request.ws_close_reason))
    dispatcher.transfer_data(request)
    assert request.ws_close_code == 1005
    assert request.connection.written == [b"\x88\x00"]


def test_passive_reply_reason_without_code_is_dropped_with_a_warning(dispatcher, caplog):
    close_1000 = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
    request = stream_request("/passive", close_1000, lambda request: (None, "why"))
    with caplog.at_level(logging.WARNING):
        dispatcher.transfer_data(request)
    assert request.connection.written == [b"\x88\x00"]
    assert "close reason 'why' given without a close code" in caplog.text


def test_handler_exception_naming_an_unsendable_close_code_closes_with_1011(dispatcher):
    request = stream_request("/raise?pseudo_code")
    dispatcher.transfer_data(request)
    assert request.connection.written == [b"\x88\x02\x03\xf3"]


# What is served, and why a resource is not (issue 16: "Why 404?").

ECHO_HANDLER = """
def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.send_message({reply!r})
"""


def write_handler(path, reply: str = "first") -> None:
    """Write an echo-like handler file that sends ``reply``; bump its mtime so a rewrite is always seen."""
    path.write_text(ECHO_HANDLER.format(reply=reply))
    stamp = path.stat().st_mtime_ns + (10**9 if reply != "first" else 0)
    os.utime(path, ns=(stamp, stamp))


def sent_reply(suite) -> str:
    """Run the suite's ``web_socket_transfer_data`` and return the text message it sent."""
    request = stream_request("/x")
    suite.transfer_data(request)
    return request.connection.written[0][2:].decode()


def test_resources_lists_every_loaded_resource_with_its_file_sorted(dispatcher):
    resources = dispatcher.resources()
    assert list(resources) == sorted(resources)
    assert resources["/blank"] == os.path.join(HANDLERS, "blank_wsh.py")
    assert resources["/sub/Mixed_Case"] == os.path.join(HANDLERS, "sub", "Mixed_Case_WSH.py")
    assert "/syntax_error" not in resources and "/not_a_handler" not in resources


def test_explain_missing_names_the_handler_file_that_did_not_load_and_its_error(dispatcher):
    path = os.path.join(HANDLERS, "raise_on_load_wsh.py")
    assert dispatcher.explain_missing("/raise_on_load?x=1") == (
        f"its handler file did not load: {path} raised while loading: RuntimeError('broken on purpose')"
    )


def test_explain_missing_unknown_resource_lists_the_served_ones(tmp_path):
    for name in ("b", "a"):
        write_handler(tmp_path / f"{name}_wsh.py")
    assert dispatch.Dispatcher(str(tmp_path)).explain_missing("/nope") == (
        f"no *_wsh.py file under {tmp_path} serves it (2 served: /a, /b)"
    )


def test_explain_missing_shortens_a_long_list_and_says_when_nothing_is_served(tmp_path):
    for number in range(12):
        write_handler(tmp_path / f"r{number:02}_wsh.py")
    names = ", ".join(f"/r{number:02}" for number in range(10))
    assert dispatch.Dispatcher(str(tmp_path)).explain_missing("/nope") == (
        f"no *_wsh.py file under {tmp_path} serves it (12 served: {names}, ...)"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dispatch.Dispatcher(str(empty)).explain_missing("/x") == (
        f"no *_wsh.py file under {empty} serves it (none is served at all)"
    )


def test_handler_file_that_fails_is_warned_about_once(tmp_path, caplog):
    (tmp_path / "broken_wsh.py").write_text("def x(:\n")
    caplog.set_level(logging.WARNING, logger="mod_pywebsocket")
    dispatch.Dispatcher(str(tmp_path))
    assert [record.getMessage() for record in caplog.records] == [
        f"cannot load {tmp_path}/broken_wsh.py: invalid syntax (broken_wsh.py, line 1)"
    ]


def test_without_reload_a_handler_file_added_later_is_not_served_and_the_404_says_why(tmp_path):
    loaded = dispatch.Dispatcher(str(tmp_path))
    write_handler(tmp_path / "late_wsh.py")
    assert loaded.get_handler_suite("/late") is None
    assert loaded.explain_missing("/late") == (
        f"{tmp_path}/late_wsh.py was added after the start (restart the server, or run it with --reload)"
    )


def test_reload_loads_a_handler_file_added_after_start(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket.dispatch")
    reloading = dispatch.Dispatcher(str(tmp_path), reload=True)
    (tmp_path / "sub").mkdir()
    write_handler(tmp_path / "sub" / "Late_WSH.py")
    suite = reloading.get_handler_suite("/sub/Late?q=1")
    assert sent_reply(suite) == "first"
    assert caplog.messages == [f"loaded {tmp_path}/sub/Late_WSH.py for /sub/Late"]
    assert reloading.get_handler_suite("/sub/late") is None


def test_reload_loads_a_changed_handler_file_again(tmp_path, caplog):
    write_handler(tmp_path / "echo_wsh.py")
    reloading = dispatch.Dispatcher(str(tmp_path), reload=True)
    first = reloading.get_handler_suite("/echo")
    assert reloading.get_handler_suite("/echo") is first
    caplog.set_level(logging.INFO, logger="mod_pywebsocket.dispatch")
    write_handler(tmp_path / "echo_wsh.py", "second")
    assert sent_reply(reloading.get_handler_suite("/echo")) == "second"
    assert sent_reply(first) == "first"
    assert caplog.messages == [f"reloaded {tmp_path}/echo_wsh.py for /echo"]


def test_reload_stops_serving_a_deleted_handler_file(tmp_path, caplog):
    write_handler(tmp_path / "gone_wsh.py")
    reloading = dispatch.Dispatcher(str(tmp_path), reload=True)
    caplog.set_level(logging.INFO, logger="mod_pywebsocket.dispatch")
    (tmp_path / "gone_wsh.py").unlink()
    assert reloading.get_handler_suite("/gone") is None
    assert caplog.messages == [f"{tmp_path}/gone_wsh.py is gone: /gone is no longer served"]
    assert "/gone" not in reloading.resources()


def test_reload_retries_a_broken_file_only_once_it_changed(tmp_path, caplog):
    (tmp_path / "fix_wsh.py").write_text("def x(:\n")
    reloading = dispatch.Dispatcher(str(tmp_path), reload=True)
    caplog.clear()
    caplog.set_level(logging.INFO, logger="mod_pywebsocket.dispatch")
    assert reloading.get_handler_suite("/fix") is None
    assert caplog.messages == []
    assert reloading.explain_missing("/fix").startswith(f"its handler file did not load: cannot load {tmp_path}")
    write_handler(tmp_path / "fix_wsh.py", "fixed")
    assert sent_reply(reloading.get_handler_suite("/fix")) == "fixed"
    assert caplog.messages == [f"reloaded {tmp_path}/fix_wsh.py for /fix"]


def test_reload_of_a_file_that_breaks_stops_serving_it_and_says_why(tmp_path):
    write_handler(tmp_path / "echo_wsh.py")
    reloading = dispatch.Dispatcher(str(tmp_path), reload=True)
    (tmp_path / "echo_wsh.py").write_text("raise ValueError('typo')\n")
    os.utime(tmp_path / "echo_wsh.py", ns=(1, 1))
    assert reloading.get_handler_suite("/echo") is None
    assert reloading.explain_missing("/echo") == (
        f"its handler file did not load: {tmp_path}/echo_wsh.py raised while loading: ValueError('typo')"
    )


def test_reload_alias_serves_the_reloaded_handler(tmp_path):
    write_handler(tmp_path / "echo_wsh.py")
    reloading = dispatch.Dispatcher(str(tmp_path), reload=True)
    reloading.add_resource_path_alias("/alias", "/echo")
    write_handler(tmp_path / "echo_wsh.py", "second")
    assert sent_reply(reloading.get_handler_suite("/alias")) == "second"


@pytest.mark.parametrize("resource", ["/../outside", "/sub/../outside", "//outside", "/./outside", "outside", "/"])
def test_reload_never_loads_a_file_outside_the_scan_directory(tmp_path, resource):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    write_handler(tmp_path / "outside_wsh.py")
    write_handler(root / "outside_wsh.py")
    scoped = dispatch.Dispatcher(str(root), str(root / "sub"), reload=True)
    assert scoped.get_handler_suite(resource) is None


def test_reload_refuses_a_new_symlink_out_of_the_root_unless_allowed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    write_handler(tmp_path / "evil_wsh.py")
    refusing = dispatch.Dispatcher(str(root), allow_handlers_outside_root_dir=False, reload=True)
    os.symlink(tmp_path / "evil_wsh.py", root / "evil_wsh.py")
    assert refusing.get_handler_suite("/evil") is None
    assert refusing.explain_missing("/evil") == (
        f"its handler file did not load: {root}/evil_wsh.py is outside the handler root {root}; not loaded"
    )
