"""Following an execution to its end: a live view on a terminal, plain lines elsewhere,
JSON lines for scripts; Ctrl-C detaches (or, on a terminal, asks: detach or cancel)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client.aio import AsyncExecutorClient
from executor_client.cli import render
from executor_client.errors import FailedPreconditionError
from executor_client.plans import status_name, step_status_name

Mode = Literal["live", "plain", "json"]

#: Exit code after a Ctrl-C detach: the shell's convention for "interrupted" (128 + SIGINT).
EXIT_INTERRUPTED = 130

_BAR_WIDTH = 40
_FINISHED_STEPS = {
    pb.STEP_STATUS_COMPLETED,
    pb.STEP_STATUS_FAILED,
    pb.STEP_STATUS_SKIPPED,
    pb.STEP_STATUS_CANCELLED,
    pb.STEP_STATUS_COMPENSATED,
    pb.STEP_STATUS_COMPENSATION_FAILED,
}


class View(Protocol):
    def start(self) -> None: ...
    def events(self, batch: list[pb.ExecutionEvent]) -> None: ...
    def stop(self) -> None: ...


class PlainView:
    """One line per event, for logs and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def start(self) -> None:
        pass

    def events(self, batch: list[pb.ExecutionEvent]) -> None:
        for event in batch:
            self.console.print(
                render.event_line(event), highlight=False, markup=False, soft_wrap=True
            )

    def stop(self) -> None:
        pass


class JsonView(PlainView):
    """One proto JSON object per event."""

    def events(self, batch: list[pb.ExecutionEvent]) -> None:
        for event in batch:
            render.emit_json(self.console, event)


@dataclass
class _Row:
    name: str
    status: int = pb.STEP_STATUS_PENDING
    attempt: int = 0
    started: float | None = None  # event time, seconds since the epoch
    ended: float | None = None
    message: str = ""
    progress: float | None = None
    #: A for_each step's elements seen so far: index -> status.
    items: dict[int, int] | None = None


class LiveView:
    """One row per step (status, attempt, elapsed, last message) and a progress bar."""

    def __init__(self, console: Console, status: pb.GetExecutionStatusResponse) -> None:
        self.console = console
        self.title = status.plan_name or status.plan_id
        self.plan_id = status.plan_id
        self.status = status.status
        self.rows: dict[str, _Row] = {}
        for result in status.step_results:
            self.rows[result.step_id] = _Row(result.step_name or result.step_id, result.status)
        self.live: Live | None = None
        self._ticker: asyncio.Task[None] | None = None

    def __rich__(self) -> Group:
        now = time.time()
        table = Table(box=None, pad_edge=False, expand=False)
        for column, width in (
            ("step", None),
            ("status", 12),
            ("try", 3),
            ("elapsed", 8),
            ("", None),
        ):
            table.add_column(column, min_width=width, overflow="ellipsis", no_wrap=True)
        for row in self.rows.values():
            elapsed = ""
            if row.started is not None:
                elapsed = render.duration_text((row.ended or now) - row.started)
            message = row.message
            if row.progress is not None and row.status == pb.STEP_STATUS_RUNNING:
                message = f"{row.progress:.0%} {message}".strip()
            table.add_row(
                escape(row.name),
                render.styled(step_status_name(row.status)),
                str(row.attempt) if row.attempt else "",
                elapsed,
                escape(message),
            )
        total = len(self.rows)
        done = sum(1 for r in self.rows.values() if r.status in _FINISHED_STEPS)
        filled = round(_BAR_WIDTH * done / total) if total else 0
        # Two characters, not only two colours: the bar reads the same under NO_COLOR.
        bar = Text.assemble(
            ("━" * filled, "green"),
            ("─" * (_BAR_WIDTH - filled), "dim"),
            f" {done}/{total} steps ",
            Text.from_markup(render.styled(status_name(self.status))),
        )
        head = Text.from_markup(f"[bold]{escape(self.title)}[/]  [dim]{self.plan_id}[/]")
        # The bar above the rows: a plan taller than the terminal cuts rows, not the bar.
        return Group(head, bar, table)

    def start(self) -> None:
        # A fresh Live each time: after a prompt it draws below it, not over it.
        self.live = Live(self, console=self.console, auto_refresh=False)
        self.live.start(refresh=True)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while self.live is not None:  # elapsed times move even when no event arrives
            await asyncio.sleep(0.25)
            self.live.refresh()

    def events(self, batch: list[pb.ExecutionEvent]) -> None:
        for event in batch:
            self.status = event.status
            if not event.step_id:
                continue
            row = self.rows.setdefault(event.step_id, _Row(event.step_name or event.step_id))
            when = event.event_time.ToDatetime().timestamp()
            if event.HasField("item_index"):  # an element of a for_each step: the row counts
                if event.type == pb.EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED:
                    row.items = row.items or {}
                    row.items[event.item_index] = event.step_status
                    row.message = _items_text(row.items, event)
                continue
            if event.type == pb.EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED:
                row.status = event.step_status
                row.attempt = event.attempt or row.attempt
                if event.step_status in (pb.STEP_STATUS_RUNNING, pb.STEP_STATUS_COMPENSATING):
                    row.started, row.ended, row.progress = when, None, None
                elif event.step_status in _FINISHED_STEPS and row.started is not None:
                    row.ended = when
                row.message = event.error.message or event.message
            elif event.type == pb.EXECUTION_EVENT_TYPE_STEP_RETRY_SCHEDULED:
                delay = render.duration_text(event.retry_delay.ToTimedelta().total_seconds())
                row.message = f"retry in {delay}: {event.error.message or event.message}"
            elif event.type == pb.EXECUTION_EVENT_TYPE_STEP_PROGRESS:
                row.progress = event.progress
                row.message = event.message or row.message
            elif event.type == pb.EXECUTION_EVENT_TYPE_APPROVAL_DECIDED:
                by = f" by {event.actor}" if event.actor else ""
                comment = f": {event.message}" if event.message else ""
                row.message = f"{render.decided(event.decision)}{by}{comment}"
        if self.live is not None:
            self.live.refresh()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None


def _items_text(items: dict[int, int], event: pb.ExecutionEvent) -> str:
    done = sum(1 for s in items.values() if s in _FINISHED_STEPS)
    running = sum(
        1 for s in items.values() if s in (pb.STEP_STATUS_RUNNING, pb.STEP_STATUS_COMPENSATING)
    )
    text = f"items: {done} done, {running} running"
    if event.error.message:
        text += f"; {event.message}"
    return text


async def follow(
    client: AsyncExecutorClient,
    plan_id: str,
    *,
    console: Console,
    mode: Mode,
    after_sequence: int = 0,
    interactive: bool,
) -> int:
    """Shows the execution's events until it ends; the exit code: 0 COMPLETED, 1 any other
    end, EXIT_INTERRUPTED after a Ctrl-C detach.

    Raises:
        ExecutorClientError: The execution is unknown, or the server is unreachable.
    """
    status = await client.get_execution_status(plan_id)
    view: View
    if mode == "json":
        view = JsonView(console)
    elif mode == "live":
        view = LiveView(console, status)
    else:
        view = PlainView(console)
        name = f" ({status.plan_name})" if status.plan_name else ""
        console.print(f"{plan_id}{name}", markup=False)
    cursor = [after_sequence]  # the last sequence shown, to resume after a prompt
    interrupts: asyncio.Queue[None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupts.put_nowait, None)
    view.start()
    try:
        while True:
            watching = asyncio.ensure_future(_watch(client, plan_id, cursor, view))
            interrupted = asyncio.ensure_future(interrupts.get())
            await asyncio.wait({watching, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            if watching.done():
                interrupted.cancel()
                watching.result()  # raises what ended the watch, if it failed
                break
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            view.stop()
            choice = await _ask(console, interrupts) if interactive else "d"
            if choice == "d":
                # Not into a stream of JSON lines: a script reads those.
                notice = render.stderr_console() if mode == "json" else console
                notice.print(f"detached; the execution goes on: executor watch {plan_id}")
                return EXIT_INTERRUPTED
            if choice == "c":
                try:
                    await client.cancel_execution(plan_id, reason="cancelled from the terminal")
                except FailedPreconditionError as error:  # it ended while we asked
                    console.print(f"not cancelled: it is {error.metadata.get('status', 'over')}")
            view.start()
    finally:
        view.stop()
        loop.remove_signal_handler(signal.SIGINT)
    final = await client.get_execution_status(plan_id)
    if mode == "json":
        render.emit_json(console, final)
    else:
        render.print_status(console, final)
    return 0 if final.status == pb.EXECUTION_STATUS_COMPLETED else 1


async def _watch(client: AsyncExecutorClient, plan_id: str, cursor: list[int], view: View) -> None:
    """Feeds the view until the last event, keeping `cursor[0]` at the last one shown."""
    async for batch in client.watch_batches(plan_id, cursor[0]):
        view.events(batch)
        cursor[0] = batch[-1].sequence


async def _ask(console: Console, interrupts: asyncio.Queue[None]) -> str:
    """'d' detach, 'c' cancel, 'w' keep watching. A second Ctrl-C detaches.

    The answer is read in a daemon thread: a blocking read the event loop cannot cancel,
    and which must not hold the process open once it has decided to leave."""
    while not interrupts.empty():
        interrupts.get_nowait()
    answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    def read() -> None:
        try:
            text = console.input(
                "[bold]Ctrl-C:[/] [bold]d[/]etach (the execution goes on), "
                "[bold]c[/]ancel the execution, or keep [bold]w[/]atching? \\[d/c/w] "
            )
        except (EOFError, KeyboardInterrupt, OSError):
            text = "d"
        loop.call_soon_threadsafe(_settle, answer, text)

    threading.Thread(target=read, daemon=True, name="executor-prompt").start()
    again: asyncio.Future[Any] = asyncio.ensure_future(interrupts.get())
    await asyncio.wait([answer, again], return_when=asyncio.FIRST_COMPLETED)
    again.cancel()
    if not answer.done():
        console.print()
        return "d"
    text = answer.result().strip().lower()[:1]
    return text if text in ("c", "w") else "d"


def _settle(future: asyncio.Future[Any], value: str) -> None:
    if not future.done():
        future.set_result(value)
