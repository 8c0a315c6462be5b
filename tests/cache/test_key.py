"""Cache key derivation: what makes two requests "the same", and whose they are."""

from __future__ import annotations

import re

import pytest

from switchgear.cache.key import (
    EXCLUDED,
    STREAM,
    STREAM_USAGE,
    UNARY,
    cache_key,
    scope_for,
    shape_for,
)
from switchgear.identity.principal import Principal

ALICE = Principal(id="u_alice", kind="user", name="alice", key_id="sk-a", org_id="org_1")
BOB = Principal(id="u_bob", kind="user", name="bob", key_id="sk-b", org_id="org_1")
EVE = Principal(id="u_eve", kind="user", name="eve", key_id="sk-e", org_id="org_2")
CONFIG_KEY = Principal(id="cfg_ops", kind="config", name="ops", key_id="ops")  # no org
AGENT = Principal(id="a_bot", kind="agent", name="bot", key_id="sk-bot", org_id="org_1")


def body(**extra):
    raw = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7}
    raw.update(extra)
    return raw


def key(raw, *, endpoint="chat", shape=UNARY, model="gpt", scope="all"):
    return cache_key(endpoint, shape, model, scope, raw)


def test_key_is_a_sha256_hex_digest() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", key(body()))


@pytest.mark.parametrize("field", sorted(EXCLUDED))
def test_excluded_fields_do_not_change_the_key(field: str) -> None:
    values = {"stream": True, "stream_options": {"include_usage": True}, "user": "end-user-7",
              "metadata": {"user_id": "u7"}}
    assert key(body(**{field: values[field]})) == key(body())


def test_answer_changing_fields_change_the_key() -> None:
    base = key(body())
    for change in ({"temperature": 0.0}, {"max_tokens": 5}, {"seed": 1}, {"n": 2}, {"tools": []},
                   {"messages": [{"role": "user", "content": "hello"}]}, {"some_new_vendor_field": 1}):
        assert key(body(**change)) != base, change


def test_top_level_null_equals_absent() -> None:
    assert key(body(top_p=None, user=None)) == key(body())


def test_key_order_does_not_matter_at_any_depth() -> None:
    a = {"model": "gpt", "temperature": 0.7,
         "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
         "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"b": 1, "a": 2}}}}
    b = {"response_format": {"json_schema": {"schema": {"a": 2, "b": 1}, "name": "x"}, "type": "json_schema"},
         "messages": [{"content": [{"text": "hi", "type": "text"}], "role": "user"}],
         "temperature": 0.7, "model": "gpt"}
    assert key(a) == key(b)


def test_list_order_does_matter() -> None:
    two = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert key(body(messages=two)) != key(body(messages=two[::-1]))


def test_key_does_not_mutate_the_clients_body() -> None:
    raw = body(stream=True, user="u")
    before = dict(raw)
    key(raw)
    assert raw == before


def test_dialect_shape_and_model_are_part_of_the_key() -> None:
    raw = body()
    base = key(raw)
    assert key(raw, endpoint="messages") != base
    assert key(raw, model="gpt-mini") != base
    keys = {key(raw, shape=s) for s in (UNARY, STREAM, STREAM_USAGE)}
    assert len(keys) == 3


def test_shape_for() -> None:
    assert shape_for(False, False) == shape_for(False, True) == UNARY
    assert shape_for(True, False) == STREAM
    assert shape_for(True, True) == STREAM_USAGE


# ---- scope ------------------------------------------------------------------------------


def test_caller_scope_separates_principals_even_in_one_org() -> None:
    assert scope_for(ALICE, "caller") != scope_for(BOB, "caller")
    assert scope_for(ALICE, "caller") == scope_for(ALICE, "caller")


def test_agent_acting_for_different_users_gets_different_scopes() -> None:
    scopes = {scope_for(AGENT, "caller"), scope_for(AGENT.acting(ALICE), "caller"),
              scope_for(AGENT.acting(BOB), "caller")}
    assert len(scopes) == 3


def test_org_scope_shares_within_an_org_never_across() -> None:
    assert scope_for(ALICE, "org") == scope_for(BOB, "org") == scope_for(AGENT.acting(BOB), "org")
    assert scope_for(ALICE, "org") != scope_for(EVE, "org")


def test_org_scope_without_an_org_falls_back_to_the_caller() -> None:
    other = Principal(id="cfg_dev", kind="config", name="dev", key_id="dev")
    assert scope_for(CONFIG_KEY, "org") == scope_for(CONFIG_KEY, "caller")
    assert scope_for(CONFIG_KEY, "org") != scope_for(other, "org")


def test_all_scope_is_shared_by_everyone() -> None:
    assert scope_for(ALICE, "all") == scope_for(EVE, "all") == scope_for(None, "all")


def test_no_principal_means_no_cache_unless_shared_by_all() -> None:
    assert scope_for(None, "caller") is None
    assert scope_for(None, "org") is None


def test_scope_ids_cannot_forge_each_other() -> None:
    # Joined naively as f"{org}:{id}:{user}" both would be "o:a:b:"; the JSON-array scope differs.
    lone = Principal(id="a:b", kind="user", name="x", key_id="k", org_id="o")
    agent = Principal(id="a", kind="agent", name="y", key_id="k", org_id="o")
    user = Principal(id="b:", kind="user", name="z", key_id="k", org_id="o")
    assert scope_for(lone, "caller") != scope_for(agent.acting(user), "caller")


def test_scopes_change_the_key() -> None:
    raw = body()
    keys = {key(raw, scope=s) for s in (scope_for(ALICE, "caller"), scope_for(BOB, "caller"),
                                        scope_for(ALICE, "org"), scope_for(EVE, "org"), "all")}
    assert len(keys) == 5
