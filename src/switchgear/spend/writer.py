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
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import tzinfo
from typing import Literal

from switchgear.spend.ledger import insert, zone
from switchgear.spend.record import SpendRecord
from switchgear.store.batch_writer import BatchWriter
from switchgear.store.database import Database

log = logging.getLogger("switchgear.spend")


class SpendWriter(BatchWriter[SpendRecord]):
    name = "spend"

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
        super().__init__(db, queue_max=queue_max, batch_max=batch_max, flush_interval_ms=flush_interval_ms,
                         on_full=on_full, retry_max_s=retry_max_s, log=log)
        self.tz = zone(tz)  # checked now: a bad name fails at start-up, not at the first flush

    async def _write(self, batch: Sequence[SpendRecord]) -> None:
        await self._db.run(insert, batch, self.tz)
