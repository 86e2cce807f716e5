"""The package installs whole: optional dependencies stay optional, the wheel has every module."""

import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("hypothesis", "pydot", "dask", "distributed", "scipy", "tqdm", "cotengra")


def _run(args, cwd, timeout=120):
    """Run a command, failing the test with its output if it fails."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


# the package, and the modules of it that need no optional dependency to import
@pytest.mark.parametrize("module", ["lazyein", "lazyein.testing", "lazyein.viz"])
def test_import_lazyein_imports_no_optional_dependency(module):
    # -c puts the working directory first on sys.path: this is the checkout's lazyein
    code = textwrap.dedent(f"""
        import json, sys
        import lazyein, {module}
        optional = {OPTIONAL!r}
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in optional)
        print(json.dumps({{"file": lazyein.__file__, "loaded": loaded}}))
    """)
    found = json.loads(_run([sys.executable, "-c", code], cwd=ROOT))
    assert Path(found["file"]).resolve() == ROOT / "lazyein" / "__init__.py"
    assert found["loaded"] == [], f"import {module} imported optional modules: {found['loaded']}"


def _setuptools_too_old():
    """Why this environment cannot build the wheel without build isolation, or None."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed"
    if int(version.split(".")[0]) < 77:  # pyproject.toml's build-system requirement
        return f"setuptools {version} is older than the 77 pyproject.toml builds with"
    return None


def _build_wheel(tmp: Path) -> Path:
    """Build the project's wheel from a copy of the checkout (the build writes build/ and
    *.egg-info beside its sources), as `pip wheel --no-build-isolation` does for a user."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info", "__pycache__",
        ".hypothesis", ".pytest_cache", ".ruff_cache"))
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
          "--no-index", "--disable-pip-version-check", "-q", "-w", str(tmp / "dist")], cwd=src)
    (wheel,) = (tmp / "dist").glob("lazyein-*.whl")
    return wheel


def _venv_over_this_environment(tmp: Path) -> tuple[Path, Path]:
    """A venv whose own site-packages comes first, then this environment's (a .pth of plain
    paths, so this environment's own .pth files, an editable install of lazyein among them,
    do not run there). Returns its python and its site-packages."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(_run([str(python), "-I", "-c", where], cwd=tmp).strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_parent_environment.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python, site


# imports the modules named in argv[1]; with dask among them, computes a product on dask too
_IMPORT_EVERYTHING = """
import importlib, json, sys
modules = json.loads(sys.argv[1])
files = {name: importlib.import_module(name).__file__ for name in modules}
import lazyein as le, numpy as np
computed = None
if "lazyein.backends.dask" in modules:
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    got = le.lazy_einsum("ij,jk->ik", a, b).to_dask().compute(scheduler="sync")
    computed = type(got).__name__ == "ndarray" and bool(np.allclose(got, a @ b))
print(json.dumps({"files": files, "computed": computed}))
"""


def test_the_wheel_installs_every_module(tmp_path):
    if (why := _setuptools_too_old()) is not None:
        pytest.skip(f"cannot build the wheel without build isolation: {why}")
    wheel = _build_wheel(tmp_path)
    listing = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "lazyein").rglob("*.py")}
    assert sources <= listing, f"missing from the wheel: {sorted(sources - listing)}"
    strays = {n for n in listing if not n.startswith(("lazyein/", "lazyein-"))}
    assert not strays, f"the wheel ships more than lazyein: {sorted(strays)}"

    python, site = _venv_over_this_environment(tmp_path)
    # --ignore-installed: never uninstall this environment's lazyein, which the venv can see
    _run([str(python), "-I", "-m", "pip", "install", "--no-deps", "--no-index",
          "--ignore-installed", "--disable-pip-version-check", "-q", str(wheel)], cwd=tmp_path)
    modules = sorted(p.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
                     for p in sources)
    if importlib.util.find_spec("dask") is None:  # an optional backend, absent here
        modules.remove("lazyein.backends.dask")
    elsewhere = tmp_path / "elsewhere"  # neither the checkout nor the venv: no shadowing copy
    elsewhere.mkdir()
    found = json.loads(_run([str(python), "-I", "-c", _IMPORT_EVERYTHING, json.dumps(modules)],
                            cwd=elsewhere))
    assert sorted(found["files"]) == modules
    for name, file in found["files"].items():
        assert Path(file).is_relative_to(site), f"{name} imported from {file}, not the wheel's"
    assert found["computed"] is not False, "to_dask() of the installed wheel computed wrongly"
