"""Exact integer cost arithmetic and the worst-case bound."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.core.types import Usage
from switchgear.pricing.entries import usd_per_mtok_to_nano
from switchgear.pricing.price import Price, Rates, cost_nano, worst_case_nano

props = settings(deadline=None, derandomize=True, database=None, max_examples=300)


def price(inp: float, out: float, cached: float | None = None, write: float | None = None,
          reasoning: float | None = None, long: Rates | None = None, long_above: int = 0) -> Price:
    n = usd_per_mtok_to_nano
    return Price(
        vendor="openai",
        model="m",
        effective=0,
        base=Rates(
            input=n(inp),
            output=n(out),
            cached_input=n(inp if cached is None else cached),
            cache_write=n(inp if write is None else write),
            reasoning=n(out if reasoning is None else reasoning),
        ),
        long=long,
        long_above=long_above,
    )


def test_usd_per_mtok_is_exact() -> None:
    assert usd_per_mtok_to_nano(0.15) == 150_000_000  # 150 nano-USD a token
    assert usd_per_mtok_to_nano(0.0375) == 37_500_000  # 37.5 nano-USD a token: kept exact
    assert usd_per_mtok_to_nano(0.1 + 0.2) == 300_000_000  # float noise beyond 1e-9 $/Mtok
    assert usd_per_mtok_to_nano(75) == 75_000_000_000
    assert usd_per_mtok_to_nano(0) == 0


def test_openai_cost_with_cached_input() -> None:
    p = price(0.15, 0.60, cached=0.075)  # gpt-4o-mini
    usage = Usage(input_tokens=1000, output_tokens=500, cached_input_tokens=200)
    # 800 x 150 + 200 x 75 + 500 x 600 nano-USD
    assert cost_nano(p, usage) == 800 * 150 + 200 * 75 + 500 * 600


def test_anthropic_cost_with_cache_reads_writes_and_thinking() -> None:
    p = price(3.00, 15.00, cached=0.30, write=3.75)  # Claude Sonnet 4.5
    usage = Usage(input_tokens=10_000, cached_input_tokens=3_000, cache_write_tokens=2_000,
                  output_tokens=1_000, reasoning_tokens=400)
    expected = 5_000 * 3_000 + 3_000 * 300 + 2_000 * 3_750 + 1_000 * 15_000
    assert cost_nano(p, usage) == expected == 38_400_000  # $0.0384


def test_reasoning_rate_applies_to_reasoning_tokens_only() -> None:
    p = price(1, 10, reasoning=20)
    assert cost_nano(p, Usage(output_tokens=100, reasoning_tokens=30)) == 70 * 10_000 + 30 * 20_000


def test_sub_nano_token_prices_are_summed_before_rounding() -> None:
    p = price(0.0375, 0)  # 37.5 nano-USD a token
    assert cost_nano(p, Usage(input_tokens=2)) == 75
    assert cost_nano(p, Usage(input_tokens=3)) == 113  # 112.5 rounds half up
    assert cost_nano(p, Usage(input_tokens=1_000_000)) == 37_500_000  # no drift at scale
    assert worst_case_nano(p, 3, 0) == 113  # a worst case rounds up


def test_long_context_tier_bills_the_whole_request() -> None:
    long = Rates(input=2_500_000_000, output=15_000_000_000, cached_input=250_000_000,
                 cache_write=2_500_000_000, reasoning=15_000_000_000)
    p = price(1.25, 10.0, cached=0.125, long=long, long_above=200_000)  # Gemini 2.5 Pro
    at_threshold = Usage(input_tokens=200_000, output_tokens=1_000)
    above = Usage(input_tokens=200_001, output_tokens=1_000)
    assert cost_nano(p, at_threshold) == 200_000 * 1_250 + 1_000 * 10_000
    assert cost_nano(p, above) == 200_001 * 2_500 + 1_000 * 15_000
    assert worst_case_nano(p, 200_000, 1_000) == cost_nano(p, at_threshold)
    assert worst_case_nano(p, 200_001, 1_000) == cost_nano(p, above)


def test_inconsistent_usage_is_clamped() -> None:
    p = price(1, 2, cached=0.5)
    # More cached than input, more reasoning than output, negative counts: never negative.
    assert cost_nano(p, Usage(input_tokens=10, cached_input_tokens=50, output_tokens=5, reasoning_tokens=9)) == (
        10 * 500 + 5 * 2_000
    )
    assert cost_nano(p, Usage(input_tokens=-5, output_tokens=-1, cached_input_tokens=-3)) == 0


def test_worst_case_uses_the_dearest_rates() -> None:
    p = price(3.0, 15.0, cached=0.3, write=3.75, reasoning=20.0)
    assert worst_case_nano(p, 1_000, 100) == 1_000 * 3_750 + 100 * 20_000
    assert worst_case_nano(p, -1, -1) == 0


# ---- properties ---------------------------------------------------------------------------

usd = st.decimals(min_value=0, max_value=200, places=4, allow_nan=False, allow_infinity=False).map(float)
rates = st.builds(
    lambda a, b, c, d, e: Rates(*(usd_per_mtok_to_nano(x) for x in (a, b, c, d, e))), usd, usd, usd, usd, usd
)
prices = st.builds(
    lambda base, long, above: Price("v", "m", 0, base, long, above),
    rates,
    st.none() | rates,
    st.integers(min_value=0, max_value=300_000),
)


@st.composite
def bounded_usage(draw: st.DrawFn) -> tuple[Usage, int, int]:
    """A usage together with bounds it respects: input <= in_upper, output <= out_upper."""
    in_upper = draw(st.integers(min_value=0, max_value=2_000_000))
    out_upper = draw(st.integers(min_value=0, max_value=200_000))
    inp = draw(st.integers(min_value=0, max_value=in_upper))
    out = draw(st.integers(min_value=0, max_value=out_upper))
    cached = draw(st.integers(min_value=0, max_value=inp))
    write = draw(st.integers(min_value=0, max_value=inp - cached))
    reasoning = draw(st.integers(min_value=0, max_value=out))
    usage = Usage(input_tokens=inp, output_tokens=out, cached_input_tokens=cached,
                  cache_write_tokens=write, reasoning_tokens=reasoning)
    return usage, in_upper, out_upper


@props
@given(p=prices, case=bounded_usage())
def test_worst_case_bounds_every_cost_within_the_bounds(p: Price, case: tuple[Usage, int, int]) -> None:
    usage, in_upper, out_upper = case
    assert 0 <= cost_nano(p, usage) <= worst_case_nano(p, in_upper, out_upper)


@props
@given(p=prices, case=bounded_usage())
def test_cost_is_the_exact_rational_rounded_half_up(p: Price, case: tuple[Usage, int, int]) -> None:
    usage = case[0]
    r = p.long if p.long is not None and usage.input_tokens > p.long_above else p.base
    fresh = usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    exact = Fraction(
        fresh * r.input
        + usage.cached_input_tokens * r.cached_input
        + usage.cache_write_tokens * r.cache_write
        + (usage.output_tokens - usage.reasoning_tokens) * r.output
        + usage.reasoning_tokens * r.reasoning,
        1_000_000,
    )
    assert cost_nano(p, usage) == int(exact + Fraction(1, 2))  # floor(x + 1/2): half up
