"""The standalone server's two request handler classes, and the Host check that admits a request."""

from __future__ import annotations

import http
import http.client
import http.server
import re

import pytest

from mod_pywebsocket import _standalone_files, _standalone_http, standalone
from mod_pywebsocket.standalone import ServerOptions, WebSocketRequestHandler
from test.conftest import EXAMPLE_DIR, serve_in_thread, stop_server

TIMEOUT = 10.0
UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def test_websocket_handler_is_a_files_handler_on_http_servers():
    assert issubclass(WebSocketRequestHandler, _standalone_files.FileRequestHandler)
    assert issubclass(_standalone_files.FileRequestHandler, http.server.SimpleHTTPRequestHandler)
    assert standalone._SERVER_SOFTWARE == _standalone_files.SERVER_SOFTWARE == "mod_pywebsocket"


@pytest.mark.parametrize("name", ["do_HEAD", "do_POST", "is_cgi", "setup", "log_message", "version_string"])
def test_files_and_cgi_methods_belong_to_the_files_handler(name):
    assert name in vars(_standalone_files.FileRequestHandler)
    assert name not in vars(WebSocketRequestHandler)


@pytest.mark.parametrize("name", ["handle_one_request", "do_GET", "is_websocket_request", "handle_websocket"])
def test_head_reading_admission_and_websocket_methods_belong_to_the_websocket_handler(name):
    assert name in vars(WebSocketRequestHandler)


def test_every_hook_the_class_docstring_lists_is_a_method():
    hooks = set(re.findall(r"``(\w+)\(\)``", WebSocketRequestHandler.__doc__ or ""))
    assert {"handle_one_request", "do_GET", "is_websocket_request", "handle_websocket", "is_cgi"} <= hooks
    assert all(callable(getattr(WebSocketRequestHandler, hook)) for hook in hooks)


def test_hooks_are_not_listed_in_the_module_docstring_any_more():
    assert "Hooks, for those who subclass" not in (standalone.__doc__ or "")


def get_status(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


class NoWebSockets(WebSocketRequestHandler):
    def is_websocket_request(self) -> bool:
        return False


@pytest.mark.parametrize(("handler_class", "status"), [(WebSocketRequestHandler, 101), (NoWebSockets, 404)])
def test_a_subclass_overriding_is_websocket_request_sends_the_request_to_the_files(handler_class, status):
    server = standalone.WebSocketServer(ServerOptions(server_host="127.0.0.1", port=0, document_root=EXAMPLE_DIR))
    server.RequestHandlerClass = handler_class
    serve_in_thread(server)
    try:
        assert get_status(server.server_port, "/echo", UPGRADE) == status
    finally:
        stop_server(server)


# The Host check (RFC 9112 §3.2, and --strict with -V/-P), without a socket.

LAX = ServerOptions()
STRICT = ServerOptions(strict=True, validation_host="example.com", validation_port=8880)
STRICT_TLS_HOST_ONLY = ServerOptions(strict=True, use_tls=True, validation_port=443)
BAD = http.HTTPStatus.BAD_REQUEST
FORBIDDEN = http.HTTPStatus.FORBIDDEN


@pytest.mark.parametrize(
    ("values", "version", "options", "expected"),
    [
        (["example.com"], "HTTP/1.1", LAX, None),
        ([], "HTTP/1.0", LAX, None),
        ([], "HTTP/1.1", LAX, (BAD, "request needs one valid Host header, not []")),
        (["a", "b"], "HTTP/1.1", LAX, (BAD, "request needs one valid Host header, not ['a', 'b']")),
        (["a b"], "HTTP/1.1", LAX, (BAD, "request needs one valid Host header, not ['a b']")),
        (["other.org:1"], "HTTP/1.1", ServerOptions(validation_host="example.com", validation_port=8880), None),
        (["EXAMPLE.com:8880"], "HTTP/1.1", STRICT, None),
        ([], "HTTP/1.0", STRICT, (BAD, "request needs one valid Host header, not []")),
        (["other.org:8880"], "HTTP/1.1", STRICT, (FORBIDDEN, "host 'other.org' is not 'example.com'")),
        (["example.com:80"], "HTTP/1.1", STRICT, (FORBIDDEN, "port 80 is not 8880")),
        (["example.com"], "HTTP/1.1", STRICT, (FORBIDDEN, "port 80 is not 8880")),
        (["anything"], "HTTP/1.1", STRICT_TLS_HOST_ONLY, None),
        (["[::1]:443"], "HTTP/1.1", STRICT_TLS_HOST_ONLY, None),
        (["[::1]:80"], "HTTP/1.1", STRICT_TLS_HOST_ONLY, (FORBIDDEN, "port 80 is not 443")),
    ],
)
def test_check_host(values, version, options, expected):
    assert _standalone_http.check_host(values, version, options) == expected
