"""`switchgear route explain`: for a model and a caller, which deployments a request may
reach, in what order, and the rule that excluded each of the others.

Computed offline from the config with the same code dispatch uses
(stages.candidates), so the explanation cannot drift from the behaviour. Circuit
breakers and live health are runtime state of a running gateway: offline they are
reported as unknown, never guessed.
"""

from __future__ import annotations

import msgspec

from typing import Any

from switchgear.config.schema import Config
from switchgear.core.errors import GatewayError
from switchgear.runtime import build_runtime
from switchgear.stages import candidates

_LIVE = {
    "weighted": "weighted random per request; shown in config order with weights",
    "least_latency": "ordered per request by live latency (unknown offline); shown in config order",
    "least_busy": "ordered per request by in-flight count (unknown offline); shown in config order",
}


def _describe_tags(dep: Any) -> str:
    t = dep.tags
    if t is None:
        return "untagged"
    parts = []
    if t.environment:
        parts.append(f"environment {t.environment}")
    if t.region:
        parts.append(f"region {t.region}")
    if t.data_classes is not None:
        parts.append(f"data classes {', '.join(sorted(t.data_classes)) or 'none'}")
    return ", ".join(parts) or "untagged"


async def explain(cfg: Config, model: str, key: str | None, headers: dict[str, str]) -> tuple[int, str]:
    """(exit code, text)."""
    # Simulator providers get their address when `serve` starts them; explaining calls
    # no upstream, so any address will do.
    cfg = msgspec.structs.replace(cfg, providers=tuple(
        msgspec.structs.replace(p, base_url="http://127.0.0.1:9") if p.vendor == "simulator" and not p.base_url else p
        for p in cfg.providers
    ))
    rt = build_runtime(cfg)
    try:
        principal = None
        if key is not None:
            try:
                principal = rt.services.directory.verify_key(key)
            except GatewayError:
                return 2, "error: --key is not a client key of this config"
        found = rt.routes.lookup(model)
        if found is None:
            return 2, f"error: no model '{model}' in this config (models: {', '.join(rt.routes.names())})"
        route, _ = found
        try:
            reqs = candidates.request_requirements(headers, principal.requirements if principal is not None else None)
        except GatewayError as e:
            return 2, f"error: {e.message}"
        lines = [f"requirements: {reqs.describe() if reqs is not None and reqs.active else 'none'}"]
        seen = {route.name}
        queue: list[tuple[str, Any]] = [("", route)]
        while queue:
            via, r = queue.pop(0)
            lines.append("")
            lines.extend(_explain_route(r, reqs, via))
            for cls, names in r.fallbacks.items():
                for name in names:
                    if name not in seen:
                        seen.add(name)
                        queue.append((f"fallback on {cls} from {r.name}", rt.routes.exact[name]))
        lines.append("")
        lines.append("circuit breakers: breaker state unknown offline (open breakers are skipped at request time)")
        return 0, "\n".join(lines)
    finally:
        await rt.aclose()


def _explain_route(route: Any, reqs: Any, via: str) -> list[str]:
    head = f"model {route.name} (strategy {route.strategy_name})"
    out = [head + (f"  [{via}]" if via else "")]
    live = _LIVE.get(route.strategy_name)
    if live:
        out.append(f"  order: {live}")
    if route.retry.attempts:
        out.append(f"  retries: up to {route.retry.attempts} extra sends per deployment, within the retry budget")
    if live:  # don't pretend to know a per-request order
        eligible = [d for d in route.deployments if reqs is None or reqs.allows(d.tags)]
        excluded = [(d.name, " and ".join(reqs.violations(d.tags))) for d in route.deployments if d not in eligible]
    else:
        eligible, excluded = candidates.order(route, reqs, False)
    if eligible:
        out.append("  candidates, in order:")
    elif via:
        out.append("  candidates: none (this fallback is skipped)")
    else:
        out.append("  candidates: none (a request gets 403 placement_unsatisfied)")
    for i, d in enumerate(eligible, 1):
        extra = f", weight {d.weight:g}" if route.strategy_name == "weighted" else ""
        out.append(f"    {i}. {d.name}  ({_describe_tags(d)}{extra})")
    for name, reason in excluded:
        out.append(f"    excluded {name}: placement: {reason}")
    for cls, names in route.fallbacks.items():
        out.append(f"  fallbacks on {cls}: {', '.join(names)}")
    return out
