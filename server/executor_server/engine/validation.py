"""Checks a whole plan before anything runs, and compiles it into its runtime Program.

Every problem is collected (not only the first) as a FieldViolation whose path uses the
wire's field names, so a client can point at the exact field.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from jsonschema_rs import Draft202012Validator as Validator
from jsonschema_rs import ValidationError

from executor_server.domain.errors import FieldViolation, InvalidArgument
from executor_server.domain.limits import MAX_JSON_DEPTH, MAX_PROMPT_CHARS, MAX_WAIT_SECONDS
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    ExecutionOptions,
    ResourceLimits,
    RetryPolicy,
    TimeoutPolicy,
)
from executor_server.engine import references
from executor_server.engine.conditions import Condition, ConditionError, compile_condition
from executor_server.engine.policy import MAX_ATTEMPTS_LIMIT
from executor_server.engine.program import Program, build_program
from executor_server.engine.references import Template
from executor_server.engine.secrets import (
    declares_write_only,
    find_secrets,
    has_secret,
    write_only_values,
)
from executor_server.engine.sizes import NotJson, TooDeep, TooLarge, json_size
from executor_server.engine.waits import Gate, SignalWait, SleepWait, Wait
from executor_server.tools.protocol import Tool
from executor_server.tools.registry import ToolRegistry

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
SIGNAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
MAX_CONCURRENT_STEPS_LIMIT = 10_000


_OUTSIDE_REFERENCE = re.compile(r"Resource '(.*?)' is not present in a registry", re.DOTALL)


@lru_cache(maxsize=1024)
def _compile(schema_json: str) -> Validator:
    # Checks the schema against its meta-schema. `offline`: a `$ref` is resolved within the
    # schema only; fetching one (http:, file:) would let any caller reach the server's
    # network and files and read the answers back from the error.
    try:
        return Validator(json.loads(schema_json), offline=True)
    except ValidationError as exc:
        outside = _OUTSIDE_REFERENCE.search(exc.message)
        if outside is None:
            raise
        raise SchemaError(
            f"$ref {outside.group(1)[:200]!r} points outside the schema; only references "
            "within it ('#...') resolve"
        ) from None


class SchemaError(ValueError):
    """A schema that cannot be compiled; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def carries_schemas(plan_steps: Iterable[ActionStep]) -> bool:
    """Whether steps bring JSON Schemas of their own: compiling those is CPU work sized by
    the request, best done off the event loop."""
    return any(
        step.validation_rules
        or (step.wait_for_signal is not None and step.wait_for_signal.payload_schema)
        for step in plan_steps
    )


# Tool schemas are checked on every attempt: remember them by identity, so the hot path
# neither serialises nor re-checks a schema it has seen.
_by_identity: dict[int, tuple[Mapping[str, Any], Validator]] = {}


def compile_schema(schema: Mapping[str, Any]) -> Validator:
    """A JSON Schema 2020-12 validator for `schema`, shared by every identical schema.

    Raises jsonschema_rs.ValidationError when `schema` is not a valid schema, SchemaError
    when it refers outside itself.
    """
    known = _by_identity.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    validator = _compile(json.dumps(schema, sort_keys=True))
    if len(_by_identity) < 4096:  # plans bring schemas too; keep the memo bounded
        _by_identity[id(schema)] = (schema, validator)
    return validator


@dataclass(frozen=True, slots=True)
class OutputRule:
    description: str
    validator: Validator


class _Collector:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def duration(self, field: str, value: timedelta | None, *, positive: bool = False) -> None:
        if value is None:
            return
        if value < timedelta(0):
            self.add(field, "must not be negative")
        elif positive and value == timedelta(0):
            self.add(field, "must be positive")

    def wait(self, field: str, value: timedelta | None) -> float | None:
        """A wait's length in seconds: positive and at most MAX_WAIT_SECONDS."""
        if value is None:
            return None
        seconds = value.total_seconds()
        if not 0 < seconds <= MAX_WAIT_SECONDS:
            self.add(field, f"must be positive and at most {MAX_WAIT_SECONDS // 86400} days")
        return seconds

    def retry_policy(self, field: str, policy: RetryPolicy | None) -> None:
        if policy is None:
            return
        if policy.max_attempts is not None and not 1 <= policy.max_attempts <= MAX_ATTEMPTS_LIMIT:
            self.add(f"{field}.max_attempts", f"must be between 1 and {MAX_ATTEMPTS_LIMIT}")
        self.duration(f"{field}.initial_backoff", policy.initial_backoff)
        self.duration(f"{field}.max_backoff", policy.max_backoff)
        multiplier = policy.backoff_multiplier
        if multiplier is not None and not 1 <= multiplier < math.inf:  # NaN fails too
            self.add(f"{field}.backoff_multiplier", "must be a finite number of at least 1")
        if policy.jitter is not None and not 0 <= policy.jitter <= 1:
            self.add(f"{field}.jitter", "must be between 0 and 1")
        if (
            policy.initial_backoff is not None
            and policy.max_backoff is not None
            and policy.max_backoff < policy.initial_backoff
        ):
            self.add(f"{field}.max_backoff", "must not be less than initial_backoff")

    def timeout_policy(self, field: str, policy: TimeoutPolicy) -> None:
        self.duration(f"{field}.default_step_timeout", policy.default_step_timeout, positive=True)
        multiplier = policy.expected_duration_multiplier
        if multiplier is not None and not 0 < multiplier < math.inf:  # NaN fails too
            self.add(f"{field}.expected_duration_multiplier", "must be a positive finite number")

    def arguments(self, field: str, tool: Tool, arguments: Mapping[str, Any]) -> None:
        """Check arguments against the tool's input schema. A value that is a reference (to
        a step's output or a secret) is only known when the step starts, so errors about it
        wait until then."""
        validator = compile_schema(tool.spec.input_schema)
        if validator.is_valid(arguments):
            return
        for error in validator.iter_errors(arguments):
            if references.has_reference(error.instance) or has_secret(error.instance):
                continue
            path = ".".join(str(p) for p in error.instance_path)
            self.add(f"{field}.{path}" if path else field, error.message)

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)


def validate_options(options: ExecutionOptions, field: str = "options") -> None:
    """Raises InvalidArgument naming every nonsensical option."""
    check = _Collector()
    _check_options(check, options, field)
    check.raise_if_any()


def validate_limits(limits: ResourceLimits, field: str) -> None:
    """Raises InvalidArgument naming a nonsensical limit."""
    check = _Collector()
    check.duration(f"{field}.max_execution_time", limits.max_execution_time, positive=True)
    check.raise_if_any()


def _check_options(check: _Collector, options: ExecutionOptions, field: str) -> None:
    if options.max_concurrent_steps > MAX_CONCURRENT_STEPS_LIMIT:
        check.add(f"{field}.max_concurrent_steps", f"must be at most {MAX_CONCURRENT_STEPS_LIMIT}")
    limits = options.resource_limits
    check.duration(
        f"{field}.resource_limits.max_execution_time", limits.max_execution_time, positive=True
    )
    check.timeout_policy(f"{field}.timeout_policy", options.timeout_policy)
    check.retry_policy(f"{field}.retry_policy", options.retry_policy)


def validate_plan(plan: ActionPlan, options: ExecutionOptions, tools: ToolRegistry) -> Program:
    """Check everything about `plan` that can be known before it runs, and compile it.

    Raises InvalidArgument with one FieldViolation per problem.
    """
    check = _Collector()
    _check_options(check, options, "options")
    if not UUID.match(plan.id):
        check.add("plan.id", f"{plan.id!r} is not a UUID")
    if not plan.steps:
        check.add("plan.steps", "a plan needs at least one step")

    index: dict[str, int] = {}
    for i, step in enumerate(plan.steps):
        field = f"plan.steps[{i}]"
        if not UUID.match(step.id):
            check.add(f"{field}.id", f"{step.id!r} is not a UUID")
        elif step.id in index:
            check.add(f"{field}.id", f"duplicate step id {step.id!r}")
        else:
            index[step.id] = i
    for i, step in enumerate(plan.steps):
        if not step.name:
            continue
        field = f"plan.steps[{i}].name"
        if not NAME.match(step.name):
            check.add(field, f"{step.name!r} must be a letter or _ then up to 127 of [A-Za-z0-9_-]")
        elif step.name in index:
            other = index[step.name]
            what = "name" if plan.steps[other].name == step.name else "id"
            check.add(field, f"duplicate step name {step.name!r} (the {what} of steps[{other}])")
        else:
            index[step.name] = i

    dependencies: list[tuple[int, ...]] = []
    tools_by_step: list[Tool | None] = []
    rules: list[tuple[OutputRule, ...]] = []
    waits: list[Wait | None] = []
    awaited: dict[str, int] = {}
    for i, step in enumerate(plan.steps):
        step_deps, tool, step_rules = _check_step(check, step, f"plan.steps[{i}]", index, tools)
        dependencies.append(tuple(sorted(set(step_deps))))
        tools_by_step.append(tool)
        rules.append(step_rules)
        waits.append(_check_wait(check, step, f"plan.steps[{i}]"))
        signal = step.wait_for_signal
        if signal is not None and SIGNAL_NAME.match(signal.name):
            if signal.name in awaited:
                check.add(
                    f"plan.steps[{i}].wait_for_signal.name",
                    f"signal {signal.name!r} is awaited by steps[{awaited[signal.name]}] "
                    "already; each signal is awaited by one step",
                )
            awaited.setdefault(signal.name, i)
        if i in step_deps:
            check.add(f"plan.steps[{i}].dependencies", "a step cannot depend on itself")

    order_ok = True
    for cycle in _cycles(dependencies):
        order_ok = False
        names = " → ".join(plan.steps[j].label for j in [*cycle, cycle[0]])
        check.add("plan.steps", f"dependency cycle: {names}")
    conditions = _compile_conditions(check, plan, index, dependencies, order_ok)
    if order_ok:
        _check_references(check, plan, index, dependencies)
        _check_fan_outs(check, plan, index, dependencies)
    check.raise_if_any()

    return build_program(
        plan,
        options,
        index=index,
        dependencies=dependencies,
        tools=tools_by_step,
        output_rules=rules,
        compensation_tools=[
            tools.get(s.compensation.tool_name) if s.compensation else None for s in plan.steps
        ],
        conditions=conditions,
        waits=waits,
    )


def _check_fan_outs(
    check: _Collector,
    plan: ActionPlan,
    index: Mapping[str, int],
    dependencies: list[tuple[int, ...]],
) -> None:
    """`for_each.items` is a whole reference to an ancestor's output; only a for_each step
    may use `${item}` and `${item_index}`."""
    for i, step in enumerate(plan.steps):
        field = f"plan.steps[{i}]"
        fan_out = step.for_each
        for where, call in (
            ("tool_execution", step.tool_execution),
            ("compensation", step.compensation),
        ):
            if fan_out is None and call is not None:
                found = references.find_all(call.arguments)
                if references.ITEM in found or references.ITEM_INDEX in found:
                    check.add(
                        f"{field}.{where}.arguments",
                        "${item} and ${item_index} are only defined in a for_each step",
                    )
        if fan_out is None:
            continue
        if step.waits:
            check.add(
                f"{field}.for_each",
                "a for_each step runs its tool per element: it cannot also have an approval, "
                "wait_for_signal or sleep",
            )
        if fan_out.max_parallel < 0 or fan_out.max_parallel > MAX_CONCURRENT_STEPS_LIMIT:
            check.add(
                f"{field}.for_each.max_parallel", f"must be at most {MAX_CONCURRENT_STEPS_LIMIT}"
            )
        whole = references.REFERENCE.fullmatch(fan_out.items)
        if whole is None or whole.group(1) is None:
            check.add(
                f"{field}.for_each.items",
                "must be one reference to a step's output, like ${steps.search.output.pages}",
            )
            continue
        ref = whole.group(1)
        if ref not in index:
            check.add(f"{field}.for_each.items", f"references unknown step {ref[:128]!r}")
        elif index[ref] not in _ancestors(i, dependencies):
            check.add(
                f"{field}.for_each.items",
                f"references step {ref!r}, which is not among its dependencies",
            )


def _compile_conditions(
    check: _Collector,
    plan: ActionPlan,
    index: Mapping[str, int],
    dependencies: list[tuple[int, ...]],
    order_ok: bool,
) -> list[Condition | None]:
    """Each step's `when`, compiled; the steps it reads must be its ancestors."""
    conditions: list[Condition | None] = []
    for i, step in enumerate(plan.steps):
        if not step.when:
            conditions.append(None)
            continue
        field = f"plan.steps[{i}].when"
        try:
            condition = compile_condition(step.when)
        except ConditionError as exc:
            check.add(field, exc.message)
            conditions.append(None)
            continue
        conditions.append(condition)
        ancestors = _ancestors(i, dependencies) if order_ok else set()
        for ref in sorted(condition.steps):
            if ref not in index:
                check.add(field, f"reads unknown step {ref[:128]!r}")
            elif order_ok and index[ref] not in ancestors:
                check.add(field, f"reads step {ref!r}, which is not among its dependencies")
    return conditions


def validate_step(
    step: ActionStep, known_outputs: Iterable[str], tools: ToolRegistry
) -> tuple[Tool, tuple[OutputRule, ...]]:
    """Check one step run outside a plan; its references must name `known_outputs`."""
    check = _Collector()
    if not UUID.match(step.id):
        check.add("step.id", f"{step.id!r} is not a UUID")
    if step.dependencies:
        check.add("step.dependencies", "a step run on its own cannot have dependencies")
    if step.for_each is not None:
        check.add("step.for_each", "a step run on its own cannot fan out")
    if step.when:
        check.add("step.when", "a step run on its own has no condition")
    if step.waits:
        check.add("step", "a step run on its own cannot wait (approval, wait_for_signal, sleep)")
    _, tool, rules = _check_step(check, step, "step", {}, tools)
    known = set(known_outputs)
    if step.tool_execution is not None:
        for ref in sorted(references.find_references(step.tool_execution.arguments) - known):
            check.add(
                "step.tool_execution.arguments",
                f"references step {ref!r}, whose output is not in context.step_outputs",
            )
    check.raise_if_any()
    assert tool is not None  # a step without a known tool has a violation
    return tool, rules


def _check_step(
    check: _Collector,
    step: ActionStep,
    field: str,
    index: Mapping[str, int],
    tools: ToolRegistry,
) -> tuple[list[int], Tool | None, tuple[OutputRule, ...]]:
    deps: list[int] = []
    for j, dep in enumerate(step.dependencies):
        if dep in index:
            deps.append(index[dep])
        else:
            check.add(f"{field}.dependencies[{j}]", f"unknown step {dep!r}")
    check.duration(f"{field}.expected_duration", step.expected_duration)
    check.duration(f"{field}.timeout", step.timeout, positive=True)
    check.retry_policy(f"{field}.retry_policy", step.retry_policy)

    tool: Tool | None = None
    call = step.tool_execution
    kinds = [
        k
        for k, v in (
            ("tool_execution", call),
            ("wait_for_signal", step.wait_for_signal),
            ("sleep", step.sleep),
        )
        if v is not None
    ]
    if not kinds:
        check.add(f"{field}.tool_execution", "a step needs a tool_execution (or a wait)")
    elif len(kinds) > 1:
        check.add(field, f"a step does one thing; this one has {' and '.join(kinds)}")
    if call is not None:
        if (tool := tools.get(call.tool_name)) is None:
            check.add(f"{field}.tool_execution.tool_name", _unknown_tool(tools, call.tool_name))
        else:
            check.arguments(f"{field}.tool_execution.arguments", tool, call.arguments)

    rules: list[OutputRule] = []
    if tool is not None and tool.spec.output_schema is not None:
        schema = compile_schema(tool.spec.output_schema)
        rules.append(OutputRule(f"the output schema of tool {tool.spec.name!r}", schema))
    for j, rule in enumerate(step.validation_rules):
        rule_field = f"{field}.validation_rules[{j}]"
        if rule.json_schema is None:
            check.add(rule_field, "a rule needs a json_schema")
            continue
        try:
            validator = compile_schema(rule.json_schema)
        except (ValidationError, SchemaError) as exc:
            check.add(f"{rule_field}.json_schema", f"not a valid JSON Schema: {exc.message}")
            continue
        rules.append(OutputRule(rule.description or f"validation_rules[{j}]", validator))

    if step.compensation is not None:
        comp = step.compensation
        comp_tool = tools.get(comp.tool_name)
        if comp_tool is None:
            check.add(f"{field}.compensation.tool_name", _unknown_tool(tools, comp.tool_name))
        else:
            check.arguments(f"{field}.compensation.arguments", comp_tool, comp.arguments)
        check.retry_policy(f"{field}.compensation.retry_policy", comp.retry_policy)
        check.duration(f"{field}.compensation.timeout", comp.timeout, positive=True)
    return deps, tool, tuple(rules)


def _check_wait(check: _Collector, step: ActionStep, field: str) -> Wait | None:
    """Check what the step waits for and compile it."""
    gate, signal, sleep = step.approval, step.wait_for_signal, step.sleep
    if step.tool_execution is None and (signal is not None or sleep is not None):
        kind = "wait_for_signal" if signal is not None else "sleep"
        for part, present in (
            ("approval", gate is not None),
            ("compensation", step.compensation is not None),
            ("validation_rules", bool(step.validation_rules)),
            ("retry_policy", step.retry_policy is not None),
            ("timeout", step.timeout is not None),
            ("expected_duration", step.expected_duration is not None),
        ):
            if present:
                hint = " (its wait's is wait_for_signal.timeout)" if part == "timeout" else ""
                if kind == "sleep":
                    hint = ""
                check.add(
                    f"{field}.{part}", f"a {kind} step runs no tool, so it takes no {part}{hint}"
                )
    if gate is not None and step.tool_execution is not None:
        where = f"{field}.approval"
        if len(gate.prompt) > MAX_PROMPT_CHARS:
            check.add(f"{where}.prompt", f"longer than {MAX_PROMPT_CHARS} characters")
        if find_secrets(gate.prompt):
            check.add(f"{where}.prompt", "a prompt cannot use secrets: people read it")
        return Gate(
            prompt=Template(gate.prompt),
            timeout=check.wait(f"{where}.timeout", gate.timeout),
            on_timeout=gate.on_timeout,
            allow_edit=gate.allow_edit,
        )
    if signal is not None:
        where = f"{field}.wait_for_signal"
        if not SIGNAL_NAME.match(signal.name):
            check.add(
                f"{where}.name",
                f"{signal.name[:140]!r} must be a letter or _ then up to 127 of [A-Za-z0-9_.-]",
            )
        payload: Validator | None = None
        if signal.payload_schema is not None:
            try:
                payload = compile_schema(signal.payload_schema)
            except (ValidationError, SchemaError) as exc:
                check.add(f"{where}.payload_schema", f"not a valid JSON Schema: {exc.message}")
        return SignalWait(signal.name, check.wait(f"{where}.timeout", signal.timeout), payload)
    if sleep is not None:
        where = f"{field}.sleep"
        if (sleep.duration is None) == (sleep.until is None):
            check.add(where, "needs exactly one of duration and until")
        until = sleep.until
        if until is not None and not (0 <= until <= time.time() + MAX_WAIT_SECONDS):
            check.add(
                f"{where}.until", f"must be at most {MAX_WAIT_SECONDS // 86400} days from now"
            )
        return SleepWait(check.wait(f"{where}.duration", sleep.duration), until)
    return None


def _unknown_tool(tools: ToolRegistry, name: str) -> str:
    why = tools.disabled.get(name)
    if why is not None:
        return f"tool {name!r} is disabled on this server: {why}"
    return f"unknown tool {name!r}"


def _check_references(
    check: _Collector,
    plan: ActionPlan,
    index: Mapping[str, int],
    dependencies: list[tuple[int, ...]],
) -> None:
    for i, step in enumerate(plan.steps):
        refs = (
            references.find_references(step.tool_execution.arguments)
            if step.tool_execution
            else set()
        )
        # A compensation may also use the output of its own step, as `self` or by name/id.
        own = {"self", step.id, step.name} - {""}
        comp_refs = (
            references.find_references(step.compensation.arguments) - own
            if step.compensation
            else set()
        )
        prompt_refs = references.find_references(step.approval.prompt) if step.approval else set()
        if not refs and not comp_refs and not prompt_refs:
            continue
        ancestors = _ancestors(i, dependencies)
        for where, found in (
            ("tool_execution.arguments", refs),
            ("compensation.arguments", comp_refs),
            ("approval.prompt", prompt_refs),
        ):
            field = f"plan.steps[{i}].{where}"
            for ref in sorted(found):
                if ref not in index:
                    check.add(field, f"references unknown step {ref!r}")
                elif index[ref] not in ancestors:
                    check.add(
                        field, f"references step {ref!r}, which is not among its dependencies"
                    )


def _ancestors(start: int, dependencies: list[tuple[int, ...]]) -> set[int]:
    seen: set[int] = set()
    queue = deque(dependencies[start])
    while queue:
        node = queue.popleft()
        if node not in seen:
            seen.add(node)
            queue.extend(dependencies[node])
    return seen


def _cycles(dependencies: list[tuple[int, ...]]) -> list[list[int]]:
    """One dependency loop per strongly connected group of steps, as positions in run
    order (each step depends on the one before it, the first on the last).

    Tarjan's algorithm, iterative so a 100,000-step chain does not hit the recursion limit.
    """
    count = len(dependencies)
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    stack: list[int] = []
    groups: list[list[int]] = []
    counter = 0
    for root in range(count):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            deps = dependencies[node]
            descended = False
            while edge < len(deps):
                nxt = deps[edge]
                edge += 1
                if nxt == node:
                    continue  # a self-dependency is reported on its own
                if index[nxt] == -1:
                    work.append((node, edge))
                    work.append((nxt, 0))
                    descended = True
                    break
                if on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
            if descended:
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return [_loop_within(sorted(group), dependencies) for group in sorted(groups, key=min)]


def _loop_within(group: list[int], dependencies: list[tuple[int, ...]]) -> list[int]:
    """A simple loop inside one strongly connected group, from its first step."""
    members = set(group)
    path: list[int] = []
    position: dict[int, int] = {}
    node = group[0]
    while node not in position:
        position[node] = len(path)
        path.append(node)
        node = min(d for d in dependencies[node] if d in members and d != node)
    return list(reversed(path[position[node] :]))


# ------------------------------------------------------------------ what waiting steps get


def _json_within(field: str, value: Any, max_bytes: int) -> None:
    """Raises InvalidArgument when `value` is not JSON, nests too deep or is too large."""
    try:
        json_size(value, max_bytes)
    except NotJson:
        why = "must be JSON"
    except TooDeep:
        why = f"nests deeper than {MAX_JSON_DEPTH} levels"
    except TooLarge:
        why = f"larger than {max_bytes:,} bytes as JSON"
    else:
        return
    raise InvalidArgument([FieldViolation(field, why)], reason="INVALID_REQUEST")


def _schema_violations(field: str, validator: Validator, value: Any) -> list[FieldViolation]:
    violations = []
    for error in validator.iter_errors(value):
        path = ".".join(str(p) for p in error.instance_path)
        violations.append(FieldViolation(f"{field}.{path}" if path else field, error.message))
        if len(violations) == 50:
            break
    return violations


def validate_edited_arguments(tool: Tool, arguments: Any, max_bytes: int) -> None:
    """Arguments an approver gives a step instead of its own: JSON within `max_bytes` that
    the tool's input schema accepts, setting none of its write-only properties (taken as
    they are: no reference or secret is resolved).
    Raises InvalidArgument with a field violation per problem."""
    _json_within("arguments", arguments, max_bytes)
    schema = tool.spec.input_schema
    violations = _schema_violations("arguments", compile_schema(schema), arguments)
    if declares_write_only(schema) and write_only_values(schema, arguments):
        # The decision is journaled as given, and a write-only value never may be.
        violations.append(
            FieldViolation(
                "arguments",
                f"sets write-only arguments of tool {tool.spec.name!r}, which a decision "
                "cannot carry (it is journaled); keep the step's own",
            )
        )
    if violations:
        raise InvalidArgument(violations, reason="INVALID_ARGUMENTS")


def validate_signal_payload(wait: SignalWait, payload: Any, max_bytes: int) -> None:
    """A signal's payload: JSON within `max_bytes` that its payload_schema accepts.
    Raises InvalidArgument."""
    _json_within("payload", payload, max_bytes)
    if wait.payload is not None:
        violations = _schema_violations("payload", wait.payload, payload)
        if violations:
            raise InvalidArgument(violations, reason="INVALID_PAYLOAD")
