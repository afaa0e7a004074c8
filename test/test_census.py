"""Every module-level name of pywebsocket 0.7.9 and pywebsocket3 4.0.2 is here, with a compatible signature.

``tools/census.py`` read both sdists and wrote ``test/testdata/census/*.json``;
each name there is one test, against ``mod_pywebsocket.X`` for 0.7.9 and
``pywebsocket3.X`` for 4.0.2. Compatible means every call the original
accepts, ours accepts too (ours may add optional parameters).
"""

from __future__ import annotations

import inspect

import pytest

from tools import census

# (original, module, name) -> why we differ on purpose. Each entry's test is
# an expected failure: if the difference goes away, the entry must go too.
DELIBERATE_DIFFERENCES: dict[tuple[str, str, str], str] = {}


def _cases() -> list[object]:
    params = []
    for original in census.ORIGINALS:
        for module, name in census.cases(original):
            key = (original.key, module, name)
            marks = [pytest.mark.xfail(strict=True, reason=DELIBERATE_DIFFERENCES[key])] if key in DELIBERATE_DIFFERENCES else []
            params.append(pytest.param(original, module, name, marks=marks, id=f"{original.key}:{module or '(package)'}:{name}"))
    return params


@pytest.mark.parametrize(("original", "module", "name"), _cases())
def test_name_exists_with_compatible_signature(original, module, name):
    assert census.problems(original, module, name) == []
