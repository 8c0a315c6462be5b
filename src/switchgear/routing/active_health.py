"""Active health checks: a cheap model-list request per checked deployment, on a timer,
whose outcome feeds that deployment's circuit breaker (passive health is live traffic).

So a dead upstream's breaker opens before a client pays for finding out, and a breaker
closes again when the upstream is back, without waiting for client traffic to probe it.

A check goes through the breaker like a request does: ``allow`` first (an open breaker
is not checked until its open period ends; a half-open one gives the check a probe slot),
then ``record_success`` / ``record_failure``. The runtime can be swapped by a reload, so
every check looks the deployment and its breaker up by name in the *current* runtime.

Outcome of a check: a connection/timeout failure or a 5xx is a failure; a 429 says
nothing about health (the slot is released, as for a live request); any other answer
(2xx, and 401/403/404 from a server that is up but does not like the request) is a
success: the upstream answered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterator

from switchgear.core.errors import GatewayError
from switchgear.routing.breaker import is_breaker_failure
from switchgear.routing.table import Deployment

_now = time.monotonic


def check_path(dep: Deployment) -> str | None:
    """The model-list path for the deployment's wire format (relative to its pool's base);
    None: not supported (Bedrock: the model list is another AWS API)."""
    fmt = dep.target.format
    if fmt == "openai_chat":
        version = dep.target.options.get("api_version") if dep.target.options else None
        return f"/openai/models?api-version={version}" if version else "/models"
    if fmt == "anthropic_messages":
        return "/v1/models"
    if fmt == "gemini":
        return "/v1beta/models"
    return None


def checked_deployments(cfg: Any) -> Iterator[tuple[str, float, float]]:
    """(deployment name, interval_s, timeout_s) for each deployment with a health check
    (its own, else its provider's); each deployment name once."""
    providers = {p.name: p for p in cfg.providers}
    seen: set[str] = set()
    for m in cfg.models:
        for d in m.deployments:
            name = f"{d.provider}/{d.model}"
            h = d.health_check or providers[d.provider].health_check
            if h is None or name in seen:
                continue
            seen.add(name)
            yield name, h.interval_s, h.timeout_s


def find_deployment(rt: Any, name: str) -> Deployment | None:
    for route in rt.routes.exact.values():
        for dep in route.deployments:
            if dep.name == name:
                return dep
    for _, route in rt.routes.wildcards:
        for dep in route.deployments:
            if dep.name == name:
                return dep
    return None


async def probe(dep: Deployment, path: str, timeout: float) -> bool | None:
    """One check. True: healthy; False: failing; None: says nothing (rate limited)."""
    try:
        async with asyncio.timeout(timeout):
            resp = await dep.pool.request("GET", path, list(dep.target.headers), b"",
                                          first_byte_timeout=timeout, total_timeout=timeout)
            try:
                await resp.read()
            finally:
                resp.close()
    except TimeoutError:
        return False
    except GatewayError as e:  # the transport's typed connect/reset/timeout errors
        return False if is_breaker_failure(e) else None
    except OSError:
        return False
    if resp.status >= 500:
        return False
    if resp.status == 429:
        return None
    return True


async def run_check(get_runtime: Callable[[], Any], name: str, interval: float, timeout: float) -> None:
    """Check ``name`` every ``interval`` seconds until cancelled."""
    while True:
        rt = get_runtime()
        dep = find_deployment(rt, name)
        breaker = rt.breakers.get(name)
        path = check_path(dep) if dep is not None else None
        if dep is not None and breaker is not None and path is not None and breaker.allow(_now()):
            try:
                ok = await probe(dep, path, timeout)
            except asyncio.CancelledError:
                breaker.release(_now())
                raise
            except Exception:  # a bug here must not kill the checker; it says nothing about the upstream
                ok = None
            breaker = get_runtime().breakers.get(name) or breaker  # swapped meanwhile: the current one
            if ok is True:
                breaker.record_success(_now())
            elif ok is False:
                breaker.record_failure(_now())
            else:
                breaker.release(_now())
        await asyncio.sleep(interval)


def start_checks(cfg: Any, get_runtime: Callable[[], Any]) -> list[asyncio.Task]:
    """One background task per checked deployment; the caller cancels them at shutdown."""
    loop = asyncio.get_running_loop()
    return [
        loop.create_task(run_check(get_runtime, name, interval, timeout), name=f"health-check {name}")
        for name, interval, timeout in checked_deployments(cfg)
    ]
