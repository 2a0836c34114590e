"""`${steps.<name-or-id>.output[.<path>]}` references between steps.

A string that is exactly one reference is replaced by the referenced value with its JSON
type; references inside a longer string are interpolated as text (strings as they are,
anything else as compact JSON). Path segments are object keys or list indices.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from executor_server.domain.errors import StepError
from executor_server.domain.frozen import FrozenDict, FrozenList, freeze
from executor_server.domain.status import ExecutionErrorType

_INDEX = re.compile(r"-?[0-9]+")
REFERENCE = re.compile(r"\$\{steps\.([^.}\s]+)\.output((?:\.[^.}\s]+)*)\}")


def find_references(value: Any) -> set[str]:
    """The names or ids of every step that `value` refers to, at any depth."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if "${" in value:
            found.update(m.group(1) for m in REFERENCE.finditer(value))
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def has_reference(value: Any) -> bool:
    return isinstance(value, str) and REFERENCE.search(value) is not None


def resolve(value: Any, outputs: Mapping[str, Any]) -> Any:
    """A copy of `value` with every reference replaced from `outputs` (keyed by name or id).

    Raises StepError(VALIDATION) when a referenced step or path is missing.
    """
    if isinstance(value, str):
        if "${" not in value:
            return value
        whole = REFERENCE.fullmatch(value)
        if whole:
            return _lookup(whole, outputs)
        return REFERENCE.sub(lambda m: _as_text(_lookup(m, outputs)), value)
    if isinstance(value, dict):
        return {key: resolve(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, outputs) for item in value]
    return value


def _lookup(match: re.Match[str], outputs: Mapping[str, Any]) -> Any:
    step, path = match.group(1), match.group(2)
    if step not in outputs:
        raise _unresolved(match, f"step {step!r} has no output")
    current = outputs[step]
    for segment in path.split(".")[1:]:
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and _INDEX.fullmatch(segment):
            index = int(segment)
            if not -len(current) <= index < len(current):
                raise _unresolved(match, f"index {index} is out of range")
            current = current[index]
        else:
            raise _unresolved(match, f"no {segment!r} in the output")
    return current


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _unresolved(match: re.Match[str], why: str) -> StepError:
    return StepError(
        f"cannot resolve {match.group(0)}: {why}",
        error_type=ExecutionErrorType.VALIDATION,
        retryable=False,
    )


Resolver = Callable[[Mapping[str, Any]], Any]


class Template:
    """Arguments compiled once, at submission: a read-only value, and where references
    occur in it already parsed, so a step start only looks them up.

    `resolve(outputs)` raises StepError(VALIDATION) like `resolve`.
    """

    __slots__ = ("_resolver", "steps", "value")

    def __init__(self, value: Any) -> None:
        self.value = freeze(value)
        #: The names or ids of the steps whose outputs it needs; empty for a constant.
        self.steps = frozenset(find_references(value))
        self._resolver = _compile(self.value) if self.steps else None

    def resolve(self, outputs: Mapping[str, Any]) -> Any:
        if self._resolver is None:
            return self.value
        return self._resolver(outputs)


def _compile(value: Any) -> Resolver | None:
    """A function building `value` with its references filled in; None when it has none."""
    if isinstance(value, str):
        if "${" not in value or REFERENCE.search(value) is None:
            return None
        whole = REFERENCE.fullmatch(value)
        if whole is not None:
            return _slot(whole)
        return _interpolation(value)
    if isinstance(value, dict):
        parts = {k: _compile(v) for k, v in value.items()}
        if not any(parts.values()):
            return None
        items = [(k, parts[k], v) for k, v in value.items()]

        def build_dict(outputs: Mapping[str, Any]) -> Any:
            return FrozenDict({k: (v if f is None else f(outputs)) for k, f, v in items})

        return build_dict
    if isinstance(value, list):
        elements = [(_compile(v), v) for v in value]
        if not any(f for f, _ in elements):
            return None

        def build_list(outputs: Mapping[str, Any]) -> Any:
            return FrozenList([v if f is None else f(outputs) for f, v in elements])

        return build_list
    return None


def _slot(match: re.Match[str]) -> Resolver:
    return lambda outputs: _lookup(match, outputs)


def _interpolation(text: str) -> Resolver:
    pieces: list[str | re.Match[str]] = []
    at = 0
    for match in REFERENCE.finditer(text):
        pieces.append(text[at : match.start()])
        pieces.append(match)
        at = match.end()
    pieces.append(text[at:])

    def build(outputs: Mapping[str, Any]) -> str:
        return "".join(p if isinstance(p, str) else _as_text(_lookup(p, outputs)) for p in pieces)

    return build
