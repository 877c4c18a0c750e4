"""Run pip-audit and say plainly what it audited: scripts/check's dependency audit.

Where PyPI's advisory data cannot be reached (a mirror, a firewall), pip-audit
marks every dependency "not found on PyPI", audits none and still reports "No
known vulnerabilities found". This script counts the dependencies audited and
skipped in pip-audit's JSON report and ends with one verdict line:

    dependency audit: passed, ...   (nearly) every dependency audited, none vulnerable; exit 0
    dependency audit SKIPPED: ...   fewer than half could be audited; exit 0, so CI on a
                                    machine without the advisory service still passes
    dependency audit FAILED: ...    a known vulnerability, or pip-audit did not finish; exit 1

Usage: .venv/bin/python scripts/dependency_audit.py [pip-audit options...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Below this share of dependencies audited, the audit counts as skipped, not passed.
MIN_AUDITED_SHARE = 0.5
# Skipped on purpose (--skip-editable: the project itself), so not counted at all.
EDITABLE = "marked as editable"
# pip-audit's closing line on stderr, misleading when nothing was audited.
NOTHING_FOUND = "No known vulnerabilities found"
OFFLINE_ADVICE = (
    "Run scripts/check where https://pypi.org is reachable, "
    "or set SKIP_AUDIT=1 to skip the audit on purpose."
)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def judge(report: dict[str, Any]) -> tuple[int, list[str]]:
    """The exit status and the lines to print for pip-audit's JSON ``report``."""
    dependencies = [
        d for d in report.get("dependencies", []) if EDITABLE not in d.get("skip_reason", "")
    ]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    lines = []
    found = 0
    for dependency in audited:
        for vuln in dependency.get("vulns", []):
            found += 1
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            lines.append(
                f"  {dependency['name']} {dependency.get('version', '?')}: "
                f"{vuln.get('id', '?')} (fixed in {fixes})"
            )
    counts = f"{len(audited)} of {_plural(len(dependencies), 'dependency', 'dependencies')}"
    if found:
        vulnerable = sum(1 for d in audited if d.get("vulns"))
        known = _plural(found, "known vulnerability", "known vulnerabilities")
        lines.append(
            f"dependency audit FAILED: {known} in {_plural(vulnerable, 'package', 'packages')} "
            f"({counts} audited); upgrade to a fixed version."
        )
        return 1, lines
    reasons = Counter(str(d["skip_reason"]).split(":")[0] for d in skipped)
    why = "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common())
    if not dependencies or len(audited) < MIN_AUDITED_SHARE * len(dependencies):
        lines.append(
            f"dependency audit SKIPPED: {counts} audited, so known vulnerabilities were not "
            f"looked for. pip-audit says: {why or 'no dependencies found'}. PyPI's advisory "
            f"data cannot be reached from here (a mirror or a firewall in the way). "
            f"{OFFLINE_ADVICE}"
        )
        return 0, lines
    lines.append(f"dependency audit: passed, {counts} audited, no known vulnerabilities.")
    if skipped:
        names = ", ".join(sorted(str(d["name"]) for d in skipped))
        lines.append(f"  not audited: {names} ({why})")
    return 0, lines


def main(arguments: list[str]) -> int:
    """Run pip-audit (next to this Python) with ``arguments``; print its words and the verdict."""
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "--format", "json", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    # pip-audit exits 1 both for vulnerabilities (with a report) and for errors (without).
    if not isinstance(report, dict) or done.returncode not in (0, 1):
        sys.stderr.write(done.stderr)
        print(
            f"dependency audit FAILED: pip-audit stopped (exit {done.returncode}) before "
            f"reporting; its message is above. {OFFLINE_ADVICE}"
        )
        return done.returncode or 1
    status, lines = judge(report)
    said = done.stderr.splitlines()
    if "SKIPPED" in lines[-1]:
        said = [line for line in said if not line.startswith(NOTHING_FOUND)]
    if said:
        print("\n".join(said), file=sys.stderr, flush=True)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
