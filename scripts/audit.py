"""`make audit`: every package uv.lock pins, against the PyPI advisory database (pip-audit).

Fails on a known vulnerability unless `audit-accepted.txt` accepts it, until a date. When
the advisory database cannot be reached (PyPI's per-release JSON, where the advisories are
published, or a mirror that does not serve it), the audit is skipped, saying so, rather than
reporting a clean result it never checked; AUDIT_REQUIRED=1 makes that a failure too.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCEPTED = ROOT / "audit-accepted.txt"
UV = ROOT / ".tools" / "bin" / "uv"


def accepted(today: datetime.date, path: Path = ACCEPTED) -> tuple[dict[str, str], list[str]]:
    """Accepted vulnerability ids with their reasons, and problems with the file (expired
    or malformed entries)."""
    entries: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            problems.append(f"{ACCEPTED.name}:{number}: want 'ID YYYY-MM-DD reason'")
            continue
        vuln, until, why = parts
        try:
            expires = datetime.date.fromisoformat(until)
        except ValueError:
            problems.append(f"{ACCEPTED.name}:{number}: {until!r} is not a date")
            continue
        if expires < today:
            problems.append(f"{ACCEPTED.name}:{number}: the acceptance of {vuln} expired {until}")
            continue
        entries[vuln] = why
    return entries, problems


def locked_requirements(directory: Path) -> Path:
    requirements = directory / "requirements.txt"
    exported = subprocess.run(
        [
            str(UV),
            "export",
            "--frozen",
            "--all-groups",
            "--no-hashes",
            "--no-emit-workspace",
            "--no-header",
            "--output-file",
            str(requirements),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    if exported.returncode != 0:
        sys.exit(f"audit: cannot export uv.lock:\n{exported.stderr}")
    return requirements


def main() -> int:
    today = datetime.datetime.now(datetime.UTC).date()
    allowed, problems = accepted(today)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        requirements = locked_requirements(work)
        # One package first: when the database is out of reach, every lookup would wait
        # for its timeout in turn.
        first = next(r for r in requirements.read_text().splitlines() if "==" in r)
        probe = work / "probe.txt"
        probe.write_text(first + "\n")
        report = pip_audit(probe, work)
        if report is not None and all("skip_reason" not in d for d in report["dependencies"]):
            report = pip_audit(requirements, work)
    if report is None:
        return unreachable("pip-audit gave no report (see its messages above)")
    return judge(report, allowed, problems)


def pip_audit(requirements: Path, work: Path) -> dict[str, Any] | None:
    """pip-audit's JSON report on pinned `requirements`; None when it gave none."""
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--format",
            "json",
            "--progress-spinner",
            "off",
            "--timeout",
            "10",
            "--cache-dir",
            str(work / "cache"),
        ],
        capture_output=True,
        text=True,
    )
    try:
        report: dict[str, Any] = json.loads(audit.stdout)
    except ValueError:
        print(audit.stderr.strip()[-2000:], file=sys.stderr)
        return None
    return report


def judge(report: dict[str, Any], allowed: dict[str, str], problems: list[str]) -> int:
    """The exit status for a pip-audit JSON report, printing what it found."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    if dependencies and not audited:
        reason = dependencies[0]["skip_reason"]
        return unreachable(
            f"pip-audit reads advisories from PyPI's per-release JSON (/pypi/NAME/VERSION/json), "
            f"which answers nothing for the packages tried ({reason})"
        )
    found = [(d, v) for d in audited for v in d.get("vulns", [])]
    failing = []
    for dep, vuln in found:
        ids = {vuln["id"], *vuln.get("aliases", [])}
        hit = next((i for i in sorted(ids) if i in allowed), None)
        where = f"{dep['name']} {dep['version']}: {vuln['id']}"
        fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
        if hit is not None:
            print(f"audit: accepted {where} ({allowed[hit]})")
        else:
            failing.append(f"{where} (fixed in: {fixed})")
    skipped = [d["name"] for d in dependencies if "skip_reason" in d]
    print(
        f"audit: {len(audited)} locked packages checked, {len(found)} known vulnerabilities"
        + (f"; not checked: {', '.join(skipped)}" if skipped else "")
    )
    for line in failing + problems:
        print(f"audit: {line}", file=sys.stderr)
    if failing:
        print(
            f"audit: upgrade (uv lock --upgrade-package NAME), or accept in {ACCEPTED.name}",
            file=sys.stderr,
        )
    return 1 if failing or problems else 0


def unreachable(why: str) -> int:
    message = f"audit: SKIPPED: the advisory database cannot be reached from here: {why}"
    if os.environ.get("AUDIT_REQUIRED") == "1":
        print(message.replace("SKIPPED", "FAILED"), file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
