"""Price entries -> Price values, with every problem reported by entry.

Two sources share one validator: the bundled ``prices.yaml`` (problems name the entry as
``prices[12] (openai/gpt-4.1)``) and config ``pricing.prices`` (``pricing.prices[3]``).
The config loader can call ``check_price_entries`` to report price problems with the rest
of a config; this module imports nothing from the loader, so that is not a cycle.

Defaults for a missing rate: cached input = input, reasoning = output, cache write =
1.25 x input for Claude (vendor ``anthropic`` or ``bedrock``, or a model id containing
"claude": Anthropic's 5-minute cache-write price, also charged on Bedrock) and = input
for everyone else (OpenAI's and Gemini's implicit caches cost nothing extra to write).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import msgspec

from switchgear.config.schema import PriceEntry
from switchgear.pricing.price import Price, Rates
from switchgear.providers.catalog import load_catalog

_NANO_PER_USD = Decimal(1_000_000_000)


class LongContext(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Rates for a whole request whose input exceeds ``above_input_tokens``."""

    above_input_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None


class BundledEntry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One entry of prices.yaml (config entries are ``config.schema.PriceEntry``)."""

    vendor: str
    model: str
    aliases: tuple[str, ...] = ()  # other ids of the same model, priced the same
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    max_output_tokens: int | None = None
    effective: Any = None  # an ISO date (YAML may give a date); omitted: since release
    long_context: LongContext | None = None


class BundledFile(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    prices: list[Any]


def usd_per_mtok_to_nano(value: float) -> int:
    """USD per million tokens -> nano-USD per million tokens, exactly as written.

    ``Decimal(repr(x))`` recovers the decimal the YAML said (0.15, not 0.1499999…);
    digits beyond 1e-9 $/Mtok (1e-15 $ a token) are rounded half-even.
    """
    return int((Decimal(repr(float(value))) * _NANO_PER_USD).to_integral_value(ROUND_HALF_EVEN))


def parse_bundled(data: Any) -> tuple[str, list[Price], list[str]]:
    """The version, prices and problems of a loaded prices.yaml tree."""
    try:
        doc = msgspec.convert(data, BundledFile, strict=True)
    except msgspec.ValidationError as err:
        return "", [], [f"<root>: {err}"]
    problems: list[str] = []
    prices: list[Price] = []
    seen: set[tuple[str, str, int]] = set()
    vendors = _vendors()
    for i, raw in enumerate(doc.prices):
        at = f"prices[{i}]"
        if isinstance(raw, dict) and isinstance(raw.get("vendor"), str) and isinstance(raw.get("model"), str):
            at += f" ({raw['vendor']}/{raw['model']})"
        try:
            e = msgspec.convert(raw, BundledEntry, strict=True)
        except msgspec.ValidationError as err:
            problems.append(f"{at}: {err}")
            continue
        before = len(problems)
        if e.vendor not in vendors:
            problems.append(f"{at}.vendor: unknown vendor '{e.vendor}' (known: {', '.join(sorted(vendors))})")
        long: tuple[Rates, int] | None = None
        if e.long_context is not None:
            lc = e.long_context
            if lc.above_input_tokens < 1:
                problems.append(f"{at}.long_context.above_input_tokens: must be >= 1")
            tier = _rates(lc, e.vendor, e.model, f"{at}.long_context", problems)
            if tier is not None:
                long = (tier, lc.above_input_tokens)
        for model in (e.model, *e.aliases):
            price = _price(e, e.vendor, model, at, problems, "bundled", long)
            if price is not None and len(problems) == before:  # a flawed entry prices nothing
                _add(price, prices, seen, at, problems)
    return doc.version, prices, problems


def parse_config_entries(entries: Sequence[PriceEntry], path: str = "pricing.prices") -> tuple[list[Price], list[str]]:
    """Prices and problems of config ``pricing.prices`` (already shape-checked by the loader)."""
    problems: list[str] = []
    prices: list[Price] = []
    seen: set[tuple[str, str, int]] = set()
    vendors = _vendors()
    for i, e in enumerate(entries):
        at = f"{path}[{i}]"
        before = len(problems)
        if e.vendor is not None and e.vendor not in vendors:
            problems.append(f"{at}.vendor: unknown vendor '{e.vendor}' (known: {', '.join(sorted(vendors))})")
        price = _price(e, e.vendor, e.model, at, problems, "config", None)
        if price is not None and len(problems) == before:
            _add(price, prices, seen, at, problems)
    return prices, problems


def check_price_entries(entries: Sequence[PriceEntry], path: str = "pricing.prices") -> list[str]:
    """Problems in config price entries, as "path: message" lines (for the config loader)."""
    return parse_config_entries(entries, path)[1]


def parse_effective(value: Any) -> int | None:
    """An ISO date -> unix seconds of its UTC midnight; None when it is not a date."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return None  # a timestamp where a date was expected
    if isinstance(value, dt.date):
        day = value
    elif not isinstance(value, str):
        return None
    else:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


# ---- helpers ----------------------------------------------------------------------------


def _vendors() -> frozenset[str]:
    return frozenset(load_catalog())


def _price(
    e: BundledEntry | PriceEntry,
    vendor: str | None,
    model: str,
    at: str,
    problems: list[str],
    source: str,
    long: tuple[Rates, int] | None,
) -> Price | None:
    ok = True
    if not model or model != model.strip():
        problems.append(f"{at}.model: must be a non-empty model id without surrounding spaces")
        ok = False
    effective = parse_effective(e.effective)
    if effective is None:
        problems.append(f"{at}.effective: expected an ISO date such as 2025-04-14, got {e.effective!r}")
        ok = False
    if e.max_output_tokens is not None and e.max_output_tokens < 1:
        problems.append(f"{at}.max_output_tokens: must be >= 1")
        ok = False
    rates = _rates(e, vendor, model, at, problems)
    if not ok or rates is None:
        return None
    assert effective is not None
    return Price(
        vendor=vendor,
        model=model,
        effective=effective,
        base=rates,
        long=long[0] if long is not None else None,
        long_above=long[1] if long is not None else 0,
        max_output_tokens=e.max_output_tokens,
        source=source,
    )


def _rates(e: Any, vendor: str | None, model: str, at: str, problems: list[str]) -> Rates | None:
    before = len(problems)
    inp = _usd(e.input_per_mtok, f"{at}.input_per_mtok", problems)
    out = _usd(e.output_per_mtok, f"{at}.output_per_mtok", problems)
    cached = _usd(e.cached_input_per_mtok, f"{at}.cached_input_per_mtok", problems)
    reasoning = _usd(e.reasoning_per_mtok, f"{at}.reasoning_per_mtok", problems)
    write = _usd(getattr(e, "cache_write_per_mtok", None), f"{at}.cache_write_per_mtok", problems)
    if len(problems) > before or inp is None or out is None:
        return None
    if write is None:
        write = (inp * 5 + 2) // 4 if _claude(vendor, model) else inp
    return Rates(
        input=inp,
        output=out,
        cached_input=inp if cached is None else cached,
        cache_write=write,
        reasoning=out if reasoning is None else reasoning,
    )


def _usd(value: float | None, at: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        problems.append(f"{at}: must be a finite number >= 0 (USD per million tokens), got {value!r}")
        return None
    try:
        return usd_per_mtok_to_nano(value)
    except (InvalidOperation, ValueError, OverflowError):
        problems.append(f"{at}: not a usable number: {value!r}")
        return None


def _claude(vendor: str | None, model: str) -> bool:
    return vendor in ("anthropic", "bedrock") or "claude" in model


def _add(price: Price, prices: list[Price], seen: set[tuple[str, str, int]], at: str, problems: list[str]) -> None:
    key = (price.vendor or "*", price.model, price.effective)
    if key in seen:
        when = "no effective date" if price.effective == 0 else f"effective {dt.datetime.fromtimestamp(price.effective, dt.timezone.utc).date()}"
        problems.append(f"{at}: duplicate price for {key[0]}/{price.model} with {when}")
        return
    seen.add(key)
    prices.append(price)
