"""One immutable snapshot of everything a request needs, built from a Config.

A config reload builds a new Runtime and swaps it in atomically; requests in
flight keep the snapshot they started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from types import ModuleType
from urllib.parse import urlsplit

import msgspec

from switchgear.config.load import ConfigError
from switchgear.config.schema import Config, ProviderConfig
from switchgear.identity.config_keys import ConfigKeyStore
from switchgear.providers.catalog import Vendor, auth_headers, load_catalog
from switchgear.providers.formats import anthropic_messages, bedrock_converse, gemini, openai_chat
from switchgear.providers.formats.base import Target
from switchgear.routing.table import Deployment, ModelRoute, RouteTable
from switchgear.telemetry.metrics import Metrics
from switchgear.transport.client import UpstreamPool

FORMATS: dict[str, ModuleType] = {
    "openai_chat": openai_chat,
    "anthropic_messages": anthropic_messages,
    "gemini": gemini,
    "bedrock_converse": bedrock_converse,
}


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    keys: ConfigKeyStore
    routes: RouteTable
    pools: tuple[UpstreamPool, ...]
    metrics: Metrics

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()


def provider_format(p: ProviderConfig, vendor: Vendor) -> str:
    return p.format or vendor.format if p.vendor == "simulator" else vendor.format


# The simulator speaks a format the way that format's reference vendor does
# (auth header, version headers), except that it never needs AWS signing.
_SIMULATED = {"openai_chat": "openai", "anthropic_messages": "anthropic", "gemini": "gemini", "bedrock_converse": "bedrock"}


def effective_vendor(p: ProviderConfig) -> Vendor:
    catalog = load_catalog()
    vendor = catalog[p.vendor]
    if p.vendor != "simulator":
        return vendor
    ref = catalog[_SIMULATED[provider_format(p, vendor)]]
    return msgspec.structs.replace(
        ref, id="simulator", base_url=None, renames={}, auth="none" if ref.auth == "sigv4" else ref.auth
    )


def _target(p: ProviderConfig, vendor: Vendor, model: str) -> Target:
    base_url = (p.base_url or vendor.base_url or "").rstrip("/")
    if "{region}" in base_url:
        base_url = base_url.replace("{region}", p.region or "")
    headers = (*auth_headers(vendor.auth, p.api_key), *vendor.headers.items(), *p.headers.items())
    options: dict[str, object] = {}
    if p.api_version:
        options["api_version"] = p.api_version
    if p.region:
        options["region"] = p.region
    if p.default_max_tokens:
        options["default_max_tokens"] = p.default_max_tokens
    return Target(
        provider=p.name,
        vendor=p.vendor,
        format=provider_format(p, vendor),
        base_url=base_url,
        model=model,
        headers=tuple((k.lower(), v) for k, v in headers),
        unsupported_params=p.unsupported_params or vendor.unsupported_params,
        extra_params=p.extra_params or vendor.extra_params,
        renames=tuple(vendor.renames.items()),
        unsupported=vendor.unsupported,
        options=options,
    )


def _signer(p: ProviderConfig, target: Target):  # -> callable | None
    if effective_vendor(p).auth != "sigv4":
        return None
    from botocore.credentials import Credentials
    from botocore.session import get_session

    from switchgear.providers.sigv4 import sign_request

    if p.aws_access_key_id and p.aws_secret_access_key:
        creds = Credentials(p.aws_access_key_id, p.aws_secret_access_key, p.aws_session_token)
    else:  # the standard AWS chain: env, profile, instance role …
        creds = get_session().get_credentials()
        if creds is None:
            raise ConfigError([
                f"provider '{p.name}': no AWS credentials found (set aws_access_key_id and aws_secret_access_key, "
                "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an AWS profile)"
            ])
    host = urlsplit(target.base_url).netloc
    return partial(sign_request, target=target, host=host, credentials=creds)


def build_runtime(cfg: Config, metrics: Metrics | None = None) -> Runtime:
    pools: dict[str, UpstreamPool] = {}
    providers = {p.name: p for p in cfg.providers}
    for p in cfg.providers:
        vendor = effective_vendor(p)
        base = (p.base_url or vendor.base_url or "").rstrip("/").replace("{region}", p.region or "")
        pools[p.name] = UpstreamPool(base, max_connections=p.max_connections, connect_timeout=p.timeouts.connect)
    routes: list[ModelRoute] = []
    wildcards: list[tuple[str, ModelRoute]] = []
    for m in cfg.models:
        deps = []
        for d in m.deployments:
            p = providers[d.provider]
            vendor = effective_vendor(p)
            target = _target(p, vendor, d.model)
            name = f"{p.name}/{d.model}"
            deps.append(
                Deployment(
                    name=name,
                    provider=p.name,
                    target=target,
                    fmt=FORMATS[target.format],
                    pool=pools[p.name],
                    connect_timeout=p.timeouts.connect,
                    first_token_timeout=p.timeouts.first_token,
                    idle_timeout=p.timeouts.idle,
                    total_timeout=p.timeouts.total,
                    signer=_signer(p, target),
                    headers=(("x-switchgear-deployment", name), ("x-switchgear-provider", p.name)),
                )
            )
        route = ModelRoute(name=m.name, kind=m.kind, deployments=tuple(deps))
        if m.name.endswith("/*"):
            wildcards.append((m.name[:-1], route))
        else:
            routes.append(route)
    return Runtime(
        config=cfg,
        keys=ConfigKeyStore(cfg.auth.keys),
        routes=RouteTable(routes, wildcards),
        pools=tuple(pools.values()),
        metrics=metrics or Metrics(),
    )
