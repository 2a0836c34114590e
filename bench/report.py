"""Rows of the results table: printing, pass/fail, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Row:
    """One figure. `ratio` is always ours / baseline; `target` bounds the ratio, or ours
    itself when there is no baseline (`absolute`)."""

    section: str
    figure: str
    unit: str
    ours: float | None
    baseline: float | None = None
    baseline_name: str = ""
    target_op: str = ""  # "<=" or ">=", empty for information only
    target: float | None = None
    absolute: bool = False
    #: Passes when measured at all (ours not None): "it completes" targets.
    must_complete: bool = False
    note: str = ""
    ratio: float | None = field(init=False, default=None)
    ok: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.ours is not None and self.baseline:
            self.ratio = self.ours / self.baseline
        if self.must_complete:
            self.ok = self.ours is not None
        elif self.target_op and self.target is not None:
            value = self.ours if self.absolute else self.ratio
            if value is None:
                self.ok = False  # a figure that could not be measured does not pass
            elif self.target_op == "<=":
                self.ok = value <= self.target
            else:
                self.ok = value >= self.target

    def target_text(self) -> str:
        if self.must_complete:
            return "completes"
        if not self.target_op or self.target is None:
            return "-"
        op = "≤" if self.target_op == "<=" else "≥"
        if self.absolute:
            return f"{op} {fmt(self.target)} {self.unit}"
        return f"ratio {op} {self.target:.3g}"


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render(rows: list[Row]) -> str:
    """An aligned table (also valid Markdown) grouped by section."""
    header = ["figure", "unit", "ours", "baseline", "ratio", "target", "result"]
    body: list[list[str]] = []
    for row in rows:
        result = "-" if row.ok is None else ("PASS" if row.ok else "FAIL")
        baseline = fmt(row.baseline) if row.baseline is not None else "-"
        if row.baseline_name and row.baseline is not None:
            baseline = f"{baseline} ({row.baseline_name})"
        body.append(
            [
                f"{row.section}: {row.figure}",
                row.unit,
                fmt(row.ours) + (" *" if row.note else ""),
                baseline,
                "-" if row.ratio is None else f"{row.ratio:.3g}",
                row.target_text(),
                result,
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in body]
    notes = [f"* {r.section}: {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["", *notes] if notes else []))


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        )
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass  # not Linux: the rest still identifies the run
    for package in ("grpcio", "protobuf", "dask", "pydantic"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    return info


def write_json(path: Path, rows: list[Row], extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**extra, "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def median_of(
    run: Callable[[], float], *, repeats: int, budget_seconds: float
) -> tuple[float, list[float]]:
    """Median of up to `repeats` runs of `run` (which returns seconds); stops repeating
    once another run would overshoot `budget_seconds`, so a slow engine still fits."""
    samples = [run()]
    started = time.perf_counter() - samples[0]
    while len(samples) < repeats:
        spent = time.perf_counter() - started
        if spent + statistics.median(samples) > budget_seconds:
            break
        samples.append(run())
    return statistics.median(samples), samples
