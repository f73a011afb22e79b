"""What a user installs: the wheel holds every module and data file under digitnet/, and the build says
nothing; the tests, benchmarks and scripts find real MNIST in one place (tests/conftest.py)."""
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Files that live in the package folder but are not part of it.
NOT_SHIPPED = re.compile(r"(^|/)(__pycache__|\.pytest_cache)(/|$)|\.pyc$")


def package_files():
    """Every file under digitnet/ that the project ships: the ones git tracks or would add (not ignored),
    or every file when there is no git metadata (an unpacked sdist)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "digitnet"],
                             cwd=REPO, capture_output=True,
                             check=True, timeout=60).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:
        files = [p.relative_to(REPO).as_posix() for p in (REPO / "digitnet").rglob("*") if p.is_file()]
    return sorted(f for f in files if not NOT_SHIPPED.search(f) and (REPO / f).is_file())


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory):
    """The wheel pip builds from a copy of the project, with the build's own output (-v shows it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src)
    shutil.copytree(REPO / "digitnet", src / "digitnet", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the setuptools of this environment (the test extra pins >= 77), no download.
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                        "--no-index", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels = list(out.glob("digitnet-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], r.stdout + r.stderr


def test_wheel_holds_every_module_and_data_file(built_wheel):
    wheel, _ = built_wheel
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    shipped = package_files()
    missing = [f for f in shipped if f not in names]
    assert not missing, f"in digitnet/ but not in the wheel (add them to package-data in pyproject.toml): {missing}"
    # And the other way: a file this tree's wheel holds but git ignores would be missing from a clone's wheel.
    ignored = sorted(n for n in names if n.startswith("digitnet/") and n not in shipped)
    assert not ignored, f"in the wheel but ignored by git, so absent from a clone (see .gitignore): {ignored}"
    # The three things a user cannot do without: the offline sample, the web page and the command.
    assert {"digitnet/data/sample/train-images-idx3-ubyte.gz", "digitnet/data/sample/train-labels-idx1-ubyte.gz",
            "digitnet/serve/static/index.html", "digitnet/serve/static/app.js"} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as z:
        assert "digitnet = digitnet.cli:main" in z.read(entry_points).decode()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT AND CC-BY-SA-3.0" in metadata


def test_build_prints_no_packaging_warning(built_wheel):
    _, log = built_wheel
    # setuptools' warnings: deprecations, "Package ... is absent from the `packages` configuration",
    # the editable-install notes. pip's own notes about this machine's index locations are not ours.
    warnings = [line for line in log.splitlines()
                if re.search(r"Warning\b|WARNING", line) and not re.search(r"Location '.*' is ignored", line)]
    assert not warnings, "\n".join(warnings)


SHARED_PATH = re.compile(r"""["']shared["']\s*/|shared/data/mnist""")


@pytest.mark.parametrize("folder", ["tests", "bench", "scripts"])
def test_real_mnist_folder_comes_from_one_place(folder):
    """Only conftest names ../shared itself; a benchmark or script that defaults to it must let
    DIGITNET_TEST_DATA (which CI points at nothing for its second run) decide first."""
    wrong = []
    for path in sorted((REPO / folder).rglob("*.py")):
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        if not SHARED_PATH.search(code) or path.name in ("conftest.py", "test_packaging.py"):
            continue
        if folder == "tests" or 'os.environ.get("DIGITNET_TEST_DATA")' not in code:
            wrong.append(str(path.relative_to(REPO)))
    assert not wrong, f"these build a path to ../shared themselves: {wrong}"
