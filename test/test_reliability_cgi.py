"""Reliability of the CGI path: streamed output, process groups, httpoxy, header validation.

The pure parts of ``_standalone_cgi`` (header lines, framing, chunks, the
environment) are checked byte for byte without I/O; the rest runs scripts
through a standalone server, in this process (``running_server``) or, to
measure its memory, as a subprocess (``ServerProcess``).
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mod_pywebsocket import _standalone_cgi
from mod_pywebsocket._standalone_cgi import CgiError, CgiFraming, CgiHead, CgiOutput, CgiScript
from test.conftest import running_server
from test.servers import SITE, ServerProcess
from test.wire import FrameReader, header_fields, open_socket, read_head, read_until_eof, status_of

TIMEOUT = 10.0
# The body out.py writes: this pattern, repeated and cut to the size asked for.
PATTERN = bytes(range(256))

# Writes a header, then ``size`` bytes of PATTERN in writes of varying sizes.
# Query: size=N, declare=N (its Content-Length), pid=FILE (its pid), child=FILE
# (starts a child in its group that sleeps, and writes the child's pid there),
# then=sleep|forever (after the body: sleep 60 s, or write PATTERN forever,
# 64 KiB every 10 ms), stderr=N (first writes N lines to stderr).
OUT_SCRIPT = """#!/usr/bin/env python3
import os
import subprocess
import sys
import time
import urllib.parse

query = dict(urllib.parse.parse_qsl(os.environ.get("QUERY_STRING", "")))
out = sys.stdout.buffer
if "pid" in query:
    with open(query["pid"], "w") as file:
        file.write(str(os.getpid()))
if "child" in query:
    child = subprocess.Popen(
        ["sleep", "60"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    with open(query["child"], "w") as file:
        file.write(str(child.pid))
for number in range(int(query.get("stderr", 0))):
    sys.stderr.write(f"stderr line {number}\\n")
sys.stderr.flush()
head = "Content-Type: application/octet-stream\\n"
if "declare" in query:
    head += "Content-Length: " + query["declare"] + "\\n"
out.write(head.encode() + b"\\n")
pattern = bytes(range(256)) * 1024
size = int(query.get("size", 0))
written = 0
while written < size:
    count = min(size - written, 1000 + (written * 7) % 70000)
    start = written % 256
    out.write(pattern[start : start + count])
    written += count
out.flush()
if query.get("then") == "sleep":
    time.sleep(60)
elif query.get("then") == "forever":
    while True:
        out.write(pattern[: 64 * 1024])
        out.flush()
        time.sleep(0.01)
"""

# Writes the CGI output named by its query string.
HEADS_SCRIPT = """#!/usr/bin/env python3
import os
import sys

OUTPUTS = {
    "bare-cr": b"Content-Type: text/plain\\rX-Injected: 1\\n\\nbody",
    "bad-name": b"Content Type: text/plain\\n\\nbody",
    "status-100": b"Status: 100 Continue\\nContent-Type: text/plain\\n\\nbody",
    "proxy-env": b"Content-Type: text/plain\\n\\n" + os.environ.get("HTTP_PROXY", "unset").encode(),
}
sys.stdout.buffer.write(OUTPUTS[os.environ["QUERY_STRING"]])
"""

# Writes 256 KiB before it reads its stdin, then how many bytes it read.
ECHO_LENGTH_SCRIPT = """#!/usr/bin/env python3
import sys

sys.stdout.buffer.write(b"Content-Type: text/plain\\n\\n" + b"x" * (256 * 1024))
sys.stdout.buffer.write(str(len(sys.stdin.buffer.read())).encode())
"""


def expected_body(size: int) -> bytes:
    return (PATTERN * (size // 256 + 1))[:size]


def is_alive(pid: int) -> bool:
    """Return True if ``pid`` runs (a zombie counts as dead: it may wait for a parent that never reaps)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for_death(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def read_pid(path: Path, seconds: float = TIMEOUT) -> int:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.02)
    return int(path.read_text())


@pytest.fixture
def site(tmp_path) -> Iterator[Path]:
    """A document root with testdata/site and the scripts above in /cgi-bin; kills what they left running."""
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    for name, source in (("out.py", OUT_SCRIPT), ("heads.py", HEADS_SCRIPT), ("echo_length.py", ECHO_LENGTH_SCRIPT)):
        path = root / "cgi-bin" / name
        path.write_text(source)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    yield root
    for pid_file in tmp_path.glob("*.pid"):
        pid = int(pid_file.read_text() or 0)
        if pid and is_alive(pid):
            os.kill(pid, 9)


def request(target: str, *, method: str = "GET", version: str = "HTTP/1.1", extra: str = "") -> bytes:
    return f"{method} {target} {version}\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode("latin-1")


def read_chunked(reader: FrameReader) -> bytes:
    """Decode a chunked body strictly (hex sizes, CRLF after each chunk, no trailer)."""
    body = bytearray()
    while True:
        line = reader.read_through(b"\r\n")[:-2]
        assert line and all(char in b"0123456789ABCDEF" for char in line), line
        size = int(line, 16)
        if size == 0:
            assert reader.read_exactly(2) == b"\r\n"
            return bytes(body)
        piece = reader.read_exactly(size + 2)
        assert piece.endswith(b"\r\n")
        body += piece[:-2]


def get_response(
    sock: socket.socket, data: bytes = b"", *, head_only: bool = False
) -> tuple[int, dict[str, list[str]], bytes, bytes]:
    """Read one response framed by Content-Length or chunked; return status, fields, body and what followed."""
    reader = FrameReader(sock, data)
    head = reader.read_through(b"\r\n\r\n")[:-4]
    fields = header_fields(head)
    status = status_of(head)
    assert status is not None, head
    if head_only:
        return status, fields, b"", bytes(reader.buffer)
    if fields.get("transfer-encoding") == ["chunked"]:
        assert "content-length" not in fields
        body = read_chunked(reader)
    else:
        body = reader.read_exactly(int(fields["content-length"][0]))
    return status, fields, body, bytes(reader.buffer)


# The pure parts.


@pytest.mark.parametrize(
    ("head", "parsed"),
    [
        (b"Content-Type: text/plain\n", CgiHead(200, "OK", [("Content-Type", "text/plain")], None, None)),
        (b"Content-Type: text/plain\r\n", CgiHead(200, "OK", [("Content-Type", "text/plain")], None, None)),
        (
            b"Status: 404 Not Found\r\nContent-Type: text/html\r\n",
            CgiHead(404, "Not Found", [("Content-Type", "text/html")], None, None),
        ),
        (b"Status: 299\n", CgiHead(299, "Unknown", [], None, None)),
        (b"Location: /elsewhere\n", CgiHead(302, "Found", [("Location", "/elsewhere")], None, "/elsewhere")),
        (b"Location: http://e.invalid/\n", CgiHead(302, "Found", [("Location", "http://e.invalid/")], None, None)),
        (b"Content-Type: a\nContent-Length: 12\n", CgiHead(200, "OK", [("Content-Type", "a")], 12, None)),
        (
            b"Content-Type: a\nContent-Length: 7\nContent-Length: 7\n",
            CgiHead(200, "OK", [("Content-Type", "a")], 7, None),
        ),
        (
            b"Content-Type: a\nConnection: keep-alive\nTransfer-Encoding: chunked\nKeep-Alive: 5\nUpgrade: x\n",
            CgiHead(200, "OK", [("Content-Type", "a")], None, None),
        ),
        (
            b"Content-Type: a\nX-Tab: one\ttwo\n",
            CgiHead(200, "OK", [("Content-Type", "a"), ("X-Tab", "one\ttwo")], None, None),
        ),
        (b"Content-Type: caf\xe9\n", CgiHead(200, "OK", [("Content-Type", "caf\xe9")], None, None)),
    ],
)
def test_parse_head_reads_status_headers_and_content_length(head, parsed):
    assert _standalone_cgi.parse_head(head) == parsed


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (
            b"Content-Type: text/plain\rX-Injected: 1\n",
            "control character in cgi header line 'Content-Type: text/plain\\rX-Injected: 1'",
        ),
        (b"Content-Type: text/plain\r\r\n", "control character in cgi header line 'Content-Type: text/plain\\r'"),
        (b"Content-Type: a\x00b\n", "control character in cgi header line 'Content-Type: a\\x00b'"),
        (b"Content-Type: a\x7f\n", "control character in cgi header line 'Content-Type: a\\x7f'"),
        (b"Status: 200 O\x01K\nContent-Type: a\n", "control character in cgi header line 'Status: 200 O\\x01K'"),
        (b"Content Type: text/plain\n", "malformed cgi header line 'Content Type: text/plain'"),
        (b"Content-Type : text/plain\n", "malformed cgi header line 'Content-Type : text/plain'"),
        (b"X-(a): 1\nContent-Type: a\n", "malformed cgi header line 'X-(a): 1'"),
        (b"Content-Type: a\n folded\n", "malformed cgi header line ' folded'"),
        (b"no colon\n", "malformed cgi header line 'no colon'"),
        (b"Status: 100 Continue\nContent-Type: a\n", "bad cgi Status '100 Continue'"),
        (b"Status: 101\n", "bad cgi Status '101'"),
        (b"Status: abc\n", "bad cgi Status 'abc'"),
        (b"Content-Type: a\nContent-Length: 1x\n", "bad cgi Content-Length '1x'"),
        (b"Content-Type: a\nContent-Length: +1\n", "bad cgi Content-Length '+1'"),
        (b"Content-Type: a\nContent-Length: \xb2\n", "bad cgi Content-Length '\xb2'"),
        (b"Content-Type: a\nContent-Length: 1\nContent-Length: 2\n", "bad cgi Content-Length '2'"),
        (b"X-Thing: 1\n", "cgi output has none of Content-Type, Location and Status"),
        (b"", "cgi output has none of Content-Type, Location and Status"),
    ],
)
def test_parse_head_refuses_bad_header_lines_with_502(head, message):
    with pytest.raises(CgiError) as raised:
        _standalone_cgi.parse_head(head)
    assert (raised.value.status, str(raised.value)) == (502, message)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"\n", (0, 1)),
        (b"\r\nbody", (0, 2)),
        (b"A: b\n\nbody", (5, 6)),
        (b"A: b\r\n\r\nbody", (6, 8)),
        (b"A: b\nC: d\n\r\n", (10, 12)),
        (b"A: b\r\nC: d\n\n\n", (11, 12)),
        (b"A: b\r\n", None),
        (b"A: b\r\n\r", None),
        (b"A: b\r\rC: d\n", None),
    ],
)
def test_find_head_end_finds_the_blank_line_whole_and_byte_by_byte(data, found):
    assert _standalone_cgi.find_head_end(data) == found
    received = b""
    result = None
    for byte in data:
        searched = len(received)
        received += bytes([byte])
        result = _standalone_cgi.find_head_end(received, searched)
        if result is not None:
            break
    assert result == found


def output(*, status: int = 200, length: int | None = None, body: bytes = b"", complete: bool) -> CgiOutput:
    return CgiOutput(CgiHead(status, "", [], length, None), body, complete, None)


@pytest.mark.parametrize(
    ("given", "version", "framing"),
    [
        (output(body=b"abc", complete=True), "HTTP/1.1", CgiFraming([("Content-Length", "3")], 3, False, False)),
        (output(body=b"", complete=True), "HTTP/1.0", CgiFraming([("Content-Length", "0")], 0, False, False)),
        (
            output(length=999, body=b"abc", complete=True),
            "HTTP/1.1",
            CgiFraming([("Content-Length", "3")], 3, False, False),
        ),
        (
            output(length=999, body=b"abc", complete=False),
            "HTTP/1.0",
            CgiFraming([("Content-Length", "999")], 999, False, False),
        ),
        (
            output(body=b"abc", complete=False),
            "HTTP/1.1",
            CgiFraming([("Transfer-Encoding", "chunked")], None, True, False),
        ),
        (output(body=b"abc", complete=False), "HTTP/1.0", CgiFraming([("Connection", "close")], None, False, True)),
        (output(status=204, body=b"abc", complete=False), "HTTP/1.1", CgiFraming([], 0, False, False)),
        (output(status=304, length=5, complete=True), "HTTP/1.0", CgiFraming([], 0, False, False)),
    ],
)
def test_choose_framing_prefers_exact_length_then_the_scripts_then_chunked_then_close(given, version, framing):
    assert _standalone_cgi.choose_framing(given, version) == framing


@pytest.mark.parametrize(
    ("data", "parts"),
    [
        (b"a", (b"1\r\n", b"a", b"\r\n")),
        (b"x" * 255, (b"FF\r\n", b"x" * 255, b"\r\n")),
        (b"y" * 65536, (b"10000\r\n", b"y" * 65536, b"\r\n")),
    ],
)
def test_chunk_frames_data_as_rfc_9112_chunks(data, parts):
    assert _standalone_cgi.chunk(data) == parts
    assert _standalone_cgi.LAST_CHUNK == b"0\r\n\r\n"


class FakeProcess:
    """Gives its pieces to ``send_body``, then b'' (or raises ``error`` instead)."""

    def __init__(self, *pieces: bytes, error: CgiError | None = None) -> None:
        self.script = CgiScript("/site/cgi-bin/s.py", "/cgi-bin/s.py", "")
        self._pieces = list(pieces)
        self._error = error

    def read(self) -> bytes:
        if self._pieces:
            return self._pieces.pop(0)
        if self._error is not None:
            raise self._error
        return b""


@pytest.mark.parametrize(
    ("length", "body", "pieces", "chunked", "close", "send", "written", "kept", "log"),
    [
        # chunked: each piece a chunk, then the last chunk
        (
            None,
            b"ab",
            (b"cde", b"f"),
            True,
            False,
            True,
            [b"2\r\n", b"ab", b"\r\n", b"3\r\n", b"cde", b"\r\n", b"1\r\n", b"f", b"\r\n", b"0\r\n\r\n"],
            True,
            "",
        ),
        # the script's Content-Length: what is over it is dropped
        (4, b"ab", (b"cde", b"f"), False, False, True, [b"ab", b"cd"], True, "wrote 2 bytes over its Content-Length 4"),
        # ... and what is short of it cuts the response
        (
            9,
            b"ab",
            (b"cde",),
            False,
            False,
            True,
            [b"ab", b"cde"],
            False,
            "ended after 5 of its 9 bytes (Content-Length)",
        ),
        # the end of the connection delimits
        (None, b"ab", (b"c",), False, True, True, [b"ab", b"c"], False, ""),
        # HEAD: nothing is written
        (None, b"ab", (b"c",), True, False, False, [], True, ""),
    ],
)
def test_send_body_frames_and_bounds_what_the_script_writes(
    length, body, pieces, chunked, close, send, written, kept, log, caplog
):
    process = FakeProcess(*pieces)
    given = CgiOutput(CgiHead(200, "OK", [], length, None), body, False, None)
    framing = CgiFraming([], length, chunked, close)
    sent: list[bytes] = []
    with caplog.at_level(logging.WARNING, logger="mod_pywebsocket"):
        assert _standalone_cgi.send_body(process, given, framing, sent.extend, send=send) is kept
    assert sent == written
    assert log in caplog.text


def test_send_body_of_complete_output_sends_it_all_and_logs_a_wrong_content_length(caplog):
    given = CgiOutput(CgiHead(200, "OK", [], 999, None), b"body", True, None)
    sent: list[bytes] = []
    framing = _standalone_cgi.choose_framing(given, "HTTP/1.1")
    assert _standalone_cgi.send_body(FakeProcess(), given, framing, sent.extend)
    assert sent == [b"body"]
    assert "cgi script /cgi-bin/s.py gave Content-Length 999 with 4 bytes" in caplog.text


def test_send_body_of_a_no_content_status_drops_the_output_silently(caplog):
    given = CgiOutput(CgiHead(204, "No Content", [], 2, None), b"ab", False, None)
    sent: list[bytes] = []
    framing = _standalone_cgi.choose_framing(given, "HTTP/1.1")
    assert _standalone_cgi.send_body(FakeProcess(b"cd"), given, framing, sent.extend)
    assert sent == [] and caplog.text == ""


def test_send_body_over_the_timeout_cuts_the_response_without_the_last_chunk(caplog):
    process = FakeProcess(b"cd", error=CgiError(504, "cgi script /cgi-bin/s.py ran over 1.0 s"))
    given = CgiOutput(CgiHead(200, "OK", [], None, None), b"ab", False, None)
    sent: list[bytes] = []
    assert not _standalone_cgi.send_body(process, given, CgiFraming([], None, True, False), sent.extend)
    assert sent == [b"2\r\n", b"ab", b"\r\n", b"2\r\n", b"cd", b"\r\n"]
    assert "cgi script /cgi-bin/s.py ran over 1.0 s; the response is cut short" in caplog.text


def test_proxy_header_never_becomes_http_proxy():
    # httpoxy (CVE-2016-5385): HTTP_PROXY is the proxy setting of the script's own HTTP clients.
    env = _standalone_cgi.build_environment(
        CgiScript("/site/s.py", "/s.py", ""),
        document_root="/site",
        method="GET",
        query="",
        protocol="HTTP/1.1",
        headers=[("Proxy", "http://evil.invalid:3128"), ("Proxy-Connection", "x"), ("X-Proxy", "y")],
        server_name="h",
        server_port=80,
        server_software="s",
        remote_addr="127.0.0.1",
        remote_port=1,
        https=False,
        remote_user=None,
        request_uri="/s.py",
        base={"HTTP_PROXY": "inherited", "PATH": "/bin"},
    )
    assert "HTTP_PROXY" not in env
    assert env["HTTP_PROXY_CONNECTION"] == "x" and env["HTTP_X_PROXY"] == "y"


# Through the server.


def test_proxy_header_is_not_given_to_the_script(site):
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request("/cgi-bin/heads.py?proxy-env", extra="Proxy: http://evil.invalid:3128\r\n"))
        status, _, body, _ = get_response(sock)
    assert (status, body) == (200, b"unset")


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("bare-cr", "control character in cgi header line 'Content-Type: text/plain\\rX-Injected: 1'"),
        ("bad-name", "malformed cgi header line 'Content Type: text/plain'"),
        ("status-100", "bad cgi Status '100 Continue'"),
    ],
)
def test_bad_cgi_header_lines_get_502_and_a_warning(site, caplog, query, logged):
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request(f"/cgi-bin/heads.py?{query}"))
        status, fields, body, _ = get_response(sock)
    assert (status, body) == (502, f"{logged}\n".encode()) and "x-injected" not in fields
    assert any(record.levelno == logging.WARNING and logged in record.getMessage() for record in caplog.records)


def test_long_output_on_http_1_1_is_chunked_and_the_connection_kept(site):
    size = 3 * 1024 * 1024 + 17
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request(f"/cgi-bin/out.py?size={size}") + request("/cgi-bin/out.py?size=10"))
        status, fields, body, rest = get_response(sock)
        assert (status, fields["transfer-encoding"], "content-length" in fields) == (200, ["chunked"], False)
        assert body == expected_body(size)
        status, fields, body, rest = get_response(sock, rest)
    assert (status, fields["content-length"], body, rest) == (200, ["10"], expected_body(10), b"")


def test_long_output_on_http_1_0_ends_with_the_connection(site):
    size = 1024 * 1024 + 3
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request(f"/cgi-bin/out.py?size={size}", version="HTTP/1.0"))
        deadline = time.monotonic() + TIMEOUT
        head, rest = read_head(sock, deadline)
        body = rest + read_until_eof(sock, deadline)
    fields = header_fields(head)
    assert status_of(head) == 200 and fields["connection"] == ["close"]
    assert "content-length" not in fields and "transfer-encoding" not in fields
    assert body == expected_body(size)


def test_long_output_with_a_content_length_is_sent_with_it_and_the_connection_kept(site):
    size = 1024 * 1024
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request(f"/cgi-bin/out.py?size={size}&declare={size}") + request("/cgi-bin/out.py?size=1"))
        status, fields, body, rest = get_response(sock)
        assert (status, fields["content-length"], "transfer-encoding" in fields) == (200, [str(size)], False)
        assert body == expected_body(size)
        assert get_response(sock, rest)[::2] == (200, expected_body(1))


def test_output_over_its_content_length_is_cut_at_it_and_logged(site, caplog):
    size = 1024 * 1024
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request(f"/cgi-bin/out.py?size={size + 10}&declare={size}") + request("/cgi-bin/out.py?size=1"))
        status, fields, body, rest = get_response(sock)
        assert (status, fields["content-length"], body) == (200, [str(size)], expected_body(size))
        assert get_response(sock, rest)[::2] == (200, expected_body(1))
    assert "cgi script /cgi-bin/out.py wrote 10 bytes over its Content-Length 1048576" in caplog.text


def test_output_short_of_its_content_length_closes_the_connection_and_is_logged(site, caplog):
    size = 1024 * 1024
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request(f"/cgi-bin/out.py?size={size}&declare={size + 10}"))
        deadline = time.monotonic() + TIMEOUT
        head, rest = read_head(sock, deadline)
        body = rest + read_until_eof(sock, deadline)
    assert header_fields(head)["content-length"] == [str(size + 10)] and body == expected_body(size)
    assert "cgi script /cgi-bin/out.py ended after 1048576 of its 1048586 bytes (Content-Length)" in caplog.text


def test_short_output_gets_its_exact_content_length(site):
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request("/cgi-bin/out.py?size=65536&declare=3"))
        status, fields, body, _ = get_response(sock)
    assert (status, fields["content-length"], body) == (200, ["65536"], expected_body(65536))


def test_head_of_long_output_sends_the_fields_of_get_without_a_body(site):
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request("/cgi-bin/out.py?size=1000000", method="HEAD") + request("/cgi-bin/out.py?size=2"))
        status, fields, _, rest = get_response(sock, head_only=True)
        assert (status, fields["transfer-encoding"]) == (200, ["chunked"])
        status, _, body, rest = get_response(sock, rest)
    assert (status, body, rest) == (200, expected_body(2), b"")


def test_post_body_reaches_a_script_that_writes_before_it_reads(site):
    body = b"b" * (1024 * 1024)
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request("/cgi-bin/echo_length.py", method="POST", extra=f"Content-Length: {len(body)}\r\n") + body)
        status, _, answer, _ = get_response(sock)
    assert status == 200 and answer == b"x" * (256 * 1024) + str(len(body)).encode()


def test_script_over_the_timeout_is_killed_with_its_children_and_504(site, tmp_path):
    child_file = tmp_path / "child.pid"
    with (
        running_server("-d", str(site), "-x", "/cgi-bin", "--cgi-timeout", "1") as server,
        open_socket(server.port) as sock,
    ):
        started = time.monotonic()
        sock.sendall(request(f"/cgi-bin/out.py?child={child_file}&then=sleep"))
        deadline = started + TIMEOUT
        head, _ = read_head(sock, deadline)
        assert status_of(head) == 504 and time.monotonic() - started < 5
        assert wait_for_death(read_pid(child_file), 2.0), "the script's child outlived --cgi-timeout"


def test_script_over_the_timeout_after_its_head_is_cut_short_without_the_last_chunk(site, tmp_path, caplog):
    pid_file = tmp_path / "script.pid"
    with (
        running_server("-d", str(site), "-x", "/cgi-bin", "--cgi-timeout", "1") as server,
        open_socket(server.port) as sock,
    ):
        started = time.monotonic()
        sock.sendall(request(f"/cgi-bin/out.py?size=100000&pid={pid_file}&then=sleep"))
        deadline = started + TIMEOUT
        head, rest = read_head(sock, deadline)
        data = rest + read_until_eof(sock, deadline)
        elapsed = time.monotonic() - started
    assert status_of(head) == 200 and header_fields(head)["transfer-encoding"] == ["chunked"]
    assert not data.endswith(b"0\r\n\r\n") and 0.9 < elapsed < 5
    assert wait_for_death(read_pid(pid_file), 2.0)
    assert "cgi script /cgi-bin/out.py ran over 1.0 s; the response is cut short" in caplog.text


def test_client_that_leaves_mid_response_gets_the_script_killed(site, tmp_path):
    pid_file = tmp_path / "script.pid"
    with running_server("-d", str(site), "-x", "/cgi-bin", "--cgi-timeout", "20") as server:
        with open_socket(server.port) as sock:
            sock.sendall(request(f"/cgi-bin/out.py?pid={pid_file}&then=forever"))
            deadline = time.monotonic() + 5
            head, rest = read_head(sock, deadline)
            assert status_of(head) == 200
            received = len(rest)
            while received < 512 * 1024:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                received += len(sock.recv(65536))
        assert wait_for_death(read_pid(pid_file), 5.0), "the script outlived its client"


def test_stderr_flood_is_logged_in_its_first_lines(site, caplog):
    with running_server("-d", str(site), "-x", "/cgi-bin") as server, open_socket(server.port) as sock:
        sock.sendall(request("/cgi-bin/out.py?size=5&stderr=200000"))
        status, _, body, _ = get_response(sock)
    assert (status, body) == (200, expected_body(5))
    prefix = "cgi script /cgi-bin/out.py: "
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith(prefix)]
    assert lines[0] == "cgi script /cgi-bin/out.py: stderr line 0"
    assert lines[49] == "cgi script /cgi-bin/out.py: stderr line 49"
    assert lines[50] == "cgi script /cgi-bin/out.py: (199950 more lines)"
    assert len(lines) == 51


# Memory: the server as a subprocess, its peak RSS (VmHWM) from /proc.

STREAM_SIZE = 128 * 1024 * 1024
# What the server may grow by while it streams STREAM_SIZE bytes of output.
STREAM_MEMORY_BOUND_KIB = 16 * 1024


def test_long_output_is_streamed_with_bounded_memory(site):
    with ServerProcess("-d", str(site), "-x", "/cgi-bin") as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        connection.request("GET", "/cgi-bin/out.py?size=100000")  # warm up: a thread, a process, a chunked reply
        assert connection.getresponse().read() == expected_body(100000)
        baseline = server.status_kib("VmHWM")
        connection.request("GET", f"/cgi-bin/out.py?size={STREAM_SIZE}")
        response = connection.getresponse()
        received = 0
        while piece := response.read(1 << 20):
            assert piece[:1] == bytes([received % 256])
            received += len(piece)
        connection.close()
        growth = server.status_kib("VmHWM") - baseline
    assert received == STREAM_SIZE
    assert growth < STREAM_MEMORY_BOUND_KIB, f"peak RSS grew by {growth} KiB for {STREAM_SIZE >> 20} MiB of output"
