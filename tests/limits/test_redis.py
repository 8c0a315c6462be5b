"""What only the Redis backend has: key layout and expiry, script reloading, timeouts,
and several OS processes sharing one budget."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis

from switchgear.limits.backend import PERIOD_RETENTION_S, DuplicateTicket
from switchgear.limits.redis_backend import RedisBackend
from switchgear.limits.types import (
    Admission,
    Admitted,
    BackendUnavailable,
    BudgetKey,
    RateKey,
    Refused,
)
from tests.limits.support import (
    SHARED_REDIS_URL,
    OwnRedis,
    count_keys,
    delete_keys,
    unique_prefix,
)

C = 1_000_000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def shared() -> AsyncIterator[RedisBackend]:
    b = RedisBackend(SHARED_REDIS_URL, key_prefix=unique_prefix(), timeout_ms=2000)
    try:
        yield b
    finally:
        await b.aclose()
        delete_keys(SHARED_REDIS_URL, b.key_prefix)


def _ttls(prefix: str) -> dict[str, int]:
    r = redis.Redis.from_url(SHARED_REDIS_URL)
    try:
        return {k.decode()[len(prefix) :]: r.ttl(k) for k in r.scan_iter(match=prefix + "*")}
    finally:
        r.close()


async def test_keys_live_under_the_prefix_and_expire_as_designed(shared: RedisBackend) -> None:
    now = int(time.time())
    today = now // 86_400 * 86_400
    daily = BudgetKey("daily", "team-a", today, today + 86_400, 10 * C)
    lifetime = BudgetKey("forever", "", 0, None, 10 * C)
    rk = RateKey("rl", "k1", rpm=60, tpm=6_000, concurrent=4)
    a = Admission("t-1", (daily, lifetime), C, (rk,), 600, 30.0)
    assert isinstance(await shared.admit(a), Admitted)
    ttls = _ttls(shared.key_prefix)
    assert set(ttls) == {
        "t:t-1",
        f"b:daily|team-a|{today}",
        f"bt:daily|team-a|{today}",
        "b:forever||0",
        "bt:forever||0",
        "r:rl|k1",
        "c:rl|k1",
    }
    retained = today + 86_400 + PERIOD_RETENTION_S - now
    assert retained - 5 <= ttls[f"b:daily|team-a|{today}"] <= retained
    assert ttls["b:forever||0"] == -1 and ttls["bt:forever||0"] == -1  # lifetime: never
    assert 0 < ttls["t:t-1"] <= 30 + 600  # ttl + late grace
    assert 0 < ttls["r:rl|k1"] <= 7  # until both buckets are full again (6 s) + 1
    assert 0 < ttls["c:rl|k1"] <= 31

    await shared.complete("t-1", C, 600)
    ttls = _ttls(shared.key_prefix)
    assert "t:t-1" not in ttls  # settled tickets leave nothing behind
    assert "bt:forever||0" not in ttls and "c:rl|k1" not in ttls  # empty sets vanish


async def test_idle_rate_buckets_disappear(shared: RedisBackend) -> None:
    rk = RateKey("fast", "", rpm=60_000)  # full again after 1 ms
    await shared.admit(Admission("t-1", (), 0, (rk,), 0, 10.0))
    await shared.complete("t-1", 0, 0)
    await asyncio.sleep(1.1)
    assert count_keys(SHARED_REDIS_URL, shared.key_prefix) == 0


async def test_a_late_admit_after_its_release_is_refused(shared: RedisBackend) -> None:
    # A completion that arrives before its admit (the admit timed out on our side and is
    # still on the wire) leaves a tombstone, so the admit cannot take a reservation.
    bk = BudgetKey("b", "", 0, None, 10 * C)
    await shared.complete("t-late", 0, 0)
    with pytest.raises(DuplicateTicket):
        await shared.admit(Admission("t-late", (bk,), C, (), 0, 60.0))
    assert await shared.budget_usage(bk) == (0, 0)


async def test_scripts_are_reloaded_after_a_flush(own_redis: OwnRedis) -> None:
    b = RedisBackend(own_redis.url, key_prefix="p:")
    try:
        bk = BudgetKey("b", "", 0, None, 10 * C)
        assert isinstance(await b.admit(Admission("t1", (bk,), C, (), 0, 60.0)), Admitted)
        redis.Redis(port=own_redis.port).script_flush()
        assert isinstance(await b.admit(Admission("t2", (bk,), C, (), 0, 60.0)), Admitted)
        await b.complete("t1", C, 0)
        assert await b.budget_usage(bk) == (C, C)
    finally:
        await b.aclose()


async def test_a_hung_server_raises_within_the_timeout(own_redis: OwnRedis) -> None:
    b = RedisBackend(own_redis.url, key_prefix="p:", timeout_ms=200)
    try:
        assert await b.ping()
        own_redis.freeze()
        # A generous guard, not a timing assertion: it must not hang.
        with pytest.raises(BackendUnavailable):
            await asyncio.wait_for(b.admit(Admission("t1", (), 0, (RateKey("r", "", rpm=5),), 0, 60.0)), 5)
        assert await asyncio.wait_for(b.ping(), 5) is False
    finally:
        own_redis.thaw()
        await b.aclose()


async def test_a_dead_server_raises_backend_unavailable(own_redis: OwnRedis) -> None:
    b = RedisBackend(own_redis.url, key_prefix="p:", timeout_ms=200)
    try:
        assert await b.ping()
        own_redis.kill()
        for call in (
            b.admit(Admission("t1", (), 0, (), 0, 60.0)),
            b.complete("t1", 0, 0),
            b.budget_usage(BudgetKey("b", "", 0, None, C)),
            b.charge(BudgetKey("b", "", 0, None, C), 1),
        ):
            with pytest.raises(BackendUnavailable):
                await asyncio.wait_for(call, 5)
        own_redis.start()
        assert await b.ping()
        assert isinstance(await b.admit(Admission("t2", (), 0, (), 0, 60.0)), Admitted)
    finally:
        await b.aclose()


async def test_charge_adds_spend_without_a_reservation(shared: RedisBackend) -> None:
    bk = BudgetKey("b", "", 0, None, 10 * C)
    await shared.charge(bk, 9 * C)
    assert await shared.budget_usage(bk) == (9 * C, 0)
    r = await shared.admit(Admission("t1", (bk,), 2 * C, (), 0, 60.0))
    assert isinstance(r, Refused) and r.used == 9 * C


def test_two_processes_never_overshoot_one_budget(tmp_path: Path) -> None:
    prefix = unique_prefix()
    go = tmp_path / "go"
    limit, cost = 1000 * C, C
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.limits.hammer", SHARED_REDIS_URL, prefix, str(limit), str(cost), "1500", str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("go.ready.*"))) < 2:  # both connected and waiting
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.01)
        go.touch()
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err
        counts = [int(out.strip()) for out, _ in outs]
        assert sum(counts) == 1000, counts
        r = redis.Redis.from_url(SHARED_REDIS_URL)
        spent, reserved = r.hmget(prefix + "b:shared||0", "s", "r")
        r.close()
        assert (int(spent), int(reserved)) == (limit, 0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        delete_keys(SHARED_REDIS_URL, prefix)
