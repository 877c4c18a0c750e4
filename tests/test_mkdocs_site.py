"""A real mkdocs-material site behind the gateway: its own consent tool is noticed, and
docs/sites.md's mkdocs.yml (the tool left out) silences the warning."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles

from gateway.app import create_app
from gateway.banner.consent_tools import SAMPLE_INTERVAL
from tests.conftest import make_settings
from tests.servers import run_server

ROOT = Path(__file__).resolve().parent.parent
WITH_CONSENT = """site_name: St Example's School
theme:
  name: material
extra:
  consent:
    title: Cookie consent
    description: We use cookies to recognise your repeated visits.
"""


def recipe() -> str:
    """The mkdocs.yml docs/sites.md gives for a site that had ``extra.consent``."""
    text = (ROOT / "docs" / "sites.md").read_text(encoding="utf-8")
    found = re.search(r"whole `mkdocs\.yml`.*?```yaml\n(.*?)```", text, re.DOTALL)
    assert found is not None, "docs/sites.md lost its mkdocs.yml"
    return found.group(1)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same one-page site built with mkdocs-material twice: with its consent, and without."""
    folder = tmp_path_factory.mktemp("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    builds = {}
    for name, config in (("with", WITH_CONSENT), ("recipe", recipe())):
        project = folder / name
        (project / "docs").mkdir(parents=True)
        (project / "docs" / "index.md").write_text("# Timetables\n\nTerm starts on Monday.\n")
        (project / "mkdocs.yml").write_text(config)
        command = [sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(project / "site")]
        builds[name] = subprocess.Popen(command, cwd=project, env=env)
    for process in builds.values():
        assert process.wait(timeout=120) == 0
    return {name: folder / name / "site" for name in builds}


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "consent tool" in r.getMessage()]


def test_mkdocs_materials_consent_is_noticed_and_the_recipe_turns_it_off(
    built: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gateway.banner")
    static = Starlette()
    for name, site in built.items():
        static.mount(f"/{name}", StaticFiles(directory=site, html=True))
    with run_server(static) as upstream:
        with run_server(create_app(make_settings(upstream, tmp_path))) as gateway:
            for name in ("recipe", "with"):
                if name == "with":
                    time.sleep(SAMPLE_INTERVAL)  # the gateway looks at one page a second
                for _ in range(2):
                    page = httpx.get(f"{gateway}/{name}/")
                    assert page.status_code == 200 and "Term starts on Monday." in page.text
                    assert "/_consent/banner.js" in page.text
                if name == "recipe":
                    assert warnings(caplog) == []
    (found,) = warnings(caplog)
    assert "mkdocs-material" in found and "extra.consent" in found
