"""Unit and property tests of plan validation (engine/validation.py)."""

import itertools
import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from executor_server.domain.errors import FieldViolation, InvalidArgument
from executor_server.domain.models import (
    ActionPlan,
    ActionStep,
    Compensation,
    ExecutionOptions,
    ResourceLimits,
    RetryPolicy,
    TimeoutPolicy,
    ToolExecution,
    ValidationRule,
)
from executor_server.engine.program import Program
from executor_server.engine.validation import (
    _cycles,
    validate_options,
    validate_plan,
    validate_step,
)
from executor_server.tools.builtins import Echo, Fail, Sleep
from executor_server.tools.registry import ToolRegistry

TOOLS = ToolRegistry([Echo(), Sleep(), Fail()])
PLAN_ID = "11111111-2222-4333-8444-555555555555"
OPTIONS = ExecutionOptions()


def sid(i: int) -> str:
    """A well-formed, deterministic step id (starts with a digit, so it is never a NAME)."""
    return str(uuid.UUID(int=i + 1))


def step(
    i: int,
    name: str = "",
    *,
    tool: str | None = "echo",
    args: dict[str, Any] | None = None,
    deps: tuple[str, ...] = (),
    **kwargs: Any,
) -> ActionStep:
    call = ToolExecution(tool_name=tool, arguments=args or {}) if tool is not None else None
    return ActionStep(
        id=kwargs.pop("id", sid(i)),
        name=name,
        tool_execution=call,
        dependencies=deps,
        **kwargs,
    )


def plan(*steps: ActionStep, plan_id: str = PLAN_ID) -> ActionPlan:
    return ActionPlan(id=plan_id, steps=steps)


def violations(p: ActionPlan, options: ExecutionOptions = OPTIONS) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as info:
        validate_plan(p, options, TOOLS)
    assert info.value.reason == "INVALID_PLAN"
    assert info.value.violations, "InvalidArgument without violations"
    return info.value.violations


def fields(p: ActionPlan, options: ExecutionOptions = OPTIONS) -> list[str]:
    return [v.field for v in violations(p, options)]


def only(p: ActionPlan, options: ExecutionOptions = OPTIONS) -> FieldViolation:
    found = violations(p, options)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ valid plans


def test_valid_diamond_plan_compiles_with_indexes() -> None:
    a = step(0, "a")
    b = step(1, "b", deps=("a",))
    c = step(2, "c", deps=(sid(0),))
    d = step(3, "d", tool="sleep", args={"seconds": 0}, deps=("c", "b", sid(1)))
    graph = validate_plan(plan(a, b, c, d), OPTIONS, TOOLS)

    assert isinstance(graph, Program)
    assert len(graph) == 4
    assert graph.dependencies == ((), (0,), (0,), (1, 2))
    assert graph.dependents == ((1, 2), (3,), (3,), ())
    for i, name in enumerate("abcd"):
        assert graph.index[name] == i
        assert graph.index[sid(i)] == i
    assert len(graph.index) == 8
    assert [t.spec.name if t else "" for t in graph.tools] == ["echo", "echo", "echo", "sleep"]
    # every step's output is checked against its tool's output schema
    assert [[r.description for r in rules] for rules in graph.output_rules] == [
        ["the output schema of tool 'echo'"]
    ] * 3 + [["the output schema of tool 'sleep'"]]
    assert graph.plan.steps[3] is d


def test_unnamed_steps_are_indexed_by_id_only() -> None:
    graph = validate_plan(plan(step(0), step(1, deps=(sid(0),))), OPTIONS, TOOLS)
    assert dict(graph.index) == {sid(0): 0, sid(1): 1}
    assert graph.dependencies == ((), (0,))


def test_duplicate_dependency_by_id_and_name_counts_once() -> None:
    graph = validate_plan(plan(step(0, "a"), step(1, deps=("a", sid(0), "a"))), OPTIONS, TOOLS)
    assert graph.dependencies == ((), (0,))
    assert graph.dependents == ((1,), ())


def test_validation_rules_compile_into_output_rules() -> None:
    rules = (
        ValidationRule(json_schema={"type": "object"}, description="an object"),
        ValidationRule(json_schema={"required": ["x"]}),
    )
    graph = validate_plan(plan(step(0, validation_rules=rules)), OPTIONS, TOOLS)
    (compiled,) = graph.output_rules
    assert [r.description for r in compiled] == [
        "the output schema of tool 'echo'",
        "an object",
        "validation_rules[1]",
    ]
    assert compiled[1].validator.is_valid({})
    assert not compiled[1].validator.is_valid([])
    assert not compiled[2].validator.is_valid({"y": 1})


# ------------------------------------------------------------------ structure


def test_plan_without_steps() -> None:
    v = only(plan())
    assert v.field == "plan.steps"
    assert "at least one step" in v.description


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "11111111-2222-4333-8444-55555555555", "x" * 36])
def test_malformed_plan_id(bad: str) -> None:
    assert fields(plan(step(0), plan_id=bad)) == ["plan.id"]


def test_malformed_step_id() -> None:
    v = only(plan(step(0), step(1, id="step-2"), step(2)))
    assert v.field == "plan.steps[1].id"
    assert "'step-2'" in v.description


def test_duplicate_step_ids() -> None:
    v = only(plan(step(0), step(1), step(2, id=sid(0))))
    assert v.field == "plan.steps[2].id"
    assert "duplicate" in v.description


def test_duplicate_step_names() -> None:
    v = only(plan(step(0, "same"), step(1, "other"), step(2, "same")))
    assert v.field == "plan.steps[2].name"
    assert "duplicate step name 'same'" in v.description
    assert "name of steps[0]" in v.description


def test_name_equal_to_another_steps_id() -> None:
    letter_id = "abcdef01-2345-4789-abcd-ef0123456789"  # a UUID that is also a valid NAME
    v = only(plan(step(0, id=letter_id), step(1, name=letter_id)))
    assert v.field == "plan.steps[1].name"
    assert "id of steps[0]" in v.description


@pytest.mark.parametrize("bad", ["1abc", "has space", "dot.name", "a/b", "é", "-x", "a" * 129])
def test_bad_name_characters(bad: str) -> None:
    assert fields(plan(step(0, bad))) == ["plan.steps[0].name"]


@pytest.mark.parametrize("good", ["a", "_", "A-b_9", "a" * 128])
def test_good_names(good: str) -> None:
    graph = validate_plan(plan(step(0, good)), OPTIONS, TOOLS)
    assert graph.index[good] == 0


def test_unknown_dependency() -> None:
    v = only(plan(step(0, "a"), step(1, deps=("a", "nope"))))
    assert v.field == "plan.steps[1].dependencies[1]"
    assert "'nope'" in v.description


@pytest.mark.parametrize("by", ["name", "id"])
def test_self_dependency(by: str) -> None:
    me = "me" if by == "name" else sid(0)
    v = only(plan(step(0, "me", deps=(me,))))
    assert v.field == "plan.steps[0].dependencies"
    assert "itself" in v.description


def test_unknown_tool() -> None:
    v = only(plan(step(0, tool="no-such-tool")))
    assert v.field == "plan.steps[0].tool_execution.tool_name"
    assert "'no-such-tool'" in v.description


def test_missing_tool_execution() -> None:
    assert fields(plan(step(0), step(1, tool=None))) == ["plan.steps[1].tool_execution"]


# ------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"seconds": -1}, "plan.steps[1].tool_execution.arguments.seconds"),
        ({"seconds": "soon"}, "plan.steps[1].tool_execution.arguments.seconds"),
        ({}, "plan.steps[1].tool_execution.arguments"),
        ({"seconds": 1, "extra": True}, "plan.steps[1].tool_execution.arguments"),
    ],
)
def test_arguments_failing_the_input_schema(args: dict[str, Any], field: str) -> None:
    assert fields(plan(step(0), step(1, tool="sleep", args=args))) == [field]


def test_arguments_every_schema_error_reported() -> None:
    args = {"error_type": "NOPE", "succeed_on_attempt": -2, "retryable": "yes"}
    got = sorted(fields(plan(step(0, tool="fail", args=args))))
    prefix = "plan.steps[0].tool_execution.arguments."
    assert got == [prefix + "error_type", prefix + "retryable", prefix + "succeed_on_attempt"]


@pytest.mark.parametrize("ref", ["a", sid(0)])
def test_whole_string_reference_is_not_a_schema_error(ref: str) -> None:
    args = {"seconds": f"${{steps.{ref}.output.n}}"}
    graph = validate_plan(
        plan(step(0, "a"), step(1, tool="sleep", args=args, deps=("a",))), OPTIONS, TOOLS
    )
    assert graph.dependencies == ((), (0,))


def test_reference_does_not_hide_other_schema_errors() -> None:
    args = {"seconds": "${steps.a.output.n}", "extra": 1}
    p = plan(step(0, "a"), step(1, tool="sleep", args=args, deps=("a",)))
    assert fields(p) == ["plan.steps[1].tool_execution.arguments"]


def test_reference_to_a_step_that_is_not_a_dependency() -> None:
    p = plan(step(0, "a"), step(1, "b", args={"x": "${steps.a.output}"}))
    v = only(p)
    assert v.field == "plan.steps[1].tool_execution.arguments"
    assert "'a'" in v.description
    assert "not among its dependencies" in v.description


def test_reference_to_a_later_step_that_is_not_a_dependency() -> None:
    p = plan(step(0, "a", args={"x": {"deep": ["${steps.b.output}"]}}), step(1, "b"))
    assert fields(p) == ["plan.steps[0].tool_execution.arguments"]


def test_reference_to_itself() -> None:
    assert fields(plan(step(0, "a", args={"x": "${steps.a.output}"}))) == [
        "plan.steps[0].tool_execution.arguments"
    ]


def test_reference_to_an_unknown_step() -> None:
    p = plan(step(0, "a"), step(1, args={"x": "pre ${steps.ghost.output.y} post"}, deps=("a",)))
    v = only(p)
    assert v.field == "plan.steps[1].tool_execution.arguments"
    assert "unknown step 'ghost'" in v.description


def test_reference_to_a_transitive_dependency_is_fine() -> None:
    p = plan(
        step(0, "a"),
        step(1, "b", deps=("a",)),
        step(2, "c", tool="sleep", args={"seconds": "${steps.a.output.n}"}, deps=("b",)),
    )
    graph = validate_plan(p, OPTIONS, TOOLS)
    assert graph.dependencies == ((), (0,), (1,))


# ------------------------------------------------------------------ durations and policies


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"expected_duration": timedelta(seconds=-1)}, "expected_duration", "negative"),
        ({"timeout": timedelta(seconds=-1)}, "timeout", "negative"),
        ({"timeout": timedelta(0)}, "timeout", "positive"),
    ],
)
def test_bad_step_durations(kwargs: dict[str, Any], field: str, words: str) -> None:
    v = only(plan(step(0, **kwargs)))
    assert v.field == f"plan.steps[0].{field}"
    assert words in v.description


def test_zero_expected_duration_is_fine() -> None:
    validate_plan(plan(step(0, expected_duration=timedelta(0))), OPTIONS, TOOLS)


BAD_RETRY = [
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": 101}, "max_attempts"),
    ({"max_attempts": -5}, "max_attempts"),
    ({"backoff_multiplier": 0.99}, "backoff_multiplier"),
    ({"jitter": -0.01}, "jitter"),
    ({"jitter": 1.01}, "jitter"),
    ({"initial_backoff": timedelta(seconds=-1)}, "initial_backoff"),
    ({"max_backoff": timedelta(seconds=-1)}, "max_backoff"),
    (
        {"initial_backoff": timedelta(seconds=5), "max_backoff": timedelta(seconds=4)},
        "max_backoff",
    ),
]
GOOD_RETRY = [
    {"max_attempts": 1},
    {"max_attempts": 100},
    {"backoff_multiplier": 1.0},
    {"jitter": 0.0},
    {"jitter": 1.0},
    {"initial_backoff": timedelta(0), "max_backoff": timedelta(0)},
    {"initial_backoff": timedelta(seconds=5), "max_backoff": timedelta(seconds=5)},
]


@pytest.mark.parametrize(("policy", "field"), BAD_RETRY)
def test_bad_plan_retry_policy(policy: dict[str, Any], field: str) -> None:
    options = ExecutionOptions(retry_policy=RetryPolicy(**policy))
    assert fields(plan(step(0)), options) == [f"options.retry_policy.{field}"]


@pytest.mark.parametrize(("policy", "field"), BAD_RETRY)
def test_bad_step_retry_policy(policy: dict[str, Any], field: str) -> None:
    p = plan(step(0), step(1, retry_policy=RetryPolicy(**policy)))
    assert fields(p) == [f"plan.steps[1].retry_policy.{field}"]


@pytest.mark.parametrize(("policy", "field"), BAD_RETRY)
def test_bad_compensation_retry_policy(policy: dict[str, Any], field: str) -> None:
    comp = Compensation(tool_name="echo", retry_policy=RetryPolicy(**policy))
    p = plan(step(0, compensation=comp))
    assert fields(p) == [f"plan.steps[0].compensation.retry_policy.{field}"]


@pytest.mark.parametrize("policy", GOOD_RETRY)
def test_boundary_retry_policies_are_fine(policy: dict[str, Any]) -> None:
    options = ExecutionOptions(retry_policy=RetryPolicy(**policy))
    validate_plan(plan(step(0, retry_policy=RetryPolicy(**policy))), options, TOOLS)
    validate_options(options)


@pytest.mark.parametrize("multiplier", [0.0, -1.0])
def test_timeout_policy_multiplier_must_be_positive(multiplier: float) -> None:
    options = ExecutionOptions(
        timeout_policy=TimeoutPolicy(expected_duration_multiplier=multiplier)
    )
    v = only(plan(step(0)), options)
    assert v.field == "options.timeout_policy.expected_duration_multiplier"
    assert "positive" in v.description


@pytest.mark.parametrize("seconds", [0, -1])
def test_default_step_timeout_must_be_positive(seconds: int) -> None:
    options = ExecutionOptions(
        timeout_policy=TimeoutPolicy(default_step_timeout=timedelta(seconds=seconds))
    )
    assert fields(plan(step(0)), options) == ["options.timeout_policy.default_step_timeout"]


def test_other_option_limits() -> None:
    options = ExecutionOptions(
        max_concurrent_steps=10_001,
        resource_limits=ResourceLimits(max_execution_time=timedelta(0)),
    )
    assert sorted(fields(plan(step(0)), options)) == [
        "options.max_concurrent_steps",
        "options.resource_limits.max_execution_time",
    ]
    validate_options(ExecutionOptions(max_concurrent_steps=10_000))


def test_validate_options_uses_the_given_field_prefix() -> None:
    options = ExecutionOptions(retry_policy=RetryPolicy(jitter=2.0))
    with pytest.raises(InvalidArgument) as info:
        validate_options(options, field="context")
    assert [v.field for v in info.value.violations] == ["context.retry_policy.jitter"]
    validate_options(ExecutionOptions())


def test_nan_backoff_multiplier_is_rejected() -> None:
    options = ExecutionOptions(retry_policy=RetryPolicy(backoff_multiplier=float("nan")))
    assert fields(plan(step(0)), options) == ["options.retry_policy.backoff_multiplier"]


# ------------------------------------------------------------------ rules and compensation


def test_invalid_json_schema_in_a_rule() -> None:
    rules = (
        ValidationRule(json_schema={"type": "object"}),
        ValidationRule(json_schema={"type": 5}),
    )
    v = only(plan(step(0, validation_rules=rules)))
    assert v.field == "plan.steps[0].validation_rules[1].json_schema"
    assert "not a valid JSON Schema" in v.description


def test_rule_without_json_schema() -> None:
    v = only(plan(step(0, validation_rules=(ValidationRule(description="nothing"),))))
    assert v.field == "plan.steps[0].validation_rules[0]"
    assert "json_schema" in v.description


def test_unknown_compensation_tool() -> None:
    p = plan(step(0, compensation=Compensation(tool_name="undo-magic")))
    v = only(p)
    assert v.field == "plan.steps[0].compensation.tool_name"
    assert "'undo-magic'" in v.description


@pytest.mark.parametrize("seconds", [0, -1])
def test_compensation_timeout_must_be_positive(seconds: int) -> None:
    comp = Compensation(tool_name="echo", timeout=timedelta(seconds=seconds))
    assert fields(plan(step(0, compensation=comp))) == ["plan.steps[0].compensation.timeout"]


def test_several_problems_are_reported_at_once() -> None:
    p = plan(
        step(0, "a", tool="nope"),
        step(1, "a", deps=("ghost",)),
        step(2, id="bad-id", tool="sleep", args={"seconds": -3}),
        step(3, "9lives", tool=None, timeout=timedelta(0)),
        step(4, validation_rules=(ValidationRule(),), compensation=Compensation(tool_name="?")),
        plan_id="nope",
    )
    options = ExecutionOptions(retry_policy=RetryPolicy(max_attempts=0, jitter=7))
    got = fields(p, options)
    assert sorted(got) == sorted(
        [
            "options.retry_policy.max_attempts",
            "options.retry_policy.jitter",
            "plan.id",
            "plan.steps[0].tool_execution.tool_name",
            "plan.steps[1].name",
            "plan.steps[1].dependencies[0]",
            "plan.steps[2].id",
            "plan.steps[2].tool_execution.arguments.seconds",
            "plan.steps[3].name",
            "plan.steps[3].tool_execution",
            "plan.steps[3].timeout",
            "plan.steps[4].validation_rules[0]",
            "plan.steps[4].compensation.tool_name",
        ]
    )


# ------------------------------------------------------------------ validate_step


def test_validate_step_ok_with_known_outputs() -> None:
    s = step(0, tool="sleep", args={"seconds": "${steps.prev.output.n}"})
    tool, rules = validate_step(s, ["prev"], TOOLS)
    assert tool.spec.name == "sleep"
    assert [r.description for r in rules] == ["the output schema of tool 'sleep'"]


def test_validate_step_problems() -> None:
    s = step(0, id="x", args={"v": "${steps.prev.output}"}, deps=("other",))
    with pytest.raises(InvalidArgument) as info:
        validate_step(s, ["unrelated"], TOOLS)
    got = [v.field for v in info.value.violations]
    assert "step.id" in got
    assert "step.dependencies" in got
    assert "step.tool_execution.arguments" in got
    assert all(f.startswith("step.") for f in got)


def test_validate_step_unknown_tool() -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_step(step(0, tool="nope"), [], TOOLS)
    assert [v.field for v in info.value.violations] == ["step.tool_execution.tool_name"]


# ------------------------------------------------------------------ cycles

CYCLE_PREFIX = "dependency cycle: "


def named_plan(deps: list[set[int]], *, names: bool = True) -> ActionPlan:
    return plan(
        *(
            step(i, f"s{i}" if names else "", deps=tuple(sid(d) for d in sorted(ds)))
            for i, ds in enumerate(deps)
        )
    )


def cycle_violations(p: ActionPlan) -> list[list[str]]:
    """Each cycle violation's labels, closing label included."""
    out = []
    for v in violations(p):
        if v.description.startswith(CYCLE_PREFIX):
            assert v.field == "plan.steps"
            out.append(v.description.removeprefix(CYCLE_PREFIX).split(" → "))
    return out


def check_is_cycle(labels: list[str], deps: list[set[int]], label_of: dict[str, int]) -> list[int]:
    """Asserts `labels` is a closed, simple loop where each label is a dependency of the next;
    returns the loop's step positions."""
    assert len(labels) >= 3, labels
    assert labels[0] == labels[-1]
    nodes = [label_of[x] for x in labels]
    assert len(set(nodes[:-1])) == len(nodes) - 1, "a step is named twice"
    for before, after in itertools.pairwise(nodes):
        assert before in deps[after], f"{labels}: {after} does not depend on {before}"
    return nodes[:-1]


def simple_cycles(deps: list[set[int]]) -> set[frozenset[int]]:
    """Every simple cycle's node set, by brute force (graphs are small)."""
    found: set[frozenset[int]] = set()

    def walk(start: int, node: int, path: list[int]) -> None:
        for d in deps[node]:
            if d == start:
                found.add(frozenset(path))
            elif d > start and d not in path:
                walk(start, d, [*path, d])

    for s in range(len(deps)):
        walk(s, s, [s])
    return found


@st.composite
def dags(draw: st.DrawFn) -> list[set[int]]:
    """Random DAGs: step i depends only on steps before it."""
    n = draw(st.integers(min_value=1, max_value=8))
    return [
        draw(st.sets(st.integers(min_value=0, max_value=i - 1))) if i else set() for i in range(n)
    ]


def descendants_in_deps(deps: list[set[int]], start: int) -> set[int]:
    """Every step `start` transitively depends on."""
    seen: set[int] = set()
    stack = list(deps[start])
    while stack:
        d = stack.pop()
        if d not in seen:
            seen.add(d)
            stack.extend(deps[d])
    return seen


@settings(max_examples=100, deadline=None)
@given(dags())
def test_random_dags_have_no_cycles(deps: list[set[int]]) -> None:
    assert _cycles([tuple(sorted(d)) for d in deps]) == []
    graph = validate_plan(named_plan(deps), OPTIONS, TOOLS)
    assert graph.dependencies == tuple(tuple(sorted(d)) for d in deps)
    for i, ds in enumerate(deps):
        for d in ds:
            assert i in graph.dependents[d]
    assert sum(map(len, graph.dependents)) == sum(map(len, deps))


@settings(max_examples=100, deadline=None)
@given(dags(), st.data(), st.booleans())
def test_one_back_edge_names_exactly_one_loop(
    deps: list[set[int]], data: st.DataObject, names: bool
) -> None:
    pairs = [(lo, hi) for hi in range(len(deps)) for lo in descendants_in_deps(deps, hi)]
    assume(pairs)
    lo, hi = data.draw(st.sampled_from(pairs))
    looped = [set(d) for d in deps]
    looped[lo].add(hi)  # lo now depends on hi, which (transitively) depends on lo

    p = named_plan(looped, names=names)
    label_of = {s.label: i for i, s in enumerate(p.steps)}
    found = cycle_violations(p)
    assert len(found) == 1, found
    loop = check_is_cycle(found[0], looped, label_of)
    assert {lo, hi} <= set(loop)
    assert frozenset(loop) in simple_cycles(looped)
    # The loop only runs through steps between hi and lo; nothing downstream is named.
    between = {n for n in descendants_in_deps(looped, lo) if lo in descendants_in_deps(looped, n)}
    assert set(loop) <= between
    cycles = simple_cycles(looped)
    if len(cycles) == 1:
        assert {frozenset(loop)} == cycles
    # The violation names what _cycles found.
    assert _cycles([tuple(sorted(d)) for d in looped]) == [[label_of[x] for x in found[0][:-1]]]


def test_two_node_cycle() -> None:
    p = plan(step(0, "a", deps=("b",)), step(1, "b", deps=("a",)))
    (v,) = violations(p)
    assert v.field == "plan.steps"
    labels = v.description.removeprefix(CYCLE_PREFIX).split(" → ")
    assert v.description.startswith(CYCLE_PREFIX)
    assert sorted(labels[:-1]) == ["a", "b"]
    assert labels[0] == labels[-1]


def test_cycle_uses_ids_for_unnamed_steps() -> None:
    p = plan(step(0, deps=(sid(1),)), step(1, "b", deps=(sid(0),)))
    (v,) = violations(p)
    labels = v.description.removeprefix(CYCLE_PREFIX).split(" → ")
    assert sorted(labels[:-1]) == sorted([sid(0), "b"])


def test_three_node_cycle_in_dependency_order() -> None:
    # b depends on a, c on b, a on c: a → b → c → a (in some rotation).
    p = plan(step(0, "a", deps=("c",)), step(1, "b", deps=("a",)), step(2, "c", deps=("b",)))
    (labels,) = cycle_violations(p)
    rotation = labels.index("a")
    assert (labels[:-1] * 2)[rotation : rotation + 3] == ["a", "b", "c"]


def test_cycle_reached_through_a_downstream_step_does_not_name_it() -> None:
    # "down" comes first in the plan and depends on the loop x ⇄ y; it is stuck, not looping.
    p = plan(
        step(0, "down", deps=("x",)),
        step(1, "x", deps=("y",)),
        step(2, "y", deps=("x",)),
        step(3, "after", deps=("down",)),
    )
    found = cycle_violations(p)
    assert len(found) == 1
    assert sorted(found[0][:-1]) == ["x", "y"]
    assert "down" not in found[0]
    assert "after" not in found[0]


def test_two_independent_cycles_are_both_reported() -> None:
    p = plan(
        step(0, "a", deps=("b",)),
        step(1, "b", deps=("a",)),
        step(2, "c", deps=("d",)),
        step(3, "d", deps=("c",)),
    )
    found = cycle_violations(p)
    assert sorted(sorted(c[:-1]) for c in found) == [["a", "b"], ["c", "d"]]


def test_disjoint_cycle_that_depends_on_another_cycle_is_reported() -> None:
    # a ⇄ b and c ⇄ d are two distinct cycles; c also depends on a.
    p = plan(
        step(0, "a", deps=("b",)),
        step(1, "b", deps=("a",)),
        step(2, "c", deps=("a", "d")),
        step(3, "d", deps=("c",)),
    )
    found = cycle_violations(p)
    assert sorted(sorted(c[:-1]) for c in found) == [["a", "b"], ["c", "d"]]


def test_self_dependency_is_not_also_a_cycle() -> None:
    p = plan(step(0, "a"), step(1, "b", deps=("b", "a")), step(2, "c", deps=("b",)))
    assert fields(p) == ["plan.steps[1].dependencies"]


def test_cycle_skips_reference_check_but_reports_other_problems() -> None:
    p = plan(
        step(0, "a", deps=("b",), args={"x": "${steps.ghost.output}"}),
        step(1, "b", deps=("a",), timeout=timedelta(0)),
    )
    got = fields(p)
    assert sorted(got) == ["plan.steps", "plan.steps[1].timeout"]
