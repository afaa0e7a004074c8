"""Send one JSON text message describing the request object, then wait for close."""

from __future__ import annotations

import json
import os
from typing import Any

_by_request: dict[Any, str] = {}


def web_socket_do_extra_handshake(request: Any) -> None:
    request.state_from_handshake = "kept"


def web_socket_transfer_data(request: Any) -> None:
    _by_request[request] = "hashable"
    request.custom_attribute = 42
    facts = {
        "pid": os.getpid(),
        "ws_resource": request.ws_resource,
        "uri": request.uri,
        "unparsed_uri": request.unparsed_uri,
        "ws_version": request.ws_version,
        "ws_origin": request.ws_origin,
        "remote_addr": list(request.connection.remote_addr),
        "client_ip": request.connection.client_ip,
        "is_https": bool(request.is_https()),
        "hashable": _by_request.pop(request),
        "custom_attribute": request.custom_attribute,
        "state_from_handshake": request.state_from_handshake,
        "user_agent": request.headers_in.get("User-Agent"),
    }
    request.ws_stream.send_message(json.dumps(facts, sort_keys=True))
    request.ws_stream.receive_message()
