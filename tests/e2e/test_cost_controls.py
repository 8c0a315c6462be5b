"""Cost controls, proved end to end: real gateway processes sharing one real Redis, the
simulator upstream (priced: sim-gpt $0.15 / $0.60 per Mtok) and the official SDKs.

- Hard budgets under 500 concurrent requests split across two processes (unary, streams,
  clients walking away mid-stream): settled spend never exceeds the budget and equals,
  to the nano-dollar, the sum of the answers' usage x price (a cut stream: its worst
  case); every refusal is a 429 ``budget_exceeded`` with ``x-should-retry: false``;
  nothing stays reserved.
- A process SIGKILLed mid-flight: its reservations hold the budget until the reservation
  TTL, then are given back; the surviving process keeps serving.
- Rate limits across two processes: requests per minute in a burst (tolerance: the
  burst's duration x rpm/60) and under sustained load (bounds from the client's clock,
  about a tenth of a request wide), concurrency exactly, tokens per minute with the
  estimate corrected to the actual count, provider (deployment) quotas; the OpenAI-style
  x-ratelimit-* headers and Retry-After.
- Redis killed (and frozen) mid-load: fail closed (503 promptly, in-flight requests finish,
  admitted again when Redis is back) and fail open (local limits enforced, local spend
  reconciled into the restarted Redis).
- The response cache: hits cost nothing (headers, budget), ``Cache-Control: no-cache``
  bypasses it, another caller never gets someone else's answer.
- The spend ledger through the admin API equals the responses' usage x price exactly.

Concurrency is real and checked: the simulator holds each admitted request ``LAT``
seconds and a watcher counts what reaches it, so a test knows (from the client's clock)
that every admitted request was in flight at once. When every decision, refusals too, also
came before the first settlement — the usual case — the admitted count is exactly
``limit // worst case``, and a leaked or double-counted reservation would show.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest
import redis

from switchgear.identity.keys import visible_prefix
from switchgear.simulator import SimulatorConfig
from tests import stores
from tests.e2e import cost_harness as ch
from tests.e2e.harness import UPSTREAM_KEY, GatewayProcess, SimThread
from tests.limits.support import SHARED_REDIS_URL as SHARED
from tests.limits.support import OwnRedis, count_keys, delete_keys, unique_prefix

LAT = 4.0  # seconds the simulator holds each admitted request of a budget burst
KEYS = {n: f"sk-cost-{n}-0123456789abcdef" for n in ("budget", "streams", "cuts", "rpm", "conc", "tpm",
                                                    "cache-a", "cache-b", "cache-r", "quota", "warm", "steady")}
# Hard budgets of about 100 worst cases. The worst case of a request is (body bytes + 64)
# input tokens at $0.15/Mtok + max_tokens at $0.60/Mtok: 111-byte unary bodies with
# max_tokens 200 reserve $0.00014625; 165-byte streamed bodies with max_tokens 100
# $0.00009435. The tests compute the exact expectation from the bodies the SDK really sent.
BURST_USD = 0.0147
STREAM_USD = 0.00948
RPM = 60
CONCURRENT = 5
QUOTA_RPM = 3
STEADY_RPM = 120  # 2 per second once the first 120 are gone
TPM = 1600  # four estimates of 375 tokens (111 bytes + 64 + max_tokens 200), and 100 over


def configure(sim: SimThread, **settings: Any) -> None:
    sim.call(sim.sim.configure, **settings)


def upstream_chats(sim: SimThread) -> int:
    return sum(1 for r in sim.requests() if r["path"].endswith(("/chat/completions", "/messages")))


async def wait_until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def watched_burst(sim: SimThread, n: int, clients: list[Any], one: Any,
                        ) -> tuple[list[ch.Outcome], ch.UpstreamWatch]:
    """A burst (cost_harness.burst), watching the simulator count its requests."""
    base = upstream_chats(sim)
    async with ch.UpstreamWatch(lambda: upstream_chats(sim) - base) as watch:
        outs = await ch.burst(n, clients, one)
    return outs, watch


async def close(clients: list[Any]) -> None:
    for c in clients:
        await c.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    """Replies longer than any max_tokens here: every answer is exactly max_tokens long."""
    s = SimThread(SimulatorConfig(api_key=UPSTREAM_KEY, seed=1, reply_tokens=400, max_recorded_requests=5000))
    yield s
    s.close()


@dataclass
class Pair:
    gateways: list[GatewayProcess]
    prefix: str

    def clients(self, key: str, hook: ch.BodySizes | None = None) -> list[openai.AsyncOpenAI]:
        return [ch.async_openai(g.url, KEYS[key], hook) for g in self.gateways]


@pytest.fixture(scope="module")
def pair(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two gateway processes sharing the shared Redis under one prefix of this module's
    own; every test uses its own key, so its own budget and rate-limit counters."""
    prefix = unique_prefix()
    limits = {
        "backend": "redis", "redis_url": SHARED, "key_prefix": prefix, "reservation_ttl_s": 30,
        "budgets": [
            {"name": "burst", "scope": {"key": "budget"}, "period": "lifetime", "limit_usd": BURST_USD},
            {"name": "streams", "scope": {"key": "streams"}, "period": "lifetime", "limit_usd": STREAM_USD},
            {"name": "cuts", "scope": {"key": "cuts"}, "period": "lifetime", "limit_usd": STREAM_USD},
            {"name": "cache", "scope": {"key": "cache-a"}, "period": "lifetime", "limit_usd": 1.0},
        ],
        "rate_limits": [
            {"name": "rpm", "scope": {"key": "rpm"}, "rpm": RPM},
            {"name": "conc", "scope": {"key": "conc"}, "concurrent": CONCURRENT},
            {"name": "tpm", "scope": {"key": "tpm"}, "tpm": TPM},
            {"name": "cache-rpm", "scope": {"key": "cache-r"}, "rpm": 1000},
            {"name": "warm", "scope": {"key": "warm"}, "rpm": 100_000},
            {"name": "steady", "scope": {"key": "steady"}, "rpm": STEADY_RPM},
            # A provider quota: the deployment of model quota-gpt (provider sim-quota) only.
            {"name": "quota", "scope": {"deployment": "sim-quota/sim-gpt"}, "rpm": QUOTA_RPM},
        ],
    }
    cfg = ch.config(sim.url, KEYS, limits, cache={"backend": "redis"})
    gws: list[GatewayProcess] = []
    try:
        for i in range(2):
            g = GatewayProcess(cfg, tmp_path_factory.mktemp(f"cost-gw{i}"))
            gws.append(g)
            # Warm each process (first-request imports, the Redis scripts loaded) so the
            # first burst measures admission, not start-up.
            warm = openai.OpenAI(base_url=f"{g.url}/v1", api_key=KEYS["warm"], max_retries=0, timeout=20)
            warm.chat.completions.create(model="sim-gpt", max_completion_tokens=4, stream=True,
                                         messages=[{"role": "user", "content": "warm up"}]).close()
            warm.chat.completions.create(model="sim-gpt", max_completion_tokens=4,
                                         messages=[{"role": "user", "content": "warm up"}])
        yield Pair(gws, prefix)
    finally:
        for g in gws:
            g.stop()
        delete_keys(SHARED, prefix)


# ---- hard budgets under concurrency ----------------------------------------------------------


def check_budget_burst(outs: list[ch.Outcome], watch: ch.UpstreamWatch, hook: ch.BodySizes, limit_usd: float,
                       max_tokens: int, spent: int, reserved: int, label: str) -> tuple[int, list[ch.Outcome]]:
    """The proof, shared by the three bursts; returns the worst case and the admitted."""
    limit = round(limit_usd * 1e9)
    (size,) = set(hook.sizes)  # identical requests: one worst case
    worst = ch.worst_nano(size, max_tokens)
    admitted = [o for o in outs if o.ok]
    refused = [o for o in outs if not o.ok]
    assert len(outs) == 500 and all(o.status == 200 for o in admitted)
    for o in refused:  # no other outcome than the budget error
        assert isinstance(o.error, openai.RateLimitError), (o.status, o.code)
        assert (o.status, o.code) == (429, "budget_exceeded")
        assert o.headers.get("x-should-retry") == "false"  # the SDK must not retry it
        assert "retry-after" not in o.headers
    tl = ch.timeline(outs, LAT, watch)
    assert tl.in_flight_together, f"not concurrent: {tl}"
    # A refusal means the budget held more than limit - worst: at least this many fit …
    assert len(admitted) >= limit // worst
    if tl.decided_before_settling:
        # … and when every decision saw only reservations (the usual case: the simulator
        # holds each admitted request LAT seconds), exactly as many worst cases as fit.
        assert len(admitted) == limit // worst
    # Otherwise a few settlements (actual < worst) came before the last refusals and may have
    # let one or two more in; the spend checks below hold regardless.
    assert {o.gateway for o in admitted} == {0, 1} and {o.gateway for o in refused} == {0, 1}
    assert reserved == 0  # every reservation settled
    assert spent <= limit
    print(f"\n{label}: {len(admitted)} admitted / {len(refused)} budget_exceeded; worst case {worst} nano-$; "
          f"spent {spent} of {limit} nano-$ ({spent / limit:.1%}); decisions done {tl.margin:.2f}s "
          f"before the first settlement")
    return worst, admitted


async def test_500_concurrent_requests_on_two_processes_never_overspend_a_hard_budget(
    pair: Pair, sim: SimThread,
) -> None:
    configure(sim, latency_ms=LAT * 1000)
    hook = ch.BodySizes()
    clients = pair.clients("budget", hook)
    outs, watch = await watched_burst(sim, 500, clients, lambda c, g, i: ch.chat(c, g, max_tokens=200))
    await close(clients)
    spent, reserved = await ch.settled(SHARED, pair.prefix, ch.budget_key("burst", BURST_USD))
    _, admitted = check_budget_burst(outs, watch, hook, BURST_USD, 200, spent, reserved, "unary")
    assert all(o.usage.completion_tokens == 200 for o in admitted)
    assert spent == sum(ch.actual_nano(o.usage) for o in admitted)  # exactly what was answered
    assert upstream_chats(sim) == len(admitted)  # a refusal never reached the provider
    # The same budget refuses the Anthropic dialect too, in its own error shape: what is
    # left (limit - spent, about $0.0026) is less than the worst case of 1000 sim-claude
    # output tokens at $5/Mtok.
    async with anthropic.AsyncAnthropic(base_url=pair.gateways[1].url, api_key=KEYS["budget"], max_retries=0) as c:
        with pytest.raises(anthropic.RateLimitError) as e:
            await c.messages.create(model="sim-claude", max_tokens=1000, messages=[{"role": "user", "content": "hi"}])
    body: Any = e.value.body
    assert body["error"]["type"] == "rate_limit_error" and "budget 'burst'" in e.value.message
    assert e.value.response.headers["x-should-retry"] == "false"


async def test_500_concurrent_streams_never_overspend_a_hard_budget(pair: Pair, sim: SimThread) -> None:
    configure(sim, latency_ms=LAT * 1000)
    hook = ch.BodySizes()
    clients = pair.clients("streams", hook)
    outs, watch = await watched_burst(sim, 500, clients, lambda c, g, i: ch.stream(c, g, max_tokens=100))
    await close(clients)
    spent, reserved = await ch.settled(SHARED, pair.prefix, ch.budget_key("streams", STREAM_USD))
    _, admitted = check_budget_burst(outs, watch, hook, STREAM_USD, 100, spent, reserved, "streams")
    assert all(o.usage is not None and o.usage.completion_tokens == 100 for o in admitted)
    assert spent == sum(ch.actual_nano(o.usage) for o in admitted)
    assert upstream_chats(sim) == len(admitted)


async def test_streams_cut_by_their_clients_are_settled_at_their_reservation(pair: Pair, sim: SimThread) -> None:
    """Half the clients close the connection after two chunks, mid-stream. The upstream
    never reported usage for those: each is charged its worst case (the provider bills
    what it generated, which the gateway cannot see) — still never past the budget."""
    configure(sim, latency_ms=LAT * 1000, tokens_per_second=100)  # a 100-token stream lasts 1 s
    hook = ch.BodySizes()
    clients = pair.clients("cuts", hook)
    outs, watch = await watched_burst(sim, 500, clients, lambda c, g, i: ch.stream(c, g, max_tokens=100,
                                                                     cut_after=2 if i % 4 < 2 else None))
    await close(clients)
    spent, reserved = await ch.settled(SHARED, pair.prefix, ch.budget_key("cuts", STREAM_USD))
    worst, admitted = check_budget_burst(outs, watch, hook, STREAM_USD, 100, spent, reserved, "streams, half cut")
    cut = [o for o in admitted if o.cut]
    whole = [o for o in admitted if not o.cut]
    assert cut and whole
    assert all(o.usage is not None and o.usage.completion_tokens == 100 for o in whole)
    assert spent == sum(ch.actual_nano(o.usage) for o in whole) + len(cut) * worst
    print(f"  {len(cut)} cut mid-stream (charged {worst} each), {len(whole)} whole")


async def test_a_killed_process_holds_its_reservations_until_they_expire_and_the_other_keeps_serving(
    sim: SimThread, tmp_path: Path,
) -> None:
    ttl = 3.0
    limit_usd = 0.00446  # 30.5 unary worst cases
    key_secret = "sk-cost-kill-0123456789abcdef"
    prefix = unique_prefix()
    cfg = ch.config(sim.url, {"kill": key_secret}, {
        "backend": "redis", "redis_url": SHARED, "key_prefix": prefix, "reservation_ttl_s": ttl,
        "budgets": [{"name": "kill", "scope": {"key": "kill"}, "period": "lifetime", "limit_usd": limit_usd}],
    })
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    survivor = GatewayProcess(cfg, tmp_path / "a")
    victim = GatewayProcess(cfg, tmp_path / "b")
    bk = ch.budget_key("kill", limit_usd)
    limit = bk.limit_nano
    hook = ch.BodySizes()
    a = ch.async_openai(survivor.url, key_secret, hook)
    b = ch.async_openai(victim.url, key_secret, hook)
    try:
        configure(sim, latency_ms=10_000)  # the victim's requests are held upstream
        t_sent = time.monotonic()
        held = [asyncio.create_task(ch.chat(b, 1, max_tokens=200)) for _ in range(10)]
        await wait_until(lambda: upstream_chats(sim) == 10, what="the victim's requests upstream")
        t_seen = time.monotonic()
        worst = ch.worst_nano(hook.sizes[0], 200)
        assert ch.raw_budget(SHARED, prefix, bk) == (0, 10 * worst)

        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(5)
        lost = await asyncio.gather(*held, return_exceptions=True)
        assert all(isinstance(e, openai.APIConnectionError) for e in lost), lost
        # Right after the kill: the dead process's reservations still hold the budget.
        assert await ch.budget_usage(SHARED, prefix, bk) == (0, 10 * worst)
        assert time.monotonic() < t_sent + ttl

        # The survivor serves — within what the dead process still holds.
        configure(sim, latency_ms=1000)
        outs, watch = await watched_burst(sim, 25, [a], lambda c, g, i: ch.chat(c, g, max_tokens=200))
        admitted = [o for o in outs if o.ok]
        assert all((o.status, o.code) == (429, "budget_exceeded") for o in outs if not o.ok)
        tl = ch.timeline(outs, 1.0, watch)
        assert tl.decided_before_settling, tl
        assert max(tl.all_upstream, tl.last_refusal) < t_sent + ttl  # while the dead reservations held
        assert len(admitted) == limit // worst - 10 == 20

        # Released once the TTL has run out — not before, and not much after.
        while True:
            spent, reserved = await ch.budget_usage(SHARED, prefix, bk)
            now = time.monotonic()
            if reserved == 0:
                break
            assert now < t_seen + ttl + 1.0, f"still reserved {reserved} at {now - t_sent:.2f}s"
            await asyncio.sleep(0.05)
        assert now >= t_sent + ttl - 0.05
        assert spent == sum(ch.actual_nano(o.usage) for o in admitted)  # nothing leaked, nothing lost
        print(f"\nkilled process: {10 * worst} nano-$ held; released {now - t_sent:.2f}s after sending "
              f"(ttl {ttl}s); survivor admitted {len(admitted)} of 25 meanwhile")

        configure(sim, latency_ms=0)
        after = await ch.chat(a, 0, max_tokens=200)
        assert after.ok  # the freed budget is usable again
    finally:
        await close([a, b])
        survivor.stop()
        if victim.proc.poll() is None:
            victim.stop()
        else:
            victim.log.close()
        delete_keys(SHARED, prefix)


# ---- rate limits -------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s|(\d+)ms)$")


def seconds(reset: str) -> float:
    """OpenAI's reset durations: "1s", "6m0s", "1h2m3s", "250ms"."""
    m = _DURATION.match(reset)
    assert m, reset
    h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


async def test_requests_per_minute_are_shared_by_two_processes_within_the_refill(pair: Pair, sim: SimThread) -> None:
    clients = pair.clients("rpm")
    t0 = time.monotonic()
    # One after another, alternating processes: one bucket, counted down by both.
    seq = [await ch.chat(clients[i % 2], i % 2, max_tokens=16) for i in range(3)]
    assert [int(o.headers["x-ratelimit-remaining-requests"]) for o in seq] == [RPM - 1, RPM - 2, RPM - 3]
    outs, _ = await watched_burst(sim, 200, clients, lambda c, g, i: ch.chat(c, g, max_tokens=16))
    window = max(o.done for o in outs) - t0
    await close(clients)
    admitted = [o for o in seq + outs if o.ok]
    refused = [o for o in outs if not o.ok]
    # Token bucket: a burst of RPM, then RPM/60 per second. Over a window of `window`
    # seconds at most RPM + window * RPM / 60 fit; at least RPM (the bucket starts full).
    tolerance = window * RPM / 60
    assert RPM <= len(admitted) <= RPM + tolerance
    print(f"\nrpm {RPM}: {len(admitted)} admitted of 203 in {window:.2f}s (allowed {RPM}..{RPM + tolerance:.1f})")
    assert {o.gateway for o in admitted} == {0, 1}
    for o in refused:
        assert isinstance(o.error, openai.RateLimitError)
        assert (o.status, o.code) == (429, "rate_limit_requests")
        assert 1 <= int(o.headers["retry-after"]) <= 60 / RPM  # one request's refill, rounded up
    for o in admitted:
        h = o.headers
        assert h["x-ratelimit-limit-requests"] == str(RPM)
        rem = int(h["x-ratelimit-remaining-requests"])
        assert 0 <= rem <= RPM - 1
        # Full again after (RPM - level) refills of 60/RPM seconds, level in [rem, rem + 1).
        assert (RPM - 1 - rem) * 60 / RPM <= seconds(h["x-ratelimit-reset-requests"]) <= (RPM - rem) * 60 / RPM
        assert "x-ratelimit-limit-tokens" not in h  # no token limit on this key
    assert min(int(o.headers["x-ratelimit-remaining-requests"]) for o in admitted) == 0


async def test_requests_per_minute_hold_under_sustained_load_from_two_processes(pair: Pair, sim: SimThread) -> None:
    """Eight clients (four per process) retry at once for three seconds: after the bucket's
    first STEADY_RPM, exactly STEADY_RPM/60 per second get through. Bounds from the
    client's clock (t1 = the first admission, r = the last refusal's decision):
    admitted <= RPM + (last admission - t1) * RPM/60, and — the bucket was empty at r —
    admitted > RPM - 1 + (r - t1) * RPM/60."""
    clients = pair.clients("steady")
    per_s = STEADY_RPM / 60
    outs: list[ch.Outcome] = []
    t0 = time.monotonic()

    async def worker(c: openai.AsyncOpenAI, g: int) -> None:
        while time.monotonic() < t0 + 3.0:
            o = await ch.chat(c, g, max_tokens=8)
            outs.append(o)
            if not o.ok:
                assert (o.status, o.code) == (429, "rate_limit_requests")
                await asyncio.sleep(0.02)

    try:
        await asyncio.gather(*(worker(clients[i % 2], i % 2) for i in range(8)))
    finally:
        await close(clients)
    ok = [o for o in outs if o.ok]
    refused = [o for o in outs if not o.ok]
    t1_early, t1_late = t0, min(o.done for o in ok)  # the first admission lies between
    hi = STEADY_RPM + (max(o.done for o in ok) - t1_early) * per_s
    lo = STEADY_RPM - 1 + (max(o.sent for o in refused) - t1_late) * per_s
    print(f"\nsteady rpm {STEADY_RPM}: {len(ok)} admitted, {len(refused)} refused in "
          f"{max(o.done for o in outs) - t0:.2f}s (bounds {lo:.1f} < n <= {hi:.1f})")
    assert lo < len(ok) <= hi
    assert {o.gateway for o in ok} == {0, 1}


async def test_concurrent_requests_never_exceed_the_limit_and_slots_come_back(pair: Pair, sim: SimThread) -> None:
    configure(sim, latency_ms=1500)
    clients = pair.clients("conc")
    conc_key = f"{pair.prefix}c:conc|"
    r = redis.Redis.from_url(SHARED)
    try:
        for _ in range(2):
            outs, watch = await watched_burst(sim, 40, clients, lambda c, g, i: ch.chat(c, g, max_tokens=16))
            assert ch.timeline(outs, 1.5, watch).decided_before_settling
            admitted = [o for o in outs if o.ok]
            assert len(admitted) == CONCURRENT  # all 40 in flight together, 5 let through
            for o in outs:
                if not o.ok:
                    assert (o.status, o.code) == (429, "rate_limit_concurrency")
                    assert int(o.headers["retry-after"]) >= 1
            # Every slot is freed when its request completes (settled off the response path).
            await wait_until(lambda: r.zcard(conc_key) == 0, what="concurrency slots freed")
    finally:
        r.close()
        await close(clients)
    assert upstream_chats(sim) == 2 * CONCURRENT


async def test_tokens_per_minute_charge_the_estimate_and_correct_it_to_the_actual(pair: Pair, sim: SimThread) -> None:
    configure(sim, latency_ms=1000)
    hook = ch.BodySizes()
    clients = pair.clients("tpm", hook)
    t0 = time.monotonic()
    outs, watch = await watched_burst(sim, 20, clients, lambda c, g, i: ch.chat(c, g, max_tokens=200))
    (size,) = set(hook.sizes)
    est = size + ch.OVERHEAD + 200  # the estimate: the input's upper bound + max_tokens
    fit = TPM // est
    tl = ch.timeline(outs, 1.0, watch)
    assert tl.decided_before_settling, tl  # no correction came before a decision
    refill = (max(tl.all_upstream, tl.last_refusal) - t0) * TPM / 60
    assert TPM - fit * est + refill < est  # the refill during the burst cannot admit one more
    admitted = [o for o in outs if o.ok]
    assert len(admitted) == fit == 4
    for o in outs:
        if not o.ok:
            assert (o.status, o.code) == (429, "rate_limit_tokens")
            assert int(o.headers["retry-after"]) >= 1
    remaining = sorted((int(o.headers["x-ratelimit-remaining-tokens"]) for o in admitted), reverse=True)
    for k, rem in enumerate(remaining, 1):  # after the k-th admission: TPM - k * est, plus the refill
        assert TPM - k * est <= rem <= TPM - k * est + refill
    for o in admitted:
        rem = int(o.headers["x-ratelimit-remaining-tokens"])
        assert o.headers["x-ratelimit-limit-tokens"] == str(TPM)
        # Full again after (TPM - level) tokens at TPM/60 per second, rounded up to a second.
        assert (TPM - 1 - rem) * 60 / TPM <= seconds(o.headers["x-ratelimit-reset-tokens"]) <= (TPM - rem) * 60 / TPM + 1
    # Completion corrects each estimate to the actual tokens: the refund lets the next
    # request in at once (without it the bucket holds TPM - 4 * est = 100 plus ~27/s).
    used = [o.usage.prompt_tokens + o.usage.completion_tokens for o in admitted]
    await asyncio.sleep(0.3)  # the corrections are sent just after the answers
    configure(sim, latency_ms=0)
    nxt = await ch.chat(clients[1], 1, max_tokens=200)
    elapsed = time.monotonic() - t0
    await close(clients)
    assert nxt.ok, (nxt.status, nxt.code)
    base = TPM - (fit + 1) * est + sum(est - u for u in used)
    assert base <= int(nxt.headers["x-ratelimit-remaining-tokens"]) <= base + elapsed * TPM / 60
    print(f"\ntpm {TPM}: estimate {est}, {fit} admitted of 20; actual {used[0]} each; "
          f"after correction {nxt.headers['x-ratelimit-remaining-tokens']} left")


async def test_a_deployment_quota_limits_the_requests_sent_to_that_deployment(pair: Pair, sim: SimThread) -> None:
    """``scope: {deployment: provider/model}`` rate limits (provider quotas, as the README
    documents) hold for every caller of that deployment: here 3 requests per minute."""
    clients = pair.clients("quota")
    try:
        outs = [await ch.chat(clients[i % 2], i % 2, "quota-gpt", 16) for i in range(2 * QUOTA_RPM + 2)]
    finally:
        await close(clients)
    # Sent one after another in well under a second: the bucket refills 3/60 per second.
    assert upstream_chats(sim) == QUOTA_RPM, f"the quota let {upstream_chats(sim)} requests through to the deployment"
    assert sum(o.ok for o in outs) == QUOTA_RPM
    for o in outs[QUOTA_RPM:]:
        assert o.status == 429 and int(o.headers["retry-after"]) >= 1


# ---- Redis unreachable -------------------------------------------------------------------------


TIMEOUT_MS = 250  # limits.backend_timeout_ms of the Redis-down tests


def closed_gateway(sim: SimThread, own: OwnRedis, tmp_path: Path) -> tuple[GatewayProcess, openai.AsyncOpenAI]:
    """A gateway failing closed on a Redis of our own, a loose rate limit on its one key
    (so every request needs Redis), and a client for it."""
    secret = "sk-cost-closed-0123456789abcdef"
    cfg = ch.config(sim.url, {"closed": secret}, {
        "backend": "redis", "redis_url": own.url, "key_prefix": unique_prefix(), "on_backend_error": "closed",
        "backend_timeout_ms": TIMEOUT_MS,
        "rate_limits": [{"name": "loose", "scope": {"key": "closed"}, "rpm": 100_000}],
    })
    gw = GatewayProcess(cfg, tmp_path)
    return gw, ch.async_openai(gw.url, secret)


async def test_fail_closed_when_redis_hangs_or_dies_mid_load(sim: SimThread, tmp_path: Path) -> None:
    own = OwnRedis()
    gw, client = closed_gateway(sim, own, tmp_path)

    async def refused_promptly(n: int) -> list[float]:
        took = []
        for _ in range(n):
            t = time.monotonic()
            o = await ch.chat(client, 0, max_tokens=16)
            took.append(time.monotonic() - t)
            assert (o.status, o.code) == (503, "limits_unavailable"), (o.status, o.code)
            assert isinstance(o.error, openai.InternalServerError) and o.headers["retry-after"] == "1"
        assert max(took) < TIMEOUT_MS / 1000 + 0.5  # never a hang beyond the backend deadline
        return took

    async def admitted_again() -> float:
        t = time.monotonic()
        while True:
            o = await ch.chat(client, 0, max_tokens=16)
            if o.ok:
                return time.monotonic() - t
            assert o.code == "limits_unavailable" and time.monotonic() - t < 5.0
            await asyncio.sleep(0.05)

    try:
        assert (await ch.chat(client, 0, max_tokens=16)).ok
        own.freeze()  # a hung server: the socket is open, nothing answers
        frozen = await refused_promptly(3)
        assert frozen[0] >= TIMEOUT_MS / 1000 * 0.8, gw.output()[-2000:]  # the first waited out the deadline
        own.thaw()
        thawed = await admitted_again()

        configure(sim, latency_ms=1000)
        base = upstream_chats(sim)
        inflight = [asyncio.create_task(ch.chat(client, 0, max_tokens=16)) for _ in range(10)]
        await wait_until(lambda: upstream_chats(sim) == base + 10, what="requests in flight")
        own.kill()  # mid-load
        killed = await refused_promptly(5)
        finished = await asyncio.gather(*inflight)
        assert all(o.ok for o in finished)  # admitted before the kill: they complete
        assert upstream_chats(sim) == base + 10  # nothing went upstream unaccounted
        configure(sim, latency_ms=0)
        own.start()
        restarted = await admitted_again()
        print(f"\nfail closed: 503 in {max(frozen) * 1000:.0f} ms (frozen; deadline {TIMEOUT_MS} ms), "
              f"{max(killed) * 1000:.0f} ms (killed); admitted again {thawed:.2f}s / {restarted:.2f}s after Redis returned")
    finally:
        await client.close()
        gw.stop()
        own.close()


async def test_no_request_is_refused_once_a_restarted_redis_is_back(sim: SimThread, tmp_path: Path) -> None:
    """Redis restarts (a crash and its supervisor, a failover) between two bursts of
    requests. It answers again at once, so the second burst must be admitted in full. The
    gateway's pooled connections to the old server are dead, though: each one used is
    "Connection closed by server", which marks the store down — 503s (fail closed) or
    local limits (fail open) while Redis is healthy."""
    own = OwnRedis()
    gw, client = closed_gateway(sim, own, tmp_path)
    try:
        configure(sim, latency_ms=300)
        first = await ch.burst(10, [client], lambda c, g, i: ch.chat(c, g, max_tokens=16))
        assert all(o.ok for o in first)  # ten admissions at once: ten pooled connections
        own.kill()
        own.start()
        assert redis.Redis.from_url(own.url).ping()
        refused = []
        for _ in range(3):  # a second apart: time enough for the gateway's probe to see Redis
            wave = await ch.burst(10, [client], lambda c, g, i: ch.chat(c, g, max_tokens=16))
            refused.append(sum(not o.ok for o in wave))
            await asyncio.sleep(1.0)
        assert refused == [0, 0, 0], f"refused per wave of 10, Redis up all along: {refused}\n{gw.output()[-600:]}"
    finally:
        await client.close()
        gw.stop()
        own.close()


async def test_fail_open_enforces_local_limits_and_reconciles_spend(sim: SimThread, tmp_path: Path) -> None:
    own = OwnRedis()
    prefix = unique_prefix()
    secrets = {n: f"sk-cost-{n}-0123456789abcdef" for n in ("o-load", "o-rpm", "o-budget")}
    limit_usd = 0.0015356  # 10.5 unary worst cases
    cfg = ch.config(sim.url, secrets, {
        "backend": "redis", "redis_url": own.url, "key_prefix": prefix, "on_backend_error": "open",
        "backend_timeout_ms": 250,
        "budgets": [{"name": "open", "scope": {"key": "o-budget"}, "period": "lifetime", "limit_usd": limit_usd}],
        "rate_limits": [{"name": "load", "scope": {"key": "o-load"}, "rpm": 100_000},
                        {"name": "small", "scope": {"key": "o-rpm"}, "rpm": 10}],
    })
    gw = GatewayProcess(cfg, tmp_path)
    hook = ch.BodySizes()
    load, small, budget = (ch.async_openai(gw.url, secrets["o-load"]), ch.async_openai(gw.url, secrets["o-rpm"]),
                           ch.async_openai(gw.url, secrets["o-budget"], hook))
    bk = ch.budget_key("open", limit_usd)
    try:
        before = [await ch.chat(budget, 0, max_tokens=200) for _ in range(2)]  # seen by Redis
        assert all(o.ok for o in before)
        configure(sim, latency_ms=1000)
        inflight = [asyncio.create_task(ch.chat(load, 0, max_tokens=16)) for _ in range(5)]
        await wait_until(lambda: upstream_chats(sim) == 7, what="requests in flight")
        own.kill()  # mid-load

        # Requests keep succeeding, against this process's own limits: 10 per minute …
        rpm_outs, _ = await watched_burst(sim, 15, [small], lambda c, g, i: ch.chat(c, g, max_tokens=16))
        assert sum(o.ok for o in rpm_outs) == 10
        assert all((o.status, o.code) == (429, "rate_limit_requests") for o in rpm_outs if not o.ok)
        # … and the budget, seeded with the last usage Redis reported (spent + reserved at
        # the second admission: between actual(1st) + worst and 2 x worst).
        outs, watch = await watched_burst(sim, 15, [budget], lambda c, g, i: ch.chat(c, g, max_tokens=200))
        (size,) = set(hook.sizes)
        worst = ch.worst_nano(size, 200)
        limit = bk.limit_nano
        lo = (limit - 2 * worst) // worst
        hi = (limit - ch.actual_nano(before[0].usage) - worst) // worst
        assert ch.timeline(outs, 1.0, watch).decided_before_settling
        local = [o for o in outs if o.ok]
        assert lo <= len(local) <= hi
        assert all((o.status, o.code) == (429, "budget_exceeded") for o in outs if not o.ok)
        assert all(o.ok for o in await asyncio.gather(*inflight))

        # Redis is back (empty: it kept nothing): what was spent locally is added to it.
        configure(sim, latency_ms=0)
        own.start()
        local_spend = sum(ch.actual_nano(o.usage) for o in local)
        t = time.monotonic()
        while (await ch.budget_usage(own.url, prefix, bk))[0] != local_spend:
            assert time.monotonic() - t < 6.0, await ch.budget_usage(own.url, prefix, bk)
            await asyncio.sleep(0.05)
        assert "limits store is back" in gw.output()
        print(f"\nfail open: local rpm 10 -> 10 of 15; local budget -> {len(local)} of 15 "
              f"(expected {lo}..{hi}); {local_spend} nano-$ reconciled {time.monotonic() - t:.2f}s after restart")
    finally:
        await close([load, small, budget])
        gw.stop()
        own.close()


# ---- the response cache ----------------------------------------------------------------------


async def test_cached_answers_cost_nothing_and_stay_with_their_caller(pair: Pair, sim: SimThread) -> None:
    a0, a1 = pair.clients("cache-a")
    b0, _ = pair.clients("cache-b")
    entries = f"{pair.prefix}cache:"
    prompt = "what does a cached answer cost"

    before = count_keys(SHARED, entries)

    def stored(n: int) -> Callable[[], bool]:
        return lambda: count_keys(SHARED, entries) == before + n

    try:
        miss = await ch.chat(a0, 0, "cached-gpt", 50, prompt)
        assert miss.ok and miss.headers["x-switchgear-cache"] == "miss"
        assert "x-switchgear-cost-usd" not in miss.headers
        await wait_until(stored(1), what="the answer stored")
        hit = await ch.chat(a1, 1, "cached-gpt", 50, prompt)  # the other process: the cache is in Redis
        assert hit.ok and hit.headers["x-switchgear-cache"] == "hit"
        assert hit.headers["x-switchgear-cost-usd"] == "0" and int(hit.headers["age"]) >= 0
        assert hit.text == miss.text and upstream_chats(sim) == 1

        s_miss = await ch.stream(a0, 0, "cached-gpt", 50, prompt)
        assert s_miss.headers["x-switchgear-cache"] == "miss"  # a stream is cached apart
        await wait_until(stored(2), what="the stream stored")
        s_hit = await ch.stream(a1, 1, "cached-gpt", 50, prompt)
        assert s_hit.headers["x-switchgear-cache"] == "hit" and s_hit.headers["x-switchgear-cost-usd"] == "0"
        assert s_hit.text == s_miss.text and s_hit.usage is not None and upstream_chats(sim) == 2

        fresh = await ch.chat(a0, 0, "cached-gpt", 50, prompt, extra_headers={"cache-control": "no-cache"})
        assert fresh.headers["x-switchgear-cache"] == "bypass" and upstream_chats(sim) == 3

        other = await ch.chat(b0, 0, "cached-gpt", 50, prompt)  # another caller: never a's answer
        assert other.headers["x-switchgear-cache"] == "miss" and upstream_chats(sim) == 4

        # The budget was charged for the three answers from upstream, never for the hits.
        spent, reserved = await ch.settled(SHARED, pair.prefix, ch.budget_key("cache", 1.0))
        assert reserved == 0
        assert spent == ch.actual_nano(miss.usage) + ch.actual_nano(s_miss.usage) + ch.actual_nano(fresh.usage)
    finally:
        await close([a0, a1, b0])


async def test_a_cache_hit_carries_the_rate_limit_headers_it_was_counted_against(pair: Pair, sim: SimThread) -> None:
    """A hit passes the limits stage (a request per minute is taken from the caller's
    bucket), so it reports the caller's allowance like any other successful response."""
    c0, c1 = pair.clients("cache-r")
    entries = f"{pair.prefix}cache:"
    before = count_keys(SHARED, entries)
    try:
        miss = await ch.chat(c0, 0, "cached-gpt", 30, "rate-limited and cached")
        await wait_until(lambda: count_keys(SHARED, entries) == before + 1, what="the answer stored")
        hit = await ch.chat(c1, 1, "cached-gpt", 30, "rate-limited and cached")
    finally:
        await close([c0, c1])
    assert miss.headers["x-switchgear-cache"] == "miss" and miss.headers["x-ratelimit-limit-requests"] == "1000"
    assert hit.headers["x-switchgear-cache"] == "hit" and upstream_chats(sim) == 1
    assert hit.headers.get("x-ratelimit-limit-requests") == "1000", sorted(hit.headers)
    assert 0 <= int(hit.headers["x-ratelimit-remaining-requests"]) <= 999


# ---- the spend ledger ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ch.PricedDeployment]:
    """Two gateway processes sharing a SQLite store (identity, audit, the spend ledger)."""
    work = tmp_path_factory.mktemp("ledger")
    with stores.sqlite_database(str(work)) as url:
        dep = ch.PricedDeployment(url, sim.url, work, processes=2)
        try:
            yield dep
        finally:
            dep.stop()


def spend(dep: ch.PricedDeployment, query: str, since: float, requests: int) -> dict[str, Any]:
    """GET /admin/v1/spend once the ledger holds ``requests`` rows (written in batches)."""
    deadline = time.monotonic() + 10
    while True:
        out = dep.ok("GET", f"/admin/v1/spend?{query}&since={since:.3f}")
        if out["total"]["requests"] >= requests or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def test_the_spend_ledger_through_the_admin_api_equals_usage_times_price(
    ledger: ch.PricedDeployment, sim: SimThread,
) -> None:
    dep = ledger
    since = time.time()
    _, key_a = dep.service_account("ledger-a", ["sim-gpt", "sim-claude", "cached-gpt"])
    _, key_b = dep.service_account("ledger-b", ["sim-gpt"])
    cost: dict[tuple[str, str], int] = {}
    n: dict[tuple[str, str], int] = {}

    def count(key: str, model: str, nano: int) -> None:
        cost[(key, model)] = cost.get((key, model), 0) + nano
        n[(key, model)] = n.get((key, model), 0) + 1

    for i, g in enumerate(dep.gateways * 2):  # both processes write the ledger
        c = openai.OpenAI(base_url=f"{g.url}/v1", api_key=key_a, max_retries=0, timeout=20)
        r = c.chat.completions.create(model="sim-gpt", max_completion_tokens=20 + i,
                                      messages=[{"role": "user", "content": f"ledger line {i}"}])
        count(key_a, "sim-gpt", ch.actual_nano(r.usage))
    for g in dep.gateways:
        m = anthropic.Anthropic(base_url=g.url, api_key=key_a, max_retries=0, timeout=20).messages.create(
            model="sim-claude", max_tokens=30, messages=[{"role": "user", "content": "ledger claude"}])
        count(key_a, "sim-claude", ch.anthropic_nano(m.usage))
    ca = openai.OpenAI(base_url=f"{dep.url}/v1", api_key=key_a, max_retries=0, timeout=20)
    for _ in range(2):  # a miss, then a hit: the hit is a ledger row that cost nothing
        raw = ca.chat.completions.with_raw_response.create(
            model="cached-gpt", max_completion_tokens=25, messages=[{"role": "user", "content": "again"}])
        r = raw.parse()
        count(key_a, "cached-gpt", 0 if raw.headers["x-switchgear-cache"] == "hit" else ch.actual_nano(r.usage))
    assert raw.headers["x-switchgear-cache"] == "hit"
    cb = openai.OpenAI(base_url=f"{dep.gateways[1].url}/v1", api_key=key_b, max_retries=0, timeout=20)
    for i in range(2):
        usage = None
        for chunk in cb.chat.completions.create(
                model="sim-gpt", max_completion_tokens=15 + i, stream=True,
                stream_options={"include_usage": True}, messages=[{"role": "user", "content": "stream it"}]):
            usage = chunk.usage or usage
        count(key_b, "sim-gpt", ch.actual_nano(usage))

    total = sum(n.values())
    by_model = spend(dep, "group_by=model", since, total)
    rows = {r["key"]: r for r in by_model["data"]}
    assert set(rows) == {"sim-gpt", "sim-claude", "cached-gpt"}
    for model, row in rows.items():
        assert row["cost_nano"] == sum(v for (_, m), v in cost.items() if m == model)
        assert row["requests"] == sum(v for (_, m), v in n.items() if m == model)
        assert row["estimated_requests"] == 0
    assert rows["cached-gpt"]["cached_requests"] == 1
    assert by_model["total"]["cost_nano"] == sum(cost.values()) and by_model["total"]["requests"] == total

    by_key = {r["key"]: r for r in spend(dep, "group_by=key", since, total)["data"]}
    assert set(by_key) == {visible_prefix(key_a), visible_prefix(key_b)}
    for secret in (key_a, key_b):
        row = by_key[visible_prefix(secret)]
        assert row["cost_nano"] == sum(v for (k, _), v in cost.items() if k == secret)
        assert row["requests"] == sum(v for (k, _), v in n.items() if k == secret)
    print(f"\nledger: {total} requests, {by_model['total']['cost_nano']} nano-$ "
          f"= sum of usage x price, by model and by key")


def test_a_stream_cut_by_its_client_is_in_the_ledger_at_its_worst_case(
    ledger: ch.PricedDeployment, sim: SimThread,
) -> None:
    """The meter's rule (README: "a stream cut off before the upstream reported [usage] is
    charged at its reservation and marked estimated"): the provider bills what it
    generated, which the gateway cannot see. It must not depend on whether a budget
    happens to apply to the caller — here none does."""
    dep = ledger
    since = time.time()
    _, key = dep.service_account("ledger-cut", ["sim-gpt"])
    configure(sim, tokens_per_second=50)  # a 50-token stream lasts a second
    sizes: list[int] = []
    http = httpx.Client(event_hooks={"request": [lambda r: sizes.append(len(r.content))]})
    c = openai.OpenAI(base_url=f"{dep.url}/v1", api_key=key, max_retries=0, timeout=20, http_client=http)
    s = c.chat.completions.create(model="sim-gpt", max_completion_tokens=50, stream=True,
                                  stream_options={"include_usage": True},
                                  messages=[{"role": "user", "content": "walk away from this"}])
    for i, _ in enumerate(s):
        if i == 1:
            break
    s.close()  # the client walks away mid-stream
    http.close()
    worst = ch.worst_nano(sizes[0], 50)
    rows = spend(dep, f"group_by=key&credential_id={visible_prefix(key)}", since, 1)["data"]
    assert len(rows) == 1 and rows[0]["requests"] == 1 and rows[0]["estimated_requests"] == 1
    assert rows[0]["cost_nano"] == worst, f"a cut stream is in the ledger at {rows[0]['cost_nano']} nano-$"
