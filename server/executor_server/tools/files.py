"""`file.read`, `file.write`, `file.delete`, `file.list`: files in the execution's workspace.

Every path is relative to the workspace (`ToolContext.workspace`, one per execution, shared
by its steps) and confined to it: absolute paths, `..` and symlinks are refused (see
`_workspace`). All file work runs in worker threads, never on the event loop.

`file.write` undoes itself. Before its first change it keeps what it needs under the
workspace's reserved `.executor/undo/<step>/` area: whether the file existed and, if so, a
copy of its previous content. The journal then holds only a small output however large the
file, and a retried attempt keeps the copy of the first one, i.e. the content from before
the step. Compensation moves the copy back (or deletes a file the step created) and removes
the area; run again after it succeeded, it finds nothing to do.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from datetime import timedelta
from typing import Any

from executor_server.domain.models import JsonObject
from executor_server.tools._workspace import (
    RESERVED,
    Workspace,
    display,
    kind,
    lstat_or_none,
    refuse,
    run_blocking,
    split,
)
from executor_server.tools.protocol import ToolContext, ToolSpec
from executor_server.tools.settings import FileSettings, ToolSettings

__all__ = ["FileDelete", "FileList", "FileRead", "FileWrite"]

_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
_PATH = {
    "type": "string",
    "minLength": 1,
    "description": "A path relative to the execution's workspace, with '/' separators.",
}
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


class _Configurable:
    def __init__(self, settings: FileSettings | None = None) -> None:
        self.settings = settings or FileSettings()

    def configure(self, settings: ToolSettings) -> None:
        self.settings = settings.file


# ---------------------------------------------------------------------------- file.read


class FileRead(_Configurable):
    spec = ToolSpec(
        name="file.read",
        title="Read a file",
        description=(
            "Reads a file of the execution's workspace, as UTF-8 text or base64, up to "
            "`max_bytes` (the rest is reported as truncated). Paths are relative to the "
            "workspace; absolute paths, '..' and symlinks are refused."
        ),
        input_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": _PATH,
                "encoding": {"enum": ["text", "base64"], "default": "text"},
                "max_bytes": {"type": "integer", "minimum": 0},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
        output_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"},
                "encoding": {"enum": ["text", "base64"]},
                "size": {"type": "integer", "description": "The file's whole size in bytes."},
                "truncated": {"type": "boolean"},
            },
            "required": ["path", "content", "encoding", "size", "truncated"],
            "additionalProperties": False,
        },
        read_only=True,
        idempotent=True,
        default_timeout=timedelta(seconds=30),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Raises ToolError (TOOL_FAILED, not retryable) for a refused or missing path, a
        directory, or text that is not UTF-8."""
        parts = split(str(arguments["path"]))
        encoding = str(arguments.get("encoding", "text"))
        limit = min(
            int(arguments.get("max_bytes", self.settings.default_read_bytes)),
            self.settings.max_read_bytes,
        )
        context.count_disk_read()

        def read() -> tuple[bytes, int]:
            with Workspace(context.workspace, create=False) as ws, ws.directory(parts[:-1]) as d:
                try:
                    # O_NONBLOCK: opening a FIFO must not hang the thread.
                    fd = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | _FILE_FLAGS, dir_fd=d)
                except FileNotFoundError:
                    raise refuse(f"no such file: {display(parts)}") from None
                except OSError as exc:
                    raise _open_error(parts, exc) from None
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
                    os.close(fd)
                    raise _not_a_plain_file(parts, st)
                with open(fd, "rb") as f:
                    return f.read(limit), st.st_size

        data, size = await run_blocking(context, read)
        if encoding == "base64":
            content = base64.b64encode(data).decode("ascii")
        else:
            try:
                content = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                # A cut may split a character: drop an incomplete tail, refuse real binary.
                if len(data) < size and exc.start >= len(data) - 3:
                    content = data[: exc.start].decode("utf-8", errors="strict")
                else:
                    raise refuse(
                        f"{display(parts)} is not UTF-8 text; read it with encoding 'base64'"
                    ) from None
        return {
            "path": display(parts),
            "content": content,
            "encoding": encoding,
            "size": size,
            "truncated": len(data) < size,
        }


def _not_a_plain_file(parts: tuple[str, ...], st: os.stat_result) -> Exception:
    if stat.S_ISREG(st.st_mode):
        # Another name for the same file may lie outside the workspace (a step's command
        # can make one): reading or appending through it would reach that file.
        return refuse(
            f"{display(parts)} has {st.st_nlink} hard links; files with more than one "
            "link are neither read nor written"
        )
    return refuse(f"{display(parts)} is a {kind(st.st_mode)}, not a file")


def _open_error(parts: tuple[str, ...], exc: OSError) -> Exception:
    if exc.errno == errno.ELOOP:
        return refuse(f"{display(parts)} is a symlink; symlinks are never followed")
    if exc.errno == errno.EISDIR:
        return refuse(f"{display(parts)} is a directory, not a file")
    return refuse(f"cannot open {display(parts)}: {exc.strerror}")


# ---------------------------------------------------------------------------- file.write


def _undo_parts(context: ToolContext) -> tuple[str, ...]:
    """Where the step's undo record lives: one per step, and one per element of a for_each
    step (each writes its own file). Step ids are arbitrary strings: a digest makes a safe,
    fixed-length directory name."""
    key = context.step_id
    if context.item_index is not None:
        key += f"[{context.item_index}]"
    return (RESERVED, "undo", hashlib.sha256(key.encode()).hexdigest()[:32])


class FileWrite(_Configurable):
    spec = ToolSpec(
        name="file.write",
        title="Write a file",
        description=(
            "Writes text or base64 content to a file of the execution's workspace: "
            "`overwrite` (atomically replaces it), `append`, or `create` (fails if it "
            "exists). Missing parent directories are created. Undoes itself on rollback: "
            "the previous content comes back, or a file the step created is deleted. "
            "Written bytes count toward the plan's max_disk_space_mb."
        ),
        input_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": _PATH,
                "content": {"type": "string"},
                "encoding": {"enum": ["text", "base64"], "default": "text"},
                "mode": {"enum": ["overwrite", "append", "create"], "default": "overwrite"},
                "create_parents": {"type": "boolean", "default": True},
            },
            "required": ["path", "content"],
            "additionalProperties": False,
        },
        output_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "bytes_written": {"type": "integer", "minimum": 0},
                "size": {"type": "integer", "minimum": 0},
                "created": {"type": "boolean", "description": "The file did not exist."},
            },
            "required": ["path", "bytes_written", "size", "created"],
            "additionalProperties": False,
        },
        destructive=True,
        # `append` twice appends twice: a cut-off attempt is not blindly repeated.
        idempotent=False,
        compensable=True,
        default_timeout=timedelta(seconds=30),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Raises ToolError: TOOL_FAILED (not retryable) for a refused path, bad base64 or
        an existing file in `create` mode; RESOURCE_EXHAUSTED past max_disk_space_mb."""
        parts = split(str(arguments["path"]))
        mode = str(arguments.get("mode", "overwrite"))
        create_parents = bool(arguments.get("create_parents", True))
        data = _decode(str(arguments["content"]), str(arguments.get("encoding", "text")))
        context.count_disk_bytes_written(len(data))
        context.count_disk_write()
        undo = _undo_parts(context)

        def write() -> tuple[int, bool]:
            with (
                Workspace(context.workspace, create=True) as ws,
                ws.directory(parts[:-1], create=create_parents) as d,
            ):
                name = parts[-1]
                st = lstat_or_none(d, name)
                if st is not None and (not stat.S_ISREG(st.st_mode) or st.st_nlink > 1):
                    raise _not_a_plain_file(parts, st)
                if st is not None and mode == "create":
                    raise refuse(f"{display(parts)} already exists (mode 'create')")
                with ws.directory(undo, create=True) as u:
                    existed = _keep_undo(d, name, u, st is not None)
                if mode == "append":
                    fd = os.open(
                        name,
                        os.O_WRONLY | os.O_APPEND | os.O_CREAT | _FILE_FLAGS,
                        0o666,
                        dir_fd=d,
                    )
                    with open(fd, "wb") as f:
                        if (now := os.fstat(fd)).st_nlink > 1:  # linked since the check
                            raise _not_a_plain_file(parts, now)
                        f.write(data)
                        f.flush()
                        size = os.fstat(f.fileno()).st_size
                elif mode == "create":
                    fd = os.open(
                        name,
                        os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS,
                        0o666,
                        dir_fd=d,
                    )
                    with open(fd, "wb") as f:
                        f.write(data)
                    size = len(data)
                else:
                    # A temporary file renamed over the target: readers never see half.
                    _write_new(d, name, data)
                    size = len(data)
                return size, not existed

        size, created = await run_blocking(context, write)
        return {
            "path": display(parts),
            "bytes_written": len(data),
            "size": size,
            "created": created,
        }

    async def compensate(self, arguments: JsonObject, output: Any, context: ToolContext) -> Any:
        """Restore the content from before the step, or delete the file it created.

        Raises ToolError for a refused path.
        """
        parts = split(str(arguments["path"]))
        undo = _undo_parts(context)
        context.count_disk_write()

        def restore() -> str:
            with (
                Workspace(context.workspace, create=True) as ws,
                ws.directory(undo[:-1], create=True) as parent,
            ):
                if lstat_or_none(parent, undo[-1]) is None:
                    return "none"  # undone already, or the write never got this far
                action = "none"
                with ws.directory(undo) as u:
                    state = _read_state(u)
                    if state is not None:
                        with ws.directory(parts[:-1], create=True) as d:
                            action = _undo(state, u, d, parts[-1])
                    for name in os.listdir(u):
                        os.unlink(name, dir_fd=u)
                os.rmdir(undo[-1], dir_fd=parent)
                return action

        action = await run_blocking(context, restore)
        return {"path": display(parts), "action": action}


def _undo(state: dict[str, Any], undo_fd: int, dir_fd: int, name: str) -> str:
    if state["existed"]:
        # FileNotFoundError: moved back by an earlier attempt of this compensation.
        with contextlib.suppress(FileNotFoundError):
            os.replace("content", name, src_dir_fd=undo_fd, dst_dir_fd=dir_fd)
        return "restored"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
    return "deleted"


def _decode(content: str, encoding: str) -> bytes:
    if encoding != "base64":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise refuse("content is not valid base64") from None


def _read_state(undo_fd: int) -> dict[str, Any] | None:
    try:
        fd = os.open("state.json", os.O_RDONLY | _FILE_FLAGS, dir_fd=undo_fd)
    except FileNotFoundError:
        return None
    with open(fd, "rb") as f:
        state: dict[str, Any] = json.load(f)
        return state


def _keep_undo(dir_fd: int, name: str, undo_fd: int, exists: bool) -> bool:
    """Record the file's state before the step's first change; returns whether it existed
    then (an earlier attempt's record wins: it saw the file before this step touched it)."""
    state = _read_state(undo_fd)
    if state is not None:
        return bool(state["existed"])
    if exists:
        src = os.open(name, os.O_RDONLY | _FILE_FLAGS, dir_fd=dir_fd)
        if (st := os.fstat(src)).st_nlink > 1:  # linked since the caller's check
            os.close(src)
            raise _not_a_plain_file((name,), st)
        with open(src, "rb") as f:
            _write_new(undo_fd, "content", f, copy=True)
    _write_new(undo_fd, "state.json", json.dumps({"existed": exists}).encode())
    return exists


def _write_new(dir_fd: int, name: str, data: Any, *, copy: bool = False) -> None:
    """Write a temporary sibling, then rename it over `name` (atomic within the dir)."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FILE_FLAGS, 0o666, dir_fd=dir_fd)
    try:
        with open(fd, "wb") as f:
            if copy:
                shutil.copyfileobj(data, f)
            else:
                f.write(data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


# ---------------------------------------------------------------------------- file.delete


class FileDelete(_Configurable):
    spec = ToolSpec(
        name="file.delete",
        title="Delete a file",
        description=(
            "Deletes a file, a symlink (not its target) or, with `recursive`, a directory "
            "of the execution's workspace. Not undone on rollback."
        ),
        input_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": _PATH,
                "recursive": {"type": "boolean", "default": False},
                "missing_ok": {"type": "boolean", "default": False},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
        output_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "deleted": {"type": "boolean"},
                "type": {"enum": ["file", "directory", "symlink", "other", "missing"]},
            },
            "required": ["path", "deleted", "type"],
            "additionalProperties": False,
        },
        destructive=True,
        idempotent=True,
        default_timeout=timedelta(seconds=60),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Raises ToolError (TOOL_FAILED, not retryable) for a refused path, a missing one
        (unless `missing_ok`), or a non-empty directory without `recursive`."""
        parts = split(str(arguments["path"]))
        recursive = bool(arguments.get("recursive", False))
        # A repeated attempt may find the file gone because the cut-off one deleted it.
        missing_ok = bool(arguments.get("missing_ok", False)) or context.attempt > 1
        context.count_disk_write()

        def delete() -> str:
            try:
                ws = Workspace(context.workspace, create=False)
            except Exception:
                if missing_ok:
                    return "missing"
                raise
            with ws, ws.directory(parts[:-1]) as d:
                name = parts[-1]
                st = lstat_or_none(d, name)
                if st is None:
                    if missing_ok:
                        return "missing"
                    raise refuse(f"no such file or directory: {display(parts)}")
                what = kind(st.st_mode)
                if what != "directory":
                    os.unlink(name, dir_fd=d)
                elif recursive:
                    # With dir_fd, rmtree walks by descriptors and never follows symlinks.
                    shutil.rmtree(name, dir_fd=d)
                else:
                    try:
                        os.rmdir(name, dir_fd=d)
                    except OSError as exc:
                        if exc.errno == errno.ENOTEMPTY:
                            raise refuse(
                                f"directory {display(parts)} is not empty; "
                                "set recursive to delete it with its contents"
                            ) from None
                        raise
                return what

        what = await run_blocking(context, delete)
        return {"path": display(parts), "deleted": what != "missing", "type": what}


# ---------------------------------------------------------------------------- file.list


class FileList(_Configurable):
    spec = ToolSpec(
        name="file.list",
        title="List files",
        description=(
            "Lists a directory of the execution's workspace (the workspace itself by "
            "default), optionally recursively, sorted by path. Symlinks are listed, not "
            "followed. An empty or not yet created workspace lists as empty."
        ),
        input_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": {**_PATH, "minLength": 0, "default": "."},
                "recursive": {"type": "boolean", "default": False},
                "max_entries": {"type": "integer", "minimum": 1},
            },
            "additionalProperties": False,
        },
        output_schema={
            "$schema": _SCHEMA,
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string"},
                            "type": {"enum": ["file", "directory", "symlink", "other"]},
                            "size": {"type": "integer", "minimum": 0},
                        },
                        "required": ["path", "type", "size"],
                        "additionalProperties": False,
                    },
                },
                "truncated": {"type": "boolean"},
            },
            "required": ["path", "entries", "truncated"],
            "additionalProperties": False,
        },
        read_only=True,
        idempotent=True,
        default_timeout=timedelta(seconds=30),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        """Raises ToolError (TOOL_FAILED, not retryable) for a refused or missing path."""
        parts = split(str(arguments.get("path", ".")), allow_root=True)
        recursive = bool(arguments.get("recursive", False))
        limit = min(
            int(arguments.get("max_entries", self.settings.max_list_entries)),
            self.settings.max_list_entries,
        )
        context.count_disk_read()

        def walk() -> tuple[list[dict[str, Any]], bool]:
            entries: list[dict[str, Any]] = []
            if not parts and not context.workspace.exists():
                return entries, False

            def visit(fd: int, prefix: tuple[str, ...]) -> bool:
                for entry in sorted(os.scandir(fd), key=lambda e: e.name):
                    if not prefix and entry.name == RESERVED:
                        continue
                    if len(entries) >= limit:
                        return False
                    st = entry.stat(follow_symlinks=False)
                    what = kind(st.st_mode)
                    path = (*prefix, entry.name)
                    size = st.st_size if what == "file" else 0
                    entries.append({"path": "/".join(path), "type": what, "size": size})
                    if recursive and what == "directory":
                        sub = os.open(
                            entry.name, os.O_RDONLY | os.O_DIRECTORY | _FILE_FLAGS, dir_fd=fd
                        )
                        try:
                            if not visit(sub, path):
                                return False
                        finally:
                            os.close(sub)
                return True

            with Workspace(context.workspace, create=False) as ws, ws.directory(parts) as d:
                complete = visit(d, parts)
            return entries, not complete

        entries, truncated = await run_blocking(context, walk)
        return {"path": display(parts), "entries": entries, "truncated": truncated}
