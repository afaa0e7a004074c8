"""Run a private Apache httpd with mod_python for the tests (test harness).

`Httpd` writes its own ``httpd.conf`` into a fresh world-readable temporary
directory (own ServerRoot, PidFile, ErrorLog, ``Listen 127.0.0.1:PORT``), starts
it with ``apache2 -f CONF -k start``, waits for a real HTTP reply and stops it
through its pid file. Nothing under /etc/apache2 is read or changed.

How this works, and what Debian's packages need (measured on Apache 2.4.71 and
mod_python 3.5 from Debian 12):

- The modules live in ``/usr/lib/apache2/modules``: the harness loads
  mpm_prefork, authz_core, mime, dir, alias and python, and never
  mod_reqtimeout (it would kill an idle WebSocket after 20 s).
- The ``apache2`` binary needs no variable from ``/etc/apache2/envvars`` when
  the configuration does not mention ``${APACHE_*}``, which ours does not. It
  is started with a minimal environment so that nothing from the test
  process (PYTHONPATH, PYTHONHOME, a virtualenv) leaks into the Python that
  mod_python embeds: Debian's ``/usr/bin/python3.11``, whatever ``python3`` on
  PATH is.
- When the tests run as root, the children run as ``www-data``: the handler
  root, the document root, the repository and every parent directory must be
  readable by that user. `Httpd.start` checks this and says which path is not.
- ``-k start`` detaches: the server's parent process is not our child. When it
  exits it is reparented to PID 1, which in a container may never reap it, so
  a zombie counts as stopped.

With ``http2=True`` the server also loads mod_http2 (``Protocols h2 h2c
http/1.1``, ``H2WebSockets on``: RFC 8441 WebSockets) under a threaded MPM
(worker or event): mod_http2 declares prefork unsupported (AH10034), so the
harness refuses that combination. With
``tls=(certificate, key)`` it loads mod_ssl and listens for TLS only (ALPN
``h2`` when HTTP/2 is on); `url` and `ws_url` then say https and wss.

Tests call `require_apache` (through the `httpd_factory` fixture) so that a
machine without Apache or mod_python skips them with a reason that starts with
``APACHE NOT RUN:``, never passes them silently; `require_http2` does the same
for mod_http2 and mod_ssl.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import logging
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "REPO_ROOT",
    "ApacheInstall",
    "ApacheUnavailable",
    "Httpd",
    "HttpdError",
    "HttpdFactory",
    "find_apache",
    "httpd_factory",
    "require_apache",
    "require_http2",
]

_LOGGER = logging.getLogger(__name__)

# The repository root: the directory that holds the mod_pywebsocket package.
REPO_ROOT = Path(__file__).resolve().parent.parent

SKIP_PREFIX = "APACHE NOT RUN:"

_BINARY_NAMES = ("apache2", "httpd")
_BINARY_PATH = "/usr/sbin:/usr/local/sbin:/usr/bin:/sbin:/bin"
_MODULE_DIRS = (
    "/usr/lib/apache2/modules",  # Debian, Ubuntu
    "/usr/lib64/httpd/modules",  # Fedora, RHEL
    "/usr/lib/httpd/modules",
    "/usr/libexec/apache2",
)
# LoadModule identifier -> file name. Deliberately no mod_reqtimeout.
_MODULES = (
    ("mpm_prefork_module", "mod_mpm_prefork.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("mime_module", "mod_mime.so"),
    ("dir_module", "mod_dir.so"),
    ("alias_module", "mod_alias.so"),
    ("python_module", "mod_python.so"),
)
# What http2=True and tls=... add (Debian's apache2 package ships both).
_HTTP2_MODULE = ("http2_module", "mod_http2.so")
_SSL_MODULE = ("ssl_module", "mod_ssl.so")
_RUN_USER = "www-data"

# Ports tried when the caller does not give one (the range this project may use).
_PORT_RANGE = (19500, 19999)
_BIND_ATTEMPTS = 20
_BIND_FAILURE = re.compile(r"could not bind|Address already in use|make_sock")

# What a copy of the repository holds (Httpd's copy_repository).
_COPIED_PARTS = ("mod_pywebsocket", "pywebsocket3", "example", "test/testdata")

STATIC_FILE_NAME = "static.txt"
STATIC_FILE_BODY = b"static file served by Apache\n"


class ApacheUnavailable(Exception):
    """Apache httpd or mod_python is not installed here."""


class HttpdError(Exception):
    """The private httpd could not be configured, started or stopped."""


@dataclasses.dataclass(frozen=True)
class ApacheInstall:
    """Where the Apache binary and its modules are.

    Attributes:
        binary: path of the ``apache2`` (or ``httpd``) executable.
        modules_dir: directory that holds ``mod_python.so`` and the MPMs.
    """

    binary: str
    modules_dir: str


def find_apache() -> ApacheInstall:
    """Locate Apache httpd and the modules the harness loads.

    Returns:
        The binary and the module directory.

    Raises:
        ApacheUnavailable: the binary or one of the modules is missing; the
            message says what and how to install it.
    """
    binary = None
    for name in _BINARY_NAMES:
        binary = shutil.which(name, path=_BINARY_PATH)
        if binary:
            break
    if binary is None:
        raise ApacheUnavailable(
            f"no apache2/httpd binary in {_BINARY_PATH}; install the Debian packages in "
            "requirements/debian.txt (sh tools/install-system-packages.sh)"
        )
    missing_everywhere = None
    for modules_dir in _MODULE_DIRS:
        missing = [file_name for _, file_name in _MODULES if not os.path.isfile(os.path.join(modules_dir, file_name))]
        if not missing:
            return ApacheInstall(binary=binary, modules_dir=modules_dir)
        if missing_everywhere is None or len(missing) < len(missing_everywhere[1]):
            missing_everywhere = (modules_dir, missing)
    assert missing_everywhere is not None
    raise ApacheUnavailable(
        "{} found, but {} lacks {} (mod_python comes from Debian's "
        "libapache2-mod-python; sh tools/install-system-packages.sh installs it)".format(
            binary, missing_everywhere[0], ", ".join(missing_everywhere[1])
        )
    )


def require_apache() -> ApacheInstall:
    """Return the Apache install, or skip the calling test loudly.

    Returns:
        The binary and module directory found by `find_apache`.
    """
    try:
        return find_apache()
    except ApacheUnavailable as exc:
        pytest.skip(f"{SKIP_PREFIX} {exc}")


def require_http2() -> ApacheInstall:
    """Return the Apache install if it has mod_http2 and mod_ssl, or skip the calling test loudly.

    Returns:
        The binary and module directory found by `find_apache`.
    """
    install = require_apache()
    missing = [
        file_name
        for _, file_name in (_HTTP2_MODULE, _SSL_MODULE)
        if not os.path.isfile(os.path.join(install.modules_dir, file_name))
    ]
    if missing:
        pytest.skip(f"{SKIP_PREFIX} {install.modules_dir} lacks {', '.join(missing)} (Debian's apache2 ships them)")
    return install


def _quote(value: str) -> str:
    """Quote a value for an httpd.conf directive argument."""
    return '"{}"'.format(value.replace("\\", "\\\\").replace('"', '\\"'))


def _can_read(path: str, st: os.stat_result, uid: int, gids: set[int]) -> bool:
    """Tell whether uid (in groups gids) may read path (and enter it if a dir)."""
    needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else 0)
    if st.st_uid == uid:
        needed <<= 6
    elif st.st_gid in gids:
        needed <<= 3
    return (st.st_mode & needed) == needed


def _can_traverse(st: os.stat_result, uid: int, gids: set[int]) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def unreadable_paths(path: str, user: str = _RUN_USER, recursive: bool = False) -> list[str]:
    """List the reasons why user cannot read path.

    Args:
        path: a file or directory.
        user: the account Apache's children run as.
        recursive: also check everything under path.

    Returns:
        One line per offending path (empty when all is readable).
    """
    entry = pwd.getpwnam(user)
    uid = entry.pw_uid
    gids = {entry.pw_gid} | set(os.getgrouplist(user, entry.pw_gid))
    problems = []
    absolute = os.path.abspath(path)
    parent = os.path.dirname(absolute)
    parents = []
    while True:
        parents.append(parent)
        if parent == os.path.dirname(parent):
            break
        parent = os.path.dirname(parent)
    for directory in reversed(parents):
        st = os.stat(directory)
        if not _can_traverse(st, uid, gids):
            problems.append(f"{directory} (mode {st.st_mode & 0o7777:o}) cannot be entered by {user}")
    targets = [absolute]
    if recursive and os.path.isdir(absolute):
        for dirpath, dirnames, filenames in os.walk(absolute):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            targets.extend(os.path.join(dirpath, n) for n in dirnames + filenames)
    for target in targets:
        try:
            st = os.stat(target)
        except OSError as exc:
            problems.append(f"{target}: {exc}")
            continue
        if not _can_read(target, st, uid, gids):
            problems.append(f"{target} (mode {st.st_mode & 0o7777:o}) is not readable by {user}")
    return problems


def _process_gone(pid: int) -> bool:
    """Tell whether pid has exited (a zombie nobody reaps counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return fields[0] in (b"Z", b"X")


def _children_of(pid: int) -> list[int]:
    children = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(name))
    return children


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline_file:
            return cmdline_file.read()
    except OSError:
        return b""


class Httpd:
    """A private Apache httpd running mod_pywebsocket through mod_python.

    Typical use::

        server = Httpd(handler_root, options={"mod_pywebsocket.allow_draft75": "On"})
        server.start()
        ...  # connect to server.ws_url("/echo")
        server.stop()

    Attributes:
        port: the TCP port on 127.0.0.1 (0 until started).
        directory: the temporary ServerRoot (None until started).
        document_root: the DocumentRoot in use.
        repo_root: the repository directory on Apache's PythonPath: the
            checkout itself, or its copy (see ``copy_repository``).
    """

    def __init__(
        self,
        handler_root: str | os.PathLike[str] | None = None,
        document_root: str | os.PathLike[str] | None = None,
        options: Mapping[str, str] | None = None,
        *,
        handler: str = "mod_pywebsocket.headerparserhandler",
        python_path: Sequence[str | os.PathLike[str]] = (),
        extra_config: str = "",
        log_level: str = "info",
        mpm: str = "prefork",
        timeout: int = 300,
        port: int | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 30.0,
        keep_directory: bool | None = None,
        copy_repository: bool | None = None,
        http2: bool = False,
        tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    ) -> None:
        """Describe a server; nothing happens until `start`.

        Args:
            handler_root: sets ``PythonOption mod_pywebsocket.handler_root``;
                None leaves the option out.
            document_root: the DocumentRoot; None makes one in the temporary
                directory holding ``static.txt`` (STATIC_FILE_BODY).
            options: more ``PythonOption`` name/value pairs, written as given.
            handler: the module named by ``PythonHeaderParserHandler``; None
                leaves the directive out.
            python_path: directories added to the repository root on
                ``PythonPath``.
            extra_config: text appended to httpd.conf.
            log_level: ``LogLevel`` of the error log.
            mpm: the multi-processing module: prefork, worker or event.
            timeout: Apache's ``Timeout`` in seconds.
            port: a fixed port; None tries free ports in 19500-19999.
            start_timeout: how long `start` waits for the first HTTP reply.
            stop_timeout: how long `stop` waits for the processes to exit.
            keep_directory: keep the temporary directory after `stop`;
                None reads the MOD_PYWEBSOCKET_KEEP_HTTPD environment variable.
            copy_repository: run Apache on a world-readable copy of the
                repository's mod_pywebsocket, pywebsocket3, example and
                test/testdata (paths under the repository given as arguments,
                option values or in extra_config are mapped to the copy). None copies only when www-data cannot read the
                repository, as in a checkout under a mode-700 directory.
            http2: load mod_http2 with ``Protocols h2 h2c http/1.1`` and
                ``H2WebSockets on``; needs mpm worker or event.
            tls: ``(certificate, key)`` PEM files: load mod_ssl and serve
                TLS only (``SSLEngine on``) with them.

        Raises:
            ValueError: an unknown MPM, or http2 with prefork.
        """
        self._given_handler_root = None if handler_root is None else os.path.abspath(handler_root)
        self._given_document_root = None if document_root is None else os.path.abspath(document_root)
        self._given_options = dict(options or {})
        self._given_python_path = [str(REPO_ROOT)] + [os.path.abspath(p) for p in python_path]
        self._handler = handler
        self._copy_repository = copy_repository
        # What Apache uses: the given paths, or their copies (see _stage_repository).
        self._handler_root = self._given_handler_root
        self._options = self._given_options
        self._python_path = self._given_python_path
        self.repo_root = str(REPO_ROOT)
        self._extra_config = extra_config
        self._log_level = log_level
        if mpm not in ("prefork", "worker", "event"):
            raise ValueError(f"unknown MPM {mpm!r}")
        self._mpm = mpm
        if http2 and mpm == "prefork":
            raise ValueError("mod_http2 does not support mpm prefork (AH10034): use mpm='event' or 'worker'")
        self._http2 = http2
        self._tls = None if tls is None else (os.path.abspath(tls[0]), os.path.abspath(tls[1]))
        self._timeout = timeout
        self._fixed_port = port
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        if keep_directory is None:
            keep_directory = bool(os.environ.get("MOD_PYWEBSOCKET_KEEP_HTTPD"))
        self._keep_directory = keep_directory
        self._install: ApacheInstall | None = None
        self._pid: int | None = None
        self._final_log: str | None = None
        self.port = 0
        self.directory: str | None = None
        self.document_root: str | None = self._given_document_root

    # -- paths --------------------------------------------------------------

    @property
    def conf_path(self) -> str:
        """The httpd.conf written by `start`."""
        assert self.directory is not None, "not started"
        return os.path.join(self.directory, "httpd.conf")

    @property
    def pid_path(self) -> str:
        """The PidFile of the server."""
        assert self.directory is not None, "not started"
        return os.path.join(self.directory, "httpd.pid")

    @property
    def error_log_path(self) -> str:
        """The ErrorLog of the server."""
        assert self.directory is not None, "not started"
        return os.path.join(self.directory, "error.log")

    @property
    def pid(self) -> int | None:
        """The pid of the server's parent process, while it runs."""
        return self._pid

    def url(self, path: str = "/") -> str:
        """Return the http:// (https:// with tls) URL of path on this server."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str = "/") -> str:
        """Return the ws:// (wss:// with tls) URL of path on this server."""
        scheme = "wss" if self._tls else "ws"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    # -- logs ---------------------------------------------------------------

    def error_log_text(self) -> str:
        """Return the whole error log so far (also after `stop`)."""
        if self._final_log is not None and (self.directory is None or not os.path.exists(self.error_log_path)):
            return self._final_log
        if self.directory is None:
            return ""
        try:
            with open(self.error_log_path, encoding="utf-8", errors="replace") as log:
                return log.read()
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        """Wait until the error log matches a regular expression.

        Args:
            pattern: a `re` pattern searched in the log.
            timeout: seconds to wait.
            start: offset in the log text where the search starts.

        Returns:
            The match.

        Raises:
            AssertionError: no match within timeout (the log is in the message).
        """
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while True:
            text = self.error_log_text()
            match = compiled.search(text, start)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in the error log within {timeout:.1f} s:\n{text[start:]}")
            time.sleep(0.05)

    # -- configuration ------------------------------------------------------

    def _config_text(self, port: int) -> str:
        assert self._install is not None and self.directory is not None
        directory = self.directory
        lines = [
            "# Written by test/httpd.py for one test run; do not edit.",
            f"ServerRoot {_quote(directory)}",
            "ServerName 127.0.0.1",
            f"PidFile {_quote(self.pid_path)}",
            f"ErrorLog {_quote(self.error_log_path)}",
            f"LogLevel {self._log_level}",
            f"DefaultRuntimeDir {_quote(directory)}",
        ]
        for identifier, file_name in _MODULES:
            if identifier == "mpm_prefork_module":
                identifier, file_name = f"mpm_{self._mpm}_module", f"mod_mpm_{self._mpm}.so"
            lines.append(f"LoadModule {identifier} {_quote(os.path.join(self._install.modules_dir, file_name))}")
        if self._http2:
            identifier, file_name = _HTTP2_MODULE
            lines.append(f"LoadModule {identifier} {_quote(os.path.join(self._install.modules_dir, file_name))}")
        if self._tls:
            identifier, file_name = _SSL_MODULE
            lines.append(f"LoadModule {identifier} {_quote(os.path.join(self._install.modules_dir, file_name))}")
        if os.geteuid() == 0:
            lines += [f"User {_RUN_USER}", f"Group {_RUN_USER}"]
        lines += [
            f"Listen 127.0.0.1:{port}",
            # WebSocket connections stay open: no idle cut-off from Apache.
            f"Timeout {self._timeout}",
            "KeepAlive On",
            "KeepAliveTimeout 5",
            "MaxConnectionsPerChild 0",
        ]
        if self._http2:
            lines += ["Protocols h2 h2c http/1.1", "H2WebSockets on"]
        if self._tls:
            lines += [
                "SSLEngine on",
                f"SSLCertificateFile {_quote(self._tls[0])}",
                f"SSLCertificateKeyFile {_quote(self._tls[1])}",
            ]
        if self._mpm == "prefork":
            # One child per open connection: keep enough of them warm.
            lines += [
                "StartServers 4",
                "MinSpareServers 4",
                "MaxSpareServers 32",
                "ServerLimit 64",
                "MaxRequestWorkers 64",
            ]
        else:
            # One thread per open connection, in two processes.
            lines += [
                "StartServers 2",
                "ServerLimit 2",
                "ThreadsPerChild 32",
                "ThreadLimit 32",
                "MaxRequestWorkers 64",
                "MinSpareThreads 8",
                "MaxSpareThreads 64",
            ]
        if os.path.isfile("/etc/mime.types"):
            lines.append("TypesConfig /etc/mime.types")
        else:
            lines.append("AddType text/plain .txt")
        assert self.document_root is not None
        lines += [
            f"DocumentRoot {_quote(self.document_root)}",
            "DirectoryIndex index.html",
            "<Directory />",
            "    Options None",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
            f"<Directory {_quote(self.document_root)}>",
            "    Require all granted",
            "</Directory>",
            "PythonAutoReload Off",
            f'PythonPath "sys.path+{self._python_path!r}"',
            f"PythonOption mod_python.mutex_directory {_quote(directory)}",
        ]
        if self._handler_root is not None:
            lines.append(f"PythonOption mod_pywebsocket.handler_root {_quote(self._handler_root)}")
        for name, value in self._options.items():
            lines.append(f"PythonOption {name} {_quote(value)}")
        if self._handler is not None:
            # One interpreter, and the handler's module imported when a child
            # starts: mod_python takes a module from sys.modules before its
            # import has finished, and creates several sub-interpreters of one
            # name, when first requests arrive at once (HTTP/2 streams, threaded
            # MPMs): 500s with "contains no 'headerparserhandler'".
            lines += [
                "PythonInterpreter main_interpreter",
                f"PythonImport {self._handler.split('::')[0]} main_interpreter",
                f"PythonHeaderParserHandler {self._handler}",
            ]
        if self._extra_config:
            lines.append(self._extra_config)
        return "\n".join(lines) + "\n"

    def _check_readable(self) -> None:
        """Fail early, and clearly, when www-data cannot read what it needs."""
        if os.geteuid() != 0:
            return  # The children keep our own user.
        try:
            pwd.getpwnam(_RUN_USER)
        except KeyError as exc:
            raise HttpdError(f"user {_RUN_USER} does not exist: cannot run Apache's children") from exc
        problems = []
        assert self.directory is not None and self.document_root is not None
        problems += unreadable_paths(self.directory)
        problems += self._repository_problems()
        for entry in self._python_path[1:]:
            problems += unreadable_paths(entry, recursive=True)
        if self._handler_root is not None and os.path.exists(self._handler_root):
            problems += unreadable_paths(self._handler_root, recursive=True)
        problems += unreadable_paths(self.document_root)
        if problems:
            raise HttpdError(
                "Apache's children run as {} and could not read:\n  {}".format(
                    _RUN_USER, "\n  ".join(dict.fromkeys(problems))
                )
            )

    def _repository_problems(self) -> list[str]:
        """List what www-data cannot read of the repository Apache would use."""
        problems = unreadable_paths(self.repo_root)
        problems += unreadable_paths(os.path.join(self.repo_root, "mod_pywebsocket"), recursive=True)
        return problems

    def _needs_copy(self) -> bool:
        if self._copy_repository is not None:
            return self._copy_repository
        if os.geteuid() != 0:
            return False
        if self._repository_problems():
            return True
        given = [self._given_handler_root, *self._given_python_path[1:]]
        return any(
            unreadable_paths(path, recursive=True)
            for path in given
            if path and _is_under(path, REPO_ROOT) and os.path.exists(path)
        )

    def _stage_repository(self) -> None:
        """Copy the repository's runtime and test data where www-data can read them."""
        assert self.directory is not None
        copy = os.path.join(self.directory, "repo")
        for part in _COPIED_PARTS:
            source = REPO_ROOT / part
            if source.exists():
                shutil.copytree(
                    source,
                    os.path.join(copy, part),
                    symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
        for dirpath, _, filenames in os.walk(copy):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o644)
        _LOGGER.warning("www-data cannot read %s: Apache runs a copy in %s", REPO_ROOT, copy)

        def mapped(path: str) -> str:
            if _is_under(path, REPO_ROOT):
                return os.path.normpath(os.path.join(copy, os.path.relpath(path, REPO_ROOT)))
            return path

        self.repo_root = copy
        self._python_path = [mapped(p) for p in self._given_python_path]
        if self._given_handler_root is not None:
            self._handler_root = mapped(self._given_handler_root)
        self._options = {
            name: mapped(value) if os.path.isabs(value) else value for name, value in self._given_options.items()
        }
        if self._given_document_root is not None:
            self.document_root = mapped(self._given_document_root)
        self._extra_config = self._extra_config.replace(str(REPO_ROOT), copy)

    def _make_directory(self) -> str:
        """Create a temporary ServerRoot that www-data can enter."""
        bases = [tempfile.gettempdir(), "/tmp"]
        for base in bases:
            if os.geteuid() != 0 or not unreadable_paths(base):
                break
        else:
            raise HttpdError(f"no temporary directory readable by {_RUN_USER}: {unreadable_paths(bases[0])}")
        directory = tempfile.mkdtemp(prefix="pywebsocket-httpd-", dir=base)
        os.chmod(directory, 0o755)
        return directory

    # -- life cycle ---------------------------------------------------------

    def start(self) -> Httpd:
        """Write the configuration, start httpd and wait for an HTTP reply.

        Returns:
            self, started.

        Raises:
            ApacheUnavailable: Apache or mod_python is not installed.
            HttpdError: the server did not start or did not answer in time;
                the message holds the error log.
        """
        if self._pid is not None:
            raise HttpdError("already started")
        self._install = find_apache()
        self.directory = self._make_directory()
        self._final_log = None
        try:
            if self._needs_copy():
                self._stage_repository()
            if self._given_document_root is None:
                self.document_root = os.path.join(self.directory, "htdocs")
                os.mkdir(self.document_root)
                os.chmod(self.document_root, 0o755)
                static = os.path.join(self.document_root, STATIC_FILE_NAME)
                with open(static, "wb") as static_file:
                    static_file.write(STATIC_FILE_BODY)
                os.chmod(static, 0o644)
            self._check_readable()
            self._launch()
            self._wait_until_serving()
        except BaseException:
            self._final_log = self.error_log_text()
            self._terminate()
            self._remove_directory()
            raise
        return self

    def _environment(self) -> dict[str, str]:
        # Nothing of ours (PYTHONPATH, PYTHONHOME, VIRTUAL_ENV...) must reach
        # the Python embedded by mod_python. LANG=C is what Debian's envvars set.
        return {"PATH": _BINARY_PATH, "LANG": "C"}

    def _launch(self) -> None:
        assert self._install is not None
        if self._fixed_port is not None:
            candidates = [self._fixed_port]
        else:
            candidates = random.sample(range(_PORT_RANGE[0], _PORT_RANGE[1] + 1), _BIND_ATTEMPTS)
        failure = ""
        for port in candidates:
            if self._fixed_port is None and not _port_looks_free(port):
                continue
            with open(self.conf_path, "w", encoding="utf-8") as conf:
                conf.write(self._config_text(port))
            os.chmod(self.conf_path, 0o644)
            result = subprocess.run(
                [self._install.binary, "-f", self.conf_path, "-k", "start"],
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self._start_timeout,
                check=False,
            )
            output = (result.stdout + result.stderr).decode("utf-8", "replace")
            if result.returncode == 0:
                self.port = port
                self._pid = self._read_pid(self._start_timeout)
                return
            failure = output + self.error_log_text()
            if not _BIND_FAILURE.search(failure):
                break
            _LOGGER.info("port %d is taken, trying another one", port)
        raise HttpdError(f"{self._install.binary} -f {self.conf_path} -k start failed:\n{failure}")

    def _read_pid(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.pid_path, encoding="ascii") as pid_file:
                    text = pid_file.read().strip()
                if text:
                    return int(text)
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise HttpdError(f"no pid file {self.pid_path} after {timeout:.0f} s")
            time.sleep(0.02)

    def _wait_until_serving(self) -> None:
        """Wait for any complete HTTP reply to GET /."""
        assert self._pid is not None
        deadline = time.monotonic() + self._start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if _process_gone(self._pid):
                raise HttpdError(f"httpd exited during start-up:\n{self.error_log_text()}")
            connection: http.client.HTTPConnection
            if self._tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5, context=context)
            else:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/", headers={"Connection": "close"})
                connection.getresponse().read()
                return
            except (OSError, http.client.HTTPException) as exc:
                last_error = exc
            finally:
                connection.close()
            time.sleep(0.05)
        raise HttpdError(
            f"no HTTP reply from 127.0.0.1:{self.port} within {self._start_timeout:.0f} s"
            f" ({last_error!r}):\n{self.error_log_text()}"
        )

    def stop(self) -> None:
        """Stop the server and wait until its processes are gone.

        Sends SIGTERM to the pid from the pid file (what ``-k stop`` does),
        then SIGKILL to whatever is left after stop_timeout. Removes the
        temporary directory unless asked to keep it; `error_log_text` still
        works afterwards. Stopping a stopped server does nothing.
        """
        if self._pid is None:
            return
        try:
            self._terminate()
        finally:
            self._final_log = self.error_log_text()
            self._remove_directory()

    def _terminate(self) -> None:
        pid = self._pid
        self._pid = None
        if pid is None or _process_gone(pid):
            return
        assert self.directory is not None
        # Never signal a recycled pid: it must still be our httpd.
        if self.conf_path.encode() not in _cmdline(pid):
            return
        children = _children_of(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + self._stop_timeout
        while time.monotonic() < deadline:
            if _process_gone(pid) and all(_process_gone(c) for c in children):
                return
            time.sleep(0.05)
        for leftover in [pid, *children]:
            if not _process_gone(leftover) and self.conf_path.encode() in _cmdline(leftover):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(leftover, signal.SIGKILL)
        raise HttpdError(f"httpd pid {pid} did not stop within {self._stop_timeout:.0f} s")

    def _remove_directory(self) -> None:
        if self.directory is None:
            return
        if self._keep_directory:
            _LOGGER.warning("keeping the httpd directory %s", self.directory)
            return
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Httpd:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _is_under(path: str | os.PathLike[str], directory: str | os.PathLike[str]) -> bool:
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return os.path.commonpath([path, directory]) == directory


def _port_looks_free(port: int) -> bool:
    """Tell whether nothing listens on 127.0.0.1:port right now (a hint only)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class HttpdFactory:
    """Build and start `Httpd` servers, and stop them all in `close`.

    Calling the factory takes `Httpd`'s arguments, skips the calling test with
    an ``APACHE NOT RUN:`` reason when Apache or mod_python is missing, and
    returns the started server.
    """

    def __init__(self) -> None:
        self._servers: list[Httpd] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Httpd:
        require_apache()
        server = Httpd(*args, **kwargs)
        self._servers.append(server)
        return server.start()

    def close(self) -> None:
        """Stop every server started so far.

        Raises:
            HttpdError: a server did not stop (after trying all of them).
        """
        errors = []
        for server in self._servers:
            try:
                server.stop()
            except HttpdError as exc:
                errors.append(str(exc))
        self._servers.clear()
        if errors:
            raise HttpdError("\n".join(errors))


@pytest.fixture
def httpd_factory() -> Iterator[HttpdFactory]:
    """Give an `HttpdFactory`; every server it started is stopped afterwards."""
    factory = HttpdFactory()
    try:
        yield factory
    finally:
        factory.close()
