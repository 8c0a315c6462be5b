"""A separate OS process for the cross-process tests: admits against one Redis budget.

    python -m tests.limits.hammer URL PREFIX LIMIT COST N GO_FILE

Creates GO_FILE.ready.<id> when connected, then waits until GO_FILE exists (so both
processes start together), fires N concurrent
admits of COST against a budget of LIMIT, settles each admitted one at its full cost, and
prints the number admitted.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from switchgear.limits.redis_backend import RedisBackend
from switchgear.limits.types import Admission, Admitted, BudgetKey


async def main(url: str, prefix: str, limit: int, cost: int, n: int, go: str) -> int:
    backend = RedisBackend(url, key_prefix=prefix, timeout_ms=5000, max_connections=16)
    bk = BudgetKey("shared", "", 0, None, limit)
    me = uuid.uuid4().hex[:8]
    # Open the pool's connections before the race starts, then say so and wait.
    await asyncio.gather(*(backend.ping() for _ in range(16)))
    Path(f"{go}.ready.{me}").touch()
    while not Path(go).exists():  # a busy wait, so both start within a few ms of each other
        await asyncio.sleep(0.001)
    results = await asyncio.gather(
        *(backend.admit(Admission(f"{me}-{i}", (bk,), cost, (), 0, 60.0)) for i in range(n))
    )
    got = [r for r in results if isinstance(r, Admitted)]
    await asyncio.gather(*(backend.complete(r.ticket, cost, 0) for r in got))
    await backend.aclose()
    return len(got)


if __name__ == "__main__":
    url, prefix, limit, cost, n, go = sys.argv[1:7]
    print(asyncio.run(main(url, prefix, int(limit), int(cost), int(n), go)))
