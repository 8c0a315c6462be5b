"""Records go from the request path to the store through a bounded in-memory queue.

The shared mechanism of the audit writer and the spend writer. ``submit(item)`` runs on
the event loop for every request: a length check and a deque append, no I/O. A
background task writes up to ``batch_max`` items every ``flush_interval_ms`` (at once
when a full batch waits) in one transaction on the store's worker thread. An item leaves
the queue only after its transaction commits, so a failed flush (store down) loses
nothing and reorders nothing: the same items, in order, are retried with capped
exponential back-off.

Bounded: ``full`` is true at ``queue_max`` items. With ``on_full="drop"`` an item beyond
that is dropped and counted; with ``on_full="reject"`` the gateway refuses new requests
while ``full``, and items of requests already admitted still fit up to twice
``queue_max`` (beyond it they too are dropped and counted: memory is never unbounded).

Subclasses say how a batch is written (``_write``), and may act after a write
(``_written``), when idle (``_idle``) and after the last flush on stop (``_stopped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from itertools import islice
from typing import Any, Generic, Literal, TypeVar

from switchgear.store.database import Database

T = TypeVar("T")


class BatchWriter(Generic[T]):
    name = "batch"  # for task names and log lines

    def __init__(
        self, db: Database, *, queue_max: int, batch_max: int, flush_interval_ms: float,
        on_full: Literal["drop", "reject"], retry_max_s: float, log: logging.Logger,
    ) -> None:
        self._db = db
        self._queue: deque[T] = deque()
        self._queue_max = max(1, queue_max)
        self._hard_max = self._queue_max if on_full == "drop" else 2 * self._queue_max
        self._batch_max = max(1, batch_max)
        self._interval = max(0.0, flush_interval_ms / 1000.0)
        self._retry_max = retry_max_s
        self._log = log
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._stopping = False
        self._closed = False
        # Counters for metrics (read them; never reset).
        self.written = 0  # items committed by this writer
        self.flush_errors = 0  # failed flush transactions (each is retried)
        self.dropped = 0  # items refused by submit (bound reached, or stopped)
        self.last_error: str | None = None

    # ---- the request path --------------------------------------------------------------

    @property
    def full(self) -> bool:
        return len(self._queue) >= self._queue_max

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def submit(self, item: T) -> bool:
        """Queue an item (event loop only; O(1)). False if it was dropped."""
        q = self._queue
        n = len(q)
        if n >= self._hard_max or self._closed:
            self.dropped += 1
            return False
        q.append(item)
        if n + 1 == self._batch_max and self._wake is not None:
            self._wake.set()  # a full batch waits: flush now rather than at the interval
        return True

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")

    async def stop(self, timeout: float | None = 30.0) -> int:
        """Write everything queued (items submitted meanwhile too) and stop. Returns how
        many items could not be written (0 unless the store stayed down past ``timeout``)."""
        self._stopping = True
        if self._task is None:
            await self.start()
        assert self._task is not None and self._wake is not None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._closed = True
        lost = len(self._queue)
        if lost:
            self._log.error("%s writer stopped with %d unwritten: %s", self.name, lost, self.last_error)
        await self._stopped(lost)
        return lost

    # ---- flushing ----------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.0
        while True:
            if not self._stopping and len(self._queue) < self._batch_max:
                await self._sleep(self._interval)
            if self._queue:
                if await self.flush_once():
                    delay = 0.0
                else:
                    delay = min(max(delay * 2, 0.05), self._retry_max)
                    await asyncio.sleep(delay)
            elif self._stopping:
                return
            else:
                await self._idle()

    async def _sleep(self, timeout: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def flush_once(self) -> bool:
        """Write up to ``batch_max`` queued items in one transaction. False if the store
        failed: the items stay queued, in order, for the next try."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            n = min(len(self._queue), self._batch_max)
            if n == 0:
                return True
            batch = list(islice(self._queue, n))
            try:
                result = await self._write(batch)
            except Exception as e:  # noqa: BLE001 - store down, or a bug: either way keep the items and retry
                self.flush_errors += 1
                self.last_error = str(e)
                self._log.warning("%s flush of %d failed (will retry): %s", self.name, n, e)
                return False
            for _ in range(n):
                self._queue.popleft()  # only the flusher pops, so these are the n we wrote
            self.written += n
        await self._written(result)
        return True

    # ---- what subclasses say -----------------------------------------------------------

    async def _write(self, batch: Sequence[T]) -> Any:
        raise NotImplementedError

    async def _written(self, result: Any) -> None:
        """After a committed write (outside the flush lock)."""

    async def _idle(self) -> None:
        """The queue is empty and the interval has passed."""

    async def _stopped(self, lost: int) -> None:
        """After the last flush on stop."""
