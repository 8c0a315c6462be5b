"""The price catalog: the bundled file, config overrides, model id matching, validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from switchgear.config.defaults import _DISCOVERED, simulator_config
from switchgear.config.load import ConfigError, parse_config
from switchgear.config.schema import PricingConfig
from switchgear.pricing.catalog import PriceCatalog, bundled_prices
from switchgear.pricing.entries import check_price_entries, parse_bundled
from switchgear.providers.catalog import load_catalog

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc).timestamp()


def day(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).replace(tzinfo=dt.timezone.utc).timestamp()


def usd(nano_per_mtok: int) -> float:
    return nano_per_mtok / 1e9


def config(*entries: dict[str, Any]) -> PricingConfig:
    return msgspec.convert({"prices": list(entries)}, PricingConfig)


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.build()


# ---- the bundled file ------------------------------------------------------------------


def test_bundled_file_loads_with_a_version(catalog: PriceCatalog) -> None:
    version, prices = bundled_prices()
    assert version and catalog.version == version
    assert len(prices) > 40
    assert {p.vendor for p in prices} >= {"openai", "anthropic", "gemini", "bedrock", "simulator"}
    assert {p.vendor for p in prices} <= set(load_catalog())


def test_every_bundled_price_is_sane() -> None:
    for p in bundled_prices()[1]:
        r = p.base
        assert r.input > 0, p.model
        assert r.cached_input <= r.input <= r.cache_write, p.model  # reads are cheaper, writes dearer or equal
        if r.output:  # chat models: output dearer than input
            assert r.output >= r.input, p.model
            assert r.reasoning == r.output, p.model  # every vendor bills reasoning as output
        if p.long is not None:
            assert p.long.input > r.input and p.long_above > 0, p.model


def test_every_default_model_is_priced(catalog: PriceCatalog) -> None:
    """The embedded defaults show costs: each simulator deployment and each model the
    defaults offer when a vendor key is found has a price."""
    sim = simulator_config()
    vendors = {p["name"]: p["vendor"] for p in sim["providers"]}
    for m in sim["models"]:
        for d in m["deployments"]:
            assert catalog.lookup(vendors[d["provider"]], d["model"], NOW) is not None, d["model"]
    for vendor, (_, chat, embed) in _DISCOVERED.items():
        for model in (*chat, *embed):
            assert catalog.lookup(vendor, model, NOW) is not None, f"{vendor}/{model}"


def test_simulator_prices_are_marked_made_up() -> None:
    from importlib import resources

    text = resources.files("switchgear.pricing").joinpath("prices.yaml").read_text()
    assert "MADE-UP PRICES" in text


# ---- lookup ------------------------------------------------------------------------------


def test_exact_ids(catalog: PriceCatalog) -> None:
    p = catalog.lookup("openai", "gpt-4o-mini", NOW)
    assert p is not None and p.model == "gpt-4o-mini"
    assert (p.base.input, p.base.cached_input, p.base.output) == (150_000_000, 75_000_000, 600_000_000)
    assert p.max_output_tokens == 16384
    claude = catalog.lookup("anthropic", "claude-sonnet-4-5", NOW)
    assert claude is not None and usd(claude.base.cache_write) == 3.75 and usd(claude.base.cached_input) == 0.30


def test_prices_are_per_vendor(catalog: PriceCatalog) -> None:
    assert catalog.lookup("azure", "gpt-4o", NOW) is None  # Azure deployments are priced in config
    assert catalog.lookup("anthropic", "gpt-4o", NOW) is None


@pytest.mark.parametrize(
    ("vendor", "model", "priced_as"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),
        ("openai", "gpt-5-2025-08-07", "gpt-5"),
        ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its own, older price wins
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4-0"),
        ("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("bedrock", "eu.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
    ],
)
def test_model_id_rules(catalog: PriceCatalog, vendor: str, model: str, priced_as: str) -> None:
    p = catalog.lookup(vendor, model, NOW)
    assert p is not None and p.model == priced_as
    assert catalog.lookup(vendor, model, NOW) is p  # the resolved alias is remembered


@pytest.mark.parametrize(
    ("vendor", "model"),
    [
        ("openai", "gpt-4o-audio-preview"),  # a different model sharing a prefix
        ("openai", "gpt-4o-mini-search-preview-2025-03-11"),
        ("openai", "gpt-4"),
        ("openai", "gpt-4o-2024"),
        ("anthropic", "claude-sonnet-4-5-fast"),
        ("gemini", "gemini-2.5-pro-tts"),
        ("bedrock", "xx.anthropic.claude-sonnet-4-5-20250929-v1:0"),  # not a region prefix
        ("openai", ""),
    ],
)
def test_near_misses_have_no_price(catalog: PriceCatalog, vendor: str, model: str) -> None:
    assert catalog.lookup(vendor, model, NOW) is None


def test_bedrock_regional_endpoints_cost_ten_percent_more(catalog: PriceCatalog) -> None:
    glob = catalog.lookup("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", NOW)
    geo = catalog.lookup("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", NOW)
    assert glob is not None and geo is not None
    assert geo.base.input * 10 == glob.base.input * 11 and geo.base.output * 10 == glob.base.output * 11


def test_the_price_in_effect_at_the_request_time(catalog: PriceCatalog) -> None:
    before = catalog.lookup("openai", "o3", day("2025-06-09T23:59:59"))
    after = catalog.lookup("openai", "o3", day("2025-06-10T00:00:00"))
    assert before is not None and usd(before.base.input) == 10.0
    assert after is not None and usd(after.base.input) == 2.0
    old_alias = catalog.lookup("openai", "gpt-4o", day("2024-08-01"))
    assert old_alias is not None and usd(old_alias.base.input) == 5.0
    beta = catalog.lookup("anthropic", "claude-sonnet-4-6", day("2026-03-01"))
    ga = catalog.lookup("anthropic", "claude-sonnet-4-6", day("2026-03-13"))
    assert beta is not None and beta.long is not None
    assert ga is not None and ga.long is None


# ---- config overrides ----------------------------------------------------------------------


def test_config_price_without_date_replaces_the_bundled_history() -> None:
    c = PriceCatalog.build(config({"vendor": "openai", "model": "o3", "input_per_mtok": 1.0, "output_per_mtok": 4.0}))
    for when in ("2025-05-01", "2026-11-22"):
        p = c.lookup("openai", "o3", day(when))
        assert p is not None and p.source == "config" and usd(p.base.input) == 1.0
        assert usd(p.base.cached_input) == 1.0 and usd(p.base.reasoning) == 4.0  # defaults
        assert p.max_output_tokens is None


def test_dated_config_price_joins_the_history() -> None:
    c = PriceCatalog.build(config(
        {"vendor": "openai", "model": "o3", "input_per_mtok": 1.5, "output_per_mtok": 6.0, "effective": "2026-12-01"},
        {"vendor": "openai", "model": "o3", "input_per_mtok": 2.2, "output_per_mtok": 8.8, "effective": "2025-06-10"},
    ))
    assert usd(c.lookup("openai", "o3", day("2025-05-01")).base.input) == 10.0  # type: ignore[union-attr]
    assert usd(c.lookup("openai", "o3", day("2025-07-01")).base.input) == 2.2  # type: ignore[union-attr]  # same date: config wins
    assert usd(c.lookup("openai", "o3", day("2026-12-01")).base.input) == 1.5  # type: ignore[union-attr]


def test_config_price_without_vendor_applies_to_any_vendor() -> None:
    c = PriceCatalog.build(config(
        {"model": "gpt-4o", "input_per_mtok": 2.75, "output_per_mtok": 11.0},
        {"vendor": "openai", "model": "gpt-4o", "input_per_mtok": 2.6, "output_per_mtok": 10.4},
        {"model": "llama-3.3-70b", "input_per_mtok": 0.59, "output_per_mtok": 0.79, "max_output_tokens": 32768},
    ))
    assert usd(c.lookup("azure", "gpt-4o", NOW).base.input) == 2.75  # type: ignore[union-attr]
    assert usd(c.lookup("openrouter", "gpt-4o", NOW).base.input) == 2.75  # type: ignore[union-attr]
    assert usd(c.lookup("openai", "gpt-4o", NOW).base.input) == 2.6  # type: ignore[union-attr]  # vendor-specific wins
    groq = c.lookup("groq", "llama-3.3-70b", NOW)
    assert groq is not None and groq.vendor is None and groq.max_output_tokens == 32768
    assert c.lookup("together", "llama-3.3-70b-2025-01-01", NOW) is groq  # id rules apply too


def test_config_cache_write_default_follows_the_vendor() -> None:
    c = PriceCatalog.build(config(
        {"vendor": "anthropic", "model": "claude-next", "input_per_mtok": 4.0, "output_per_mtok": 20.0},
        {"vendor": "openai", "model": "gpt-next", "input_per_mtok": 4.0, "output_per_mtok": 20.0},
    ))
    assert usd(c.lookup("anthropic", "claude-next", NOW).base.cache_write) == 5.0  # type: ignore[union-attr]
    assert usd(c.lookup("openai", "gpt-next", NOW).base.cache_write) == 4.0  # type: ignore[union-attr]


def test_future_only_price_is_not_in_effect_yet() -> None:
    c = PriceCatalog.build(config(
        {"vendor": "openai", "model": "gpt-future", "input_per_mtok": 1, "output_per_mtok": 2, "effective": "2030-01-01"}
    ))
    assert c.lookup("openai", "gpt-future", NOW) is None
    assert c.lookup("openai", "gpt-future", day("2030-01-01")) is not None


def test_config_from_a_yaml_file_reaches_the_catalog() -> None:
    cfg = parse_config({"pricing": {"prices": [{"vendor": "groq", "model": "llama-x", "input_per_mtok": 0.05,
                                                "output_per_mtok": 0.08, "effective": "2026-01-01"}]}})
    p = PriceCatalog.build(cfg.pricing, cfg.source).lookup("groq", "llama-x", NOW)
    assert p is not None and p.base.input == 50_000_000


# ---- validation -----------------------------------------------------------------------------


def test_config_problems_name_every_bad_entry() -> None:
    bad = config(
        {"vendor": "opneai", "model": "gpt-4o", "input_per_mtok": 1, "output_per_mtok": 1},
        {"vendor": "openai", "model": "x", "input_per_mtok": -1, "output_per_mtok": float("nan")},
        {"model": "y", "input_per_mtok": 1, "output_per_mtok": 1, "effective": "2025-01-01"},
        {"model": "z", "input_per_mtok": 1, "output_per_mtok": 1, "max_output_tokens": 0},
        {"model": " ", "input_per_mtok": 1, "output_per_mtok": 1},
        {"vendor": "openai", "model": "w", "input_per_mtok": 1, "output_per_mtok": 1},
        {"vendor": "openai", "model": "w", "input_per_mtok": 2, "output_per_mtok": 2},
    )
    with pytest.raises(ConfigError) as info:
        PriceCatalog.build(bad, "gateway.yaml")
    problems = info.value.problems
    assert info.value.source == "gateway.yaml"
    assert any(p.startswith("pricing.prices[0].vendor: unknown vendor 'opneai'") for p in problems)
    assert any(p.startswith("pricing.prices[1].input_per_mtok: must be a finite number >= 0") for p in problems)
    assert any(p.startswith("pricing.prices[1].output_per_mtok: must be a finite number >= 0") for p in problems)
    assert any(p.startswith("pricing.prices[3].max_output_tokens: must be >= 1") for p in problems)
    assert any(p.startswith("pricing.prices[4].model:") for p in problems)
    assert any(p.startswith("pricing.prices[6]: duplicate price for openai/w") for p in problems)
    assert len(problems) == 6
    assert check_price_entries(bad.prices) == problems


def test_a_bad_config_date_is_named_by_the_config_loader() -> None:
    from switchgear.config.load import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config({"pricing": {"prices": [{"model": "y", "input_per_mtok": 1, "output_per_mtok": 1,
                                              "effective": "next tuesday"}]}})
    assert any(p.startswith("pricing.prices[0].effective:") for p in info.value.problems)


def test_bundled_file_problems_name_the_entry() -> None:
    version, prices, problems = parse_bundled({
        "version": "t",
        "prices": [
            {"vendor": "openai", "model": "ok", "input_per_mtok": 1, "output_per_mtok": 2},
            {"vendor": "openai", "model": "typo", "input_per_mtok": 1, "output_per_mtok": 2, "cahced_input_per_mtok": 1},
            {"vendor": "openai", "model": "bad", "input_per_mtok": "one", "output_per_mtok": 2},
            {"vendor": "nope", "model": "m", "input_per_mtok": 1, "output_per_mtok": 2},
            {"vendor": "gemini", "model": "g", "input_per_mtok": 1, "output_per_mtok": 2,
             "long_context": {"above_input_tokens": 0, "input_per_mtok": 2, "output_per_mtok": -3}},
            {"vendor": "openai", "model": "dup", "aliases": ["ok"], "input_per_mtok": 1, "output_per_mtok": 2},
            {"vendor": "openai", "model": "dated", "input_per_mtok": 1, "output_per_mtok": 2, "effective": dt.date(2025, 1, 1)},
        ],
    })
    assert version == "t"
    assert [p.model for p in prices] == ["ok", "dup", "dated"]
    assert prices[2].effective == int(day("2025-01-01"))
    assert any(p.startswith("prices[1] (openai/typo): Object contains unknown field `cahced_input_per_mtok`") for p in problems)
    assert any(p.startswith("prices[2] (openai/bad): Expected `float`, got `str`") for p in problems)
    assert any(p.startswith("prices[3] (nope/m).vendor: unknown vendor 'nope'") for p in problems)
    assert any(p.startswith("prices[4] (gemini/g).long_context.above_input_tokens: must be >= 1") for p in problems)
    assert any(p.startswith("prices[4] (gemini/g).long_context.output_per_mtok: must be a finite number") for p in problems)
    assert any(p.startswith("prices[5] (openai/dup): duplicate price for openai/ok") for p in problems)
    assert len(problems) == 6


def test_bundled_file_must_have_its_shape() -> None:
    assert parse_bundled({"prices": []})[2] == ["<root>: Object missing required field `version`"]
    assert parse_bundled(["x"])[2][0].startswith("<root>: Expected `object`")
