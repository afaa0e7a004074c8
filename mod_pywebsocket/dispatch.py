"""Load ``*_wsh.py`` handlers and run them; map their failures to close codes.

Layer 2. A handler file ``<root>/a/b_wsh.py`` serves the resource ``/a/b``.
Every handler under the scan directory is loaded once, when the
``Dispatcher`` is built, and shared by all connections; with ``reload``,
a lookup also loads a handler file added since, and reloads one changed
since (``Dispatcher.get_handler_suite``).
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from mod_pywebsocket import common
from mod_pywebsocket._stream_base import ConnectionTerminatedException
from mod_pywebsocket.handshake._base import AbortedByUserException, HandshakeException

__all__ = ["DispatchException", "Dispatcher"]

_LOGGER = logging.getLogger(__name__)

_SOURCE_SUFFIX = "_wsh.py"
_DO_EXTRA_HANDSHAKE_HANDLER_NAME = "web_socket_do_extra_handshake"
_TRANSFER_DATA_HANDLER_NAME = "web_socket_transfer_data"
_PASSIVE_CLOSING_HANDSHAKE_HANDLER_NAME = "web_socket_passive_closing_handshake"
_DEFAULT_PASSIVE_CLOSING = (common.STATUS_NORMAL_CLOSURE, "")


class DispatchException(common.WebSocketException):
    """No usable handler: a bad handler root, an unknown or malformed resource.

    Attributes:
        status: the HTTP status for the client (404 unless said otherwise).
    """

    status: int

    def __init__(self, name: str, status: int = common.HTTP_STATUS_NOT_FOUND) -> None:
        super().__init__(name)
        self.status = status


class _HandlerSuite(NamedTuple):
    do_extra_handshake: Callable[[Any], Any]
    transfer_data: Callable[[Any], Any]
    passive_closing_handshake: Callable[[Any], Any] | None
    source_path: str
    # (st_mtime_ns, st_size) of the file when it was read; None for source given as text.
    stamp: tuple[int, int] | None = None


def _is_within(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def _module_name(resource: str) -> str:
    return "_pywebsocket_handler_" + re.sub(r"\W", "_", resource.strip("/"))


def _normalize_path(path: str) -> str:
    r"""Return the absolute real path of ``path`` with ``/`` separators.

    ``path`` may use ``\`` or ``/`` as the separator, whatever the platform.
    """
    return os.path.realpath(path.replace("\\", os.path.sep)).replace("\\", "/")


def _resource_name(root: str, path: str) -> str:
    """Return the resource a handler file under ``root`` serves: ``<root>/a/b_wsh.py`` -> ``/a/b``."""
    relative = os.path.relpath(path, root)
    return "/" + relative[: -len(_SOURCE_SUFFIX)].replace(os.sep, "/")


def _create_path_to_resource_converter(base_dir: str) -> Callable[[str], str | None]:
    r"""Return a function that maps a handler file path to its resource name.

    The function takes an absolute path (``\`` or ``/`` separators) and
    returns the resource (``<base_dir>/a/b_wsh.py`` -> ``/a/b``), or None for
    a path that is not a ``*_wsh.py`` file under ``base_dir``. ``base_dir``
    is made absolute with symlinks resolved (``_normalize_path``); the paths
    given to the function are taken as they are.
    """
    base = _normalize_path(base_dir)

    def converter(path: str) -> str | None:
        path = path.replace("\\", "/")
        if not path.lower().endswith(_SOURCE_SUFFIX) or not os.path.isabs(path) or not _is_within(path, base):
            return None
        return _resource_name(base, path)

    return converter


def _enumerate_handler_file_paths(directory: str, warn: Callable[[str], None] | None = None) -> Iterator[str]:
    """Yield the ``*_wsh.py`` files (any case) under ``directory``, in sorted order.

    Directory symlinks are followed, each real directory once: a link to
    ``.`` or to a parent would otherwise loop. ``warn`` is told about each
    link skipped that way.
    """
    visited = {os.path.realpath(directory)}
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        kept = []
        for name in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, name))
            if real in visited:
                if warn is not None:
                    warn(f"{os.path.join(dirpath, name)} leads to a directory already scanned; skipped")
                continue
            visited.add(real)
            kept.append(name)
        dirnames[:] = kept
        for filename in sorted(filenames):
            if filename.lower().endswith(_SOURCE_SUFFIX):
                yield os.path.join(dirpath, filename)


def _source_handler_file(
    handler_definition: str | bytes, source_path: str = "<handler>", module_name: str | None = None
) -> _HandlerSuite:
    """Run handler source as a new module and return its handler functions.

    Args:
        handler_definition: Python source that defines
            ``web_socket_do_extra_handshake`` and ``web_socket_transfer_data``
            (and maybe ``web_socket_passive_closing_handshake``).
        source_path: where the source came from (``__file__``, tracebacks).
        module_name: if given, the module is registered in ``sys.modules``
            under this name, as an imported module would be.

    Raises:
        DispatchException: the source does not compile, raises while it
            runs, or lacks a required function.
    """
    try:
        code = compile(handler_definition, source_path, "exec")
    except (SyntaxError, ValueError) as exc:
        raise DispatchException(f"cannot load {source_path}: {exc}") from exc
    module = types.ModuleType(module_name or "_pywebsocket_handler")
    module.__file__ = source_path
    if module_name is not None:
        sys.modules[module_name] = module
    try:
        try:
            exec(code, module.__dict__)
        except Exception as exc:  # a handler file may raise anything while loading
            raise DispatchException(f"{source_path} raised while loading: {exc!r}") from exc
        functions = []
        for name in (_DO_EXTRA_HANDSHAKE_HANDLER_NAME, _TRANSFER_DATA_HANDLER_NAME):
            function = getattr(module, name, None)
            if not callable(function):
                raise DispatchException(f"{source_path} has no function {name}")
            functions.append(function)
    except DispatchException:
        if module_name is not None:
            sys.modules.pop(module_name, None)
        raise
    passive = getattr(module, _PASSIVE_CLOSING_HANDSHAKE_HANDLER_NAME, None)
    return _HandlerSuite(functions[0], functions[1], passive if callable(passive) else None, source_path)


def _stamp(path: str) -> tuple[int, int] | None:
    """Return what tells a changed file apart, ``(st_mtime_ns, st_size)``; None if ``path`` is gone."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _load_handler_suite(path: str, resource: str, encoding: str | None = None) -> _HandlerSuite:
    """Load the handler file ``path``, which serves ``resource``.

    Args:
        path: the handler file.
        resource: the resource it serves.
        encoding: the file's text encoding; None reads it as Python reads
            source files (a PEP 263 coding declaration, else UTF-8).

    Raises:
        DispatchException: see ``_source_handler_file``; or the file cannot
            be read or decoded.
    """
    stamp = _stamp(path)
    try:
        with open(path, "rb") as source_file:
            data = source_file.read()
        source: str | bytes = data if encoding is None else data.decode(encoding)
    except (OSError, ValueError) as exc:
        raise DispatchException(f"cannot load {path}: {exc}") from exc
    return _source_handler_file(source, path, _module_name(resource))._replace(stamp=stamp)


class _LoadFailure(NamedTuple):
    path: str
    message: str
    stamp: tuple[int, int] | None


# How many resource names a 404's explanation lists before "...".
_NAMES_IN_EXPLANATION = 10


class Dispatcher:
    """Maps resources to handler suites and runs the handlers.

    Args:
        root_dir: the handler root; resource names are paths relative to it.
        scan_dir: load only the handlers under this directory (default: the
            root). It must lie under ``root_dir``.
        allow_handlers_outside_root_dir: load handler files whose real path
            (symlinks resolved) leaves the root.
        handler_encoding: the text encoding of the handler files (the
            standalone server's ``--handler-encoding``); None reads them as
            Python reads source files (a coding declaration, else UTF-8).
        reload: check the handler file at each lookup (the standalone
            server's ``--reload``): a file added under the scan directory
            since is loaded, a changed one is loaded again, and the resource
            of a file that is gone is no longer served. Connections already
            open keep the functions they started with.

    Raises:
        DispatchException: ``scan_dir`` is not under ``root_dir``.
        LookupError: ``handler_encoding`` names no codec.
    """

    def __init__(
        self,
        root_dir: str,
        scan_dir: str | None = None,
        allow_handlers_outside_root_dir: bool = True,
        handler_encoding: str | None = None,
        reload: bool = False,
    ) -> None:
        if handler_encoding is not None:
            codecs.lookup(handler_encoding)
        self._handler_encoding = handler_encoding
        self._logger = _LOGGER
        self._handler_suite_map: dict[str, _HandlerSuite] = {}
        self._source_warnings: list[str] = []
        # Resource -> why its handler file did not load (explains a 404).
        self._load_failures: dict[str, _LoadFailure] = {}
        # Alias -> the resource it serves (add_resource_path_alias).
        self._aliases: dict[str, str] = {}
        root = os.path.abspath(root_dir)
        scan = os.path.abspath(scan_dir) if scan_dir is not None else root
        if not _is_within(os.path.realpath(scan), os.path.realpath(root)):
            raise DispatchException(f"scan directory {scan} must be under the handler root {root}")
        self._root_dir = root
        self._scan_dir = scan
        self._allow_outside = allow_handlers_outside_root_dir
        self._reload = reload
        self._reload_lock = threading.Lock()
        self._source_handler_files_in_dir(root, scan, allow_handlers_outside_root_dir)

    def _source_handler_files_in_dir(self, root: str, scan: str, allow_outside: bool) -> None:
        for path in _enumerate_handler_file_paths(scan, self._warn):
            self._load(path)

    def _load(self, path: str) -> _HandlerSuite | None:
        """Load the handler file ``path`` into the map; on failure, record why and warn."""
        resource = _resource_name(self._root_dir, path)
        self._handler_suite_map.pop(resource, None)
        if not self._allow_outside and not _is_within(os.path.realpath(path), os.path.realpath(self._root_dir)):
            message = f"{path} is outside the handler root {self._root_dir}; not loaded"
        else:
            try:
                suite = _load_handler_suite(path, resource, self._handler_encoding)
            except DispatchException as exc:
                message = str(exc)
            else:
                self._handler_suite_map[resource] = suite
                self._load_failures.pop(resource, None)
                return suite
        self._load_failures[resource] = _LoadFailure(path, message, _stamp(path))
        self._warn(message)
        return None

    def _warn(self, message: str) -> None:
        self._source_warnings.append(message)
        _LOGGER.warning("%s", message)

    def add_resource_path_alias(self, alias_resource_path: str, existing_resource_path: str) -> None:
        """Serve ``existing_resource_path``'s handler at ``alias_resource_path`` too.

        Raises:
            DispatchException: no handler serves ``existing_resource_path``.
        """
        suite = self._handler_suite_map.get(existing_resource_path)
        if suite is None:
            raise DispatchException(f"no handler for {existing_resource_path}")
        self._handler_suite_map[alias_resource_path] = suite
        self._aliases[alias_resource_path] = existing_resource_path

    def source_warnings(self) -> list[str]:
        """Return the problems met while loading handlers."""
        return self._source_warnings

    def resources(self) -> dict[str, str]:
        """Return each resource served (aliases included) and its handler file, sorted by resource."""
        with self._reload_lock:  # with reload, request threads may change the map meanwhile
            suites = dict(self._handler_suite_map)
        return {resource: suites[resource].source_path for resource in sorted(suites)}

    def explain_missing(self, resource: str) -> str:
        """Return why no handler serves ``resource`` (its query ignored), for the log of a 404.

        Either its handler file did not load, and why; or it was added
        after the start (without ``reload``); or no handler file serves that
        name, with the names that are served.
        """
        path = resource.split("?", 1)[0]
        failure = self._load_failures.get(self._aliases.get(path, path))
        if failure is not None:
            return f"its handler file did not load: {failure.message}"
        late = None if self._reload else self._find_handler_file(path)
        if late is not None:
            return f"{late} was added after the start (restart the server, or run it with --reload)"
        names = list(self.resources())
        if not names:
            served = "none is served at all"
        else:
            shown = ", ".join(names[:_NAMES_IN_EXPLANATION])
            more = ", ..." if len(names) > _NAMES_IN_EXPLANATION else ""
            served = f"{len(names)} served: {shown}{more}"
        return f"no *{_SOURCE_SUFFIX} file under {self._scan_dir} serves it ({served})"

    def get_handler_suite(self, resource: str) -> _HandlerSuite | None:
        """Return the handler suite for ``resource`` (its query ignored), or None.

        With ``reload``, the handler file is checked first (see the class).

        Raises:
            DispatchException: the resource has a fragment (400).
        """
        if "#" in resource:
            raise DispatchException(f"resource {resource!r} has a fragment", common.HTTP_STATUS_BAD_REQUEST)
        path = resource.split("?", 1)[0]
        if self._reload:
            target = self._aliases.get(path, path)
            with self._reload_lock:
                suite = self._refresh(target)
            if path != target and suite is not None:
                self._handler_suite_map[path] = suite
            return suite
        return self._handler_suite_map.get(path)

    def _refresh(self, resource: str) -> _HandlerSuite | None:
        """Bring ``resource``'s entry up to date with its handler file; return its suite."""
        suite = self._handler_suite_map.get(resource)
        failure = self._load_failures.get(resource)
        known = (suite.source_path, suite.stamp) if suite is not None else None
        if failure is not None:
            known = (failure.path, failure.stamp)
        if known is not None:
            path, stamp = known
            current = _stamp(path)
            if current == stamp:
                return suite
            if current is None:
                self._handler_suite_map.pop(resource, None)
                self._load_failures.pop(resource, None)
                _LOGGER.info("%s is gone: %s is no longer served", path, resource)
                return None
            suite = self._load(path)
            if suite is not None:
                _LOGGER.info("reloaded %s for %s", path, resource)
            return suite
        new_path = self._find_handler_file(resource)
        if new_path is None:
            return None
        suite = self._load(new_path)
        if suite is not None:
            _LOGGER.info("loaded %s for %s", new_path, resource)
        return suite

    def _find_handler_file(self, resource: str) -> str | None:
        """Return the handler file under the scan directory that would serve ``resource``, if one exists."""
        parts = resource.split("/")
        if parts[0] != "" or any(part in ("", ".", "..") for part in parts[1:]) or len(parts) < 2:
            return None
        directory = os.path.join(self._root_dir, *parts[1:-1])
        if not _is_within(directory, self._scan_dir):
            return None
        stem = parts[-1]
        try:
            names = sorted(os.listdir(directory))
        except (OSError, ValueError):
            return None
        for name in names:
            if name[: -len(_SOURCE_SUFFIX)] == stem and name[len(stem) :].lower() == _SOURCE_SUFFIX:
                path = os.path.join(directory, name)
                if os.path.isfile(path):
                    return path
        return None

    def _suite_for(self, request: Any) -> _HandlerSuite:
        suite = self.get_handler_suite(request.ws_resource)
        if suite is None:
            raise DispatchException(f"no handler for {request.ws_resource}")
        return suite

    def do_extra_handshake(self, request: Any) -> None:
        """Run the handler's ``web_socket_do_extra_handshake``.

        Raises:
            DispatchException: no handler for the resource (404).
            HandshakeException: the handler refused (its status, else 403).
            AbortedByUserException: the handler aborted on purpose.
        """
        suite = self._suite_for(request)
        try:
            suite.do_extra_handshake(request)
        except AbortedByUserException:
            raise
        except HandshakeException as exc:
            # SPEC §4: a handler that raises rejects the handshake with 403
            # unless it named a status.
            if exc.status is None:
                exc.status = common.HTTP_STATUS_FORBIDDEN
            raise
        except Exception as exc:  # any failure of user code rejects the handshake
            _LOGGER.info("extra handshake of %s failed", request.ws_resource, exc_info=True)
            raise HandshakeException(
                f"handler for {request.ws_resource} rejected the handshake: {exc!r}", common.HTTP_STATUS_FORBIDDEN
            ) from exc

    def passive_closing_handshake(self, request: Any) -> tuple[int | None, str]:
        """Return the ``(code, reason)`` to answer the client's close with.

        Raises:
            AbortedByUserException: the handler wants TCP dropped without a reply.
        """
        suite = self.get_handler_suite(request.ws_resource)
        if suite is None or suite.passive_closing_handshake is None:
            return _DEFAULT_PASSIVE_CLOSING
        result = suite.passive_closing_handshake(request)
        return result if result is not None else _DEFAULT_PASSIVE_CLOSING

    def transfer_data(self, request: Any) -> None:
        """Run the handler's ``web_socket_transfer_data`` and end the connection.

        This is the one place where exceptions become close codes: an
        exception with a ``close_code`` (``common.WebSocketException``)
        closes with it (1002, 1003, 1007, 1009, 1011), sent under the one
        rule of ``common.is_sendable_close_code``; a vanished peer ends
        quietly; anything else the handler raises, AbortedByUserException
        included, is logged with its traceback and the TCP connection is
        dropped without a close frame (clients see 1006). When the handler
        returns normally, the connection is closed with 1000 unless the
        handler sent its own close already.

        Raises:
            DispatchException: no handler for the resource (404).
        """
        suite = self._suite_for(request)
        resource = request.ws_resource
        try:
            suite.transfer_data(request)
            if not request.server_terminated:
                request.ws_stream.close_connection()
        except AbortedByUserException:
            _LOGGER.info("handler for %s aborted the connection", resource, exc_info=True)
        except ConnectionTerminatedException as exc:
            if exc.close_code is None:
                _LOGGER.debug("connection to %s ended: %s", resource, exc)
            else:
                self._fail(request, exc)
        except common.WebSocketException as exc:
            if exc.close_code is None:
                _LOGGER.error("handler for %s raised", resource, exc_info=True)
            else:
                self._fail(request, exc)
        except Exception:  # user code: log it and drop the connection
            _LOGGER.error("handler for %s raised", resource, exc_info=True)

    def _fail(self, request: Any, exc: common.WebSocketException) -> None:
        code = exc.close_code
        if code is None or not common.is_sendable_close_code(code):
            # A handler's own exception class may name a code that must not be sent.
            code = common.STATUS_INTERNAL_ENDPOINT_ERROR
        if code == common.STATUS_INTERNAL_ENDPOINT_ERROR:
            _LOGGER.error("handler for %s misused the stream", request.ws_resource, exc_info=True)
        else:
            _LOGGER.info("closing %s with %s: %s", request.ws_resource, code, exc)
        if request.server_terminated:
            return
        try:
            request.ws_stream.close_connection(code, wait_response=False)
        except common.WebSocketException as close_exc:
            _LOGGER.debug("could not send close %s: %s", code, close_exc)
