"""Audit entries go from the request path to the store through a bounded in-memory queue.

``submit(entry)`` runs on the event loop for every request: a length check and a deque
append, no I/O, no encoding. A background task takes up to ``batch_max`` entries every
``flush_interval_ms`` (or at once when ``batch_max`` are waiting) and appends them in
one transaction on the store's worker thread, where they are encoded, hashed and chained
(store.seal_and_append). An entry leaves the queue only after its transaction commits,
so a failed flush (store down) loses nothing and reorders nothing: the same entries,
in the same order, are retried with capped exponential back-off.

Bounded: the queue holds at most ``queue_max`` entries. With ``on_full="drop"`` an entry
beyond that is dropped and counted (``dropped``). With ``on_full="reject"`` the gateway
reads ``full`` and refuses new requests with 503 until the queue drains; entries of
requests already admitted still fit, up to a hard bound of twice ``queue_max`` (beyond
it they too are dropped and counted: memory is never unbounded).

What a crash loses
    On a graceful stop (SIGTERM → ``await writer.stop()``) every queued entry is written
    and the head is signed, unless the store stays unreachable past the stop timeout
    (``stop`` returns how many were lost, and logs it).
    On a crash (SIGKILL, OOM kill, power loss) the entries still in the queue are lost:
    those submitted in roughly the last ``flush_interval_ms`` (plus the duration of one
    flush, and longer while the store is failing), never more than the queue bound. What
    was committed stays: a commit is one transaction, all of a batch or none of it
    (SQLite runs synchronous=NORMAL in WAL mode, so on *power loss* the last commits may
    roll back too, whole). The chain stays verifiable: the lost entries were never
    chained, so they leave no gap, and the record is a prefix of what was submitted.
    tests/audit/test_crash.py kills a real writer with SIGKILL and checks exactly this.
    One ambiguous case: if the connection dies after the database committed but before
    the commit was acknowledged, the retry writes that batch again (at least once, never
    zero times); the duplicates carry the same request_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from itertools import islice

from switchgear.audit.entry import AuditEntry
from switchgear.audit.export import JsonlSink
from switchgear.audit.signing import Signer
from switchgear.audit.store import checkpoint_if_due, seal_and_append
from switchgear.config.schema import AuditConfig
from switchgear.store.database import Database

log = logging.getLogger("switchgear.audit")


class AuditWriter:
    def __init__(
        self,
        db: Database,
        config: AuditConfig,
        signer: Signer | None,
        *,
        retry_max_s: float = 5.0,
    ) -> None:
        self._db = db
        self._signer = signer
        self._queue: deque[AuditEntry] = deque()
        self._queue_max = max(1, config.queue_max)
        self._hard_max = self._queue_max if config.on_full == "drop" else 2 * self._queue_max
        self._batch_max = max(1, config.batch_max)
        self._interval = max(0.0, config.flush_interval_ms / 1000.0)
        self._checkpoint_every = config.checkpoint_every
        self._checkpoint_interval = config.checkpoint_interval_s
        self._retry_max = retry_max_s
        self._sink = JsonlSink(config.jsonl_file) if config.jsonl_file else None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._stopping = False
        self._closed = False
        self._last_checkpoint_try = time.monotonic()
        self._written_at_checkpoint_try = 0
        # Counters for metrics (read them; never reset).
        self.written = 0  # entries committed by this writer
        self.flush_errors = 0  # failed flush transactions (each is retried)
        self.dropped = 0  # entries refused by submit (queue full in "drop" mode, hard bound, or stopped)
        self.sink_errors = 0  # JSONL file writes that failed (the store write stood)
        self.last_seq = 0  # the chain seq of the last entry this writer committed
        self.last_error: str | None = None

    # ---- the request path --------------------------------------------------------------

    @property
    def full(self) -> bool:
        """True when the queue is at ``queue_max``: with on_full="reject", refuse new requests."""
        return len(self._queue) >= self._queue_max

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def submit(self, entry: AuditEntry) -> bool:
        """Queue an entry (event loop only; O(1)). False if it was dropped."""
        q = self._queue
        n = len(q)
        if n >= self._hard_max or self._closed:
            self.dropped += 1
            return False
        q.append(entry)
        if n + 1 == self._batch_max and self._wake is not None:
            self._wake.set()  # a full batch waits: flush now rather than at the interval
        return True

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self, timeout: float | None = 30.0) -> int:
        """Flush everything queued (entries submitted meanwhile too), sign the head, and
        stop. Returns the number of entries that could not be written (0 unless the
        store stayed down past ``timeout`` seconds)."""
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
            log.error("audit writer stopped with %d entries unwritten: %s", lost, self.last_error)
        elif self._signer is not None:
            await self._checkpoint(0.0)
        if self._sink is not None:
            self._sink.close()
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
            elif self._checkpoint_due():
                # Idle: sign the head on the interval so the unsigned tail stays bounded in time.
                await self._checkpoint(self._checkpoint_interval)

    def _checkpoint_due(self) -> bool:
        return (
            self._signer is not None
            and self.written != self._written_at_checkpoint_try
            and time.monotonic() - self._last_checkpoint_try >= self._checkpoint_interval
        )

    async def _sleep(self, timeout: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def flush_once(self) -> bool:
        """Write up to ``batch_max`` queued entries in one transaction. False if the store
        failed: the entries stay queued, in order, for the next try."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            n = min(len(self._queue), self._batch_max)
            if n == 0:
                return True
            batch = list(islice(self._queue, n))
            try:
                sealed = await self._db.run(
                    seal_and_append, batch, self._signer, self._checkpoint_every, self._checkpoint_interval,
                )
            except Exception as e:  # noqa: BLE001 - store down, or a bug: either way keep the entries and retry
                self.flush_errors += 1
                self.last_error = str(e)
                log.warning("audit flush of %d entries failed (will retry): %s", n, e)
                return False
            for _ in range(n):
                self._queue.popleft()  # only the flusher pops, so these are the n we wrote
            self.written += n
            self.last_seq = sealed[-1].seq
        if self._sink is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._sink.write, sealed)
            except OSError as e:
                self.sink_errors += 1
                log.warning("audit JSONL sink %s failed: %s", self._sink.path, e)
        return True

    async def _checkpoint(self, interval: float) -> None:
        assert self._signer is not None
        self._last_checkpoint_try = time.monotonic()
        self._written_at_checkpoint_try = self.written
        try:
            await self._db.run(checkpoint_if_due, self._signer, interval)
        except Exception as e:  # noqa: BLE001 - the next flush or interval tries again
            log.warning("audit checkpoint failed: %s", e)
