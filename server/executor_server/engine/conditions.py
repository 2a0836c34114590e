"""`when` conditions: CEL expressions over the outputs and statuses of a step's ancestors.

A condition is compiled once, at submission (`compile_condition`), and evaluated by the
machine when its step becomes ready (`Condition.evaluate`). The parser and interpreter are
the `cel` package's (the Rust `cel` crate); this module adds what a shared server needs
on top: the names an expression may use, and bounds that keep a hostile one cheap.

What an expression sees:
- `steps.<name>.output` and `steps.<name>.status` (also `steps["<name-or-id>"]`) of the
  steps it names, which validation checks are ancestors. The status is the step's status
  name ("COMPLETED", "SKIPPED", ...); the output of a step that did not complete is null.
- `plan.metadata`, the plan's free-form metadata.

Why evaluation stays cheap: an expression is at most MAX_CONDITION_LENGTH characters,
names variables at most MAX_CONDITION_REFERENCES times, and has at most
MAX_CONDITION_COMPREHENSIONS comprehensions (`all`, `exists`, `exists_one`, `map`,
`filter`), never one inside another. CEL has no loops, recursion nor string repetition, so
its time and the size of what it builds are then linear in the size of the outputs it reads
(themselves bounded by `max_output_bytes`), and only the outputs it names are given to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel

from executor_server.domain.limits import (
    MAX_CONDITION_COMPREHENSIONS,
    MAX_CONDITION_LENGTH,
    MAX_CONDITION_REFERENCES,
)

#: The CEL standard functions and macros the interpreter implements.
FUNCTIONS = frozenset(
    {
        "size",
        "has",
        "matches",
        "contains",
        "startsWith",
        "endsWith",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "dyn",
        "type",
        "duration",
        "timestamp",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
    }
)
COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_KEYWORDS = frozenset({"true", "false", "null", "in"})
_TYPES = frozenset({"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type"})
_STEP_FIELDS = ("output", "status")
#: Messages quote the interpreter, which quotes the expression: keep them short.
_MAX_MESSAGE = 512

_TOKEN = re.compile(
    r"""
     (?P<space>\s+)
    |(?P<string>(?:[rR][bB]?|[bB][rR]?)?
        (?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''
          |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
    |(?P<number>[0-9][0-9a-zA-Z_.]*)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class ConditionError(ValueError):
    """An expression that cannot be accepted (compiling) or evaluated; `message` says why."""

    def __init__(self, message: str) -> None:
        message = message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.message = message


#: What a condition reads of one step: its status name and its output (None if none).
StepView = Callable[[str], tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    #: The names or ids of the steps it reads, as written.
    steps: frozenset[str]
    _program: Any  # cel.Program

    def evaluate(self, view: StepView, metadata: Mapping[str, Any]) -> bool:
        """Raises ConditionError when it fails or does not give a bool."""
        steps = {}
        for key in self.steps:
            status, output = view(key)
            steps[key] = {"status": status, "output": output}
        try:
            result = self._program.execute({"steps": steps, "plan": {"metadata": metadata}})
        except BaseException as exc:  # builtin types for CEL errors
            _reraise_unless_cel(exc)
            raise ConditionError(f"condition failed: {exc}") from None
        if not isinstance(result, bool):
            raise ConditionError(
                f"condition must evaluate to a bool, not {type(result).__name__} ({result!r:.80})"
            )
        return result


@lru_cache(maxsize=4096)  # planners repeat a condition over many steps
def compile_condition(text: str) -> Condition:
    """Raises ConditionError: too long, not CEL, or naming what conditions cannot see."""
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(
            f"is {len(text):,} characters long; at most {MAX_CONDITION_LENGTH:,} are allowed"
        )
    if not text.strip():
        raise ConditionError("is empty")
    try:
        program = cel.compile(text)
    except BaseException as exc:
        _reraise_unless_cel(exc)
        raise ConditionError(f"not a valid CEL expression: {exc}") from None
    steps = _Scanner(text).scan()
    return Condition(text, frozenset(steps), program)


def _reraise_unless_cel(exc: BaseException) -> None:
    """An exception, or a panic of the Rust interpreter (pyo3's PanicException derives from
    BaseException), is the expression's failure; anything else (KeyboardInterrupt) is not."""
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc


class _Scanner:
    """Walks the tokens of an expression the parser accepted, checking the names it uses."""

    def __init__(self, text: str) -> None:
        self.tokens = [
            (m.lastgroup or "", m.group()) for m in _TOKEN.finditer(text) if m.lastgroup != "space"
        ]
        self.at = 0
        self.steps: set[str] = set()
        self.references = 0
        self.comprehensions = 0
        self.bound: list[tuple[str, int]] = []  # comprehension variables and their depth
        self.depth = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        i = self.at + ahead
        return self.tokens[i] if i < len(self.tokens) else ("", "")

    def scan(self) -> set[str]:
        while self.at < len(self.tokens):
            kind, value = self.peek()
            if kind == "punct":
                self._punct(value)
            elif kind == "ident":
                self._ident(value)
            self.at += 1
        return self.steps

    def _punct(self, value: str) -> None:
        if value in "([{":
            self.depth += 1
        elif value in ")]}":
            self.depth -= 1
            while self.bound and self.bound[-1][1] > self.depth:
                self.bound.pop()  # the comprehension closed

    def _ident(self, name: str) -> None:
        after_dot = self.at > 0 and self.tokens[self.at - 1] == ("punct", ".")
        call = self.peek(1) == ("punct", "(")
        if after_dot:
            if call and name in COMPREHENSIONS:
                self._comprehension(name)
            elif call and name not in FUNCTIONS:
                raise ConditionError(f"unknown function {name!r}")
            return  # a field
        if call:
            if name not in FUNCTIONS:
                raise ConditionError(f"unknown function {name!r}")
            return
        if name in _KEYWORDS or name in _TYPES:
            return
        self.references += 1
        if self.references > MAX_CONDITION_REFERENCES:
            raise ConditionError(
                f"names variables more than {MAX_CONDITION_REFERENCES} times; split it up"
            )
        if any(bound == name for bound, _ in self.bound):
            return
        if name == "steps":
            self._step()
        elif name == "plan":
            if self.peek(1) != ("punct", ".") or self.peek(2) != ("ident", "metadata"):
                raise ConditionError("`plan` is read as plan.metadata")
        else:
            raise ConditionError(
                f"undeclared reference {name!r}: a condition reads steps.<name>.output, "
                "steps.<name>.status and plan.metadata"
            )

    def _step(self) -> None:
        nxt = self.peek(1)
        if nxt == ("punct", ".") and self.peek(2)[0] == "ident":
            key, skip = self.peek(2)[1], 2
        elif nxt == ("punct", "[") and self.peek(2)[0] == "string" and self.peek(3)[1] == "]":
            literal = self.peek(2)[1]
            if literal[0] not in "\"'" or literal[:3] in ('"""', "'''"):
                raise ConditionError('a step is named steps.<name> or steps["<name-or-id>"]')
            key, skip = literal[1:-1], 3
        else:
            raise ConditionError('a step is named steps.<name> or steps["<name-or-id>"]')
        field = self.peek(skip + 2)
        if self.peek(skip + 1) != ("punct", ".") or field[1] not in _STEP_FIELDS:
            raise ConditionError(f"read steps.{key}.output or steps.{key}.status")
        self.steps.add(key)
        self.at += skip

    def _comprehension(self, name: str) -> None:
        if self.bound:
            raise ConditionError(f"comprehensions ({name}) cannot be nested")
        self.comprehensions += 1
        if self.comprehensions > MAX_CONDITION_COMPREHENSIONS:
            raise ConditionError(
                f"has more than {MAX_CONDITION_COMPREHENSIONS} comprehensions "
                "(all, exists, exists_one, map, filter)"
            )
        # .map(x, ...) or .all(k, v, ...): every leading name is bound inside the parens.
        ahead = 2
        while self.peek(ahead)[0] == "ident" and self.peek(ahead + 1) == ("punct", ","):
            self.bound.append((self.peek(ahead)[1], self.depth + 1))
            ahead += 2
        # The bound names are declarations, not references.
        self.at += ahead - 1
        self.depth += 1
