"""Build script: the metadata lives in pyproject.toml.

This file adds three things to the built package: the ``.pth`` file that
provides the ``pywebsocket3`` alias wherever no real pywebsocket3 is
installed (docs/packaging.md), a copy of ``example/`` as
``mod_pywebsocket/examples/``, which the standalone server's ``--examples``
serves once installed, and the optional C accelerator
``mod_pywebsocket._speedups`` (frame masking), built when a C compiler and
the Python headers are present; without them the build says why and goes
on, and the package masks in pure Python (docs/standalone.md, "The masking
accelerator"). In a checkout, ``python3 setup.py build_ext --inplace`` (or
``make speedups``) builds it next to the sources.
"""

from __future__ import annotations

import os

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# Installed at the top of site-packages; site runs this line at every
# interpreter start. It imports nothing: it appends to the end of
# sys.meta_path a finder that, asked for "pywebsocket3" after every other
# finder found nothing, imports mod_pywebsocket._pywebsocket3_alias and
# returns its fallback_spec() (read that module's docstring).
PTH_NAME = "mod_pywebsocket-pywebsocket3.pth"
PTH_LINE = (
    "import sys; sys.meta_path.append(type('Pywebsocket3Fallback', (), {"
    "'__module__': 'mod_pywebsocket-pywebsocket3.pth', "
    "'find_spec': staticmethod(lambda name, path=None, target=None: "
    "__import__('mod_pywebsocket._pywebsocket3_alias', fromlist=['fallback_spec']).fallback_spec() "
    "if name == 'pywebsocket3' else None)})())\n"
)


# example/ in the source tree (a checkout or the sdist) -> this directory of the package.
EXAMPLES_SOURCE = "example"
EXAMPLES_TARGET = os.path.join("mod_pywebsocket", "examples")


def example_files() -> list[str]:
    """Return the names of the files of ``example/`` (no subdirectories, no bytecode)."""
    if not os.path.isdir(EXAMPLES_SOURCE):
        raise SystemExit(f"setup.py: {EXAMPLES_SOURCE}/ is missing: the wheel would lack the bundled examples")
    return sorted(
        name
        for name in os.listdir(EXAMPLES_SOURCE)
        if os.path.isfile(os.path.join(EXAMPLES_SOURCE, name)) and not name.endswith((".pyc", ".pyo"))
    )


class BuildPyWithPth(build_py):
    """``build_py`` that also writes the ``.pth`` file at the root of the build tree and copies the examples."""

    def run(self) -> None:
        """Build as usual, then write the ``.pth`` file and copy ``example/``."""
        super().run()
        if not self.dry_run:
            with open(os.path.join(self.build_lib, PTH_NAME), "w", encoding="utf-8") as pth:
                pth.write(PTH_LINE)
        self.mkpath(os.path.join(self.build_lib, EXAMPLES_TARGET))
        for name in example_files():
            self.copy_file(os.path.join(EXAMPLES_SOURCE, name), os.path.join(self.build_lib, EXAMPLES_TARGET, name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """List the built files, the ``.pth`` file and the examples included."""
        examples = [os.path.join(self.build_lib, EXAMPLES_TARGET, name) for name in example_files()]
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH_NAME), *examples]


# optional=True: a failed compilation (no compiler, no Python.h) is a warning, not an error.
SPEEDUPS = Extension("mod_pywebsocket._speedups", ["mod_pywebsocket/_speedups.c"], optional=True)

setup(cmdclass={"build_py": BuildPyWithPth}, ext_modules=[SPEEDUPS])
