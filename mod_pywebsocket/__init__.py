"""mod_pywebsocket: a WebSocket server extension for Apache, and a standalone server.

Quick start
-----------

Serve the bundled examples (nothing to install)::

    python3 -m mod_pywebsocket.standalone -p 8880 -d example     # from a checkout
    pywebsocket-standalone -p 8880 --examples                    # installed with pip

then connect a client to ``ws://127.0.0.1:8880/echo``, or open
``http://127.0.0.1:8880/console.html`` in a browser
(``python3 example/echo_client.py -i ws://127.0.0.1:8880/echo`` sends the
lines you type). At start the server logs how many WebSocket resources it
serves (``--log-level debug`` lists them); a WebSocket request that gets 404
is logged with the reason. ``--reload`` picks up new and changed handler
files without a restart; ``--version`` prints the version
(``mod_pywebsocket.__version__``).

Under Apache with mod_python, add to httpd.conf::

    PythonPath "sys.path+['/path/to/the/directory/holding/mod_pywebsocket']"
    PythonOption mod_pywebsocket.handler_root /path/to/handlers
    PythonHeaderParserHandler mod_pywebsocket.headerparserhandler

With mod_http2 under mpm event or worker, ``Protocols h2 h2c http/1.1`` and
``H2WebSockets on`` make the same handlers serve WebSockets over HTTP/2
(RFC 8441) too (docs/apache.md, step 7). For clients that pipeline
messages, ``PythonOption mod_pywebsocket.hold_replies On`` sends the replies
to messages already received in one write (off by default: a handler that
sends, then does something other than read, delays that reply).

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
        # handshake.HandshakeException(msg, status) for another status, or
        # handshake.AbortedByUserException to close without an answer.
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
``binary=True``); ``end=False`` sends a fragment. ``send_ping(body=b'')`` sends a ping
(at most 125 bytes; a str is sent as UTF-8); its pong is taken by
``receive_message`` (see ``on_pong_handler`` below), and pings from the
client are answered by ``receive_message`` too. ``close_connection(code,
reason)`` starts the closing handshake. When ``web_socket_transfer_data``
returns, the connection is closed with 1000 unless the handler closed it. A
stream error the handler does not catch closes the connection with the
matching code (1002 protocol error, 1003 unsupported data, 1007 invalid
UTF-8, 1009 too big, 1011 misuse, 1013 when the standalone server's memory
for incoming messages, ``--max-incoming-memory``, is taken: try again
later); any other exception is logged with its
traceback and the TCP connection is dropped without a close frame.

The passive closing handshake answers with the ``(code, reason)`` it returns
(``(1000, '')`` without one). 1005, what ``ws_close_code`` holds after an
empty close, is answered with an empty close; 1006, 1015 and codes outside
1000-4999 are never sent: as in ``close_connection``, they raise
BadOperationException (so the connection closes with 1011).

A failed opening handshake gets the same answer from the standalone server
and from Apache (``handshake.failure_reply``): 400 for a malformed request
(with ``Sec-WebSocket-Version: 13, 8`` for an unsupported version), 403 when
the extra handshake raises, the status of a HandshakeException that has one,
404 for a resource without a handler (Apache: DECLINED, so Apache serves the
URL), no answer at all after AbortedByUserException, and 500 when anything
else goes wrong (logged at ERROR with its traceback). A request for a
handler's resource is an opening handshake whatever its method.

Handlers that need to see a single frame (its flags, a pong) may call
``request.ws_stream._receive_frame()``, which returns ``(opcode, payload,
fin, rsv1, rsv2, rsv3)`` and answers nothing; ``receive_message`` then
returns the next message. A first fragment read that way starts no message:
its continuation reaching ``receive_message`` is a protocol error (1002).

Handlers are loaded once and shared by every connection, each of which runs
on its own thread: keep per-connection state on the request object. The
standalone server, like Apache's worker MPM, runs a later connection on
the thread of one that ended, so a ``threading.local`` is no place for it.

The request object
------------------

``uri``, ``unparsed_uri``, ``method``, ``headers_in`` (case-insensitive),
``is_https()``, ``connection`` (raw bytes: ``read(n)`` returns exactly n
bytes or raises ``stream.ConnectionTerminatedException`` at EOF, and
``write(bytes)``; under the standalone server and Apache it also has
``read_some(n)``, ``peek(n)`` and ``buffered()``, see
``common.ConnectionLike``) and, after the handshake, ``ws_resource``, ``ws_origin``, ``ws_version``,
``ws_protocol``, ``ws_requested_protocols``, ``ws_extensions``,
``ws_requested_extensions``, ``ws_extension_processors``, ``ws_stream``,
``ws_close_code``, ``ws_close_reason``. Set ``request.on_ping_handler`` or
``request.on_pong_handler`` to ``f(request, body)`` to see control frames.

``ws_resource`` is the path and query the client asked for; a request-target
in absolute form (``GET ws://host:port/echo?x HTTP/1.1``, also ``wss``,
``http``, ``https``) names ``/echo?x`` as its origin form would.

Extensions
----------

Offered extensions arrive in ``request.ws_requested_extensions``
(``common.ExtensionParameter`` objects); the ones this server supports get a
processor (``extensions`` module) in ``request.ws_extension_processors``.
After ``web_socket_do_extra_handshake`` returns, the list is read again and
the first compression extension in it whose offer is valid is accepted (one
per connection); ``request.ws_extensions`` holds what was answered. Unknown
extensions, offers with unknown parameters or bad values, and
``mux_DO_NOT_USE`` (0.7.9's abandoned multiplexing draft, never accepted)
are ignored.

``ws_requested_extensions`` lists every extension the client offered
(``common.ExtensionParameter``: ``name()``, ``get_parameters()``), quoted
parameter values unescaped. An offer the server knows but whose parameter
value is not a token (``x="a b"``) gets no processor, except 0.7.9's quoted
``method`` lists; the handshake goes on with the other offers. Supported:

- ``permessage-deflate`` (RFC 7692): ``PerMessageDeflateExtensionProcessor``;
  ``set_client_max_window_bits(n)``, ``set_client_no_context_takeover(True)``,
  ``set_bfinal(True)``, ``disable_outgoing_compression()`` /
  ``enable_outgoing_compression()``;
- ``deflate-frame``, ``x-webkit-deflate-frame`` (each frame compressed):
  ``DeflateFrameExtensionProcessor``; ``set_response_window_bits(n)``,
  ``set_response_no_context_takeover(True)``;
- ``deflate-stream`` (the whole byte stream; ``request.ws_deflate``);
- ``perframe-compress`` and ``permessage-compress`` /
  ``x-webkit-permessage-compress`` (0.7.9's drafts) with ``method=deflate``,
  or a quoted method list with parameters such as
  ``method="deflate; s2c_max_window_bits=10"``: the per-frame deflate method
  takes ``max_window_bits`` and ``no_context_takeover``, the per-message one
  ``s2c_max_window_bits``, ``s2c_no_context_takeover``,
  ``c2s_max_window_bits`` and ``c2s_no_context_takeover``. Tune the method
  with ``processor.set_compression_processor_hook(f)`` (``f`` gets the method
  processor, e.g. to call ``set_c2s_no_context_takeover(True)``); after the
  handshake ``get_compression_processor()`` returns it.

To refuse an extension, remove its processor (or set the entry to None);
``request.ws_extension_processors = []`` refuses them all::

    def web_socket_do_extra_handshake(request):
        for processor in list(request.ws_extension_processors):
            if processor.name() == "perframe-compress":
                request.ws_extension_processors.remove(processor)

WebSockets over HTTP/2
----------------------

The standalone server does it itself with ``--http2`` (and the ``h2``
package, ``pip install mod_pywebsocket[http2]``): ALPN ``h2`` with TLS,
prior-knowledge ``h2c`` without, ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1``;
each extended CONNECT runs its handler on its own thread with the usual
request object (``method`` CONNECT, ``protocol`` HTTP/2), whose
``connection`` carries the stream's DATA under flow control. Files are
served over HTTP/2 too, and HTTP/1.1 clients on the same port as before
(docs/standalone.md, "WebSockets over HTTP/2").

A server that speaks HTTP/2 itself (wptserve does) runs RFC 8441's extended
CONNECT through ``handshake.base.HandshakerBase``; ``handshake.base`` is
pywebsocket3's name for ``handshake._base``, with the very same objects. A
subclass overrides ``_protocol_rfc``, ``_transform_header`` (HTTP/2 field
names are lowercase), ``_validate_request`` (``:method`` CONNECT,
``:protocol`` websocket), ``_set_accept`` (nothing to prove) and
``_send_handshake`` (status 200 and the negotiated headers, left on the
request for the server's HEADERS frame). The base checks the version, reads
the origin, subprotocols and extensions, runs the handler's extra handshake
and sets up ``request.ws_stream`` over ``request.connection``, whose
``read``/``write`` carry the stream's DATA frames. The RFC 6455 handshake,
``handshake.hybi.Handshaker``, is the same base with HTTP/1.1 hooks.

Logging
-------

Every module logs to the logger named after it, ``logging.getLogger(__name__)``:
``mod_pywebsocket.standalone`` (also when it runs as ``__main__``),
``mod_pywebsocket.dispatch``, ``mod_pywebsocket._stream_hybi``,
``mod_pywebsocket._standalone_cgi``... (a private module's logger has the
private module's name). Configure the
``mod_pywebsocket`` logger to route, raise or lower all of them at once. The
package adds no handler and sets no level, except as a program: the
standalone server's ``--log-file`` and ``--log-level`` configure the root
logger, and under mod_python the first request sends the root logger's
records to Apache's error log. ``util.get_class_logger`` (a logger named
after a class) is kept for handler files; the package does not use it.

Speed
-----

The runtime needs only the standard library. One optional C extension of
its own, ``mod_pywebsocket._speedups``, unmasks what clients send at memory
speed; ``pip install`` builds it when a C compiler is present, and in a
checkout ``make speedups`` (``python3 setup.py build_ext --inplace``) does.
Without it, masking runs in pure Python. The standalone server, and under
mod_python the first request, log at INFO which one runs
(``util.MASK_IMPLEMENTATION``); ``MOD_PYWEBSOCKET_NO_ACCELERATOR=1`` keeps
the pure-Python one (docs/standalone.md, "The masking accelerator").

Modules: ``handshake`` (opening handshakes), ``stream`` and ``msgutil``
(messages), ``dispatch`` (handler loading), ``common`` (constants),
``extensions`` (extension processors), ``standalone`` and
``headerparserhandler`` (the two entry points). Every module-level name
that pywebsocket 0.7.9 and pywebsocket3 4.0.2 define in these modules is
there too, so handler files written for either keep working.
"""

from __future__ import annotations

import sys

# Checked before any other module of the package loads, since those fail on
# older Pythons with errors that do not say why. ``name`` makes
# ``python -m mod_pywebsocket.standalone`` print this as a single line.
if sys.version_info < (3, 9):  # noqa: UP036
    raise ImportError(
        f"mod_pywebsocket needs Python 3.9 or newer; this is Python {sys.version.split()[0]}", name=__name__
    )

__all__ = ["__version__"]

__version__ = "0.7.100"
