"""A release as ``scripts/build`` makes it: an sdist and a wheel that work once installed.

``python -m build`` builds the sdist from a copy of the sources, then the wheel from the
sdist, as a release does (without build isolation, so no package index is needed). The
wheel must hold every file of the ``gateway`` package the gateway reads at run time, and,
installed into a fresh virtualenv, run from there and find its data there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from gateway.banner.assets import TYPES

pytestmark = pytest.mark.slow  # a build and a virtualenv: 10 to 15 s together

ROOT = Path(__file__).resolve().parents[1]
# The banner's folder also holds its README and screenshots, for people reading the source.
BANNER_RUNTIME = {f"gateway/banner/static/{name}" for name in TYPES}


def source_files() -> set[str]:
    """Every file of the ``gateway`` package that an installed copy needs."""
    found: set[str] = set()
    for path in (ROOT / "gateway").rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if "__pycache__" in path.parts or not path.is_file():
            continue
        if relative.startswith("gateway/banner/static/"):
            continue  # rglob does not enter the link; BANNER_RUNTIME names what counts
        found.add(relative)
    return found | BANNER_RUNTIME


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "gateway", source / "gateway", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "static", source / "static", ignore=ignore)
    out = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def test_the_wheel_holds_every_file_the_gateway_reads(dist: Path) -> None:
    (wheel,) = dist.glob("consent_gateway-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    missing = source_files() - names
    assert not missing, f"not in the wheel (pyproject's package-data): {sorted(missing)}"
    assert "consent-gateway = gateway.cli:main" in entry_points.decode()
    (sdist,) = dist.glob("consent_gateway-*.tar.gz")
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        member = archive.getmember(f"{top}/gateway/banner/static/banner.js")
    assert member.isfile()  # the banner itself, not a link to a folder the sdist lacks


def test_the_wheel_runs_from_a_fresh_virtualenv(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("consent_gateway-*-py3-none-any.whl")
    venv = tmp_path / "venv"
    # No PYTHONPATH (a second work tree sets one): the fresh virtualenv sees the wheel only.
    isolated = {"PATH": os.environ["PATH"]}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
        capture_output=True,
    )
    # The dependencies come from the test's own environment, as a path entry only: its
    # editable install of this checkout is not loaded, so `gateway` is the wheel's.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    helped = subprocess.run(
        [str(venv / "bin" / "consent-gateway"), "--help"],
        capture_output=True,
        text=True,
        env=isolated,
    )
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "migrate" in helped.stdout
    code = (
        "import json, gateway\n"
        "from gateway.admin.rendering import TEMPLATES\n"
        "from gateway.banner.assets import STATIC_DIR, TYPES, Asset\n"
        "from gateway.storage.migrator import load_migrations\n"
        "assets = [Asset.load(STATIC_DIR, name).version for name in TYPES]\n"
        "login = (TEMPLATES / 'login.html').is_file()\n"
        "print(json.dumps({'package': gateway.__file__, 'banner': str(STATIC_DIR),\n"
        "    'migrations': len(load_migrations()), 'login': login}))\n"
    )
    found = json.loads(
        subprocess.run(
            [str(python), "-c", code],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=isolated,
        ).stdout
    )
    assert found["package"].startswith(purelib), found
    assert found["banner"].startswith(purelib) and found["login"] is True
    assert found["migrations"] == len(list((ROOT / "gateway/storage/migrations").glob("*.sql")))
