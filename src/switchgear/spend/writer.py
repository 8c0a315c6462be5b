"""Spend records go from the request path to the ledger through a bounded in-memory queue.

The same design as audit.writer (read its docstring for the reasoning), without the hash
chain: ``submit(record)`` is a length check and a deque append on the event loop; a
background task inserts up to ``batch_max`` records in one transaction every
``flush_interval_ms`` (at once when a full batch waits), on the store's worker thread,
where each record's ``day`` is computed. A record leaves the queue only after its
transaction commits, so a failed flush (store down) loses nothing and reorders nothing:
the same records are retried, in order, with capped exponential back-off. A retry of a
batch whose commit went through unacknowledged inserts nothing twice (request_id is the
ledger's key), so each request is counted exactly once.

Bounded: ``full`` is true at ``queue_max`` records. With ``on_full="drop"`` (the default:
spend is accounting, budgets are enforced elsewhere) a record beyond that is dropped and
counted. With ``on_full="reject"`` the gateway may refuse new requests while ``full``;
records of requests already admitted still fit, up to twice ``queue_max``.

What a crash loses: the records still queued — those of roughly the last
``flush_interval_ms`` (longer while the store is failing), never more than the bound.
A graceful ``stop()`` writes everything unless the store stays down past its timeout.

(A small copy of audit.writer's queue rather than a shared base: that one is entangled
with the chain's checkpoints and JSONL sink, and its module is not ours to change.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import tzinfo
from itertools import islice
from typing import Literal

from switchgear.spend.ledger import insert, zone
from switchgear.spend.record import SpendRecord
from switchgear.store.database import Database

log = logging.getLogger("switchgear.spend")


class SpendWriter:
    def __init__(
        self,
        db: Database,
        tz: str | tzinfo = "UTC",
        queue_max: int = 100_000,
        batch_max: int = 1_000,
        flush_interval_ms: float = 500.0,
        *,
        on_full: Literal["drop", "reject"] = "drop",
        retry_max_s: float = 5.0,
    ) -> None:
        self._db = db
        self.tz = zone(tz)  # checked now: a bad name fails at start-up, not at the first flush
        self._queue: deque[SpendRecord] = deque()
        self._queue_max = max(1, queue_max)
        self._hard_max = self._queue_max if on_full == "drop" else 2 * self._queue_max
        self._batch_max = max(1, batch_max)
        self._interval = max(0.0, flush_interval_ms / 1000.0)
        self._retry_max = retry_max_s
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closed = False
        # Counters for metrics (read them; never reset).
        self.written = 0  # records committed by this writer (a duplicate request_id included)
        self.flush_errors = 0  # failed flush transactions (each is retried)
        self.dropped = 0  # records refused by submit (bound reached, or stopped)
        self.last_error: str | None = None

    # ---- the request path --------------------------------------------------------------

    @property
    def full(self) -> bool:
        """True at ``queue_max`` queued records (with on_full="reject": refuse new requests)."""
        return len(self._queue) >= self._queue_max

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def submit(self, record: SpendRecord) -> bool:
        """Queue a record (event loop only; O(1)). False if it was dropped."""
        q = self._queue
        n = len(q)
        if n >= self._hard_max or self._closed:
            self.dropped += 1
            return False
        q.append(record)
        if n + 1 == self._batch_max and self._wake is not None:
            self._wake.set()  # a full batch waits: flush now rather than at the interval
        return True

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="spend-writer")

    async def stop(self, timeout: float | None = 30.0) -> int:
        """Write everything queued (records submitted meanwhile too) and stop. Returns how
        many records could not be written (0 unless the store stayed down past ``timeout``)."""
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
            log.error("spend writer stopped with %d records unwritten: %s", lost, self.last_error)
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

    async def _sleep(self, timeout: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def flush_once(self) -> bool:
        """Insert up to ``batch_max`` queued records in one transaction. False if the store
        failed: the records stay queued, in order, for the next try."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            n = min(len(self._queue), self._batch_max)
            if n == 0:
                return True
            batch = list(islice(self._queue, n))
            try:
                await self._db.run(insert, batch, self.tz)
            except Exception as e:  # noqa: BLE001 - store down, or a bug: either way keep the records and retry
                self.flush_errors += 1
                self.last_error = str(e)
                log.warning("spend flush of %d records failed (will retry): %s", n, e)
                return False
            for _ in range(n):
                self._queue.popleft()  # only the flusher pops, so these are the n we wrote
            self.written += n
        return True
