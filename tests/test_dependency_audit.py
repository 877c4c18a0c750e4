"""scripts/check's dependency audit says whether it audited anything.

Where PyPI's advisory data cannot be reached, pip-audit skips every dependency
as "not found on PyPI" and still ends with "No known vulnerabilities found".
The verdict comes from ``scripts/dependency_audit.py``: judged here on reports
in pip-audit's JSON format, and run for real with the installed pip-audit.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "dependency_audit.py"
NOT_FOUND = "Dependency not found on PyPI and could not be audited: {} (1.0)"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dependency_audit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def audited(name: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "vulns": list(vulns)}


def skipped(name: str) -> dict[str, Any]:
    return {"name": name, "skip_reason": NOT_FOUND.format(name)}


EDITABLE = {"name": "consent-gateway", "skip_reason": "distribution marked as editable"}
VULN = {"id": "PYSEC-2026-1", "fix_versions": ["1.1"], "aliases": [], "description": "x"}


def verdict(dependencies: list[dict[str, Any]]) -> tuple[int, list[str]]:
    status, lines = load_script().judge({"dependencies": dependencies, "fixes": []})
    return status, lines


def test_nothing_audited_is_reported_as_skipped_and_why_not_as_passed() -> None:
    status, lines = verdict([skipped("starlette"), skipped("uvicorn"), EDITABLE])
    assert status == 0  # CI on a machine without the advisory service still passes
    assert lines[-1].startswith("dependency audit SKIPPED: 0 of 2 dependencies audited")
    assert "Dependency not found on PyPI and could not be audited (2)" in lines[-1]
    assert "SKIP_AUDIT=1" in lines[-1]


def test_almost_nothing_audited_is_still_skipped() -> None:
    status, lines = verdict([audited("certifi"), *(skipped(f"p{i}") for i in range(9))])
    assert status == 0
    assert lines[-1].startswith("dependency audit SKIPPED: 1 of 10 dependencies audited")


def test_a_full_audit_passes_and_names_what_it_could_not_audit() -> None:
    status, lines = verdict([audited("starlette"), audited("uvicorn"), skipped("x"), EDITABLE])
    assert status == 0
    assert (
        lines[0]
        == "dependency audit: passed, 2 of 3 dependencies audited, no known vulnerabilities."
    )
    assert lines[1].startswith("  not audited: x (Dependency not found on PyPI")


def test_a_known_vulnerability_fails_even_when_most_were_skipped() -> None:
    status, lines = verdict([audited("jinja2", VULN), *(skipped(f"p{i}") for i in range(9))])
    assert status == 1
    assert lines[0] == "  jinja2 1.0: PYSEC-2026-1 (fixed in 1.1)"
    assert lines[-1].startswith("dependency audit FAILED: 1 known vulnerability in 1 package")


def run_script(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_the_real_pip_audit_never_looks_green_without_auditing(tmp_path: Path) -> None:
    # Versions with published advisories: audited, they fail; where PyPI's advisory
    # data is out of reach (this build machine), they are skipped and it says so.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("jinja2==2.4.1\nrequests==2.0.0\n")
    ran = run_script("-r", str(requirements), "--no-deps", "--disable-pip")
    verdict_line = ran.stdout.strip().splitlines()[-1]
    if verdict_line.startswith("dependency audit SKIPPED: 0 of 2 dependencies audited"):
        assert ran.returncode == 0
        assert "No known vulnerabilities found" not in ran.stderr
    else:
        assert verdict_line.startswith("dependency audit FAILED:"), ran.stdout
        assert ran.returncode == 1


def test_a_pip_audit_that_stops_fails_the_check() -> None:
    ran = run_script("--no-such-option")
    assert ran.returncode == 2
    assert "unrecognized arguments" in ran.stderr
    assert ran.stdout.startswith("dependency audit FAILED: pip-audit stopped (exit 2)")


def test_scripts_check_audits_through_the_script_and_keeps_skip_audit() -> None:
    check = (ROOT / "scripts" / "check").read_text()
    assert "scripts/dependency_audit.py --skip-editable" in check
    assert 'if [ "${SKIP_AUDIT:-0}" != 1 ]' in check
