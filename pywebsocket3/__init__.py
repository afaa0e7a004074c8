"""``pywebsocket3``: another name for the ``mod_pywebsocket`` package.

Handler collections written against the Python 3 port import
``pywebsocket3.msgutil`` and the like. Every ``pywebsocket3.X`` is the very
module object ``mod_pywebsocket.X``, so state and exception classes are
shared whichever name a handler uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

import mod_pywebsocket

_ALIAS = __name__
_TARGET = "mod_pywebsocket"


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(_TARGET + spec.name[len(_ALIAS) :])

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_ALIAS + "."):
            return None
        try:
            importlib.util.find_spec(_TARGET + fullname[len(_ALIAS) :])
        except ModuleNotFoundError:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader())


if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())

# Make ``import pywebsocket3`` itself behave like the package it names.
__doc__ = mod_pywebsocket.__doc__
__path__: list[str] = []
