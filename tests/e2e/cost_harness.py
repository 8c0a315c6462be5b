"""Cost controls end to end: gateway configs with budgets, rate limits and the response
cache over a shared Redis, a burst driver for the async SDKs, and the exact arithmetic
a test checks the gateway's numbers against (switchgear.pricing, the same catalog).

The provider is the simulator (``vendor: simulator``) reached at the test's SimThread, so
its models carry the catalog's made-up prices: sim-gpt $0.15 / $0.60 per Mtok.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import redis

from switchgear.core.types import Usage
from switchgear.identity import repository as repo
from switchgear.limits.redis_backend import RedisBackend
from switchgear.limits.types import BudgetKey
from switchgear.pricing.catalog import PriceCatalog
from switchgear.pricing.price import cost_nano, worst_case_nano
from switchgear.store.database import Database
from tests.e2e.harness import UPSTREAM_KEY, GatewayProcess
from tests.e2e.identity_harness import Deployment

OVERHEAD = 64  # stages.limits._REQUEST_OVERHEAD: tokens allowed beyond the body's bytes
CATALOG = PriceCatalog.build()


def price(model: str = "sim-gpt") -> Any:
    p = CATALOG.lookup("simulator", model, time.time())
    assert p is not None, model
    return p


def actual_nano(usage: Any, model: str = "sim-gpt") -> int:
    """What a response's usage costs: the gateway must have settled exactly this."""
    details = getattr(usage, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return cost_nano(price(model), Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                                         cached_input_tokens=cached))


def anthropic_nano(usage: Any, model: str = "sim-claude") -> int:
    """An Anthropic Messages usage, normalised as the gateway does (input counts cache
    reads and writes)."""
    read = usage.cache_read_input_tokens or 0
    write = usage.cache_creation_input_tokens or 0
    return cost_nano(price(model), Usage(input_tokens=usage.input_tokens + read + write,
                                         output_tokens=usage.output_tokens, cached_input_tokens=read,
                                         cache_write_tokens=write))


def worst_nano(body_bytes: int, max_tokens: int, model: str = "sim-gpt") -> int:
    """The reservation of a request (stages.limits): body bytes + overhead, + max_tokens."""
    return worst_case_nano(price(model), body_bytes + OVERHEAD, max_tokens)


def providers(sim_url: str) -> list[dict[str, Any]]:
    fast = {"connect": 2, "first_token": 20, "idle": 20, "total": 30}
    return [
        {"name": "sim", "vendor": "simulator", "format": "openai_chat", "base_url": f"{sim_url}/v1",
         "api_key": UPSTREAM_KEY, "timeouts": fast},
        {"name": "sim-anthropic", "vendor": "simulator", "format": "anthropic_messages", "base_url": sim_url,
         "api_key": UPSTREAM_KEY, "timeouts": fast},
        # The same simulator as another provider: a deployment of its own for quota tests.
        {"name": "sim-quota", "vendor": "simulator", "format": "openai_chat", "base_url": f"{sim_url}/v1",
         "api_key": UPSTREAM_KEY, "timeouts": fast},
    ]


def models() -> list[dict[str, Any]]:
    # Breakers that never trip: a test's refusals and cut streams must not change the next one's.
    lenient = {"consecutive_failures": 1_000_000, "failure_rate": None}
    return [
        {"name": "sim-gpt", "deployments": [{"provider": "sim", "model": "sim-gpt"}], "breaker": lenient},
        {"name": "sim-claude", "deployments": [{"provider": "sim-anthropic", "model": "sim-claude"}],
         "breaker": lenient},
        {"name": "quota-gpt", "deployments": [{"provider": "sim-quota", "model": "sim-gpt"}], "breaker": lenient},
        # The same deployment as sim-gpt, with the response cache on.
        {"name": "cached-gpt", "deployments": [{"provider": "sim", "model": "sim-gpt"}], "breaker": lenient,
         "cache": {"ttl_s": 60}},
    ]


def config(sim_url: str, keys: dict[str, str], limits: dict[str, Any], *,
           cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """A config-only gateway: ``keys`` name -> secret (each granted every model), ``limits``
    the LimitsConfig (key_prefix, budgets, rate_limits, …), ``cache`` the CacheConfig."""
    cfg: dict[str, Any] = {
        "auth": {"keys": [{"name": n, "key": k, "grants": [{"models": ["*"]}]} for n, k in keys.items()]},
        "providers": providers(sim_url),
        "models": models(),
        "limits": limits,
    }
    if cache is not None:
        cfg["cache"] = cache
    return cfg


# ---- reading the shared counters ----------------------------------------------------------


def budget_key(name: str, limit_usd: float, instance: str = "") -> BudgetKey:
    """A lifetime budget's counter (period_start 0; the limit does not name the counter)."""
    return BudgetKey(name, instance, 0, None, round(limit_usd * 1e9))


async def budget_usage(redis_url: str, prefix: str, key: BudgetKey) -> tuple[int, int]:
    """(spent, reserved) as the gateways see it — releasing expired tickets first, as
    every admission does."""
    b = RedisBackend(redis_url, key_prefix=prefix, timeout_ms=2000)
    try:
        return await b.budget_usage(key)
    finally:
        await b.aclose()


def raw_budget(redis_url: str, prefix: str, key: BudgetKey) -> tuple[int, int]:
    """(spent, reserved) straight from the hash, without releasing anything."""
    r = redis.Redis.from_url(redis_url)
    try:
        s, res = r.hmget(f"{prefix}b:{key.id}", "s", "r")
    finally:
        r.close()
    return int(s or 0), int(res or 0)


async def settled(redis_url: str, prefix: str, key: BudgetKey, timeout: float = 10.0) -> tuple[int, int]:
    """Wait until nothing is reserved (completions settle off the response path)."""
    deadline = time.monotonic() + timeout
    while True:
        spent, reserved = await budget_usage(redis_url, prefix, key)
        if reserved == 0 or time.monotonic() > deadline:
            return spent, reserved
        await asyncio.sleep(0.05)


# ---- firing bursts ----------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """One request of a burst: what came back, and when (monotonic seconds)."""

    gateway: int
    ok: bool
    status: int
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: Any = None
    cut: bool = False  # the client walked away mid-stream
    text: str = ""
    sent: float = 0.0
    done: float = 0.0
    error: BaseException | None = None


class BodySizes:
    """An httpx request hook: the bytes of every request body the SDK sent (the
    reservation is priced from them)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    async def __call__(self, request: httpx.Request) -> None:
        if request.method == "POST":
            self.sizes.append(len(request.content))


def async_openai(url: str, key: str, hook: BodySizes | None = None, timeout: float = 30.0) -> openai.AsyncOpenAI:
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000),
        timeout=timeout,
        event_hooks={"request": [hook]} if hook is not None else None,
    )
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=timeout, http_client=client)


def error_outcome(i: int, e: openai.APIStatusError, sent: float) -> Outcome:
    body = e.body if isinstance(e.body, dict) else {}
    code = body.get("code") if "code" in body else (body.get("error") or {}).get("code")
    return Outcome(i, False, e.status_code, code, dict(e.response.headers), sent=sent, done=time.monotonic(), error=e)


async def burst(n: int, clients: list[Any], one: Callable[[Any, int, int], Awaitable[Outcome]]) -> list[Outcome]:
    """``n`` requests at once, round-robin over ``clients`` (one per gateway process);
    ``one(client, gateway index, request index)``."""
    start = asyncio.Event()

    async def run(i: int) -> Outcome:
        await start.wait()  # every task is created before the first is sent
        g = i % len(clients)
        return await one(clients[g], g, i)

    tasks = [asyncio.create_task(run(i)) for i in range(n)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


async def chat(client: openai.AsyncOpenAI, g: int, model: str = "sim-gpt", max_tokens: int = 200,
               prompt: str = "count the cost of this", **kw: Any) -> Outcome:
    sent = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_completion_tokens=max_tokens, **kw)
    except openai.APIStatusError as e:
        return error_outcome(g, e, sent)
    r = raw.parse()
    done = time.monotonic()
    return Outcome(g, True, raw.status_code, None, dict(raw.headers), r.usage, sent=sent, done=done,
                   text=r.choices[0].message.content or "")


async def stream(client: openai.AsyncOpenAI, g: int, model: str = "sim-gpt", max_tokens: int = 200,
                 prompt: str = "count the cost of this", cut_after: int | None = None, **kw: Any) -> Outcome:
    """A streamed chat with usage; ``cut_after``: close the connection after that many chunks."""
    sent = time.monotonic()
    try:
        async with client.chat.completions.with_streaming_response.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_completion_tokens=max_tokens,
            stream=True, stream_options={"include_usage": True}, **kw,
        ) as raw:
            headers = dict(raw.headers)
            usage = None
            n = 0
            parts: list[str] = []
            s = await raw.parse()
            async for chunk in s:
                n += 1
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if cut_after is not None and n >= cut_after:
                    await s.close()  # the client walks away: the connection is closed
                    return Outcome(g, True, raw.status_code, None, headers, None, cut=True, sent=sent,
                                   done=time.monotonic())
            return Outcome(g, True, raw.status_code, None, headers, usage, sent=sent, done=time.monotonic(),
                           text="".join(parts))
    except openai.APIStatusError as e:
        return error_outcome(g, e, sent)


class UpstreamWatch:
    """Samples how many requests the upstream has received (``count``, called in a
    thread), so a test knows by when every admitted request had been admitted: admission
    comes before the upstream call."""

    def __init__(self, count: Callable[[], int], interval_s: float = 0.02) -> None:
        self._count = count
        self._interval = interval_s
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            n = await asyncio.to_thread(self._count)
            self.samples.append((time.monotonic(), n))  # taken after the count: an upper bound
            await asyncio.sleep(self._interval)

    async def __aenter__(self) -> UpstreamWatch:  # noqa: PYI034 - not subclassed
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self.samples.append((time.monotonic(), await asyncio.to_thread(self._count)))

    def reached(self, n: int) -> float:
        """When the upstream had seen at least ``n`` requests (inf: never)."""
        return next((t for t, c in self.samples if c >= n), float("inf"))


@dataclass(slots=True)
class Timeline:
    """When a burst's admission decisions happened, bounded from the client's clock."""

    all_upstream: float  # every admitted request had been admitted (the upstream had them all)
    last_refusal: float  # the last refusal had been decided (it had come back)
    first_settlement: float  # no admitted request could have settled before this

    @property
    def in_flight_together(self) -> bool:
        """Every admitted request was admitted before any was answered: all in flight at once."""
        return self.all_upstream < self.first_settlement

    @property
    def decided_before_settling(self) -> bool:
        """Every decision of the burst, refusals too, saw only reservations — never a settled
        cost — so exactly as many worst cases were admitted as fit."""
        return max(self.all_upstream, self.last_refusal) < self.first_settlement

    @property
    def margin(self) -> float:
        return self.first_settlement - max(self.all_upstream, self.last_refusal)


def timeline(outs: list[Outcome], latency_s: float, watch: UpstreamWatch) -> Timeline:
    """A refusal was decided before it came back; every admitted request was decided
    before the upstream had seen them all (``watch``); none settled earlier than
    ``latency_s`` (the simulator's wait before answering) after it was sent."""
    admitted = [o for o in outs if o.ok]
    refused = [o for o in outs if not o.ok]
    return Timeline(
        all_upstream=watch.reached(len(admitted)),
        last_refusal=max((o.done for o in refused), default=float("-inf")),
        first_settlement=min(o.sent for o in admitted) + latency_s,
    )


# ---- a store-backed deployment with the simulator's priced models ---------------------------


class PricedDeployment(Deployment):
    """identity_harness.Deployment (a migrated store, an org with an admin, N gateway
    processes; ``service_account``, ``admin``, ``ok``), in front of this module's priced
    simulator models instead of the standard ones. No limits: the ledger alone."""

    def __init__(self, store_url: str, sim_url: str, workdir: Path, processes: int = 1) -> None:
        self.store_url = store_url
        self.workdir = workdir
        db = Database(store_url)
        try:
            def boot(conn):  # type: ignore[no-untyped-def]
                org = repo.create_org(conn, "acme")
                admin = repo.create_principal(conn, org.id, "user", "root", role="org_admin")
                _, secret = repo.create_key(conn, org.id, admin.id, "bootstrap")
                return org, admin, secret

            self.org, self.admin_principal, self.admin_key = db.run_sync(boot)
        finally:
            db.close_sync()
        self.config = {
            "auth": {"keys": []},
            "providers": providers(sim_url),
            "models": models(),
            "store": {"url": store_url, "refresh_interval_s": 30},
            "audit": {"signing_key_file": str(workdir / "audit-key.pem"), "flush_interval_ms": 50},
        }
        self.gateways = []
        for i in range(processes):
            d = workdir / f"gw{i}"
            d.mkdir(exist_ok=True)
            self.gateways.append(GatewayProcess(self.config, d))
