"""Extension processors: negotiate an offered extension and set up the stream.

Layer 0. The handshake asks ``get_extension_processors`` for one processor
per offer it understands (unknown offers are ignored), lets the handler's
``web_socket_do_extra_handshake`` edit ``request.ws_extension_processors``,
then calls ``accept_extensions`` on what is left.
"""

from __future__ import annotations

import logging
from typing import Any

from mod_pywebsocket import common

__all__ = [
    "ExtensionProcessorInterface",
    "accept_extensions",
    "get_extension_processor",
    "get_extension_processors",
]

_LOGGER = logging.getLogger(__name__)


class ExtensionProcessorInterface:
    """Base of extension processors.

    Subclasses override ``name``, ``_get_extension_response_internal`` and
    ``_setup_stream_options_internal``.
    """

    def __init__(self, request: common.ExtensionParameter) -> None:
        self._request = request
        self._active = True

    def request(self) -> common.ExtensionParameter:
        """Return the offer this processor answers."""
        return self._request

    def name(self) -> str | None:
        """Return the extension's name."""
        return None

    def check_consistency_with_other_processors(self, processors: list[Any]) -> None:
        """Deactivate this processor if an accepted one conflicts with it."""

    def set_active(self, active: bool) -> None:
        """Accept (True) or refuse (False) the offer."""
        self._active = active

    def is_active(self) -> bool:
        """Return whether the offer will be accepted."""
        return self._active

    def _get_extension_response_internal(self) -> common.ExtensionParameter | None:
        return None

    def get_extension_response(self) -> common.ExtensionParameter | None:
        """Return the response to the offer, or None to refuse it."""
        if not self._active:
            _LOGGER.debug("extension %s is deactivated", self.name())
            return None
        response = self._get_extension_response_internal()
        if response is None:
            self._active = False
        return response

    def _setup_stream_options_internal(self, stream_options: Any) -> None:
        pass

    def setup_stream_options(self, stream_options: Any) -> None:
        """Configure the stream for the accepted extension."""
        if self._active:
            self._setup_stream_options_internal(stream_options)


# Extension name -> processor class. Extensions that are not listed here are
# ignored when offered.
_PROCESSOR_CLASSES: dict[str, type[ExtensionProcessorInterface]] = {}


def get_extension_processor(extension_request: common.ExtensionParameter) -> ExtensionProcessorInterface | None:
    """Return a processor for an offered extension, or None if it is unknown."""
    processor_class = _PROCESSOR_CLASSES.get(extension_request.name())
    return processor_class(extension_request) if processor_class is not None else None


def get_extension_processors(
    requested: list[common.ExtensionParameter] | None,
) -> list[ExtensionProcessorInterface]:
    """Return the processors for the offers this server understands, in order."""
    processors = []
    for extension_request in requested or ():
        processor = get_extension_processor(extension_request)
        if processor is not None:
            processors.append(processor)
    return processors


def accept_extensions(request: Any, stream_options: Any) -> list[common.ExtensionParameter]:
    """Accept what ``request.ws_extension_processors`` still holds.

    Entries a handler set to None, or deactivated, are skipped.

    Returns:
        The extension responses, in order, for ``Sec-WebSocket-Extensions``.
    """
    processors = [p for p in (getattr(request, "ws_extension_processors", None) or ()) if p is not None]
    accepted: list[common.ExtensionParameter] = []
    active: list[ExtensionProcessorInterface] = []
    for processor in processors:
        if not processor.is_active():
            continue
        processor.check_consistency_with_other_processors(active)
        response = processor.get_extension_response()
        if response is None:
            continue
        processor.setup_stream_options(stream_options)
        accepted.append(response)
        active.append(processor)
    return accepted
