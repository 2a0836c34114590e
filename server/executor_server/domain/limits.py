"""The bounds the server enforces on what requests bring and what steps produce.

Each has a flag of `executor serve` (the README's "Limits" table) and a default safe for a
server shared by many callers. Exceeding one is never silent: a request is refused with a
status naming the limit, a step fails with RESOURCE_EXHAUSTED naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

#: JSON values (arguments, metadata, schemas, outputs) nest at most this deep. Protobuf
#: decoders in Python and Java stop at 100 nested messages, and each JSON level costs up to
#: three (Value, Struct, map entry), so every client can read what stays within this.
MAX_JSON_DEPTH = 30

#: Bounds of a `when` condition (engine/conditions.py says why these keep evaluation cheap).
MAX_CONDITION_LENGTH = 1024
MAX_CONDITION_REFERENCES = 16
MAX_CONDITION_COMPREHENSIONS = 4
#: The longest wait a step may declare (a gate's or a signal's timeout, a sleep).
MAX_WAIT_SECONDS = 366 * 24 * 3600
#: An approval gate's prompt, as written and as resolved; a decision's comment.
MAX_PROMPT_CHARS = 4000
MAX_COMMENT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Limits:
    #: The largest request or answer, in bytes (gRPC's max message length both ways).
    max_message_bytes: int = 64 * MiB
    #: The most steps one plan may have.
    max_plan_steps: int = 100_000
    #: The largest output one attempt may return, as JSON bytes.
    max_output_bytes: int = 4 * MiB
    #: The largest argument object a step's references may resolve to, as JSON bytes.
    max_argument_bytes: int = 4 * MiB
    #: Watchers (open WatchExecution streams) of one execution at once.
    max_watchers_per_execution: int = 100
    #: Watchers of all executions at once.
    max_watchers: int = 5_000
    #: ExecutorService calls in flight at once; health and reflection are not counted, so
    #: probes still answer when the server is full.
    max_concurrent_rpcs: int = 10_000
    #: Submissions (ExecutePlan, ExecuteStep) each authenticated caller may make per minute,
    #: bursts of up to that many included.
    max_executions_per_minute: int = 1_200
    #: Elements one for_each step may run over.
    max_items_per_step: int = 10_000

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_watchers_per_execution > self.max_watchers:
            raise ValueError("max_watchers_per_execution must not exceed max_watchers")
        # A step's output travels in one event and one answer: it must fit a message.
        if self.max_output_bytes > self.max_message_bytes - MiB // 4:
            raise ValueError("max_output_bytes must be at least 256 KiB below max_message_bytes")
