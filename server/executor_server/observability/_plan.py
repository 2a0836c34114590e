"""What observers need to know about a plan's steps, looked up by the step ids events carry."""

from __future__ import annotations

from executor_server.domain.models import ActionPlan, ActionStep


class PlanInfo:
    __slots__ = ("_by_id", "_names", "plan", "standalone")

    def __init__(self, plan: ActionPlan, standalone: bool) -> None:
        self.plan = plan
        self.standalone = standalone
        # Built on first use: most events of a big plan need it, a 1-step plan barely does.
        self._by_id: dict[str, ActionStep] | None = None
        self._names: dict[str, str] | None = None

    def step(self, step_id: str) -> ActionStep:
        if self._by_id is None:
            self._by_id = {s.id: s for s in self.plan.steps}
        return self._by_id[step_id]

    def tool(self, step_id: str) -> str:
        """The step's tool; a step that only waits is named by what it waits for, in
        parentheses (no tool is named so)."""
        step = self.step(step_id)
        if step.tool_execution is not None:
            return step.tool_execution.tool_name
        return "(wait_for_signal)" if step.wait_for_signal is not None else "(sleep)"

    def undo_tool(self, step_id: str) -> str:
        """The tool that compensates the step: its declared compensation, else its own."""
        step = self.step(step_id)
        if step.compensation is not None:
            return step.compensation.tool_name
        return self.tool(step_id)

    def dependency_ids(self, step_id: str) -> list[str]:
        """The ids of the step's dependencies (plans may name them by id or by name)."""
        if self._names is None:
            self._names = {s.name: s.id for s in self.plan.steps if s.name}
        names = self._names
        return [names.get(d, d) for d in self.step(step_id).dependencies]
