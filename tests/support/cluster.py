"""Replicas behind nginx: the balancer the cluster test uses and `make cluster` starts.

nginx comes from Debian's package (`make nginx` installs it where it may); it proxies gRPC
(HTTP/2 without TLS) to every replica with `grpc_pass`. Its configuration is
`nginx_config`, the one README "Running several replicas" shows.

`python -m tests.support.cluster` (`make cluster`) starts a throwaway PostgreSQL, three
replicas and nginx on 127.0.0.1:50051, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["Balancer", "balancer", "find_nginx", "nginx_config"]


def nginx_config(listen: str, upstreams: Sequence[str]) -> str:
    """The configuration of a gRPC balancer on `listen` in front of `upstreams`; paths in it
    are relative to nginx's prefix (`nginx -p DIR`)."""
    servers = "".join(f"        server {u} max_fails=1 fail_timeout=2s;\n" for u in upstreams)
    return f"""\
worker_processes 1;
daemon off;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections 4096; }}

http {{
    access_log off;
    client_body_temp_path tmp;
    # Any replica answers any call, so plain round robin will do.
    upstream executor {{
{servers}        keepalive 64;  # reuse HTTP/2 connections to the replicas
    }}
    server {{
        listen {listen} http2;  # gRPC without TLS (h2c)
        client_max_body_size 0;  # the replicas bound their messages (--max-message-bytes)
        # A blocking ExecutePlan or a watch lasts as long as its execution.
        grpc_read_timeout 1h;
        grpc_send_timeout 1h;
        location / {{
            grpc_pass grpc://executor;
            # A replica that refuses connections is skipped; a call already sent to one is
            # not retried elsewhere (a client that lost its watch reconnects by itself).
            grpc_next_upstream error timeout;
        }}
    }}
}}
"""


def find_nginx() -> Path | None:
    """nginx on PATH or in /usr/sbin, or None."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    return Path(found) if found else None


class Balancer:
    """A running nginx in its own prefix directory."""

    def __init__(self, binary: Path, prefix: Path, listen: str, upstreams: Sequence[str]) -> None:
        self.binary = binary
        self.prefix = prefix
        self.listen = listen
        self.upstreams = list(upstreams)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return self.listen

    def start(self, within: float = 15.0) -> None:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        config = self.prefix / "nginx.conf"
        config.write_text(nginx_config(self.listen, self.upstreams), encoding="utf-8")
        with (self.prefix / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [str(self.binary), "-p", f"{self.prefix}/", "-c", str(config), "-e", "error.log"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        host, _, port = self.listen.rpartition(":")
        deadline = time.monotonic() + within
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log_text()}")
            with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.2):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx not listening after {within} s:\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        texts = []
        for name in ("error.log", "stderr.log"):
            path = self.prefix / name
            if path.exists():
                texts.append(path.read_text(errors="replace"))
        return "\n".join(texts)

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None


@contextlib.contextmanager
def balancer(listen: str, upstreams: Sequence[str]) -> Iterator[Balancer]:
    """Raises LookupError when nginx is not installed."""
    binary = find_nginx()
    if binary is None:
        raise LookupError("nginx is not installed: run `make nginx` (Debian's package)")
    prefix = Path(tempfile.mkdtemp(prefix="executor-nginx-"))
    os.chmod(prefix, 0o755)  # workers (user nobody, under root) read the prefix
    (prefix / "tmp").mkdir()
    os.chmod(prefix / "tmp", 0o777)
    running = Balancer(binary, prefix, listen, upstreams)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(prefix, ignore_errors=True)


# ------------------------------------------------------------------ make cluster


async def _serve(args: argparse.Namespace) -> None:
    from tests.support.postgres import cluster
    from tests.support.proc import ServerProcess

    root = Path(tempfile.mkdtemp(prefix="executor-cluster-"))
    ports = [args.first_port + i for i in range(args.replicas)]
    with cluster(durable=True) as database:
        url = database.create_database("executor")
        replicas = [
            ServerProcess(
                port=port,
                data_dir=root / f"r{i + 1}",
                log=root / f"r{i + 1}.log",
                extra=("--db", url, "--replica-id", f"r{i + 1}", "--log-format", "console"),
            )
            for i, port in enumerate(ports)
        ]
        try:
            for replica in replicas:
                await replica.start()
            for replica in replicas:
                await replica.wait_serving()
            with balancer(args.address, [r.address for r in replicas]) as running:
                print(
                    f"{len(replicas)} replicas ({', '.join(r.address for r in replicas)}) on "
                    f"{database.version} ({url})\nbehind nginx on {running.address}; logs in "
                    f"{root}\n\ntry: .venv/bin/executor --server {running.address} run "
                    "examples/plans/fan-out-files.yaml\nkill a replica (kill -9 PID) and watch "
                    "its executions continue elsewhere; Ctrl-C stops everything",
                    flush=True,
                )
                for replica in replicas:
                    assert replica.process is not None
                    print(f"  {replica.address}: pid {replica.process.pid}", flush=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, stop.set)
                await stop.wait()
        finally:
            for replica in replicas:
                if replica.process is not None and replica.process.returncode is None:
                    replica.process.send_signal(signal.SIGTERM)
            for replica in replicas:
                if replica.process is not None:
                    with contextlib.suppress(TimeoutError):
                        await replica.wait_exit(within=15)
                await replica.kill()
            shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1:50051", help="where nginx listens")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--first-port", type=int, default=50061, help="of the replicas")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except LookupError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
