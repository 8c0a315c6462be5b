"""The official `anthropic` SDK against a running gateway, over every wire format."""

from __future__ import annotations

import json

import anthropic
import pytest

from tests.e2e.harness import CHAT_MODELS, SimThread

TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TOOL2 = {
    "name": "get_time",
    "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_message_every_format(claude: anthropic.Anthropic, model: str) -> None:
    msg = claude.messages.create(
        model=model, max_tokens=400, system="You are terse.",
        messages=[{"role": "user", "content": "Say hello to the gateway"}],
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.stop_reason == "end_turn"
    assert "hello" in msg.content[0].text.lower()  # type: ignore[union-attr]
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_stream_every_format(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=400, messages=[{"role": "user", "content": "stream to me"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "stream to me" in text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_exact_event_sequence_from_an_openai_upstream(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="gpt", max_tokens=200, messages=[{"role": "user", "content": "hi"}]) as stream:
        kinds = [e.type for e in stream if e.type in {
            "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
            "message_stop"}]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_tool_use_round_trip_every_format(claude: anthropic.Anthropic, model: str) -> None:
    msg = claude.messages.create(
        model=model, max_tokens=500, tools=[TOOL, TOOL2],
        messages=[{"role": "user", "content": "weather and time in Oslo"}],
    )
    assert msg.stop_reason == "tool_use"
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert {u.name for u in uses} == {"get_weather", "get_time"}
    assert all(u.id and isinstance(u.input, dict) for u in uses)
    follow = claude.messages.create(
        model=model, max_tokens=500, tools=[TOOL, TOOL2],
        messages=[
            {"role": "user", "content": "weather and time in Oslo"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": u.id, "content": f"result-of-{u.name}"} for u in uses]},
        ],
    )
    assert follow.stop_reason == "end_turn"
    assert "result-of-get_" in follow.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("model", ["gpt", "claude", "gemini", "bedrock"])
def test_streamed_tool_use_every_format(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=500, tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "weather"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    use = next(b for b in final.content if b.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input, dict) and use.input.get("city")


@pytest.mark.parametrize("model", ["claude", "bedrock", "gemini"])
def test_thinking_blocks(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think first"}],
    ) as stream:
        final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking", kinds
    assert final.content[0].thinking  # type: ignore[union-attr]
    assert "text" in kinds


def test_thinking_signature_passes_through_unchanged(claude: anthropic.Anthropic, sim: SimThread) -> None:
    first = claude.messages.create(
        model="claude", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
    )
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature
    claude.messages.create(
        model="claude", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"},
                  {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                  {"role": "user", "content": "again"}],
    )
    sent = sim.requests()[-1]["body"]
    assert sent["messages"][1]["content"][0]["signature"] == thinking.signature


def test_passthrough_rewrites_only_the_model(claude: anthropic.Anthropic, sim: SimThread) -> None:
    claude.messages.create(
        model="claude", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
        metadata={"user_id": "u-1"}, extra_body={"service_tier": "standard_only"},
    )
    sent = sim.requests()[-1]
    assert sent["body"]["model"] == "claude-sonnet-4-5"
    assert sent["body"]["service_tier"] == "standard_only"  # no canonical home; survives
    assert sent["body"]["metadata"] == {"user_id": "u-1"}
    assert sent["headers"]["x-api-key"] == "sk-e2e-upstream-key"
    assert sent["headers"]["anthropic-version"]


def test_stop_sequence_reason(claude: anthropic.Anthropic) -> None:
    for model in ("claude", "gpt", "gemini", "bedrock"):
        msg = claude.messages.create(
            model=model, max_tokens=400, stop_sequences=["gateway"],
            messages=[{"role": "user", "content": "hello gateway friend"}],
        )
        assert msg.stop_reason in ("stop_sequence", "end_turn"), model
        assert "gateway" not in msg.content[0].text  # type: ignore[union-attr]
        if model in ("claude", "bedrock"):  # these upstreams report which sequence matched
            assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "gateway"


def test_max_tokens_stop_reason(claude: anthropic.Anthropic) -> None:
    for model in ("claude", "gpt", "bedrock"):
        msg = claude.messages.create(model=model, max_tokens=3, messages=[{"role": "user", "content": "a long one"}])
        assert msg.stop_reason == "max_tokens", model


def test_models_list_in_anthropic_shape(claude: anthropic.Anthropic) -> None:
    ids = [m.id for m in claude.models.list()]
    assert "claude" in ids and "gpt" in ids


def test_foreign_signature_never_reaches_anthropic(claude: anthropic.Anthropic, sim: SimThread) -> None:
    """Thinking that Bedrock signed, shown to an Anthropic client, is dropped (not passed
    through) when the next turn goes to Anthropic itself, which would reject it."""
    first = claude.messages.create(
        model="bedrock", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think"}],
    )
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature.startswith("bedrock_converse:")
    history = [{"role": "user", "content": "think"},
               {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": "again"}]
    reply = claude.messages.create(model="claude", max_tokens=4000,
                                   thinking={"type": "enabled", "budget_tokens": 1024}, messages=history)
    assert reply.content
    sent = sim.requests()[-1]["body"]
    content = sent["messages"][1]["content"]
    assert isinstance(content, str) or all(b.get("type") != "thinking" for b in content)
    assert "bedrock_converse:" not in json.dumps(sent)
    # …while Bedrock gets its own signature back, raw.
    claude.messages.create(model="bedrock", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024},
                           messages=history)
    sent = sim.requests()[-1]["body"]
    reasoning = sent["messages"][1]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning["signature"] == thinking.signature.removeprefix("bedrock_converse:")
