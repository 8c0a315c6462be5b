"""stages.candidates: requirements from key and headers, placement then strategy, error classes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from switchgear.routing.placement import PlacementTags, Requirements
from switchgear.routing.strategies import STRATEGIES, StrategyData
from switchgear.routing.table import ModelRoute
from switchgear.stages import candidates


@dataclass(frozen=True)
class Dep:  # the fields candidates reads from routing.table.Deployment
    name: str
    tags: PlacementTags | None = None


def route(deps: list[Dep], strategy: str = "priority") -> ModelRoute:
    return ModelRoute(name="m", kind="chat", deployments=tuple(deps),  # type: ignore[arg-type]
                      strategy_name=strategy, strategy=None if strategy == "priority" else STRATEGIES[strategy],
                      data=StrategyData(weights={d.name: 1.0 for d in deps}))


def test_priority_without_requirements_is_the_route_itself() -> None:
    r = route([Dep("a"), Dep("b")])
    deps, excluded = candidates.order(r, None, False)
    assert deps is r.deployments and excluded == []  # no filter, no sort, no copy


def test_requirements_merge_key_and_headers_and_headers_never_lift() -> None:
    keyreq = Requirements.of(regions="eu")
    assert candidates.request_requirements({}, None) is None
    assert candidates.request_requirements({}, keyreq) is keyreq
    got = candidates.request_requirements({"x-switchgear-residency": "us, eu-west"}, keyreq)
    assert got is not None and got.regions == frozenset({"eu-west"})  # narrowed, the us part dropped
    got = candidates.request_requirements({"x-switchgear-data-class": "confidential"}, None)
    assert got is not None and got.data_classes == frozenset({"confidential"})
    with pytest.raises(InvalidRequest, match="placement headers"):
        candidates.request_requirements({"x-switchgear-environment": "moon"}, None)


@pytest.mark.parametrize(
    ("err", "cls"),
    [
        (UpstreamRateLimited("x"), "rate_limited"),
        (UpstreamServerError("x"), "server_error"),
        (UpstreamOverloaded("x"), "server_error"),
        (UpstreamUnavailable("x"), "server_error"),
        (UpstreamProtocolError("x"), "server_error"),
        (UpstreamTimeout("x"), "timeout"),
        (ContextWindowExceeded("x"), "context_window"),
        (ContentFiltered("x"), "content_filtered"),
        (UpstreamRejected("x"), None),
        (InvalidRequest("x"), None),
    ],
)
def test_fallback_class(err: Exception, cls: str | None) -> None:
    assert candidates.fallback_class(err) == cls  # type: ignore[arg-type]


REGIONS = st.sampled_from(["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1", None])
ENVS = st.sampled_from(["on-prem", "colo", "cloud", None])
CLASSES = st.one_of(st.none(), st.frozensets(st.sampled_from(["public", "internal", "confidential"])))
TAGS = st.one_of(st.none(), st.builds(PlacementTags, environment=ENVS, region=REGIONS, data_classes=CLASSES))


@given(
    tags=st.lists(TAGS, min_size=1, max_size=6),
    residency=st.one_of(st.none(), st.sampled_from(["eu", "us", "eu-west-1", "ap"])),
    env=st.one_of(st.none(), st.sampled_from(["on-prem", "cloud"])),
    data=st.one_of(st.none(), st.sampled_from(["internal", "confidential"])),
    strategy=st.sampled_from(sorted(STRATEGIES)),
)
def test_placement_is_never_violated_and_nothing_eligible_is_lost(
    tags: list[PlacementTags | None], residency: str | None, env: str | None, data: str | None, strategy: str
) -> None:
    deps = [Dep(f"d{i}", t) for i, t in enumerate(tags)]
    reqs = Requirements.of(regions=residency, environments=env, data_class=data)
    eligible, excluded = candidates.order(route(deps, strategy), reqs, False)
    assert all(reqs.allows(d.tags) for d in eligible)
    assert {d.name for d in eligible} | {n for n, _ in excluded} == {d.name for d in deps}
    assert all(reason for _, reason in excluded)
    if not eligible and reqs.active:
        err = candidates.unsatisfied(route(deps), reqs, excluded)
        assert err.status == 403 and all(d.name in err.message for d in deps)
