"""The DAG shapes every figure runs, and their forms for each runner.

A shape is just dependency lists over step indexes, so the engine, the minimal scheduler
and Dask provably run the same graph.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_server.domain.models import ActionPlan, ActionStep, ToolExecution


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    deps: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        return len(self.deps)

    def sinks(self) -> list[int]:
        """Steps nothing depends on: asking Dask for these computes the whole graph."""
        has_dependents = {d for deps in self.deps for d in deps}
        return [i for i in range(self.size) if i not in has_dependents]


def independent(n: int) -> Shape:
    return Shape(f"independent {n:,}", tuple(() for _ in range(n)))


def chain(n: int) -> Shape:
    return Shape(f"chain {n:,}", tuple((i - 1,) if i else () for i in range(n)))


def layered(width: int, depth: int, fan_in: int = 2) -> Shape:
    """`depth` layers of `width` steps; each step after the first layer depends on `fan_in`
    neighbouring steps of the layer before (wrapping), so every layer is a barrier."""
    deps: list[tuple[int, ...]] = []
    for layer in range(depth):
        for i in range(width):
            if layer == 0:
                deps.append(())
            else:
                base = (layer - 1) * width
                deps.append(tuple(base + (i + j) % width for j in range(fan_in)))
    return Shape(f"layered {width}x{depth}", tuple(deps))


def _ids(shape: Shape) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(shape.size)]


def to_domain(shape: Shape) -> ActionPlan:
    """A fresh plan (new ids every call: a plan id seen before would attach, not run)."""
    ids = _ids(shape)
    return ActionPlan(
        id=str(uuid.uuid4()),
        steps=tuple(
            ActionStep(
                id=ids[i],
                tool_execution=ToolExecution(tool_name="echo", arguments={}),
                dependencies=tuple(ids[d] for d in deps),
            )
            for i, deps in enumerate(shape.deps)
        ),
    )


def to_pb(shape: Shape) -> pb.ActionPlan:
    # Built directly rather than with executor_client.plans.step, which also builds empty
    # Structs and Durations: the same message, faster for 100,000 steps.
    ids = _ids(shape)
    return pb.ActionPlan(
        id=str(uuid.uuid4()),
        steps=[
            pb.ActionStep(
                id=ids[i],
                tool_execution=pb.ToolExecution(tool_name="echo"),
                dependencies=[ids[d] for d in deps],
            )
            for i, deps in enumerate(shape.deps)
        ],
    )
