"""Rules over the package's source: one logger naming rule, and each definition in one place.

Both read the source with ``ast``; no module is imported.
"""

from __future__ import annotations

import ast
import collections
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mod_pywebsocket"
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: pathlib.Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[len(parts) - 1 - parts[::-1].index("mod_pywebsocket") :])


def parse(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


# The logger rule (mod_pywebsocket/__init__.py, "Logging"): a module logs through
# ``_LOGGER = logging.getLogger(__name__)`` (a module that also runs as
# ``__main__`` spells out its import name for that case); only the functions
# that configure logging get the root logger, and ``get_class_logger`` is the
# 0.7 helper the package itself does not call.


def is_get_logger(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "getLogger"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "logging"
    )


# standalone (the command line's --log-file, --log-level) and headerparserhandler (to Apache's log).
ROOT_LOGGER_USERS = {"_configure_logging", "_install_log_handler"}


def logger_rule_breaches(path: pathlib.Path) -> list[str]:
    tree = parse(path)
    name = module_name(path)
    allowed: set[int] = set()
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and [ast.unparse(target) for target in statement.targets] == ["_LOGGER"]
            and ast.unparse(statement.value)
            in ("logging.getLogger(__name__)", f"logging.getLogger(__name__ if __name__ != '__main__' else {name!r})")
        ):
            allowed.add(id(statement.value))
        if isinstance(statement, ast.FunctionDef):
            for node in ast.walk(statement):
                if is_get_logger(node) and not node.args and statement.name in ROOT_LOGGER_USERS:
                    allowed.add(id(node))
                if name == "mod_pywebsocket._diagnostics" and statement.name == "get_class_logger":
                    allowed.add(id(node))
    breaches = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if is_get_logger(node) and id(node) not in allowed:
            breaches.append(f"{where}: {ast.unparse(node)}")
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("get_class_logger"):
            breaches.append(f"{where}: {ast.unparse(node)}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "logging"
            and node.func.attr in ("debug", "info", "warning", "error", "exception", "critical", "log")
        ):
            breaches.append(f"{where}: {ast.unparse(node)} logs to the root logger")
    return breaches


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_module_logs_through_a_logger_named_after_itself(path):
    assert logger_rule_breaches(path) == []


def test_logger_rule_check_reports_a_hard_coded_name_a_class_logger_and_the_root_logger(tmp_path):
    source = tmp_path / "mod_pywebsocket" / "probe.py"
    source.parent.mkdir()
    source.write_text(
        "import logging\n"
        "_LOGGER = logging.getLogger(__name__ if __name__ != '__main__' else 'mod_pywebsocket.probe')\n"
        "_OTHER = logging.getLogger('mod_pywebsocket.standalone')\n"
        "def _configure_logging():\n"
        "    logging.getLogger().setLevel(logging.INFO)\n"
        "def f(self):\n"
        "    self._logger = util.get_class_logger(self)\n"
        "    logging.info('x')\n"
        "    return logging.getLogger()\n",
        encoding="utf-8",
    )
    assert logger_rule_breaches(source) == [
        "mod_pywebsocket.probe:3: logging.getLogger('mod_pywebsocket.standalone')",
        "mod_pywebsocket.probe:7: util.get_class_logger(self)",
        "mod_pywebsocket.probe:8: logging.info('x') logs to the root logger",
        "mod_pywebsocket.probe:9: logging.getLogger()",
    ]


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
