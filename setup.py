"""Build script: the metadata lives in pyproject.toml.

This file adds one thing: the ``.pth`` file that provides the ``pywebsocket3``
alias wherever no real pywebsocket3 is installed (docs/packaging.md).
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

# Installed at the top of site-packages. At every interpreter start, site runs
# this line: it imports one small module and appends one finder to
# sys.meta_path (mod_pywebsocket/_pywebsocket3_alias.py).
PTH_NAME = "mod_pywebsocket-pywebsocket3.pth"
PTH_LINE = "import mod_pywebsocket._pywebsocket3_alias as alias; alias.install_fallback_finder()\n"


class BuildPyWithPth(build_py):
    """``build_py`` that also writes the ``.pth`` file at the root of the build tree."""

    def run(self) -> None:
        super().run()
        if not self.dry_run:
            with open(os.path.join(self.build_lib, PTH_NAME), "w", encoding="utf-8") as pth:
                pth.write(PTH_LINE)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH_NAME)]


setup(cmdclass={"build_py": BuildPyWithPth})
