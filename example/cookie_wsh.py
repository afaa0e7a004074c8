"""Cookies on the WebSocket handshake: read ``Cookie``, set ``Set-Cookie``.

The opening handshake is an HTTP request, so it carries the page's cookies,
and the 101 response may set new ones (``request.extra_headers``). This
handler counts visits in the cookie ``ws_visits``, and once open sends one
text message: the cookies it received, as JSON (``{}`` when there were none).
Then it waits for the client to close.
"""

import contextlib
import http.cookies
import json

VISITS_COOKIE = "ws_visits"


def web_socket_do_extra_handshake(request):
    cookies = http.cookies.SimpleCookie()
    header = request.headers_in.get("Cookie")
    if header:
        # A malformed Cookie header counts as no cookies.
        with contextlib.suppress(http.cookies.CookieError):
            cookies.load(header)
    # Keep what we read on the request: transfer_data runs later, same object.
    request.received_cookies = {name: morsel.value for name, morsel in cookies.items()}
    try:
        visits = int(request.received_cookies.get(VISITS_COOKIE, "0")) + 1
    except ValueError:
        visits = 1
    request.extra_headers.append(("Set-Cookie", f"{VISITS_COOKIE}={visits}; Path=/; SameSite=Strict"))


def web_socket_transfer_data(request):
    request.ws_stream.send_message(json.dumps(request.received_cookies, sort_keys=True))
    while request.ws_stream.receive_message() is not None:
        pass  # ignore anything else the client sends
