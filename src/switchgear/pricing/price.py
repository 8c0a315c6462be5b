"""A model's price, and exact integer cost arithmetic.

Every rate is an integer number of **nano-USD per million tokens** (1 nano-USD = 1e-9 $):
$0.15 / Mtok is 150_000_000 and $0.0375 / Mtok is 37_500_000. Prices such as $0.0375 / Mtok
are not a whole number of nano-USD per token, so rates are kept per million tokens and a
cost is the exact integer sum of tokens x rate, divided by one million once at the end:
no float ever touches money, and the only rounding is that single division (to the
nearest nano-USD for a cost, upwards for a worst case).

Billing rules (``cost_nano``), from the normalised ``Usage`` (input counts cached reads and
cache writes; output counts reasoning):

    fresh input  = input - cached - cache_write   at the input rate
    cached input = cached                         at the cached-input rate
    cache writes = cache_write                    at the cache-write rate
    visible out  = output - reasoning             at the output rate
    reasoning    = reasoning                      at the reasoning rate

The cache-write rate defaults to the input rate (OpenAI and Gemini charge nothing extra
to write their implicit caches); Anthropic and Claude on Bedrock charge 1.25x input for
5-minute cache writes. ``Usage`` does not say which writes used Anthropic's 1-hour TTL
(2x input), so those are billed at the 5-minute rate: an under-count to know about.

Some models bill a whole request at higher rates when its prompt is long (Gemini 2.5 Pro
above 200k input tokens, Claude Sonnet 4/4.5 above 200k): ``long`` holds those rates,
applied when the usage's input tokens exceed ``long_above``.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchgear.core.types import Usage

PER_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """One tier of a price; every field is nano-USD per million tokens."""

    input: int
    output: int
    cached_input: int
    cache_write: int
    reasoning: int


@dataclass(frozen=True, slots=True)
class Price:
    """What one model costs at one vendor from ``effective`` (unix seconds, 0 = always)."""

    vendor: str | None  # None: a config entry for any vendor serving ``model``
    model: str
    effective: int
    base: Rates
    long: Rates | None = None
    long_above: int = 0  # input tokens above which ``long`` applies to the whole request
    max_output_tokens: int | None = None  # the model's output ceiling
    source: str = "bundled"  # "bundled" | "config": where the entry came from

    def rates_for(self, input_tokens: int) -> Rates:
        long = self.long
        return long if long is not None and input_tokens > self.long_above else self.base


def cost_nano(price: Price, usage: Usage) -> int:
    """The exact cost of ``usage`` in nano-USD, rounded half up to a whole nano-USD.

    Inconsistent usage (more cached or reasoning tokens than the totals) is clamped so a
    buggy upstream report can never make a cost negative.
    """
    inp = usage.input_tokens if usage.input_tokens > 0 else 0
    out = usage.output_tokens if usage.output_tokens > 0 else 0
    cached = _clamp(usage.cached_input_tokens, inp)
    write = _clamp(usage.cache_write_tokens, inp - cached)
    reasoning = _clamp(usage.reasoning_tokens, out)
    r = price.long if price.long is not None and inp > price.long_above else price.base
    total = (
        (inp - cached - write) * r.input
        + cached * r.cached_input
        + write * r.cache_write
        + (out - reasoning) * r.output
        + reasoning * r.reasoning
    )
    return (total + PER_MTOK // 2) // PER_MTOK


def worst_case_nano(price: Price, input_tokens_upper: int, max_output: int) -> int:
    """The most a request can cost, rounded up: what a budget reserves before the call.

    Every input token is charged at the dearest input-side rate (a cache write can cost
    more than a fresh token) and every output token at the dearer of output and reasoning.
    The long-prompt tier is included whenever the input bound exceeds its threshold,
    since the actual input may then be long.
    """
    inp = input_tokens_upper if input_tokens_upper > 0 else 0
    out = max_output if max_output > 0 else 0
    r = price.base
    in_rate = max(r.input, r.cached_input, r.cache_write)
    out_rate = max(r.output, r.reasoning)
    long = price.long
    if long is not None and inp > price.long_above:
        in_rate = max(in_rate, long.input, long.cached_input, long.cache_write)
        out_rate = max(out_rate, long.output, long.reasoning)
    return -(-(inp * in_rate + out * out_rate) // PER_MTOK)


def _clamp(n: int, high: int) -> int:
    return 0 if n < 0 else high if n > high else n
