"""The package's fixed layout: the modules of SPEC §2, which handler files and embedders import.

test_api.py imports each of them under both package names; test_census.py
checks that the census of the originals covers them.
"""

from __future__ import annotations

__all__ = ["SPEC_MODULES"]

# Below mod_pywebsocket (and pywebsocket3), in SPEC §2's order.
SPEC_MODULES = [
    "common",
    "util",
    "http_header_util",
    "memorizingfile",
    "handshake",
    "handshake._base",
    "handshake.base",
    "handshake.hybi",
    "handshake.hybi00",
    "handshake.draft75",
    "_stream_base",
    "_stream_hybi",
    "_stream_hixie75",
    "stream",
    "extensions",
    "dispatch",
    "msgutil",
    "headerparserhandler",
    "standalone",
]
