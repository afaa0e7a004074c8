"""mod_pywebsocket: a WebSocket server extension for Apache, and a standalone server.

Quick start
-----------

Serve the bundled examples (nothing to install)::

    python3 -m mod_pywebsocket.standalone -p 8880 -d example

then connect a client to ``ws://127.0.0.1:8880/echo``, or open
``http://127.0.0.1:8880/console.html`` in a browser.

Under Apache with mod_python, add to httpd.conf::

    PythonPath "sys.path+['/path/to/the/directory/holding/mod_pywebsocket']"
    PythonOption mod_pywebsocket.handler_root /path/to/handlers
    PythonHeaderParserHandler mod_pywebsocket.headerparserhandler

The package also answers to ``pywebsocket3``, the name of pywebsocket's
Python 3 port: every ``pywebsocket3.X`` is the very module
``mod_pywebsocket.X``, and ``python3 -m pywebsocket3.standalone`` runs the
same server. Installed with pip, it provides that name only where no real
pywebsocket3 is installed; the server warns at start when handlers would get
that other package (docs/packaging.md).

Writing a handler
-----------------

A handler is a file ``<handler root>/<name>_wsh.py``; it serves the resource
``/<name>`` (subdirectories become path segments). It defines::

    def web_socket_do_extra_handshake(request):
        # Inspect request.ws_origin, request.ws_resource,
        # request.ws_requested_protocols, request.ws_requested_extensions...
        # Raise to refuse the connection (403), or
        # handshake.HandshakeException(msg, status) for another status.
        # If the client offered subprotocols, pick one:
        #     request.ws_protocol = request.ws_requested_protocols[0]
        # Append (name, value) to request.extra_headers to send more headers.
        pass

    def web_socket_transfer_data(request):
        while True:
            message = request.ws_stream.receive_message()
            if message is None:        # the client closed
                return
            request.ws_stream.send_message(message, binary=isinstance(message, bytes))

    # Optional: called when the client starts the closing handshake.
    def web_socket_passive_closing_handshake(request):
        return request.ws_close_code, request.ws_close_reason

``receive_message`` returns str for text messages, bytes for binary ones, and
None once the client's close frame arrived. ``send_message(message,
end=True, binary=False)`` sends a str as text and bytes as binary (with
``binary=True``); ``end=False`` sends a fragment. ``close_connection(code,
reason)`` starts the closing handshake. When ``web_socket_transfer_data``
returns, the connection is closed with 1000 unless the handler closed it. A
stream error the handler does not catch closes the connection with the
matching code (1002 protocol error, 1003 unsupported data, 1007 invalid
UTF-8, 1009 too big, 1011 misuse); any other exception is logged with its
traceback and the TCP connection is dropped without a close frame.

Handlers are loaded once and shared by every connection, each of which runs
on its own thread: keep per-connection state on the request object.

The request object
------------------

``uri``, ``unparsed_uri``, ``method``, ``headers_in`` (case-insensitive),
``is_https()``, ``connection`` (raw ``read(n)`` / ``write(bytes)``) and,
after the handshake, ``ws_resource``, ``ws_origin``, ``ws_version``,
``ws_protocol``, ``ws_requested_protocols``, ``ws_extensions``,
``ws_requested_extensions``, ``ws_extension_processors``, ``ws_stream``,
``ws_close_code``, ``ws_close_reason``. Set ``request.on_ping_handler`` or
``request.on_pong_handler`` to ``f(request, body)`` to see control frames.

Modules: ``handshake`` (opening handshakes), ``stream`` and ``msgutil``
(messages), ``dispatch`` (handler loading), ``common`` (constants),
``standalone`` and ``headerparserhandler`` (the two entry points).
"""

from __future__ import annotations

__all__: list[str] = []
