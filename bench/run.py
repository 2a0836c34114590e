"""`make bench`: measure, print one table, write it as JSON.

Every figure is measured in this run next to its baseline, so the ratio survives a noisy
machine. `--quick` shrinks every workload to check the harness still runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.postgres import Cluster, cluster

from bench import observability, remote
from bench.engine import branching_rows, conversion_rows, engine_rows, time_minimal
from bench.replicas import replica_rows
from bench.report import Row, machine, render, write_json
from bench.shapes import Shape, chain, independent, layered
from executor_server.app import tune_gc

DEFAULT_JSON = Path(__file__).parent / "results.json"
ROOT = Path(__file__).resolve().parent.parent


def code_state() -> dict[str, str]:
    """The commit and a digest of the server's source as it is on disk: others edit it
    while benchmarks run, and the server subprocesses import whatever is there at start."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "server").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"commit": head or "unknown", "server_source_sha256": digest.hexdigest()[:16]}


@dataclass
class Sizes:
    engine_shapes: list[Shape]
    repeats: int  # runs per figure when they fit in `budget`
    budget: float  # seconds per engine figure
    latency_calls: int
    throughput_seconds: float
    big: Shape  # the layered plan over gRPC
    huge: Shape  # the 100,000-step plan (retained memory)
    huge_deadline: float
    watch: Shape
    watchers: int
    watch_concurrency: int
    watch_repeats: int
    observability_rounds: int  # alternating runs with observability off and on
    branching: int  # elements of the for_each, steps with a `when`


def full() -> Sizes:
    return Sizes(
        engine_shapes=[independent(10_000), chain(10_000), layered(100, 100)],
        repeats=3,
        budget=15.0,
        latency_calls=2_000,
        throughput_seconds=10.0,
        big=layered(100, 100),
        huge=layered(100, 1_000),
        huge_deadline=240.0,
        watch=layered(20, 100),
        watchers=50,
        watch_concurrency=64,
        watch_repeats=2,
        observability_rounds=7,
        branching=10_000,
    )


def quick() -> Sizes:
    return Sizes(
        engine_shapes=[independent(1_000), chain(1_000), layered(20, 50)],
        repeats=1,
        budget=5.0,
        latency_calls=100,
        throughput_seconds=2.0,
        big=layered(20, 50),
        huge=layered(50, 100),
        huge_deadline=60.0,
        watch=layered(10, 50),
        watchers=50,
        watch_concurrency=64,
        watch_repeats=1,
        observability_rounds=2,
        branching=1_000,
    )


def _describe(value: Any) -> Any:
    if isinstance(value, Shape):
        return value.name
    if isinstance(value, list):
        return [_describe(v) for v in value]
    return value


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


async def grpc_figures(
    sizes: Sizes, minimal_s: dict[str, float], tmp: Path, postgres: Cluster | None = None
) -> tuple[list, dict]:
    """The gRPC figures with the journal off, on (SQLite) and, given a cluster, on
    PostgreSQL (a fresh database per server)."""
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    if postgres is not None:
        raw["postgres_version"] = postgres.version
    requests = remote.OneStepPlans()

    port = remote.free_port()
    async with remote.spawn(remote.echo_argv(port), port, tmp / "echo.log") as echo:
        call = remote.bare_echo(echo.channel)
        echo_latency = await remote.latency(call, requests, sizes.latency_calls)
        echo_throughput = await remote.throughput(call, requests, sizes.throughput_seconds)
    raw["bare_echo"] = {"latency": echo_latency, "throughput": echo_throughput}

    for journal in ("off", "on", *(["postgres"] if postgres is not None else [])):
        section = f"gRPC, journal {journal}"
        port = remote.free_port()
        data_dir = tmp / f"server-{journal}"
        argv = remote.executor_argv(port, journal, data_dir, _database(postgres, journal))
        async with remote.spawn(argv, port, tmp / f"server-{journal}.log") as server:
            call = remote.execute_plan(server.channel)
            lat = await remote.latency(call, requests, sizes.latency_calls)
            thr = await remote.throughput(call, requests, sizes.throughput_seconds)
            big = await remote.big_plan(server, sizes.big, deadline=sizes.huge_deadline)
            fan: dict[int, list[dict[str, Any]]] = {1: [], sizes.watchers: []}
            for _ in range(sizes.watch_repeats):  # alternate, so drift hits both alike
                for watchers in fan:
                    fan[watchers].append(
                        await remote.fan_out(server, sizes.watch, watchers, sizes.watch_concurrency)
                    )
        # A fresh server, so that retained memory is this plan's alone.
        port = remote.free_port()
        huge_db = _database(postgres, journal)
        argv = remote.executor_argv(port, journal, tmp / f"server-{journal}-huge", huge_db)
        async with remote.spawn(argv, port, tmp / f"server-{journal}-huge.log") as server:
            huge = await remote.retained_memory(server, sizes.huge, sizes.huge_deadline)
        raw[section] = {
            "latency": lat,
            "throughput": thr,
            "big": big,
            "huge": huge,
            "watch": {str(k): v for k, v in fan.items()},
        }

        rows += [
            Row(
                section,
                "1-step plan latency p50",
                "ms",
                lat["p50_ms"],
                echo_latency["p50_ms"],
                "bare echo",
                "<=",
                3.0,
            ),
            Row(
                section,
                "1-step plan latency p99",
                "ms",
                lat["p99_ms"],
                echo_latency["p99_ms"],
                "bare echo",
                "<=",
                6.0,
            ),
            Row(
                section,
                f"1-step plans/s, {remote.CONCURRENCY} in flight",
                "calls/s",
                thr["per_s"],
                echo_throughput["per_s"],
                "bare echo",
                ">=",
                1 / 3,
                note=f"{thr['errors']} calls failed: {thr['error']}" if thr["errors"] else "",
            ),
        ]
        big_rate = big["steps"] / big["wall_s"] if "wall_s" in big else None
        big_minimal = sizes.big.size / minimal_s[sizes.big.name]
        on = journal == "on"
        rows += [
            Row(
                section,
                f"{sizes.big.name} steps/s",
                "steps/s",
                big_rate,
                big_minimal,
                "minimal",
                ">=" if on else "",
                1 / 6 if on else None,
                note=big.get("error", ""),
            ),
        ]
        if on:
            rows.append(
                Row(
                    section,
                    f"{sizes.big.name} steps/s",
                    "steps/s",
                    big_rate,
                    None,
                    "",
                    ">=",
                    25_000,
                    absolute=True,
                )
            )
        huge_wall = huge.get("wall_s")
        huge_note = huge.get("error", "")
        if "response_bytes" in huge:
            huge_note = huge_note or (
                f"blocking ExecutePlan; request {huge['request_bytes'] / 2**20:.1f} MiB, "
                f"response {huge['response_bytes'] / 2**20:.1f} MiB"
            )
        rows += [
            Row(
                section,
                f"{sizes.huge.name} ({sizes.huge.size:,} steps) wall",
                "s",
                huge_wall,
                minimal_s[sizes.huge.name],
                "minimal",
                must_complete=True,
                note=huge_note,
            ),
            Row(
                section,
                f"retained RSS per step after {sizes.huge.size:,}",
                "KB/step",
                huge["retained_per_step"] / 1024 if huge_wall is not None else None,
                None,
                "",
                "<=",
                5.0,
                absolute=True,
                note=f"RSS {huge['rss_before'] / 2**20:.0f} -> {huge['rss_after'] / 2**20:.0f}"
                f" MiB, peak {(huge['rss_peak'] or 0) / 2**20:.0f} MiB",
            ),
        ]
        one = fan[1]
        many = fan[sizes.watchers]
        incomplete = [r for r in one + many if not r["complete"]]
        rows += [
            Row(
                section,
                f"watch: events/s delivered to {sizes.watchers}",
                "events/s",
                _median([r["delivered_per_s"] for r in many]),
                _median([r["delivered_per_s"] for r in one]),
                "1 watcher",
                note="some watchers missed events" if incomplete else "",
            ),
            Row(
                section,
                f"watch: max lag, {sizes.watchers} watchers",
                "s",
                max(r["max_lag_s"] for r in many),
                max(r["max_lag_s"] for r in one),
                "1 watcher",
                "<=",
                1.0,
                absolute=True,
            ),
            Row(
                section,
                f"watch: execution steps/s, {sizes.watchers} watchers",
                "steps/s",
                _median([r["execution_steps_per_s"] for r in many]),
                _median([r["execution_steps_per_s"] for r in one]),
                "1 watcher",
                ">=",
                0.8,
                note=f"{sizes.watch.name}, max_concurrent_steps={sizes.watch_concurrency}; "
                f"runs {_median([r['execution_s'] for r in one]):.2f} s with 1 watcher",
            ),
        ]
    return rows, raw


def _database(postgres: Cluster | None, journal: str) -> str:
    """A fresh database's URL for a "postgres" server, else ""."""
    if postgres is None or journal != "postgres":
        return ""
    return postgres.create_database(f"bench_{next(_databases)}")


_databases = itertools.count(1)


def _postgres(stack: contextlib.ExitStack) -> Cluster | None:
    """A durable throwaway PostgreSQL cluster (fsync on, as a user would run it), or None,
    said on stderr, when no server is installed (`make postgres`)."""
    try:
        return stack.enter_context(cluster(durable=True))
    except LookupError as exc:
        print(f"bench: no PostgreSQL figures: {exc}", file=sys.stderr)
        return None


def durability_rows(rows: list[Row]) -> list[Row]:
    """Journal on against journal off, and PostgreSQL against SQLite, for the figures
    measured both ways."""
    return _compare(rows, "journal off", "journal on", "durability") + _compare(
        rows, "journal on", "journal postgres", "postgresql vs sqlite"
    )


def _compare(rows: list[Row], baseline: str, measured: str, title: str) -> list[Row]:
    by_key = {(r.section, r.figure, r.baseline_name): r for r in rows}
    out = []
    for (section, figure, baseline_name), base in by_key.items():
        if not section.endswith(baseline) or baseline_name == "dask":
            continue
        ours = by_key.get((section.replace(baseline, measured), figure, baseline_name))
        if ours is None or figure.startswith("retained") or figure.startswith("watch: max"):
            continue
        kind = section.removesuffix(f", {baseline}")
        out.append(Row(title, f"{kind}: {figure}", base.unit, ours.ours, base.ours, baseline))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="default: %(default)s")
    parser.add_argument(
        "--only", choices=["engine", "grpc", "replicas"], help="one part of the suite"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write pyinstrument profiles of the engine to bench/profiles/",
    )
    args = parser.parse_args(argv)
    # The in-process engine runs in this process: tune its collector as `executor serve`
    # does (the baselines share the process, and the setting).
    tune_gc()
    sizes = quick() if args.quick else full()
    started = time.perf_counter()
    code_before = code_state()
    rows: list[Row] = []
    raw: dict[str, Any] = {}

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    if args.only in (None, "engine"):
        progress("engine in process: " + ", ".join(s.name for s in sizes.engine_shapes))
        engine, raw["engine"] = engine_rows(
            sizes.engine_shapes, repeats=sizes.repeats, budget=sizes.budget
        )
        rows += engine
        progress(f"branching: for_each and when over {sizes.branching:,}")
        branching, raw["branching"] = branching_rows(
            sizes.branching, repeats=sizes.repeats, budget=sizes.budget
        )
        rows += branching
        progress(f"wire conversion of {sizes.big.name}")
        converted, raw["conversion"] = conversion_rows(sizes.big, repeats=sizes.repeats)
        rows += converted
        progress(f"observability in process: {sizes.big.name}, off / metrics / metrics+traces")
        obs, raw["observability_engine"] = observability.engine_rows(
            sizes.big, sizes.observability_rounds
        )
        rows += obs
    if args.only in (None, "grpc"):
        progress("minimal scheduler on the big plans")
        minimal_s = {s.name: time_minimal(s) for s in (sizes.big, sizes.huge)}
        raw["minimal_big_s"] = minimal_s
        progress("gRPC: bare echo, then the server with the journal off and on")
        with (
            tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            postgres = _postgres(stack)
            grpc_rows, raw["grpc"] = asyncio.run(
                grpc_figures(sizes, minimal_s, Path(tmp), postgres)
            )
            progress("observability over gRPC: two servers, --metrics-address on one")
            obs_rows, raw["observability_grpc"] = asyncio.run(
                observability.grpc_rows(
                    Path(tmp),
                    sizes.latency_calls,
                    sizes.throughput_seconds,
                    sizes.observability_rounds,
                )
            )
        rows += grpc_rows + obs_rows
    if args.only in (None, "replicas"):
        progress("replicas on PostgreSQL: one, one behind nginx, three behind nginx; takeover")
        with (
            tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp,
            contextlib.ExitStack() as stack,
        ):
            postgres = _postgres(stack)
            if postgres is not None:
                try:
                    replica_figures, raw["replicas"] = asyncio.run(
                        replica_rows(sizes, Path(tmp), postgres)
                    )
                    rows += replica_figures
                except LookupError as exc:  # no nginx
                    print(f"bench: no replica figures: {exc}", file=sys.stderr)
    rows += durability_rows(rows)
    if args.profile:
        from bench.profile import profile_engine, profile_server  # only when asked

        for journal in ("off", "on"):
            progress(f"profiling the engine in process, journal {journal}")
            progress(f"wrote {profile_engine(sizes.big, journal)}")
        for kind in ("1step", "big"):
            progress(f"profiling the server: {kind}, journal on")
            progress(f"wrote {profile_server(kind, sizes.big, 'on')}")

    elapsed = time.perf_counter() - started
    code_after = code_state()
    table = render(rows)
    print(table)
    failed = [r for r in rows if r.ok is False]
    print(f"\n{len(rows)} figures, {len(failed)} targets missed, {elapsed:.0f} s in all")
    print(
        f"code: commit {code_after['commit']}, server source {code_after['server_source_sha256']}"
    )
    source_changed = code_after["server_source_sha256"] != code_before["server_source_sha256"]
    if source_changed:
        print(
            "WARNING: the server source changed during the run: figures measured before and"
            " after the change are not comparable; run again."
        )
    command = shlex.join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]])
    write_json(
        args.json,
        rows,
        {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
            "quick": args.quick,
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "code": code_after,
            "server_source_changed_during_run": source_changed,
            # Shapes by name: their dependency lists would be most of the file.
            "sizes": {f.name: _describe(getattr(sizes, f.name)) for f in fields(sizes)},
            "table": table,
            "raw": raw,
        },
    )
    progress(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
