"""Command-line options and the ``--config`` file of the standalone server.

Layer 3 (a private part of ``standalone``). ``ServerOptions`` is the
server's typed, frozen configuration, and holds each option's default.
Builds the ``argparse`` parser (which takes its defaults from there),
reads the INI config file, checks option values and resolves directories.
Every error is one line on stderr and exit status 2. The parser's
namespace, or any object with some of the fields, becomes a
``ServerOptions`` through ``to_server_options`` and ``complete_options``.
TLS certificates are loaded by ``standalone.parse_options``, which owns
the ``ssl`` module.

Every option of pywebsocket 0.7.9 and pywebsocket3 4.0.2 is accepted, so
that the command lines that start them start this server; the few that
mean nothing here are in the "compatibility" group (``NO_EFFECT``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import codecs
import configparser
import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from mod_pywebsocket import __version__, _standalone_h2, common
from mod_pywebsocket._stream_hybi import DEFAULT_MAX_MESSAGE_SIZE

if TYPE_CHECKING:
    import ssl

__all__ = [
    "LOG_LEVELS",
    "NO_EFFECT",
    "OptionParser",
    "ServerOptions",
    "build_parser",
    "complete_options",
    "examples_directory",
    "normalize_cgi_paths",
    "parse_args",
    "to_server_options",
]

# "fine" is pywebsocket's level below DEBUG (0.7.9's common.LOGLEVEL_FINE,
# 9): at it everything DEBUG shows is logged, and whatever logs at 9.
LOG_LEVELS = {
    "fine": 9,
    "debug": 10,
    "info": 20,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "critical": 50,
}

# The section a config file may use; keys before any section belong to it.
CONFIG_SECTION = "mod_pywebsocket"
# The section pywebsocket's own config files use: read the same way.
_PYWEBSOCKET_SECTION = "pywebsocket"
# Options accepted for compatibility that change nothing here: option name
# (without --) -> why. The server logs one line for each one given.
NO_EFFECT = {
    "deflate-log-level": "the deflate code logs nothing, so there is no level to set",
    "tls-module": "TLS always uses Python's ssl module",
}
_TLS_MODULES = ("ssl", "pyopenssl")
# What --basic-auth accepts when no --basic-auth-credential is given (pywebsocket3's default too).
DEFAULT_BASIC_AUTH_CREDENTIAL = "test:test"
_BOOLEANS = {"1": True, "yes": True, "true": True, "on": True, "0": False, "no": False, "false": False, "off": False}
# Options that make no sense inside a config file.
_NOT_IN_CONFIG = frozenset({"config", "help"})


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """The standalone server's configuration: one field per command-line option, with its default.

    ``parse_options`` returns an ``argparse.Namespace`` with these
    attributes; ``WebSocketServer`` turns whatever it is given into this
    object once (``to_server_options``, then ``complete_options``) and reads
    only this object afterwards. Tests and programs may build it directly:
    ``ServerOptions(port=0, websock_handlers="/srv/handlers")`` is a valid
    configuration. The command line's defaults are these fields' defaults.

    Directories may be relative: ``WebSocketServer`` makes the document
    root absolute and the handler root relative to it, as the command line
    does. Besides the options, two fields come from pywebsocket3's
    embedding API: ``is_executable_method`` (called with a CGI script's
    path instead of checking its execute bit) and ``ssl_context`` (the
    loaded TLS context; None to load it from ``private_key`` and
    ``certificate``).
    """

    # server
    server_host: str = ""
    port: int = common.DEFAULT_WEB_SOCKET_PORT
    document_root: str = "."
    cgi_paths: tuple[str, ...] = ()
    request_queue_size: int = 128
    # WebSocket handlers
    websock_handlers: str | None = None
    websock_handlers_map_file: str | None = None
    scan_dir: str | None = None
    allow_handlers_outside_root_dir: bool = False
    handler_encoding: str | None = None
    allow_draft75: bool = False
    strict: bool = False
    validation_host: str | None = None
    validation_port: int | None = None
    # TLS
    use_tls: bool = False
    private_key: str | None = None
    certificate: str | None = None
    tls_client_auth: bool = False
    tls_client_cert_optional: bool = False
    tls_client_ca: str | None = None
    # HTTP/2
    http2: bool = False
    # authentication
    basic_auth: bool = False
    basic_auth_credential: str | None = None
    # limits
    max_line_length: int = 8192
    max_header_count: int = 100
    max_head_size: int = 65536
    handshake_timeout: float = 10.0
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_connections: int = 1000
    max_incoming_memory: int = 512 * 1024 * 1024  # 8 messages of the default --max-message-size at once
    max_request_body: int = 16 * 1024 * 1024
    cgi_timeout: float = 30.0
    write_timeout: float = 60.0
    # logging
    log_file: str | None = None
    log_level: str = "info"
    log_max: int = 256 * 1024 * 1024
    log_count: int = 5
    thread_monitor_interval_in_sec: float = 0.0
    # getting started
    examples: bool = False
    reload: bool = False
    # compatibility (no effect, NO_EFFECT)
    deflate_log_level: str | None = None
    tls_module: str | None = None
    # pywebsocket3's embedding API, not options
    is_executable_method: Callable[[str], object] | None = None
    ssl_context: ssl.SSLContext | None = None


# Each option's default, from the one place that holds it (for build_parser).
_DEFAULTS: dict[str, object] = {field.name: field.default for field in dataclasses.fields(ServerOptions)}


def to_server_options(options: object) -> ServerOptions:
    """Return the ``ServerOptions`` an options object stands for (itself if it is one).

    ``options`` is usually the ``argparse.Namespace`` of ``parse_options``,
    perhaps changed by the caller as pywebsocket3's embedders do, or any
    object with some of the fields as attributes: a missing one takes its
    default. pywebsocket3's names are honoured: ``cgi_directories``
    (instead of ``cgi_paths`` when not None), ``use_basic_auth`` (turns
    ``basic_auth`` on). Other attributes are not carried over.
    """
    if isinstance(options, ServerOptions):
        return options
    values: dict[str, Any] = {name: getattr(options, name, default) for name, default in _DEFAULTS.items()}
    cgi_directories = getattr(options, "cgi_directories", None)
    values["cgi_paths"] = tuple(values["cgi_paths"] if cgi_directories is None else cgi_directories)
    values["basic_auth"] = bool(values["basic_auth"] or getattr(options, "use_basic_auth", False))
    return dataclasses.replace(ServerOptions(), **values)


def complete_options(options: ServerOptions) -> ServerOptions:
    """Return ``options`` with what the server derives from them (the object given is not changed).

    Directories are made absolute (the handler root relative to the
    document root, as ``-w`` is); CGI prefixes lose trailing slashes
    (``normalize_cgi_paths``); ``--basic-auth`` without a credential
    gets ``test:test``; pywebsocket3's ``Basic <base64>`` form of the
    credential is decoded.

    Raises:
        ValueError: a CGI prefix does not start with ``/``.
    """
    document_root = os.path.abspath(options.document_root)
    credential = options.basic_auth_credential
    if options.basic_auth and credential is None:
        credential = DEFAULT_BASIC_AUTH_CREDENTIAL
    elif credential is not None and credential.startswith("Basic "):
        try:
            decoded = base64.b64decode(credential[len("Basic ") :], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            credential = decoded
    return dataclasses.replace(
        options,
        document_root=document_root,
        websock_handlers=os.path.join(document_root, options.websock_handlers or document_root),
        cgi_paths=tuple(normalize_cgi_paths(options.cgi_paths)),
        basic_auth_credential=credential,
    )


class OptionParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit status 2.

    ``long_options`` maps each long option name (without ``--``, with ``-``)
    to its ``argparse.Action``; the config file reader uses it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.long_options: dict[str, argparse.Action] = {}

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with status 2."""
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not in 0-65535")
    return port


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {number}")
    return number


def _bounded_int(upper: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = _positive_int(value)
        if number > upper:
            raise argparse.ArgumentTypeError(f"expected at most {upper}, not {number}")
        return number

    return parse


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {value!r}")
    return seconds


def _interval(value: str) -> float:
    """Seconds between thread monitor lines; zero or less (pywebsocket's default -1) turns it off."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {value!r}") from None
    if seconds != seconds or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, not {value!r}")
    return max(seconds, 0.0)


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"log level must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
    return value.lower()


def _deflate_log_level(value: str) -> str:
    levels = [level for level in LOG_LEVELS if level != "fine"]
    if value.lower() not in levels:
        raise argparse.ArgumentTypeError(f"deflate log level must be one of {', '.join(levels)}, not {value!r}")
    return value.lower()


def _tls_module(value: str) -> str:
    if value.lower() not in _TLS_MODULES:
        raise argparse.ArgumentTypeError(f"tls module must be one of {', '.join(_TLS_MODULES)}, not {value!r}")
    return value.lower()


def _encoding(value: str) -> str:
    try:
        return codecs.lookup(value).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {value!r}") from None


def _credential(value: str) -> str:
    if ":" not in value:
        raise argparse.ArgumentTypeError(f"credential must be user:password, not {value!r}")
    return value


def normalize_cgi_paths(paths: Iterable[str]) -> list[str]:
    """Return the CGI URL path prefixes without blanks and trailing slashes.

    Raises:
        ValueError: a prefix does not start with ``/``.
    """
    result = []
    for path in paths:
        path = path.strip()
        if not path:
            continue
        if not path.startswith("/"):
            raise ValueError(f"cgi path {path!r} must start with /")
        result.append(path.rstrip("/") or "/")
    return result


def _cgi_paths(value: str) -> list[str]:
    try:
        return normalize_cgi_paths(value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _spellings(*names: str) -> list[str]:
    """Return each option name, plus its ``_`` spelling for long names."""
    result = []
    for name in names:
        result.append(name)
        if name.startswith("--") and "-" in name[2:]:
            result.append("--" + name[2:].replace("-", "_"))
    return result


def build_parser() -> OptionParser:
    """Return the command-line parser (long options accept ``-`` and ``_``)."""
    parser = OptionParser(
        prog="mod_pywebsocket.standalone",
        allow_abbrev=False,
        description="A standalone WebSocket server: WebSocket resources from *_wsh.py handlers, "
        "files and CGI scripts from a document root, over HTTP or HTTPS.",
        epilog="Long options also accept '_' for '-' (--document_root). Every long option may be set "
        "in the --config file; the command line wins. docs/standalone.md (in a checkout or the sdist) "
        "describes them all; --examples serves the bundled examples.",
    )

    def add(group: Any, *names: str, **kwargs: Any) -> None:
        if "default" not in kwargs:
            default = _DEFAULTS[kwargs["dest"]]
            # A fresh list for each parse result that may be changed in place.
            kwargs["default"] = list(default) if isinstance(default, tuple) else default
        action = group.add_argument(*names, **kwargs)
        # The "_" spellings work too, without cluttering --help.
        aliases = [spelling for spelling in _spellings(*names) if spelling not in names]
        if aliases:
            group.add_argument(*aliases, **{**kwargs, "help": argparse.SUPPRESS})
        for name in names:
            if name.startswith("--"):
                parser.long_options[name[2:]] = action

    server = parser.add_argument_group("server")
    add(
        server,
        "-H",
        "--server-host",
        dest="server_host",
        metavar="HOST",
        help="address or host name to listen on; a name listens on each of its addresses, all on one "
        "port (default: every local address, IPv4 and IPv6)",
    )
    add(
        server,
        "-p",
        "--port",
        dest="port",
        metavar="PORT",
        type=_port,
        help="port to listen on (default: %(default)s; 0 picks a free one)",
    )
    add(
        server,
        "-d",
        "--document-root",
        dest="document_root",
        metavar="DIR",
        help="directory plain HTTP requests are served from (default: %(default)s)",
    )
    add(
        server,
        "-x",
        "--cgi-paths",
        dest="cgi_paths",
        metavar="PATHS",
        type=_cgi_paths,
        help="comma-separated URL path prefixes (such as /cgi-bin) under which executable files of the "
        "document root run as CGI/1.1 scripts",
    )
    add(
        server,
        "-q",
        "--queue",
        dest="request_queue_size",
        metavar="N",
        type=_positive_int,
        help="listen backlog (default: %(default)s)",
    )
    add(
        server,
        "--config",
        dest="config",
        default=None,
        metavar="FILE",
        help="read options from this INI file: one 'long-option = value' line each, before any "
        "section or under [mod_pywebsocket]; flags take true or false",
    )

    handlers = parser.add_argument_group("WebSocket handlers")
    add(
        handlers,
        "-w",
        "--websock-handlers",
        dest="websock_handlers",
        metavar="DIR",
        help="handler root: *_wsh.py files under it are loaded (default: the document root; "
        "relative to the document root)",
    )
    add(
        handlers,
        "-m",
        "--websock-handlers-map-file",
        dest="websock_handlers_map_file",
        metavar="FILE",
        help="file of 'alias existing' lines that give handlers more resource names",
    )
    add(
        handlers,
        "-s",
        "--scan-dir",
        dest="scan_dir",
        metavar="DIR",
        help="load only the handlers under this directory, which must lie under the handler root",
    )
    add(
        handlers,
        "--allow-handlers-outside-root-dir",
        dest="allow_handlers_outside_root_dir",
        action="store_true",
        help="load handler files whose real path (symlinks resolved) leaves the handler root",
    )
    add(
        handlers,
        "--handler-encoding",
        dest="handler_encoding",
        metavar="ENCODING",
        type=_encoding,
        help="read the *_wsh.py files in this text encoding (default: as Python reads source: "
        "a coding declaration, else UTF-8)",
    )
    add(
        handlers,
        "--allow-draft75",
        dest="allow_draft75",
        action="store_true",
        help="accept the Hixie-75 protocol too",
    )
    add(
        handlers,
        "--strict",
        dest="strict",
        action="store_true",
        help="with Hixie-75, require the draft's exact request line and header order; with -V/-P, "
        "check the Host header of every request",
    )
    add(
        handlers,
        "-V",
        "--validation-host",
        dest="validation_host",
        metavar="HOST",
        help="with --strict: the host the Host header must name, else 403",
    )
    add(
        handlers,
        "-P",
        "--validation-port",
        dest="validation_port",
        metavar="PORT",
        type=_port,
        help="with --strict: the port the Host header must name (80 or 443 when it has none), else 403",
    )

    tls = parser.add_argument_group("TLS")
    add(
        tls,
        "-t",
        "--tls",
        dest="use_tls",
        action="store_true",
        help="serve wss:// and https:// (TLS 1.2 or newer) instead of ws:// and http://",
    )
    add(
        tls,
        "-k",
        "--private-key",
        dest="private_key",
        metavar="FILE",
        help="PEM file of the server's private key (with --tls)",
    )
    add(
        tls,
        "-c",
        "--certificate",
        dest="certificate",
        metavar="FILE",
        help="PEM file of the server's certificate chain (with --tls)",
    )
    add(
        tls,
        "--tls-client-auth",
        dest="tls_client_auth",
        action="store_true",
        help="require a client certificate signed by --tls-client-ca",
    )
    add(
        tls,
        "--tls-client-cert-optional",
        dest="tls_client_cert_optional",
        action="store_true",
        help="with --tls-client-auth: let clients without a certificate in too (one they send must "
        "still be signed by --tls-client-ca)",
    )
    add(
        tls,
        "--tls-client-ca",
        "--ca-certificate",
        dest="tls_client_ca",
        metavar="FILE",
        help="PEM file of the CA certificates that sign client certificates",
    )

    http2 = parser.add_argument_group("HTTP/2")
    add(
        http2,
        "--http2",
        dest="http2",
        action="store_true",
        help="also speak HTTP/2: ALPN h2 with --tls, prior-knowledge h2c without; WebSockets over HTTP/2 "
        "(RFC 8441) and files; HTTP/1.1 clients are still served (needs the h2 package: "
        "pip install 'mod_pywebsocket[http2]')",
    )

    auth = parser.add_argument_group("authentication")
    add(
        auth,
        "--basic-auth",
        dest="basic_auth",
        action="store_true",
        help="require HTTP Basic authentication for every request (401 otherwise)",
    )
    add(
        auth,
        "--basic-auth-credential",
        dest="basic_auth_credential",
        metavar="USER:PASSWORD",
        type=_credential,
        help=f"the user:password --basic-auth accepts (default: {DEFAULT_BASIC_AUTH_CREDENTIAL})",
    )

    limits = parser.add_argument_group("limits")
    add(
        limits,
        "--max-line-length",
        dest="max_line_length",
        metavar="BYTES",
        type=_bounded_int(65536),
        help="longest request line or header line, in bytes (default: %(default)s; 414 or 431 beyond)",
    )
    add(
        limits,
        "--max-header-count",
        dest="max_header_count",
        metavar="N",
        type=_positive_int,
        help="most header lines in a request (default: %(default)s; 431 beyond)",
    )
    # Request heads (issue 15, http): a cap on the whole head, beside the line caps.
    add(
        limits,
        "--max-head-size",
        dest="max_head_size",
        metavar="BYTES",
        type=_positive_int,
        help="most bytes a request head may take, request line and header lines together "
        "(default: %(default)s; 431 beyond)",
    )
    add(
        limits,
        "--handshake-timeout",
        dest="handshake_timeout",
        metavar="SECONDS",
        type=_seconds,
        help="seconds a client has to complete the TLS handshake and send its request head; the "
        "limit of each read and write before the WebSocket is open (default: %(default)s)",
    )
    add(
        limits,
        "--max-message-size",
        dest="max_message_size",
        metavar="BYTES",
        type=_positive_int,
        help="largest WebSocket message accepted, in bytes; larger closes with 1009 (default: %(default)s)",
    )
    add(
        limits,
        "--max-connections",
        dest="max_connections",
        metavar="N",
        type=_positive_int,
        help="most connections served at once; more are answered 503 with Retry-After as soon as their "
        "request starts, without a thread (default: %(default)s)",
    )
    # Admission under load (issue 15): a server-wide cap on memory held for incoming messages.
    add(
        limits,
        "--max-incoming-memory",
        dest="max_incoming_memory",
        metavar="BYTES",
        type=_positive_int,
        help="most memory the incoming WebSocket messages of all connections together may hold, in bytes "
        "(received and inflated; messages up to 64 KiB are not counted); a message that would go beyond "
        "closes its connection with 1013 and is logged (default: %(default)s)",
    )
    add(
        limits,
        "--max-request-body",
        dest="max_request_body",
        metavar="BYTES",
        type=_positive_int,
        help="largest request body a CGI script is given, in bytes (default: %(default)s; 413 beyond)",
    )
    add(
        limits,
        "--cgi-timeout",
        dest="cgi_timeout",
        metavar="SECONDS",
        type=_seconds,
        help="seconds a CGI script may run, its output sent included, before its process group is killed "
        "(504 if no response was started, else the response is cut short; default: %(default)s)",
    )
    # Write deadline of open WebSockets (issue 15, mem).
    add(
        limits,
        "--write-timeout",
        dest="write_timeout",
        metavar="SECONDS",
        type=_seconds,
        help="seconds an open WebSocket may wait for the client to take data it is sent; a client that "
        "reads nothing for that long is disconnected, like Apache's Timeout (default: %(default)s)",
    )

    logs = parser.add_argument_group("logging")
    add(
        logs,
        "-l",
        "--log-file",
        dest="log_file",
        metavar="FILE",
        help="write the log to this file, rotated, instead of stderr",
    )
    add(
        logs,
        "--log-level",
        dest="log_level",
        metavar="LEVEL",
        type=_log_level,
        help="fine (below debug), debug, info, warning (warn), error or critical (default: %(default)s)",
    )
    add(
        logs,
        "--log-max",
        dest="log_max",
        metavar="BYTES",
        type=_positive_int,
        help="rotate the log file when it reaches this many bytes (default: %(default)s)",
    )
    add(
        logs,
        "--log-count",
        dest="log_count",
        metavar="N",
        type=_positive_int,
        help="how many rotated log files to keep (default: %(default)s)",
    )
    add(
        logs,
        "--thread-monitor-interval-in-sec",
        dest="thread_monitor_interval_in_sec",
        metavar="SECONDS",
        type=_interval,
        help="log the number of threads every this many seconds (default: 0; 0 or less: never)",
    )

    # Issue 16 (the first hour of a new user): --examples, --reload, --version.
    first_hour = parser.add_argument_group("getting started")
    add(
        first_hour,
        "--examples",
        dest="examples",
        action="store_true",
        help="serve the bundled examples (echo, close, console.html...) as the document and handler root, "
        "from a checkout or an installed wheel; not with -d or -w",
    )
    add(
        first_hour,
        "--reload",
        dest="reload",
        action="store_true",
        help="check a resource's handler file at each request: load *_wsh.py files added since the start, "
        "reload changed ones, stop serving deleted ones (for development)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"mod_pywebsocket {__version__} (Python {sys.version.split()[0]})",
        help="print the version and exit",
    )

    compat = parser.add_argument_group(
        "compatibility",
        "Options of pywebsocket 0.7.9 and pywebsocket3 4.0.2 that have no effect here. They are "
        "accepted so that existing command lines keep working; the server logs one line for each.",
    )
    add(
        compat,
        "--deflate-log-level",
        dest="deflate_log_level",
        metavar="LEVEL",
        type=_deflate_log_level,
        help="accepted for compatibility, no effect: " + NO_EFFECT["deflate-log-level"],
    )
    add(
        compat,
        "--tls-module",
        dest="tls_module",
        metavar="MODULE",
        type=_tls_module,
        help="ssl or pyopenssl; accepted for compatibility, no effect: " + NO_EFFECT["tls-module"],
    )
    return parser


def _find_config(argv: Sequence[str]) -> str | None:
    """Return the value of the last ``--config`` in ``argv`` (None if absent)."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--config", dest="config", default=None)
    try:
        known, _ = finder.parse_known_args(argv)
    except SystemExit:  # --config without a value: the real parser reports it
        return None
    config: str | None = known.config
    return config


def read_config(parser: OptionParser, path: str) -> list[str]:
    """Turn the config file at ``path`` into command-line arguments.

    Exits with status 2 and one error line if the file cannot be read or
    names an unknown option.
    """
    try:
        with open(path, encoding="utf-8") as config_file:
            text = config_file.read()
    except (OSError, UnicodeDecodeError) as exc:
        parser.error(f"cannot read config file {path!r}: {exc}")
    config = configparser.ConfigParser(interpolation=None, strict=False, default_section="\0")
    try:
        config.read_string(f"[{CONFIG_SECTION}]\n" + text, source=path)
    except configparser.Error as exc:
        message = " ".join(str(exc).split())
        parser.error(f"config file {path!r} is malformed: {message}")
    args = []
    for section in config.sections():
        if section not in (CONFIG_SECTION, _PYWEBSOCKET_SECTION):
            parser.error(f"config file {path!r}: unknown section [{section}]")
        for key, value in config.items(section):
            name = key.strip().lower().replace("_", "-")
            action = parser.long_options.get(name)
            if action is None or name in _NOT_IN_CONFIG:
                parser.error(f"config file {path!r}: unknown option {key!r}")
            if action.nargs == 0:  # a flag
                flag = _BOOLEANS.get(value.strip().lower())
                if flag is None:
                    parser.error(f"config file {path!r}: {key} must be true or false, not {value!r}")
                if flag:
                    args.append(f"--{name}")
            else:
                args.append(f"--{name}={value}")
    return args


def parse_args(parser: OptionParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the config file and the command line, check values, resolve directories.

    Exits with status 2 and one error line on a bad value.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = _find_config(argv)
    config_args = read_config(parser, config_path) if config_path is not None else []
    # Later occurrences win in argparse: the command line overrides the file.
    options = parser.parse_args(config_args + argv)
    _check(parser, options)
    return options


# Options naming files the server reads (not the log file, which it writes).
_INPUT_FILES = ("websock_handlers_map_file", "private_key", "certificate", "tls_client_ca")


def _find_input_file(path: str | None, document_root: str) -> str | None:
    """Return ``path``; a relative one that is no file here but one under the document root, from there.

    pywebsocket changed into the document root before it opened these
    files, so its command lines may name them relative to it.
    """
    if not path or os.path.isabs(path) or os.path.exists(path):
        return path
    under_root = os.path.join(document_root, path)
    return under_root if os.path.isfile(under_root) else path


def examples_directory() -> str | None:
    """Return the directory of the bundled examples, or None if there is none.

    An installed wheel carries them in the package (``mod_pywebsocket/examples``,
    put there by setup.py); a checkout has them beside the package (``example/``).
    """
    package = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(package, "examples"), os.path.join(os.path.dirname(package), "example")):
        if os.path.isfile(os.path.join(candidate, "echo_wsh.py")):
            return candidate
    return None


def _use_examples(parser: OptionParser, options: argparse.Namespace) -> None:
    if options.document_root != "." or options.websock_handlers is not None:
        parser.error("--examples serves the bundled examples: give it without -d and -w")
    directory = examples_directory()
    if directory is None:
        parser.error("--examples: no bundled examples next to this mod_pywebsocket (a checkout or the wheel has them)")
    options.document_root = directory


def _check(parser: OptionParser, options: argparse.Namespace) -> None:
    if getattr(options, "examples", False):
        _use_examples(parser, options)
    document_root = os.path.abspath(options.document_root)
    if not os.path.isdir(document_root):
        parser.error(f"document root {options.document_root!r} is not a directory ({document_root})")
    options.document_root = document_root
    handlers = options.websock_handlers or document_root
    options.websock_handlers = os.path.join(document_root, handlers)
    if not os.path.isdir(options.websock_handlers):
        parser.error(
            f"handler root {handlers!r} is not a directory ({os.path.normpath(options.websock_handlers)}: "
            "-w is relative to the document root)"
        )
    if options.scan_dir is not None:
        options.scan_dir = os.path.join(document_root, options.scan_dir)
        if not os.path.isdir(options.scan_dir):
            parser.error(f"scan directory {options.scan_dir!r} is not a directory")
    for dest in _INPUT_FILES:
        setattr(options, dest, _find_input_file(getattr(options, dest), document_root))
    if options.websock_handlers_map_file and not os.path.isfile(options.websock_handlers_map_file):
        parser.error(f"handler map file {options.websock_handlers_map_file!r} does not exist")

    if options.use_tls:
        if not options.private_key or not options.certificate:
            parser.error("--tls needs --private-key and --certificate")
        for what, path in (("certificate", options.certificate), ("private key", options.private_key)):
            if not os.path.isfile(path):
                parser.error(f"{what} file {path!r} does not exist ({os.path.abspath(path)})")
    elif options.private_key or options.certificate:
        parser.error("--private-key and --certificate need --tls")
    if options.tls_client_auth:
        if not options.use_tls:
            parser.error("--tls-client-auth needs --tls")
        if not options.tls_client_ca:
            parser.error("--tls-client-auth needs --tls-client-ca")
        if not os.path.isfile(options.tls_client_ca):
            parser.error(
                f"client CA file {options.tls_client_ca!r} does not exist ({os.path.abspath(options.tls_client_ca)})"
            )
    elif options.tls_client_ca:
        parser.error("--tls-client-ca needs --tls-client-auth")
    if options.tls_client_cert_optional and not options.tls_client_auth:
        parser.error("--tls-client-cert-optional needs --tls-client-auth")

    if options.http2 and not _standalone_h2.available():
        parser.error("--http2 needs the h2 package: pip install 'mod_pywebsocket[http2]'")

    if options.basic_auth:
        if options.basic_auth_credential is None:
            options.basic_auth_credential = DEFAULT_BASIC_AUTH_CREDENTIAL
    elif options.basic_auth_credential is not None:
        parser.error("--basic-auth-credential needs --basic-auth")

    for path in options.cgi_paths:
        directory = os.path.join(document_root, path.lstrip("/"))
        if not os.path.isdir(directory):
            parser.error(f"cgi path {path!r} is not a directory under the document root")
