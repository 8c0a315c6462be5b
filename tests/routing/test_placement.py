"""Placement rules: eligible deployments satisfy every requirement; exclusions say why."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.routing.placement import (
    PlacementTags,
    Requirements,
    describe_exclusions,
    filter_candidates,
)


@dataclass(frozen=True)
class Dep:
    name: str
    tags: PlacementTags | None


def tags_of(d: Dep) -> PlacementTags | None:
    return d.tags


def run(deps: list[Dep], req: Requirements | None) -> tuple[list[str], list[tuple[str, str]]]:
    eligible, excluded = filter_candidates(deps, tags_of, req)
    return [d.name for d in eligible], excluded


EU = Dep("eu", PlacementTags(environment="cloud", region="eu-west-1", data_classes=frozenset({"public", "internal"})))
US = Dep("us", PlacementTags(environment="cloud", region="us-east-1", data_classes=frozenset({"public", "internal"})))
ONPREM = Dep(
    "onprem",
    PlacementTags(environment="on-prem", region="eu-central-1", data_classes=frozenset({"public", "internal", "confidential"})),
)
BARE = Dep("bare", None)
ALL = [EU, US, ONPREM, BARE]


def test_no_requirements_keep_every_candidate_in_order() -> None:
    assert run(ALL, None) == (["eu", "us", "onprem", "bare"], [])
    assert run(ALL, Requirements()) == (["eu", "us", "onprem", "bare"], [])


def test_residency_prefix() -> None:
    eligible, excluded = run(ALL, Requirements.of(regions="eu"))
    assert eligible == ["eu", "onprem"]
    assert excluded == [
        ("us", "region us-east-1 is outside residency eu"),
        ("bare", "no region tag (residency eu required)"),
    ]


@pytest.mark.parametrize(
    ("region", "residency", "ok"),
    [
        ("eu-west-1", "eu", True),
        ("eu-west-1", "eu-west", True),
        ("eu-west-1", "eu-west-1", True),
        ("eu-west-1", "eu-west-2", False),
        ("eu-west-1", "eu-west-1-a", False),  # narrower than the deployment's region
        ("europe-west1", "eu", False),  # a different naming scheme never matches by accident
        ("eus-1", "eu", False),
        ("eu-west-10", "eu-west-1", False),
        ("EU-West-1", "eu", True),  # case-insensitive
    ],
)
def test_region_matches_whole_segments(region: str, residency: str, ok: bool) -> None:
    dep = Dep("d", PlacementTags(region=region))
    eligible, _ = run([dep], Requirements.of(regions=[residency]))
    assert (eligible == ["d"]) is ok


def test_several_residencies_admit_any_of_them() -> None:
    eligible, excluded = run(ALL, Requirements.of(regions=["us", "ch"]))
    assert eligible == ["us"]
    assert ("eu", "region eu-west-1 is outside residency ch, us") in excluded


def test_data_class() -> None:
    eligible, excluded = run(ALL, Requirements.of(data_class="confidential"))
    assert eligible == ["onprem"]
    assert excluded == [
        ("eu", "data class confidential not allowed (allows: internal, public)"),
        ("us", "data class confidential not allowed (allows: internal, public)"),
        ("bare", "no data_classes tag (data class confidential required)"),
    ]


def test_every_data_class_of_the_request_must_be_allowed() -> None:
    dep = Dep("d", PlacementTags(data_classes=frozenset({"public"})))
    _, excluded = run([dep], Requirements.of(data_class=["internal", "confidential", "public"]))
    assert excluded == [("d", "data classes confidential, internal not allowed (allows: public)")]
    nothing = Dep("n", PlacementTags(data_classes=frozenset()))
    _, excluded = run([nothing], Requirements.of(data_class="public"))
    assert excluded == [("n", "data class public not allowed (allows: none)")]


def test_environment() -> None:
    eligible, excluded = run(ALL, Requirements.of(environments=["on-prem", "colo"]))
    assert eligible == ["onprem"]
    assert excluded[0] == ("eu", "environment cloud not allowed (allows: colo, on-prem)")
    assert excluded[-1] == ("bare", "no environment tag (environment colo, on-prem required)")


def test_untagged_dimension_denies_even_when_other_tags_exist() -> None:
    dep = Dep("d", PlacementTags(region="eu-west-1"))  # no environment, no data classes
    eligible, excluded = run([dep], Requirements.of(regions="eu", environments="cloud"))
    assert eligible == []
    assert excluded == [("d", "no environment tag (environment cloud required)")]


def test_every_broken_rule_is_named() -> None:
    _, excluded = run([US], Requirements.of(regions="eu", data_class="confidential", environments="on-prem"))
    assert excluded == [
        (
            "us",
            "region us-east-1 is outside residency eu"
            " and data class confidential not allowed (allows: internal, public)"
            " and environment cloud not allowed (allows: on-prem)",
        )
    ]


def test_empty_requirement_set_admits_nothing() -> None:
    eligible, excluded = run([EU], Requirements(regions=frozenset()))
    assert eligible == []
    assert excluded == [("eu", "region eu-west-1 is outside residency none")]


def test_no_eligible_candidate_message() -> None:
    req = Requirements.of(regions="eu", data_class="confidential")
    eligible, excluded = run([EU, US], req)
    assert eligible == []
    assert describe_exclusions(req, excluded) == (
        "no deployment satisfies the placement requirements (residency eu; data class confidential): "
        "eu: data class confidential not allowed (allows: internal, public); "
        "us: region us-east-1 is outside residency eu and data class confidential not allowed (allows: internal, public)"
    )


def test_names_are_normalised() -> None:
    tags = PlacementTags(environment="On-Prem", region=" EU-West-1 ", data_classes=frozenset({"Confidential"}))
    assert tags == PlacementTags(environment="on-prem", region="eu-west-1", data_classes=frozenset({"confidential"}))
    req = Requirements.of(regions="EU", data_class="CONFIDENTIAL", environments="ON-PREM")
    assert req.violations(tags) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: PlacementTags(environment="edge"),
        lambda: PlacementTags(region=""),
        lambda: PlacementTags(region="eu-"),
        lambda: PlacementTags(region="eu--west"),
        lambda: PlacementTags(data_classes=frozenset({""})),
        lambda: Requirements.of(regions=""),
        lambda: Requirements.of(regions=["-eu"]),
        lambda: Requirements.of(environments="space"),
    ],
)
def test_invalid_values_are_rejected_at_config_time(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        build()


def test_a_single_name_is_not_split_into_characters() -> None:
    req = Requirements.of(regions="eu", data_class="internal", environments="cloud")
    assert req.regions == frozenset({"eu"})
    assert req.data_classes == frozenset({"internal"})
    assert req.environments == frozenset({"cloud"})


def test_requirements_are_hashable_for_caching() -> None:
    a = Requirements.of(regions=["eu", "ch"], data_class="internal")
    b = Requirements.of(regions=["ch", "EU"], data_class="Internal")
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1


def test_merge_narrows_each_dimension() -> None:
    key = Requirements.of(regions="eu", data_class="internal")
    request = Requirements.of(regions=["eu-west", "us"], data_class="confidential", environments="cloud")
    m = key.merge(request)
    assert m.regions == frozenset({"eu-west"})
    assert m.data_classes == frozenset({"internal", "confidential"})
    assert m.environments == frozenset({"cloud"})
    assert key.merge(None) is key
    assert Requirements().merge(key) is key


# ---- properties -------------------------------------------------------------------------

SEGMENTS = ["eu", "us", "ap", "west", "east", "central", "1", "2", "europe"]
CLASSES = ["public", "internal", "confidential", "restricted"]
ENVS = ["on-prem", "colo", "cloud"]

region_st = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("-".join)
tags_st = st.one_of(
    st.none(),
    st.builds(
        PlacementTags,
        environment=st.one_of(st.none(), st.sampled_from(ENVS)),
        region=st.one_of(st.none(), region_st),
        data_classes=st.one_of(st.none(), st.frozensets(st.sampled_from(CLASSES))),
    ),
)
req_st = st.builds(
    Requirements,
    regions=st.one_of(st.none(), st.frozensets(region_st, max_size=3)),
    data_classes=st.one_of(st.none(), st.frozensets(st.sampled_from(CLASSES), max_size=3)),
    environments=st.one_of(st.none(), st.frozensets(st.sampled_from(ENVS), max_size=3)),
)


def region_ok(region: str | None, residencies: frozenset[str]) -> bool:
    """Independent oracle: the residency's segments are a prefix of the region's."""
    if region is None:
        return False
    parts = region.split("-")
    return any(parts[: len(r.split("-"))] == r.split("-") for r in residencies)


def oracle(tags: PlacementTags | None, req: Requirements) -> dict[str, bool]:
    """Which rules hold, computed from the definitions, rule by rule."""
    t = tags or PlacementTags()
    rules = {}
    if req.regions is not None:
        rules["region"] = region_ok(t.region, req.regions)
    if req.data_classes is not None:
        rules["data class"] = t.data_classes is not None and req.data_classes <= t.data_classes
    if req.environments is not None:
        rules["environment"] = t.environment is not None and t.environment in req.environments
    return rules


@given(st.lists(tags_st, max_size=8), req_st)
@settings(max_examples=500, deadline=None, derandomize=True, database=None)
def test_no_eligible_candidate_ever_violates_a_rule(all_tags: list[PlacementTags | None], req: Requirements) -> None:
    deps = [Dep(f"d{i}", t) for i, t in enumerate(all_tags)]
    eligible, excluded = filter_candidates(deps, tags_of, req)
    by_name = {d.name: d for d in deps}
    # a partition of the input that keeps its order
    assert sorted([d.name for d in eligible] + [n for n, _ in excluded]) == sorted(by_name)
    assert eligible == [d for d in deps if d in eligible]
    for d in eligible:
        assert all(oracle(d.tags, req).values()), (d, req)
    for name, reason in excluded:
        rules = oracle(by_name[name].tags, req)
        broken = [rule for rule, ok in rules.items() if not ok]
        assert broken, (name, reason)
        clauses = reason.split(" and ")
        assert len(clauses) == len(broken)  # one sentence per broken rule, no more
        starts = {
            "region": ("region ", "no region tag "),
            "data class": ("data class ", "data classes ", "no data_classes tag "),
            "environment": ("environment ", "no environment tag "),
        }
        for rule, clause in zip(broken, clauses):  # in rule order: region, data class, environment
            assert clause.startswith(starts[rule]), (rule, clause)


@given(tags_st, req_st)
@settings(deadline=None, derandomize=True, database=None)
def test_untagged_dimension_never_satisfies_a_requirement(tags: PlacementTags | None, req: Requirements) -> None:
    broken = " and ".join(req.violations(tags))
    t = tags or PlacementTags()
    if req.regions is not None and t.region is None:
        assert "no region tag" in broken
    if req.data_classes is not None and t.data_classes is None:
        assert "no data_classes tag" in broken
    if req.environments is not None and t.environment is None:
        assert "no environment tag" in broken


@given(tags_st, req_st, req_st)
@settings(max_examples=500, deadline=None, derandomize=True, database=None)
def test_merge_is_the_conjunction(tags: PlacementTags | None, a: Requirements, b: Requirements) -> None:
    both = not a.violations(tags) and not b.violations(tags)
    assert (not a.merge(b).violations(tags)) is both
    assert (not b.merge(a).violations(tags)) is both


@given(st.lists(tags_st, max_size=6), req_st, req_st)
@settings(deadline=None, derandomize=True, database=None)
def test_fallback_lists_never_widen(all_tags: list[PlacementTags | None], a: Requirements, b: Requirements) -> None:
    # Adding a requirement (a key's on top of the caller's) can only remove candidates.
    deps = [Dep(f"d{i}", t) for i, t in enumerate(all_tags)]
    wide, _ = filter_candidates(deps, tags_of, a)
    narrow, _ = filter_candidates(deps, tags_of, a.merge(b))
    assert set(d.name for d in narrow) <= set(d.name for d in wide)


@given(tags_st, req_st)
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_fast_check_agrees_with_the_explanation_and_the_oracle(tags: PlacementTags | None, req: Requirements) -> None:
    ok = all(oracle(tags, req).values())
    assert req.allows(tags) is ok
    assert (req.violations(tags) == []) is ok
