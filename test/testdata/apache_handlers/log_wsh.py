"""Log one record per level with the query as a marker, then send ``logged``."""

from __future__ import annotations

import logging
from typing import Any

_LOGGER = logging.getLogger("apache_test.log_wsh")


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    marker = request.ws_resource.partition("?")[2]
    _LOGGER.debug("debug-record %s", marker)
    _LOGGER.info("info-record %s", marker)
    _LOGGER.warning("warning-record %s", marker)
    _LOGGER.error("error-record %s\nsecond line %s", marker, marker)
    request.ws_stream.send_message("logged")
    request.ws_stream.receive_message()
