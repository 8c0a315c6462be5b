"""The authorization table and the "never beyond the team's rights" arithmetic (pure)."""

from __future__ import annotations

import pytest

from switchgear.admin import authz
from switchgear.identity.principal import Principal
from switchgear.identity.repository import Grant


def who(role: str | None = None, admin_of: tuple[str, ...] = (), kind: str = "user",
        org: str | None = "org_1") -> Principal:
    return Principal(id="usr_1", kind=kind, name="n", key_id="sk-sg-abcdefgh", org_id=org, role=role,
                     teams=frozenset(admin_of), team_admin_of=frozenset(admin_of))


def g(models: list[str], endpoints: list[str] = ["chat"], max_tokens: int | None = None,  # noqa: B006
      data_classes: list[str] | None = None, regions: list[str] | None = None) -> Grant:
    return Grant(id="grant_1", org_id="org_1", subject_type="team", subject_id="team_1", models=models,
                 endpoints=endpoints, max_tokens=max_tokens, data_classes=data_classes,  # type: ignore[arg-type]
                 regions=regions, created_at=0.0)


@pytest.mark.parametrize(("outer", "inner", "covers"), [
    ("*", "*", True), ("*", "gpt-4o", True), ("*", "p/*", True),
    ("p/*", "p/x", True), ("p/*", "p/q/*", True), ("p/*", "p/*", True), ("p/*", "p*", False),
    ("p/*", "q/x", False), ("p/*", "*", False), ("p/*", "p/", True),
    ("gpt*", "gpt-4o", True), ("gpt*", "gpt-4o*", True), ("gpt-4o*", "gpt*", False),
    ("gpt-4o", "gpt-4o", True), ("gpt-4o", "gpt-4o-mini", False), ("gpt-4o", "gpt-4o*", False),
    ("gpt-4o", "*", False),
])
def test_pattern_covers(outer: str, inner: str, covers: bool) -> None:
    assert authz.pattern_covers(outer, inner) is covers


def test_coverage_is_per_grant_not_mixed_across_grants() -> None:
    # Model A with a high limit and model B with a low one do not add up to B with the high limit.
    held = [g(["a"], max_tokens=10_000), g(["b"], max_tokens=10)]
    assert authz.uncovered(["a"], ["chat"], 10_000, None, None, held) is None
    assert authz.uncovered(["b"], ["chat"], 11, None, None, held) == "model 'b' on endpoint 'chat' with max_tokens 11"
    assert authz.uncovered(["a", "b"], ["chat"], 10, None, None, held) is None


def test_coverage_of_limits_data_classes_and_regions() -> None:
    held = [g(["*"], ["chat", "embeddings"], 100, ["public", "internal"], ["eu"])]
    assert authz.uncovered(["x"], ["chat"], 100, ["PUBLIC"], ["eu"], held) is None
    assert authz.uncovered(["x"], ["messages"], 100, ["public"], ["eu"], held) is not None
    assert authz.uncovered(["x"], ["chat"], None, ["public"], ["eu"], held) is not None  # unlimited > 100
    assert authz.uncovered(["x"], ["chat"], 100, None, ["eu"], held) is not None  # any class > two classes
    assert authz.uncovered(["x"], ["chat"], 100, ["secret"], ["eu"], held) is not None
    assert authz.uncovered(["x"], ["chat"], 100, ["public"], None, held) is not None  # anywhere > eu
    assert authz.uncovered(["x"], ["chat"], 100, ["public"], ["eu", "us"], held) is not None
    assert authz.uncovered(["x"], ["chat"], 5, None, None, [g(["*"], ["chat"])]) is None
    assert authz.uncovered(["x"], ["chat"], 5, None, None, []) is not None


def test_decide_prefers_an_unscoped_role_and_denies_by_default() -> None:
    assert authz.decide(who("org_admin"), "keys.create") == authz.Allowed("org_admin", scoped=False)
    assert authz.decide(who("viewer", ("team_1",)), "keys.list") == authz.Allowed("viewer", scoped=False)
    assert authz.decide(who("viewer", ("team_1",)), "keys.create") == authz.Allowed("team_admin", scoped=True)
    with pytest.raises(authz.Forbidden, match="not granted to any role"):
        authz.decide(who("org_admin"), "teams.destroy_everything")
    with pytest.raises(authz.Forbidden, match="requires role org_admin or auditor; caller holds viewer"):
        authz.decide(who("viewer"), "audit.query")


@pytest.mark.parametrize("p", [
    who(None), who("org_admin", kind="agent"), who("org_admin", org=None), who(None, ("team_1",), kind="agent"),
])
def test_callers_without_an_admin_role_are_denied_everything(p: Principal) -> None:
    for action in authz.RULES:
        with pytest.raises(authz.Forbidden, match="no admin role"):
            authz.decide(p, action)


def test_every_role_may_whoami_but_only_org_admin_changes_principals() -> None:
    for role in ("org_admin", "auditor", "viewer"):
        assert authz.decide(who(role), "whoami").rule == role
    assert authz.decide(who(None, ("t",)), "whoami").rule == "team_admin"
    for action in ("users.create", "users.update", "agents.create", "agents.update", "service_accounts.update",
                   "teams.create"):
        assert authz.RULES[action] == ("org_admin",)
