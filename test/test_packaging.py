"""The ``pywebsocket3`` alias from a source tree and from the installed wheel.

The fast tests run ``python -m pywebsocket3.standalone`` from the source
tree. The tests marked ``packaging`` build our wheel from an sdist (as a
release does), run its ``.pth`` file as site does, and install it into
throwaway venvs, alone and beside the real pywebsocket3 4.0.2 in every order
(docs/packaging.md). pywebsocket3 is an sdist on PyPI: it is downloaded and
built into a wheel once, kept in ``test-artifacts/wheels/``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import pytest
from websockets.sync.client import connect

from mod_pywebsocket import __version__, _pywebsocket3_alias
from test.conftest import EXAMPLE_DIR, REPO_ROOT
from test.servers import ServerProcess

TIMEOUT = 10.0
BUILD_TIMEOUT = 120.0
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
PINS_FILE = os.path.join(REPO_ROOT, "requirements", "pywebsocket3.txt")
WHEEL_CACHE = os.path.join(REPO_ROOT, "test-artifacts", "wheels")
USAGE = "usage: mod_pywebsocket.standalone "


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without the PYTHON* variables (the tests' own sys.path must not leak)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    env.update(extra)
    return env


def run(
    argv: list[str], cwd: str | Path, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


# -- from the source tree -----------------------------------------------------


@pytest.mark.parametrize("checkout", ["current directory", "PYTHONPATH"])
def test_python_m_pywebsocket3_standalone_help_prints_usage(checkout, tmp_path):
    argv = [sys.executable, "-m", "pywebsocket3.standalone", "--help"]
    if checkout == "current directory":
        result = run(argv, cwd=REPO_ROOT)
    else:
        result = run(argv, cwd=tmp_path, env=clean_env(PYTHONPATH=REPO_ROOT))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(USAGE)


def test_python_m_pywebsocket3_standalone_serves_echo_and_exits_0_on_sigterm():
    assert_serves_echo_and_exits_0_on_sigterm(command=(sys.executable, "-m", "pywebsocket3.standalone"), cwd=REPO_ROOT)


def assert_serves_echo_and_exits_0_on_sigterm(command: tuple[str, ...], cwd: str) -> None:
    """Start ``command -H 127.0.0.1 -p 0 -d <example/>`` in ``cwd``, echo one message, stop it with SIGTERM."""
    with ServerProcess("-d", EXAMPLE_DIR, command=command, cwd=cwd, env=clean_env()) as server:
        with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=TIMEOUT) as ws:
            ws.send("through pywebsocket3")
            assert ws.recv(timeout=TIMEOUT) == "through pywebsocket3"
        log = server.log_text()
    assert server.process.returncode == 0
    assert "[WARNING]" not in log and "[ERROR]" not in log, log


@pytest.mark.parametrize("module", ["msgutil", "handshake", "handshake.hybi"])
def test_aliased_module_keeps_its_own_spec(module):
    alias = importlib.import_module("pywebsocket3." + module)
    assert alias is importlib.import_module("mod_pywebsocket." + module)
    assert alias.__spec__.name == "mod_pywebsocket." + module


def test_alias_has_no_module_that_mod_pywebsocket_lacks():
    with pytest.raises(ModuleNotFoundError) as info:
        importlib.import_module("pywebsocket3.websocket_server")
    assert info.value.name == "pywebsocket3.websocket_server"


def test_source_tree_alias_is_not_foreign():
    assert _pywebsocket3_alias.foreign_pywebsocket3() is None


def write_package(parent: Path, body: str = "") -> Path:
    """Write ``parent/pywebsocket3/__init__.py`` (a stand-in for a real pywebsocket3) and return its path."""
    init = parent / "pywebsocket3" / "__init__.py"
    init.parent.mkdir(parents=True)
    init.write_text(body)
    return init


def test_server_warns_once_when_handlers_would_get_another_pywebsocket3(tmp_path):
    other = write_package(tmp_path)
    # ``-m`` puts the current directory first on sys.path, ahead of the source tree.
    with ServerProcess("-d", EXAMPLE_DIR, cwd=str(tmp_path), env=clean_env(PYTHONPATH=REPO_ROOT)) as server:
        log = server.log_text()
    warnings = [line for line in log.splitlines() if "[WARNING]" in line]
    assert len(warnings) == 1, log
    assert warnings[0].endswith(
        f"handlers that import pywebsocket3 get the package at {other}, not this server's modules; "
        "import mod_pywebsocket in them instead (see docs/packaging.md)"
    )


def test_warning_says_when_another_pywebsocket3_fails_to_import(tmp_path):
    write_package(tmp_path, "import no_such_module_here\n")
    code = (
        "import logging; logging.basicConfig(format='%(levelname)s %(message)s')\n"
        "from mod_pywebsocket import _pywebsocket3_alias; _pywebsocket3_alias.warn_if_foreign_pywebsocket3()\n"
    )
    result = run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(PYTHONPATH=REPO_ROOT))
    first_line, *traceback = result.stderr.splitlines()
    assert first_line == "WARNING handlers that import pywebsocket3 will fail: it does not import"
    assert traceback[-1] == "ModuleNotFoundError: No module named 'no_such_module_here'"


# -- the installed wheel, beside the real pywebsocket3 --------------------------------


LOCAL_ONLY = ("build", "dist", "reports", "test-artifacts")  # git-ignored, never part of a release


def _copy_ignoring(directory: str, names: list[str]) -> set[str]:
    if directory == REPO_ROOT:
        return {name for name in names if name.startswith(".") or name in LOCAL_ONLY}
    return {name for name in names if name == "__pycache__" or name.endswith(".egg-info")}


class Build(NamedTuple):
    sdist: Path
    unpacked: Path  # the sdist, unpacked; the wheel was built there
    wheel: Path
    log: str  # what both builds wrote on stderr


@pytest.fixture(scope="module")
def our_build(tmp_path_factory) -> Build:
    """Build the sdist from a copy of the working tree, then the wheel from the sdist."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(REPO_ROOT, source, ignore=_copy_ignoring, symlinks=True)
    build = "import sys; from setuptools import build_meta; print(getattr(build_meta, sys.argv[1])(sys.argv[2]))"
    result = run([sys.executable, "-c", build, "build_sdist", str(work)], cwd=source, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    log = result.stderr
    sdist_path = work / result.stdout.splitlines()[-1]
    with tarfile.open(sdist_path) as sdist:
        sdist.extractall(work / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (unpacked,) = (work / "unpacked").iterdir()
    result = run([sys.executable, "-c", build, "build_wheel", str(work)], cwd=unpacked, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return Build(sdist_path, unpacked, work / result.stdout.splitlines()[-1], log + result.stderr)


@pytest.fixture(scope="module")
def our_wheel(our_build) -> Path:
    return our_build.wheel


@pytest.fixture(scope="module")
def real_wheels(tmp_path_factory) -> str:
    """Return the directory holding the wheels of requirements/pywebsocket3.txt (built once, then cached)."""
    with open(PINS_FILE) as pins_file:
        pins = [line.split("==") for line in pins_file.read().splitlines() if line and not line.startswith("#")]
    cached = os.listdir(WHEEL_CACHE) if os.path.isdir(WHEEL_CACHE) else []
    if all(any(name.startswith(f"{project}-{version}-") for name in cached) for project, version in pins):
        return WHEEL_CACHE
    work = tmp_path_factory.mktemp("pywebsocket3")
    result = run([*PIP, "download", "--no-deps", "-d", str(work), "-r", PINS_FILE], cwd=work, timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"PACKAGING NOT RUN: cannot download requirements/pywebsocket3.txt from PyPI: {last_line}")
    result = run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--find-links", str(work),
         "-w", str(work / "wheels"), "-r", PINS_FILE],
        cwd=work, timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    os.makedirs(WHEEL_CACHE, exist_ok=True)
    for wheel in (work / "wheels").iterdir():
        os.replace(wheel, os.path.join(WHEEL_CACHE, wheel.name))
    return WHEEL_CACHE


# Prints what importing each name gives, as JSON.
PROBE = """
import json, sys
facts = {}
for name in ("mod_pywebsocket.msgutil", "pywebsocket3.msgutil"):
    try:
        module = __import__(name, fromlist=["_"])
    except ImportError as exc:
        facts[name] = f"{type(exc).__name__}: {exc}"
    else:
        facts[name] = module.__file__
try:
    import pywebsocket3.msgutil, mod_pywebsocket.msgutil
    facts["pywebsocket3"] = pywebsocket3.__file__
    facts["alias"] = pywebsocket3.msgutil is mod_pywebsocket.msgutil
    from mod_pywebsocket import __version__, _pywebsocket3_alias
    facts["foreign"] = _pywebsocket3_alias.foreign_pywebsocket3()
except ImportError:
    pass
print(json.dumps(facts))
"""

# Prints every installed file of the named distributions that is missing or differs from its RECORD line.
VERIFY_RECORD = """
import base64, hashlib, importlib.metadata, sys
for name in sys.argv[1:]:
    for file in importlib.metadata.files(name):
        if file.hash is None:
            continue
        try:
            data = file.locate().read_bytes()
        except OSError:
            print(name, file, "missing")
            continue
        digest = base64.urlsafe_b64encode(hashlib.new(file.hash.mode, data).digest()).rstrip(b"=").decode()
        if digest != file.hash.value:
            print(name, file, "changed")
"""


class Venv:
    """A throwaway venv (no pip of its own: ours drives it with ``--python``)."""

    def __init__(self, path: Path, *wheel_dirs: str) -> None:
        self.path = path
        self._find_links = [arg for directory in wheel_dirs for arg in ("--find-links", directory)]
        result = run([sys.executable, "-m", "venv", "--without-pip", str(path)], cwd=path.parent)
        assert result.returncode == 0, result.stderr
        self.python = str(path / "bin" / "python")
        self.site = Path(self.run("-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())

    def pip(self, *args: str) -> str:
        result = run([*PIP, "--python", self.python, *args], cwd=self.path, timeout=BUILD_TIMEOUT)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def install(self, *requirements: str) -> None:
        self.pip("install", "--no-index", *self._find_links, *requirements)

    def uninstall(self, *projects: str) -> None:
        self.pip("uninstall", "--yes", *projects)

    def run(self, *args: str, program: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(self.path / "bin" / program)] if program else [self.python]
        return run([*argv, *args], cwd=self.path)

    def probe(self) -> dict[str, object]:
        result = self.run("-c", PROBE)
        assert result.stderr == ""
        return json.loads(result.stdout)

    def changed_files(self, *projects: str) -> str:
        result = self.run("-c", VERIFY_RECORD, *projects)
        assert result.stderr == ""
        return result.stdout

    def site_entries(self) -> list[str]:
        return sorted(name for name in os.listdir(self.site) if name != "__pycache__")


@pytest.fixture
def venv(tmp_path, our_wheel) -> Venv:
    """A venv that can install our wheel."""
    return Venv(tmp_path / "venv", str(our_wheel.parent))


@pytest.fixture
def venv_beside_real(tmp_path, our_wheel, real_wheels) -> Venv:
    """A venv that can install our wheel and the real pywebsocket3."""
    return Venv(tmp_path / "venv", str(our_wheel.parent), real_wheels)


OURS = "mod_pywebsocket"
REAL = "pywebsocket3"


def assert_alias(venv: Venv) -> None:
    facts = venv.probe()
    assert facts["pywebsocket3"] == str(venv.site / "mod_pywebsocket" / "__init__.py")
    assert (facts["alias"], facts["foreign"]) == (True, None)


def assert_real(venv: Venv, *, ours_installed: bool = True) -> None:
    facts = venv.probe()
    assert facts["pywebsocket3.msgutil"] == str(venv.site / "pywebsocket3" / "msgutil.py")
    if ours_installed:
        assert facts["pywebsocket3"] == str(venv.site / "pywebsocket3" / "__init__.py")
        assert (facts["alias"], facts["foreign"]) == (False, facts["pywebsocket3"])
    help_text = venv.run("-m", "pywebsocket3.standalone", "--help")
    assert (help_text.returncode, help_text.stdout.startswith("usage: standalone.py ")) == (0, True)


def assert_ours_commands(venv: Venv, *, module: str) -> None:
    for result in (venv.run("-m", module, "--help"), venv.run("--help", program="pywebsocket-standalone")):
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.startswith(USAGE)


@pytest.mark.packaging
def test_wheel_ships_a_one_line_pth_file_and_no_top_level_pywebsocket3(our_wheel):
    with zipfile.ZipFile(our_wheel) as wheel:
        top_level = {name.split("/")[0] for name in wheel.namelist()}
        pth = wheel.read("mod_pywebsocket-pywebsocket3.pth").decode()
    dist_info = "-".join(our_wheel.name.split("-")[:2]) + ".dist-info"
    assert top_level == {"mod_pywebsocket", "mod_pywebsocket-pywebsocket3.pth", dist_info}
    assert pth.startswith("import sys;") and pth.count("\n") == 1 and pth.endswith("\n")


@pytest.fixture
def wheel_site(our_wheel, tmp_path) -> Path:
    """The wheel unpacked into a directory, as into site-packages (site.addsitedir runs its .pth)."""
    site = tmp_path / "site"
    with zipfile.ZipFile(our_wheel) as wheel:
        wheel.extractall(site)
    return site


# Runs the wheel's .pth as site does, puts the other directories last on sys.path, then imports.
IMPORT_THROUGH_PTH = """
import site, sys
site.addsitedir(sys.argv[1])
sys.path.extend(sys.argv[2:])
loaded = sorted(name for name in sys.modules if "pywebsocket" in name)
import pywebsocket3.msgutil, mod_pywebsocket.msgutil
print(loaded, pywebsocket3.__file__, pywebsocket3.msgutil is mod_pywebsocket.msgutil)
"""


@pytest.mark.packaging
def test_pth_file_imports_nothing_and_provides_the_alias_when_there_is_no_pywebsocket3(wheel_site, tmp_path):
    result = run([sys.executable, "-I", "-c", IMPORT_THROUGH_PTH, str(wheel_site)], cwd=tmp_path)
    assert result.stderr == ""
    assert result.stdout == f"[] {wheel_site / 'mod_pywebsocket' / '__init__.py'} True\n"


@pytest.mark.packaging
def test_pth_file_yields_to_a_pywebsocket3_even_last_on_sys_path(wheel_site, tmp_path):
    real = write_package(tmp_path / "last", "from . import msgutil\n")
    (real.parent / "msgutil.py").write_text("")
    argv = [sys.executable, "-I", "-c", IMPORT_THROUGH_PTH, str(wheel_site), str(tmp_path / "last")]
    result = run(argv, cwd=tmp_path)
    assert result.stderr == ""
    assert result.stdout == f"[] {real} False\n"


@pytest.mark.packaging
def test_installed_wheel_alone_provides_the_alias_and_both_commands(venv):
    venv.install(OURS)
    assert_alias(venv)
    assert_ours_commands(venv, module="pywebsocket3.standalone")
    assert venv.changed_files(OURS) == ""


@pytest.mark.packaging
def test_installed_python_m_pywebsocket3_standalone_serves_echo_and_exits_0_on_sigterm(venv):
    venv.install(OURS)
    command = (venv.python, "-m", "pywebsocket3.standalone")
    assert_serves_echo_and_exits_0_on_sigterm(command=command, cwd=str(venv.path))


@pytest.mark.packaging
def test_installed_wheel_leaves_a_checkout_in_the_current_directory_first(venv):
    venv.install(OURS)
    code = "import mod_pywebsocket, pywebsocket3; print(mod_pywebsocket.__file__, pywebsocket3.__file__)"
    result = run([venv.python, "-c", code], cwd=REPO_ROOT)
    assert result.stdout.split() == [
        os.path.join(REPO_ROOT, "mod_pywebsocket", "__init__.py"),
        os.path.join(REPO_ROOT, "pywebsocket3", "__init__.py"),
    ]


@pytest.mark.packaging
@pytest.mark.parametrize("order", [(REAL, OURS), (OURS, REAL)], ids=["ours after real", "real after ours"])
def test_installing_both_in_either_order_keeps_both_working(venv_beside_real, order):
    venv = venv_beside_real
    for project in order:
        venv.install(project)
    assert_real(venv)
    assert_ours_commands(venv, module="mod_pywebsocket.standalone")
    assert venv.changed_files(OURS, REAL) == ""
    assert venv.pip("check") == "No broken requirements found.\n"


@pytest.mark.packaging
def test_uninstalling_real_pywebsocket3_brings_the_alias_back(venv_beside_real):
    venv = venv_beside_real
    venv.install(OURS)
    venv.install(REAL)
    venv.uninstall(REAL)
    assert [entry for entry in venv.site_entries() if entry.startswith("pywebsocket3")] == []
    assert_alias(venv)
    assert venv.changed_files(OURS) == ""
    assert venv.pip("check") == "No broken requirements found.\n"


@pytest.mark.packaging
def test_uninstalling_ours_leaves_real_pywebsocket3_intact(venv_beside_real):
    venv = venv_beside_real
    venv.install(REAL)
    venv.install(OURS)
    venv.uninstall(OURS)
    assert [entry for entry in venv.site_entries() if entry.startswith("mod_pywebsocket")] == []
    facts = venv.probe()
    assert facts["mod_pywebsocket.msgutil"] == "ModuleNotFoundError: No module named 'mod_pywebsocket'"
    assert_real(venv, ours_installed=False)
    assert venv.changed_files(REAL) == ""
    assert venv.pip("check") == "No broken requirements found.\n"


# -- what the sdist and the wheel carry (issue 16) -----------------------------


def example_names() -> set[str]:
    return {name for name in os.listdir(EXAMPLE_DIR) if os.path.isfile(os.path.join(EXAMPLE_DIR, name))}


@pytest.mark.packaging
def test_build_warns_of_nothing_deprecated_and_declares_the_license_as_pep_639_says(our_build):
    assert "eprecat" not in our_build.log, our_build.log
    with zipfile.ZipFile(our_build.wheel) as wheel:
        metadata = wheel.read(f"mod_pywebsocket-{__version__}.dist-info/METADATA").decode().split("\n\n")[0]
    lines = metadata.splitlines()
    assert f"Version: {__version__}" in lines
    assert "License-Expression: BSD-3-Clause" in lines and "License-File: LICENSE" in lines
    assert [line for line in lines if line.startswith(("License:", "Classifier: License"))] == []
    assert [line for line in lines if line.startswith("Project-URL: ")] == [
        "Project-URL: pywebsocket 0.7 (original), https://github.com/google/pywebsocket",
        "Project-URL: pywebsocket3 (original), https://github.com/GoogleChromeLabs/pywebsocket3",
    ]


@pytest.mark.packaging
def test_sdist_carries_the_examples_docs_and_everything_the_fast_tests_need(our_build):
    with tarfile.open(our_build.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {f"example/{name}" for name in example_names()} <= names
    expected = {
        "docs/standalone.md", "docs/apache.md", "test/conftest.py", "test/__init__.py", "test/mock.py",
        "test/testdata/handlers/blank_wsh.py", "pywebsocket3/__init__.py", "requirements/test.txt", "MANIFEST.in",
    }  # fmt: skip
    assert expected - names == set()
    assert [name for name in names if name.endswith(".pyc") or "__pycache__" in name] == []


@pytest.mark.packaging
def test_unpacked_sdist_passes_the_fast_tests(our_build):
    argv = [sys.executable, "-m", "pytest", "-q", "-m", "fast", "-p", "no:cacheprovider"]
    result = run(argv, cwd=our_build.unpacked, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]


@pytest.mark.packaging
def test_wheel_carries_every_example_in_the_package(our_wheel):
    with zipfile.ZipFile(our_wheel) as wheel:
        bundled = {name.split("/", 2)[2] for name in wheel.namelist() if name.startswith("mod_pywebsocket/examples/")}
    assert bundled == example_names()


@pytest.mark.packaging
def test_installed_wheel_serves_the_bundled_examples_with_examples_option(venv):
    venv.install(OURS)
    command = (str(venv.path / "bin" / "pywebsocket-standalone"),)
    with ServerProcess("--examples", command=command, cwd=str(venv.path), env=clean_env()) as server:
        with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=TIMEOUT) as ws:
            ws.send("from the wheel")
            assert ws.recv(timeout=TIMEOUT) == "from the wheel"
        log = server.log_text()
    assert f"serving 9 WebSocket resources from {venv.site / 'mod_pywebsocket' / 'examples'}" in log, log


@pytest.mark.packaging
def test_installed_command_prints_its_version(venv):
    venv.install(OURS)
    result = venv.run("--version", program="pywebsocket-standalone")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"mod_pywebsocket {__version__} (Python ")


def _c_compiler() -> str | None:
    """The C compiler setup.py would run (Python's CC), if it is on PATH."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(compiler[0]) if compiler else None


@pytest.mark.packaging
def test_sdist_carries_the_c_accelerator_source_and_no_binary(our_build):
    with tarfile.open(our_build.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"mod_pywebsocket/_speedups.c", "mod_pywebsocket/_speedups.pyi"} <= names
    assert [name for name in names if name.endswith((".so", ".pyd", ".o"))] == []


@pytest.mark.packaging
def test_installed_wheel_masks_with_the_c_accelerator_it_was_built_with(our_wheel, venv):
    if _c_compiler() is None:
        pytest.skip("no C compiler: the wheel was built without the accelerator")
    with zipfile.ZipFile(our_wheel) as wheel:
        speedups = sorted(name for name in wheel.namelist() if name.startswith("mod_pywebsocket/_speedups"))
    assert speedups == [
        "mod_pywebsocket/_speedups" + sysconfig.get_config_var("EXT_SUFFIX"),
        "mod_pywebsocket/_speedups.pyi",
    ]
    venv.install(OURS)
    result = venv.run("-c", "from mod_pywebsocket import util; print(util.MASK_IMPLEMENTATION)")
    assert (result.stdout, result.stderr) == ("mod_pywebsocket._speedups\n", "")
