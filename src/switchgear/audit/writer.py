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
import logging
import time
from collections.abc import Sequence

from switchgear.audit.entry import AuditEntry
from switchgear.audit.export import JsonlSink
from switchgear.audit.signing import Signer
from switchgear.audit.store import SealedRow, checkpoint_if_due, seal_and_append
from switchgear.config.schema import AuditConfig
from switchgear.store.batch_writer import BatchWriter
from switchgear.store.database import Database

log = logging.getLogger("switchgear.audit")


class AuditWriter(BatchWriter[AuditEntry]):
    """The queue is store.batch_writer's; this adds the chain: each batch is sealed and
    appended (store.seal_and_append), the head is signed on the interval when idle and
    on stop, and committed batches go to the optional JSONL sink."""

    name = "audit"

    def __init__(
        self,
        db: Database,
        config: AuditConfig,
        signer: Signer | None,
        *,
        retry_max_s: float = 5.0,
    ) -> None:
        super().__init__(db, queue_max=config.queue_max, batch_max=config.batch_max,
                         flush_interval_ms=config.flush_interval_ms, on_full=config.on_full,
                         retry_max_s=retry_max_s, log=log)
        self._signer = signer
        self._checkpoint_every = config.checkpoint_every
        self._checkpoint_interval = config.checkpoint_interval_s
        self._sink = JsonlSink(config.jsonl_file) if config.jsonl_file else None
        self._last_checkpoint_try = time.monotonic()
        self._written_at_checkpoint_try = 0
        self.sink_errors = 0  # JSONL file writes that failed (the store write stood)
        self.last_seq = 0  # the chain seq of the last entry this writer committed

    async def _write(self, batch: Sequence[AuditEntry]) -> list[SealedRow]:
        sealed: list[SealedRow] = await self._db.run(
            seal_and_append, batch, self._signer, self._checkpoint_every, self._checkpoint_interval,
        )
        self.last_seq = sealed[-1].seq
        return sealed

    async def _written(self, sealed: list[SealedRow]) -> None:
        if self._sink is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._sink.write, sealed)
            except OSError as e:
                self.sink_errors += 1
                log.warning("audit JSONL sink %s failed: %s", self._sink.path, e)

    async def _idle(self) -> None:
        # Sign the head on the interval so the unsigned tail stays bounded in time.
        if (
            self._signer is not None
            and self.written != self._written_at_checkpoint_try
            and time.monotonic() - self._last_checkpoint_try >= self._checkpoint_interval
        ):
            await self._checkpoint(self._checkpoint_interval)

    async def _stopped(self, lost: int) -> None:
        if not lost and self._signer is not None:
            await self._checkpoint(0.0)
        if self._sink is not None:
            self._sink.close()

    async def _checkpoint(self, interval: float) -> None:
        assert self._signer is not None
        self._last_checkpoint_try = time.monotonic()
        self._written_at_checkpoint_try = self.written
        try:
            await self._db.run(checkpoint_if_due, self._signer, interval)
        except Exception as e:  # noqa: BLE001 - the next flush or interval tries again
            log.warning("audit checkpoint failed: %s", e)
