#!/usr/bin/env python3
"""Answers with its CGI environment, arguments and request body as JSON."""

from __future__ import annotations

import json
import os
import sys

body = sys.stdin.buffer.read()
report = {
    "env": {name: value for name, value in os.environ.items() if name != "PATH"},
    "argv": sys.argv[1:],
    "body": body.decode("latin-1"),
    "cwd": os.getcwd(),
}
data = json.dumps(report).encode("utf-8")
sys.stdout.buffer.write(b"Content-Type: application/json\r\nX-Script: env\r\n\r\n" + data)
