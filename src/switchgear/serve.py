"""Run the gateway: start embedded simulators, build the runtime, listen, drain.

Shutdown (SIGINT/SIGTERM): /ready turns 503, the listener closes, requests in
flight get up to ``drain_seconds`` to finish, then upstream pools close and the
audit queue is flushed to the store (what a graceful stop must never lose).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from dataclasses import dataclass, field
from typing import TextIO

import msgspec

from switchgear.app import Gateway
from switchgear.config.schema import Config, ProviderConfig
from switchgear.http.server import ServerLimits, start_server
from switchgear.runtime import build_runtime, provider_format
from switchgear.services import Services, open_services
from switchgear.providers.catalog import load_catalog
from switchgear.routing import active_health


@dataclass(slots=True)
class Running:
    gateway: Gateway
    server: asyncio.AbstractServer
    host: str
    port: int
    simulators: list = field(default_factory=list)
    health_checks: list = field(default_factory=list)  # routing.active_health tasks
    services: Services | None = None

    async def stop(self, drain_seconds: float = 10.0) -> None:
        self.gateway.ready = False
        for task in self.health_checks:
            task.cancel()
        await asyncio.gather(*self.health_checks, return_exceptions=True)
        self.server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_seconds
        while self.gateway.inflight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await self.gateway.runtime.aclose()
        if self.services is not None:
            await self.services.close()
        for sim in self.simulators:
            await sim.stop()


_SIM_PREFIX = {"openai_chat": "/v1"}


async def start_simulators(cfg: Config) -> tuple[Config, list]:
    """Start a local simulator for every simulator provider that has no base_url."""
    from switchgear.simulator import Simulator, SimulatorConfig

    sims = []
    providers: list[ProviderConfig] = []
    for p in cfg.providers:
        if p.vendor == "simulator" and not p.base_url:
            settings = msgspec.to_builtins(p.simulator) if p.simulator else {}
            sim = Simulator(msgspec.convert(settings, SimulatorConfig))
            host, port = await sim.start("127.0.0.1", 0)
            sims.append(sim)
            fmt = provider_format(p, load_catalog()[p.vendor])
            p = msgspec.structs.replace(p, base_url=f"http://{host}:{port}{_SIM_PREFIX.get(fmt, '')}")
        providers.append(p)
    return msgspec.structs.replace(cfg, providers=tuple(providers)), sims


async def start(cfg: Config, host: str | None = None, port: int | None = None) -> Running:
    cfg, sims = await start_simulators(cfg)
    try:
        services = await open_services(cfg)
    except BaseException:
        for sim in sims:
            await sim.stop()
        raise
    gateway = Gateway(build_runtime(cfg, services=services))
    if services.db is not None:
        from switchgear.admin.wiring import admin_api

        gateway.admin = admin_api(services)
    s = cfg.server
    limits = ServerLimits(max_body_bytes=s.max_body_bytes, header_timeout=s.header_timeout,
                          keepalive_timeout=s.keepalive_timeout)
    try:
        server = await start_server(gateway.handle, host or s.host, s.port if port is None else port, limits)
    except BaseException:
        await services.close()
        for sim in sims:
            await sim.stop()
        raise
    bound = server.sockets[0].getsockname()
    # Everything built so far lives as long as the process. Freezing it keeps the
    # cyclic GC's full passes from re-scanning it (~17 ms each, a latency spike for
    # every request in flight); per-request garbage is still collected as usual.
    gc.collect()
    gc.freeze()
    # Per-request garbage is freed by reference counting; the cyclic collector only has
    # cycles to find. Its young-generation pass every 700 allocations cost ~6 % of a
    # request's CPU; every 50,000 it is noise, and cyclic garbage still goes promptly.
    gc.set_threshold(50_000, 20, 100)
    # Active health checks look up the *current* runtime each time (a reload swaps it).
    checks = active_health.start_checks(cfg, lambda: gateway.runtime)
    return Running(gateway, server, bound[0], bound[1], sims, checks, services)


def banner(running: Running, generated_key: str | None, out: TextIO) -> None:
    cfg = running.gateway.runtime.config
    url = f"http://{running.host}:{running.port}"
    w = out.write
    w(f"Switchgear listening on {url}  (config: {cfg.source})\n")
    for p in cfg.providers:
        label = "  [SIMULATOR — not a real model]" if p.vendor == "simulator" else ""
        w(f"  provider {p.name:<16} {p.vendor:<12} {p.base_url or ''}{label}\n")
    for m in cfg.models:
        deps = ", ".join(f"{d.provider}/{d.model}" for d in m.deployments)
        w(f"  model    {m.name:<16} {m.kind:<10} -> {deps}\n")
    services = running.services
    if services is not None and services.db is not None:
        from switchgear.store.database import redact

        n = len(services.directory.tables.keys)
        w(f"Identity: store {redact(services.db.url)} ({n} API keys); admin API at {url}/admin/v1 "
          f"(first admin: `switchgear db bootstrap`); audit record "
          f"{'on' if services.audit is not None else 'OFF'}\n")
    if generated_key:
        w(f"Client key (generated for this run; set SWITCHGEAR_API_KEY to fix it): {generated_key}\n")
    elif services is not None and services.db is not None:
        pass
    elif cfg.auth.keys:
        w(f"Client keys: {len(cfg.auth.keys)} configured ({', '.join(k.name for k in cfg.auth.keys)})\n")
    else:
        w("WARNING: no client keys configured: every model request will be refused (401)\n")
    w(f"Try:  OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY=<key> python -c \"import openai; "
      f"print(openai.OpenAI().chat.completions.create(model='{cfg.models[0].name if cfg.models else 'MODEL'}', "
      f"messages=[{{'role':'user','content':'hello'}}]).choices[0].message.content)\"\n")
    out.flush()


async def serve_forever(cfg: Config, host: str | None, port: int | None, generated_key: str | None) -> None:
    running = await start(cfg, host, port)
    banner(running, generated_key, sys.stdout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    sys.stdout.write("Switchgear: draining and shutting down\n")
    await running.stop()
