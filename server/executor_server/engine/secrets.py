"""`${secrets.NAME}` in arguments: values the operator gives the server, never the plan.

A plan names a secret; the value is put in when an attempt starts and goes only to the
tool. The journal keeps the plan as submitted (with the reference); whatever a step
produces (its output, its error, progress messages) has every secret's value replaced by
`***` before it becomes an event, so neither the journal, nor watchers, nor status answers
ever hold one. Argument properties a tool's input schema marks `writeOnly: true` are
masked the same way in what that step produces.

Secrets come from a directory with one file per secret (as Kubernetes and Docker mount
them; a trailing newline is dropped) and from named environment variables.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

MASK = "***"
#: Shorter values would mask ordinary text wherever it appears: refused at start.
MIN_SECRET_LENGTH = 4
MAX_SECRET_BYTES = 64 * 1024
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
SECRET = re.compile(r"\$\{secrets\.([^}\s]*)\}")


def find_secrets(value: Any) -> set[str]:
    """The names of every secret `value` refers to, at any depth."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if "${secrets." in value:
            found.update(m.group(1) for m in SECRET.finditer(value))
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def has_secret(value: Any) -> bool:
    return isinstance(value, str) and SECRET.search(value) is not None


class Secrets:
    """The server's secrets by name, shared by everything that resolves or masks them;
    `replace` swaps them while serving. Raises ValueError for a bad name or a value too
    short to mask safely."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})
        #: Values replaced by a reload: no longer resolved, still masked (a tool may have
        #: kept one).
        self._retired: set[str] = set()
        #: Bumped by each `replace`, so that maskers built before can be told apart.
        self.generation = 0
        for name, value in self._values.items():
            if not NAME.fullmatch(name):
                raise ValueError(f"secret name {name[:64]!r} must be of [A-Za-z0-9_.-]")
            if len(value) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"secret {name!r} is shorter than {MIN_SECRET_LENGTH} characters: it "
                    "could not be masked without masking ordinary text"
                )
        self._pattern = _alternation(self._values.values())

    @classmethod
    def load(cls, directory: Path | None = None, env: Sequence[str] = ()) -> Secrets:
        """Read every file of `directory` (hidden ones, such as Kubernetes' `..data`, are
        skipped) and the variables `env` names. Raises OSError when the directory cannot be
        read, ValueError for a missing variable, a value too large or not UTF-8."""
        values: dict[str, str] = {}
        if directory is not None:
            for path in sorted(directory.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue
                data = path.read_bytes()
                if len(data) > MAX_SECRET_BYTES:
                    raise ValueError(f"secret file {path} is larger than {MAX_SECRET_BYTES} bytes")
                try:
                    text = data.decode()
                except UnicodeDecodeError:
                    raise ValueError(f"secret file {path} is not UTF-8 text") from None
                values[path.name] = text.removesuffix("\n").removesuffix("\r")
        for name in env:
            if name not in os.environ:
                raise ValueError(f"--secret-env {name}: no such environment variable")
            values[name] = os.environ[name]
        return cls(values)

    def replace(self, other: Secrets) -> None:
        """Resolve `other`'s values from now on; every value replaced stays masked."""
        self._retired |= set(self._values.values()) - set(other._values.values())
        self._values = dict(other._values)
        self._pattern = _alternation([*self._values.values(), *self._retired])
        self.generation += 1

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def unknown(self, value: Any) -> list[str]:
        """The secrets `value` names that this server does not have, sorted."""
        return sorted(find_secrets(value) - self._values.keys())

    def resolve(self, value: Any) -> Any:
        """A copy of `value` with every `${secrets.NAME}` replaced by its value (always as
        text). Raises KeyError for a secret the server no longer has."""
        if isinstance(value, str):
            if "${secrets." not in value:
                return value
            return SECRET.sub(lambda m: self._values[m.group(1)], value)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def masker(self, extra: Iterable[str] = ()) -> Masker | None:
        """What masks these secrets (the retired ones too) and the `extra` values; None
        when there is nothing to mask."""
        more = [v for v in extra if len(v) >= MIN_SECRET_LENGTH]
        if not more:
            return Masker(self._pattern) if self._pattern is not None else None
        pattern = _alternation([*self._values.values(), *self._retired, *more])
        assert pattern is not None
        return Masker(pattern)


class Masker:
    __slots__ = ("_pattern",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern

    def text(self, text: str) -> str:
        return self._pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A copy of a JSON value with every occurrence masked, in keys too."""
        if isinstance(value, str):
            return self._pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {self.text(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


def _alternation(values: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so a secret that contains another is masked whole.
    ordered = sorted(set(values), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def declares_write_only(schema: Any, depth: int = 0) -> bool:
    """Whether a JSON schema marks any property `writeOnly: true`."""
    if isinstance(schema, Mapping):
        if schema.get("writeOnly") is True:
            return True
        return depth < 32 and any(declares_write_only(v, depth + 1) for v in schema.values())
    if isinstance(schema, list):
        return depth < 32 and any(declares_write_only(v, depth + 1) for v in schema)
    return False


def write_only_values(schema: Mapping[str, Any], arguments: Any) -> list[str]:
    """The text of every argument at a property `schema` marks `writeOnly: true` (in
    nested objects too), for masking."""
    found: list[str] = []
    _write_only(schema, arguments, found, 0)
    return found


def _write_only(schema: Any, value: Any, found: list[str], depth: int) -> None:
    if not isinstance(schema, Mapping) or depth > 32:
        return
    if schema.get("writeOnly") is True:
        _texts(value, found)
        return
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and isinstance(value, dict):
        for key, sub in properties.items():
            if key in value:
                _write_only(sub, value[key], found, depth + 1)
    items = schema.get("items")
    if isinstance(items, Mapping) and isinstance(value, list):
        for item in value:
            _write_only(items, item, found, depth + 1)


def _texts(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _texts(item, found)
    elif isinstance(value, list):
        for item in value:
            _texts(item, found)
    elif value is not None and not isinstance(value, bool):
        found.append(str(value))
