#!/usr/bin/env python3
"""A script in a subdirectory of a CGI path."""

from __future__ import annotations

import os
import sys

sys.stdout.write("Content-Type: text/plain\n\n" + os.environ["SCRIPT_NAME"] + " " + os.environ["PATH_INFO"])
