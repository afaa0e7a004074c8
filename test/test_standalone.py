"""Tests of the standalone server: TLS, Basic auth, CGI, the config file, logging, limits and shutdown.

Servers run in this process (``running_server``) or as a subprocess
(``start_cli``); clients are the ``websockets`` library, ``http.client`` and
raw sockets. TLS certificates are made by the ``openssl`` command line.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from mod_pywebsocket import _standalone_http, _standalone_options, common, standalone
from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server
from test.test_endtoend import start_cli

TIMEOUT = 10
CGI_DATA = os.path.join(os.path.dirname(__file__), "testdata", "cgi")

HANDLERS = {
    "echo_wsh.py": """
def web_socket_do_extra_handshake(request):
    if getattr(request, "ws_requested_protocols", None):
        request.ws_protocol = request.ws_requested_protocols[0]


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
""",
    "info_wsh.py": """
import json


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    request.ws_stream.send_message(json.dumps({
        "is_https": request.is_https(),
        "uri": request.uri,
        "max_message_size": request.max_message_size,
        "raw_request_line": request.raw_request_lines[0].decode("latin-1"),
    }))
""",
    "raise_wsh.py": """
def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    raise ValueError("raised on purpose")
""",
}


# Helpers.


def ws_connect(url: str, **kwargs):
    return connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, max_size=None, **kwargs)


def make_site(root) -> str:
    """Write a document root: the handlers above, index.html and the CGI scripts of testdata/cgi."""
    site = root / "site"
    shutil.copytree(CGI_DATA, site)
    for name, source in HANDLERS.items():
        (site / name).write_text(source)
    return str(site)


@pytest.fixture
def site(tmp_path) -> str:
    return make_site(tmp_path)


def exchange(port: int, data: bytes, *, host: str = "127.0.0.1", context: ssl.SSLContext | None = None) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
        sock = context.wrap_socket(raw, server_hostname=host) if context else raw
        with contextlib.closing(sock):
            sock.sendall(data)
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)


def parse_response(data: bytes) -> tuple[int, dict[str, list[str]], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body


def get(port: int, target: str, headers: str = "", **kwargs) -> tuple[int, dict[str, list[str]], bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}\r\n"
    return parse_response(exchange(port, request.encode("latin-1"), **kwargs))


def post(port: int, target: str, body: bytes, headers: str = "") -> tuple[int, dict[str, list[str]], bytes]:
    request = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode("latin-1")
    return parse_response(exchange(port, request + body))


def upgrade_request(resource: str = "/echo", extra: str = "") -> bytes:
    return (
        f"GET {resource} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode("latin-1")


def run_cli(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mod_pywebsocket.standalone", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_option_error(capsys, args: list[str], message: str) -> None:
    """parse_options exits with status 2 and one line on stderr that contains ``message``."""
    with pytest.raises(SystemExit) as info:
        standalone.parse_options(args)
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def read_until(sock: socket.socket, done, data: bytes = b"", size: int = 4096) -> bytes:
    """Receive until ``done(data)``; fail on EOF (the socket's timeout bounds each read)."""
    while not done(data):
        chunk = sock.recv(size)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def wait_until(predicate) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def wait_for_log(caplog, text: str, count: int = 1) -> None:
    """Wait until ``text`` was logged ``count`` times (server threads log asynchronously)."""
    deadline = time.monotonic() + TIMEOUT
    while caplog.text.count(text) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert caplog.text.count(text) >= count, caplog.text


@contextlib.contextmanager
def cli_server(tmp_path, *args: str):
    """Run the server as a subprocess; yield (process, port, log path); always stop it."""
    log_path = tmp_path / "server.log"
    process, port = start_cli(log_path, *args)
    try:
        yield process, port, log_path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(TIMEOUT)


# TLS.


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=TIMEOUT)


def make_ca(directory, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def make_leaf(directory, name: str, ca: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n" + extensions
    )
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-set_serial",
        str(abs(hash(name)) % 100000 + 2), "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


class Pki:
    """A test CA, a server certificate for 127.0.0.1 and ::1, client certificates from two CAs."""

    def __init__(self, directory) -> None:
        self.directory = directory
        make_ca(directory, "ca")
        make_ca(directory, "other-ca")
        make_leaf(directory, "server", "ca", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1\n")
        make_leaf(directory, "client", "ca", "extendedKeyUsage=clientAuth\n")
        make_leaf(directory, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def server_args(self, *, client_auth: bool = False) -> list[str]:
        args = ["-t", "-k", self.path("server.key"), "-c", self.path("server.pem")]
        if client_auth:
            args += ["--tls-client-auth", "--tls-client-ca", self.path("ca.pem")]
        return args

    def client_context(self, certificate: str | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.path("ca.pem"))
        if certificate is not None:
            context.load_cert_chain(self.path(f"{certificate}.pem"), self.path(f"{certificate}.key"))
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def test_wss_round_trip_over_tls_and_request_is_https(site, pki):
    with running_server("-d", site, *pki.server_args()) as server:
        with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context()) as ws:
            ws.send("over tls")
            assert ws.recv(timeout=TIMEOUT) == "over tls"
        with ws_connect(server.url("/info", "wss"), ssl=pki.client_context()) as ws:
            assert json.loads(ws.recv(timeout=TIMEOUT))["is_https"] is True


def test_wss_echoes_a_4_mib_binary_message_and_pipelined_text(site, pki):
    payload = os.urandom(4 << 20)
    with running_server("-d", site, *pki.server_args()) as server:
        with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context()) as ws:
            ws.send(payload)
            assert ws.recv(timeout=TIMEOUT) == payload
            for index in range(50):
                ws.send(f"text {index}")
            assert [ws.recv(timeout=TIMEOUT) for _ in range(50)] == [f"text {index}" for index in range(50)]


def test_request_is_not_https_without_tls(site):
    with running_server("-d", site) as server, ws_connect(server.url("/info")) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["is_https"] is False


def test_https_serves_files_on_the_websocket_port(site, pki):
    with running_server("-d", site, *pki.server_args()) as server:
        status, _, body = get(server.port, "/index.html", context=pki.client_context())
        assert status == 200
        with open(os.path.join(site, "index.html"), "rb") as source:
            assert body == source.read()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_accepted_and_nothing_older(site, pki, version):
    with running_server("-d", site, *pki.server_args()) as server:
        assert server.server.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
        context = pki.client_context()
        context.minimum_version = context.maximum_version = version
        with ws_connect(server.url("/echo", "wss"), ssl=context) as ws:
            ws.send("tls")
            assert ws.recv(timeout=TIMEOUT) == "tls"
            assert (
                ws.socket.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            )


def test_client_certificate_signed_by_the_ca_is_accepted(site, pki):
    with running_server("-d", site, *pki.server_args(client_auth=True)) as server:
        with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context("client")) as ws:
            ws.send("with a certificate")
            assert ws.recv(timeout=TIMEOUT) == "with a certificate"


@pytest.mark.parametrize("certificate", [None, "stranger"], ids=["no-certificate", "other-ca"])
def test_client_without_a_trusted_certificate_is_refused_and_server_keeps_serving(site, pki, caplog, certificate):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site, *pki.server_args(client_auth=True)) as server:
        # With TLS 1.3 the client may finish its handshake before the server
        # refuses its certificate: the refusal then shows as a closed connection.
        with pytest.raises(Exception) as info:
            with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context(certificate)) as ws:
                ws.recv(timeout=TIMEOUT)
        refusals = (ssl.SSLError, ConnectionError, EOFError, InvalidHandshake, ConnectionClosed)
        assert isinstance(info.value, refusals), repr(info.value)
        with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context("client")) as ws:
            ws.send("still serving")
            assert ws.recv(timeout=TIMEOUT) == "still serving"
        wait_for_log(caplog, "TLS handshake failed")


def test_ca_certificate_is_the_0_7_spelling_of_tls_client_ca(site, pki):
    options = standalone.parse_options(
        ["-d", site, *pki.server_args(), "--tls-client-auth", "--ca-certificate", pki.path("ca.pem")]
    )
    assert options.tls_client_ca == pki.path("ca.pem")
    assert options.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_plain_http_to_the_tls_port_is_logged_and_disturbs_nobody(site, pki, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site, *pki.server_args()) as server:
        with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context()) as ws:
            assert exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
            ws.send("unaffected")
            assert ws.recv(timeout=TIMEOUT) == "unaffected"
        wait_for_log(caplog, "TLS handshake failed")


def test_silent_client_does_not_block_tls_accept_and_is_dropped_at_handshake_timeout(site, pki):
    with running_server("-d", site, *pki.server_args(), "--handshake-timeout", "2") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as silent:
            started = time.monotonic()
            with ws_connect(server.url("/echo", "wss"), ssl=pki.client_context()) as ws:
                ws.send("not held up")
                assert ws.recv(timeout=TIMEOUT) == "not held up"
            assert time.monotonic() - started < 1.5
            assert silent.recv(1) == b""
            assert 1.9 < time.monotonic() - started < 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t"], "--tls needs --private-key and --certificate"),
        (["-k", "server.key", "-c", "server.pem"], "--private-key and --certificate need --tls"),
        (["TLS", "--tls-client-auth"], "--tls-client-auth needs --tls-client-ca"),
        (["--tls-client-auth", "--tls-client-ca", "ca.pem"], "--tls-client-auth needs --tls"),
        (["TLS", "--tls-client-ca", "ca.pem"], "--tls-client-ca needs --tls-client-auth"),
        (["-t", "-k", "server.key", "-c", "missing.pem"], "missing.pem' does not exist"),
        (["-t", "-k", "ca.key", "-c", "server.pem"], "cannot load certificate"),
        (["TLS", "--tls-client-auth", "--tls-client-ca", "server.key"], "client CA"),
    ],
    ids=["tls-without-files", "files-without-tls", "auth-without-ca", "auth-without-tls", "ca-without-auth",
         "missing-certificate", "key-does-not-match", "bad-ca-file"],
)  # fmt: skip
def test_bad_tls_options_get_one_error_line_and_status_2(capsys, pki, args, message):
    args = [pki.path(arg) if arg.endswith((".pem", ".key")) else arg for arg in args]
    if args[0] == "TLS":
        args[:1] = pki.server_args()
    assert_option_error(capsys, ["-d", EXAMPLE_DIR, *args], message)


def test_unreadable_certificate_exits_2_without_traceback(tmp_path, pki):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    result = run_cli("-d", "example", "-t", "-k", pki.path("server.key"), "-c", str(garbage))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot load certificate" in result.stderr
    assert "Traceback" not in result.stderr


# Basic authentication.


def basic(credential: str) -> str:
    return "Authorization: Basic " + base64.b64encode(credential.encode()).decode() + "\r\n"


def test_basic_auth_without_credential_gets_401_with_realm_for_files_and_websockets(site):
    with running_server("-d", site, "--basic-auth", "--basic-auth-credential", "alice:s3cret") as server:
        status, headers, _ = get(server.port, "/index.html")
        assert status == 401
        assert headers["www-authenticate"] == ['Basic realm="mod_pywebsocket"']
        with pytest.raises(InvalidStatus) as info:
            ws_connect(server.url("/echo"))
        assert info.value.response.status_code == 401


@pytest.mark.parametrize("credential", ["alice:wrong", "bob:s3cret", "alice", ""])
def test_basic_auth_with_wrong_credential_gets_401(site, credential):
    with running_server("-d", site, "--basic-auth", "--basic-auth-credential", "alice:s3cret") as server:
        assert get(server.port, "/index.html", basic(credential))[0] == 401
        assert get(server.port, "/index.html", "Authorization: Basic !!notbase64\r\n")[0] == 401


def test_basic_auth_with_the_credential_serves_files_and_websockets(site):
    with running_server("-d", site, "--basic-auth", "--basic-auth-credential", "alice:s3cret") as server:
        assert get(server.port, "/index.html", basic("alice:s3cret"))[0] == 200
        with ws_connect(f"ws://alice:s3cret@127.0.0.1:{server.port}/echo") as ws:
            ws.send("authorized")
            assert ws.recv(timeout=TIMEOUT) == "authorized"


def test_basic_auth_credential_defaults_to_test_test(site):
    with running_server("-d", site, "--basic-auth") as server:
        assert get(server.port, "/index.html", basic("test:test"))[0] == 200


def test_basic_auth_over_tls(site, pki):
    with running_server("-d", site, *pki.server_args(), "--basic-auth") as server:
        with ws_connect(f"wss://test:test@127.0.0.1:{server.port}/echo", ssl=pki.client_context()) as ws:
            ws.send("both")
            assert ws.recv(timeout=TIMEOUT) == "both"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--basic-auth", "--basic-auth-credential", "nocolon"], "credential must be user:password, not 'nocolon'"),
        (["--basic-auth-credential", "a:b"], "--basic-auth-credential needs --basic-auth"),
    ],
)
def test_bad_basic_auth_options_get_one_error_line_and_status_2(capsys, args, message):
    assert_option_error(capsys, ["-d", EXAMPLE_DIR, *args], message)


# CGI.


def cgi_env(port: int, target: str, headers: str = "") -> dict:
    status, response_headers, body = get(port, target, headers)
    assert status == 200, body
    assert response_headers["content-type"] == ["application/json"]
    return json.loads(body)


def test_cgi_get_gets_a_cgi_1_1_environment(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        report = cgi_env(server.port, "/cgi-bin/env.py/extra/path?a=1&b=%20x", "X-Custom: one\r\nX-Custom: two\r\n")
    env = report["env"]
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["SERVER_SOFTWARE"] == "mod_pywebsocket"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert env["SCRIPT_FILENAME"] == os.path.join(site, "cgi-bin", "env.py")
    assert env["PATH_INFO"] == "/extra/path"
    assert env["PATH_TRANSLATED"] == os.path.join(site, "extra", "path")
    assert env["QUERY_STRING"] == "a=1&b=%20x"
    assert env["REQUEST_URI"] == "/cgi-bin/env.py/extra/path?a=1&b=%20x"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    assert env["HTTP_X_CUSTOM"] == "one, two"
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env and "HTTPS" not in env
    assert report["body"] == "" and report["argv"] == []
    assert report["cwd"] == os.path.join(site, "cgi-bin")


def test_cgi_post_gets_the_body_and_content_headers(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        body = "name=value&\u00e9".encode()
        status, _, data = post(
            server.port, "/cgi-bin/env.py", body, "Content-Type: application/x-www-form-urlencoded\r\n"
        )
    assert status == 200
    report = json.loads(data)
    assert report["env"]["REQUEST_METHOD"] == "POST"
    assert report["env"]["CONTENT_LENGTH"] == str(len(body))
    assert report["env"]["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert "HTTP_CONTENT_LENGTH" not in report["env"] and "HTTP_CONTENT_TYPE" not in report["env"]
    assert report["body"].encode("latin-1") == body


def test_cgi_post_with_expect_100_continue_gets_100_first(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(
                b"POST /cgi-bin/env.py HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                b"Connection: close\r\n\r\n"
            )
            interim = read_until(sock, lambda data: data.endswith(b"\r\n\r\n"), size=1)
            assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
            sock.sendall(b"hello")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    status, _, body = parse_response(data)
    assert status == 200 and json.loads(body)["body"] == "hello"


def test_cgi_authorization_header_is_not_passed_but_remote_user_is(site):
    with running_server("-d", site, "-x", "/cgi-bin", "--basic-auth") as server:
        env = cgi_env(server.port, "/cgi-bin/env.py", basic("test:test"))["env"]
    assert env["AUTH_TYPE"] == "Basic" and env["REMOTE_USER"] == "test"
    assert "HTTP_AUTHORIZATION" not in env


def test_cgi_header_names_with_underscores_are_not_passed(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        env = cgi_env(server.port, "/cgi-bin/env.py", "X_Spoof: 1\r\nX-Real: 2\r\n")["env"]
    assert "HTTP_X_SPOOF" not in env and env["HTTP_X_REAL"] == "2"


def test_cgi_over_tls_sets_https(site, pki):
    with running_server("-d", site, "-x", "/cgi-bin", *pki.server_args()) as server:
        status, _, body = get(server.port, "/cgi-bin/env.py", context=pki.client_context())
    assert status == 200 and json.loads(body)["env"]["HTTPS"] == "on"


@pytest.mark.parametrize(
    ("query", "status", "headers", "body"),
    [
        ("status", 418, {"content-type": ["text/plain"]}, b"teapot"),
        ("status-code-only", 299, {"content-type": ["text/plain"]}, b"odd"),
        ("redirect", 302, {"location": ["http://example.invalid/elsewhere"]}, b""),
        ("redirect-with-status", 301, {"location": ["http://example.invalid/moved"]}, b"moved"),
        ("headers", 200, {"set-cookie": ["a=1", "b=2"], "content-length": ["4"]}, b"body"),
        ("stderr", 200, {}, b"see the log"),
    ],
)
def test_cgi_output_headers_make_the_response(site, query, status, headers, body):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        got_status, got_headers, got_body = get(server.port, "/cgi-bin/respond.py?" + query)
    assert got_status == status
    for name, values in headers.items():
        assert got_headers[name] == values
    assert got_body == body
    assert "keep-alive" not in got_headers.get("connection", [])


def test_cgi_no_content_status_has_no_body(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        status, headers, body = get(server.port, "/cgi-bin/respond.py?no-content")
    assert status == 204 and body == b"" and "content-length" not in headers


def test_cgi_local_redirect_serves_the_new_path(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        status, _, body = get(server.port, "/cgi-bin/respond.py?local-redirect")
        assert status == 200 and b"cgi test root" in body
        assert get(server.port, "/cgi-bin/respond.py?local-redirect-loop")[0] == 500


def test_cgi_stderr_and_exit_status_are_logged(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        assert get(server.port, "/cgi-bin/respond.py?stderr")[0] == 200
    assert "cgi script /cgi-bin/respond.py: a line for the log" in caplog.text
    assert "cgi script /cgi-bin/respond.py exited with status 3" in caplog.text


@pytest.mark.parametrize("query", ["no-blank-line", "no-headers", "bad-status", "no-content-type"])
def test_cgi_malformed_output_gets_502(site, query):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        assert get(server.port, "/cgi-bin/respond.py?" + query)[0] == 502


def test_cgi_head_runs_the_script_and_sends_no_body(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        data = exchange(
            server.port, b"HEAD /cgi-bin/respond.py?status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    status, headers, body = parse_response(data)
    assert status == 418 and headers["content-length"] == ["6"] and body == b""


def test_cgi_script_over_the_timeout_is_killed_with_504(site):
    with running_server("-d", site, "-x", "/cgi-bin", "--cgi-timeout", "0.5") as server:
        started = time.monotonic()
        assert get(server.port, "/cgi-bin/slow.py")[0] == 504
        assert time.monotonic() - started < 5


def test_cgi_several_prefixes_and_nested_scripts(site):
    with running_server("-d", site, "-x", "/cgi-bin, /scripts") as server:
        assert get(server.port, "/scripts/hello.sh")[2] == b"hello from /scripts/hello.sh\n"
        assert get(server.port, "/cgi-bin/dir/nested.py/x/")[2] == b"/cgi-bin/dir/nested.py /x/"


def test_cgi_percent_encoded_path_is_decoded(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        env = cgi_env(server.port, "/cgi-bin/%65nv.py/a%20b")["env"]
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py" and env["PATH_INFO"] == "/a b"


def test_cgi_prefix_serves_a_non_executable_file_as_a_plain_file(site):
    # pywebsocket's rule: a file that may not run is served as it is, so that
    # blinkpy's --cgi-paths / still serves the document root's other files.
    source = "print('Content-Type: text/plain\\n\\nnever')\n"
    with open(os.path.join(site, "cgi-bin", "plain.py"), "w") as script:
        script.write(source)
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        status, _, body = get(server.port, "/cgi-bin/plain.py")
    assert (status, body) == (200, source.encode())


def test_cgi_paths_root_runs_executables_and_serves_other_files(site):
    with running_server("-d", site, "-x", "/") as server:
        index = get(server.port, "/index.html")
        env = cgi_env(server.port, "/cgi-bin/env.py/x")["env"]
        missing = get(server.port, "/cgi-bin/missing.py")[0]
    with open(os.path.join(site, "index.html"), "rb") as page:
        assert index[:1] + index[2:] == (200, page.read())
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/cgi-bin/env.py", "/x")
    assert missing == 404


def test_cgi_file_that_cannot_be_executed_gets_500(site):
    path = os.path.join(site, "cgi-bin", "noshebang")
    with open(path, "wb") as script:
        script.write(b"\x00\x01 not a program")
    os.chmod(path, 0o755)
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        assert get(server.port, "/cgi-bin/noshebang")[0] == 500


def test_cgi_symlink_out_of_the_document_root_gets_403(site, tmp_path):
    outside = tmp_path / "outside.py"
    shutil.copy(os.path.join(CGI_DATA, "cgi-bin", "env.py"), outside)
    os.chmod(outside, 0o755)
    os.symlink(outside, os.path.join(site, "cgi-bin", "escape.py"))
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        assert get(server.port, "/cgi-bin/escape.py")[0] == 403


@pytest.mark.parametrize(
    "target",
    ["/cgi-bin/../cgi-bin/env.py", "/cgi-bin/%2e%2e/site/cgi-bin/env.py", "/cgi-bin/dir%2fnested.py",
     "/cgi-bin/missing.py", "/x/../cgi-bin/env.py", "/cgi-bin%2fenv.py",
     "/./cgi-bin/env.py", "/cgi-bin/./env.py"],
)  # fmt: skip
def test_cgi_missing_script_or_escaping_path_gets_404(site, target):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        assert get(server.port, target)[0] == 404


def test_cgi_prefix_serves_a_directory_as_a_directory(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        redirect = get(server.port, "/cgi-bin/dir")
        listing = get(server.port, "/cgi-bin/dir/")
    assert (redirect[0], redirect[1]["location"]) == (301, ["/cgi-bin/dir/"])
    assert listing[0] == 200 and b'<a href="nested.py">nested.py</a>' in listing[2]


def test_cgi_empty_path_segments_are_ignored(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        assert cgi_env(server.port, "//cgi-bin//env.py")["env"]["SCRIPT_NAME"] == "/cgi-bin/env.py"


def test_without_cgi_paths_scripts_are_served_as_files(site):
    with running_server("-d", site) as server:
        status, _, body = get(server.port, "/cgi-bin/env.py")
    assert status == 200 and body.startswith(b"#!/usr/bin/env python3")


@pytest.mark.parametrize("target", ["/link.txt", "/linkdir/secret.txt", "/linkdir/"])
def test_symlinks_out_of_the_document_root_are_not_served(tmp_path, site, target):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret content\n")
    os.symlink(outside / "secret.txt", os.path.join(site, "link.txt"))
    os.symlink(outside, os.path.join(site, "linkdir"))
    os.symlink("index.html", os.path.join(site, "inside.html"))
    with running_server("-d", site) as server:
        status, _, body = get(server.port, target)
        assert status == 404 and b"top secret content" not in body
        assert get(server.port, "/inside.html")[0] == 200


@pytest.mark.parametrize("target", ["/index.html%00", "/%00", "/index.html%00.txt"])
def test_nul_in_a_file_url_gets_404_without_an_error_log(site, caplog, target):
    with running_server("-d", site) as server:
        assert get(server.port, target)[0] == 404
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_post_outside_cgi_paths_gets_405(site):
    with running_server("-d", site, "-x", "/cgi-bin") as server:
        status, headers, _ = post(server.port, "/index.html", b"x")
    assert status == 405 and headers["allow"] == ["GET, HEAD"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("", 411),
        ("Content-Length: 12x\r\n", 400),
        ("Content-Length: 2000\r\n", 413),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
    ],
)
def test_cgi_post_body_problems_get_4xx_5xx(site, headers, status):
    with running_server("-d", site, "-x", "/cgi-bin", "--max-request-body", "1000") as server:
        request = f"POST /cgi-bin/env.py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
        assert parse_response(exchange(server.port, request.encode()))[0] == status


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-x", "cgi-bin"], "cgi path 'cgi-bin' must start with /"),
        (["-x", "/no-such-dir"], "cgi path '/no-such-dir' is not a directory under the document root"),
        (["--cgi-timeout", "0"], "expected a positive number of seconds, not '0'"),
        (["--max-request-body", "-1"], "expected a positive number, not -1"),
    ],
)
def test_bad_cgi_options_get_one_error_line_and_status_2(capsys, args, message):
    assert_option_error(capsys, ["-d", EXAMPLE_DIR, *args], message)


# The config file and --help.


def test_config_file_sets_options_and_the_command_line_wins(tmp_path, site):
    config = tmp_path / "server.ini"
    config.write_text(
        f"# options\ndocument-root = {site}\nlog_level = warning\nqueue = 7\nstrict = true\n"
        "allow-draft75 = no\n[mod_pywebsocket]\ncgi-paths = /cgi-bin\n"
    )
    options = standalone.parse_options(["--config", str(config), "--queue", "9"])
    assert options.document_root == site
    assert options.log_level == "warning"
    assert options.request_queue_size == 9
    assert options.strict is True and options.allow_draft75 is False
    assert options.cgi_paths == ["/cgi-bin"]


def test_config_file_runs_a_server(tmp_path, site):
    config = tmp_path / "server.ini"
    config.write_text(f"[mod_pywebsocket]\ndocument_root = {site}\ncgi_paths = /scripts\n")
    with running_server("--config", str(config)) as server:
        assert get(server.port, "/scripts/hello.sh")[2] == b"hello from /scripts/hello.sh\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-such-option = 1\n", "unknown option 'no-such-option'"),
        ("config = other.ini\n", "unknown option 'config'"),
        ("[other]\nport = 1\n", "unknown section [other]"),
        ("tls = maybe\n", "tls must be true or false, not 'maybe'"),
        ("port = http\n", "port must be a number, not 'http'"),
        ("just a line\n", "is malformed"),
    ],
)
def test_bad_config_file_gets_one_error_line_and_status_2(tmp_path, capsys, text, message):
    config = tmp_path / "server.ini"
    config.write_text(text)
    assert_option_error(capsys, ["--config", str(config)], message)


def test_missing_config_file_gets_one_error_line_and_status_2(tmp_path, capsys):
    assert_option_error(capsys, ["--config", str(tmp_path / "missing.ini")], "cannot read config file")


def test_help_documents_every_option():
    result = run_cli("--help")
    assert result.returncode == 0
    parser = standalone.build_parser()
    for name, action in parser.long_options.items():
        assert f"--{name}" in result.stdout, name
        assert action.help, name
    assert set(parser.long_options) == {
        "server-host", "port", "document-root", "cgi-paths", "queue", "config", "websock-handlers",
        "websock-handlers-map-file", "scan-dir", "allow-handlers-outside-root-dir", "allow-draft75", "strict",
        "validation-host", "validation-port", "tls", "private-key", "certificate", "tls-client-auth",
        "tls-client-ca", "ca-certificate", "basic-auth", "basic-auth-credential", "max-line-length",
        "max-header-count", "max-head-size", "handshake-timeout", "max-message-size", "max-connections",
        "max-incoming-memory", "max-request-body", "cgi-timeout", "log-file", "log-level", "log-max", "log-count",
        "thread-monitor-interval-in-sec", "handler-encoding", "tls-client-cert-optional", "deflate-log-level",
        "tls-module", "examples", "reload", "http2", "write-timeout",
    }  # fmt: skip


UNDERSCORE_SAMPLES = {
    "cgi-paths": "/c",
    "log-level": "debug",
    "basic-auth-credential": "a:b",
    "handler-encoding": "latin-1",
    "deflate-log-level": "debug",
    "tls-module": "ssl",
}


@pytest.mark.parametrize("name", sorted(name for name in standalone.build_parser().long_options if "-" in name))
def test_long_option_accepts_the_underscore_spelling(name):
    parser = standalone.build_parser()
    action = parser.long_options[name]
    value = [] if action.nargs == 0 else [UNDERSCORE_SAMPLES.get(name, "1")]
    with_underscore = getattr(parser.parse_args(["--" + name.replace("-", "_"), *value]), action.dest)
    assert with_underscore == getattr(parser.parse_args(["--" + name, *value]), action.dest)
    assert with_underscore != action.default


def test_every_long_option_has_a_test_in_this_file_or_test_endtoend_or_test_embedding():
    with open(__file__) as source:
        here = source.read()
    endtoend = ""
    for name in ("test_endtoend.py", "test_embedding.py", "test_standalone_startup.py"):
        with open(os.path.join(os.path.dirname(__file__), name)) as source:
            endtoend += source.read()
    untested = [name for name in standalone.build_parser().long_options if f"--{name}" not in here + endtoend]
    short_only = {"server-host": '"-H"', "port": '"-p"', "document-root": '"-d"', "scan-dir": '"-s"',
                  "websock-handlers": '"-w"', "websock-handlers-map-file": '"-m"', "cgi-paths": '"-x"',
                  "tls": '"-t"', "private-key": '"-k"', "certificate": '"-c"', "log-file": '"-l"',
                  "queue": '"-q"', "validation-host": '"-V"', "validation-port": '"-P"'}  # fmt: skip
    assert [name for name in untested if short_only.get(name, "--") not in here + endtoend] == []


# Logging.


@pytest.mark.parametrize(
    ("level", "number"),
    [
        ("fine", 9),
        ("debug", 10),
        ("info", 20),
        ("warning", 30),
        ("warn", 30),
        ("error", 40),
        ("critical", 50),
        ("INFO", 20),
    ],
)
def test_log_level_sets_the_root_logger_level(level, number):
    options = standalone.parse_options(["-d", EXAMPLE_DIR, "--log-level", level])
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = []  # so that _configure_logging does not close pytest's handlers
    try:
        standalone._configure_logging(options)
        assert root.level == number
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_log_level_warning_hides_info_lines(tmp_path):
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", "example",
             "--log-level", "warning", "-V", "ignored.example"],
            cwd=REPO_ROOT, stderr=log,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while "take effect only with --strict" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log_path.read_text()
    assert "[WARNING]" in text and "take effect only with --strict" in text
    assert "[INFO]" not in text


def test_log_level_debug_shows_the_wire_trace(tmp_path, site):
    with cli_server(tmp_path, "-d", site, "--log-level", "debug") as (process, port, log_path):
        with ws_connect(f"ws://127.0.0.1:{port}/echo") as ws:
            ws.send("traced")
            assert ws.recv(timeout=TIMEOUT) == "traced"
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    assert "[DEBUG]" in log_path.read_text()


def test_log_file_is_rotated_at_log_max_keeping_log_count_files(tmp_path, site):
    log_file = tmp_path / "logs" / "server.log"
    log_file.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "mod_pywebsocket.standalone", "-H", "127.0.0.1", "-p", "0", "-d", site,
         "-l", str(log_file), "--log-max", "2000", "--log-count", "2"],
        cwd=REPO_ROOT, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        match = None
        while match is None and time.monotonic() < deadline:
            time.sleep(0.05)
            match = re.search(r"listening on \S+:(\d+)", log_file.read_text() if log_file.exists() else "")
        assert match is not None
        for _ in range(40):
            assert get(int(match.group(1)), "/index.html")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    names = sorted(os.listdir(log_file.parent))
    assert names == ["server.log", "server.log.1", "server.log.2"]
    for name in names:
        assert os.path.getsize(log_file.parent / name) <= 2000
    assert '"GET /index.html HTTP/1.1" 200' in (log_file.parent / "server.log.1").read_text()


def test_unwritable_log_file_exits_2(tmp_path):
    result = run_cli("-d", "example", "-l", str(tmp_path / "no" / "such" / "dir" / "log"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot open log file" in result.stderr


def test_websocket_end_is_logged_with_peer_resource_version_extensions_duration_and_code(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        with ws_connect(server.url("/echo"), subprotocols=["chat"]) as ws:
            ws.send("x")
            assert ws.recv(timeout=TIMEOUT) == "x"
            port = ws.socket.getsockname()[1]
        deadline = time.monotonic() + TIMEOUT
        while "websocket /echo ended" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    lines = [record.getMessage() for record in caplog.records if "websocket /echo ended" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"127.0.0.1:{port} - websocket /echo ended after ")
    assert ": version 13, protocol chat, extensions permessage-deflate" in lines[0]
    assert lines[0].endswith(", closed by the client with code 1000")
    assert all(record.levelno == logging.INFO for record in caplog.records if "ended after" in record.getMessage())


def test_websocket_end_log_line_says_when_the_server_started_the_close(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        with ws_connect(server.url("/info")) as ws:  # sends one message and returns: the server closes
            json.loads(ws.recv(timeout=TIMEOUT))
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while "websocket /info ended" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
    lines = [record.getMessage() for record in caplog.records if "websocket /info ended" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].endswith(", closed by the server, the client answered code 1000")


def test_plain_http_requests_get_access_log_lines(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        get(server.port, "/index.html")
        get(server.port, "/missing.html")
    assert '"GET /index.html HTTP/1.1" 200' in caplog.text
    assert '"GET /missing.html HTTP/1.1" 404' in caplog.text


def test_handler_error_is_logged_with_its_traceback(site, caplog):
    caplog.set_level(logging.INFO)
    with running_server("-d", site) as server, ws_connect(server.url("/raise")) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None and "raised on purpose" in caplog.text


def test_thread_monitor_logs_the_thread_count(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site, "--thread-monitor-interval-in-sec", "0.1"):
        deadline = time.monotonic() + TIMEOUT
        while caplog.text.count("threads alive") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert caplog.text.count("threads alive") >= 2


def test_thread_monitor_of_0_7_9_alone_logs_the_thread_count_until_stopped(caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    monitor = standalone.ThreadMonitor(0.05)
    monitor.start()
    deadline = time.monotonic() + TIMEOUT
    while "threads alive" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    monitor.stop()
    monitor.join(TIMEOUT)
    assert not monitor.is_alive() and monitor.daemon and monitor.name == "ThreadMonitor"
    assert re.search(r"^\d+ threads alive$", caplog.records[0].getMessage())


def test_tls_probes_of_0_7_9_choose_the_ssl_module():
    # Old WPT: "if _import_ssl(): tls_module = _TLS_BY_STANDARD_MODULE elif _import_pyopenssl(): ...".
    assert (standalone._import_ssl(), standalone._import_pyopenssl()) == (True, False)
    assert (standalone._TLS_BY_STANDARD_MODULE, standalone._TLS_BY_PYOPENSSL) == ("ssl", "pyopenssl")


def test_thread_monitor_is_off_by_default(site, caplog):
    caplog.set_level(logging.INFO, logger="mod_pywebsocket")
    with running_server("-d", site) as server:
        assert server.server.options.thread_monitor_interval_in_sec == 0
        time.sleep(0.3)
    assert "threads alive" not in caplog.text


# Host validation, IPv6, queue, handler options.


@pytest.mark.parametrize(
    ("args", "host", "status"),
    [
        (["-V", "example.test"], "example.test", 200),
        (["-V", "example.test"], "EXAMPLE.test:80", 200),
        (["-V", "example.test"], "other.test", 403),
        (["-P", "8080"], "example.test:8080", 200),
        (["-P", "8080"], "example.test:8081", 403),
        (["-P", "80"], "example.test", 200),
        (["-V", "example.test", "-P", "80"], "example.test:81", 403),
        (["-V", "::1"], "[::1]:1234", 200),
        (["-V", "example.test"], "example.test:http", 400),
        (["-V", "example.test"], None, 400),
    ],
)
def test_strict_validation_host_and_port_check_the_host_header(site, args, host, status):
    with running_server("-d", site, "--strict", *args) as server:
        headers = f"Host: {host}\r\n" if host is not None else ""
        request = f"GET /index.html HTTP/1.1\r\n{headers}Connection: close\r\n\r\n".encode()
        assert parse_response(exchange(server.port, request))[0] == status


def test_strict_validation_applies_to_websockets(site):
    with running_server("-d", site, "--strict", "-V", "example.test") as server:
        with pytest.raises(InvalidStatus) as info:
            ws_connect(server.url("/echo"))
        assert info.value.response.status_code == 403


def test_validation_host_without_strict_is_ignored(site):
    with running_server("-d", site, "-V", "example.test", "-P", "1") as server:
        assert get(server.port, "/index.html")[0] == 200


def test_ipv6_server_host(site):
    with running_server("-d", site, "-H", "::1") as server:
        with ws_connect(f"ws://[::1]:{server.port}/echo") as ws:
            ws.send("over ipv6")
            assert ws.recv(timeout=TIMEOUT) == "over ipv6"
        assert get(server.port, "/index.html", host="::1")[0] == 200


def test_queue_sets_the_listen_backlog(site):
    with running_server("-d", site, "-q", "7") as server:
        assert server.server.request_queue_size == 7


def test_websock_handlers_is_relative_to_the_document_root(tmp_path, site):
    with running_server("-d", str(tmp_path), "-w", "site") as server, ws_connect(server.url("/echo")) as ws:
        ws.send("relative")
        assert ws.recv(timeout=TIMEOUT) == "relative"


def test_scan_dir_limits_the_handlers_loaded(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    for directory in (root, root / "sub"):
        (directory / "echo_wsh.py").write_text(HANDLERS["echo_wsh.py"])
    with running_server("-d", str(root), "-s", "sub") as server:
        with ws_connect(server.url("/sub/echo")) as ws:
            ws.send("scanned")
            assert ws.recv(timeout=TIMEOUT) == "scanned"
        with pytest.raises(InvalidStatus) as info:
            ws_connect(server.url("/echo"))
        assert info.value.response.status_code == 404


@pytest.mark.parametrize(("flag", "status"), [([], 404), (["--allow-handlers-outside-root-dir"], 101)])
def test_allow_handlers_outside_root_dir_loads_symlinked_handlers(tmp_path, flag, status):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "echo_wsh.py").write_text(HANDLERS["echo_wsh.py"])
    os.symlink(tmp_path / "echo_wsh.py", root / "linked_wsh.py")
    with running_server("-d", str(root), *flag) as server:
        response = exchange(server.port, upgrade_request("/linked") + b"\x88\x80\x00\x00\x00\x00")
        assert parse_response(response)[0] == status


HYBI00_REQUEST = (
    b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
    b"Origin: http://127.0.0.1\r\nSec-WebSocket-Key1: 18x 6]8vM;54 *(5:  {   U1]8  z [  8\r\n"
    b"Sec-WebSocket-Key2: 1_ tx7X d  <  nw  334J702) 7]o}` 0\r\n\r\nTm[K T2u"
)


HIXIE75_REQUEST = (
    b"GET /echo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: 127.0.0.1\r\n"
    b"Origin: http://127.0.0.1\r\n\r\n"
)


@pytest.mark.parametrize(("flag", "expected"), [([], b"HTTP/1.1 400 "), (["--allow-draft75"], b"HTTP/1.1 101 ")])
def test_allow_draft75_accepts_hixie_75(site, flag, expected):
    with running_server("-d", site, *flag) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HIXIE75_REQUEST)
            assert read_until(sock, lambda data: b"\r\n" in data).startswith(expected)


def test_strict_rejects_hixie_75_headers_out_of_order(site):
    reordered = (
        b"GET /echo HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nHost: 127.0.0.1\r\n"
        b"Origin: http://127.0.0.1\r\n\r\n"
    )
    with running_server("-d", site, "--allow-draft75", "--strict") as server:
        assert parse_response(exchange(server.port, reordered))[0] == 400


def test_raw_request_lines_are_the_lines_as_received(site):
    with running_server("-d", site) as server, ws_connect(server.url("/info?q=1")) as ws:
        info = json.loads(ws.recv(timeout=TIMEOUT))
    assert info["raw_request_line"] == "GET /info?q=1 HTTP/1.1\r\n" and info["uri"] == "/info?q=1"


# The request head parser.


def test_read_request_head_leaves_the_body_unread_and_keeps_header_spellings():
    stream = io.BytesIO(b"POST /x?y HTTP/1.1\r\nHost: h\r\nX-Dup: 1\nx-dup: 2\r\nContent-Length: 4\r\n\r\nbody")
    head = _standalone_http.read_request_head(stream.readline, 100, 10)
    assert (head.method, head.target, head.version) == ("POST", "/x?y", "HTTP/1.1")
    assert head.headers.get_all("x-DUP") == ["1", "2"]
    assert head.headers["Missing"] is None
    assert [name for name, _ in head.headers.items()] == ["Host", "X-Dup", "x-dup", "Content-Length"]
    assert head.raw_lines[0] == b"POST /x?y HTTP/1.1\r\n" and head.raw_lines[-1] == b"\r\n"
    assert head.close_connection is False
    assert stream.read() == b"body"


@pytest.mark.parametrize(
    ("head", "close"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\n\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", False),
    ],
)
def test_read_request_head_decides_keep_alive(head, close):
    assert _standalone_http.read_request_head(io.BytesIO(head).readline, 100, 10).close_connection is close


@pytest.mark.parametrize("data", [b"", b"\r\n\r\nGET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n", b"GET / HT"])
def test_read_request_head_at_eof(data):
    if data:
        with pytest.raises(_standalone_http.IncompleteRequest):
            _standalone_http.read_request_head(io.BytesIO(data).readline, 100, 10)
    else:
        assert _standalone_http.read_request_head(io.BytesIO(data).readline, 100, 10) is None


def test_keep_alive_connection_serves_pipelined_requests_then_idles_out(site):
    with running_server("-d", site, "--handshake-timeout", "1") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            request = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
            sock.sendall(request * 2)
            started = time.monotonic()
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
            assert 0.9 < time.monotonic() - started < 3


def test_hybi00_challenge_after_the_head_reaches_the_handshake(site):
    with running_server("-d", site) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HYBI00_REQUEST)
            data = read_until(sock, lambda data: data.endswith(b"fQJ,fN/4F4!~K~MH"))
            assert data.startswith(b"HTTP/1.1 101 ")
            sock.sendall(b"\x00hybi-00\xff")
            assert read_until(sock, lambda data: len(data) >= 9) == b"\x00hybi-00\xff"


# Limits.


def test_request_line_over_max_line_length_gets_414(site):
    with running_server("-d", site, "--max-line-length", "100") as server:
        assert get(server.port, "/" + "a" * 100)[0] == 414
        assert get(server.port, "/index.html")[0] == 200


def test_header_line_over_max_line_length_gets_431(site):
    with running_server("-d", site, "--max-line-length", "100") as server:
        assert get(server.port, "/index.html", "X-Long: " + "b" * 100 + "\r\n")[0] == 431
        assert get(server.port, "/index.html", "X-Short: " + "b" * 80 + "\r\n")[0] == 200


def test_more_headers_than_max_header_count_gets_431(site):
    with running_server("-d", site, "--max-header-count", "5") as server:
        # Host and Connection are two of them.
        assert get(server.port, "/index.html", "X-A: 1\r\nX-B: 1\r\nX-C: 1\r\nX-D: 1\r\n")[0] == 431
        assert get(server.port, "/index.html", "X-A: 1\r\nX-B: 1\r\nX-C: 1\r\n")[0] == 200


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /index.html HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
        (b"GET /index.html HTTP/1.1\r\nHost x\r\n\r\n", 400),
        (b"GET /index.html HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        (b"GET /index.html\r\n\r\n", 400),
        (b"G(T /index.html HTTP/1.1\r\n\r\n", 400),
        (b"DELETE /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"\r\nGET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200),
    ],
    ids=["http2", "folded", "no-colon", "space-in-name", "http09", "bad-method", "delete", "leading-empty-line"],
)
def test_malformed_request_heads_get_the_right_status(site, request_bytes, status):
    with running_server("-d", site) as server:
        assert parse_response(exchange(server.port, request_bytes))[0] == status


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "one-byte-at-a-time"])
def test_client_that_never_finishes_its_request_is_dropped_without_holding_others(site, drip):
    with running_server("-d", site, "--handshake-timeout", "2") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as slow:
            started = time.monotonic()
            stop = threading.Event()

            def dripper() -> None:
                for byte in b"GET /index.html HTTP/1.1\r\nX-Slow: " + b"y" * 1000:
                    if stop.wait(0.2):
                        return
                    try:
                        slow.send(bytes([byte]))
                    except OSError:
                        return

            thread = threading.Thread(target=dripper)
            if drip:
                thread.start()
            try:
                with ws_connect(server.url("/echo")) as ws:
                    ws.send("others are served")
                    assert ws.recv(timeout=TIMEOUT) == "others are served"
                assert get(server.port, "/index.html")[0] == 200
                assert time.monotonic() - started < 1.5
                slow.settimeout(TIMEOUT)
                while slow.recv(65536):
                    pass
                assert 1.9 < time.monotonic() - started < 6
            finally:
                stop.set()
                if drip:
                    thread.join(TIMEOUT)


def test_open_websocket_outlives_the_handshake_timeout(site):
    with running_server("-d", site, "--handshake-timeout", "0.3") as server, ws_connect(server.url("/echo")) as ws:
        time.sleep(1)
        ws.send("still open")
        assert ws.recv(timeout=TIMEOUT) == "still open"


def test_max_message_size_is_given_to_handlers(site):
    with running_server("-d", site, "--max-message-size", "1000") as server, ws_connect(server.url("/info")) as ws:
        assert json.loads(ws.recv(timeout=TIMEOUT))["max_message_size"] == 1000


def test_max_message_size_defaults_to_64_mib():
    assert standalone.parse_options(["-d", EXAMPLE_DIR]).max_message_size == 64 * 1024 * 1024


def test_message_over_max_message_size_closes_with_1009(site):
    with running_server("-d", site, "--max-message-size", "1000") as server:
        with ws_connect(server.url("/echo"), compression=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(timeout=TIMEOUT) == "a" * 1000
            ws.send(b"b" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
        assert info.value.rcvd.code == common.STATUS_MESSAGE_TOO_BIG


def test_hybi00_message_over_max_message_size_ends_the_connection(site):
    with running_server("-d", site, "--max-message-size", "10") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HYBI00_REQUEST)
            read_until(sock, lambda data: data.endswith(b"fQJ,fN/4F4!~K~MH"))
            sock.sendall(b"\x00" + b"a" * 10 + b"\xff")
            assert read_until(sock, lambda data: len(data) >= 12) == b"\x00" + b"a" * 10 + b"\xff"
            sock.sendall(b"\x00" + b"b" * 11 + b"\xff")
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            assert received == b"\xff\x00"


def test_connections_over_max_connections_get_503_with_retry_after(site):
    with running_server("-d", site, "--max-connections", "1") as server:
        with ws_connect(server.url("/echo")) as ws:
            status, headers, _ = get(server.port, "/index.html")
            assert status == 503 and headers["retry-after"] == ["5"]
            with pytest.raises(InvalidStatus) as info:
                ws_connect(server.url("/echo"))
            assert info.value.response.status_code == 503
            ws.send("the first is served")
            assert ws.recv(timeout=TIMEOUT) == "the first is served"
        deadline = time.monotonic() + TIMEOUT
        while server.server.connection_count() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert get(server.port, "/index.html")[0] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-line-length", "65537"], "expected at most 65536, not 65537"),
        (["--max-header-count", "0"], "expected a positive number, not 0"),
        (["--handshake-timeout", "-1"], "expected a positive number of seconds, not '-1'"),
        (["--handshake-timeout", "soon"], "expected a number of seconds, not 'soon'"),
        (["--max-message-size", "big"], "expected a number, not 'big'"),
        (["--max-connections", "0"], "expected a positive number, not 0"),
        (["--thread-monitor-interval-in-sec", "often"], "expected a number of seconds, not 'often'"),
        (["-P", "70000"], "port 70000 is not in 0-65535"),
        (["--log-max", "0"], "expected a positive number, not 0"),
        (["--log-count", "x"], "expected a number, not 'x'"),
        (["-w", "no-such-dir"], "handler root 'no-such-dir' is not a directory"),
        (["-s", "no-such-dir"], "is not a directory"),
        (["-m", "/no/such/map"], "handler map file '/no/such/map' does not exist"),
    ],
)
def test_bad_option_values_get_one_error_line_and_status_2(capsys, args, message):
    assert_option_error(capsys, ["-d", EXAMPLE_DIR, *args], message)


def test_port_in_use_exits_2_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("-H", "127.0.0.1", "-p", str(taken.getsockname()[1]), "-d", "example")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Address already in use" in result.stderr


def test_default_port_is_80():
    options = standalone.parse_options(["-d", EXAMPLE_DIR])
    assert options.port == 80 and options.server_host == ""


# Shutdown.


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_ten_websockets_with_1001_and_exits_0(tmp_path, site, signum):
    with cli_server(tmp_path, "-d", site) as (process, port, log_path):
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(ws_connect(f"ws://127.0.0.1:{port}/echo")) for _ in range(10)]
            for number, ws in enumerate(clients):
                ws.send(str(number))
                assert ws.recv(timeout=TIMEOUT) == str(number)
            started = time.monotonic()
            process.send_signal(signum)
            codes = []
            for ws in clients:
                with pytest.raises(ConnectionClosed) as info:
                    ws.recv(timeout=TIMEOUT)
                codes.append(info.value.rcvd.code)
            assert codes == [common.STATUS_GOING_AWAY] * 10
            assert process.wait(TIMEOUT) == 0
            assert time.monotonic() - started < 5
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
    assert "stopped" in log_path.read_text()


def test_close_websockets_sends_1001_over_tls(site, pki):
    with running_server("-d", site, *pki.server_args()) as server, contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(ws_connect(server.url("/echo", "wss"), ssl=pki.client_context())) for _ in range(3)
        ]
        for ws in clients:
            ws.send("ready")
            assert ws.recv(timeout=TIMEOUT) == "ready"
        server.server.close_websockets(wait=TIMEOUT)
        assert server.server.open_websocket_count() == 0
        for ws in clients:
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
            assert info.value.rcvd.code == common.STATUS_GOING_AWAY


@pytest.mark.parametrize(
    ("request_bytes", "head_end", "closing"),
    [(HYBI00_REQUEST, b"fQJ,fN/4F4!~K~MH", b"\xff\x00"), (HIXIE75_REQUEST, b"\r\n\r\n", b"")],
    ids=["hybi-00", "hixie-75"],
)
def test_close_websockets_ends_old_protocol_connections(site, request_bytes, head_end, closing):
    with running_server("-d", site, "--allow-draft75") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(request_bytes)
            data = read_until(sock, lambda data: data.endswith(head_end))
            assert data.startswith(b"HTTP/1.1 101 ")
            wait_until(lambda: server.server.open_websocket_count() == 1)  # registered just after the 101
            started = time.monotonic()
            closer = threading.Thread(target=server.server.close_websockets, kwargs={"wait": TIMEOUT})
            closer.start()
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
                if received == b"\xff\x00":
                    sock.sendall(b"\xff\x00")
            closer.join(TIMEOUT)
            assert received == closing
            assert time.monotonic() - started < 3
            assert server.server.open_websocket_count() == 0


def test_websocket_opened_while_closing_gets_1001_at_once(site):
    with running_server("-d", site) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as silent:
            silent.sendall(upgrade_request())  # this client never answers the close: closing waits for it
            wait_until(lambda: server.server.open_websocket_count() == 1)
            closer = threading.Thread(target=server.server.close_websockets, kwargs={"wait": 3})
            closer.start()
            try:
                time.sleep(0.2)
                with ws_connect(server.url("/echo")) as ws:
                    with pytest.raises(ConnectionClosed) as info:
                        ws.recv(timeout=TIMEOUT)
                    assert info.value.rcvd.code == common.STATUS_GOING_AWAY
                assert closer.is_alive()
            finally:
                closer.join(TIMEOUT)


def test_shutdown_wait_is_bounded_when_a_client_never_answers_the_close(tmp_path, site):
    with cli_server(tmp_path, "-d", site) as (process, port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(upgrade_request())
            response = read_until(sock, lambda data: b"\r\n\r\n" in data)
            assert response.startswith(b"HTTP/1.1 101 ")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = read_until(sock, lambda data: len(data) >= 4, response.split(b"\r\n\r\n", 1)[1])
            assert rest[:4] == b"\x88\x02\x03\xe9"  # close 1001, which this client never answers
            assert process.wait(TIMEOUT) == 0
            assert 4 < time.monotonic() - started < 8


# Packaging.


def test_console_script_entry_point_is_main():
    tomllib = pytest.importorskip("tomllib")

    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as source:
        scripts = tomllib.load(source)["project"]["scripts"]
    assert scripts["pywebsocket-standalone"] == "mod_pywebsocket.standalone:main"
    assert callable(standalone.main)


def test_options_module_log_levels_match_logging():
    for name, number in _standalone_options.LOG_LEVELS.items():
        assert logging.getLevelName(number) == {"warn": "WARNING"}.get(name, name.upper())
