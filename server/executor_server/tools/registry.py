"""The tools a server can run, found through the `executor.tools` entry-point group.

Plugins load one at a time: one that fails to import or to build, or claims a name another
plugin already has, is recorded in `load_errors` and skipped, and never takes the server
down. A tool that takes operator settings (`ConfigurableTool`) gets them right after it is
built; one that the settings turn off (`ToolDisabled`) is left out and noted in `disabled`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from executor_server.tools.protocol import Tool
from executor_server.tools.settings import ConfigurableTool, ToolDisabled, ToolSettings

ENTRY_POINT_GROUP = "executor.tools"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadError:
    entry_point: str
    message: str


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._settings = ToolSettings()
        self.load_errors: list[LoadError] = []
        #: Tools left out by the operator's settings, with the reason (not errors).
        self.disabled: dict[str, str] = {}
        for tool in tools:
            self.register(tool)

    @classmethod
    def from_entry_points(
        cls,
        *,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] = (),
        settings: ToolSettings | None = None,
    ) -> ToolRegistry:
        """Load every plugin of the group; `allow`/`deny` filter tools by name, and
        `settings` (default: `ToolSettings()`) configure the tools that take them.

        Imports plugin code and reads package metadata: call it off the event loop.
        """
        registry = cls()
        registry._settings = settings or ToolSettings()
        allowed = set(allow) if allow is not None else None
        denied = set(deny)
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in denied or (allowed is not None and ep.name not in allowed):
                continue
            registry._load(ep)
        return registry

    def _load(self, ep: EntryPoint) -> None:
        where = f"{ep.name} = {ep.value}"
        try:
            obj = ep.load()
            tool = obj() if isinstance(obj, type) else obj
            _check_tool(tool)
            if tool.spec.name != ep.name:
                raise ValueError(f"entry point name differs from tool name {tool.spec.name!r}")
            if tool.spec.name in self._tools:
                raise ValueError(f"another plugin already provides tool {tool.spec.name!r}")
            if isinstance(tool, ConfigurableTool):
                tool.configure(self._settings)
        except ToolDisabled as exc:
            self.disabled[ep.name] = str(exc)
            log.info("tool disabled", extra={"tool": ep.name, "reason": str(exc)})
            return
        except Exception as exc:  # a broken plugin must not stop the server
            self.load_errors.append(LoadError(where, f"{type(exc).__name__}: {exc}"))
            log.warning("tool plugin skipped", extra={"entry_point": where, "error": str(exc)})
            return
        self._tools[tool.spec.name] = tool

    def register(self, tool: Tool) -> None:
        """Add a tool by hand (embedding, tests). Raises TypeError for an object that is not
        a tool (no `spec`, or an `invoke` that is not async), ValueError on a duplicate name."""
        _check_tool(tool)
        if tool.spec.name in self._tools:
            raise ValueError(f"tool {tool.spec.name!r} is already registered")
        self._tools[tool.spec.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        """Tools sorted by name."""
        return iter(sorted(self._tools.values(), key=lambda t: t.spec.name))

    def __len__(self) -> int:
        return len(self._tools)


def _check_tool(tool: object) -> None:
    """Raises TypeError unless `tool` has a spec and async `invoke` (and `compensate`, when
    it has one): a synchronous one would load, then fail every attempt it is given."""
    if not isinstance(tool, Tool):
        raise TypeError(f"{type(tool).__name__} has no `spec` and async `invoke`")
    for method in ("invoke", "compensate"):
        function = getattr(tool, method, None)
        if function is not None and not inspect.iscoroutinefunction(function):
            raise TypeError(
                f"{type(tool).__name__}.{method} is not async: define it with `async def`"
            )
