"""The standalone server's HTTP side: static files, CGI scripts (-x) and request bodies.

Servers run in this process (``running_server``) or as a subprocess
(``servers.cli_server``); clients are the ``websockets`` library and raw
sockets (test/wire.py). The ``site`` and ``pki`` fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time

import pytest

from test.conftest import EXAMPLE_DIR, running_server
from test.servers import SITE, assert_option_error
from test.wire import TIMEOUT, basic, get, parse_response, post, read_until, roundtrip

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
        data = roundtrip(
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
    shutil.copy(os.path.join(SITE, "cgi-bin", "env.py"), outside)
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
        assert parse_response(roundtrip(server.port, request.encode()))[0] == status


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
