"""Anthropic Messages over real HTTP, through the official ``anthropic`` SDK
(which parses the stream events strictly), plus raw checks of framing and errors."""

from __future__ import annotations

import json

import anthropic
import pytest

from switchgear.simulator import text

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
HEADERS = {"anthropic-version": "2023-06-01"}


@pytest.fixture
async def client(sim):
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as c:
        yield c


def _events(raw: str) -> list[tuple[str, dict]]:
    out = []
    for block in raw.split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[6:])
        assert data["type"] == event_line[7:]
        out.append((event_line[7:], data))
    return out


async def test_text_message_and_usage(client):
    msg = await client.messages.create(model="claude-test", max_tokens=100, messages=USER)
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.content[0].type == "text"
    assert msg.content[0].text.startswith("Simulated reply from claude-test: What is the weather")
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens == text.count_tokens(USER[0]["content"])
    assert msg.usage.output_tokens == text.count_tokens(msg.content[0].text)


async def test_max_tokens_and_stop_sequence(client):
    msg = await client.messages.create(model="claude", max_tokens=2, messages=USER)
    assert (msg.content[0].text, msg.stop_reason) == ("Simulated reply", "max_tokens")
    msg = await client.messages.create(model="claude", max_tokens=100, messages=USER, stop_sequences=["Paris"])
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "Paris"
    assert not msg.content[0].text.endswith("Paris")


async def test_sdk_stream_accumulates_to_the_same_message(client):
    full = await client.messages.create(model="claude", max_tokens=100, messages=USER)
    async with client.messages.stream(model="claude", max_tokens=100, messages=USER) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_message()
    assert final.content[0].text == full.content[0].text
    assert final.usage.output_tokens == full.usage.output_tokens
    assert final.usage.input_tokens == full.usage.input_tokens
    assert final.stop_reason == "end_turn"


async def test_stream_event_order_and_framing(http):
    resp = await http.post("/v1/messages", headers=HEADERS,
                           json={"model": "claude", "max_tokens": 5, "stream": True, "messages": USER})  # fmt: skip
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = _events(resp.text)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["output_tokens"] == 1
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert "".join(deltas) == "Simulated reply from claude:"
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 5


async def test_parallel_tool_use_and_result_turn(client):
    msg = await client.messages.create(model="claude", max_tokens=200, messages=USER, tools=[WEATHER, TIME])
    assert msg.stop_reason == "tool_use"
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"]
    assert uses[0].input == {"city": "sim"} and uses[0].id.startswith("toolu_")
    single = await client.messages.create(model="claude", max_tokens=200, messages=USER, tools=[WEATHER, TIME],
                                          tool_choice={"type": "auto", "disable_parallel_tool_use": True})  # fmt: skip
    assert len([b for b in single.content if b.type == "tool_use"]) == 1
    results = [{"type": "tool_result", "tool_use_id": u.id, "content": f"result {i}"} for i, u in enumerate(uses)]
    turn = [*USER, {"role": "assistant", "content": [b.model_dump() for b in msg.content]}, {"role": "user", "content": results}]
    answer = await client.messages.create(model="claude", max_tokens=200, messages=turn, tools=[WEATHER, TIME])
    assert answer.stop_reason == "end_turn"
    assert "the tool returned result 0 result 1" in answer.content[0].text


async def test_streamed_tool_use_input_json_deltas(client, http):
    resp = await http.post("/v1/messages", headers=HEADERS, json={
        "model": "claude", "max_tokens": 100, "stream": True, "messages": USER, "tools": [WEATHER]})  # fmt: skip
    events = _events(resp.text)
    start = next(d for n, d in events if n == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["input"] == {}
    parts = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert parts[0] == "" and json.loads("".join(parts)) == {"city": "sim"}
    async with client.messages.stream(model="claude", max_tokens=100, messages=USER, tools=[WEATHER]) as stream:
        final = await stream.get_final_message()
    assert final.content[0].input == {"city": "sim"}


async def test_tool_pairing_is_enforced(client):
    orphan = [*USER, {"role": "assistant", "content": "ok"},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}]}]  # fmt: skip
    with pytest.raises(anthropic.BadRequestError) as e:
        await client.messages.create(model="claude", max_tokens=10, messages=orphan)
    assert "unexpected `tool_use_id`" in e.value.message
    unanswered = [*USER, {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}, *USER]
    with pytest.raises(anthropic.BadRequestError) as e:
        await client.messages.create(model="claude", max_tokens=10, messages=unanswered)
    assert "toolu_1" in e.value.message


async def test_thinking_blocks_signatures_round_trip(client, http):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    msg = await client.messages.create(model="claude", max_tokens=2000, thinking=thinking, messages=USER)
    block, answer = msg.content
    assert block.type == "thinking" and block.signature and block.thinking.startswith("Thinking about the request:")
    assert msg.usage.output_tokens == text.count_tokens(block.thinking) + text.count_tokens(answer.text)
    history = [*USER, {"role": "assistant", "content": [b.model_dump() for b in msg.content]}, {"role": "user", "content": "More?"}]
    again = await client.messages.create(model="claude", max_tokens=2000, thinking=thinking, messages=history)
    assert again.content[0].type == "thinking"
    history[1]["content"][0]["thinking"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError) as e:
        await client.messages.create(model="claude", max_tokens=2000, thinking=thinking, messages=history)
    assert "Invalid `signature` in `thinking` block" in e.value.message
    resp = await http.post("/v1/messages", headers=HEADERS, json={
        "model": "claude", "max_tokens": 2000, "stream": True, "thinking": thinking, "messages": USER})  # fmt: skip
    events = _events(resp.text)
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    kinds = [d["delta"]["type"] for n, d in events if n == "content_block_delta" and d["index"] == 0]
    assert kinds[-1] == "signature_delta" and set(kinds[:-1]) == {"thinking_delta"}
    async with client.messages.stream(model="claude", max_tokens=2000, thinking=thinking, messages=USER) as stream:
        final = await stream.get_final_message()
    assert final.content[0].signature == block.signature


async def test_thinking_validation(client):
    with pytest.raises(anthropic.BadRequestError) as e:
        await client.messages.create(model="claude", max_tokens=500, thinking={"type": "enabled", "budget_tokens": 1024}, messages=USER)
    assert "greater than `thinking.budget_tokens`" in e.value.message
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(model="claude", max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 100}, messages=USER)


async def test_prompt_caching_writes_then_reads(client):
    system = [{"type": "text", "text": "You are terse. " * 50, "cache_control": {"type": "ephemeral"}}]
    first = await client.messages.create(model="claude", max_tokens=20, system=system, messages=USER)
    second = await client.messages.create(model="claude", max_tokens=20, system=system, messages=USER)
    prefix = text.count_tokens(system[0]["text"])
    user_tokens = text.count_tokens(USER[0]["content"])
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (prefix, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, prefix)
    assert first.usage.input_tokens == second.usage.input_tokens == user_tokens


async def test_errors_are_typed_and_anthropic_shaped(client, sim, http):
    sim.add_faults([{"kind": "status", "status": 429, "retry_after": 4}, {"kind": "status", "status": 529},
                    {"kind": "status", "status": 500}, {"kind": "context_length"}])  # fmt: skip
    with pytest.raises(anthropic.RateLimitError) as e:
        await client.messages.create(model="claude", max_tokens=10, messages=USER)
    assert e.value.response.headers["retry-after"] == "4"
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.OverloadedError) as e:
        await client.messages.create(model="claude", max_tokens=10, messages=USER)
    assert e.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(anthropic.InternalServerError) as e:
        await client.messages.create(model="claude", max_tokens=10, messages=USER)
    assert e.value.body["error"]["type"] == "api_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        await client.messages.create(model="claude", max_tokens=10, messages=USER)
    assert "prompt is too long" in e.value.message
    with pytest.raises(anthropic.NotFoundError) as e:
        await client.messages.create(model="sim-not-found", max_tokens=10, messages=USER)
    assert e.value.body["error"]["type"] == "not_found_error"


async def test_request_validation(http):
    cases = [
        ({"model": "c", "messages": USER}, "max_tokens: Field required"),
        ({"model": "c", "max_tokens": 5, "messages": []}, "at least one message"),
        ({"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, 'Unexpected role "system"'),
        ({"model": "c", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}, "messages.0.role"),
        ({"model": "c", "max_tokens": 5, "messages": USER, "n": 2}, "n: Extra inputs are not permitted"),
    ]
    for body, needle in cases:
        resp = await http.post("/v1/messages", headers=HEADERS, json=body)
        assert resp.status_code == 400
        payload = resp.json()
        assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
        assert needle in payload["error"]["message"]
        assert resp.headers["request-id"] == payload["request_id"]
    no_version = await http.post("/v1/messages", json={"model": "c", "max_tokens": 5, "messages": USER})
    assert no_version.status_code == 400 and "anthropic-version" in no_version.json()["error"]["message"]
    garbage = await http.post("/v1/messages", headers=HEADERS, content=b"{")
    assert garbage.status_code == 400 and garbage.json()["error"]["type"] == "invalid_request_error"


async def test_api_key_header(sim):
    sim.configure(api_key="sk-ant-right")
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-wrong", max_retries=0) as wrong:
        with pytest.raises(anthropic.AuthenticationError) as e:
            await wrong.messages.create(model="claude", max_tokens=5, messages=USER)
        assert e.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-right", max_retries=0) as right:
        assert (await right.messages.create(model="claude", max_tokens=5, messages=USER)).content


async def test_count_tokens_and_models(client):
    count = await client.messages.count_tokens(model="claude", messages=USER)
    assert count.input_tokens == text.count_tokens(USER[0]["content"])
    page = await client.models.list()
    assert "sim-model" in [m.id for m in page.data]


async def test_refusal_for_content_filter_model(client):
    msg = await client.messages.create(model="sim-content-filter", max_tokens=10, messages=USER)
    assert msg.stop_reason == "refusal" and msg.content == []
