"""`executor validate --server`: a plan file against the tools a server offers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema_rs import Draft202012Validator

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client.planfile import REFERENCE, SECRET_REFERENCE, LoadedPlan, Problem
from executor_client.plans import output


def check_against_tools(loaded: LoadedPlan, tools: Iterable[pb.ToolSpec]) -> list[Problem]:
    """Unknown tools, and arguments that break a tool's input schema. A value that holds a
    reference is only known when the step runs, so it is left to the server then, as the
    server itself does at submission."""
    specs = {t.name: t for t in tools}
    problems: list[Problem] = []

    def problem(wire: str, message: str) -> None:
        problems.append(Problem(wire.removeprefix("plan."), message, loaded.locate(wire)))

    for i, step in enumerate(loaded.plan.steps):
        calls = []
        if step.HasField("tool_execution"):  # else it only waits (a signal, a sleep)
            calls.append(
                (
                    f"plan.steps[{i}].tool_execution",
                    step.tool_execution.tool_name,
                    step.tool_execution.arguments,
                )
            )
        if step.HasField("compensation"):
            calls.append(
                (
                    f"plan.steps[{i}].compensation",
                    step.compensation.tool_name,
                    step.compensation.arguments,
                )
            )
        for where, name, arguments in calls:
            spec = specs.get(name)
            if spec is None:
                known = ", ".join(sorted(specs))
                problem(f"{where}.tool_name", f"the server has no tool {name!r} (it has: {known})")
                continue
            if not spec.HasField("input_schema"):
                continue
            validator = Draft202012Validator(output(spec.input_schema))
            values: Any = output(arguments)
            for error in validator.iter_errors(values):
                instance = error.instance
                # Only known when the step starts, as the server sees it too.
                if isinstance(instance, str) and (
                    REFERENCE.search(instance) or SECRET_REFERENCE.search(instance)
                ):
                    continue
                path = ".".join(str(p) for p in error.instance_path)
                problem(f"{where}.arguments" + (f".{path}" if path else ""), error.message)
    return problems
