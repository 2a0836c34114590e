"""Plan files: the person's form in, the contract's messages out, every fault located."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executor_client import executor_pb2 as pb
from executor_client.planfile import (
    PlanFileError,
    load_plan,
    parse_duration,
    parse_plan,
    step_id,
)

PLAN_ID = "6f1c2a9e-8a8e-4c5e-9d7e-1a2b3c4d5e6f"


def problems(text: str) -> list[str]:
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, source="p.yaml")
    return list(caught.value.lines())


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("30s", 30 * 10**9),
        ("1m30s", 90 * 10**9),
        ("250ms", 250 * 10**6),
        ("1h2m3.5s", (3723 * 10**9) + 5 * 10**8),
        ("1.5s", 15 * 10**8),
        ("10us", 10_000),
        ("7ns", 7),
        (5, 5 * 10**9),
        (0.25, 25 * 10**7),
        (0, 0),
    ],
)
def test_durations(text: str | float, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("bad", ["", "soon", "5", "-1s", "1s2", "s", "1 m", True, None, -3, "1d"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.integers(0, 10**6), st.integers(0, 59), st.integers(0, 999))
def test_duration_parts_add_up(minutes: int, seconds: int, millis: int) -> None:
    assert parse_duration(f"{minutes}m{seconds}s{millis}ms") == (
        (minutes * 60 + seconds) * 10**9 + millis * 10**6
    )


def test_the_persons_form_becomes_the_contracts_messages() -> None:
    loaded = parse_plan(
        f"""
id: {PLAN_ID}
name: checkout
metadata: {{team: billing}}
options:
  maxConcurrentSteps: 2
  auto_rollback: true
  timeout_policy: {{default_step_timeout: 1m}}
  resource_limits: {{max_execution_time: 1h, max_tool_invocations: 10}}
steps:
  - name: fetch
    tool: echo
    arguments: {{order: 42, answer: no, when: 2024-01-02}}
    timeout: 1m30s
    expectedDuration: 2
  - name: bill
    tool_execution: {{tool_name: echo, arguments: {{order: "${{steps.fetch.output.order}}"}}}}
    dependencies: [fetch]
    retry_policy:
      {{max_attempts: 3, initial_backoff: 250ms, non_retryable_error_types: [VALIDATION]}}
    compensation: {{tool: echo, arguments: {{undo: true}}, timeout: 5s}}
    validation_rules: [{{json_schema: {{type: object}}, description: an object}}]
"""
    )
    plan, options = loaded.plan, loaded.options
    assert plan.id == PLAN_ID and plan.name == "checkout"
    assert plan.metadata["team"] == "billing"
    assert options.max_concurrent_steps == 2 and options.auto_rollback
    assert options.timeout_policy.default_step_timeout.seconds == 60
    assert options.resource_limits.max_execution_time.seconds == 3600
    fetch, bill = plan.steps
    assert (
        fetch.id == step_id(PLAN_ID, "fetch") == str(uuid.uuid5(uuid.UUID(PLAN_ID), "step:fetch"))
    )
    assert fetch.tool_execution.tool_name == "echo"
    args = fetch.tool_execution.arguments
    # YAML 1.2 booleans only: `no` stays a string; a date travels as its text.
    assert args["order"] == 42 and args["answer"] == "no" and args["when"] == "2024-01-02"
    assert fetch.timeout.seconds == 90 and fetch.expected_duration.seconds == 2
    assert list(bill.dependencies) == ["fetch"]
    assert bill.retry_policy.initial_backoff.nanos == 250_000_000
    assert list(bill.retry_policy.non_retryable_error_types) == [pb.EXECUTION_ERROR_TYPE_VALIDATION]
    assert bill.compensation.tool_name == "echo" and bill.compensation.timeout.seconds == 5
    assert bill.validation_rules[0].description == "an object"
    # Where each field was written, by its path on the wire.
    assert loaded.locate("plan.steps[1].dependencies[0]") == 18
    assert loaded.locate("plan.steps[1].retry_policy.initial_backoff") == 20
    assert loaded.locate("plan.steps[0].tool_execution.arguments.order") == 13
    assert loaded.locate("options.max_concurrent_steps") == 6


def test_ids_are_fresh_per_load_unless_given_and_steps_derive_from_the_plan() -> None:
    text = (
        "steps: [{name: a, tool: echo}, {tool: echo}, {name: c, id: " + PLAN_ID + ", tool: echo}]"
    )
    first, second = parse_plan(text).plan, parse_plan(text).plan
    assert first.id != second.id and uuid.UUID(first.id)
    assert first.steps[0].id == step_id(first.id, "a")
    assert first.steps[1].id == step_id(first.id, "#1")  # unnamed: by position
    assert first.steps[2].id == PLAN_ID  # given ids are kept
    fixed = parse_plan(text, plan_id=PLAN_ID).plan
    assert (
        fixed.id == PLAN_ID
        and fixed.steps[0].id == parse_plan(text, plan_id=PLAN_ID).plan.steps[0].id
    )


def test_json_files_have_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps({"steps": [{"name": "a", "tool": "echo", "timeout": "later"}]}, indent=2)
    )
    with pytest.raises(PlanFileError) as caught:
        load_plan(path)
    assert list(caught.value.lines()) == [
        f"{path}:6: steps[0].timeout: not a duration: 'later' "
        "(write e.g. '30s', '1m30s', '250ms', or seconds)"
    ]


def test_every_problem_is_reported_with_its_line() -> None:
    found = problems(
        "name: x\n"
        "steps:\n"
        "  - name: a\n"
        "    tool: echo\n"
        "    timeout: 5\n"
        "    retry_policy: {max_attempts: many}\n"
        "  - name: b\n"
        "    tool: echo\n"
        "    colour: red\n"
        "    dependencies: a\n"
        "options: {auto_rollback: yes}\n"
    )
    assert found == [
        "p.yaml:6: steps[0].retry_policy.max_attempts: expected a whole number, got 'many'",
        "p.yaml:9: steps[1].colour: unknown field (known here: approval, arguments, "
        "compensation, dependencies, dependency_rule, expected_duration, for_each, id, name, "
        "parameters, retry_policy, sleep, timeout, tool, tool_execution, validation_rules, "
        "wait_for_signal, when)",
        "p.yaml:10: steps[1].dependencies: expected a list, got 'a'",
        "p.yaml:11: options.auto_rollback: expected true or false, got 'yes'",
    ]


def test_graph_problems() -> None:
    assert problems(
        "steps:\n"
        "  - {name: a, tool: echo, dependencies: [c]}\n"
        "  - {name: a, tool: echo}\n"
        "  - {name: b}\n"
    ) == [
        "p.yaml:3: steps[1].name: name 'a' is used by steps[0] too",
        "p.yaml:4: steps[2]: a step needs a tool (tool: NAME), wait_for_signal or sleep",
        "p.yaml:2: steps[0].dependencies[0]: unknown step 'c'",
    ]
    assert problems(
        "steps:\n"
        "  - {name: a, tool: echo, dependencies: [c]}\n"
        "  - {name: b, tool: echo, dependencies: [a]}\n"
        "  - {name: c, tool: echo, dependencies: [b]}\n"
    ) == ["p.yaml:2: steps[0].dependencies: dependency cycle: a -> c -> b -> a"]
    assert problems(
        "steps:\n"
        "  - {name: a, tool: echo}\n"
        "  - {name: b, tool: echo, arguments: {x: '${steps.a.output}', y: '${steps.z.output.k}'}}\n"
    ) == [
        "p.yaml:3: steps[1].arguments: references step 'a', which is not among its dependencies",
        "p.yaml:3: steps[1].arguments: references unknown step 'z'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "p.yaml: the file is empty"),
        ("- a\n- b\n", "p.yaml:1: a plan file holds a mapping (name, steps, options ...)"),
        ("steps: [\n", "p.yaml:2: while parsing a flow node expected the node content"),
        ("name: a\nname: b\nsteps: []\n", "p.yaml:2: name: given twice"),
        ("id: 42\nsteps: [{tool: echo}]\n", "p.yaml:1: id: expected a string, got 42"),
        ("id: nightly\nsteps: [{tool: echo}]\n", "p.yaml:1: id: a plan id is a UUID"),
        ("steps: []\n", "p.yaml:1: steps: a plan needs at least one step"),
        (
            "steps: [{tool: echo, tool_execution: {tool_name: echo}}]\n",
            "p.yaml:1: steps[0].tool_execution: tool_execution is given twice",
        ),
        (
            "steps: [{tool: echo, retry_policy: {max_attempts: -1}}]\n",
            "p.yaml:1: steps[0].retry_policy.max_attempts: expected a whole number from 0 to",
        ),
        (
            "steps: [{tool: echo, arguments: [1]}]\n",
            "p.yaml:1: steps[0].arguments: expected a mapping, got a list",
        ),
        (
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdef", "bcdefg", strict=True)
            ),
            "p.yaml: too many values (aliases expand too far)",
        ),
    ],
)
def test_files_that_are_not_plans(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="No such file"):
        load_plan(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PlanFileError, match="not UTF-8"):
        load_plan(binary)


def test_waiting_steps_and_their_times() -> None:
    loaded = parse_plan(
        "steps:\n"
        "  - name: gated\n"
        "    tool: echo\n"
        "    approval: {prompt: 'ok?', timeout: 1h, on_timeout: APPROVE}\n"
        "  - {name: paid, wait_for_signal: {name: paid, timeout: 90s}}\n"
        "  - {name: nap, sleep: {until: 2030-01-01T09:00:00Z}}\n"
        "  - {name: later, sleep: {until: '2030-01-01T10:00:00+01:00'}}\n"
    ).plan
    gated, paid, nap, later = loaded.steps
    assert gated.approval.on_timeout == pb.APPROVAL_DECISION_APPROVE
    assert gated.approval.timeout.seconds == 3600
    assert paid.wait_for_signal.name == "paid" and paid.wait_for_signal.timeout.seconds == 90
    assert nap.sleep.until.seconds == later.sleep.until.seconds == 1_893_488_400
    assert problems(
        "steps:\n"
        "  - {name: naive, sleep: {until: 2030-01-01T09:00:00}}\n"
        "  - {name: bogus, sleep: {until: tomorrow}}\n"
    ) == [
        "p.yaml:2: steps[0].sleep.until: a time needs its zone (e.g. 2030-01-01T09:00:00Z)",
        "p.yaml:3: steps[1].sleep.until: not an RFC 3339 time: 'tomorrow' (write e.g. "
        "2030-01-01T09:00:00Z)",
    ]
