"""`make audit`'s verdict on pip-audit reports: a known vulnerability fails unless accepted
(until a date), and an unreachable advisory database is a skip that says so, never a pass."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from scripts.audit import accepted, judge

VULNERABLE = {
    "dependencies": [
        {
            "name": "grpcio",
            "version": "1.0.0",
            "vulns": [{"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"], "fix_versions": ["1.0.1"]}],
        },
        {"name": "httpx", "version": "0.28.1", "vulns": []},
    ]
}


def test_a_known_vulnerability_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert judge(VULNERABLE, {}, []) == 1
    err = capsys.readouterr().err
    assert "grpcio 1.0.0: PYSEC-2099-1 (fixed in: 1.0.1)" in err
    assert "audit-accepted.txt" in err


def test_an_accepted_one_passes_by_id_or_alias(capsys: pytest.CaptureFixture[str]) -> None:
    assert judge(VULNERABLE, {"CVE-2099-1": "not reachable from our code"}, []) == 0
    assert "accepted grpcio 1.0.0: PYSEC-2099-1 (not reachable" in capsys.readouterr().out


def test_acceptances_expire(tmp_path: Path) -> None:
    file = tmp_path / "accepted.txt"
    file.write_text("# comment\nCVE-1 2030-01-01 fine for now\nCVE-2 2020-01-01 old\nCVE-3\n")
    allowed, problems = accepted(datetime.date(2026, 12, 1), file)
    assert allowed == {"CVE-1": "fine for now"}
    assert [p.split(": ", 1)[1] for p in problems] == [
        "the acceptance of CVE-2 expired 2020-01-01",
        "want 'ID YYYY-MM-DD reason'",
    ]
    assert judge({"dependencies": []}, allowed, problems) == 1


def test_an_unreachable_database_is_a_skip_not_a_pass(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {"dependencies": [{"name": "grpcio", "version": "1.0.0", "skip_reason": "not found"}]}
    assert judge(report, {}, []) == 0
    assert "audit: SKIPPED: the advisory database cannot be reached" in capsys.readouterr().out
    monkeypatch.setenv("AUDIT_REQUIRED", "1")
    assert judge(report, {}, []) == 1
