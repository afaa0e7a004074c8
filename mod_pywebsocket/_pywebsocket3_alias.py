"""The ``pywebsocket3`` alias: every ``pywebsocket3.X`` is the module ``mod_pywebsocket.X``.

Import machinery, outside the protocol layers.

How this works:

- Where the top-level ``pywebsocket3`` comes from. In a source tree it is the
  directory ``pywebsocket3/`` beside ``mod_pywebsocket/``, found on
  ``sys.path`` like any package. The wheel ships no such directory (it would
  overwrite a real pywebsocket3's files, or be deleted with them). Its
  ``.pth`` file (setup.py) appends a tiny finder to the *end* of
  ``sys.meta_path``: it is asked for ``pywebsocket3`` only after every other
  finder, the one for ``sys.path`` included, found nothing, and then returns
  ``fallback_spec()``. So a real pywebsocket3 always wins, and the alias
  fills in when there is none. That finder imports nothing at interpreter
  start: importing ``mod_pywebsocket`` then would pin it to the installed
  copy even where a checkout comes first on ``sys.path`` later.
- Either way the alias package goes through ``init_alias_package()``: an
  empty ``__path__``, ``mod_pywebsocket``'s user guide as its docstring, a
  marker attribute, and a ``_SubmoduleFinder`` at the *front* of
  ``sys.meta_path``. It must come first: ``pywebsocket3.handshake`` is
  ``mod_pywebsocket.handshake``, whose ``__path__`` would let the path finder
  load ``hybi.py`` a second time, as a separate ``pywebsocket3.handshake.hybi``.
- ``_SubmoduleFinder`` answers ``pywebsocket3.X`` only while
  ``sys.modules["pywebsocket3"]`` is the alias, and only when
  ``mod_pywebsocket.X`` exists. Its loader hands back ``mod_pywebsocket.X``
  itself (importing it if needed) and gives it back its own ``__spec__``,
  which the import system overwrote with the alias's.
- ``python -m pywebsocket3.standalone``: runpy asks the loader for the code
  to run; it is the code of ``mod_pywebsocket.standalone``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mod_pywebsocket

if TYPE_CHECKING:
    from importlib.abc import InspectLoader, Loader
else:
    # importlib.abc takes ~30 ms to import, and the server imports this
    # module at every start. The import system calls a loader's methods and
    # never looks at its base class.
    Loader = object

__all__ = [
    "ALIAS",
    "TARGET",
    "fallback_spec",
    "foreign_pywebsocket3",
    "init_alias_package",
    "warn_if_foreign_pywebsocket3",
]

ALIAS = "pywebsocket3"
TARGET = "mod_pywebsocket"

_MARKER = "_mod_pywebsocket_alias"

_LOGGER = logging.getLogger(__name__)


def _is_alias(module: types.ModuleType | None) -> bool:
    return getattr(module, _MARKER, False) is True


def init_alias_package(module: types.ModuleType) -> None:
    """Make ``module`` (named ``pywebsocket3``) the alias package.

    Called by the source tree's ``pywebsocket3/__init__.py`` and by the loader
    of the installed alias.
    """
    module.__doc__ = mod_pywebsocket.__doc__
    module.__path__ = []
    setattr(module, _MARKER, True)
    if not any(isinstance(finder, _SubmoduleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SubmoduleFinder())


class _SubmoduleLoader(Loader):
    """Load ``pywebsocket3.X`` as the module object ``mod_pywebsocket.X``."""

    def __init__(self, target: importlib.machinery.ModuleSpec) -> None:
        self._target = target
        self._target_module_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self._target.name)
        self._target_module_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The module already ran as mod_pywebsocket.X; the import system has
        # just set its __spec__ to the alias's spec (importlib.reload, pickle
        # and runpy read it), so give it its own back.
        module.__spec__ = self._target_module_spec

    def get_code(self, fullname: str) -> types.CodeType | None:
        """Return the code of ``mod_pywebsocket.X`` (what ``python -m pywebsocket3.X`` runs)."""
        return self._inspect_loader().get_code(self._target.name)

    def _inspect_loader(self) -> InspectLoader:
        import importlib.abc

        loader = self._target.loader
        if not isinstance(loader, importlib.abc.InspectLoader):
            raise ImportError(f"no code available for {self._target.name}", name=self._target.name)
        return loader


class _SubmoduleFinder:
    """Find ``pywebsocket3.X`` while ``pywebsocket3`` is the alias (first on ``sys.meta_path``)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(ALIAS + ".") or not _is_alias(sys.modules.get(ALIAS)):
            return None
        target_name = TARGET + fullname[len(ALIAS) :]
        try:
            target_spec = importlib.util.find_spec(target_name)
        except ModuleNotFoundError as exc:
            # A parent that does not exist means no such module; anything else
            # missing is an error inside mod_pywebsocket, which must show.
            if exc.name is not None and (target_name + ".").startswith(exc.name + "."):
                return None
            raise
        if target_spec is None:
            return None
        return importlib.machinery.ModuleSpec(
            fullname,
            _SubmoduleLoader(target_spec),
            origin=target_spec.origin,
            is_package=target_spec.submodule_search_locations is not None,
        )


class _PackageLoader(Loader):
    """Create the installed alias package ``pywebsocket3``."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        init_alias_package(module)


def fallback_spec() -> importlib.machinery.ModuleSpec:
    """Return the spec of the installed alias package ``pywebsocket3``.

    The wheel's ``.pth`` file calls this when no other finder found ``pywebsocket3``.
    """
    # __file__ points into mod_pywebsocket/, where the code is.
    spec = importlib.machinery.ModuleSpec(ALIAS, _PackageLoader(), origin=mod_pywebsocket.__file__, is_package=True)
    spec.has_location = mod_pywebsocket.__file__ is not None
    return spec


def foreign_pywebsocket3() -> str | None:
    """Tell where ``import pywebsocket3`` leads when it is not this alias.

    Imports ``pywebsocket3``, as a handler would.

    Returns:
        The location of that other package (its ``__init__.py``, or its
        directories for a namespace package), or None when ``pywebsocket3``
        is this alias or does not exist.

    Raises:
        Exception: whatever importing that other package raises.
    """
    try:
        module = importlib.import_module(ALIAS)
    except ModuleNotFoundError as exc:
        if exc.name == ALIAS:
            return None
        raise
    if _is_alias(module):
        return None
    return getattr(module, "__file__", None) or ", ".join(getattr(module, "__path__", None) or ()) or repr(module)


def warn_if_foreign_pywebsocket3() -> None:
    """Log one warning when handlers that import ``pywebsocket3`` would not get this package."""
    try:
        foreign = foreign_pywebsocket3()
    except Exception:  # someone else's package failed to import
        _LOGGER.warning("handlers that import %s will fail: it does not import", ALIAS, exc_info=True)
        return
    if foreign is not None:
        _LOGGER.warning(
            "handlers that import %s get the package at %s, not this server's modules; "
            "import %s in them instead (see docs/packaging.md)",
            ALIAS,
            foreign,
            TARGET,
        )
