"""A gateway stand-in for the multi-process audit tests (run as a script).

    child_writer.py crash  URL KEYFILE        submit for ever, printing progress; the
                                              parent SIGKILLs it
    child_writer.py append URL KEYFILE TAG N  print "ready", wait for a line on stdin, submit
                                              N entries tagged TAG, then stop()
"""

from __future__ import annotations

import asyncio
import sys
import time

from switchgear.audit.entry import AuditEntry
from switchgear.audit.signing import Signer
from switchgear.audit.writer import AuditWriter
from switchgear.config.schema import AuditConfig
from switchgear.store.database import Database


def _entry(request_id: str) -> AuditEntry:
    return AuditEntry(ts=time.time(), kind="request", action="chat", decision="allow", request_id=request_id)


async def crash(url: str, key: str) -> None:
    db = Database(url)
    w = AuditWriter(db, AuditConfig(flush_interval_ms=20, batch_max=50, checkpoint_every=100), Signer.load_or_create(key))
    await w.start()
    i = 0
    while True:
        for _ in range(10):
            w.submit(_entry(f"r{i}"))
            i += 1
        # "written" counts committed entries: the parent holds us to every one reported.
        print(f"submitted {i} written {w.written}", flush=True)
        await asyncio.sleep(0.002)


async def append(url: str, key: str, tag: str, n: int) -> None:
    db = Database(url)
    w = AuditWriter(db, AuditConfig(flush_interval_ms=1, batch_max=7, checkpoint_every=25), Signer.load_or_create(key))
    await w.start()
    await db.run(lambda c: c.one("SELECT 1"))  # connected: now wait for the parent's "go"
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for i in range(n):
        w.submit(_entry(f"{tag}{i}"))
        if i % 5 == 4:
            # A steady trickle, so both processes flush throughout: SQLite's busy handler
            # backs off for up to 100 ms, and a writer in a tight loop could starve the other.
            await asyncio.sleep(0.004)
    lost = await w.stop()
    await db.close()
    print(f"done {w.written} lost {lost}", flush=True)


if __name__ == "__main__":
    mode, url, key, *rest = sys.argv[1:]
    if mode == "crash":
        asyncio.run(crash(url, key))
    else:
        asyncio.run(append(url, key, rest[0], int(rest[1])))
