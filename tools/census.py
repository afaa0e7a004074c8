#!/usr/bin/env python3
"""Census of the module-level API of pywebsocket 0.7.9 and pywebsocket3 4.0.2.

    python -m tools.census                   # rewrite the data from the sdists (pip download
                                              # into .cache/sdists the first time)
    python -m tools.census --sdist-dir DIR   # read the two .tar.gz from DIR instead
    python -m tools.census --report          # check this tree against the data, print counts

The data, ``test/testdata/census/<sdist>.json``, lists for every module of
SPEC §2 each name the original defines at module level: functions (with
their signature), classes (``__init__`` signature, public methods, class
attributes), constants (with their value where it is a literal) and the
names a module re-exports from elsewhere in the package. Underscore names
are listed only where someone outside the package calls them: the
originals' own ``test/`` and ``example/`` files (found by reading them) and
the embedders in ``EMBEDDER_USES``; each such entry says who (``used_by``).
``test/test_census.py`` checks every entry against this tree.

Rules of the extraction:

- The sources are parsed, never imported: 0.7.9 is Python 2 (its files are
  parsed by a Python 2.7 interpreter, ``--python2``), 4.0.2 by this one. The
  same small dumper runs in both and turns each syntax tree into JSON; the
  rest happens here. The sdists' SHA-256 are pinned, so the data is the
  same on every run.
- Imports from outside the package (``os``, ``six``, ``hashlib.sha1``) are
  not API, nor is a package module bound by an import (``from
  mod_pywebsocket import common`` inside ``msgutil``): that is how a module
  reaches its neighbours; handler files import the module itself.
- Modules outside SPEC §2 (0.7.9 ``mux``, ``deflate_stream_extension``;
  pywebsocket3 ``websocket_server``, ``server_util``, ``request_handler``)
  are read only to describe what a §2 module re-exports from them.
- Methods come with the ones a class inherits from package classes. A class
  without a package ``__init__`` takes its base's (``EXTERNAL_INITS``).
- Signatures are written as Python parameter lists, ``(a, b=1, *args)``,
  without ``self``; defaults are shown as source text.

``--report`` prints, per original, how many names were checked and which
are missing or incompatible, marking the deliberate differences
(``DELIBERATE_DIFFERENCES``), then the names the two originals define
differently. It exits 1 if a name is missing that is not a deliberate
difference; the extraction exits 2 if the sdists or Python 2.7 are not
available. Only the standard library is used. Run it as a module from the
repository root (it imports ``tools.autobahn``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "test" / "testdata" / "census"
# Where ``pip download`` puts the sdists (not committed).
SDIST_CACHE = REPO / ".cache" / "sdists"


# (original, module, name) -> why we differ on purpose. Each entry's test in
# test/test_census.py is an expected failure: if the difference goes away, the
# entry must go too.
_UNUSED_CLOSE_ARGUMENTS = (
    "0.7.9 names StreamHixie75.close_connection's ignored arguments unused_code and unused_reason; ours "
    "calls them code and reason, as Stream.close_connection does, so a handler's "
    "close_connection(code=..., reason=...) works whatever the protocol. Positional calls are unchanged."
)
DELIBERATE_DIFFERENCES: dict[tuple[str, str, str], str] = {
    ("mod_pywebsocket-0.7.9", "_stream_hixie75", "StreamHixie75.close_connection"): _UNUSED_CLOSE_ARGUMENTS,
    ("mod_pywebsocket-0.7.9", "handshake.hybi00", "StreamHixie75.close_connection"): _UNUSED_CLOSE_ARGUMENTS,
    ("mod_pywebsocket-0.7.9", "stream", "StreamHixie75.close_connection"): _UNUSED_CLOSE_ARGUMENTS,
    ("mod_pywebsocket-0.7.9", "util", "wrap_popen3_for_win"): (
        "It replaced os.popen3 with a wrapper that runs #! scripts through Cygwin; Python 3 has no os.popen3 "
        "(removed in 3.0), so there is nothing to wrap. 0.7.9's standalone was its only caller; ours runs CGI "
        "scripts with subprocess, and util.get_script_interp is kept."
    ),
}


@dataclasses.dataclass(frozen=True, eq=False)
class Original:
    """One original release: where to get it and how its modules map onto ours."""

    key: str
    requirement: str
    package: str
    sha256: str
    python2: bool
    # Module of SPEC §2 in the original -> the module here that stands for it
    # ("" is the package itself).
    modules: dict[str, str]

    @property
    def sdist(self) -> str:
        return self.key + ".tar.gz"

    @property
    def data_file(self) -> Path:
        return DATA_DIR / (self.key + ".json")


_COMMON_MODULES = [
    "",
    "common",
    "util",
    "http_header_util",
    "memorizingfile",
    "handshake",
    "handshake.hybi",
    "stream",
    "extensions",
    "dispatch",
    "msgutil",
    "standalone",
]

ORIGINALS = [
    Original(
        key="mod_pywebsocket-0.7.9",
        requirement="mod-pywebsocket==0.7.9",
        package="mod_pywebsocket",
        sha256="98b7cf8f66df70777460466bf6bd3dcacec5683066ecab656d3e3fbb16943d86",
        python2=True,
        modules={
            name: name
            for name in [
                *_COMMON_MODULES,
                "handshake._base",
                "handshake.hybi00",
                "_stream_base",
                "_stream_hybi",
                "_stream_hixie75",
                "headerparserhandler",
            ]
        },
    ),
    Original(
        key="pywebsocket3-4.0.2",
        requirement="pywebsocket3==4.0.2",
        package="pywebsocket3",
        sha256="2589ddc14cdd9ca600cc76551a7f4f8935837304790b72f371fd1a9e4986430f",
        python2=False,
        # pywebsocket3 moved the stream exceptions into their own module; here
        # they live in _stream_base (and stream/msgutil re-export them, as in
        # both originals). Its stream.py is our stream (facade of _stream_hybi).
        modules={**{name: name for name in [*_COMMON_MODULES, "handshake.base"]}, "_stream_exceptions": "_stream_base"},
    ),
]

# Underscore names that embedders call, which the originals' own files don't
# show. Key: (original, "module:name") or (original, "Class.method").
_WPT = "web-platform-tests/wpt"
_WPT_SERVE_079 = _WPT + " tools/serve/serve.py (WebSocketDaemon, while it imported mod_pywebsocket.standalone)"
_WPT_H2 = _WPT + " tools/wptserve/wptserve/ws_h2_handshake.py (WsH2Handshaker overrides it)"
_LAUNCHERS = "the originals' `python standalone.py` entry (`_main(sys.argv[1:])`) and launchers calling it"
EMBEDDER_USES: dict[tuple[str, str], str] = {
    ("mod_pywebsocket-0.7.9", "standalone:_parse_args_and_config"): _WPT_SERVE_079,
    ("mod_pywebsocket-0.7.9", "standalone:_import_ssl"): _WPT_SERVE_079,
    ("mod_pywebsocket-0.7.9", "standalone:_import_pyopenssl"): _WPT_SERVE_079,
    ("mod_pywebsocket-0.7.9", "standalone:_TLS_BY_STANDARD_MODULE"): _WPT_SERVE_079,
    ("mod_pywebsocket-0.7.9", "standalone:_TLS_BY_PYOPENSSL"): _WPT_SERVE_079,
    ("mod_pywebsocket-0.7.9", "standalone:_main"): _LAUNCHERS,
    ("pywebsocket3-4.0.2", "standalone:_parse_args_and_config"): _WPT + " tools/serve/serve.py (WebSocketDaemon)",
    ("pywebsocket3-4.0.2", "standalone:_main"): _LAUNCHERS,
    ("pywebsocket3-4.0.2", "HandshakerBase._transform_header"): _WPT_H2,
    ("pywebsocket3-4.0.2", "HandshakerBase._protocol_rfc"): _WPT_H2,
    ("pywebsocket3-4.0.2", "HandshakerBase._validate_request"): _WPT_H2,
    ("pywebsocket3-4.0.2", "HandshakerBase._set_accept"): _WPT_H2,
    ("pywebsocket3-4.0.2", "HandshakerBase._send_handshake"): _WPT_H2,
}
# Stream internals that real handler files call (SPEC §12), e.g. WPT's
# websockets/handlers/*_wsh.py: request.ws_stream._receive_frame().
HANDLER_METHODS = {
    name: "SPEC §12 (real handler files, e.g. " + _WPT + " websockets/handlers/*_wsh.py)"
    for name in [
        "_receive_frame",
        "_receive_frame_as_frame_object",
        "_get_message_from_frame",
        "_process_close_message",
        "_send_pong",
        "_write",
    ]
}
# Required parameters that callers pass by keyword (optional ones are always
# checked by name): function name -> parameter names.
BY_KEYWORD = {
    # SPEC §12: "stream.create_header(opcode, payload_length, fin, rsv1, rsv2, rsv3, mask) (positional or keyword)"
    "create_header": frozenset({"opcode", "payload_length", "fin", "rsv1", "rsv2", "rsv3", "mask"}),
}
# __init__ of a class that defines none in the package, by its first base.
EXTERNAL_INITS = {
    "object": "()",
    "Exception": "(*args)",
    "logging.Handler": "(level=0)",
    "threading.Thread": "(group=None, target=None, name=None, args=(), kwargs=None)",
}

# Runs under Python 2.7 and 3: dumps every .py file of an sdist as JSON
# syntax trees. Python 2 str (and identifiers) become JSON text; Python 3
# bytes become {"_type": "bytes"}.
_DUMP_AST = r"""
import ast, json, sys, tarfile

def dump(node):
    if isinstance(node, ast.AST):
        out = {"_type": type(node).__name__}
        for field in node._fields:
            out[field] = dump(getattr(node, field, None))
        return out
    if isinstance(node, list):
        return [dump(item) for item in node]
    if isinstance(node, bytes):
        text = node.decode("latin-1")
        return text if str is bytes else {"_type": "bytes", "value": text}
    if node is None or isinstance(node, (bool, float)) or type(node).__name__ in ("int", "long", "str", "unicode"):
        return node
    return {"_type": "repr", "value": repr(node)}

trees = {}
archive = tarfile.open(sys.argv[1])
for member in archive.getmembers():
    parts = member.name.split("/", 1)
    if len(parts) == 2 and parts[1].endswith(".py") and member.isfile():
        trees[parts[1]] = dump(ast.parse(archive.extractfile(member).read(), parts[1]))
archive.close()
json.dump(trees, sys.stdout, sort_keys=True)
"""

Node = dict[str, Any]


class _Unknown(Exception):
    """A value that is not a literal."""


def _nodes(tree: Any) -> Iterator[Node]:
    """Yields every node of a dumped syntax tree."""
    if isinstance(tree, dict):
        if "_type" in tree:
            yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _nodes(item)


def _literal(node: Node) -> Any:
    """Returns the value of a literal node (both Pythons' node types)."""
    kind = node["_type"]
    if kind in ("Constant", "Num", "Str", "Bytes", "NameConstant"):
        value = node.get("value", node.get("n", node.get("s")))
        if isinstance(value, dict) and value.get("_type") == "bytes":
            return value["value"].encode("latin-1")
        if isinstance(value, dict):
            raise _Unknown(value["value"])
        return value
    if kind == "Name" and node["id"] in ("None", "True", "False"):  # Python 2
        return {"None": None, "True": True, "False": False}[node["id"]]
    raise _Unknown(kind)


def _text(node: Node | None) -> str:
    """Writes an expression back as (Python 3) source, for defaults and values."""
    if node is None:
        return "None"
    kind = node["_type"]
    try:
        return repr(_literal(node))
    except _Unknown:
        pass
    if kind == "Name":
        return str(node["id"])
    if kind == "Attribute":
        return _text(node["value"]) + "." + str(node["attr"])
    if kind in ("List", "Tuple"):
        items = ", ".join(_text(item) for item in node["elts"])
        return f"[{items}]" if kind == "List" else f"({items}{',' if len(node['elts']) == 1 else ''})"
    if kind == "Dict":
        return "{" + ", ".join(f"{_text(k)}: {_text(v)}" for k, v in zip(node["keys"], node["values"])) + "}"
    if kind == "UnaryOp" and node["op"]["_type"] == "USub":
        return "-" + _text(node["operand"])
    if kind == "Call":
        return _text(node["func"]) + "(" + ", ".join(_text(arg) for arg in node["args"]) + ")"
    return "..."


def _signature(arguments: Node, drop_first: bool) -> str:
    """Writes a dumped ``arguments`` node as a parameter list."""

    def name(arg: Any) -> str:
        if isinstance(arg, str):  # Python 2 *args / **kwargs
            return arg
        return str(arg.get("arg") or arg.get("id"))

    positional = [*arguments.get("posonlyargs", []), *arguments["args"]]
    defaults = arguments["defaults"]
    first_default = len(positional) - len(defaults)
    params = [
        name(arg) + ("=" + _text(defaults[i - first_default]) if i >= first_default else "")
        for i, arg in enumerate(positional)
    ]
    if drop_first:
        params = params[1:]
    if arguments.get("vararg"):
        params.append("*" + name(arguments["vararg"]))
    elif arguments.get("kwonlyargs"):
        params.append("*")
    for arg, default in zip(arguments.get("kwonlyargs", []), arguments.get("kw_defaults", [])):
        params.append(name(arg) + ("" if default is None else "=" + _text(default)))
    if arguments.get("kwarg"):
        params.append("**" + name(arguments["kwarg"]))
    return "(" + ", ".join(params) + ")"


def _top_level(body: list[Node]) -> Iterator[Node]:
    """Yields the statements of a module body, looking into if/try blocks."""
    for node in body:
        kind = node["_type"]
        if kind in ("If", "Try", "TryExcept", "TryFinally", "TryStar"):
            for field in ("body", "orelse", "finalbody"):
                yield from _top_level(node.get(field) or [])
            for handler in node.get("handlers") or []:
                yield from _top_level(handler["body"])
        else:
            yield node


@dataclasses.dataclass
class _Module:
    name: str
    tree: Node
    # Module-level name -> ("def"|"class"|"assign", node) or ("import", module, name)
    # or ("module", module); the first binding of a name wins.
    bindings: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)


class _Package:
    """The parsed modules of one original, and what their names resolve to."""

    def __init__(self, original: Original, trees: dict[str, Node]) -> None:
        self.original = original
        self.modules: dict[str, _Module] = {}
        prefix = original.package + "/"
        for path, tree in trees.items():
            if path.startswith(prefix):
                name = path[len(prefix) : -len(".py")].replace("/", ".")
                name = "" if name == "__init__" else name.removesuffix(".__init__")
                self.modules[name] = _Module(name, tree)
        for module in self.modules.values():
            self._bind(module)

    def package_module(self, dotted: str | None, level: int = 0, here: str = "") -> str | None:
        """Returns the module name inside the package for an import, else None."""
        if level:
            base = here.split(".")[:-level] if here else []
            dotted = ".".join([*base, dotted] if dotted else base)
            return dotted if dotted in self.modules else None
        if dotted is None:
            return None
        if dotted == self.original.package:
            return ""
        if dotted.startswith(self.original.package + "."):
            return dotted[len(self.original.package) + 1 :]
        return None

    def _bind(self, module: _Module) -> None:
        def bind(name: str, binding: tuple[Any, ...]) -> None:
            module.bindings.setdefault(name, binding)

        for node in _top_level(module.tree["body"]):
            kind = node["_type"]
            if kind in ("FunctionDef", "AsyncFunctionDef"):
                bind(node["name"], ("def", node))
            elif kind == "ClassDef":
                bind(node["name"], ("class", node))
            elif kind in ("Assign", "AnnAssign"):
                targets = node["targets"] if kind == "Assign" else [node["target"]]
                for target in targets:
                    for name_node in [target, *target.get("elts", [])]:
                        if name_node["_type"] == "Name" and node.get("value") is not None:
                            single = name_node is target
                            bind(name_node["id"], ("assign", node["value"]) if single else ("assign", None))
            elif kind == "ImportFrom":
                source = self.package_module(node["module"], node.get("level") or 0, module.name)
                if source is None:
                    continue
                for alias in node["names"]:
                    if alias["name"] == "*":
                        for name in self.public_names(source):
                            bind(name, ("import", source, name))
                        continue
                    target = (source + "." if source else "") + alias["name"]
                    binding = ("module", target) if target in self.modules else ("import", source, alias["name"])
                    bind(alias["asname"] or alias["name"], binding)
            elif kind == "Import":
                for alias in node["names"]:
                    source = self.package_module(alias["name"])
                    if source is not None and alias["asname"]:
                        bind(alias["asname"], ("module", source))

    def public_names(self, module: str) -> list[str]:
        """Names a star import takes from a module (its __all__, else public names)."""
        bindings = self.modules[module].bindings
        if "__all__" in bindings and bindings["__all__"][0] == "assign":
            return [_literal(item) for item in bindings["__all__"][1]["elts"]]
        return [name for name in bindings if not name.startswith("_")]

    def resolve(self, module: str, name: str, depth: int = 0) -> tuple[str, tuple[Any, ...]] | None:
        """Follows imports to where a name is defined: (module, binding)."""
        if depth > 20 or module not in self.modules:
            return None
        binding = self.modules[module].bindings.get(name)
        if binding is None:
            return None
        if binding[0] == "import":
            return self.resolve(binding[1], binding[2], depth + 1)
        return module, binding

    def value(self, module: str, node: Node | None, depth: int = 0) -> Any:
        """Evaluates a constant expression, following names; raises _Unknown."""
        if node is None or depth > 20:
            raise _Unknown("no value")
        kind = node["_type"]
        if kind == "Name" and node["id"] not in ("None", "True", "False"):
            found = self.resolve(module, node["id"])
            if found is None or found[1][0] != "assign":
                raise _Unknown(node["id"])
            return self.value(found[0], found[1][1], depth + 1)
        if kind == "Attribute" and node["value"]["_type"] == "Name":
            target = self.modules[module].bindings.get(node["value"]["id"])
            if target is None or target[0] != "module":
                raise _Unknown(_text(node))
            return self.value(target[1], {"_type": "Name", "id": node["attr"]}, depth + 1)
        if kind == "UnaryOp" and node["op"]["_type"] == "USub":
            return -self.value(module, node["operand"], depth + 1)
        if kind == "BinOp":
            left, right = self.value(module, node["left"], depth + 1), self.value(module, node["right"], depth + 1)
            operators = {
                "Add": lambda: left + right,
                "Sub": lambda: left - right,
                "Mult": lambda: left * right,
                "LShift": lambda: left << right,
                "BitOr": lambda: left | right,
            }
            if node["op"]["_type"] in operators:
                return operators[node["op"]["_type"]]()
            raise _Unknown("operator")
        if kind in ("List", "Tuple"):
            return [self.value(module, item, depth + 1) for item in node["elts"]]
        return _literal(node)

    def klass(self, module: str, name: str) -> tuple[str, Node] | None:
        """The ClassDef a name resolves to, with its module."""
        found = self.resolve(module, name)
        if found and found[1][0] == "class":
            return found[0], found[1][1]
        return None

    def bases(self, module: str, node: Node) -> list[tuple[str, tuple[str, Node] | None]]:
        """(source text, package class or None) for each base of a class."""
        out = []
        for base in node["bases"]:
            found = None
            if base["_type"] == "Name":
                found = self.klass(module, base["id"])
            elif base["_type"] == "Attribute" and base["value"]["_type"] == "Name":
                target = self.modules[module].bindings.get(base["value"]["id"])
                if target and target[0] == "module":
                    found = self.klass(target[1], base["attr"])
            out.append((_text(base), found))
        return out

    def mro(self, module: str, node: Node) -> Iterator[tuple[str, Node]]:
        """The class and its package bases, depth first, each once."""
        seen: set[tuple[str, str]] = set()
        pending = [(module, node)]
        while pending:
            current = pending.pop(0)
            key = (current[0], current[1]["name"])
            if key in seen:
                continue
            seen.add(key)
            yield current
            pending[0:0] = [found for _, found in self.bases(*current) if found]


@dataclasses.dataclass
class _Uses:
    """Underscore names called from outside the package, with who calls them."""

    names: dict[tuple[str, str], set[str]] = dataclasses.field(default_factory=dict)  # (module, name)
    methods: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # method name

    def add_name(self, module: str, name: str, source: str) -> None:
        self.names.setdefault((module, name), set()).add(source)

    def add_method(self, name: str, source: str) -> None:
        self.methods.setdefault(name, set()).add(source)


def _find_uses(package: _Package, trees: dict[str, Node]) -> _Uses:
    """Reads the originals' test/ and example/ files for underscore names they use."""
    uses = _Uses()
    for path, tree in sorted(trees.items()):
        if not path.startswith(("test/", "example/")):
            continue
        modules: dict[str, str] = {}  # local name -> package module
        for node in _nodes(tree):
            if node["_type"] == "ImportFrom":
                source = package.package_module(node["module"])
                if source is None:
                    continue
                for alias in node["names"]:
                    target = (source + "." if source else "") + alias["name"]
                    if target in package.modules:
                        modules[alias["asname"] or alias["name"]] = target
                    elif alias["name"].startswith("_") and not alias["name"].startswith("__"):
                        uses.add_name(source, alias["name"], path)
            elif node["_type"] == "Import":
                for alias in node["names"]:
                    source = package.package_module(alias["name"])
                    if source is not None:
                        modules[alias["asname"] or alias["name"]] = source if alias["asname"] else ""
        for node in _nodes(tree):
            if node["_type"] != "Attribute" or not node["attr"].startswith("_") or node["attr"].startswith("__"):
                continue
            owner = node["value"]
            dotted: list[str] = []
            while owner["_type"] == "Attribute":
                dotted.insert(0, owner["attr"])
                owner = owner["value"]
            if owner["_type"] != "Name" or owner["id"] == "self":
                continue
            module = modules.get(owner["id"]) if owner["id"] in modules else None
            if module is not None:
                module = ".".join(part for part in [module, *dotted] if part)
            if module is not None and module in package.modules:
                if node["attr"] in package.modules[module].bindings:
                    uses.add_name(module, node["attr"], path)
                continue
            uses.add_method(node["attr"], path)
    for (key, name), source in EMBEDDER_USES.items():
        if key == package.original.key and ":" in name:
            module, _, attr = name.partition(":")
            uses.add_name(module, attr, source)
    return uses


def _describe_class(package: _Package, module: str, node: Node, uses: _Uses) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "class", "bases": [text for text, _ in package.bases(module, node)]}
    attributes: dict[str, Any] = {}
    init: tuple[str | None, str] | None = None
    # Each method's most derived definition, and every class of the MRO that defines it.
    definitions: dict[str, tuple[str, Node]] = {}
    definers: dict[str, list[str]] = {}
    for owner_module, owner in package.mro(module, node):
        where = f"{owner_module}.{owner['name']}" if owner_module else owner["name"]
        for item in owner["body"]:
            if item["_type"] in ("FunctionDef", "AsyncFunctionDef"):
                if item["name"] == "__init__":
                    init = init or (_signature(item["args"], drop_first=True), where)
                else:
                    definitions.setdefault(item["name"], (where, item))
                    definers.setdefault(item["name"], []).append(owner["name"])
            elif item["_type"] == "Assign":
                for target in item["targets"]:
                    name = target.get("id", "__")
                    if name.startswith("__") or name in attributes:
                        continue
                    if not name.startswith("_") or name in uses.methods:
                        attributes[name] = _constant(package, owner_module, item["value"], {})
    methods: dict[str, Any] = {}
    for name, (where, item) in definitions.items():
        why = _why(package, name, definers[name], uses)
        if why is None:
            continue
        decorators = [_text(d) for d in item["decorator_list"]]
        method: dict[str, Any] = {"defined_in": where}
        if "property" in decorators:
            method["kind"] = "property"
        else:
            static = "staticmethod" in decorators
            method["signature"] = _signature(item["args"], drop_first=not static)
            if static or "classmethod" in decorators:
                method["kind"] = "staticmethod" if static else "classmethod"
        if why != "public":
            method["used_by"] = why
        methods[name] = method
    if init is None:
        external = [
            text
            for module_node in package.mro(module, node)
            for text, found in package.bases(*module_node)
            if found is None
        ] or ["object"]
        first = external[0]
        if first not in EXTERNAL_INITS and first.endswith(("Exception", "Error")):
            first = "Exception"
        init = (EXTERNAL_INITS.get(first), "external " + external[0])
    entry["signature"], entry["init_from"] = init
    if entry["signature"] is None:
        del entry["signature"]
    entry["methods"] = methods
    if attributes:
        entry["attributes"] = {name: value.get("value") for name, value in attributes.items()}
    return entry


def _why(package: _Package, method: str, class_names: list[str], uses: _Uses) -> str | None:
    """Why a method (defined by ``class_names``) is in the census, or None if it is not."""
    if not method.startswith("_"):
        return "public"
    if method.startswith("__"):
        return None
    sources = set(uses.methods.get(method, set()))
    if method in HANDLER_METHODS:
        sources.add(HANDLER_METHODS[method])
    for class_name in class_names:
        embedder = EMBEDDER_USES.get((package.original.key, f"{class_name}.{method}"))
        if embedder:
            sources.add(embedder)
    return "; ".join(sorted(sources)) or None


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _constant(package: _Package, module: str, node: Node | None, entry: dict[str, Any]) -> dict[str, Any]:
    entry = {"kind": "constant", **entry}
    try:
        entry["value"] = _encode(package.value(module, node))
    except _Unknown:
        entry["expr"] = _text(node)
    return entry


def _describe(package: _Package, module: str, name: str, uses: _Uses) -> dict[str, Any] | None:
    """The census entry of one module-level name, or None if it is not API."""
    found = package.resolve(module, name)
    if found is None:
        return None
    where, binding = found
    entry: dict[str, Any] = {}
    if where != module:
        entry["defined_in"] = where
    if binding[0] == "module":
        return None
    if binding[0] == "def":
        decorators = [_text(d) for d in binding[1]["decorator_list"]]
        return {
            "kind": "function",
            "signature": _signature(binding[1]["args"], drop_first=False),
            **({"decorators": decorators} if decorators else {}),
            **entry,
        }
    if binding[0] == "class":
        return {**_describe_class(package, where, binding[1], uses), **entry}
    value = binding[1]
    if value is not None and value["_type"] in ("Name", "Attribute"):
        # NAME = other_function / SomeClass: describe what it names.
        alias = None
        if value["_type"] == "Name":
            alias = package.resolve(where, value["id"])
        elif value["value"]["_type"] == "Name":
            target = package.modules[where].bindings.get(value["value"]["id"])
            if target and target[0] == "module":
                alias = package.resolve(target[1], value["attr"])
        if alias and alias[1][0] in ("def", "class"):
            described = _describe(package, alias[0], alias[1][1]["name"], uses)
            if described is not None:
                return {**described, "alias_of": f"{alias[0]}.{alias[1][1]['name']}", **entry}
    return _constant(package, where, value, entry)


def extract(original: Original, trees: dict[str, Node]) -> dict[str, Any]:
    """Builds the census data of one original from its dumped syntax trees."""
    package = _Package(original, trees)
    uses = _find_uses(package, trees)
    modules: dict[str, Any] = {}
    for module, ours in sorted(original.modules.items()):
        names: dict[str, Any] = {}
        for name in sorted(package.modules[module].bindings):
            if name.startswith("__"):
                continue
            sources = uses.names.get((module, name))
            if name.startswith("_") and not sources:
                continue
            entry = _describe(package, module, name, uses)
            if entry is None:
                continue
            if sources:
                entry["used_by"] = "; ".join(sorted(sources))
            names[name] = entry
        path = original.package + "/" + (module.replace(".", "/") if module else "")
        is_package = module == "" or (path + "/__init__.py") in trees
        modules[module] = {
            "ours": ours,
            "source": path + ("/__init__.py" if is_package else ".py"),
            "names": names,
        }
    return {
        "original": original.key,
        "package": original.package,
        "sdist_sha256": original.sha256,
        "python": 2 if original.python2 else 3,
        "modules": modules,
    }


class CensusError(Exception):
    """The sdists or the Python 2.7 interpreter are not available, or do not match."""


def python27(explicit: str | None = None) -> str:
    """Return the Python 2.7 interpreter that parses 0.7.9 (the one the Autobahn harness uses).

    Raises:
        CensusError: there is none.
    """
    if explicit:
        return explicit
    from tools import autobahn

    try:
        return autobahn._python27()
    except autobahn.SetupError as exc:
        raise CensusError(str(exc)) from exc


def dump_trees(original: Original, sdist: Path, python2: str | None = None) -> dict[str, Node]:
    """Parse every .py file of an sdist; return path -> syntax tree as JSON-like dicts.

    Raises:
        CensusError: the sdist is not the pinned one, or the interpreter cannot parse it.
    """
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != original.sha256:
        raise CensusError(f"{sdist}: sha256 {digest}, expected {original.sha256}")
    python = python27(python2) if original.python2 else sys.executable
    result = subprocess.run([python, "-c", _DUMP_AST, str(sdist)], capture_output=True, check=False, timeout=300)
    if result.returncode:
        raise CensusError(f"{python} could not parse {sdist}:\n{result.stderr.decode(errors='replace')}")
    trees: dict[str, Node] = json.loads(result.stdout)
    return trees


def cached_sdists(directory: Path = SDIST_CACHE, fetch: bool = True) -> Path:
    """Return ``directory`` holding both pinned sdists, fetching missing ones with ``pip download``.

    Raises:
        CensusError: they are missing and ``fetch`` is False, pip could not
            fetch them, or they are not the pinned files.
    """
    missing = [original for original in ORIGINALS if not (directory / original.sdist).is_file()]
    if missing and not fetch:
        raise CensusError(f"{', '.join(original.sdist for original in missing)} not in {directory}")
    if missing:
        directory.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(directory),
            *(original.requirement for original in missing),
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CensusError(f"pip download failed: {exc}") from exc
        if result.returncode:
            raise CensusError(f"pip download failed:\n{result.stderr.strip()}")
    for original in ORIGINALS:
        digest = hashlib.sha256((directory / original.sdist).read_bytes()).hexdigest()
        if digest != original.sha256:
            raise CensusError(f"{directory / original.sdist}: sha256 {digest}, expected {original.sha256}")
    return directory


def write_data(sdist_dir: Path | None, python2: str | None) -> None:
    """Extract both originals and write their census data files.

    Raises:
        CensusError: see ``cached_sdists`` and ``dump_trees``.
    """
    directory = sdist_dir or cached_sdists()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for original in ORIGINALS:
        data = extract(original, dump_trees(original, directory / original.sdist, python2))
        text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        original.data_file.write_text(text, encoding="utf-8")
        count = sum(len(module["names"]) for module in data["modules"].values())
        print(f"census: {original.data_file.relative_to(REPO)}: {count} names")


# --- Checking this tree against the data -----------------------------------------------------------------------


@functools.cache
def load(original: Original) -> dict[str, Any]:
    """The census data of one original (read once)."""
    data: dict[str, Any] = json.loads(original.data_file.read_text(encoding="utf-8"))
    return data


def cases(original: Original) -> list[tuple[str, str]]:
    """(module, name) for every check: module-level names and Class.method."""
    out = []
    for module, info in sorted(load(original)["modules"].items()):
        for name, entry in sorted(info["names"].items()):
            out.append((module, name))
            for method in sorted(entry.get("methods", {})):
                out.append((module, f"{name}.{method}"))
    return out


@dataclasses.dataclass(frozen=True)
class _Param:
    name: str
    kind: inspect._ParameterKind
    has_default: bool


def _parse_signature(text: str) -> list[_Param]:
    import ast

    arguments = ast.parse(f"def f{text}: pass").body[0].args  # type: ignore[attr-defined]
    kind = inspect.Parameter
    positional = [*arguments.posonlyargs, *arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    params = [_Param(arg.arg, kind.POSITIONAL_OR_KEYWORD, i >= first_default) for i, arg in enumerate(positional)]
    if arguments.vararg:
        params.append(_Param(arguments.vararg.arg, kind.VAR_POSITIONAL, False))
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
        params.append(_Param(arg.arg, kind.KEYWORD_ONLY, default is not None))
    if arguments.kwarg:
        params.append(_Param(arguments.kwarg.arg, kind.VAR_KEYWORD, False))
    return params


def signature_problems(original: str, ours: inspect.Signature, by_keyword: frozenset[str] = frozenset()) -> list[str]:
    """Ways a call valid against the original's parameter list fails against ours.

    Arguments are matched by position, and by name where callers name them:
    every parameter with a default (optional arguments are passed by
    keyword), every keyword-only one, and the required ones in
    ``by_keyword``. A required positional parameter may be renamed.
    """
    theirs = _parse_signature(original)
    mine = list(ours.parameters.values())
    kind = inspect.Parameter
    my_positional = [p for p in mine if p.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)]
    my_var_positional = any(p.kind is kind.VAR_POSITIONAL for p in mine)
    my_var_keyword = any(p.kind is kind.VAR_KEYWORD for p in mine)
    my_keywords = {p.name: p for p in mine if p.kind in (kind.POSITIONAL_OR_KEYWORD, kind.KEYWORD_ONLY)}
    their_positional = [p for p in theirs if p.kind is kind.POSITIONAL_OR_KEYWORD]
    problems = []
    if any(p.kind is kind.VAR_POSITIONAL for p in theirs) and not my_var_positional:
        problems.append("takes no *args")
    if any(p.kind is kind.VAR_KEYWORD for p in theirs) and not my_var_keyword:
        problems.append("takes no **kwargs")
    if len(their_positional) > len(my_positional) and not my_var_positional:
        problems.append(f"takes {len(my_positional)} positional arguments, the original {len(their_positional)}")
    for index, param in enumerate(their_positional[: len(my_positional)]):
        counterpart = my_positional[index]
        if param.has_default and counterpart.default is kind.empty:
            problems.append(f"argument {index + 1} ({counterpart.name!r}) is required, the original's has a default")
    my_index = {p.name: i for i, p in enumerate(my_positional)}
    for index, param in enumerate(their_positional):
        if param.name in my_index and my_index[param.name] != index:
            problems.append(
                f"argument {param.name!r} is at position {my_index[param.name] + 1}, the original's at {index + 1}"
            )
    for param in theirs:
        named = param.kind is kind.KEYWORD_ONLY or (
            param.kind is kind.POSITIONAL_OR_KEYWORD and (param.has_default or param.name in by_keyword)
        )
        if named and param.name not in my_keywords and not my_var_keyword:
            problems.append(f"takes no keyword {param.name!r}")
        if (
            param.kind is kind.KEYWORD_ONLY
            and param.has_default
            and param.name in my_keywords
            and my_keywords[param.name].default is kind.empty
        ):
            problems.append(f"keyword {param.name!r} is required, the original's has a default")
    for extra in my_positional[len(their_positional) :]:
        if extra.default is kind.empty:
            problems.append(f"requires argument {extra.name!r}, which the original does not take")
    their_names = {p.name for p in theirs}
    for extra in mine:
        if extra.kind is kind.KEYWORD_ONLY and extra.default is kind.empty and extra.name not in their_names:
            problems.append(f"requires keyword {extra.name!r}, which the original does not take")
    return problems


def _class_signature(cls: type) -> inspect.Signature:
    try:
        return inspect.signature(cls)
    except ValueError:
        if issubclass(cls, BaseException):  # BaseException.__init__(*args) has no text signature
            return inspect.Signature([inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)])
        raise


def _ours_signature(obj: Any, drop_first: bool) -> inspect.Signature:
    signature = inspect.signature(obj)
    if drop_first:
        params = list(signature.parameters.values())[1:]
        signature = signature.replace(parameters=params)
    return signature


def _same_value(expected: Any, actual: Any, python2: bool) -> bool:
    if isinstance(expected, dict) and "bytes" in expected:
        return bool(actual == expected["bytes"].encode("latin-1"))
    if isinstance(expected, list):
        return (
            isinstance(actual, (list, tuple))
            and len(actual) == len(expected)
            and all(_same_value(e, a, python2) for e, a in zip(expected, actual))
        )
    if python2 and isinstance(expected, str) and isinstance(actual, bytes):
        # A Python 2 str is either text or bytes in Python 3.
        return actual == expected.encode("latin-1")
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    return bool(actual == expected)


def entry_problems(name: str, entry: dict[str, Any], obj: Any, python2: bool) -> list[str]:
    kind = entry["kind"]
    if kind == "class":
        if not inspect.isclass(obj):
            return [f"is {type(obj).__name__}, the original's is a class"]
        problems = []
        if "signature" in entry:
            try:
                problems += [f"__init__: {p}" for p in signature_problems(entry["signature"], _class_signature(obj))]
            except (TypeError, ValueError) as error:
                problems.append(f"__init__: no signature ({error})")
        for attribute, value in entry.get("attributes", {}).items():
            if not hasattr(obj, attribute):
                problems.append(f"has no class attribute {attribute!r}")
            elif value is not None and not _same_value(value, getattr(obj, attribute), python2):
                problems.append(f"{attribute} is {getattr(obj, attribute)!r}, the original's {value!r}")
        return problems
    if kind == "function":
        if not callable(obj):
            return [f"is {type(obj).__name__}, not callable"]
        try:
            return signature_problems(entry["signature"], inspect.signature(obj), BY_KEYWORD.get(name, frozenset()))
        except (TypeError, ValueError) as error:
            return [f"no signature ({error})"]
    if "value" in entry and not _same_value(entry["value"], obj, python2):
        return [f"is {obj!r}, the original's {entry['value']!r}"]
    return []


def _method_problems(method: dict[str, Any], cls: type, name: str) -> list[str]:
    static = inspect.getattr_static(cls, name)
    if method.get("kind") == "property":
        return []
    obj = getattr(cls, name)
    if not callable(obj):
        return [f"is {type(obj).__name__}, not a method"]
    drop_first = not isinstance(static, (staticmethod, classmethod)) and inspect.isfunction(obj)
    if method.get("kind") == "staticmethod" and not isinstance(static, staticmethod):
        return ["is not a staticmethod"]
    try:
        return signature_problems(method["signature"], _ours_signature(obj, drop_first))
    except (TypeError, ValueError) as error:
        return [f"no signature ({error})"]


def problems(original: Original, module: str, name: str) -> list[str]:
    """What is wrong here with one census entry; [] if it exists and is compatible."""
    data = load(original)
    info = data["modules"][module]
    ours_name = original.package + ("." + info["ours"] if info["ours"] else "")
    try:
        ours = importlib.import_module(ours_name)
    except ImportError as error:
        return [f"{ours_name} does not import: {error}"]
    class_name, _, method = name.partition(".")
    entry = info["names"][class_name]
    if not hasattr(ours, class_name):
        return [f"{ours_name}.{class_name} is missing"]
    obj = getattr(ours, class_name)
    if method:
        if not inspect.isclass(obj):
            return [f"{ours_name}.{class_name} is not a class"]
        if not hasattr(obj, method):
            return [f"{ours_name}.{name} is missing"]
        return [f"{ours_name}.{name}: {p}" for p in _method_problems(entry["methods"][method], obj, method)]
    return [f"{ours_name}.{name}: {p}" for p in entry_problems(name, entry, obj, data["python"] == 2)]


def _parameters(signature: str | None) -> list[str] | None:
    """A parameter list without its default values (which the two Pythons spell differently)."""
    if signature is None:
        return None
    return [f"{p.kind.name} {p.name}{'=' if p.has_default else ''}" for p in _parse_signature(signature)]


def _shapes(original: Original) -> dict[tuple[str, str], dict[str, Any]]:
    """(our module, name or Class.method) -> what the original says of it, for comparing originals."""
    data = load(original)
    python2 = data["python"] == 2
    shapes = {}
    for info in data["modules"].values():
        for name, entry in info["names"].items():
            shape = {
                "kind": entry["kind"],
                "signature": _parameters(entry.get("signature")),
                "attributes": entry.get("attributes"),
            }
            value = entry.get("value", entry.get("expr"))
            if python2 and isinstance(value, str):
                value = {"text or bytes": value}  # a Python 2 str
            elif isinstance(value, str) or (isinstance(value, dict) and "bytes" in value):
                value = {"text or bytes": value if isinstance(value, str) else value["bytes"]}
            shape["value"] = value
            shapes[(info["ours"], name)] = shape
            for method, described in entry.get("methods", {}).items():
                shapes[(info["ours"], f"{name}.{method}")] = {
                    "kind": described.get("kind"),
                    "signature": _parameters(described.get("signature")),
                }
    return shapes


def disagreements() -> dict[tuple[str, str], list[str]]:
    """Names both originals define here but differently: (our module, name) -> how each has it."""
    first, second = (_shapes(original) for original in ORIGINALS)
    out = {}
    for key in sorted(first.keys() & second.keys()):
        if first[key] != second[key]:
            out[key] = [f"{original.key}: {_describe_shape(original, key)}" for original in ORIGINALS]
    return out


def _describe_shape(original: Original, key: tuple[str, str]) -> str:
    """How an original has a name: its signature, value or kind."""
    module, name = key
    class_name, _, method = name.partition(".")
    for info in load(original)["modules"].values():
        if info["ours"] == module and class_name in info["names"]:
            entry = info["names"][class_name]
            if method:
                entry = entry["methods"][method]
            return str(entry.get("signature", entry.get("value", entry.get("expr", entry.get("kind")))))
    raise KeyError(key)


def report() -> int:
    """Prints, per original, the names checked and those missing or incompatible."""
    failing = 0
    for original in ORIGINALS:
        checked = cases(original)
        found = [(module, name, problems(original, module, name)) for module, name in checked]
        bad = [(module, name, errors) for module, name, errors in found if errors]
        deliberate = [item for item in bad if (original.key, item[0], item[1]) in DELIBERATE_DIFFERENCES]
        print(
            f"{original.key}: {len(checked)} names checked, {len(bad)} missing or incompatible"
            f" ({len(deliberate)} deliberate, {len(bad) - len(deliberate)} not)"
        )
        for module, name, errors in bad:
            mark = "deliberate" if (original.key, module, name) in DELIBERATE_DIFFERENCES else "MISSING"
            print(f"  {mark}: {module or '(package)'}: {name}: {'; '.join(errors)}")
        failing += len(bad) - len(deliberate)
    differing = disagreements()
    print(f"the originals disagree on {len(differing)} names here:")
    for (module, name), sides in differing.items():
        print(f"  {module or '(package)'}: {name}: {' | '.join(sides)}")
    return 1 if failing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist-dir", type=Path, help="directory holding the two .tar.gz (default: pip download)")
    parser.add_argument("--python2", help="Python 2.7 interpreter that parses 0.7.9 (default: the one autobahn uses)")
    parser.add_argument("--report", action="store_true", help="check this tree against the data and print counts")
    args = parser.parse_args(argv)
    if args.report:
        return report()
    try:
        write_data(args.sdist_dir, args.python2)
    except CensusError as exc:
        print(f"census: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
