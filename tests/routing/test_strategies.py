"""Routing strategies: each orders the same candidate list, best first."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.routing.health import HealthRegistry
from switchgear.routing.strategies import (
    STRATEGIES,
    Price,
    StrategyData,
    least_busy,
    least_latency,
    lowest_cost,
    priority,
    weighted,
)


@dataclass(frozen=True)
class Dep:
    name: str


A, B, C, D = Dep("a"), Dep("b"), Dep("c"), Dep("d")


def names(deps: list[Dep]) -> list[str]:
    return [d.name for d in deps]


# ---- priority ---------------------------------------------------------------------------


def test_priority_is_config_order_in_a_new_list() -> None:
    cands = (A, B, C)
    out = priority(cands)
    assert out == [A, B, C]
    out.pop()
    assert cands == (A, B, C)


# ---- weighted ---------------------------------------------------------------------------


def test_weighted_first_choice_follows_the_weights() -> None:
    rng = random.Random(1234)
    weights = {"a": 6.0, "b": 3.0, "c": 1.0}
    n = 30_000
    first = Counter(weighted((A, B, C), weights, rng)[0].name for _ in range(n))
    for name, w in weights.items():
        assert first[name] / n == pytest.approx(w / 10.0, abs=0.01)


def test_weighted_is_without_replacement_and_later_positions_follow_remaining_weights() -> None:
    rng = random.Random(99)
    weights = {"a": 6.0, "b": 3.0, "c": 1.0}
    n = 30_000
    orders = Counter(tuple(names(weighted((A, B, C), weights, rng))) for _ in range(n))
    assert all(sorted(o) == ["a", "b", "c"] for o in orders)
    # P(a, b, c) = 6/10 * 3/4 ; P(b, c, a) = 3/10 * 1/7
    assert orders[("a", "b", "c")] / n == pytest.approx(0.6 * 0.75, abs=0.012)
    assert orders[("b", "c", "a")] / n == pytest.approx(0.3 / 7, abs=0.006)


def test_weighted_zero_weight_is_a_standby_fallback() -> None:
    rng = random.Random(5)
    weights = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 0.0}
    for _ in range(500):
        out = names(weighted((A, B, C, D), weights, rng))
        assert out[2:] == ["a", "d"]  # standbys last, in config order
        assert sorted(out[:2]) == ["b", "c"]


def test_weighted_missing_weight_counts_as_one() -> None:
    rng = random.Random(3)
    n = 20_000
    first = Counter(weighted((A, B), {"a": 3.0}, rng)[0].name for _ in range(n))
    assert first["a"] / n == pytest.approx(0.75, abs=0.012)


def test_weighted_is_deterministic_for_a_seed() -> None:
    w = {"a": 1.0, "b": 2.0, "c": 3.0}
    r1, r2 = random.Random(42), random.Random(42)
    assert [names(weighted((A, B, C), w, r1)) for _ in range(50)] == [
        names(weighted((A, B, C), w, r2)) for _ in range(50)
    ]


def test_weighted_trivial_lists() -> None:
    rng = random.Random(0)
    assert weighted((), {}, rng) == []
    assert weighted((A,), {"a": 0.0}, rng) == [A]


# ---- least latency ----------------------------------------------------------------------


def registry(**ttft_latency: tuple[float | None, float | None]) -> HealthRegistry:
    reg = HealthRegistry.for_names(ttft_latency)
    for name, (ttft, latency) in ttft_latency.items():
        if ttft is not None:
            reg[name].observe_ttft(ttft)
        if latency is not None:
            reg[name].observe_latency(latency)
    return reg


def test_least_latency_uses_ttft_for_streams_and_total_latency_otherwise() -> None:
    reg = registry(a=(0.9, 1.0), b=(0.1, 5.0), c=(0.5, 3.0))
    assert names(least_latency((A, B, C), reg, stream=True)) == ["b", "c", "a"]
    assert names(least_latency((A, B, C), reg, stream=False)) == ["a", "c", "b"]


def test_least_latency_explores_unknown_deployments_first() -> None:
    reg = registry(a=(0.2, None), b=(None, 1.0), c=(0.1, 2.0))
    # b has no TTFT sample yet: first for streams; a has no latency sample: first otherwise
    assert names(least_latency((A, B, C), reg, stream=True)) == ["b", "c", "a"]
    assert names(least_latency((A, B, C), reg, stream=False)) == ["a", "b", "c"]
    # not in the registry at all: also unknown
    assert names(least_latency((C, D), reg, stream=True)) == ["d", "c"]


def test_least_latency_ties_keep_priority() -> None:
    reg = registry(a=(0.3, None), b=(0.3, None), c=(0.3, None))
    assert names(least_latency((C, A, B), reg, stream=True)) == ["c", "a", "b"]
    assert names(least_latency((C, A, B), reg, stream=False)) == ["c", "a", "b"]


# ---- least busy -------------------------------------------------------------------------


def test_least_busy_orders_by_in_flight_ties_by_priority() -> None:
    reg = HealthRegistry.for_names(["a", "b", "c"])
    for _ in range(3):
        reg["a"].started()
    reg["b"].started()
    assert names(least_busy((A, B, C), reg)) == ["c", "b", "a"]
    reg["c"].started()
    assert names(least_busy((A, B, C), reg)) == ["b", "c", "a"]
    assert names(least_busy((A, D), reg)) == ["d", "a"]  # unknown: idle


# ---- lowest cost ------------------------------------------------------------------------

PRICES = {
    "a": Price(input_per_mtok=5.0, output_per_mtok=15.0),
    "b": Price(input_per_mtok=0.5, output_per_mtok=40.0),
    "c": Price(input_per_mtok=3.0, output_per_mtok=15.0),
}


def test_lowest_cost_default_ranks_by_price_sum() -> None:
    # sums: a 20, b 40.5, c 18
    assert names(lowest_cost((A, B, C), PRICES)) == ["c", "a", "b"]


def test_lowest_cost_depends_on_the_token_mix() -> None:
    # prompt-heavy, 10k in / 100 out: b 9,000 < c 31,500 < a 51,500 (USD per 1M requests)
    assert names(lowest_cost((A, B, C), PRICES, input_tokens=10_000, output_tokens=100)) == ["b", "c", "a"]
    # output-heavy: b is most expensive
    assert names(lowest_cost((A, B, C), PRICES, input_tokens=100, output_tokens=10_000)) == ["c", "a", "b"]


def test_lowest_cost_ties_by_priority_and_unknown_price_last() -> None:
    prices = {"a": Price(1.0, 1.0), "b": Price(1.0, 1.0)}
    assert names(lowest_cost((D, B, A), prices)) == ["b", "a", "d"]
    assert names(lowest_cost((C, D), {})) == ["c", "d"]  # nothing known: priority order


# ---- the registry -----------------------------------------------------------------------


def test_registry_names() -> None:
    assert set(STRATEGIES) == {"priority", "weighted", "least_latency", "least_busy", "lowest_cost"}
    with pytest.raises(TypeError):
        STRATEGIES["mine"] = priority  # type: ignore[index]


def test_registry_entries_use_the_route_data() -> None:
    reg = registry(a=(0.9, 0.1), b=(0.1, 0.9), c=(0.5, 0.5))
    reg["a"].started()
    reg["a"].started()
    reg["c"].started()
    data = StrategyData(
        weights={"a": 0.0, "b": 0.0, "c": 1.0},
        health=reg,
        prices=PRICES,
        rng=random.Random(1),
        input_tokens=10_000,
        output_tokens=100,
    )
    cands = (A, B, C)
    assert names(STRATEGIES["priority"](cands, data, False)) == ["a", "b", "c"]
    assert names(STRATEGIES["weighted"](cands, data, False)) == ["c", "a", "b"]
    assert names(STRATEGIES["least_latency"](cands, data, True)) == ["b", "c", "a"]
    assert names(STRATEGIES["least_latency"](cands, data, False)) == ["a", "c", "b"]
    assert names(STRATEGIES["least_busy"](cands, data, False)) == ["b", "c", "a"]
    assert names(STRATEGIES["lowest_cost"](cands, data, False)) == ["b", "c", "a"]


@given(
    st.lists(st.text("abcdefgh", min_size=1, max_size=3), unique=True, max_size=8),
    st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.floats(0, 100), max_size=8),
    st.integers(0, 2**32),
    st.booleans(),
)
@settings(deadline=None, derandomize=True, database=None)
def test_every_strategy_returns_a_permutation_of_its_input(
    cand_names: list[str], numbers: dict[str, float], seed: int, stream: bool
) -> None:
    cands = [Dep(n) for n in cand_names]
    reg = HealthRegistry.for_names(numbers)
    for n, v in numbers.items():
        reg[n].observe_ttft(v)
        reg[n].observe_latency(v)
        for _ in range(int(v) % 4):
            reg[n].started()
    data = StrategyData(
        weights=numbers,
        health=reg,
        prices={n: Price(v, v / 2) for n, v in numbers.items()},
        rng=random.Random(seed),
    )
    for name, strategy in STRATEGIES.items():
        out = strategy(cands, data, stream)
        assert sorted(names(out)) == sorted(cand_names), name
