"""A validated plan compiled for running: everything a step start needs, in arrays.

Validation builds the program in the same pass that checks the plan (engine/validation.py),
so nothing here is recomputed when a step starts: step i's tool, argument template (its
reference slots already parsed), resolved retry policy and timeout, output checks,
dependencies and dependents, and how to undo it. The machine reads the hints it decides on
(idempotency, retry, the graph); the runner reads what it calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from executor_server.domain.models import ActionPlan, ExecutionOptions
from executor_server.domain.status import DependencyRule
from executor_server.engine.conditions import Condition
from executor_server.engine.policy import DEFAULT_MAX_CONCURRENT_STEPS, Retry, attempt_timeout
from executor_server.engine.references import Template
from executor_server.engine.waits import Wait
from executor_server.tools.protocol import CompensatingTool, Tool

if TYPE_CHECKING:
    from executor_server.engine.validation import OutputRule


@dataclass(frozen=True, slots=True)
class Undo:
    """How a completed step is compensated: a declared compensation, or its own tool's
    `compensate` (then `arguments` are the forward ones, and it gets the output too)."""

    tool: Tool
    arguments: Template
    retry: Retry
    timeout: float
    #: The step's own tool undoes the call (CompensatingTool.compensate).
    by_tool: bool

    @property
    def idempotent(self) -> bool:
        return self.tool.spec.idempotent


@dataclass(frozen=True, slots=True)
class FanOut:
    """A for_each step: where its elements come from, and how many run at once."""

    items: Template  # a whole-string reference
    max_parallel: int  # within the plan's concurrency


@dataclass(frozen=True, slots=True)
class Program:
    """Step i of the plan is position i of every array."""

    plan: ActionPlan
    options: ExecutionOptions
    index: Mapping[str, int]  # id and name -> position
    dependencies: tuple[tuple[int, ...], ...]
    dependents: tuple[tuple[int, ...], ...]
    #: None for a step that only waits (a signal, a sleep): it never runs an attempt.
    tools: tuple[Tool | None, ...]
    arguments: tuple[Template, ...]
    retry: tuple[Retry, ...]
    timeout: tuple[float, ...]  # seconds per attempt
    #: What each step's output must satisfy: its tool's output schema, then its own rules.
    output_rules: tuple[tuple[OutputRule, ...], ...]
    undo: tuple[Undo | None, ...]
    idempotent: tuple[bool, ...]
    #: Each step's `when`, compiled; None when it has none.
    conditions: tuple[Condition | None, ...]
    rules: tuple[DependencyRule, ...]
    #: Some step runs even after a failure (DependencyRule.ALL_DONE).
    has_cleanup: bool
    #: Each for_each step's element list and parallelism; None for other steps.
    fan_outs: tuple[FanOut | None, ...]
    concurrency: int
    #: What each step waits for once it is ready (a gate, a signal, a sleep), if anything.
    waits: tuple[Wait | None, ...]
    #: The step that waits for each signal name.
    signals: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.plan.steps)

    @property
    def plan_id(self) -> str:
        return self.plan.id


def build_program(
    plan: ActionPlan,
    options: ExecutionOptions,
    *,
    index: Mapping[str, int],
    dependencies: Sequence[tuple[int, ...]],
    tools: Sequence[Tool | None],
    output_rules: Sequence[tuple[OutputRule, ...]],
    compensation_tools: Sequence[Tool | None],
    waits: Sequence[Wait | None] | None = None,
    conditions: Sequence[Condition | None] | None = None,
) -> Program:
    """Compile a plan whose every part validation has checked."""
    dependents: list[list[int]] = [[] for _ in plan.steps]
    for i, deps in enumerate(dependencies):
        for d in deps:
            dependents[d].append(i)
    plan_retry = Retry.resolve(options.retry_policy)
    retries: list[Retry] = []
    timeouts: list[float] = []
    templates: list[Template] = []
    undos: list[Undo | None] = []
    for i, step in enumerate(plan.steps):
        tool = tools[i]
        own = step.retry_policy
        retry = plan_retry if own is None else Retry.resolve(own, options.retry_policy)
        timeout = attempt_timeout(
            step_timeout=step.timeout,
            expected_duration=step.expected_duration,
            tool_default=tool.spec.default_timeout if tool is not None else None,
            policy=options.timeout_policy,
        )
        call = step.tool_execution
        template = Template(call.arguments if call is not None else {})
        retries.append(retry)
        timeouts.append(timeout)
        templates.append(template)
        declared, undo_tool = step.compensation, compensation_tools[i]
        if declared is not None and undo_tool is not None:
            undos.append(
                Undo(
                    tool=undo_tool,
                    arguments=Template(declared.arguments),
                    retry=Retry.resolve(
                        declared.retry_policy, step.retry_policy, options.retry_policy
                    ),
                    timeout=declared.timeout.total_seconds() if declared.timeout else timeout,
                    by_tool=False,
                )
            )
        elif tool is not None and tool.spec.compensable and isinstance(tool, CompensatingTool):
            undos.append(Undo(tool, template, retry, timeout, by_tool=True))
        else:
            undos.append(None)
    step_waits = tuple(waits) if waits is not None else (None,) * len(plan.steps)
    signals = {
        s.wait_for_signal.name: i for i, s in enumerate(plan.steps) if s.wait_for_signal is not None
    }
    rules = tuple(step.dependency_rule for step in plan.steps)
    concurrency = options.max_concurrent_steps or DEFAULT_MAX_CONCURRENT_STEPS
    return Program(
        plan=plan,
        options=options,
        index=index,
        dependencies=tuple(dependencies),
        dependents=tuple(tuple(d) for d in dependents),
        tools=tuple(tools),
        arguments=tuple(templates),
        retry=tuple(retries),
        timeout=tuple(timeouts),
        output_rules=tuple(output_rules),
        undo=tuple(undos),
        # A step without a tool never runs an attempt; the hint is moot there.
        idempotent=tuple(t.spec.idempotent if t is not None else True for t in tools),
        conditions=tuple(conditions) if conditions is not None else (None,) * len(plan.steps),
        rules=rules,
        has_cleanup=DependencyRule.ALL_DONE in rules,
        fan_outs=tuple(
            FanOut(Template(s.for_each.items), s.for_each.max_parallel or concurrency)
            if s.for_each is not None
            else None
            for s in plan.steps
        ),
        concurrency=concurrency,
        waits=step_waits,
        signals=signals,
    )
