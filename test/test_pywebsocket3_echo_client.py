"""pywebsocket3 4.0.2's own example/echo_client.py talks to our server, with our package as ``pywebsocket3``.

The client builds its frames with ``pywebsocket3.stream.Stream`` and, for
permessage-deflate, ``pywebsocket3.extensions._PerMessageDeflateFramer``:
both the server and the client side of the API are ours. The client file is
not in this repository: it is taken from the sdist, which ``pip download``
fetches once into ``.cache/sdists``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server
from tools import census

_CLIENT_MEMBER = "pywebsocket3-4.0.2/example/echo_client.py"


@pytest.fixture(scope="module")
def echo_client(tmp_path_factory):
    pytest.importorskip("six", reason="SIX IS NOT INSTALLED (requirements/test.txt pins it; the client imports it)")
    try:
        directory = census.cached_sdists()
    except census.CensusError as exc:
        pytest.skip(f"THE PYWEBSOCKET3 4.0.2 SDIST CANNOT BE FETCHED: {exc}")
    target = tmp_path_factory.mktemp("pywebsocket3-example")
    with tarfile.open(directory / "pywebsocket3-4.0.2.tar.gz") as archive:
        source = archive.extractfile(_CLIENT_MEMBER)
        assert source is not None
        path = target / "echo_client.py"
        path.write_bytes(source.read())
    return path


def _run(client, port, *args):
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    return subprocess.run(
        [sys.executable, str(client), "-s", "127.0.0.1", "-p", str(port), "-r", "/echo", "-k", "10", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=client.parent,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("deflate", [[], ["--use-permessage-deflate"]], ids=["plain", "permessage-deflate"])
@pytest.mark.parametrize(
    ("messages", "closing"),
    [
        ("hello,w\u00f6rld,Goodbye", ["Recv close", "Send ack"]),  # the echo handler closes after Goodbye
        ("hello,w\u00f6rld", ["Send close", "Recv ack"]),
    ],
    ids=["server-closes", "client-closes"],
)
def test_pywebsocket3_echo_client_exchanges_messages_with_our_server(echo_client, deflate, messages, closing):
    with running_server("-d", EXAMPLE_DIR) as server:
        result = _run(echo_client, server.port, "-m", messages, *deflate)
    assert result.returncode == 0, result.stderr
    expected = [line for message in messages.split(",") for line in (f"Send: {message}", f"Recv: {message}")]
    assert result.stdout.splitlines() == expected + closing
