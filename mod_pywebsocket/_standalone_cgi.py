"""A small CGI/1.1 runner (RFC 3875) for the standalone server.

Layer 3 (a private part of ``standalone``). How this works: ``find_script``
maps a URL path under one of the ``--cgi-paths`` prefixes to an executable
file inside the document root (the rest of the path becomes PATH_INFO);
``build_environment`` makes the meta-variables of RFC 3875 §4.1;
``run_script`` runs the file directly (no shell) with the request body on
stdin and a timeout; ``parse_output`` turns its stdout (CGI header lines, a
blank line, the body; RFC 3875 §6) into an HTTP status, headers and body.
"""

from __future__ import annotations

import http
import logging
import os
import posixpath
import re
import subprocess
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from mod_pywebsocket import common

__all__ = [
    "CgiError",
    "CgiResponse",
    "CgiScript",
    "build_environment",
    "find_script",
    "parse_output",
    "run_script",
]

_LOGGER = logging.getLogger("mod_pywebsocket.standalone")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STATUS = re.compile(r"([1-5][0-9][0-9])(?:[ \t]+(.*))?")
# Headers the server sets itself, or that describe the connection, not the
# response; a script's values for them are dropped (RFC 3875 §6.3.4: the
# server "MUST resolve any conflicts" with its own header fields).
_SERVER_HEADERS = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"})
# RFC 3875 §4.1.18: the server "SHOULD remove any header fields carrying
# authentication information" and those available as other meta-variables.
_NOT_PASSED_HEADERS = frozenset({"authorization", "proxy-authorization", "content-type", "content-length"})
_MAX_STDERR_LINES = 50


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


class CgiResponse(NamedTuple):
    """What a script's output asks the server to send."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    local_redirect: str | None
    """A local redirect (RFC 3875 §6.2.2): the path to serve instead."""


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


def run_script(script: CgiScript, env: Mapping[str, str], body: bytes, timeout: float) -> bytes:
    """Run ``script`` with ``body`` on stdin and return its stdout.

    The script runs in its own directory, without a shell; what it writes to
    stderr is logged as warnings.

    Raises:
        CgiError: 500 if it cannot be started, 504 if it outlives ``timeout``.
    """
    try:
        result = subprocess.run(
            [script.path],
            input=body,
            capture_output=True,
            env=dict(env),
            cwd=os.path.dirname(script.path),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        _log_stderr(script, exc.stderr)
        message = f"cgi script {script.script_name} ran over {timeout} s"
        raise CgiError(http.HTTPStatus.GATEWAY_TIMEOUT, message) from exc
    except OSError as exc:
        raise CgiError(
            http.HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot run cgi script {script.script_name}: {exc}"
        ) from exc
    _log_stderr(script, result.stderr)
    if result.returncode != 0:
        _LOGGER.warning("cgi script %s exited with status %d", script.script_name, result.returncode)
    return result.stdout


def _log_stderr(script: CgiScript, stderr: bytes | None) -> None:
    if not stderr:
        return
    lines = stderr.decode("utf-8", "replace").splitlines()
    for line in lines[:_MAX_STDERR_LINES]:
        _LOGGER.warning("cgi script %s: %s", script.script_name, line)
    if len(lines) > _MAX_STDERR_LINES:
        _LOGGER.warning("cgi script %s: (%d more lines)", script.script_name, len(lines) - _MAX_STDERR_LINES)


def parse_output(output: bytes) -> CgiResponse:
    """Turn a script's stdout into a response (RFC 3875 §6).

    Header lines end with LF or CRLF, and a blank line ends them. ``Status``
    sets the status (default 200, or 302 with a ``Location``); a
    ``Location`` that is a path with no other header is a local redirect.

    Raises:
        CgiError: (502) the output has no blank line, a malformed line, a
            bad Status, or none of Content-Type, Location and Status.
    """
    headers: list[tuple[str, str]] = []
    status: tuple[int, str] | None = None
    location: str | None = None
    content_type = False
    position = 0
    while True:
        end = output.find(b"\n", position)
        if end < 0:
            raise CgiError(http.HTTPStatus.BAD_GATEWAY, "cgi output has no blank line after its headers")
        line = output[position:end].rstrip(b"\r").decode("latin-1")
        position = end + 1
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"malformed cgi header line {line!r}")
        value = value.strip(" \t")
        lower = name.lower()
        if lower == "status":
            match = _STATUS.fullmatch(value)
            if match is None:
                raise CgiError(http.HTTPStatus.BAD_GATEWAY, f"bad cgi Status {value!r}")
            code = int(match.group(1))
            status = (code, match.group(2) or _reason(code))
        elif lower == "location":
            location = value
            headers.append(("Location", value))
        else:
            content_type = content_type or lower == "content-type"
            if lower not in _SERVER_HEADERS:
                headers.append((name, value))
    body = output[position:]
    if status is None and location is None and not content_type:
        raise CgiError(http.HTTPStatus.BAD_GATEWAY, "cgi output has none of Content-Type, Location and Status")
    # RFC 3875 §6.2.2: a local redirect is a Location path and nothing else.
    if location is not None and location.startswith("/") and status is None and len(headers) == 1 and not body:
        return CgiResponse(http.HTTPStatus.OK, "OK", [], b"", location)
    if status is None:
        status = (302, _reason(302)) if location is not None else (200, _reason(200))
    return CgiResponse(status[0], status[1], headers, body, None)


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"
