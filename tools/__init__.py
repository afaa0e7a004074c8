"""The project's command-line tools, run as modules from the repository root.

``python -m tools.soak``, ``python -m tools.census`` and ``python -m tools.autobahn``
(``python3 tools/autobahn.py`` works as well: it imports nothing from the tree).
As a package, they import the test harness as ``test.httpd`` without touching
``sys.path``.
"""

from __future__ import annotations

__all__: list[str] = []
