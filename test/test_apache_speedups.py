"""Apache + mod_python masks with the C accelerator built in the checkout (``make speedups``).

mod_python runs Debian's Python, not the one that ran the tests; an
extension built for the same minor version loads in both. Skips without
Apache (``APACHE NOT RUN: ...``) or without the built extension.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mod_pywebsocket import _masking
from test import httpd, wire
from test.servers import APACHE_HANDLERS

pytestmark = pytest.mark.timeout(120)


def test_apache_logs_that_it_masks_with_the_c_accelerator_and_echoes_masked_data_exactly():
    pytest.importorskip("mod_pywebsocket._speedups", reason="the C accelerator is not built (make speedups)")
    if os.environ.get(_masking.NO_ACCELERATOR_ENV):
        pytest.skip(f"{_masking.NO_ACCELERATOR_ENV} is set for this test run")
    httpd.require_apache()
    server = httpd.Httpd(Path(APACHE_HANDLERS), log_level="info")
    server.start()
    try:
        payloads = [os.urandom(length) for length in (0, 1, 125, 4097, 70001)]
        with wire.ws_connect(server.ws_url("/echo"), compression=None, ping_interval=None) as ws:
            for payload in payloads:
                ws.send(payload)
                assert ws.recv(timeout=wire.TIMEOUT) == payload
        log = server.error_log_text()
    finally:
        server.stop()
    assert "mod_pywebsocket._masking: frame masking: mod_pywebsocket._speedups (C extension)" in log, log[-3000:]
