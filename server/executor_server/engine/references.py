"""`${steps.<name-or-id>.output[.<path>]}` references between steps, and the element a
for_each step runs for: `${item[.<path>]}` and `${item_index}`.

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
from executor_server.domain.frozen import freeze
from executor_server.domain.status import ExecutionErrorType
from executor_server.engine.secrets import find_secrets
from executor_server.engine.sizes import TooLarge, json_size

# Outputs were checked for depth when they were made; arguments may nest them a little.
_NO_DEPTH_LIMIT = 1000
_INDEX = re.compile(r"-?[0-9]+")
# Groups: the step (or None), "item" (or None), the path. `${item_index}` has neither.
REFERENCE = re.compile(
    r"\$\{(?:steps\.([^.}\s]+)\.output|(item))((?:\.[^.}\s]+)*)\}|\$\{item_index\}"
)
#: Keys of the element's value and index in the outputs a for_each step's element sees.
ITEM = "$item"
ITEM_INDEX = "$item_index"


class _Absent:
    """The output of a step that did not complete (skipped, or failed before a step whose
    dependency rule lets it run anyway): a reference to it, at any path, is null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def find_references(value: Any) -> set[str]:
    """The names or ids of every step that `value` refers to, at any depth."""
    return find_all(value) - {ITEM, ITEM_INDEX}


def find_all(value: Any) -> set[str]:
    """Like `find_references`, with ITEM and ITEM_INDEX for the element references."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if "${" in value:
            for m in REFERENCE.finditer(value):
                found.add(m.group(1) or (ITEM if m.group(2) else ITEM_INDEX))
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


def has_reference(value: Any) -> bool:
    return isinstance(value, str) and REFERENCE.search(value) is not None


def resolve(value: Any, outputs: Mapping[str, Any], max_bytes: int) -> Any:
    """A copy of `value` with every reference replaced from `outputs` (keyed by name or id).

    Raises StepError: VALIDATION when a referenced step or path is missing,
    RESOURCE_EXHAUSTED when the result would be larger than `max_bytes` as JSON (checked
    as it is built: references repeated or doubling from step to step cannot blow up).
    """
    budget = _Budget(max_bytes)
    return _resolve(value, outputs, budget)


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise StepError(
                f"resolved arguments are larger than max_argument_bytes ({self.limit:,} bytes)",
                error_type=ExecutionErrorType.RESOURCE_EXHAUSTED,
                retryable=False,
            )

    def take_value(self, value: Any) -> None:
        try:
            size = json_size(value, max(self.left, 0), max_depth=_NO_DEPTH_LIMIT)
        except TooLarge:
            size = self.left + 1
        self.take(size)


def _resolve(value: Any, outputs: Mapping[str, Any], budget: _Budget) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            budget.take(len(value))
            return value
        whole = REFERENCE.fullmatch(value)
        if whole:
            found = _lookup(whole, outputs)
            budget.take_value(found)
            return found

        def text(match: re.Match[str]) -> str:
            piece = _as_text(_lookup(match, outputs))
            budget.take(len(piece))
            return piece

        return REFERENCE.sub(text, value)
    if isinstance(value, dict):
        budget.take(2 * len(value))
        return {key: _resolve(item, outputs, budget) for key, item in value.items()}
    if isinstance(value, list):
        budget.take(len(value))
        return [_resolve(item, outputs, budget) for item in value]
    budget.take(8)
    return value


def _lookup(match: re.Match[str], outputs: Mapping[str, Any]) -> Any:
    step = match.group(1) or (ITEM if match.group(2) else ITEM_INDEX)
    path = match.group(3) or ""
    if step not in outputs:
        if step in (ITEM, ITEM_INDEX):
            raise _unresolved(match, "only a for_each step has an element")
        raise _unresolved(match, f"step {step!r} has no output")
    current = outputs[step]
    if current is ABSENT:
        return None
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


Resolver = Callable[[Mapping[str, Any], "_Budget"], Any]


class Template:
    """Arguments compiled once, at submission: a read-only value, and where references
    occur in it already parsed, so a step start only looks them up.

    `resolve(outputs, max_bytes)` raises StepError like `resolve`, and gives the same value,
    read-only.
    """

    __slots__ = ("_resolver", "items", "secrets", "steps", "value")

    def __init__(self, value: Any) -> None:
        self.value = freeze(value)
        found = find_all(value)
        #: It uses `${item...}` or `${item_index}`: a for_each step's element.
        self.items = bool(found & {ITEM, ITEM_INDEX})
        #: The names or ids of the steps whose outputs it needs; empty for a constant.
        self.steps = frozenset(found - {ITEM, ITEM_INDEX})
        #: It names `${secrets.NAME}`: those go in first, when an attempt starts.
        self.secrets = bool(find_secrets(value))
        self._resolver = _compile(self.value) if found else None

    def resolve(self, outputs: Mapping[str, Any], max_bytes: int) -> Any:
        if self._resolver is None:
            return self.value
        return freeze(self._resolver(outputs, _Budget(max_bytes)))


def _cost(value: Any) -> int:
    """What `_resolve` charges the budget for a value without references."""
    budget = _Budget(1 << 62)
    _resolve(value, {}, budget)
    return budget.limit - budget.left


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
        items = [(k, parts[k], v, 0 if parts[k] else _cost(v)) for k, v in value.items()]
        own = 2 * len(value)

        def build_dict(outputs: Mapping[str, Any], budget: _Budget) -> Any:
            budget.take(own)
            built = {}
            for key, part, constant, cost in items:
                if part is None:
                    budget.take(cost)
                    built[key] = constant
                else:
                    built[key] = part(outputs, budget)
            return built

        return build_dict
    if isinstance(value, list):
        compiled = [_compile(v) for v in value]
        elements = [(f, v, 0 if f else _cost(v)) for f, v in zip(compiled, value, strict=True)]
        if not any(compiled):
            return None
        length = len(value)

        def build_list(outputs: Mapping[str, Any], budget: _Budget) -> Any:
            budget.take(length)
            built = []
            for part, constant, cost in elements:
                if part is None:
                    budget.take(cost)
                    built.append(constant)
                else:
                    built.append(part(outputs, budget))
            return built

        return build_list
    return None


def _slot(match: re.Match[str]) -> Resolver:
    def look_up(outputs: Mapping[str, Any], budget: _Budget) -> Any:
        found = _lookup(match, outputs)
        budget.take_value(found)
        return found

    return look_up


def _interpolation(text: str) -> Resolver:
    pieces: list[str | re.Match[str]] = []
    at = 0
    for match in REFERENCE.finditer(text):
        pieces.append(text[at : match.start()])
        pieces.append(match)
        at = match.end()
    pieces.append(text[at:])

    def build(outputs: Mapping[str, Any], budget: _Budget) -> str:
        parts = []
        for piece in pieces:
            if not isinstance(piece, str):
                piece = _as_text(_lookup(piece, outputs))
            budget.take(len(piece))
            parts.append(piece)
        return "".join(parts)

    return build
