"""Accept subprotocol ``chat`` when offered; send the request object's facts as JSON, then wait for the close."""

from __future__ import annotations

import json
from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    if request.ws_requested_protocols and "chat" in request.ws_requested_protocols:
        request.ws_protocol = "chat"
    request.extra_headers.append(("X-Handler", "info"))


def web_socket_transfer_data(request: Any) -> None:
    facts = {
        "method": request.method,
        "protocol": request.protocol,
        "is_https": request.is_https(),
        "host": request.headers_in.get("Host"),
        "origin": request.ws_origin,
        "ws_resource": request.ws_resource,
        "ws_protocol": request.ws_protocol,
        "ws_requested_protocols": request.ws_requested_protocols,
        "ws_extensions": [e.name() for e in request.ws_extensions or []],
        "ws_version": request.ws_version,
    }
    request.ws_stream.send_message(json.dumps(facts, sort_keys=True))
    request.ws_stream.receive_message()
