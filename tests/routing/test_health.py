"""DeploymentHealth and HealthRegistry: in-flight counts, EWMAs, the p95 TTFT window."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from switchgear.routing.health import DeploymentHealth, HealthRegistry


def nearest_rank_p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def test_in_flight_counts_and_never_goes_negative() -> None:
    h = DeploymentHealth("a")
    h.started()
    h.started()
    assert h.in_flight == 2
    h.finished()
    h.finished()
    h.finished()  # unmatched: clamped, so least-busy never sees a negative count
    assert h.in_flight == 0
    h.started()
    assert h.in_flight == 1


def test_ewma_is_none_until_first_sample_then_starts_at_it() -> None:
    h = DeploymentHealth("a", alpha=0.5)
    assert h.ttft_ewma is None and h.latency_ewma is None
    h.observe_ttft(0.4)
    assert h.ttft_ewma == 0.4
    assert h.latency_ewma is None  # the two are independent
    h.observe_latency(2.0)
    assert h.latency_ewma == 2.0


def test_ewma_update_rule() -> None:
    h = DeploymentHealth("a", alpha=0.25)
    for x in (1.0, 2.0, 0.0, 4.0):
        h.observe_latency(x)
    expected = 1.0
    for x in (2.0, 0.0, 4.0):
        expected += 0.25 * (x - expected)
    assert h.latency_ewma == pytest.approx(expected)
    assert h.latency_count == 4


def test_ewma_follows_a_level_shift() -> None:
    h = DeploymentHealth("a", alpha=0.3)
    for _ in range(50):
        h.observe_ttft(0.1)
    for _ in range(30):
        h.observe_ttft(1.0)
    assert h.ttft_ewma == pytest.approx(1.0, abs=1e-3)


def test_alpha_one_keeps_only_the_last_sample() -> None:
    h = DeploymentHealth("a", alpha=1.0)
    h.observe_ttft(5.0)
    h.observe_ttft(0.2)
    assert h.ttft_ewma == pytest.approx(0.2)


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_invalid_samples_do_not_poison_the_statistics(bad: float) -> None:
    h = DeploymentHealth("a", min_samples=1)
    h.observe_ttft(0.5)
    h.observe_latency(1.5)
    h.observe_ttft(bad)
    h.observe_latency(bad)
    assert h.ttft_ewma == 0.5 and h.latency_ewma == 1.5
    assert h.ttft_count == 1 and h.latency_count == 1
    assert h.ttft_p95() == 0.5


def test_p95_none_below_min_samples() -> None:
    h = DeploymentHealth("a", min_samples=5)
    for x in (0.1, 0.2, 0.3, 0.4):
        h.observe_ttft(x)
    assert h.ttft_p95() is None
    h.observe_ttft(0.5)
    assert h.ttft_p95() == 0.5  # nearest rank of 5 samples: the largest


def test_p95_exact_while_the_window_fills() -> None:
    rng = random.Random(7)
    h = DeploymentHealth("a", window=100, min_samples=1, refresh_every=50)
    seen: list[float] = []
    for _ in range(100):
        x = rng.expovariate(2.0)
        seen.append(x)
        h.observe_ttft(x)
        # not full yet (or just full): every call is exact, refresh_every does not apply
        assert h.ttft_p95() == nearest_rank_p95(seen)


def test_p95_of_one_hundred_known_samples() -> None:
    h = DeploymentHealth("a", window=100)
    for i in range(1, 101):
        h.observe_ttft(i / 100)
    assert h.ttft_p95() == 0.95


def test_p95_covers_only_the_recent_window() -> None:
    h = DeploymentHealth("a", window=20, min_samples=1, refresh_every=1)
    for _ in range(20):
        h.observe_ttft(10.0)  # an old slow period
    for _ in range(20):
        h.observe_ttft(0.1)  # fully replaced by a fast one
    assert h.ttft_p95() == 0.1
    assert h.ttft_count == 40


def test_p95_refresh_is_amortised_once_the_window_is_full() -> None:
    h = DeploymentHealth("a", window=10, min_samples=1, refresh_every=4)
    for _ in range(10):
        h.observe_ttft(1.0)
    assert h.ttft_p95() == 1.0
    for _ in range(3):
        h.observe_ttft(9.0)
    assert h.ttft_p95() == 1.0  # 3 new samples < refresh_every: cached (stale) estimate
    h.observe_ttft(9.0)
    assert h.ttft_p95() == 9.0  # the 4th triggers a recompute over the window


def test_p95_matches_reference_over_a_long_sliding_stream() -> None:
    rng = random.Random(11)
    h = DeploymentHealth("a", window=50, min_samples=1, refresh_every=1)
    seen: list[float] = []
    for _ in range(500):
        x = rng.lognormvariate(-1.0, 0.8)
        seen.append(x)
        h.observe_ttft(x)
        assert h.ttft_p95() == nearest_rank_p95(seen[-50:])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.5},
        {"window": 0},
        {"window": 5, "min_samples": 6},
        {"min_samples": 0},
        {"refresh_every": 0},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DeploymentHealth("a", **kwargs)


def test_snapshot_reports_the_live_values() -> None:
    h = DeploymentHealth("openai/gpt-4o", min_samples=1)
    h.started()
    h.observe_ttft(0.3)
    h.observe_latency(1.2)
    assert h.snapshot() == {
        "name": "openai/gpt-4o",
        "in_flight": 1,
        "ttft_ewma": 0.3,
        "latency_ewma": 1.2,
        "ttft_p95": 0.3,
        "ttft_samples": 1,
        "latency_samples": 1,
    }


def test_health_uses_slots() -> None:
    h = DeploymentHealth("a")
    with pytest.raises(AttributeError):
        h.extra = 1  # type: ignore[attr-defined]


# ---- registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dep:
    name: str


def test_registry_one_entry_per_distinct_name() -> None:
    reg = HealthRegistry.for_deployments([Dep("a"), Dep("b"), Dep("a")])
    assert list(reg) == ["a", "b"]
    assert isinstance(reg["a"], DeploymentHealth) and reg["a"].name == "a"
    assert reg.get("missing") is None


def test_registry_passes_settings_to_each_entry() -> None:
    reg = HealthRegistry.for_names(["a"], alpha=1.0, window=3, min_samples=1)
    h = reg["a"]
    h.observe_ttft(4.0)
    h.observe_ttft(1.0)
    assert h.ttft_ewma == pytest.approx(1.0)  # alpha 1.0
    for _ in range(3):
        h.observe_ttft(2.0)
    assert h.ttft_p95() == 2.0  # window of 3


def test_registry_reload_carries_over_live_entries() -> None:
    old = HealthRegistry.for_names(["a", "b"])
    old["a"].started()
    old["a"].observe_ttft(0.2)
    new = HealthRegistry.for_names(["a", "c"], previous=old)
    assert new["a"] is old["a"]  # learned state and in-flight count survive the reload
    assert new["a"].in_flight == 1
    assert "b" not in new
    assert new["c"] is not None and new["c"].ttft_ewma is None


def test_registry_snapshot() -> None:
    reg = HealthRegistry.for_names(["a", "b"])
    reg["b"].started()
    snap = reg.snapshot()
    assert set(snap) == {"a", "b"}
    assert snap["b"]["in_flight"] == 1 and snap["a"]["in_flight"] == 0
