"""The ``pywebsocket3`` alias machinery run in this process: the installed alias's spec, its finder and loaders.

``test_packaging.py`` checks the same through a built wheel in throwaway
virtualenvs, which coverage does not see.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys

import pytest

import mod_pywebsocket
import pywebsocket3  # the source tree's alias package: the finder answers only while it is imported
from mod_pywebsocket import _pywebsocket3_alias, msgutil


@pytest.fixture
def meta_path(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Give the test its own ``sys.meta_path`` (the alias package adds its finder there)."""
    path = list(sys.meta_path)
    monkeypatch.setattr(sys, "meta_path", path)
    return path


def finders(path: list[object]) -> list[object]:
    return [finder for finder in path if isinstance(finder, _pywebsocket3_alias._SubmoduleFinder)]


def test_fallback_spec_makes_the_alias_package_with_mod_pywebsockets_guide(meta_path):
    spec = _pywebsocket3_alias.fallback_spec()
    assert (spec.name, spec.origin, spec.has_location) == ("pywebsocket3", mod_pywebsocket.__file__, True)
    assert spec.submodule_search_locations == []
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert module.__doc__ == mod_pywebsocket.__doc__
    assert module.__path__ == []
    assert module._mod_pywebsocket_alias is True


def test_init_alias_package_puts_one_submodule_finder_first(meta_path):
    del meta_path[:]
    meta_path.append(importlib.machinery.PathFinder)
    for _ in range(2):
        _pywebsocket3_alias.init_alias_package(importlib.util.module_from_spec(_pywebsocket3_alias.fallback_spec()))
    assert len(finders(meta_path)) == 1
    assert meta_path[0] is finders(meta_path)[0]
    assert meta_path[1] is importlib.machinery.PathFinder


def test_submodule_finder_answers_only_for_modules_mod_pywebsocket_has():
    assert sys.modules["pywebsocket3"] is pywebsocket3
    finder = _pywebsocket3_alias._SubmoduleFinder()
    spec = finder.find_spec("pywebsocket3.msgutil", None)
    assert spec is not None
    assert (spec.name, spec.origin) == ("pywebsocket3.msgutil", msgutil.__file__)
    assert finder.find_spec("pywebsocket3.no_such_module", None) is None
    # A missing parent means no such module, not an error.
    assert finder.find_spec("pywebsocket3.no_such_package.module", None) is None
    assert finder.find_spec("mod_pywebsocket.msgutil", None) is None


def test_submodule_loader_without_source_loader_raises_import_error():
    target = importlib.machinery.ModuleSpec("mod_pywebsocket.builtin_like", loader=None)
    loader = _pywebsocket3_alias._SubmoduleLoader(target)
    with pytest.raises(ImportError, match=r"^no code available for mod_pywebsocket\.builtin_like$") as info:
        loader.get_code("pywebsocket3.builtin_like")
    assert info.value.name == "mod_pywebsocket.builtin_like"


def test_submodule_loader_gives_the_code_of_the_mod_pywebsocket_module():
    spec = _pywebsocket3_alias._SubmoduleFinder().find_spec("pywebsocket3.msgutil", None)
    assert spec is not None and spec.loader is not None
    code = spec.loader.get_code("pywebsocket3.msgutil")
    assert code.co_filename == msgutil.__file__


def write_package(root, source: str) -> None:
    package = root / "pywebsocket3"
    package.mkdir()
    (package / "__init__.py").write_text(source)


def test_foreign_pywebsocket3_names_where_another_package_is(monkeypatch, tmp_path):
    write_package(tmp_path, "")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pywebsocket3", raising=False)
    assert _pywebsocket3_alias.foreign_pywebsocket3() == str(tmp_path / "pywebsocket3" / "__init__.py")
    monkeypatch.delitem(sys.modules, "pywebsocket3")


def test_foreign_pywebsocket3_that_fails_to_import_raises_its_error(monkeypatch, tmp_path):
    write_package(tmp_path, "import no_such_dependency_of_pywebsocket3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pywebsocket3", raising=False)
    with pytest.raises(ModuleNotFoundError) as info:
        _pywebsocket3_alias.foreign_pywebsocket3()
    assert info.value.name == "no_such_dependency_of_pywebsocket3"


def test_warning_when_pywebsocket3_fails_to_import(monkeypatch, tmp_path, caplog):
    write_package(tmp_path, "import no_such_dependency_of_pywebsocket3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pywebsocket3", raising=False)
    with caplog.at_level(logging.WARNING, logger="mod_pywebsocket._pywebsocket3_alias"):
        _pywebsocket3_alias.warn_if_foreign_pywebsocket3()
    assert [r.getMessage() for r in caplog.records] == [
        "handlers that import pywebsocket3 will fail: it does not import"
    ]
    assert caplog.records[0].exc_info is not None


def test_importing_an_alias_submodule_gives_the_mod_pywebsocket_module_with_its_own_spec(monkeypatch):
    from mod_pywebsocket import stream

    monkeypatch.delitem(sys.modules, "pywebsocket3.stream", raising=False)
    alias = importlib.import_module("pywebsocket3.stream")
    assert alias is stream
    assert stream.__spec__ is not None
    assert stream.__spec__.name == "mod_pywebsocket.stream"


def test_foreign_pywebsocket3_is_none_when_there_is_no_pywebsocket3(monkeypatch):
    monkeypatch.setitem(sys.modules, "pywebsocket3", None)
    assert _pywebsocket3_alias.foreign_pywebsocket3() is None


def test_foreign_pywebsocket3_names_the_directories_of_a_namespace_package(monkeypatch, tmp_path):
    (tmp_path / "pywebsocket3").mkdir()
    monkeypatch.delitem(sys.modules, "pywebsocket3", raising=False)
    # Only this directory on the path: the source tree's pywebsocket3/, a regular package, would win.
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    importlib.invalidate_caches()
    try:
        assert _pywebsocket3_alias.foreign_pywebsocket3() == str(tmp_path / "pywebsocket3")
    finally:
        sys.modules.pop("pywebsocket3", None)
