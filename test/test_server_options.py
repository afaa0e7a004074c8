"""The standalone server's typed, frozen options (``standalone.ServerOptions``) and how namespaces become one."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os

import pytest

from mod_pywebsocket import _standalone_options, standalone
from mod_pywebsocket.standalone import ServerOptions
from test.conftest import EXAMPLE_DIR, serve_in_thread, stop_server
from test.wire import ws_connect

TIMEOUT = 10.0
FIELDS = {field.name: field for field in dataclasses.fields(ServerOptions)}
# The fields that are no command-line option: pywebsocket3's embedding API.
NOT_OPTIONS = {"is_executable_method", "ssl_context"}


def serve(options: object) -> standalone.WebSocketServer:
    return serve_in_thread(standalone.WebSocketServer(options))  # type: ignore[arg-type]


def test_server_options_is_exported_by_standalone_and_pywebsocket3():
    import pywebsocket3.standalone

    assert standalone.ServerOptions is _standalone_options.ServerOptions
    assert pywebsocket3.standalone.ServerOptions is ServerOptions
    assert "ServerOptions" in standalone.__all__


def test_server_options_built_directly_serve_an_echo():
    server = serve(ServerOptions(server_host="127.0.0.1", port=0, document_root=EXAMPLE_DIR))
    try:
        with ws_connect(f"ws://127.0.0.1:{server.server_port}/echo") as ws:
            ws.send("built by hand")
            assert ws.recv(timeout=TIMEOUT) == "built by hand"
    finally:
        stop_server(server)
    assert server.options.websock_handlers == EXAMPLE_DIR


def test_server_options_with_port_and_handler_root_only_is_a_valid_configuration(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server = standalone.WebSocketServer(ServerOptions(server_host="127.0.0.1", port=0, websock_handlers=EXAMPLE_DIR))
    try:
        assert (server.options.document_root, server.options.websock_handlers) == (str(tmp_path), EXAMPLE_DIR)
        assert "/echo" in server.dispatcher.resources()
    finally:
        server.server_close()


def test_assigning_a_server_option_raises_frozen_instance_error():
    options = ServerOptions(port=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.port = 1  # type: ignore[misc]
    assert options.port == 0


def test_server_reads_a_frozen_copy_and_leaves_the_namespace_it_was_given_alone(tmp_path):
    namespace = argparse.Namespace(server_host="127.0.0.1", port=0, document_root=EXAMPLE_DIR, use_basic_auth=True)
    before = dict(vars(namespace))
    server = standalone.WebSocketServer(namespace)
    try:
        assert vars(namespace) == before
        assert server.websocket_server_options is namespace
        assert isinstance(server.options, ServerOptions)
        assert (server.options.basic_auth, server.options.basic_auth_credential) == (True, "test:test")
        with pytest.raises(dataclasses.FrozenInstanceError):
            server.options.max_connections = 1  # type: ignore[misc]
    finally:
        server.server_close()


def test_namespace_of_parse_options_converts_to_the_equal_server_options(tmp_path):
    (tmp_path / "cgi-bin").mkdir()
    namespace = standalone.parse_options(
        ["-H", "127.0.0.1", "-p", "0", "-d", str(tmp_path), "-x", "/cgi-bin/", "--max-connections", "7", "--strict"]
    )
    assert isinstance(namespace, argparse.Namespace)
    assert _standalone_options.to_server_options(namespace) == ServerOptions(
        server_host="127.0.0.1",
        port=0,
        document_root=str(tmp_path),
        websock_handlers=str(tmp_path),
        cgi_paths=("/cgi-bin",),
        max_connections=7,
        strict=True,
    )


def test_namespace_without_options_converts_to_the_defaults():
    assert _standalone_options.to_server_options(argparse.Namespace()) == ServerOptions()


def test_pywebsocket3_names_on_a_namespace_are_honoured():
    def is_executable(path: str) -> bool:
        return True

    namespace = argparse.Namespace(
        cgi_paths=["/ignored"], cgi_directories=["/scripts/"], is_executable_method=is_executable, use_basic_auth=True
    )
    options = _standalone_options.to_server_options(namespace)
    assert options.cgi_paths == ("/scripts/",)
    assert (options.is_executable_method, options.basic_auth) == (is_executable, True)
    assert _standalone_options.complete_options(options).cgi_paths == ("/scripts",)


def test_complete_options_returns_a_new_object_and_changes_none():
    given = ServerOptions(document_root=".", websock_handlers="handlers", basic_auth=True)
    completed = _standalone_options.complete_options(given)
    root = os.path.abspath(".")
    assert completed == dataclasses.replace(
        given, document_root=root, websock_handlers=os.path.join(root, "handlers"), basic_auth_credential="test:test"
    )
    assert (given.document_root, given.websock_handlers, given.basic_auth_credential) == (".", "handlers", None)
    assert _standalone_options.complete_options(completed) == completed


@pytest.mark.parametrize(
    ("credential", "completed"),
    [
        ("Basic " + base64.b64encode(b"alice:s3cret").decode(), "alice:s3cret"),
        ("Basic " + base64.b64encode(b"no colon").decode(), "Basic " + base64.b64encode(b"no colon").decode()),
        ("Basic !!!", "Basic !!!"),
        ("bob:pw", "bob:pw"),
    ],
)
def test_complete_options_decodes_pywebsocket3s_basic_credential(credential, completed):
    options = ServerOptions(basic_auth=True, basic_auth_credential=credential)
    assert _standalone_options.complete_options(options).basic_auth_credential == completed


def test_every_option_has_a_field_and_every_field_but_the_embedding_ones_an_option():
    dests = {action.dest for action in standalone.build_parser().long_options.values()} - {"config"}
    assert dests == set(FIELDS) - NOT_OPTIONS


def test_command_line_defaults_are_the_server_options_defaults():
    for action in standalone.build_parser().long_options.values():
        if action.dest == "config":
            continue
        default = FIELDS[action.dest].default
        assert action.default == (list(default) if isinstance(default, tuple) else default), action.dest


def help_of(option: str) -> str:
    """Return the ``--help`` text of ``option`` (the lines from its name to the next option), on one line."""
    lines = standalone.build_parser().format_help().splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.lstrip().startswith("-") and option in line.replace(",", " ").split()
    )
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("-")), len(lines))
    return " ".join(" ".join(lines[start:end]).split())


def test_help_shows_the_server_options_defaults():
    for action in standalone.build_parser().long_options.values():
        if action.help and "%(default)s" in action.help:
            option = max(action.option_strings, key=len)
            assert f"default: {FIELDS[action.dest].default}" in help_of(option), option


def test_help_of_the_port_says_its_default():
    assert "(default: 80; 0 picks a free one)" in help_of("--port")


def test_parse_options_without_arguments_gives_the_defaults_but_the_resolved_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = _standalone_options.to_server_options(standalone.parse_options([]))
    assert options == ServerOptions(document_root=str(tmp_path), websock_handlers=str(tmp_path))
