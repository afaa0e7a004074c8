"""Rules over the package's source: each definition in one place.

Both read the source with ``ast``; no module is imported.
"""

from __future__ import annotations

import ast
import collections
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mod_pywebsocket"
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: pathlib.Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[len(parts) - 1 - parts[::-1].index("mod_pywebsocket") :])


def parse(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


# One definition each: a module-level constant, type alias, function or class
# with the same name and the same definition in two modules is one thing
# written twice. Not counted: a value that refers to a name imported from the
# package (``_BAD_REQUEST = common.HTTP_STATUS_BAD_REQUEST`` names its one
# home), and the names every module has.

EVERY_MODULE_HAS = {"__all__", "_LOGGER"}
# Same name and value, different things: each says how much its own code reads at once.
COINCIDENCES = {("_READ_SIZE", ("mod_pywebsocket._standalone_cgi", "mod_pywebsocket.headerparserhandler"))}


def package_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("mod_pywebsocket")):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def definitions(tree: ast.Module) -> list[tuple[str, str]]:
    """Return ``(name, definition)`` for each top-level definition; the definition without name and docstring."""
    imported = package_imports(tree)
    found = []
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = statement.body[1:] if ast.get_docstring(statement) is not None else statement.body
            if isinstance(statement, ast.ClassDef):
                signature = ast.dump(ast.Tuple(elts=statement.bases, ctx=ast.Load()))
            else:
                signature = ast.dump(statement.args)
            found.append((statement.name, signature + ast.dump(ast.Module(body=body, type_ignores=[]))))
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            refers_home = any(isinstance(node, ast.Name) and node.id in imported for node in ast.walk(statement.value))
            if not refers_home:
                found.extend((t.id, ast.dump(statement.value)) for t in targets if isinstance(t, ast.Name))
    return found


def double_definitions(paths: list[pathlib.Path]) -> list[tuple[str, tuple[str, ...]]]:
    places: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for path in paths:
        for name, definition in definitions(parse(path)):
            places[name, definition].append(module_name(path))
    return sorted(
        (name, tuple(sorted(modules)))
        for (name, _), modules in places.items()
        if len(modules) > 1 and name not in EVERY_MODULE_HAS and (name, tuple(sorted(modules))) not in COINCIDENCES
    )


def test_no_name_is_defined_the_same_way_in_two_modules():
    assert double_definitions(MODULES) == []


def test_double_definition_check_reports_a_copy_and_not_an_alias_of_the_home(tmp_path):
    package = tmp_path / "mod_pywebsocket"
    package.mkdir()
    (package / "a.py").write_text(
        "from collections.abc import Callable\nReadExact = Callable[[int], bytes]\nLIMIT = 8\n"
    )
    (package / "b.py").write_text(
        "from collections.abc import Callable\nfrom mod_pywebsocket import a\n"
        "ReadExact = Callable[[int], bytes]\nLIMIT = a.LIMIT\nSIZE = 8\n"
        "def f(x):\n    'one'\n    return x\n"
    )
    (package / "c.py").write_text("def f(x):\n    'other words'\n    return x\nSIZE = 9\n")
    assert double_definitions(sorted(package.glob("*.py"))) == [
        ("ReadExact", ("mod_pywebsocket.a", "mod_pywebsocket.b")),
        ("f", ("mod_pywebsocket.b", "mod_pywebsocket.c")),
    ]
