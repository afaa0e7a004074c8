"""Raises what the query names, from web_socket_transfer_data."""

from mod_pywebsocket import common, handshake, msgutil


class PseudoCodeException(common.WebSocketException):
    """A handler's own exception naming a close code that must not be sent."""

    close_code = 1006


_EXCEPTIONS = {
    "invalid_frame": msgutil.InvalidFrameException,
    "unsupported": msgutil.UnsupportedFrameException,
    "invalid_utf8": msgutil.InvalidUTF8Exception,
    "too_big": msgutil.MessageTooBigException,
    "bad_operation": msgutil.BadOperationException,
    "terminated": msgutil.ConnectionTerminatedException,
    "aborted": handshake.AbortedByUserException,
    "value_error": ValueError,
    "pseudo_code": PseudoCodeException,
}


def web_socket_do_extra_handshake(request):
    if request.ws_resource.endswith("?in_extra"):
        raise ValueError("refused in extra handshake")
    if request.ws_resource.endswith("?refuse_without_status"):
        raise handshake.HandshakeException("refused")


def web_socket_transfer_data(request):
    raise _EXCEPTIONS[request.ws_resource.split("?", 1)[1]]("raised on purpose")
