"""``pywebsocket3``: the ``mod_pywebsocket`` package under its Python 3 port's name.

Handler collections written against the Python 3 port import
``pywebsocket3.msgutil`` and the like. Every ``pywebsocket3.X`` is the very
module object ``mod_pywebsocket.X``, so state and exception classes are
shared whichever name a handler uses.

This directory is the alias of a source tree (``PythonPath``, ``PYTHONPATH``,
a vendored copy). The installed wheel has no ``pywebsocket3/`` directory and
provides the same alias only where no real pywebsocket3 is installed
(docs/packaging.md). Both go through ``mod_pywebsocket._pywebsocket3_alias``.
"""

from __future__ import annotations

import sys

from mod_pywebsocket import _pywebsocket3_alias

__all__: list[str] = []

# Also makes ``pydoc pywebsocket3`` show the user guide.
_pywebsocket3_alias.init_alias_package(sys.modules[__name__])
