"""Plan files: an action plan written by a person, in YAML or JSON.

The fields are the contract's (``ActionPlan`` plus an ``options:`` block of
``ExecutionOptions``), by proto name or JSON name (``max_attempts`` or ``maxAttempts``),
with what people need to write them by hand::

    name: checkout                  # id: optional; a fresh UUID per submission
    options: {auto_rollback: true, max_concurrent_steps: 2}
    steps:
      - name: fetch                 # the step's id derives from the plan id and its name
        tool: echo                  # shorthand for tool_execution: {tool_name, arguments}
        arguments: {order: 42}
        timeout: 30s                # durations: "1m30s", "250ms", or a number of seconds
      - name: bill
        tool: echo
        dependencies: [fetch]       # by name
        arguments: {order: "${steps.fetch.output.order}"}
        retry_policy: {max_attempts: 3, non_retryable_error_types: [VALIDATION]}

Enum values may drop their prefix (``VALIDATION`` for ``EXECUTION_ERROR_TYPE_VALIDATION``).
The walk is driven by the message descriptors, so fields the contract gains are accepted
without a change here. Every problem is reported at once, with its path and line::

    plan.yaml:9: steps[1].dependencies[0]: unknown step 'fech'
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from executor_client._gen.executor.v1 import executor_pb2 as pb

__all__ = [
    "LoadedPlan",
    "PlanFileError",
    "Problem",
    "load_plan",
    "parse_duration",
    "parse_plan",
    "step_id",
]

#: A plan file larger than this is refused before parsing (the server takes 64 MiB).
MAX_FILE_BYTES = 16 * 1024 * 1024
# YAML aliases can expand a small file into a huge tree ("billion laughs"): bound the walk.
_MAX_NODES = 1_000_000

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: `${steps.<name-or-id>.output[.<path>]}`, as the server reads it.
REFERENCE = re.compile(r"\$\{steps\.([^.}\s]+)\.output((?:\.[^.}\s]+)*)\}")
#: `${secrets.NAME}`: resolved by the server when the step starts, as text.
SECRET_REFERENCE = re.compile(r"\$\{secrets\.[^}\s]*\}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_NANOS = {"h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "us": 10**3}
_UNIT_NANOS |= {"µs": 10**3, "ns": 1}
# Seconds the protobuf Duration can hold (about 10,000 years).
_MAX_DURATION_NANOS = 315_576_000_000 * 10**9

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a plan file, at ``path`` (``steps[2].timeout``)."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PlanFileError(Exception):
    """The plan file cannot be read or is not a valid plan; ``problems`` lists every fault."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> Iterator[str]:
        """``file:line: path: message`` for each problem."""
        for p in self.problems:
            where = f"{self.source}:{p.line}" if p.line is not None else self.source
            yield f"{where}: {p}"


@dataclass(frozen=True, slots=True)
class LoadedPlan:
    """A plan ready to submit, with the request options its file gave."""

    plan: pb.ActionPlan
    options: pb.ExecutionOptions
    source: str = "<plan>"
    #: Line of each field in the file, by its path in the request (``plan.steps[0].timeout``).
    lines: Mapping[str, int] = field(default_factory=dict)

    def locate(self, request_field: str) -> int | None:
        """The file line of a field a server named (``plan.steps[1].dependencies[0]``),
        or of the nearest enclosing field that has one."""
        path = request_field
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def step_id(plan_id: str, name: str) -> str:
    """The id a step named ``name`` gets in plan ``plan_id``: stable for that pair."""
    return str(uuid.uuid5(uuid.UUID(plan_id), f"step:{name}"))


def parse_duration(value: Any) -> int:
    """Nanoseconds of ``"1m30s"``, ``"250ms"``, ``"2h"``, ``"1.5s"`` or a number of seconds.

    Raises:
        ValueError: Not a duration, negative, or too long.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '30s', got {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value <= _MAX_DURATION_NANOS / 10**9:  # also refuses NaN
            raise ValueError(f"a duration must be between 0 and 10,000 years, got {value!r}")
        return round(value * 10**9)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '30s', got {value!r}")
    text = value.strip()
    nanos, position = 0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        nanos += round(float(match.group(1)) * _UNIT_NANOS[match.group(2)])
        position = match.end()
    if not text or position != len(text):
        raise ValueError(
            f"not a duration: {value!r} (write e.g. '30s', '1m30s', '250ms', or seconds)"
        )
    if nanos > _MAX_DURATION_NANOS:
        raise ValueError(f"a duration must be at most 10,000 years, got {value!r}")
    return nanos


def load_plan(path: str | Path, *, plan_id: str | None = None) -> LoadedPlan:
    """Reads a plan file (YAML, or JSON: the YAML it also is) and builds the request's plan
    and options.

    Args:
        plan_id: Overrides the file's ``id``; without either the plan gets a fresh UUID.

    Raises:
        PlanFileError: The file cannot be read, or holds no valid plan.
    """
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PlanFileError(source, [Problem("", exc.strerror or str(exc))]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise PlanFileError(source, [Problem("", f"larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanFileError(source, [Problem("", f"not UTF-8 text: {exc.reason}")]) from exc
    return parse_plan(text, source=source, plan_id=plan_id)


def parse_plan(text: str, *, source: str = "<plan>", plan_id: str | None = None) -> LoadedPlan:
    """Like :func:`load_plan`, for the file's text. JSON is read as the YAML it also is,
    which gives JSON files line numbers too.

    Raises:
        PlanFileError: Not YAML/JSON, or not a valid plan.
    """
    document, key_lines = _read_yaml(text, source)
    return _Builder(source, key_lines).build(document, plan_id)


# ------------------------------------------------------------------ YAML with lines


class _Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true/false, so `answer: no` stays the string 'no'."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _read_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """The document as plain values, and the line of every mapping key and list item."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise PlanFileError(source, [Problem("", message, line)]) from exc
    except yaml.YAMLError as exc:
        raise PlanFileError(source, [Problem("", str(exc))]) from exc
    finally:
        loader.dispose()
    if node is None:
        raise PlanFileError(source, [Problem("", "the file is empty")])
    lines: dict[Path_, int] = {}
    budget = [_MAX_NODES]

    def convert(node: yaml.Node, path: Path_) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise PlanFileError(source, [Problem("", "too many values (aliases expand too far)")])
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise PlanFileError(
                        source,
                        [
                            Problem(
                                _format(path),
                                f"keys must be strings, got {key!r}",
                                key_node.start_mark.line + 1,
                            )
                        ],
                    )
                if key in result:
                    raise PlanFileError(
                        source,
                        [
                            Problem(
                                _format((*path, key)), "given twice", key_node.start_mark.line + 1
                            )
                        ],
                    )
                lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = convert(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [convert(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise PlanFileError(
                source,
                [Problem(_format(path), exc.problem or "bad value", node.start_mark.line + 1)],
            ) from exc

    return convert(node, ()), lines


def _format(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# ------------------------------------------------------------------ building the request

_DURATION = "google.protobuf.Duration"
_TIMESTAMP = "google.protobuf.Timestamp"
_FREE_FORM = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}
# Shorthands a person writes instead of the contract's nesting: (message, key) -> field path.
_SHORTHANDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("executor.v1.ActionStep", "tool"): ("tool_execution", "tool_name"),
    ("executor.v1.ActionStep", "arguments"): ("tool_execution", "arguments"),
    ("executor.v1.Compensation", "tool"): ("tool_name",),
}


class _Builder:
    def __init__(self, source: str, key_lines: dict[Path_, int]) -> None:
        self.source = source
        self.key_lines = key_lines
        self.problems: list[Problem] = []
        #: Line of each field of the request, by its wire path ("plan.steps[0].timeout").
        self.lines: dict[str, int] = {}

    def problem(self, file_path: Path_, message: str) -> None:
        self.problems.append(Problem(_format(file_path), message, self._line(file_path)))

    def _line(self, file_path: Path_) -> int | None:
        while True:
            if file_path in self.key_lines:
                return self.key_lines[file_path]
            if not file_path:
                return None
            file_path = file_path[:-1]

    def build(self, document: Any, plan_id: str | None) -> LoadedPlan:
        if not isinstance(document, dict):
            self.problem((), "a plan file holds a mapping (name, steps, options ...)")
            raise PlanFileError(self.source, self.problems)
        body = dict(document)
        options = body.pop("options", None)
        plan_json = self.walk(body, _descriptor(pb.ActionPlan), (), "plan")
        options_json: dict[str, Any] = {}
        if options is not None:
            options_json = self.walk(
                options, _descriptor(pb.ExecutionOptions), ("options",), "options"
            )
        self.assign_ids(plan_json, plan_id)
        if self.problems:
            raise PlanFileError(self.source, self.problems)
        plan = pb.ActionPlan()
        opts = pb.ExecutionOptions()
        try:
            json_format.ParseDict(plan_json, plan)
            json_format.ParseDict(options_json, opts)
        except json_format.ParseError as exc:  # what the walk does not check (number ranges)
            raise PlanFileError(self.source, [Problem("", str(exc))]) from exc
        self.check_graph(plan)
        if self.problems:
            raise PlanFileError(self.source, self.problems)
        return LoadedPlan(plan, opts, self.source, self.lines)

    # The walk turns the person's form into proto JSON (proto field names), checking types
    # against the descriptors and recording where each wire field was written.
    def walk(self, value: Any, message: Descriptor, path: Path_, wire: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping of {message.name} fields, got {_kind(value)}")
            return {}
        out: dict[str, Any] = {}
        fields = {f.name: f for f in message.fields} | {f.json_name: f for f in message.fields}
        for key, item in value.items():
            key_path = (*path, key)
            target: tuple[str, ...] | None = _SHORTHANDS.get((message.full_name, key))
            if target is None:
                if key not in fields:
                    self.problem(key_path, f"unknown field (known here: {_names(message)})")
                    continue
                target = (fields[key].name,)
            # Follow a shorthand's path to the field it fills.
            holder, descriptor, wire_path = out, message, wire
            for part in target[:-1]:
                inner = descriptor.fields_by_name[part]
                wire_path = f"{wire_path}.{part}"
                child = holder.setdefault(part, {})
                holder, descriptor = child, cast(Descriptor, inner.message_type)
            fd = descriptor.fields_by_name[target[-1]]
            wire_path = f"{wire_path}.{fd.name}"
            if fd.name in holder:
                self.problem(
                    key_path, f"{fd.name} is given twice (check shorthands such as 'tool')"
                )
                continue
            if fd.containing_oneof is not None and any(
                other.name in holder for other in fd.containing_oneof.fields if other is not fd
            ):
                self.problem(key_path, f"only one of {_oneof(fd)} may be given")
                continue
            self.lines[wire_path] = self._line(key_path) or 0
            converted = self.value(item, fd, key_path, wire_path)
            if converted is not None:
                holder[fd.name] = converted
        return out

    def value(self, item: Any, fd: FieldDescriptor, path: Path_, wire: str) -> Any:
        if fd.is_repeated and not (fd.message_type and fd.message_type.GetOptions().map_entry):
            if not isinstance(item, list):
                self.problem(path, f"expected a list, got {_kind(item)}")
                return None
            results = []
            for i, element in enumerate(item):
                self.lines[f"{wire}[{i}]"] = self._line((*path, i)) or 0
                results.append(self.single(element, fd, (*path, i), f"{wire}[{i}]"))
            return results
        return self.single(item, fd, path, wire)

    def timestamp(self, item: Any, path: Path_) -> str | None:
        """RFC 3339 text (YAML may have read it as a datetime already), with its zone."""
        if isinstance(item, datetime.datetime):
            if item.tzinfo is None:
                self.problem(path, "a time needs its zone (e.g. 2030-01-01T09:00:00Z)")
                return None
            item = item.isoformat()
        if isinstance(item, str):
            try:
                timestamp_pb2.Timestamp().FromJsonString(item)
            except ValueError:
                pass
            else:
                return item
        self.problem(path, f"not an RFC 3339 time: {item!r} (write e.g. 2030-01-01T09:00:00Z)")
        return None

    def single(self, item: Any, fd: FieldDescriptor, path: Path_, wire: str) -> Any:
        if fd.message_type is not None:
            name = fd.message_type.full_name
            if name == _DURATION:
                try:
                    nanos = parse_duration(item)
                except ValueError as exc:
                    self.problem(path, str(exc))
                    return None
                return f"{nanos // 10**9}.{nanos % 10**9:09d}s"
            if name == _TIMESTAMP:
                return self.timestamp(item, path)
            if name in _FREE_FORM:
                if name == "google.protobuf.Struct" and not isinstance(item, dict):
                    self.problem(path, f"expected a mapping, got {_kind(item)}")
                    return None
                return _plain_json(item)
            return self.walk(item, fd.message_type, path, wire)
        if fd.enum_type is not None:
            return self.enum(item, fd.enum_type, path)
        expected = fd.cpp_type
        if expected == FieldDescriptor.CPPTYPE_STRING and isinstance(item, str):
            return item
        if expected == FieldDescriptor.CPPTYPE_BOOL and isinstance(item, bool):
            return item
        if expected in _INT_RANGES and isinstance(item, int) and not isinstance(item, bool):
            low, high = _INT_RANGES[expected]
            if low <= item <= high:
                return item
            self.problem(path, f"expected a whole number from {low} to {high}, got {item}")
            return None
        if (
            expected in {FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE}
            and isinstance(item, int | float)
            and not isinstance(item, bool)
        ):
            return item
        wanted = {
            FieldDescriptor.CPPTYPE_STRING: "a string",
            FieldDescriptor.CPPTYPE_BOOL: "true or false",
            FieldDescriptor.CPPTYPE_FLOAT: "a number",
            FieldDescriptor.CPPTYPE_DOUBLE: "a number",
        }.get(expected, "a whole number")
        self.problem(path, f"expected {wanted}, got {_kind(item)}")
        return None

    def enum(self, item: Any, enum: EnumDescriptor, path: Path_) -> str | None:
        if isinstance(item, str):
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
            for candidate in (item, prefix + item.upper()):
                if candidate in enum.values_by_name and enum.values_by_name[candidate].number:
                    return candidate
        allowed = ", ".join(
            v.name.removeprefix(re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_")
            for v in enum.values
            if v.number
        )
        self.problem(path, f"expected one of {allowed}, got {item!r}")
        return None

    def assign_ids(self, plan: dict[str, Any], plan_id: str | None) -> None:
        """Plan id: the given one, else the file's, else fresh; step ids derive from it."""
        given = plan_id if plan_id is not None else plan.get("id")
        if given is not None and not _UUID.match(given):
            where = ("id",) if plan_id is None else ()
            self.problem(
                where, f"a plan id is a UUID, got {given!r} (leave it out for a fresh one)"
            )
            return
        plan["id"] = given or str(uuid.uuid4())
        for index, step in enumerate(plan.get("steps", [])):
            if step.get("id") is not None:
                continue
            step["id"] = step_id(plan["id"], step.get("name") or f"#{index}")

    def check_graph(self, plan: pb.ActionPlan) -> None:
        """What the file alone can tell about the DAG: the server checks it all again, and
        the tools and their schemas too."""
        if not plan.steps:
            self.problem(("steps",), "a plan needs at least one step")
            return
        index: dict[str, int] = {}
        for i, step in enumerate(plan.steps):
            # A name used twice also derives the same id twice: say it once, of the name.
            for key, kind in ((step.name, "name"), (step.id, "id")):
                if not key:
                    continue
                if key in index and index[key] != i:
                    other = index[key]
                    self.problem(
                        ("steps", i, kind), f"{kind} {key!r} is used by steps[{other}] too"
                    )
                    break
                index.setdefault(key, i)
            kind = step.WhichOneof("step_type")
            if kind is None or (kind == "tool_execution" and not step.tool_execution.tool_name):
                self.problem(
                    ("steps", i), "a step needs a tool (tool: NAME), wait_for_signal or sleep"
                )
        deps: list[set[int]] = []
        for i, step in enumerate(plan.steps):
            mine = set()
            for j, dep in enumerate(step.dependencies):
                if dep not in index:
                    self.problem(("steps", i, "dependencies", j), f"unknown step {dep!r}")
                else:
                    mine.add(index[dep])
            deps.append(mine)
        cycle = _find_cycle(deps)
        if cycle:
            names = " -> ".join(plan.steps[i].name or plan.steps[i].id for i in cycle)
            self.problem(("steps", cycle[0], "dependencies"), f"dependency cycle: {names}")
            return
        for i, step in enumerate(plan.steps):
            ancestors = _ancestors(i, deps)
            arguments = json_format.MessageToDict(step.tool_execution.arguments)
            for ref in sorted(_references(arguments)):
                where: Path_ = ("steps", i, "arguments")
                if ref not in index:
                    self.problem(where, f"references unknown step {ref!r}")
                elif index[ref] not in ancestors:
                    self.problem(
                        where, f"references step {ref!r}, which is not among its dependencies"
                    )


def _descriptor(message: type[Message]) -> Descriptor:
    return cast(Descriptor, message.DESCRIPTOR)


def _find_cycle(deps: list[set[int]]) -> list[int]:
    """One dependency cycle, as the steps along it (first repeated last), or []."""
    state = [0] * len(deps)  # 0 new, 1 on the current path, 2 done
    for start in range(len(deps)):
        if state[start]:
            continue
        stack: list[tuple[int, Iterator[int]]] = [(start, iter(sorted(deps[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state[child] == 1:
                return [*path[path.index(child) :], child]
            elif state[child] == 0:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(deps[child]))))
    return []


def _ancestors(start: int, deps: list[set[int]]) -> set[int]:
    seen: set[int] = set()
    todo = list(deps[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(deps[node])
    return seen


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return {m.group(1) for m in REFERENCE.finditer(value)}
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _plain_json(value: Any) -> Any:
    """YAML scalars such as dates become strings: the wire carries JSON."""
    return json.loads(json.dumps(value, default=str))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _names(message: Descriptor) -> str:
    names = [f.name for f in message.fields]
    names += [key for (owner, key) in _SHORTHANDS if owner == message.full_name]
    if message is _descriptor(pb.ActionPlan):
        names.append("options")
    return ", ".join(sorted(names))


def _oneof(fd: FieldDescriptor) -> str:
    assert fd.containing_oneof is not None
    return ", ".join(f.name for f in fd.containing_oneof.fields)
