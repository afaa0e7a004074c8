"""Raises what the query names, from web_socket_transfer_data."""

from mod_pywebsocket import handshake, msgutil

_EXCEPTIONS = {
    "invalid_frame": msgutil.InvalidFrameException,
    "unsupported": msgutil.UnsupportedFrameException,
    "invalid_utf8": msgutil.InvalidUTF8Exception,
    "too_big": msgutil.MessageTooBigException,
    "bad_operation": msgutil.BadOperationException,
    "terminated": msgutil.ConnectionTerminatedException,
    "aborted": handshake.AbortedByUserException,
    "value_error": ValueError,
}


def web_socket_do_extra_handshake(request):
    if request.ws_resource.endswith("?in_extra"):
        raise ValueError("refused in extra handshake")


def web_socket_transfer_data(request):
    raise _EXCEPTIONS[request.ws_resource.split("?", 1)[1]]("raised on purpose")
