"""What a step waits for before it runs or completes: an approval gate, a signal, a time.

Compiled once at validation, like the rest of the Program. A waiting step is WAITING and
holds no concurrency slot; the machine leaves the wait on a decision (Approve), a signal
(Signal) or its timer (TimerKind.WAIT), and every part of it is journaled, so a restart
continues the same wait: a sleep's end and a timeout's deadline are absolute times fixed
when the step starts waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from jsonschema_rs import Draft202012Validator as Validator

from executor_server.domain.status import ApprovalDecision
from executor_server.engine.references import Template


@dataclass(frozen=True, slots=True)
class Gate:
    """Hold the tool call until someone decides."""

    prompt: Template
    timeout: float | None  # seconds; None waits forever
    on_timeout: ApprovalDecision
    allow_edit: bool


@dataclass(frozen=True, slots=True)
class SignalWait:
    """Complete with the payload of the signal `name`."""

    name: str
    timeout: float | None
    payload: Validator | None


@dataclass(frozen=True, slots=True)
class SleepWait:
    """Complete at a time: `duration` after it starts waiting, or `until` (epoch seconds)."""

    duration: float | None
    until: float | None

    def end(self, began: float) -> float:
        return self.until if self.until is not None else began + (self.duration or 0.0)


Wait = Gate | SignalWait | SleepWait


def deadline(wait: Wait, began: float) -> float | None:
    """When a wait that began at `began` ends by itself; None when it never does."""
    if isinstance(wait, SleepWait):
        return wait.end(began)
    return began + wait.timeout if wait.timeout is not None else None


def rfc3339(epoch: float) -> str:
    """The time as RFC 3339 text in UTC, as a sleep's output gives it."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
