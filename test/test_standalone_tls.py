"""The standalone server over TLS (-t, client certificates) and with Basic authentication.

Servers run in this process (``running_server``) or as a subprocess
(``servers.cli_server``); clients are the ``websockets`` library and raw
sockets (test/wire.py). The ``site`` and ``pki`` fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from mod_pywebsocket import standalone
from test.conftest import EXAMPLE_DIR, running_server
from test.servers import assert_option_error, run_cli, wait_for_log
from test.wire import TIMEOUT, basic, get, roundtrip, ws_connect

# TLS.


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
            assert roundtrip(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
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
