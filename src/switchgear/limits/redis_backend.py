"""The Redis limits backend: counters shared by every gateway process and replica.

Each ``admit`` and each ``complete`` is one server-side script call (lua.py), so every
multi-counter change is atomic and costs one round trip. Scripts are called by SHA and
loaded when the server does not know them (NOSCRIPT: first use, a restart, a flush). Time
is the Redis server's clock, so processes with skewed clocks agree.

The hot path is lean on purpose: commands are serialised here (key names and per-key
arguments once per BudgetKey/RateKey, cached), sent on a pooled redis-py connection and
read with its hiredis parser.

Failures: every call has one deadline (``timeout_ms``: waiting for a pooled connection,
connecting, sending and reading together); running out of it, or any connection error,
raises ``BackendUnavailable``. The client never retries on its own — an admit that timed
out may still have run, and only the caller knows what to do about that (resilient.py
releases it later; the ticket's ttl is the backstop).

Needs Redis >= 7.0 (``PEXPIRE ... GT``). Redis Cluster: ``complete`` touches the keys its ticket record names, so every key must
live in one slot — put a hash tag in the prefix (``key_prefix: "switchgear:{limits}:"``).
"""

from __future__ import annotations

import asyncio
import hashlib

import msgspec
from redis import exceptions as rx
from redis.asyncio import BlockingConnectionPool, Redis
from redis.maint_notifications import MaintNotificationsConfig
from redis.backoff import NoBackoff
from redis.retry import Retry

from switchgear.limits import lua
from switchgear.limits.backend import (
    LATE_GRACE_S,
    PERIOD_RETENTION_S,
    TOMBSTONE_S,
    DuplicateTicket,
    expire_at,
    rate_order,
)
from switchgear.limits.types import (
    Admission,
    Admitted,
    BackendUnavailable,
    BudgetKey,
    Completion,
    Crossed,
    RateKey,
    RateState,
    Refused,
)

# What "Redis is not there" looks like; anything else (a script error) is a bug and propagates.
_UNAVAILABLE = (
    rx.ConnectionError,  # refused, reset, closed, no connection in the pool, LOADING
    rx.TimeoutError,
    TimeoutError,  # our deadline
    OSError,
    rx.ReadOnlyError,  # a failover in progress: we reached a replica
    rx.MasterDownError,
    rx.ClusterDownError,
    rx.OutOfMemoryError,  # maxmemory reached: counters cannot be written
)
_KINDS = (None, "budget", "requests", "tokens", "concurrency")
_NO_CROSSING = Completion()
_PLAN_CACHE_MAX = 8192



def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


class _Script:
    """A script called by SHA with a command we serialise ourselves (RESP), so the hot
    path skips redis-py's per-argument encoding: key names and per-key arguments are
    serialised once per budget/rate key (see _BudgetPlan) and joined per call."""

    __slots__ = ("head", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        sha = hashlib.sha1(text.encode()).hexdigest().encode()
        self.head = b"$7\r\nEVALSHA\r\n" + _bulk(sha)

    def command(self, keys: list[bytes], args: list[bytes], nkeys: int, nargs: int) -> bytes:
        return b"".join((b"*%d\r\n" % (2 + 1 + nkeys + nargs), self.head, _bulk(b"%d" % nkeys), *keys, *args))


class _BudgetPlan:
    __slots__ = ("args", "hash_key", "keys", "until")

    def __init__(self, hash_key: str, keys: bytes, args: bytes, until: int) -> None:
        self.hash_key = hash_key  # b:<id>
        self.keys = keys  # RESP of b:<id>, bt:<id>
        self.args = args  # RESP of limit, expire_at, soft thresholds, blob
        self.until = until


class _RatePlan:
    __slots__ = ("args", "keys")

    def __init__(self, keys: bytes, args: bytes) -> None:
        self.keys = keys  # RESP of r:<id>, c:<id>
        self.args = args  # RESP of rpm, tpm, concurrent


class RedisBackend:
    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "switchgear:",
        timeout_ms: float = 250.0,
        max_connections: int = 32,
        period_retention_s: int = PERIOD_RETENTION_S,
        late_grace_s: float = LATE_GRACE_S,
    ) -> None:
        self._timeout = timeout_ms / 1000
        # No socket timeouts of redis-py's own: each call runs under one deadline (_run),
        # and cancelling a command makes redis-py drop that connection, never reuse it.
        self._pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=None,
            socket_timeout=None,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
            # redis-py 8's maintenance notifications (on by default, "auto") make a pooled
            # connection skip its liveness check: after a Redis restart every stale one
            # would fail once and look like an outage. Off: stale ones are replaced.
            maint_notifications_config=MaintNotificationsConfig(enabled=False),
        )
        self._redis = Redis(connection_pool=self._pool)
        self._admit_script = _Script(lua.ADMIT)
        self._complete_script = _Script(lua.COMPLETE)
        self._usage_script = _Script(lua.USAGE)
        self._charge_script = _Script(lua.CHARGE)
        self._scripts = (self._admit_script, self._complete_script, self._usage_script, self._charge_script)
        self._prefix = key_prefix
        self._t = (key_prefix + "t:").encode()
        self._retention = period_retention_s
        self._grace = late_grace_s
        self._tomb = _bulk(b"%d" % int(TOMBSTONE_S * 1000))
        # Key names and script arguments per budget/rate key, computed once.
        self._budget_plans: dict[BudgetKey, _BudgetPlan] = {}
        self._rate_plans: dict[RateKey, _RatePlan] = {}

    @property
    def key_prefix(self) -> str:
        return self._prefix

    # ---- the protocol -------------------------------------------------------------

    async def admit(self, a: Admission) -> Admitted | Refused:
        budgets, rates = a.budgets, a.rates
        nb, nr = len(budgets), len(rates)
        t = a.ticket.encode()
        keys = [_bulk(self._t + t)]
        args = [
            _bulk(t),
            _bulk(b"%d" % a.reserve_nano),
            _bulk(b"%d" % a.tokens),
            _bulk(repr(float(a.ttl_s)).encode()),
            _bulk(b"%d" % nb),
            _bulk(b"%d" % nr),
            _bulk(b"%d" % int((a.ttl_s + self._grace) * 1000)),
        ]
        bplans = self._budget_plans
        for bk in budgets:
            bp = bplans.get(bk) or self._budget_plan(bk)
            keys.append(bp.keys)
            args.append(bp.args)
        rplans = self._rate_plans
        for rk in rates:
            rp = rplans.get(rk) or self._rate_plan(rk)
            keys.append(rp.keys)
            args.append(rp.args)
        r = await self._run(self._admit_script.command(keys, args, 1 + 2 * (nb + nr), 7 + 4 * nb + 3 * nr))

        if r[0] == 1:
            used = tuple(zip(budgets, r[1 : 1 + nb]))
            states = []
            i = 1 + nb
            for rk in rates:
                if rk.rpm is not None or rk.tpm is not None:
                    rq, tq, rt, tt = r[i : i + 4]
                    states.append(
                        RateState(
                            rk.name,
                            rk.rpm,
                            None if rk.rpm is None else rq,
                            None if rk.rpm is None else tq / 1000,
                            rk.tpm,
                            None if rk.tpm is None else rt,
                            None if rk.tpm is None else tt / 1000,
                        )
                    )
                i += 4
            if len(states) > 1:
                states.sort(key=rate_order)
            return Admitted(a.ticket, tuple(states), used)
        if r[0] == 0:
            _, kind, index, retry_ms, used_now, limit = r
            retry = None if retry_ms < 0 else retry_ms / 1000
            if kind == 1:
                bk = budgets[index - 1]
                return Refused("budget", bk.name, bk.instance, None, bk.reset_at, limit, used_now)
            rk = rates[index - 1]
            return Refused(_KINDS[kind], rk.name, rk.instance, retry, None, limit, used_now)  # type: ignore[arg-type]
        raise DuplicateTicket(a.ticket)

    async def complete(self, ticket: str, actual_nano: int, actual_tokens: int) -> Completion:
        cmd = self._complete_script.command(
            [_bulk(self._t + ticket.encode())], [_bulk(b"%d" % actual_nano), _bulk(b"%d" % actual_tokens), self._tomb], 1, 3
        )
        r = await self._run(cmd)
        if not r:
            return _NO_CROSSING
        crossed = []
        for i in range(0, len(r), 3):
            soft, name, instance, period_start, reset_at, limit = msgspec.msgpack.decode(r[i])
            bk = BudgetKey(name, instance, period_start, reset_at, limit, tuple(soft))
            crossed.append(Crossed(bk, r[i + 1], r[i + 2]))
        return Completion(tuple(crossed))

    async def budget_usage(self, key: BudgetKey) -> tuple[int, int]:
        bp = self._budget_plans.get(key) or self._budget_plan(key)
        spent, reserved = await self._run(self._usage_script.command([bp.keys], [], 2, 0))
        return spent, reserved

    async def charge(self, key: BudgetKey, nano: int) -> None:
        bp = self._budget_plans.get(key) or self._budget_plan(key)
        cmd = self._charge_script.command([_bulk(bp.hash_key.encode())], [_bulk(b"%d" % nano), _bulk(b"%d" % bp.until)], 1, 2)
        await self._run(cmd)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                return bool(await self._redis.ping())
        except (*_UNAVAILABLE, rx.RedisError):  # e.g. auth: not usable either
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._pool.disconnect()

    # ---- internals ----------------------------------------------------------------

    async def _run(self, cmd: bytes):  # type: ignore[no-untyped-def]
        """Send one script call and read its reply, all within the deadline."""
        pool = self._pool
        try:
            async with asyncio.timeout(self._timeout):
                conn = await pool.get_connection()
                try:
                    await conn.send_packed_command(cmd, check_health=False)
                    try:
                        return await conn.read_response()
                    except rx.NoScriptError:
                        pass
                    # A fresh (or flushed) server: load the scripts, then call again.
                    for script in self._scripts:
                        await conn.send_command("SCRIPT", "LOAD", script.text)
                        await conn.read_response()
                    await conn.send_packed_command(cmd, check_health=False)
                    return await conn.read_response()
                finally:
                    await pool.release(conn)
        except _UNAVAILABLE as e:
            raise BackendUnavailable(f"redis: {type(e).__name__}: {e}") from e

    def _budget_plan(self, bk: BudgetKey) -> _BudgetPlan:
        if len(self._budget_plans) >= _PLAN_CACHE_MAX:
            self._budget_plans.clear()  # old periods and instances: cheap to recompute
        kid = bk.id
        p = self._prefix
        until = expire_at(bk, self._retention)
        soft = ",".join(map(str, bk.soft_nano)).encode()
        # Returned by complete when a soft threshold is crossed, to rebuild the BudgetKey.
        blob = msgspec.msgpack.encode(
            [list(bk.soft_nano), bk.name, bk.instance, bk.period_start, bk.reset_at, bk.limit_nano]
        )
        plan = _BudgetPlan(
            p + "b:" + kid,
            _bulk((p + "b:" + kid).encode()) + _bulk((p + "bt:" + kid).encode()),
            b"".join(map(_bulk, (b"%d" % bk.limit_nano, b"%d" % until, soft, blob))),
            until,
        )
        self._budget_plans[bk] = plan
        return plan

    def _rate_plan(self, rk: RateKey) -> _RatePlan:
        if len(self._rate_plans) >= _PLAN_CACHE_MAX:
            self._rate_plans.clear()
        kid = rk.id
        p = self._prefix
        nums = (
            -1 if rk.rpm is None else max(rk.rpm, 0),
            -1 if rk.tpm is None else max(rk.tpm, 0),
            -1 if rk.concurrent is None else max(rk.concurrent, 0),
        )
        plan = _RatePlan(
            _bulk((p + "r:" + kid).encode()) + _bulk((p + "c:" + kid).encode()),
            b"".join(_bulk(b"%d" % n) for n in nums),
        )
        self._rate_plans[rk] = plan
        return plan
