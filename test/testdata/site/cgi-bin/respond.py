#!/usr/bin/env python3
"""Answers with the CGI output named by the query string."""

from __future__ import annotations

import os
import sys

OUTPUTS = {
    "status": b"Status: 418 I'm a teapot\nContent-Type: text/plain\n\nteapot",
    "status-code-only": b"Status: 299\nContent-Type: text/plain\n\nodd",
    "redirect": b"Location: http://example.invalid/elsewhere\n\n",
    "redirect-with-status": b"Status: 301 Moved Permanently\nLocation: http://example.invalid/moved\n"
    b"Content-Type: text/plain\n\nmoved",
    "local-redirect": b"Location: /index.html\n\n",
    "local-redirect-loop": b"Location: /cgi-bin/respond.py?local-redirect-loop\n\n",
    "no-content": b"Status: 204 No Content\n\n",
    "headers": b"Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\nContent-Length: 999\n"
    b"Connection: keep-alive\n\nbody",
    "no-blank-line": b"Content-Type: text/plain\n",
    "no-headers": b"just some text\n\n",
    "bad-status": b"Status: abc\nContent-Type: text/plain\n\n",
    "no-content-type": b"X-Thing: 1\n\nbody",
    "stderr": b"Content-Type: text/plain\n\nsee the log",
}

query = os.environ.get("QUERY_STRING", "")
if query == "stderr":
    sys.stderr.write("a line for the log\n")
    sys.stdout.buffer.write(OUTPUTS[query])
    sys.stdout.flush()
    sys.exit(3)
sys.stdout.buffer.write(OUTPUTS[query])
