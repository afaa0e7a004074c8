"""The HTTP/2 conformance table (Autobahn sections 1-10 over RFC 8441) through Apache's mod_http2.

The table is ``h2_cases.CASES``, which test_h2_conformance.py runs against
the standalone server; here every case runs against example/echo_wsh.py
under a private Apache (test/httpd.py, mpm event, mod_http2 with
``H2WebSockets on``), over cleartext h2c and over TLS h2. Without h2,
Apache, mod_http2 or Node.js the module skips and says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from test import httpd
from test.conftest import EXAMPLE_DIR
from test.h2_cases import CASES, check_case
from test.pki import Pki

pytest.importorskip("h2", reason="HTTP/2 NOT RUN: the h2 package is not installed (requirements/test.txt)")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=["h2c", "h2"])
def apache_echo(request: pytest.FixtureRequest, pki: Pki) -> Iterator[tuple[str, dict[str, Any]]]:
    """Apache's example /echo over h2c or h2, and the client's TLS arguments."""
    httpd.require_http2()
    tls = (pki.path("server.pem"), pki.path("server.key")) if request.param == "h2" else None
    with httpd.Httpd(EXAMPLE_DIR, mpm="event", http2=True, tls=tls) as server:
        yield server.url("/echo"), ({"ca": pki.path("ca.pem")} if tls else {})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_conformance_over_http2_through_apache(apache_echo: tuple[str, dict[str, Any]], case: Any) -> None:
    url, client = apache_echo
    check_case(url, case, **client)
