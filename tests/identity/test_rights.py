"""Grants and the deny-by-default decision, including the agent/user intersection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from switchgear.identity.principal import Principal
from switchgear.identity.rights import NO_RIGHTS, Denied, Rights, grant
from switchgear.stages.authorize import Authorize, GrantMissing
from switchgear.core.context import RequestContext

import pytest


def test_no_grant_no_access() -> None:
    d = NO_RIGHTS.decide("chat", "gpt-4o")
    assert isinstance(d, Denied) and d.code == "endpoint_not_granted"


def test_patterns() -> None:
    r = Rights((grant("g1", ["gpt-4o", "openai/*"], ["chat"]),))
    assert r.decide("chat", "gpt-4o").id == "g1"
    assert r.decide("chat", "openai/gpt-5").id == "g1"
    assert isinstance(r.decide("chat", "openai"), Denied)  # the prefix needs its slash
    assert isinstance(r.decide("chat", "gpt-4o-mini"), Denied)  # exact means exact
    assert r.decide("messages", "gpt-4o").code == "endpoint_not_granted"  # type: ignore[union-attr]


def test_grants_are_not_merged_across_dimensions() -> None:
    r = Rights((grant("a", ["big"], ["chat"], max_tokens=10_000), grant("b", ["small"], ["chat"], max_tokens=100)))
    assert r.decide("chat", "big", 5000).id == "a"
    d = r.decide("chat", "small", 5000)
    assert isinstance(d, Denied) and d.code == "max_tokens_not_granted" and "at most 100" in d.missing
    assert r.token_cap("chat", "small") == 100 and r.token_cap("chat", "other") is None


def test_data_classes() -> None:
    r = Rights((grant("g", ["*"], ["chat"], data_classes=["public", "internal"]),))
    assert r.decide("chat", "m", None, frozenset({"internal"})).id == "g"
    d = r.decide("chat", "m", None, frozenset({"restricted"}))
    assert isinstance(d, Denied) and d.code == "data_class_not_granted"


names = st.sampled_from(["a", "b", "p/x", "p/y", "q/z"])
patterns = st.sampled_from(["a", "b", "p/*", "q/*", "*"])
eps = st.sampled_from(["chat", "messages", "embeddings"])
grants_st = st.lists(
    st.tuples(st.lists(patterns, min_size=1, max_size=3), st.lists(eps, min_size=1, max_size=3),
              st.one_of(st.none(), st.integers(1, 2000))),
    max_size=3,
)


def _rights(spec: list, prefix: str) -> Rights:  # type: ignore[type-arg]
    return Rights(tuple(grant(f"{prefix}{i}", m, e, t) for i, (m, e, t) in enumerate(spec)))


def _principal(kind: str, rights: Rights) -> Principal:
    return Principal(id=kind, kind=kind, name=kind, key_id="k", org_id="o", rights=rights)


@given(agent=grants_st, user=grants_st, endpoint=eps, model=names, tokens=st.integers(1, 3000))
def test_an_agent_acting_for_a_user_gets_exactly_the_intersection(agent, user, endpoint, model, tokens) -> None:  # type: ignore[no-untyped-def]
    a, u = _rights(agent, "a"), _rights(user, "u")
    p = _principal("agent", a).acting(_principal("user", u))
    ctx = RequestContext(endpoint, {}, b"", None)
    ctx.model = model
    ctx.raw = {"model": model, "max_tokens": tokens}
    expected = not isinstance(a.decide(endpoint, model, tokens), Denied) and not isinstance(u.decide(endpoint, model, tokens), Denied)
    ctx.principal = p
    try:
        Authorize(endpoint, "max_tokens").on_request(ctx)
        allowed = True
    except GrantMissing:
        allowed = False
    assert allowed == expected
    if allowed:  # neither alone would have been enough to be recorded
        assert ctx.rule is not None and "&" in ctx.rule


def test_a_request_without_max_tokens_gets_the_granted_cap_of_both() -> None:
    agent = _principal("agent", Rights((grant("a", ["*"], ["chat"], max_tokens=500),)))
    user = _principal("user", Rights((grant("u", ["m"], ["chat"], max_tokens=200),)))
    ctx = RequestContext("chat", {}, b"", None)
    ctx.model, ctx.raw, ctx.principal = "m", {"model": "m"}, agent.acting(user)
    Authorize("chat", "max_completion_tokens").on_request(ctx)
    assert ctx.raw["max_completion_tokens"] == 200


def test_denial_names_the_missing_grant_and_who() -> None:
    p = _principal("service_account", Rights((grant("g", ["a"], ["chat"]),)))
    ctx = RequestContext("chat", {}, b"", None)
    ctx.model, ctx.raw, ctx.principal = "b", {"model": "b"}, p
    with pytest.raises(GrantMissing) as e:
        Authorize("chat", "max_completion_tokens").on_request(ctx)
    assert e.value.status == 403 and e.value.code == "model_not_granted"
    assert "model 'b'" in e.value.message and "service_account 'service_account'" in e.value.message


def test_grant_regions_become_placement_requirements() -> None:
    p = _principal("user", Rights((grant("g", ["*"], ["chat"], regions=["eu"]),)))
    ctx = RequestContext("chat", {}, b"", None)
    ctx.model, ctx.raw, ctx.principal = "m", {"model": "m"}, p
    Authorize("chat", None).on_request(ctx)
    assert ctx.requirements.regions == frozenset({"eu"}) and ctx.rule == "g"
