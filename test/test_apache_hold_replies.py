"""``PythonOption mod_pywebsocket.hold_replies`` in a real Apache httpd with mod_python.

The Apache child's write system calls (``syscw`` in ``/proc/PID/io``) are
counted around a burst of pipelined messages: one write per reply without
the option, a handful with it. ``test_headerparserhandler_hold.py`` checks
the exact bytes of each write in this process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mod_pywebsocket import common
from test import httpd
from test.servers import APACHE_HANDLERS
from test.wire import client_frame, ws_open

pytestmark = [pytest.mark.apache, pytest.mark.timeout(120)]

BURST = 32


@pytest.fixture(scope="module", params=["On", "Off"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, httpd.Httpd]]:
    """An Apache with hold_replies On, then one with it Off."""
    httpd.require_apache()
    instance = httpd.Httpd(APACHE_HANDLERS, options={"mod_pywebsocket.hold_replies": request.param})
    instance.start()
    try:
        yield request.param, instance
    finally:
        instance.stop()


def write_calls(pid: int) -> int:
    """The write system calls made so far by the server's processes (its children serve the connections)."""
    total = 0
    for process in [pid, *httpd._children_of(pid)]:
        try:
            with open(f"/proc/{process}/io") as io:
                fields = dict(line.split(": ") for line in io.read().splitlines())
        except FileNotFoundError:
            continue  # a child that just exited
        except PermissionError:
            pytest.skip(f"cannot read /proc/{process}/io as uid {os.getuid()}")
        total += int(fields["syscw"])
    return total


def text(payload: bytes) -> bytes:
    return client_frame(common.OPCODE_TEXT, payload)


def test_replies_to_a_pipelined_burst_leave_in_few_writes_only_with_the_option(server):
    hold, instance = server
    assert instance.pid is not None
    sock, reader = ws_open(instance.port, "/echo")
    with sock:
        # One exchange first, so that the child serving us is past its first request.
        sock.sendall(text(b"warm"))
        assert reader.frame() == (True, common.OPCODE_TEXT, b"warm")
        before = write_calls(instance.pid)
        messages = [b"message %02d" % number for number in range(BURST)]
        sock.sendall(b"".join(text(message) for message in messages))
        assert [reader.frame() for _ in messages] == [(True, common.OPCODE_TEXT, message) for message in messages]
        writes = write_calls(instance.pid) - before
        sock.sendall(client_frame(common.OPCODE_CLOSE, b"\x03\xe8"))
        assert reader.frame() == (True, common.OPCODE_CLOSE, b"\x03\xe8")
    if hold == "On":
        # One read takes the burst (loopback delivers one send in one piece): one write, give or take a split.
        assert 1 <= writes <= 3
    else:
        assert writes >= BURST


def test_a_lone_message_is_answered_at_once_with_or_without_the_option(server):
    _, instance = server
    sock, reader = ws_open(instance.port, "/echo")
    with sock:
        for number in range(3):
            sock.sendall(text(b"ping %d" % number))
            # Nothing more is buffered, so the reply is not held: it comes without the next message.
            assert reader.frame(timeout=5.0) == (True, common.OPCODE_TEXT, b"ping %d" % number)
