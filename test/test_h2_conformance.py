"""The HTTP/2 conformance table (test/h2_cases.py) against the standalone server with ``--http2``.

Every case runs over cleartext h2c and over TLS h2; ``test_h2_apache_conformance.py``
runs the same table through Apache's mod_http2. Without Node.js they skip, loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from test.conftest import EXAMPLE_DIR, running_server
from test.h2_cases import CASES, check_case

pytest.importorskip("h2", reason="HTTP/2 NOT RUN: the h2 package is not installed (requirements/test.txt)")


@pytest.fixture(scope="module", params=["h2c", "h2"])
def echo_url(request, pki) -> Iterator[tuple[str, dict[str, Any]]]:
    """The example echo resource of a ``--http2`` server, cleartext or TLS, and the client's TLS arguments."""
    tls = request.param == "h2"
    with running_server("-d", EXAMPLE_DIR, "--http2", *(pki.server_args() if tls else [])) as server:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.port}/echo", ({"ca": pki.path("ca.pem")} if tls else {})


def test_the_table_covers_sections_1_to_10():
    sections = {case.id.split(".")[0] for case in CASES}
    assert {"1", "2", "3", "4", "5", "6", "7", "9", "10"} <= sections
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_conformance_over_http2(echo_url, case):
    url, client = echo_url
    check_case(url, case, **client)
