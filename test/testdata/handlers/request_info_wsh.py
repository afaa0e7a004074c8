"""Describes the request in an ``X-Request-Info`` response header, then echoes messages.

The header holds JSON: the resource, ``uri`` / ``unparsed_uri``, the
location (hixie-75 and hybi-00) and the offered extensions as
``[name, [[parameter, value], ...]]`` pairs. It works for every protocol
version, before any frame is exchanged.
"""

from __future__ import annotations

import json
from typing import Any


def web_socket_do_extra_handshake(request: Any) -> None:
    offered = request.ws_requested_extensions
    facts = {
        "ws_resource": request.ws_resource,
        "uri": request.uri,
        "unparsed_uri": request.unparsed_uri,
        "ws_location": request.ws_location,
        "ws_requested_extensions": None if offered is None else [[e.name(), e.get_parameters()] for e in offered],
    }
    request.extra_headers.append(("X-Request-Info", json.dumps(facts, sort_keys=True)))


def web_socket_transfer_data(request: Any) -> None:
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        request.ws_stream.send_message(message, binary=isinstance(message, bytes))
