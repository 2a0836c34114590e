"""How the command line shows things: text for people, proto JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

from google.protobuf import json_format
from google.protobuf.message import Message
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from executor_client._gen.executor.v1 import executor_pb2 as pb
from executor_client.errors import ExecutorClientError
from executor_client.planfile import LoadedPlan, PlanFileError
from executor_client.plans import output, status_name, step_status_name

#: Statuses by how they ended, for colour; WAITING (approvals, signals) stands out.
STYLES = {
    "COMPLETED": "green",
    "ROLLED_BACK": "green",
    "COMPENSATED": "cyan",
    "RUNNING": "bold blue",
    "COMPENSATING": "bold cyan",
    "ROLLING_BACK": "bold cyan",
    "PAUSED": "yellow",
    "WAITING": "bold black on yellow",
    "FAILED": "bold red",
    "ROLLBACK_FAILED": "bold red",
    "COMPENSATION_FAILED": "bold red",
    "CANCELLED": "magenta",
    "SKIPPED": "dim",
    "PENDING": "dim",
}


def styled(name: str) -> str:
    style = STYLES.get(name)
    return f"[{style}]{name}[/]" if style else escape(name)


def emit_json(console: Console, message: Message) -> None:
    """One message as one line of proto JSON (the contract's canonical JSON mapping)."""
    console.file.write(json.dumps(json_format.MessageToDict(message), separators=(",", ":")))
    console.file.write("\n")
    console.file.flush()


def duration_text(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def error_type_name(value: int) -> str:
    """``EXECUTION_ERROR_TYPE_TIMEOUT`` -> ``TIMEOUT``; a newer server's value as its number."""
    try:
        return pb.ExecutionErrorType.Name(value).removeprefix("EXECUTION_ERROR_TYPE_")
    except ValueError:
        return str(value)


def decided(decision: int) -> str:
    """``APPROVAL_DECISION_REJECT`` -> ``rejected``."""
    if decision == pb.APPROVAL_DECISION_APPROVE:
        return "approved"
    return "rejected" if decision == pb.APPROVAL_DECISION_REJECT else "undecided"


def event_line(event: pb.ExecutionEvent) -> str:
    """One event as one plain line: sequence, time, what changed."""
    at = event.event_time.ToDatetime().astimezone().strftime("%H:%M:%S.%f")[:-3]
    head = f"{event.sequence:>4} {at}"
    name = event.step_name or event.step_id
    if event.HasField("item_index"):
        name = f"{name}[{event.item_index}]"
    # The message often repeats the error ("cancelled: <reason>"): say it once.
    said = event.error.message and event.error.message in event.message
    error = f": {event.error.message}" if event.error.message and not said else ""
    kind = event.type
    if kind == pb.EXECUTION_EVENT_TYPE_STEP_STATUS_CHANGED:
        attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        text = f"step {name} {step_status_name(event.step_status)}{attempt}{error}"
    elif kind == pb.EXECUTION_EVENT_TYPE_STEP_RETRY_SCHEDULED:
        delay = duration_text(event.retry_delay.ToTimedelta().total_seconds())
        text = f"step {name} attempt {event.attempt} failed, retrying in {delay}{error}"
    elif kind == pb.EXECUTION_EVENT_TYPE_STEP_PROGRESS:
        text = f"step {name} {event.progress:.0%}"
    elif kind == pb.EXECUTION_EVENT_TYPE_APPROVAL_DECIDED:
        by = f" by {event.actor}" if event.actor else ""
        text = f"step {name} {decided(event.decision)}{by}{error}"
    elif kind == pb.EXECUTION_EVENT_TYPE_SIGNAL_RECEIVED:
        by = f" from {event.actor}" if event.actor else ""
        text = f"step {name} got signal {event.signal!r}{by}"
        return f"{head} {text}"  # its message says the same
    elif kind == pb.EXECUTION_EVENT_TYPE_STEP_NOTHING_TO_UNDO:
        text = f"step {name} has nothing to undo"
    else:
        text = f"execution {status_name(event.status)}{error}"
    if event.message:
        text += f" - {event.message}"
    return f"{head} {text}"


def print_status(console: Console, status: pb.GetExecutionStatusResponse) -> None:
    name = f" ({escape(status.plan_name)})" if status.plan_name else ""
    elapsed = status.execution_time.ToTimedelta().total_seconds()
    console.print(
        f"{status.plan_id}{name}: {styled(status_name(status.status))}"
        f" after {duration_text(elapsed)}, {_progress_text(status.progress)}",
        highlight=False,
    )
    if status.HasField("error") and status.error.message:
        where = (
            f" at step {_step_label(status, status.error.step_id)}" if status.error.step_id else ""
        )
        error_type = error_type_name(status.error.error_type)
        console.print(
            f"error{where}: {error_type}: {escape(status.error.message)}", highlight=False
        )
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in ("step", "status", "tries", "time", "output / error"):
        table.add_column(column, overflow="fold")
    for result in status.step_results:
        detail = result.error
        if not detail and result.HasField("output"):
            detail = _short(output(result.output))
        elif not detail and result.elided_output_bytes:
            # Left out to keep the answer small; the COMPLETED event carries it.
            detail = f"({result.elided_output_bytes} bytes of output: see `executor watch`)"
        if not detail and result.skipped_reason:
            detail = result.skipped_reason
        if result.items:
            detail = f"{_items_summary(result.items)}  {detail}".strip()
        if result.HasField("compensation") and result.compensation.status:
            undo = step_status_name(result.compensation.status)
            detail = f"{detail}  undo: {undo} {result.compensation.error}".strip()
        elif result.nothing_to_undo:
            detail = f"{detail}  undo: nothing to undo".strip()
        table.add_row(
            escape(result.step_name or result.step_id),
            styled(step_status_name(result.status)),
            str(result.retry_count + 1) if result.HasField("start_time") else "",
            duration_text(result.execution_time.ToTimedelta().total_seconds())
            if result.HasField("start_time")
            else "",
            escape(detail),
        )
    console.print(table)
    usage = status.resource_usage
    console.print(
        f"usage: {usage.tool_invocations} tool calls, {usage.network_requests} network requests, "
        f"{usage.cpu_time_ms} ms CPU",
        highlight=False,
    )


def _items_summary(items: Iterable[pb.ItemResult]) -> str:
    """A for_each step's elements in one line: 3 items: 2 COMPLETED, 1 FAILED (item 1: …)."""
    items = list(items)
    counts: dict[str, int] = {}
    for item in items:
        name = step_status_name(item.status)
        counts[name] = counts.get(name, 0) + 1
    text = f"{len(items)} items: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    failed = next((i for i in items if i.status == pb.STEP_STATUS_FAILED), None)
    if failed is not None:
        text += f" (item {failed.index}: {_short(failed.error, 80)})"
    return text + ";"


def print_executions(console: Console, executions: Iterable[pb.ExecutionSummary]) -> None:
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in ("plan id", "name", "status", "steps", "created", "ended"):
        table.add_column(column, no_wrap=column == "plan id")
    for e in executions:
        table.add_row(
            e.plan_id,
            escape(e.plan_name),
            styled(status_name(e.status)),
            str(e.total_steps),
            _time(e.create_time) if e.HasField("create_time") else "",
            _time(e.end_time) if e.HasField("end_time") else "",
        )
    console.print(table)


def print_approvals(console: Console, approvals: Iterable[pb.PendingApproval]) -> None:
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in ("plan id", "plan", "step", "tool", "prompt", "waiting since", "decides"):
        table.add_column(column, no_wrap=column == "plan id")
    for a in approvals:
        on_timeout = pb.ApprovalDecision.Name(a.on_timeout).removeprefix("APPROVAL_DECISION_")
        table.add_row(
            a.plan_id,
            escape(a.plan_name),
            escape(a.step_name or a.step_id),
            escape(a.tool_name),
            escape(a.prompt if len(a.prompt) <= 120 else a.prompt[:119] + "…"),
            _time(a.wait_start_time),
            f"{on_timeout} at {_time(a.deadline)}" if a.HasField("deadline") else "",
        )
    console.print(table)


def print_tools(console: Console, tools: Iterable[pb.ToolSpec]) -> None:
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in ("tool", "hints", "description"):
        table.add_column(column)
    for tool in tools:
        summary = tool.description.split(". ")[0].rstrip(".") or tool.title
        table.add_row(escape(tool.name), ", ".join(hints(tool)), escape(summary))
    console.print(table)


def print_tool(console: Console, tool: pb.ToolSpec) -> None:
    console.print(
        f"[bold]{escape(tool.name)}[/]" + (f" - {escape(tool.title)}" if tool.title else "")
    )
    if tool.description:
        console.print(escape(tool.description), highlight=False)
    console.print(f"hints: {', '.join(hints(tool)) or 'none'}", highlight=False)
    if tool.HasField("default_timeout"):
        timeout = tool.default_timeout.ToTimedelta().total_seconds()
        console.print(f"default timeout: {duration_text(timeout)}", highlight=False)
    for label, schema in (
        ("input schema", tool.input_schema),
        ("output schema", tool.output_schema),
    ):
        if tool.HasField(label.replace(" ", "_")):
            console.print(f"{label}:")
            console.print_json(data=output(schema), indent=2)


def hints(tool: pb.ToolSpec) -> list[str]:
    return [
        name
        for name, on in (
            ("read-only", tool.read_only),
            ("destructive", tool.destructive),
            ("idempotent", tool.idempotent),
            ("open-world", tool.open_world),
            ("compensable", tool.compensable),
        )
        if on
    ]


def print_client_error(
    console: Console, error: ExecutorClientError, plan: LoadedPlan | None = None
) -> None:
    """A refused request with everything the server said about it, never a traceback."""
    console.print(
        f"[bold red]error:[/] {error.code.name}: {escape(error.message)}", highlight=False
    )
    if error.reason:
        details = "".join(f", {k}={v}" for k, v in sorted(error.metadata.items()))
        console.print(f"  reason: {error.reason}{escape(details)}", highlight=False)
    for violation in error.field_violations:
        where = violation.field
        if plan is not None:
            line = plan.locate(violation.field)
            path = violation.field.removeprefix("plan.")
            where = f"{plan.source}:{line}: {path}" if line else f"{plan.source}: {path}"
        console.print(f"  {escape(where)}: {escape(violation.description)}", highlight=False)
    if error.retry_delay is not None:
        console.print(f"  retry after {error.retry_delay.total_seconds():g}s", highlight=False)


def print_plan_error(console: Console, error: PlanFileError) -> None:
    for line in error.lines():
        console.print(f"[bold red]error:[/] {escape(line)}", highlight=False)


def _step_label(status: pb.GetExecutionStatusResponse, step_id: str) -> str:
    for result in status.step_results:
        if result.step_id == step_id:
            return result.step_name or step_id
    return step_id


def _progress_text(progress: pb.Progress) -> str:
    done = progress.completed_steps
    parts = [f"{done}/{progress.total_steps} steps completed"]
    for label, count in (
        ("waiting", progress.waiting_steps),
        ("failed", progress.failed_steps),
        ("skipped", progress.skipped_steps),
        ("cancelled", progress.cancelled_steps),
        ("compensated", progress.compensated_steps),
        ("compensation failed", progress.compensation_failed_steps),
    ):
        if count:
            parts.append(f"{count} {label}")
    return ", ".join(parts)


def _short(value: object, limit: int = 120) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(timestamp: object) -> str:
    assert hasattr(timestamp, "ToDatetime")
    moment: datetime = timestamp.ToDatetime().replace(tzinfo=None)
    return moment.isoformat(sep=" ", timespec="seconds") + "Z"


def console(file: TextIO) -> Console:
    """A terminal gets its width and colours; a pipe or file gets lines that never wrap."""
    if file.isatty():
        return Console(file=file, highlight=False)
    return Console(file=file, highlight=False, width=_PIPE_WIDTH, no_color=True)


def stderr_console() -> Console:
    return console(sys.stderr)


_PIPE_WIDTH = 4096
