"""Every module-level name of pywebsocket 0.7.9 and pywebsocket3 4.0.2 is here, with a compatible signature.

``tools/census.py`` read both sdists and wrote ``test/testdata/census/*.json``;
each name there (and each method of a class) is one test, run against
``mod_pywebsocket.X`` for 0.7.9 and ``pywebsocket3.X`` for 4.0.2.
Compatible means a call the original accepts works here too: the same
positional arguments, every keyword callers may use (those of the
parameters with defaults, and the required ones in ``census.BY_KEYWORD``),
nothing more required; ours may add optional parameters. Constants must
have the original's value; a Python 2 str may be text or bytes here.
"""

from __future__ import annotations

import inspect

import pytest

from test.layout import SPEC_MODULES
from tools import census

_WPT_SERVE = "web-platform-tests/wpt tools/serve/serve.py"

# (our module, name) -> how we resolve a name both originals define, differently.
# SPEC §12: handler files written against either must work unchanged, so
# where one original's form is not a subset of the other's we take both.
DISAGREEMENTS: dict[tuple[str, str], str] = {
    ("common", "parse_extensions"): (
        "0.7.9 takes allow_quoted_string=False, 4.0.2 dropped it; ours keeps the keyword, so both calls work."
    ),
    ("dispatch", "Dispatcher"): (
        "4.0.2 added handler_encoding=None (its --handler-encoding); ours takes it too (SPEC §9)."
    ),
    ("handshake", "do_handshake"): (
        "4.0.2 dropped allowDraft75 and strict; ours keeps them (SPEC §2), both optional, so 4.0.2's "
        "two-argument calls work as well."
    ),
    ("msgutil", "send_ping"): "0.7.9 defaults body to '', 4.0.2 requires it; ours defaults it to b''.",
    ("stream", "Stream.send_ping"): (
        "0.7.9 has send_ping(body=''), 4.0.2 send_ping(body, binary=False); ours is send_ping(body=b'', "
        "binary=False): a str body is UTF-8 encoded, and binary=True with a str raises BadOperationException "
        "as send_message does (SPEC §12)."
    ),
}


def _cases() -> list[object]:
    params = []
    for original in census.ORIGINALS:
        for module, name in census.cases(original):
            key = (original.key, module, name)
            marks = []
            if key in census.DELIBERATE_DIFFERENCES:
                marks.append(pytest.mark.xfail(strict=True, reason=census.DELIBERATE_DIFFERENCES[key]))
            params.append(pytest.param(original, module, name, marks=marks, id=f"{original.key}:{module}:{name}"))
    return params


@pytest.mark.parametrize(("original", "module", "name"), _cases())
def test_name_exists_with_compatible_signature(original, module, name):
    assert census.problems(original, module, name) == []


def test_every_deliberate_difference_names_a_census_entry():
    known = {(original.key, module, name) for original in census.ORIGINALS for module, name in census.cases(original)}
    assert set(census.DELIBERATE_DIFFERENCES) - known == set()


def test_every_disagreement_between_the_originals_is_resolved_in_the_table():
    assert sorted(census.disagreements()) == sorted(DISAGREEMENTS)


def test_the_census_covers_every_module_of_spec_section_2():
    for original in census.ORIGINALS:
        assert set(census.load(original)["modules"]) == set(original.modules)
    ours = {module for original in census.ORIGINALS for module in original.modules.values()}
    # handshake/draft75.py is ours only: neither original ships it (SPEC §2 keeps hixie-75).
    assert ours == {"", *SPEC_MODULES} - {"handshake.draft75"}


def test_the_census_lists_the_underscore_names_embedders_call_with_their_caller():
    data = census.load(census.ORIGINALS[1])
    standalone = data["modules"]["standalone"]["names"]
    assert standalone["_parse_args_and_config"]["used_by"] == _WPT_SERVE + " (WebSocketDaemon)"
    assert "test/test_dispatch.py" in data["modules"]["dispatch"]["names"]["_normalize_path"]["used_by"]
    methods = data["modules"]["handshake.base"]["names"]["HandshakerBase"]["methods"]
    assert "ws_h2_handshake.py" in methods["_transform_header"]["used_by"]
    assert "_check_version" not in methods  # private and called by nobody outside


def test_the_data_is_what_the_extraction_produces_from_the_sdists():
    # The sdists come from PyPI once (pinned by SHA-256), then from the cache, like the
    # packages the test command installs; pyenv's Python 2.7 is the Autobahn one.
    try:
        directory = census.cached_sdists(fetch=True)
        python2 = census.python27()
    except census.CensusError as exc:
        pytest.skip(f"CENSUS FRESHNESS NOT CHECKED: SDISTS CANNOT BE FETCHED OR NO PYTHON 2.7: {exc}")
    for original in census.ORIGINALS:
        assert census.extract(original, census.dump_trees(original, directory / original.sdist, python2)) == (
            census.load(original)
        )


# The compatibility check itself.


def _f1(a, b=1): ...
def _f2(x, b=1, c=2): ...
def _f3(a, c=1): ...
def _f4(a): ...
def _f5(a, b): ...
def _f6(b=1, a=None): ...
def _f7(a, *, b=1): ...
def _f8(a, *args, **kwargs): ...
def _f9(a, b=1, *, c): ...
def _f10(op, fin): ...


@pytest.mark.parametrize(
    ("original", "ours", "by_keyword", "expected"),
    [
        ("(a, b=1)", _f1, (), []),
        ("(a, b=1)", _f2, (), []),
        ("(a, b=1)", _f3, (), ["takes no keyword 'b'"]),
        ("(a, b=1)", _f4, (), ["takes 1 positional arguments, the original 2", "takes no keyword 'b'"]),
        ("(a, b=1)", _f5, (), ["argument 2 ('b') is required, the original's has a default"]),
        ("(a)", _f5, (), ["requires argument 'b', which the original does not take"]),
        (
            "(a, b=1)",
            _f6,
            (),
            [
                "argument 'a' is at position 2, the original's at 1",
                "argument 'b' is at position 1, the original's at 2",
            ],
        ),
        ("(a, b=1)", _f7, (), ["takes 1 positional arguments, the original 2"]),
        ("(a, b=1, *rest, **options)", _f8, (), []),
        ("(a, *rest)", _f1, (), ["takes no *args"]),
        ("(a, **options)", _f1, (), ["takes no **kwargs"]),
        ("(a, b=1)", _f9, (), ["requires keyword 'c', which the original does not take"]),
        ("(opcode, fin)", _f10, ("opcode", "fin"), ["takes no keyword 'opcode'"]),
        ("(opcode, fin)", _f10, (), []),
    ],
)
def test_signature_problems_lists_each_call_the_original_accepts_and_ours_refuses(original, ours, by_keyword, expected):
    assert census.signature_problems(original, inspect.signature(ours), frozenset(by_keyword)) == expected


class _Probe:
    attribute = 3


@pytest.mark.parametrize(
    ("entry", "obj", "python2", "expected"),
    [
        ({"kind": "class", "signature": "()"}, _f4, False, ["is function, the original's is a class"]),
        ({"kind": "function", "signature": "(a)"}, 3, False, ["is int, not callable"]),
        ({"kind": "constant", "value": 13}, 13, False, []),
        ({"kind": "constant", "value": 13}, 8, False, ["is 8, the original's 13"]),
        ({"kind": "constant", "value": True}, 1, False, ["is 1, the original's True"]),
        ({"kind": "constant", "value": "ws"}, b"ws", True, []),
        ({"kind": "constant", "value": "ws"}, b"ws", False, ["is b'ws', the original's 'ws'"]),
        ({"kind": "constant", "value": {"bytes": "\u00ff"}}, b"\xff", False, []),
        ({"kind": "constant", "expr": "hashlib.md5"}, object(), True, []),
        (
            {"kind": "class", "signature": "()", "attributes": {"attribute": 3, "other": None}},
            _Probe,
            False,
            ["has no class attribute 'other'"],
        ),
    ],
)
def test_entry_problems_checks_kind_value_and_class_attributes(entry, obj, python2, expected):
    assert census.entry_problems("name", entry, obj, python2) == expected
