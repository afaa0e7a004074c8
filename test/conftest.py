"""Shared fixtures: a standalone server in a thread of the test process, a site, a PKI; the markers."""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mod_pywebsocket import headerparserhandler, standalone
from test import fake_mod_python, httpd
from test.pki import Pki
from test.servers import make_site

REPO_ROOT = str(httpd.REPO_ROOT)
EXAMPLE_DIR = os.path.join(REPO_ROOT, "example")
# The resources of example/, sorted: one per *_wsh.py file.
EXAMPLE_RESOURCES = [
    "/abort",
    "/abort_handshake",
    "/bench",
    "/close",
    "/cookie",
    "/echo",
    "/echo_noext",
    "/internal_error",
    "/origin_check",
]

# The test files of ``pytest -m fast`` (README, "Tests"): the codecs, the
# handshakes, the dispatcher, the API, and the servers run in this process;
# about 15 s on 2 CPUs. Everything else (Apache, browsers, Autobahn, fuzzing,
# soak, packaging, the long server tests) runs only in the full suite.
FAST_MODULES = frozenset(
    {
        "test_api.py",
        "test_common.py",
        "test_connection.py",
        "test_dispatch.py",
        "test_echo_client.py",
        "test_endtoend.py",
        "test_examples.py",
        "test_extensions.py",
        "test_handshake_base.py",
        "test_handshake_draft75.py",
        "test_handshake_hybi.py",
        "test_handshake_http2.py",
        "test_handshake_hybi00.py",
        "test_handshake_legacy.py",
        "test_handshake_header_values.py",
        "test_headerparserhandler.py",
        "test_headerparserhandler_hold.py",
        "test_http_header_util_parsing_state.py",
        "test_extension_processors.py",
        "test_msgutil.py",
        "test_package_rules.py",
        "test_pywebsocket3_alias_loader.py",
        "test_server_options.py",
        "test_standalone_handlers.py",
        "test_standalone_accept.py",
        "test_standalone_connection_state.py",
        "test_speedups.py",
        "test_standalone_startup.py",
        "test_stream.py",
        "test_stream_base_read_until.py",
        "test_stream_hixie75.py",
        "test_util.py",
    }
)


# Whole test files that need something beyond Python (Apache, Chromium, the
# Autobahn|Testsuite) or take minutes. Tests of that kind in other files carry
# the marker themselves (e.g. test_robustness.py's "through Apache" tests).
# pytest -m "not apache and not browser and not autobahn and not slow" runs the rest.
MODULE_MARKERS: dict[str, tuple[str, ...]] = {
    "test_apache.py": ("apache",),
    "test_h2_apache.py": ("apache",),
    "test_h2_apache_conformance.py": ("apache",),
    "test_h2_apache_robustness.py": ("apache",),
    "test_browser.py": ("browser",),
    "test_autobahn.py": ("autobahn",),
    "test_fuzz.py": ("slow",),
    "test_packaging.py": ("slow",),
    "test_reliability_memory.py": ("slow",),
}


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Accept pyproject's ``timeout`` even without pytest-timeout, which reads it when installed.

    Without this, pytest's "Unknown config option: timeout" warning, turned
    into an error by ``filterwarnings = ["error"]``, stops every run.
    """
    if not pluginmanager.has_plugin("timeout"):
        parser.addini("timeout", "the per-test limit of pytest-timeout (not installed: no limit)")


def pytest_ignore_collect(collection_path: os.PathLike[str], config: pytest.Config) -> bool | None:
    """With exactly ``-m fast``, do not even import the other test files.

    That saves seconds, and lets the fast tests run where the rest cannot be
    imported (an unpacked sdist has no ``tools/``). Other ``-m`` expressions
    collect everything and select by marker.
    """
    name = os.path.basename(collection_path)
    if config.getoption("markexpr", "") == "fast" and name.startswith("test_") and name.endswith(".py"):
        return name not in FAST_MODULES
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of ``FAST_MODULES`` with ``fast`` and those of ``MODULE_MARKERS``, before ``-m`` selects."""
    for item in items:
        if item.path.name in FAST_MODULES:
            item.add_marker(pytest.mark.fast)
        for name in MODULE_MARKERS.get(item.path.name, ()):
            item.add_marker(name)


class RunningServer:
    """A ``standalone.WebSocketServer`` serving on 127.0.0.1 in a thread."""

    def __init__(self, args: list[str]) -> None:
        options = standalone.parse_options(["-H", "127.0.0.1", "-p", "0", *args])
        self.server = standalone.WebSocketServer(options)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, resource: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{resource}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.close_websockets(wait=2.0)
        self.server.server_close()
        self._thread.join(5)


def serve_in_thread(server: standalone.WebSocketServer) -> standalone.WebSocketServer:
    """Serve ``server`` in a daemon thread; `stop_server` ends it."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def stop_server(server: standalone.WebSocketServer) -> None:
    """Stop a server `serve_in_thread` started, and close its sockets."""
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def running_server(*args: str) -> Iterator[RunningServer]:
    """Run a standalone server with the given options for the block's duration."""
    server = RunningServer(list(args))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def example_server() -> Iterator[RunningServer]:
    """A standalone server on the bundled examples (``-d example``)."""
    with running_server("-d", EXAMPLE_DIR) as server:
        yield server


@pytest.fixture
def site(tmp_path: pathlib.Path) -> str:
    """A fresh copy of test/testdata/site (``servers.make_site``): files, CGI scripts and three handlers."""
    return make_site(tmp_path)


@pytest.fixture
def apache(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install the fake mod_python of ``test/fake_mod_python.py`` for ``headerparserhandler``'s in-process tests.

    The module gets a fresh process state (no Dispatcher, no log handler), and
    the root logger's handlers and level are restored after the test.
    """
    module = fake_mod_python.install(monkeypatch)
    monkeypatch.setattr(headerparserhandler, "_dispatchers", {})
    monkeypatch.setattr(headerparserhandler, "_log_handler", None)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield module
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The test CA, a server certificate for 127.0.0.1 and ::1, and client certificates (one session's)."""
    return Pki(tmp_path_factory.mktemp("pki"))
