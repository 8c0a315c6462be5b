from __future__ import annotations

import asyncio

from switchgear.audit import chain
from switchgear.audit.signing import Signer, verify_signature
from switchgear.audit.store import (
    append,
    checkpoint_if_due,
    last_seen,
    query,
    seal_and_append,
    usage,
)
from switchgear.audit.verify import verify
from switchgear.store.database import Database
from tests.audit.helpers import entry


async def test_append_chains_entries_and_copies_index_columns(store_url: str) -> None:
    db = Database(store_url)
    try:
        assert await db.run(append, [entry(0), entry(1)], None, 10, 60.0) == 2
        assert await db.run(append, [entry(2, agent_id="a1", decision="deny", rule="no_grant")], None, 10, 60.0) == 3
        assert await db.run(append, [], None, 10, 60.0) == 3
        rows = await db.run(lambda c: c.all(
            "SELECT seq, ts, kind, org_id, principal_id, agent_id, credential_id, action, decision, entry, prev_hash, hash"
            " FROM audit_log ORDER BY seq"
        ))
        assert [r[0] for r in rows] == [1, 2, 3]
        prev = chain.GENESIS
        for seq, ts, kind, *_cols, text, prev_hash, hash_ in rows:
            assert prev_hash == prev
            assert hash_ == chain.link(prev, seq, ts, kind, text)
            prev = hash_
        assert rows[2][3:9] == ("org1", "p2", "a1", "k0", "chat", "deny")
        assert await db.run(lambda c: c.one("SELECT seq, hash FROM audit_head")) == (3, prev)
        assert await db.run(lambda c: c.all("SELECT seq FROM audit_checkpoints")) == []  # no signer, no checkpoints
    finally:
        await db.close()


async def test_checkpoints_every_n_entries_are_signed(store_url: str) -> None:
    db = Database(store_url)
    signer = Signer.generate()
    try:
        for start in range(0, 35, 7):
            await db.run(append, [entry(i) for i in range(start, start + 7)], signer, 10, 1e12)
        cps = await db.run(lambda c: c.all("SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints ORDER BY seq"))
        assert [c[0] for c in cps] == [10, 20, 30]
        hashes = dict(await db.run(lambda c: c.all("SELECT seq, hash FROM audit_log")))
        for seq, hash_, ts, key_id, sig in cps:
            assert hash_ == hashes[seq] and key_id == signer.key_id
            assert verify_signature(signer.public_key, seq, hash_, ts, sig)
    finally:
        await db.close()


async def test_checkpoints_after_an_interval_and_when_idle(store_url: str) -> None:
    db = Database(store_url)
    signer = Signer.generate()
    t0 = entry(0).ts
    try:
        await db.run(seal_and_append, [entry(0), entry(1)], signer, 0, 60.0, t0 + 10)
        assert await db.run(lambda c: c.all("SELECT seq FROM audit_checkpoints")) == []
        await db.run(seal_and_append, [entry(2)], signer, 0, 60.0, t0 + 61)
        assert await db.run(lambda c: c.all("SELECT seq, ts FROM audit_checkpoints")) == [(3, t0 + 61)]
        await db.run(seal_and_append, [entry(3)], signer, 0, 60.0, t0 + 70)
        # Idle: nothing new is appended, but the head is signed once the interval has passed.
        assert await db.run(checkpoint_if_due, signer, 60.0, t0 + 100) is None
        assert await db.run(checkpoint_if_due, signer, 60.0, t0 + 122) == 4
        assert await db.run(checkpoint_if_due, signer, 60.0, t0 + 999) is None  # nothing new since
        report = await asyncio.to_thread(verify, db, [signer.public_key])
        assert report.ok and report.checkpoints_verified == 2 and report.last_checkpoint_seq == 4
    finally:
        await db.close()


async def test_two_databases_appending_concurrently_extend_one_chain(store_url: str) -> None:
    # Two connection pools = two gateways sharing one store: the head lock orders them.
    a, b = Database(store_url), Database(store_url)
    signer = Signer.generate()
    try:
        # Open each pool before concurrent use: Database opens its PostgreSQL pool lazily
        # and concurrent first calls race there (reported to the lead, store/database.py).
        for d in (a, b):
            await d.run(lambda c: c.one("SELECT 1"))

        async def writer(db: Database, tag: str) -> None:
            for n in range(15):
                await db.run(append, [entry(i, request_id=f"{tag}{n}-{i}") for i in range(4)], signer, 9, 1e12)

        await asyncio.gather(writer(a, "a"), writer(b, "b"), writer(a, "c"), writer(b, "d"))
        seqs = await a.run(lambda c: c.all("SELECT seq FROM audit_log ORDER BY seq"))
        assert [s for (s,) in seqs] == list(range(1, 241))
        report = await asyncio.to_thread(verify, a, [signer.public_key])
        assert report.ok, report.problems
        assert report.entries_checked == 240 and report.checkpoints_verified >= 20
    finally:
        await a.close()
        await b.close()


async def test_query_filters_and_pages_by_seq(store_url: str) -> None:
    db = Database(store_url)
    try:
        await db.run(append, [entry(i, agent_id="ag" if i % 5 == 0 else None) for i in range(20)], None, 0, 1e12)
        page1 = await db.run(query, None, None, None, "k1", None, None, None, 4, 0)
        assert [r.seq for r in page1] == [2, 4, 6, 8]
        assert all(r.entry.credential_id == "k1" for r in page1)
        page2 = await db.run(query, None, None, None, "k1", None, None, None, 4, page1[-1].seq)
        assert [r.seq for r in page2] == [10, 12, 14, 16]
        t = entry(0).ts
        recs = await db.run(lambda c: query(c, since=t + 1.0, until=t + 2.0, principal_id="p1"))
        assert [r.entry.request_id for r in recs] == ["r4", "r7"]
        agent = await db.run(lambda c: query(c, agent_id="ag", decision="allow", action="chat"))
        assert [r.seq for r in agent] == [1, 6, 11, 16]
        assert await db.run(lambda c: query(c, action="keys.create")) == []
        assert page1[0].hash != page1[0].prev_hash
    finally:
        await db.close()


async def test_usage_and_last_seen_for_the_access_review(store_url: str) -> None:
    db = Database(store_url)
    entries = [
        entry(0, credential_id="k1", model="gpt-4o", action="chat"),
        entry(1, credential_id="k1", model="claude", action="messages", agent_id="bot"),
        entry(2, credential_id="k1", model="secret-model", decision="deny", rule="no_grant"),
        entry(3, credential_id="k2", model="emb", action="embeddings", agent_id="bot"),
        entry(4, kind="admin", action="keys.create", credential_id="k3", model=None),
        entry(5, credential_id="k1", model="gpt-4o", action="chat"),
    ]
    try:
        await db.run(append, entries, None, 0, 1e12)
        report = await db.run(usage, None, None)
        assert set(report.by_credential) == {"k1", "k2"}  # admin entries are not model usage
        k1 = report.by_credential["k1"]
        assert (k1.count, k1.denied, k1.models, k1.endpoints) == (3, 1, ["claude", "gpt-4o"], ["chat", "messages"])
        assert k1.last_ts == entries[5].ts
        bot = report.by_agent["bot"]
        assert (bot.count, bot.models, bot.endpoints) == (2, ["claude", "emb"], ["embeddings", "messages"])
        windowed = await db.run(usage, entries[1].ts, entries[3].ts)
        assert windowed.by_credential["k1"].count == 1 and windowed.by_credential["k1"].denied == 1
        seen = await db.run(last_seen)
        assert seen.credentials == {"k1": entries[5].ts, "k2": entries[3].ts, "k3": entries[4].ts}
        assert seen.agents == {"bot": entries[3].ts}
    finally:
        await db.close()
