"""Paths: nothing outside the handler root or the document root is loaded or served.

Each test builds a tree with a secret file and a handler outside the roots::

    tree/
      secret.txt                 SECRET
      outside/
        outside_wsh.py           a handler: creates LOADED_MARKER when loaded
                                 and sends SECRET on its connections
      docroot/                   -d
        public.txt
        link_to_secret.txt   ->  ../secret.txt
        linkdir              ->  ..
        cgi-bin/                 -x /cgi-bin
        handlers/                -w handlers (the handler root)
          echo_wsh.py
          evil_wsh.py        ->  ../../outside/outside_wsh.py
          up                 ->  ../../outside  (a directory symlink out of the root)

and then asks for the secret every way a client can spell it: ``..``,
``%2e%2e``, encoded slashes, backslashes, NUL, absolute paths, symlinks. The
secret must never appear in any response, and the outside handler must never
be loaded unless ``--allow-handlers-outside-root-dir`` says so.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mod_pywebsocket import dispatch
from test import httpd
from test.conftest import running_server
from test.servers import ROBUST_HANDLERS, start_apache
from test.wire import TIMEOUT, echo_works, open_socket, read_until_eof, status_of, upgrade_request

pytestmark = pytest.mark.timeout(120)

SECRET = b"TOP-SECRET-8d1f0c-never-serve-me"


class Tree:
    """The tree above, rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.secret = root / "secret.txt"
        self.marker = root / "LOADED_MARKER"
        self.docroot = root / "docroot"
        self.handlers = self.docroot / "handlers"
        self.handlers.mkdir(parents=True)
        (self.docroot / "cgi-bin").mkdir()
        self.secret.write_bytes(SECRET + b"\n")
        (root / "outside").mkdir()
        (root / "outside" / "outside_wsh.py").write_text(
            "import pathlib\n"
            f"pathlib.Path({str(self.marker)!r}).touch()\n"
            f"SECRET = {SECRET!r}\n\n\n"
            "def web_socket_do_extra_handshake(request):\n"
            "    pass\n\n\n"
            "def web_socket_transfer_data(request):\n"
            "    request.ws_stream.send_message(SECRET, binary=True)\n",
            encoding="utf-8",
        )
        (self.docroot / "public.txt").write_bytes(b"public\n")
        (self.docroot / "link_to_secret.txt").symlink_to("../secret.txt")
        (self.docroot / "linkdir").symlink_to("..")
        shutil.copy(os.path.join(ROBUST_HANDLERS, "echo_wsh.py"), self.handlers / "echo_wsh.py")
        (self.handlers / "evil_wsh.py").symlink_to("../../outside/outside_wsh.py")
        (self.handlers / "up").symlink_to("../../outside")

    def handler_was_loaded(self) -> bool:
        return self.marker.exists()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def http_get(port: int, target: str, method: str = "GET", extra: str = "") -> tuple[int | None, bytes]:
    """Send one request with ``Connection: close``; return the status and the whole response."""
    request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"
    with open_socket(port) as sock:
        sock.sendall(request.encode("latin-1"))
        response = read_until_eof(sock, time.monotonic() + TIMEOUT)
    return status_of(response), response


def ws_get(port: int, resource: str) -> tuple[int | None, bytes]:
    """Try a WebSocket handshake; return the status and everything received within a short while."""
    with open_socket(port) as sock:
        sock.sendall(upgrade_request(resource))
        data = b""
        deadline = time.monotonic() + 2.0
        try:
            while time.monotonic() < deadline:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
    return status_of(data), data


# -- static files of the standalone server -------------------------------------------

# (target, status): every way to spell a file outside the document root.
TRAVERSALS = [
    ("/../secret.txt", 404),
    ("/../../secret.txt", 404),
    ("/%2e%2e/secret.txt", 404),
    ("/%2E%2E/secret.txt", 404),
    ("/.%2e/secret.txt", 404),
    ("/..%2fsecret.txt", 404),
    ("/..%2Fsecret.txt", 404),
    ("/%2e%2e%2fsecret.txt", 404),
    ("/%252e%252e/secret.txt", 404),
    ("/handlers/../../secret.txt", 404),
    ("/cgi-bin/../../secret.txt", 404),
    ("/cgi-bin/%2e%2e/%2e%2e/secret.txt", 404),
    ("/..\\secret.txt", 404),
    ("/%5c..%5csecret.txt", 404),
    ("/..%5csecret.txt", 404),
    ("/./../secret.txt", 404),
    ("/public.txt/../../secret.txt", 404),
    ("http://127.0.0.1/../secret.txt", 404),
]


@pytest.mark.parametrize(("target", "status"), TRAVERSALS)
def test_file_outside_the_document_root_is_never_served(tree, target, status):
    with running_server("-d", str(tree.docroot), "-w", "handlers", "-x", "/cgi-bin") as server:
        got, response = http_get(server.port, target)
        assert SECRET not in response
        assert got == status, response[:200]
        assert http_get(server.port, "/public.txt")[1].endswith(b"\r\n\r\npublic\n")


def test_absolute_path_of_the_secret_is_not_served(tree):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        for target in (str(tree.secret), "/" + str(tree.secret), "//" + str(tree.secret).lstrip("/")):
            status, response = http_get(server.port, target)
            assert SECRET not in response
            assert status == 404, (target, response[:200])


def test_directory_listing_never_shows_outside_names(tree):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        for target in ("/", "/%2e%2e/", "/../", "/handlers/../../"):
            status, response = http_get(server.port, target)
            assert status in (200, 404), (target, response[:200])
            assert b'secret.txt"' not in response or b"link_to_secret.txt" in response
            assert b"outside_wsh.py" not in response


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/link_to_secret.txt", id="file-symlink"),
        pytest.param("/linkdir/secret.txt", id="directory-symlink"),
        pytest.param("/linkdir/docroot/linkdir/secret.txt", id="directory-symlink-twice"),
    ],
)
def test_symlink_out_of_the_document_root_is_not_served(tree, target):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        status, response = http_get(server.port, target)
        assert SECRET not in response
        assert status in (403, 404), response[:200]


def test_directory_symlink_out_of_the_document_root_is_not_listed(tree):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        status, response = http_get(server.port, "/linkdir/")
        assert b"outside_wsh.py" not in response
        assert status in (403, 404), response[:200]


@pytest.mark.parametrize("target", ["/secret.txt%00", "/public.txt%00.html", "/%00"])
def test_nul_in_a_file_url_gets_an_error_status_not_a_crash(tree, target, caplog):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        status, response = http_get(server.port, target)
        assert SECRET not in response
        assert status in (400, 404), response[:200]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_nul_in_a_file_url_never_serves_the_secret_and_server_keeps_serving(tree):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        for target in ("/secret.txt%00", "/../secret.txt%00", "/%2e%2e/secret.txt%00.txt"):
            _, response = http_get(server.port, target)
            assert SECRET not in response
        assert http_get(server.port, "/public.txt")[0] == 200


# -- WebSocket resources ----------------------------------------------------------------

RESOURCES = [
    "/evil",
    "/up/outside",
    "/up/../../outside/outside",
    "/../outside",
    "/../../outside",
    "/%2e%2e/outside",
    "/..%2foutside",
    "/%2e%2e%2f%2e%2e%2foutside",
    "/..\\outside",
    "/%5c..%5coutside",
    "/echo/../../outside",
    "/echo%00/../../outside",
    "/outside\x00",
    "/./../outside",
    "//outside",
    "/up/../outside",
]


@pytest.mark.parametrize("resource", RESOURCES)
def test_handler_outside_the_handler_root_is_never_loaded_or_run(tree, resource):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        warnings = server.server.dispatcher.source_warnings()
        status, response = ws_get(server.port, resource)
        assert SECRET not in response
        assert status == 404, response[:200]
        assert echo_works(server.port)
    assert not tree.handler_was_loaded()
    assert any("evil_wsh.py" in warning and "outside the handler root" in warning for warning in warnings)


def test_absolute_resource_name_of_the_outside_handler_is_404(tree):
    with running_server("-d", str(tree.docroot), "-w", "handlers") as server:
        for resource in (str(tree.root / "outside" / "outside"), str(tree.root / "outside" / "outside_wsh.py")):
            status, response = ws_get(server.port, resource)
            assert SECRET not in response
            assert status == 404
    assert not tree.handler_was_loaded()


def test_handler_outside_the_root_is_loaded_only_when_allowed(tree):
    with running_server("-d", str(tree.docroot), "-w", "handlers", "--allow-handlers-outside-root-dir") as server:
        assert tree.handler_was_loaded()
        status, response = ws_get(server.port, "/evil")
        assert status == 101
        assert SECRET in response  # the documented opt-in works


def test_scan_dir_outside_the_handler_root_is_refused(tree):
    with pytest.raises(dispatch.DispatchException):
        dispatch.Dispatcher(str(tree.handlers), str(tree.root), allow_handlers_outside_root_dir=False)
    with pytest.raises(dispatch.DispatchException):
        dispatch.Dispatcher(str(tree.handlers), str(tree.handlers / "up"), allow_handlers_outside_root_dir=False)
    assert not tree.handler_was_loaded()


def test_dispatcher_with_dot_dot_in_the_root_still_keeps_to_it(tree):
    root = str(tree.handlers / ".." / "handlers")
    dispatcher = dispatch.Dispatcher(root, allow_handlers_outside_root_dir=False)
    assert dispatcher.get_handler_suite("/echo") is not None
    assert dispatcher.get_handler_suite("/evil") is None
    assert dispatcher.get_handler_suite("/up/outside") is None
    assert not tree.handler_was_loaded()


def test_handler_map_cannot_alias_a_file_outside_the_root(tree):
    map_file = tree.root / "map.txt"
    outside = tree.root / "outside" / "outside_wsh.py"
    map_file.write_text(f"/alias1 /../outside\n/alias2 {outside}\n/alias3 /up/outside\n", encoding="utf-8")
    with running_server("-d", str(tree.docroot), "-w", "handlers", "-m", str(map_file)) as server:
        for resource in ("/alias1", "/alias2", "/alias3"):
            status, response = ws_get(server.port, resource)
            assert SECRET not in response
            assert status == 404
    assert not tree.handler_was_loaded()


# -- through Apache ------------------------------------------------------------------------


@pytest.fixture
def world_readable_tree() -> Iterator[Tree]:
    """The tree in a directory Apache's www-data children can read."""
    root = Path(tempfile.mkdtemp(prefix="robust-paths-", dir="/tmp"))
    try:
        built = Tree(root)
        for dirpath, dirnames, filenames in os.walk(root):
            os.chmod(dirpath, 0o755)
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
        # Apache's children must be able to create the marker to show a load.
        os.chmod(root, 0o777 | stat.S_ISVTX)
        yield built
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.apache
def test_apache_never_loads_or_runs_a_handler_outside_the_root(world_readable_tree):
    tree = world_readable_tree
    factory = httpd.HttpdFactory()
    try:
        server = start_apache(
            factory,
            str(tree.handlers),
            document_root=str(tree.docroot),
            options={"mod_pywebsocket.allow_handlers_outside_root_dir": "Off"},
        )
        for resource in RESOURCES:
            if "\x00" in resource or "\\" in resource:
                continue  # Apache answers these itself
            status, response = ws_get(server.port, resource)
            assert SECRET not in response, resource
            assert status in (400, 403, 404), (resource, response[:200])
        for target, _ in TRAVERSALS:
            _, response = http_get(server.port, target)
            assert SECRET not in response, target
        assert echo_works(server.port)
    finally:
        factory.close()
    assert not tree.handler_was_loaded()


# -- symlink cycles under the handler root ------------------------------------------------

_BUILD_DISPATCHER = (
    "import sys\n"
    "from mod_pywebsocket import dispatch\n"
    "d = dispatch.Dispatcher(sys.argv[1], allow_handlers_outside_root_dir=False)\n"
    "print(len(d._handler_suite_map))\n"
)


def test_symlink_cycles_under_the_handler_root_do_not_hang_the_dispatcher(tree):
    (tree.handlers / "a").symlink_to(".")
    (tree.handlers / "b").symlink_to(".")
    # In a child process, which the timeout can kill.
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_DISPATCHER, str(tree.handlers)],
        cwd=str(Path(__file__).resolve().parent.parent),
        capture_output=True,
        timeout=8,
        check=True,
    )
    assert int(result.stdout) == 1  # /echo, once
