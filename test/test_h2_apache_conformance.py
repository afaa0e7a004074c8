"""The HTTP/2 conformance table (Autobahn sections 1-10 over RFC 8441) through Apache's mod_http2.

``test_h2_conformance.CASES`` and ``check_case`` come with the standalone
server's HTTP/2 mode; here every case runs against example/echo_wsh.py
under a private Apache (test/httpd.py, mpm event, mod_http2 with
``H2WebSockets on``), over cleartext h2c and over TLS h2. Without the
table, Apache, mod_http2 or Node.js the module skips and says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from test import httpd
from test.conftest import EXAMPLE_DIR
from test.test_standalone import Pki

conformance = pytest.importorskip(
    "test.test_h2_conformance",
    reason="HTTP/2 CONFORMANCE NOT RUN: test/test_h2_conformance.py (the table) is missing",
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The test CA and a server certificate for 127.0.0.1."""
    return Pki(tmp_path_factory.mktemp("h2-apache-pki"))


@pytest.fixture(scope="module", params=["h2c", "h2"])
def apache_echo(request: pytest.FixtureRequest, pki: Pki) -> Iterator[tuple[str, dict[str, Any]]]:
    """Apache's example /echo over h2c or h2, and the client's TLS arguments."""
    httpd.require_http2()
    tls = (pki.path("server.pem"), pki.path("server.key")) if request.param == "h2" else None
    with httpd.Httpd(EXAMPLE_DIR, mpm="event", http2=True, tls=tls) as server:
        yield server.url("/echo"), ({"ca": pki.path("ca.pem")} if tls else {})


@pytest.mark.parametrize("case", conformance.CASES, ids=[case.id for case in conformance.CASES])
def test_conformance_over_http2_through_apache(apache_echo: tuple[str, dict[str, Any]], case: Any) -> None:
    url, client = apache_echo
    conformance.check_case(url, case, **client)
