"""Load, interpolate and validate a config file, reporting *every* error with the
dotted path of the offending key (``providers[1].timeouts.connect: expected float``).

msgspec stops at the first error, so the tree is walked struct by struct: unknown
and missing keys are collected per object, then each field value is converted on
its own. Cross-references (a deployment naming an unknown provider, a vendor not in
the catalog) are checked afterwards, against the catalog.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import msgspec
import yaml

from switchgear.config.schema import Config, FallbacksConfig, ModelConfig, ProviderConfig
from switchgear.providers.catalog import load_catalog
from switchgear.routing.breaker import BreakerPolicy
from switchgear.routing.placement import PlacementTags, Requirements


class ConfigError(Exception):
    """One or more problems in a config; ``problems`` are "path: message" lines."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  {p}" for p in problems))


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(node: Any, env: Mapping[str, str], path: str, problems: list[str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of the tree."""
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(f"{path or '<root>'}: environment variable {name} is not set")
            return ""

        return _ENV.sub(sub, node) if "${" in node else node
    if isinstance(node, dict):
        return {k: interpolate(v, env, _join(path, str(k)), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _struct_type(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct class inside ``tp`` (``S``, ``S | None``), if any."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
                return arg
    return None


def _validate(value: Any, tp: Any, path: str, problems: list[str]) -> None:
    struct = _struct_type(tp)
    if struct is not None and isinstance(value, dict):
        fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
        for key in value:
            if key not in fields:
                problems.append(f"{_join(path, str(key))}: unknown key (allowed: {', '.join(sorted(fields))})")
        for name, f in fields.items():
            if name in value:
                _validate(value[name], f.type, _join(path, name), problems)
            elif f.required:
                problems.append(f"{_join(path, name)}: required key is missing")
        return
    origin = typing.get_origin(tp)
    if origin in (tuple, list) and isinstance(value, list):
        args = typing.get_args(tp)
        item = args[0] if args else Any
        if _struct_type(item) is not None:
            for i, v in enumerate(value):
                _validate(v, item, f"{path}[{i}]", problems)
            return
    try:
        msgspec.convert(value, tp, strict=True)
    except msgspec.ValidationError as e:
        detail = str(e)
        at = detail.rfind(" - at `$")
        if at >= 0:  # a nested path inside a plain container
            inner = detail[at + 8 : -1]
            detail, path = detail[:at], path + inner
        problems.append(f"{path or '<root>'}: {detail}")


def _check_references(cfg: Config, problems: list[str]) -> None:
    catalog = load_catalog()
    seen: set[str] = set()
    for i, p in enumerate(cfg.providers):
        at = f"providers[{i}]"
        if p.name in seen:
            problems.append(f"{at}.name: duplicate provider name '{p.name}'")
        seen.add(p.name)
        vendor = catalog.get(p.vendor)
        if vendor is None:
            problems.append(f"{at}.vendor: unknown vendor '{p.vendor}' (known: {', '.join(sorted(catalog))})")
            continue
        if p.vendor != "simulator" and not (p.base_url or vendor.base_url):
            problems.append(f"{at}.base_url: required for vendor '{p.vendor}'")
        if p.base_url and not re.match(r"^https?://[^/\s]+", p.base_url):
            problems.append(f"{at}.base_url: must be an http:// or https:// URL, got '{p.base_url}'")
        if p.vendor == "azure" and not p.api_version:
            problems.append(f"{at}.api_version: required for vendor 'azure' (e.g. 2024-10-21)")
        if p.vendor == "bedrock":
            if not p.region:
                problems.append(f"{at}.region: required for vendor 'bedrock' (e.g. us-east-1)")
        elif p.region or p.aws_access_key_id or p.aws_secret_access_key:
            problems.append(f"{at}: AWS settings are only valid for vendor 'bedrock'")
        if p.format and p.vendor != "simulator":
            problems.append(f"{at}.format: only the 'simulator' vendor takes a format (it is fixed by the vendor)")
        if p.simulator is not None and p.vendor != "simulator":
            problems.append(f"{at}.simulator: only valid for vendor 'simulator'")
        for name, t in (("connect", p.timeouts.connect), ("first_token", p.timeouts.first_token),
                        ("idle", p.timeouts.idle), ("total", p.timeouts.total)):
            if t <= 0:
                problems.append(f"{at}.timeouts.{name}: must be > 0")
        if p.max_connections < 1:
            problems.append(f"{at}.max_connections: must be >= 1")
        _check_health_check(p.health_check, p, vendor, f"{at}.health_check", problems)
    provider_cfgs = {p.name: p for p in cfg.providers}
    names: set[str] = set()
    for i, m in enumerate(cfg.models):
        at = f"models[{i}]"
        if m.name in names:
            problems.append(f"{at}.name: duplicate model name '{m.name}'")
        names.add(m.name)
        if not m.deployments:
            problems.append(f"{at}.deployments: at least one deployment is required")
        for j, d in enumerate(m.deployments):
            if d.provider not in seen:
                problems.append(f"{at}.deployments[{j}].provider: unknown provider '{d.provider}'")
            _check_deployment(d, f"{at}.deployments[{j}]", problems)
            if d.health_check is not None and d.provider in provider_cfgs:
                p = provider_cfgs[d.provider]
                _check_health_check(d.health_check, p, catalog.get(p.vendor),
                                    f"{at}.deployments[{j}].health_check", problems)
        _check_model_policies(m, at, problems)
    _check_fallbacks(cfg, problems)
    if not 0 < cfg.server.port < 65536 and cfg.server.port != 0:
        problems.append("server.port: must be between 1 and 65535")
    if cfg.server.max_body_bytes < 1024:
        problems.append("server.max_body_bytes: must be at least 1024")
    for i, k in enumerate(cfg.auth.keys):
        if len(k.key) < 8:
            problems.append(f"auth.keys[{i}].key: too short (at least 8 characters)")
        if k.requirements is not None:
            r = k.requirements
            try:
                Requirements.of(regions=r.regions, data_class=r.data_classes, environments=r.environments)
            except ValueError as e:
                problems.append(f"auth.keys[{i}].requirements: {e}")
    _check_limits(cfg, problems)


MAX_BUDGET_USD = 9_000_000.0  # 9e15 nano-USD < 2^53


def _check_limits(cfg: Config, problems: list[str]) -> None:
    """Budgets and rate limits: scopes name one subject; limits are positive; names unique."""
    from switchgear.limits.periods import check_timezone
    from switchgear.limits.plan import scope_problems

    lim = cfg.limits
    tz_problem = check_timezone(lim.timezone)
    if tz_problem:
        problems.append(f"limits.timezone: {tz_problem}")
    if lim.reservation_ttl_s <= 0:
        problems.append("limits.reservation_ttl_s: must be > 0")
    if lim.backend_timeout_ms <= 0:
        problems.append("limits.backend_timeout_ms: must be > 0")
    seen: set[str] = set()
    for i, b in enumerate(lim.budgets):
        at = f"limits.budgets[{i}]"
        if b.name in seen:
            problems.append(f"{at}.name: duplicate budget name '{b.name}'")
        seen.add(b.name)
        problems.extend(scope_problems(b.scope, f"{at}.scope", budget=True))
        if b.limit_usd <= 0:
            problems.append(f"{at}.limit_usd: must be > 0")
        elif b.limit_usd > MAX_BUDGET_USD:
            # Counters are nano-USD; the Redis scripts' numbers are exact integers up to 2^53.
            problems.append(f"{at}.limit_usd: at most {MAX_BUDGET_USD:,.0f} (split a larger budget by scope)")
        for f in b.soft_thresholds:
            if not 0 < f < 1:
                problems.append(f"{at}.soft_thresholds: each is a fraction of the limit, between 0 and 1 (got {f})")
    seen = set()
    for i, r in enumerate(lim.rate_limits):
        at = f"limits.rate_limits[{i}]"
        if r.name in seen:
            problems.append(f"{at}.name: duplicate rate limit name '{r.name}'")
        seen.add(r.name)
        problems.extend(scope_problems(r.scope, f"{at}.scope", budget=False))
        if r.rpm is None and r.tpm is None and r.concurrent is None:
            problems.append(f"{at}: set rpm, tpm or concurrent")
        for name in ("rpm", "tpm", "concurrent"):
            v = getattr(r, name)
            if v is not None and v < 1:
                problems.append(f"{at}.{name}: must be >= 1")
    from switchgear.pricing.entries import check_price_entries

    problems.extend(check_price_entries(cfg.pricing.prices))
    c = cfg.cache
    if c.max_entries < 1 or c.max_bytes < 1 or c.max_entry_bytes < 1:
        problems.append("cache: max_entries, max_bytes and max_entry_bytes must be >= 1")
    for i, m in enumerate(cfg.models):
        if m.cache is not None and m.cache.ttl_s <= 0:
            problems.append(f"models[{i}].cache.ttl_s: must be > 0")


def _check_health_check(h: Any, p: ProviderConfig, vendor: Any, at: str, problems: list[str]) -> None:
    if h is None:
        return
    if not h.interval_s > 0:
        problems.append(f"{at}.interval_s: must be > 0")
    if not h.timeout_s > 0:
        problems.append(f"{at}.timeout_s: must be > 0")
    fmt = p.format if p.vendor == "simulator" and p.format else (vendor.format if vendor is not None else None)
    if fmt == "bedrock_converse":
        problems.append(
            f"{at}: active health checks are not supported for Bedrock (its model list is a "
            "different AWS API, not the runtime endpoint chat goes to); rely on passive health"
        )


def _check_deployment(d: Any, at: str, problems: list[str]) -> None:
    if not d.weight >= 0:
        problems.append(f"{at}.weight: must be >= 0 (0 = standby)")
    if d.tags is not None:
        try:
            PlacementTags(
                environment=d.tags.environment,
                region=d.tags.region,
                data_classes=None if d.tags.data_classes is None else frozenset(d.tags.data_classes),
            )
        except ValueError as e:
            problems.append(f"{at}.tags: {e}")
    if d.timeouts is not None:
        for name in ("connect", "first_token", "idle", "total"):
            t = getattr(d.timeouts, name)
            if t is not None and t <= 0:
                problems.append(f"{at}.timeouts.{name}: must be > 0")
    if d.price is not None:
        for name in ("input_per_mtok", "output_per_mtok"):
            if getattr(d.price, name) < 0:
                problems.append(f"{at}.price.{name}: must be >= 0")


def _check_model_policies(m: ModelConfig, at: str, problems: list[str]) -> None:
    r = m.retries
    if r.attempts < 0:
        problems.append(f"{at}.retries.attempts: must be >= 0")
    if r.backoff_base_ms < 0:
        problems.append(f"{at}.retries.backoff_base_ms: must be >= 0")
    if r.backoff_cap_ms < r.backoff_base_ms:
        problems.append(f"{at}.retries.backoff_cap_ms: must be >= backoff_base_ms")
    if r.max_retry_after_s < 0:
        problems.append(f"{at}.retries.max_retry_after_s: must be >= 0")
    h = m.hedge
    if h is not None:
        if h.delay_ms is None and not h.use_p95:
            problems.append(f"{at}.hedge: set delay_ms, use_p95, or both")
        if h.delay_ms is not None and not h.delay_ms > 0:
            problems.append(f"{at}.hedge.delay_ms: must be > 0")
        if h.max_extra < 1:
            problems.append(f"{at}.hedge.max_extra: must be >= 1")
        if h.budget_ratio < 0:
            problems.append(f"{at}.hedge.budget_ratio: must be >= 0")
        if h.budget_min_per_second < 0:
            problems.append(f"{at}.hedge.budget_min_per_second: must be >= 0")
        if m.kind != "chat":
            problems.append(f"{at}.hedge: only chat models hedge")
    if m.breaker is not None:
        try:
            BreakerPolicy(**msgspec.structs.asdict(m.breaker))
        except ValueError as e:
            problems.append(f"{at}.breaker: {e}")


FALLBACK_CLASSES = tuple(f.name for f in msgspec.structs.fields(FallbacksConfig))


def _check_fallbacks(cfg: Config, problems: list[str]) -> None:
    """Fallback targets exist, serve the same kind, are not the model itself, and never cycle."""
    index = {m.name: i for i, m in enumerate(cfg.models)}
    for i, m in enumerate(cfg.models):
        for cls in FALLBACK_CLASSES:
            for j, name in enumerate(getattr(m.fallbacks, cls)):
                at = f"models[{i}].fallbacks.{cls}[{j}]"
                if name == m.name:
                    problems.append(f"{at}: a model cannot fall back to itself")
                elif name not in index or name.endswith("/*"):
                    problems.append(f"{at}: unknown model '{name}'")
                elif cfg.models[index[name]].kind != m.kind:
                    problems.append(f"{at}: '{name}' serves {cfg.models[index[name]].kind}, '{m.name}' serves {m.kind}")
    for cls in FALLBACK_CLASSES:
        graph = {m.name: [n for n in getattr(m.fallbacks, cls) if n in index and n != m.name] for m in cfg.models}
        cycle = _find_cycle(graph)
        if cycle:
            i = index[cycle[0]]
            problems.append(f"models[{i}].fallbacks.{cls}: fallback cycle {' -> '.join(cycle)}")


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        colour[n] = GREY
        stack.append(n)
        for nxt in graph.get(n, ()):
            if colour.get(nxt) == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[n] = BLACK
        return None

    for n in graph:
        if colour[n] == WHITE:
            found = visit(n)
            if found:
                return found
    return None


def parse_config(data: Any, source: str = "config", env: Mapping[str, str] | None = None) -> Config:
    """Validate a YAML-loaded tree; raises ConfigError listing every problem."""
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"<root>: expected a mapping, got {type(data).__name__}"], source)
    data = interpolate(data, os.environ if env is None else env, "", problems)
    data.pop("source", None)
    _validate(data, Config, "", problems)
    if problems:
        raise ConfigError(problems, source)
    cfg = msgspec.convert({**data, "source": source}, Config, strict=True)
    _check_references(cfg, problems)
    if problems:
        raise ConfigError(problems, source)
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"cannot read: {e.strerror or e}"], str(p)) from None
    except UnicodeDecodeError:
        raise ConfigError(["file is not valid UTF-8"], str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}invalid YAML: {getattr(e, 'problem', None) or e}"], str(p)) from None
    return parse_config(data, str(p), env)
