"""Send one JSON text message about the request (TLS, URI, message size limit, request line), then return."""

from __future__ import annotations

import json
from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    pass


def web_socket_transfer_data(request: Any) -> None:
    request.ws_stream.send_message(
        json.dumps(
            {
                "is_https": request.is_https(),
                "uri": request.uri,
                "max_message_size": request.max_message_size,
                "raw_request_line": request.raw_request_lines[0].decode("latin-1"),
            }
        )
    )
