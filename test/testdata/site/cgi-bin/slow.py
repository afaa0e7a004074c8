#!/usr/bin/env python3
"""Sleeps far longer than the CGI timeout of the tests."""

from __future__ import annotations

import time

time.sleep(60)
print("Content-Type: text/plain\n\ntoo late")
