"""A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
directory, `postgres` on a free loopback port, gone when stopped.

The server comes from Debian's `postgresql` package (`make postgres` installs it; CI runs as
root on a fresh machine). PostgreSQL refuses to run as root, so as root the cluster runs as
the package's `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: The superuser the cluster is made with; connections trust it (loopback only).
USER = "executor"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_bindir() -> Path | None:
    """The newest installed server's bin directory ($EXECUTOR_PG_BINDIR wins), or None."""
    override = os.environ.get("EXECUTOR_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class Cluster:
    """A running cluster; `url(db)` is what `executor serve --db` takes."""

    def __init__(self, bindir: Path, root: Path, *, durable: bool) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.durable = durable
        self._process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            os.chown(root, pwd.getpwnam(self._user).pw_uid, -1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    @property
    def version(self) -> str:
        out = subprocess.run(
            [self.bindir / "postgres", "--version"], check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    def _run(self, *argv: str | Path) -> None:
        subprocess.run(
            [str(a) for a in argv],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self.root,
        )

    def start(self) -> None:
        self._run(
            self.bindir / "initdb",
            "--pgdata",
            self.data,
            "--username",
            USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-instructions",
            *([] if self.durable else ["--no-sync"]),
        )
        settings = [
            f"port={self.port}",
            "listen_addresses=127.0.0.1",
            f"unix_socket_directories={self.root}",
            "max_connections=200",
        ]
        if not self.durable:  # tests crash our server, never PostgreSQL: skip the fsyncs
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        options: list[str] = []
        for setting in settings:
            options += ["-c", setting]
        log = (self.root / "postgres.log").open("ab")
        self._process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), *options],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            user=self._user,
            cwd=self.root,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log_text()}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready after {within} s:\n{self.log_text()}")
            time.sleep(0.05)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        self._run(
            self.bindir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name
        )
        return self.url(name)

    def log_text(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: clients are cut off
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None


@contextlib.contextmanager
def cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """Raises LookupError when no PostgreSQL server is installed."""
    bindir = find_bindir()
    if bindir is None:
        raise LookupError(
            "no PostgreSQL server installed (looked in /usr/lib/postgresql/*/bin and PATH): "
            "run `make postgres`, or set EXECUTOR_PG_BINDIR"
        )
    root = Path(tempfile.mkdtemp(prefix="executor-pg-"))
    os.chmod(root, 0o700)
    running = Cluster(bindir, root, durable=durable)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


__all__ = ["USER", "Cluster", "cluster", "find_bindir"]
