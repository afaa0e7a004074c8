"""Send 'version|location|origin|protocol|resource' once, then return."""

from __future__ import annotations


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    fields = (request.ws_version, request.ws_location, request.ws_origin, request.ws_protocol, request.ws_resource)
    request.ws_stream.send_message("|".join(str(field) for field in fields))
