"""CPU time of one coroutine, measured exactly while it runs on the event loop.

Many attempts share the loop, so process CPU time cannot be split between them; the time a
coroutine's own code spends between two awaits can. `Metered` drives the coroutine and
reads the thread's CPU clock around each resumption. CPU spent in other threads or child
processes is the tool's to report (`ToolContext.add_cpu_time`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

_cpu = time.thread_time


class Metered:
    """Awaits `coro`, adding up its CPU time; `on_suspend` is called the first time the
    coroutine waits for something (work that never waits needs no timer)."""

    __slots__ = ("_coro", "cpu_seconds", "on_suspend")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], on_suspend: Callable[[], None] | None = None
    ) -> None:
        self._coro = coro
        self.cpu_seconds = 0.0
        self.on_suspend = on_suspend

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        value: Any = None
        error: BaseException | None = None
        while True:
            started = _cpu()
            try:
                yielded = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                self.cpu_seconds += _cpu() - started
            if self.on_suspend is not None:
                self.on_suspend()
                self.on_suspend = None
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # delivered into the coroutine, which decides
                value, error = None, exc
