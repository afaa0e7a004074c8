"""Close handler: a text message 'CODE REASON' makes the server close with them.

'1000 bye' closes with code 1000 and reason 'bye'; an empty reason is fine.
When the client closes first, the server echoes the client's code and reason.
"""

from mod_pywebsocket import common


def web_socket_do_extra_handshake(request):
    pass


def web_socket_transfer_data(request):
    while True:
        message = request.ws_stream.receive_message()
        if message is None:
            return
        if not isinstance(message, str):
            continue
        code, _, reason = message.partition(" ")
        request.ws_stream.close_connection(int(code), reason)
        return


def web_socket_passive_closing_handshake(request):
    code = request.ws_close_code
    if code == common.STATUS_NO_STATUS_RECEIVED:
        return None, ""
    return code, request.ws_close_reason
