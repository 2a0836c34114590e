"""An execution's event journal: numbered, stored before anyone sees them, fanned out.

The engine appends events without waiting; a flusher owned by the execution writes whatever
is pending to the store in one batch (group commit), then publishes. A step awaits
`durable(seq)` only before it invokes a tool that is not idempotent (and only with a
persistent store); replies wait for what they report. Watchers only ever read durable
events, from a bounded in-memory tail or, when they fall behind it, from the store, so a
slow watcher costs the engine nothing.
"""

from __future__ import annotations

import asyncio
import time

from executor_server.domain.errors import Unavailable
from executor_server.domain.models import Event
from executor_server.observability import NULL_EXECUTION_OBSERVER, ExecutionObserver
from executor_server.store.protocol import Store

TAIL_EVENTS = 4096
SETTLE_TURNS = 4


class Journal:
    def __init__(
        self,
        store: Store,
        plan_id: str,
        durable_sequence: int = 0,
        observer: ExecutionObserver = NULL_EXECUTION_OBSERVER,
    ) -> None:
        self._store = store
        self._observer = observer
        self._plan_id = plan_id
        self._pending: list[Event] = []
        self._has_pending = asyncio.Event()
        self._published = asyncio.Event()  # replaced after each flush; waiters hold the old one
        # The latest stored events, for watchers: a list (not a deque, whose indexing is
        # linear) that keeps between TAIL_EVENTS and twice that, trimmed in halves.
        self._tail: list[Event] = []
        self._closed = False
        self._draining = False
        # Waiting for a store that forgets everything on exit would protect nothing.
        self._must_wait = store.persistent
        self.durable_sequence = durable_sequence

    def append(self, event: Event) -> None:
        self._pending.append(event)
        self._has_pending.set()

    async def run_flusher(self) -> None:
        """Write pending events as they come, until `drain` is called and all are written."""
        while True:
            await self._has_pending.wait()
            await self._settle()
            await self.flush()
            if self._draining and not self._pending:
                return

    async def _settle(self) -> None:
        """Let what is already runnable add its events first, so that one commit carries a
        whole burst: yield to the loop until a turn adds nothing (a few turns at most, so a
        busy execution is not held back)."""
        for _ in range(SETTLE_TURNS):
            queued = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == queued:
                return

    def drain(self) -> None:
        """Let the flusher end once everything appended so far is written."""
        self._draining = True
        self._has_pending.set()

    async def flush(self) -> None:
        self._has_pending.clear()
        batch, self._pending = self._pending, []
        if not batch:
            return
        started = time.perf_counter()
        await self._store.append_events(self._plan_id, batch)
        self._observer.committed(time.perf_counter() - started)  # observability
        self._tail.extend(batch)
        if len(self._tail) > 2 * TAIL_EVENTS:
            del self._tail[:-TAIL_EVENTS]
        self.durable_sequence = batch[-1].sequence
        published, self._published = self._published, asyncio.Event()
        published.set()
        # observability: the one place events are published; observers see what watchers see.
        self._observer.published(batch)

    async def durable(self, sequence: int) -> None:
        """Wait until event `sequence` is stored.

        Raises Unavailable if the journal closed first (the server stopped the execution).
        """
        if not self._must_wait:
            return
        while self.durable_sequence < sequence:
            if self._closed:
                raise Unavailable("the execution was stopped before its events were stored")
            await self._published.wait()

    async def published_after(self, sequence: int) -> None:
        """Wait until some event later than `sequence` is stored, or the journal closes."""
        while self.durable_sequence <= sequence and not self._closed:
            await self._published.wait()

    def close(self) -> None:
        """No more events will come: wake everyone waiting for one."""
        self._closed = True
        self._published.set()
        self._observer.closed()  # observability

    async def read(self, after_sequence: int, limit: int) -> list[Event]:
        """Up to `limit` durable events after `after_sequence`."""
        tail = self._tail
        if tail and tail[0].sequence <= after_sequence + 1:
            start = after_sequence + 1 - tail[0].sequence
            return tail[start : start + limit]
        return await self._store.read_events(self._plan_id, after_sequence, limit)
