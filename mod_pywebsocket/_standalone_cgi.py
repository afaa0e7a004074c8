"""A small CGI/1.1 runner (RFC 3875) for the standalone server.

Layer 3 (a private part of ``standalone``). How this works: ``find_script``
maps a URL path under one of the ``--cgi-paths`` prefixes to an executable
file inside the document root (the rest of the path becomes PATH_INFO);
``build_environment`` makes the meta-variables of RFC 3875 §4.1;
``CgiProcess`` runs the file directly (no shell) in a process group of its
own, with the request body on stdin, and hands out its stdout piece by
piece until a deadline. ``read_output`` reads the CGI header lines (RFC
3875 §6) and the start of the body, ``parse_head`` turns the header lines
into a status and headers, ``choose_framing`` decides how the body is
delimited (Content-Length, chunked or the connection's end) and
``send_body`` streams the rest: the memory a response holds is bounded by
a few times ``_READ_SIZE``, whatever the size of the output.
"""

from __future__ import annotations

import contextlib
import http
import logging
import os
import posixpath
import re
import selectors
import signal
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from mod_pywebsocket import common
from mod_pywebsocket.http_header_util import _DIGITS, _TOKEN

__all__ = [
    "LAST_CHUNK",
    "CgiError",
    "CgiFraming",
    "CgiHead",
    "CgiOutput",
    "CgiProcess",
    "CgiScript",
    "build_environment",
    "choose_framing",
    "chunk",
    "find_head_end",
    "find_script",
    "is_cgi_path",
    "parse_head",
    "read_output",
    "send_body",
]

_LOGGER = logging.getLogger(__name__)

# A script sends final responses only: a 1xx would leave the client waiting.
_STATUS = re.compile(r"([2-5][0-9][0-9])(?:[ \t]+(.*))?")
# RFC 9110 §5.5: a field value has no control character but HTAB; a bare CR
# or a NUL passed on could split or cut the response.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers the server sets itself, or that describe the connection, not the
# response; a script's values for them are dropped (RFC 3875 §6.3.4: the
# server "MUST resolve any conflicts" with its own header fields).
# Content-Length is read apart: it delimits the body.
_SERVER_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade"})
# RFC 3875 §4.1.18: the server "SHOULD remove any header fields carrying
# authentication information" and those available as other meta-variables.
# Proxy would become HTTP_PROXY, which HTTP clients in the script take for
# their proxy setting: a client could send the script's requests through its
# own proxy ("httpoxy", CVE-2016-5385).
_NOT_PASSED_HEADERS = frozenset({"authorization", "proxy-authorization", "content-type", "content-length", "proxy"})
_NO_CONTENT_STATUSES = frozenset({204, 304})
_MAX_STDERR_LINES = 50
# The script's stderr kept for the log; the rest is only counted.
_MAX_STDERR_BYTES = 64 * 1024
# The largest read from the script's stdout, and so the largest piece sent on.
_READ_SIZE = 64 * 1024
# The most bytes of CGI header lines; more is 502.
_MAX_HEAD_BYTES = 64 * 1024
# Output whose body ends within this many bytes gets an exact Content-Length.
_BUFFER_BYTES = 64 * 1024


class CgiError(common.WebSocketException):
    """The request cannot be answered by a script; carries the HTTP status."""

    status: int

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CgiScript(NamedTuple):
    """A CGI script found for a URL path."""

    path: str
    """The script's file (absolute)."""
    script_name: str
    """SCRIPT_NAME: the URL path that names the script (decoded)."""
    path_info: str
    """PATH_INFO: the URL path after the script's name (decoded), or ''."""


class CgiHead(NamedTuple):
    """A script's header lines, parsed."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    """The headers to send, without Status, Content-Length and the server's own."""
    content_length: int | None
    """The script's Content-Length, if it gave one."""
    local_redirect: str | None
    """The path of a local redirect (RFC 3875 §6.2.2), if the head is one and no body follows."""


class CgiOutput(NamedTuple):
    """The start of a script's output, as ``read_output`` read it."""

    head: CgiHead
    body: bytes
    """The start of the body (all of it if ``complete``)."""
    complete: bool
    """True if the output ended within ``body``."""
    local_redirect: str | None
    """The path to serve instead, for a local redirect (a head that is one, and no body)."""


class CgiFraming(NamedTuple):
    """How a response body is delimited."""

    headers: list[tuple[str, str]]
    """Content-Length, Transfer-Encoding or Connection, to send with the script's headers."""
    length: int | None
    """The body's length, or None if it lasts until the end of the output."""
    chunked: bool
    close: bool
    """True if the end of the connection ends the body."""


def _segments(url_path: str) -> list[str]:
    """Split and percent-decode ``url_path``; refuse segments that could leave a directory.

    Raises:
        CgiError: (404) a segment is ``.`` or ``..`` or decodes to a ``/``, NUL or backslash.
    """
    segments = []
    for raw in url_path.split("/"):
        if not raw:
            continue
        segment = urllib.parse.unquote(raw, errors="surrogateescape")
        if segment in (".", "..") or any(char in segment for char in "/\\\0"):
            raise CgiError(http.HTTPStatus.NOT_FOUND, f"bad path segment {raw!r}")
        segments.append(segment)
    return segments


def _under_prefix(segments: Sequence[str], prefix: str) -> bool:
    prefix_segments = [segment for segment in prefix.split("/") if segment]
    return list(segments[: len(prefix_segments)]) == prefix_segments


def is_cgi_path(url_path: str, prefixes: Sequence[str]) -> bool:
    """Return True if ``url_path`` (no query), decoded and normalized, lies under one of ``prefixes``.

    Normalizing first means that ``/x/../cgi-bin/s.py`` or
    ``/cgi-bin%2Fs.py`` also count as CGI paths: ``find_script`` then
    answers 404 rather than letting the file server send a script's source.
    """
    decoded = urllib.parse.unquote(url_path, errors="surrogateescape").replace("\\", "/")
    segments = [segment for segment in posixpath.normpath("/" + decoded).split("/") if segment]
    return any(_under_prefix(segments, prefix) for prefix in prefixes)


def find_script(
    document_root: str,
    url_path: str,
    prefixes: Sequence[str],
    is_executable: Callable[[str], object] | None = None,
) -> CgiScript | None:
    """Find the script a URL path names.

    The first path segment after a prefix that names a file is the script;
    the segments after it are PATH_INFO. A file that may not run, a
    directory or a missing file is no script: the caller serves the path as
    a plain file (or 404), as pywebsocket did, so that ``--cgi-paths /``
    still serves the document root's other files.

    Args:
        document_root: absolute path of the document root.
        url_path: the request's path, percent-encoded, without the query.
        prefixes: URL path prefixes of the CGI directories.
        is_executable: called with a file's path, tells whether it may run
            (true value); None checks the file's execute permission.

    Returns:
        The script, or None when ``url_path`` is under no prefix or names no
        file that may run.

    Raises:
        CgiError: 404 (a bad path segment), 403 (the file's real path leaves
            the document root).
    """
    segments = _segments(url_path)
    matching = [prefix for prefix in prefixes if _under_prefix(segments, prefix)]
    if not matching:
        return None
    start = max(len([segment for segment in prefix.split("/") if segment]) for prefix in matching)
    for end in range(start + 1, len(segments) + 1):
        candidate = os.path.join(document_root, *segments[:end])
        if os.path.isdir(candidate):
            continue
        if not os.path.isfile(candidate):
            break
        real_root = os.path.realpath(document_root)
        if os.path.commonpath([os.path.realpath(candidate), real_root]) != real_root:
            raise CgiError(http.HTTPStatus.FORBIDDEN, f"cgi script {url_path!r} leaves the document root")
        if not (is_executable(candidate) if is_executable is not None else os.access(candidate, os.X_OK)):
            return None
        script_name = "/" + "/".join(segments[:end])
        rest = segments[end:]
        path_info = "/" + "/".join(rest) if rest else ""
        if rest and url_path.endswith("/"):
            path_info += "/"
        return CgiScript(candidate, script_name, path_info)
    return None


def build_environment(
    script: CgiScript,
    *,
    document_root: str,
    method: str,
    query: str,
    protocol: str,
    headers: Sequence[tuple[str, str]],
    server_name: str,
    server_port: int,
    server_software: str,
    remote_addr: str,
    remote_port: int,
    https: bool,
    remote_user: str | None,
    request_uri: str,
    base: Mapping[str, str],
) -> dict[str, str]:
    """Return the environment of a CGI script (RFC 3875 §4.1).

    Args:
        script: the script and its PATH_INFO.
        document_root: the document root (DOCUMENT_ROOT, PATH_TRANSLATED).
        method: REQUEST_METHOD.
        query: QUERY_STRING, still URL-encoded ('' if none).
        protocol: SERVER_PROTOCOL, such as 'HTTP/1.1'.
        headers: the request's header fields, as received.
        server_name: SERVER_NAME (the Host header's host, else the address).
        server_port: SERVER_PORT.
        server_software: SERVER_SOFTWARE.
        remote_addr: REMOTE_ADDR (REMOTE_HOST too: no DNS lookups).
        remote_port: REMOTE_PORT.
        https: set HTTPS=on.
        remote_user: REMOTE_USER and AUTH_TYPE=Basic, after Basic authentication.
        request_uri: REQUEST_URI, the request-target as sent.
        base: variables inherited from the server (PATH).
    """
    env = {name: base[name] for name in ("PATH",) if name in base}
    env.update(
        GATEWAY_INTERFACE="CGI/1.1",
        SERVER_SOFTWARE=server_software,
        SERVER_NAME=server_name,
        SERVER_PORT=str(server_port),
        SERVER_PROTOCOL=protocol,
        REQUEST_METHOD=method,
        SCRIPT_NAME=script.script_name,
        SCRIPT_FILENAME=script.path,
        PATH_INFO=script.path_info,
        QUERY_STRING=query,
        REMOTE_ADDR=remote_addr,
        REMOTE_HOST=remote_addr,
        REMOTE_PORT=str(remote_port),
        DOCUMENT_ROOT=document_root,
        REQUEST_URI=request_uri,
    )
    if script.path_info:
        env["PATH_TRANSLATED"] = os.path.join(document_root, *script.path_info.split("/"))
    if https:
        env["HTTPS"] = "on"
    if remote_user is not None:
        env["AUTH_TYPE"] = "Basic"
        env["REMOTE_USER"] = remote_user
    for name, value in headers:
        lower = name.lower()
        if lower == "content-type":
            env["CONTENT_TYPE"] = value
        elif lower == "content-length":
            env["CONTENT_LENGTH"] = value
        elif lower in _NOT_PASSED_HEADERS or "_" in name:
            # A name with "_" would collide with its "-" spelling once both
            # become HTTP_*: drop it rather than let a client spoof the other.
            continue
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            env[key] = f"{env[key]}, {value}" if key in env else value
    return env


class CgiProcess:
    """A running script: its stdout read piece by piece, under a deadline.

    How this works: the script runs directly (no shell), in its own
    directory and in a new session, so that it leads a process group of its
    own that its children join. One ``selectors`` loop, run by ``read`` in
    the caller's thread, feeds the request body to the script's stdin as
    the pipe takes it, keeps the first ``_MAX_STDERR_BYTES`` of its stderr
    (for the log) and returns its stdout as it comes, ``_READ_SIZE`` bytes
    at most: nothing waits on a pipe that the script does not serve, and
    the memory held stays bounded whatever the script writes. A timer kills
    the whole process group when ``timeout`` runs out, even while the
    caller is busy writing to a slow client; ``read`` then raises 504.
    ``close`` kills the group if the caller stops reading before the end of
    stdout, reaps the script and logs its stderr and exit status. The group
    is only signalled while the script is not reaped: until then its id
    cannot belong to another group.

    Args:
        script: the script to run.
        env: its environment.
        body: the request body, for its stdin.
        timeout: seconds the script may run.

    Raises:
        CgiError: (500) the script cannot be started.
    """

    def __init__(self, script: CgiScript, env: Mapping[str, str], body: bytes, timeout: float) -> None:
        self.script = script
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        try:
            self._popen = subprocess.Popen(
                [script.path],
                stdin=subprocess.PIPE if body else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                cwd=os.path.dirname(script.path),
                bufsize=0,
                start_new_session=True,
            )
        except OSError as exc:
            raise CgiError(
                http.HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot run cgi script {script.script_name}: {exc}"
            ) from exc
        self._lock = threading.Lock()
        self._killed = False
        self._expired = False
        self._stdout_open = True
        self._body = memoryview(body)
        self._stderr_kept = bytearray()
        self._stderr_lines = 0
        self._stderr_line_open = False
        # poll(2): no descriptor of its own, and no FD_SETSIZE limit.
        self._selector = selectors.PollSelector()
        self._stdout = self._popen.stdout
        self._stderr_pipe = self._popen.stderr
        self._stdin = self._popen.stdin
        assert self._stdout is not None and self._stderr_pipe is not None
        self._selector.register(self._stdout, selectors.EVENT_READ, self._read_stdout)
        self._selector.register(self._stderr_pipe, selectors.EVENT_READ, self._read_stderr)
        if self._stdin is not None:
            os.set_blocking(self._stdin.fileno(), False)
            self._selector.register(self._stdin, selectors.EVENT_WRITE, self._feed_stdin)
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        try:
            self._timer.start()
        except RuntimeError as exc:  # no more threads
            self.close()
            raise CgiError(
                http.HTTPStatus.SERVICE_UNAVAILABLE, f"cannot watch cgi script {script.script_name}: {exc}"
            ) from exc

    def __enter__(self) -> CgiProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read(self) -> bytes:
        """Return the next piece of the script's stdout (at most ``_READ_SIZE`` bytes), b'' at its end.

        Raises:
            CgiError: (504) the script ran over its timeout; its process
                group is killed.
        """
        while self._stdout_open:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0 or self._expired:
                break
            data = self._pump(remaining)
            if data is not None and (data or not self._expired):
                return data
        if self._expired or self._stdout_open:
            self._expire()
            message = f"cgi script {self.script.script_name} ran over {self._timeout} s"
            raise CgiError(http.HTTPStatus.GATEWAY_TIMEOUT, message)
        return b""

    def close(self) -> None:
        """Kill the script's group if its stdout was not read to the end; reap it and log what it said."""
        if self._stdout_open:
            # Nobody will read the rest: the script could only block or spin.
            self._kill_group()
        delay = 0.001
        while True:
            with self._lock:
                if self._popen.poll() is not None:
                    break
            if time.monotonic() >= self._deadline:
                self._kill_group()
            # Keep serving its stderr (a script blocked on it would never exit).
            self._pump(delay)
            delay = min(delay * 2, 0.05)
        self._timer.cancel()
        for key in list(self._selector.get_map().values()):
            self._selector.unregister(key.fileobj)
        self._selector.close()
        for pipe in (self._stdin, self._stdout, self._stderr_pipe):
            if pipe is not None:
                pipe.close()
        self._log_stderr()
        if not self._killed and self._popen.returncode != 0:
            _LOGGER.warning("cgi script %s exited with status %d", self.script.script_name, self._popen.returncode)

    def _pump(self, timeout: float) -> bytes | None:
        """Serve the pipes that are ready within ``timeout``; return what stdout gave, if it was ready."""
        data = None
        for key, _ in self._selector.select(timeout):
            received = key.data()
            if received is not None:
                data = received
        return data

    def _read_stdout(self) -> bytes:
        assert self._stdout is not None
        data = os.read(self._stdout.fileno(), _READ_SIZE)
        if not data:
            self._selector.unregister(self._stdout)
            self._stdout_open = False
        return data

    def _read_stderr(self) -> None:
        assert self._stderr_pipe is not None
        data = os.read(self._stderr_pipe.fileno(), _READ_SIZE)
        if not data:
            self._selector.unregister(self._stderr_pipe)
            return
        self._stderr_kept += data[: max(_MAX_STDERR_BYTES - len(self._stderr_kept), 0)]
        self._stderr_lines += data.count(b"\n")
        self._stderr_line_open = not data.endswith(b"\n")

    def _feed_stdin(self) -> None:
        pipe = self._stdin
        assert pipe is not None
        try:
            self._body = self._body[os.write(pipe.fileno(), self._body[:_READ_SIZE]) :]
        except BlockingIOError:
            return
        except OSError:  # the script closed its stdin: it wants no more
            self._body = self._body[:0]
        if not self._body:
            self._selector.unregister(pipe)
            pipe.close()

    def _expire(self) -> None:
        self._expired = True
        self._kill_group()

    def _kill_group(self) -> None:
        with self._lock:
            if self._popen.returncode is not None:
                return  # reaped: its id may name another process group by now
            self._killed = True
            for kill, target in ((os.killpg, self._popen.pid), (os.kill, self._popen.pid)):
                with contextlib.suppress(OSError):
                    kill(target, signal.SIGKILL)

    def _log_stderr(self) -> None:
        if not self._stderr_kept:
            return
        name = self.script.script_name
        shown = self._stderr_kept.decode("utf-8", "replace").splitlines()[:_MAX_STDERR_LINES]
        for line in shown:
            _LOGGER.warning("cgi script %s: %s", name, line)
        more = self._stderr_lines + self._stderr_line_open - len(shown)
        if more:
            _LOGGER.warning("cgi script %s: (%d more lines)", name, more)


def find_head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Find the blank line that ends a script's header lines (RFC 3875 §6).

    Lines end with LF or CRLF.

    Args:
        data: the start of the script's output.
        start: where to resume a search that found nothing in ``data[:start]``.

    Returns:
        ``(head_end, body_start)``: the header lines are ``data[:head_end]``
        (each with its line end), the body starts at ``body_start``; None
        if ``data`` has no blank line yet.
    """
    for blank in (b"\n", b"\r\n"):
        if data.startswith(blank):
            return 0, len(blank)
    search_from = max(start - 2, 0)
    ends = [
        (found + 1, found + len(blank))
        for blank in (b"\n\n", b"\n\r\n")
        for found in (data.find(blank, search_from),)
        if found >= 0
    ]
    return min(ends) if ends else None


def parse_head(head: bytes) -> CgiHead:
    """Parse a script's header lines (RFC 3875 §6.3), each ending with LF or CRLF.

    ``Status`` sets the status (default 200, or 302 with a ``Location``);
    ``Content-Length`` is kept apart; the headers the server sets itself
    are dropped. Values must be field values of RFC 9110 §5.5: no control
    character but HTAB (a bare CR is one).

    Raises:
        CgiError: (502) a malformed line, a header name that is no token, a
            value with a control character, a bad ``Status`` (1xx included:
            a script gives final responses), a bad or conflicting
            ``Content-Length``, or none of Content-Type, Location and Status.
    """
    headers: list[tuple[str, str]] = []
    status: tuple[int, str] | None = None
    location: str | None = None
    content_length: int | None = None
    content_type = False
    for raw in head.split(b"\n")[:-1]:
        line = (raw[:-1] if raw.endswith(b"\r") else raw).decode("latin-1")
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"malformed cgi header line {line!r}")
        value = value.strip(" \t")
        if _CONTROL.search(value):
            raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"control character in cgi header line {line!r}")
        lower = name.lower()
        if lower == "status":
            match = _STATUS.fullmatch(value)
            if match is None:
                raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"bad cgi Status {value!r}")
            code = int(match.group(1))
            status = (code, match.group(2) or _reason(code))
        elif lower == "content-length":
            if not _DIGITS.fullmatch(value) or content_length not in (None, int(value)):
                raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"bad cgi Content-Length {value!r}")
            content_length = int(value)
        elif lower == "location":
            location = value
            headers.append(("Location", value))
        else:
            content_type = content_type or lower == "content-type"
            if lower not in _SERVER_HEADERS:
                headers.append((name, value))
    if status is None and location is None and not content_type:
        raise CgiError(http.HTTPStatus.BAD_GATEWAY, "cgi output has none of Content-Type, Location and Status")
    # RFC 3875 §6.2.2: a local redirect is a Location path and nothing else
    # (read_output checks that no body follows).
    local_redirect = None
    if location is not None and location.startswith("/") and status is None and len(headers) == 1:
        local_redirect = location
    if status is None:
        status = (302, _reason(302)) if location is not None else (200, _reason(200))
    return CgiHead(status[0], status[1], headers, content_length, local_redirect)


def read_output(process: CgiProcess) -> CgiOutput:
    """Read a script's header lines and the start of its body.

    The body is read up to its end or until more than ``_BUFFER_BYTES``
    arrived, whichever comes first, so that a short output gets an exact
    Content-Length and a local redirect is known to have no body.

    Raises:
        CgiError: 502 (the output ends before its blank line, header lines
            over ``_MAX_HEAD_BYTES``, or ``parse_head`` refuses them), 504
            (the script ran over its timeout).
    """
    data = bytearray()
    found = None
    while found is None:
        piece = process.read()
        if not piece:
            raise CgiError(http.HTTPStatus.BAD_GATEWAY, "cgi output has no blank line after its headers")
        searched = len(data)
        data += piece
        found = find_head_end(data, searched)
        if (found[0] if found is not None else len(data)) > _MAX_HEAD_BYTES:
            raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"cgi header lines over {_MAX_HEAD_BYTES} bytes")
    head = parse_head(bytes(data[: found[0]]))
    del data[: found[1]]
    complete = False
    while len(data) <= _BUFFER_BYTES:
        piece = process.read()
        if not piece:
            complete = True
            break
        data += piece
    body = bytes(data)
    local_redirect = head.local_redirect if complete and not body else None
    return CgiOutput(head, body, complete, local_redirect)


def choose_framing(output: CgiOutput, version: str) -> CgiFraming:
    """Decide how the response body is delimited (RFC 9112 §6.3).

    A status without content (204, 304) has no body. Output that ended
    while buffered gets its exact Content-Length; longer output the
    script's ``Content-Length``; else chunked on HTTP/1.1 and, on HTTP/1.0,
    the end of the connection.

    Args:
        output: what ``read_output`` read.
        version: the request's HTTP version, such as 'HTTP/1.1'.
    """
    if output.head.status in _NO_CONTENT_STATUSES:
        return CgiFraming([], 0, chunked=False, close=False)
    if output.complete:
        length = len(output.body)
    elif output.head.content_length is not None:
        length = output.head.content_length
    elif version == "HTTP/1.1":
        return CgiFraming([("Transfer-Encoding", "chunked")], None, chunked=True, close=False)
    else:
        return CgiFraming([("Connection", "close")], None, chunked=False, close=True)
    return CgiFraming([("Content-Length", str(length))], length, chunked=False, close=False)


def chunk(data: bytes) -> tuple[bytes, bytes, bytes]:
    """Return ``data`` as one chunk of a chunked body (RFC 9112 §7.1), in three parts; ``data`` must not be empty."""
    return b"%X\r\n" % len(data), data, b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"
"""The end of a chunked body: the last chunk and no trailer."""


def send_body(
    process: CgiProcess,
    output: CgiOutput,
    framing: CgiFraming,
    write: Callable[[tuple[bytes, ...]], None],
    *,
    send: bool = True,
) -> bool:
    """Send a script's body as ``framing`` says, reading the rest of its output as it comes.

    Output beyond a Content-Length is read and dropped; so is all of it when
    ``send`` is false (HEAD) or the status has no content.

    Args:
        process: the script.
        output: what ``read_output`` read.
        framing: what ``choose_framing`` chose.
        write: sends its buffers to the client, in order.
        send: send the body (false for HEAD).

    Returns:
        False if the response was cut short (the script ran over its
        timeout, or gave fewer bytes than its Content-Length): the
        connection must be closed.

    Raises:
        OSError: ``write`` failed.
    """
    name = process.script.script_name
    declared = output.head.content_length
    has_content = output.head.status not in _NO_CONTENT_STATUSES
    if output.complete and has_content and declared not in (None, len(output.body)):
        _LOGGER.warning("cgi script %s gave Content-Length %d with %d bytes", name, declared, len(output.body))
    remaining = framing.length
    sent = dropped = 0
    piece = output.body
    ended = output.complete
    while True:
        if remaining is not None and len(piece) > remaining:
            dropped += len(piece) - remaining
            piece = piece[:remaining]
        if piece:
            if send:
                write(chunk(piece) if framing.chunked else (piece,))
            sent += len(piece)
            if remaining is not None:
                remaining -= len(piece)
        if ended:
            break
        try:
            piece = process.read()
        except CgiError as exc:
            _LOGGER.warning("%s; the response is cut short", exc)
            return False
        ended = not piece
    if dropped and has_content and declared is not None:
        _LOGGER.warning("cgi script %s wrote %d bytes over its Content-Length %d", name, dropped, declared)
    if framing.length is not None and sent < framing.length:
        _LOGGER.warning("cgi script %s ended after %d of its %d bytes (Content-Length)", name, sent, framing.length)
        return False
    if framing.chunked and send:
        write((LAST_CHUNK,))
    return not framing.close


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"
