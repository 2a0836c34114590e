"""Paths confined to an execution's workspace, opened without following symlinks.

A path from a plan is split into names and walked from an open descriptor of the
workspace, one `openat(..., O_NOFOLLOW)` per name. So `..`, absolute paths and symlinks can
never lead outside, not even when another step swaps a directory for a symlink between a
check and a use (which `realpath` checks alone cannot rule out). The price: a symlink is
never followed, even one that points inside the workspace.

Everything here blocks; tools call it through `run_blocking` (a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from executor_server.domain.errors import ToolError
from executor_server.domain.status import ExecutionErrorType
from executor_server.tools.protocol import ToolContext

T = TypeVar("T")

#: The workspace's own bookkeeping (file.write's undo copies); no tool may name it.
RESERVED = ".executor"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def refuse(message: str) -> ToolError:
    """A failure that another attempt with the same arguments cannot fix."""
    return ToolError(message, error_type=ExecutionErrorType.TOOL_FAILED, retryable=False)


def split(raw: str, *, allow_root: bool = False) -> tuple[str, ...]:
    """The names of a workspace-relative path.

    Raises ToolError (TOOL_FAILED, not retryable) for an absolute path, a `..` component,
    a NUL byte, the reserved `.executor` area, or (unless `allow_root`) the workspace itself.
    """
    if "\0" in raw:
        raise refuse(f"path {raw!r} contains a NUL byte")
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        raise refuse(f"path {raw!r} is absolute; paths are relative to the workspace")
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if ".." in parts:
        raise refuse(f"path {raw!r} escapes the workspace ('..' is not allowed)")
    if parts and parts[0] == RESERVED:
        raise refuse(f"path {raw!r} is inside the reserved {RESERVED}/ area")
    if not parts and not allow_root:
        raise refuse(f"path {raw!r} names the workspace itself, not a file in it")
    return parts


def display(parts: tuple[str, ...]) -> str:
    return "/".join(parts) or "."


class Workspace:
    """An open workspace directory; use as a context manager (closes its descriptors)."""

    def __init__(self, root: Path, *, create: bool) -> None:
        """Raises ToolError when the workspace does not exist and `create` is false."""
        if create:
            root.mkdir(parents=True, exist_ok=True)
        try:
            self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise refuse("the workspace is empty: no step has written to it yet") from None
        self.root = root

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)

    @contextmanager
    def directory(self, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
        """An open descriptor of the directory `parts`, walked without following symlinks.

        Raises ToolError when a component is missing (unless `create`), is a symlink, or
        is not a directory.
        """
        fd = os.dup(self.fd)
        try:
            for i, name in enumerate(parts):
                try:
                    next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise refuse(f"no such directory: {display(parts[: i + 1])}") from None
                    # FileExistsError: a concurrent step made it first; open it below.
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=fd)
                    next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise self._not_a_directory(fd, name, parts[: i + 1], exc) from None
                os.close(fd)
                fd = next_fd
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _not_a_directory(fd: int, name: str, parts: tuple[str, ...], exc: OSError) -> ToolError:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                return refuse(f"{display(parts)} is a symlink; symlinks are never followed")
            return refuse(f"{display(parts)} is not a directory")
        return refuse(f"cannot open {display(parts)}: {exc.strerror}")


def lstat_or_none(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


async def run_blocking(context: ToolContext, fn: Callable[[], T]) -> T:
    """Run blocking file work in a worker thread and charge its CPU time to the attempt.

    Cancellation returns at once; the thread finishes its (short) operation on its own.
    """

    def timed() -> tuple[T, float]:
        started = time.thread_time()
        result = fn()
        return result, time.thread_time() - started

    result, cpu_seconds = await asyncio.to_thread(timed)
    context.add_cpu_time(cpu_seconds * 1000.0)
    return result
