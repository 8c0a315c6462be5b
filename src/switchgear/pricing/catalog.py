"""The price catalog: bundled prices.yaml plus config ``pricing.prices``, looked up per request.

Built once per config snapshot; ``lookup`` is dictionary look-ups over precomputed price
histories (a bisect only for the few models whose price changed over time).

Which entry applies — for one (vendor, model) the history is assembled in three layers,
each overriding the one before:

1. the bundled entries for that vendor and model;
2. config entries without ``vendor`` for that model id (they apply to any vendor);
3. config entries naming that vendor.

Within a layer and across layers, an entry with the same effective date replaces the
earlier layer's. A config entry *without* ``effective`` replaces the whole history below
it, so writing a price in config changes the price now, whatever the bundled file holds.
The entry in effect at the request's time is the latest whose effective date (UTC
midnight) is not after it; before the first one there is no price.

Model ids: the exact id is always preferred. When it has no price, these rules are tried
in order, each on the result of the one before, and nothing else — a near miss never
borrows another model's price:

1. a Bedrock cross-region inference prefix is dropped (``us.``, ``eu.``, ``apac.``,
   ``jp.``, ``au.``, ``ca.``, ``us-gov.``, ``global.``): ``us.anthropic.claude-…`` is
   priced as ``anthropic.claude-…`` (the catalog lists ``global.`` ids itself where the
   global endpoint is cheaper);
2. a Gemini resource prefix ``models/`` is dropped;
3. a trailing snapshot date ``-YYYY-MM-DD`` (OpenAI) or ``-YYYYMMDD`` (Anthropic) is
   dropped: ``gpt-4o-2024-08-06`` is priced as ``gpt-4o``. A snapshot priced unlike its
   alias is listed under its own id (``gpt-4o-2024-05-13``), which wins by rule one.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from switchgear.config.load import ConfigError
from switchgear.config.schema import PricingConfig
from switchgear.pricing.entries import parse_bundled, parse_config_entries
from switchgear.pricing.price import Price

BUNDLED_SOURCE = "switchgear/pricing/prices.yaml"

_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|jp|au|ca|us-gov|global)\.(?=[a-z])")
_GEMINI_PREFIX = "models/"
_SNAPSHOT_DATE = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
_ALIAS_CACHE_MAX = 4096  # client-chosen ids reach lookup through "<provider>/*": bound it


@dataclass(frozen=True, slots=True)
class _History:
    """One model's prices over time, sorted by effective date."""

    effective: tuple[int, ...]
    prices: tuple[Price, ...]

    def at(self, t: float) -> Price | None:
        if len(self.prices) == 1:
            p = self.prices[0]
            return p if p.effective <= t else None
        i = bisect.bisect_right(self.effective, t) - 1
        return self.prices[i] if i >= 0 else None


class PriceCatalog:
    """Prices by (vendor, model id), resolved for a moment in time."""

    __slots__ = ("version", "_by_vendor", "_any_vendor", "_aliases")

    def __init__(self, bundled: Iterable[Price], configured: Iterable[Price] = (), version: str = "") -> None:
        self.version = version
        layers: dict[tuple[str, str], list[list[Price]]] = {}
        any_vendor: dict[str, list[Price]] = {}
        for p in bundled:
            assert p.vendor is not None, "bundled prices name their vendor"
            layers.setdefault((p.vendor, p.model), [[], []])[0].append(p)
        for p in configured:
            if p.vendor is None:
                any_vendor.setdefault(p.model, []).append(p)
            else:
                layers.setdefault((p.vendor, p.model), [[], []])[1].append(p)
        self._by_vendor: dict[tuple[str, str], _History] = {
            key: _merge((own_bundled, any_vendor.get(key[1], []), own_config))
            for key, (own_bundled, own_config) in layers.items()
        }
        self._any_vendor: dict[str, _History] = {m: _merge((ps,)) for m, ps in any_vendor.items()}
        # (vendor, requested id) -> the id an alias rule resolved it to (None: no price).
        self._aliases: dict[tuple[str, str], str | None] = {}

    @classmethod
    def build(cls, config: PricingConfig | None = None, source: str = "config") -> PriceCatalog:
        """The bundled catalog with ``config``'s entries; ConfigError names every bad entry."""
        version, bundled = bundled_prices()
        configured: list[Price] = []
        if config is not None and config.prices:
            configured, problems = parse_config_entries(config.prices)
            if problems:
                raise ConfigError(problems, source)
        return cls(bundled, configured, version)

    def lookup(self, vendor: str, model: str, at: float) -> Price | None:
        """The price of ``model`` at ``vendor`` in effect at unix time ``at``, if known."""
        history = self._by_vendor.get((vendor, model)) or self._any_vendor.get(model)
        if history is not None:
            return history.at(at)
        key = (vendor, model)
        try:
            resolved = self._aliases[key]
        except KeyError:
            resolved = self._resolve(vendor, model)
            if len(self._aliases) < _ALIAS_CACHE_MAX:
                self._aliases[key] = resolved
        if resolved is None:
            return None
        history = self._by_vendor.get((vendor, resolved)) or self._any_vendor.get(resolved)
        return history.at(at) if history is not None else None

    def models(self) -> list[tuple[str | None, str]]:
        """Every priced (vendor, model id); vendor None for any-vendor config entries."""
        return [*self._by_vendor, *((None, m) for m in self._any_vendor)]

    def _known(self, vendor: str, model: str) -> bool:
        return (vendor, model) in self._by_vendor or model in self._any_vendor

    def _resolve(self, vendor: str, model: str) -> str | None:
        candidate = model
        for rule in (_strip_region, _strip_gemini, _strip_snapshot):
            stripped = rule(candidate)
            if stripped != candidate:
                candidate = stripped
                if self._known(vendor, candidate):
                    return candidate
        return None


@cache
def bundled_prices() -> tuple[str, tuple[Price, ...]]:
    """The bundled catalog's version and prices (parsed once per process)."""
    text = resources.files("switchgear.pricing").joinpath("prices.yaml").read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError([f"invalid YAML: {e}"], BUNDLED_SOURCE) from None
    version, prices, problems = parse_bundled(data)
    if problems:
        raise ConfigError(problems, BUNDLED_SOURCE)
    return version, tuple(prices)


def _merge(layers: Iterable[list[Price]]) -> _History:
    by_date: dict[int, Price] = {}
    for layer in layers:
        if any(p.effective == 0 and p.source == "config" for p in layer):
            by_date.clear()  # an undated config price replaces the history below it
        for p in layer:
            by_date[p.effective] = p
    dates = tuple(sorted(by_date))
    return _History(dates, tuple(by_date[d] for d in dates))


def _strip_region(model: str) -> str:
    return _REGION_PREFIX.sub("", model, count=1)


def _strip_gemini(model: str) -> str:
    return model[len(_GEMINI_PREFIX):] if model.startswith(_GEMINI_PREFIX) else model


def _strip_snapshot(model: str) -> str:
    return _SNAPSHOT_DATE.sub("", model, count=1)
