"""Reasoning signatures across vendors (core.signatures convention).

A signature is only valid for the vendor that issued it. Wire formats tag what they
parse with their own name and send back only their own; the Anthropic dialect shows
its own signatures raw and other vendors' tagged, so a conversation can move between
vendors without a foreign signature ever reaching one that would reject it.

Conversations here go the way a real one does: an upstream body parsed by the wire
format, rendered to an Anthropic client, read back by the ``anthropic`` SDK's own
types (and, for streams, assembled by its ``MessageStream``), sent again as the
client's next turn, and built for the next upstream.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic._streaming import Stream
from anthropic._types import not_given
from anthropic.lib.streaming._messages import MessageStream
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent

from switchgear.core import signatures
from switchgear.core.signatures import origin, tag, untag
from switchgear.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from switchgear.frontends import anthropic_messages as front
from switchgear.frontends import openai_chat as openai_front
from switchgear.providers.formats import anthropic_messages, bedrock_converse, gemini, openai_chat
from switchgear.providers.formats.base import Target
from switchgear.simulator import eventstream

ANTHROPIC = Target(provider="a", vendor="anthropic", format="anthropic_messages", base_url="https://api.example",
                   model="claude-sonnet-4-5", headers=(("x-api-key", "k"), ("anthropic-version", "2023-06-01")))
GEMINI = Target(provider="g", vendor="gemini", format="gemini", base_url="https://api.example",
                model="gemini-2.5-flash", headers=(("x-goog-api-key", "k"),))
BEDROCK = Target(provider="b", vendor="bedrock", format="bedrock_converse",
                 base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
                 model="anthropic.claude-sonnet-4-5-v1:0", options={"region": "us-east-1"})
OPENAI = Target(provider="o", vendor="openai", format="openai_chat", base_url="https://api.example/v1",
                model="gpt-4o", headers=(("authorization", "Bearer k"),), unsupported_params="drop")
BUILDERS = {"anthropic_messages": (anthropic_messages, ANTHROPIC), "gemini": (gemini, GEMINI),
            "bedrock_converse": (bedrock_converse, BEDROCK), "openai_chat": (openai_chat, OPENAI)}

WEATHER_TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def build(fmt: str, req: ChatRequest) -> tuple[bytes, dict[str, Any]]:
    module, target = BUILDERS[fmt]
    body = module.build_request(req, target).body
    return body, json.loads(body)


def next_turn(history: list[dict[str, Any]], assistant: SDKMessage, result_for: str | None = None) -> ChatRequest:
    """The client's next request, the way SDK users write it: the assistant content
    dumped from the SDK message, then a tool result or a new question."""
    content = [b.model_dump(exclude_none=True) for b in assistant.content]
    user: Any = [{"type": "tool_result", "tool_use_id": result_for, "content": "4 degrees"}] if result_for else "More?"
    raw = front.parse_body(json.dumps({
        "model": "any", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER_TOOL],
        "messages": [*history, {"role": "assistant", "content": content}, {"role": "user", "content": user}],
    }).encode())
    return front.to_canonical(raw)


def client_reads(resp: ChatResponse) -> SDKMessage:
    return SDKMessage.model_validate(json.loads(front.render_response(resp, "client-model")))


def sdk_final_message(sse: bytes) -> SDKMessage:
    """Assemble a streamed message the way ``client.messages.stream(...)`` does."""
    client = anthropic.Anthropic(api_key="sk-test", max_retries=0)
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse,
                               request=httpx2.Request("POST", "https://gateway.test/v1/messages"))
    stream = MessageStream(Stream(cast_to=RawMessageStreamEvent, response=response, client=client), output_format=not_given)
    return stream.get_final_message()


def parse_stream(parser: Any, data: bytes, step: int = 5) -> list[StreamEvent]:
    events = [ev for i in range(0, len(data), step) for ev in parser.feed(data[i:i + step])]
    return events + parser.close()


def render_stream(events: list[StreamEvent]) -> bytes:
    r = front.StreamRenderer("client-model")
    return b"".join(r.render(ev) for ev in events) + r.done()


FIRST_QUESTION = [{"role": "user", "content": "Weather in Oslo?"}]


# ---- the module ----------------------------------------------------------------------------


def test_tag_untag_and_origin() -> None:
    assert tag("gemini", "c2ln") == "gemini:c2ln"
    assert origin("gemini:c2ln") == "gemini"
    assert untag("gemini", "gemini:c2ln") == "c2ln"
    assert untag("anthropic_messages", "gemini:c2ln") is None  # another vendor's: none for us
    assert untag("gemini", "c2ln") is None  # untagged: origin unknown, never sent
    assert untag("gemini", None) is None and untag("gemini", "") is None and untag("gemini", "gemini:") is None
    assert tag("bedrock_converse", "gemini:c2ln") == "gemini:c2ln"  # already tagged: never nested
    assert tag("gemini", tag("gemini", "c2ln")) == "gemini:c2ln"


def test_only_a_known_format_name_is_a_tag() -> None:
    raw = "vendor:opaque:token"  # raw tokens may contain ':'; base64 never does
    assert origin(raw) is None and origin("c2ln") is None and origin(None) is None
    assert tag("gemini", raw) == "gemini:vendor:opaque:token"
    assert untag("gemini", tag("gemini", raw)) == raw
    assert {origin(tag(f, "x")) for f in signatures.FORMATS} == set(signatures.FORMATS)
    with pytest.raises(ValueError):
        tag("anthropic", "x")
    with pytest.raises(ValueError):
        untag("bedrock", "bedrock:x")


# ---- (a) Anthropic-signed thinking from an Anthropic client ----------------------------------

ANTHROPIC_HISTORY = {
    "model": "any", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [WEATHER_TOOL],
    "messages": [
        *FIRST_QUESTION,
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should look it up.", "signature": "RXFRQkNnSVlBaEl="},
            {"type": "thinking", "thinking": "", "signature": "T21pdHRlZA=="},  # display: omitted
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4 degrees"}]},
    ],
}


def test_client_signature_is_tagged_as_anthropic() -> None:
    req = front.to_canonical(front.parse_body(json.dumps(ANTHROPIC_HISTORY).encode()))
    thinking = [p for p in req.messages[1].parts if type(p) is ThinkingPart]
    assert [p.signature for p in thinking] == ["anthropic_messages:RXFRQkNnSVlBaEl=", "anthropic_messages:T21pdHRlZA=="]


def test_anthropic_signed_thinking_goes_to_anthropic_raw() -> None:
    req = front.to_canonical(front.parse_body(json.dumps(ANTHROPIC_HISTORY).encode()))
    _, body = build("anthropic_messages", req)
    assert body["messages"][1]["content"] == ANTHROPIC_HISTORY["messages"][1]["content"]  # unchanged, both blocks


@pytest.mark.parametrize("fmt", ["gemini", "bedrock_converse", "openai_chat"])
def test_anthropic_signed_thinking_never_reaches_another_vendor(fmt: str) -> None:
    req = front.to_canonical(front.parse_body(json.dumps(ANTHROPIC_HISTORY).encode()))
    raw, body = build(fmt, req)
    for secret in (b"RXFRQkNnSVlBaEl=", b"T21pdHRlZA==", b"I should look it up."):
        assert secret not in raw
    if fmt == "gemini":
        model_turn = next(c for c in body["contents"] if c["role"] == "model")
        # No thought parts; the call gets Google's placeholder, not Anthropic's signature.
        assert model_turn["parts"] == [{
            "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "toolu_1"},
            "thoughtSignature": gemini.DUMMY_THOUGHT_SIGNATURE,
        }]
    elif fmt == "bedrock_converse":
        assistant = next(m for m in body["messages"] if m["role"] == "assistant")
        assert assistant["content"] == [{"toolUse": {"toolUseId": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}}]


# ---- (b) a Bedrock signature through an Anthropic client ---------------------------------------

BEDROCK_RESPONSE = {
    "output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Oslo, so the weather tool.", "signature": "QmVkcm9ja1NpZw=="}}},
        {"toolUse": {"toolUseId": "tooluse_X1", "name": "get_weather", "input": {"city": "Oslo"}}},
    ]}},
    "stopReason": "tool_use",
    "usage": {"inputTokens": 20, "outputTokens": 30, "totalTokens": 50},
}


def _bedrock_stream() -> bytes:
    def ev(kind: str, payload: dict[str, Any]) -> bytes:
        return eventstream.event(kind, json.dumps(payload).encode())

    return b"".join([
        ev("messageStart", {"role": "assistant"}),
        ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Oslo, so "}}}),
        ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "the weather tool."}}}),
        ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "QmVkcm9ja1NpZw=="}}}),
        ev("contentBlockStop", {"contentBlockIndex": 0}),
        ev("contentBlockStart", {"contentBlockIndex": 1,
                                 "start": {"toolUse": {"toolUseId": "tooluse_X1", "name": "get_weather"}}}),
        ev("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\": \"Oslo\"}"}}}),
        ev("contentBlockStop", {"contentBlockIndex": 1}),
        ev("messageStop", {"stopReason": "tool_use"}),
        ev("metadata", {"usage": {"inputTokens": 20, "outputTokens": 30, "totalTokens": 50}, "metrics": {"latencyMs": 1}}),
    ])


def _bedrock_answer(streamed: bool) -> SDKMessage:
    if streamed:
        return sdk_final_message(render_stream(parse_stream(bedrock_converse.StreamParser(BEDROCK), _bedrock_stream())))
    return client_reads(bedrock_converse.parse_response(json.dumps(BEDROCK_RESPONSE).encode(), BEDROCK))


@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
def test_bedrock_signature_round_trips_through_an_anthropic_client(streamed: bool) -> None:
    msg = _bedrock_answer(streamed)
    thinking = msg.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "Oslo, so the weather tool."
    assert thinking.signature == "bedrock_converse:QmVkcm9ja1NpZw=="  # opaque to the client, recognisable to us
    req = next_turn(FIRST_QUESTION, msg, result_for="tooluse_X1")
    _, body = build("bedrock_converse", req)
    assistant = next(m for m in body["messages"] if m["role"] == "assistant")
    assert assistant["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "Oslo, so the weather tool.", "signature": "QmVkcm9ja1NpZw=="}}
    }


@pytest.mark.parametrize("fmt", ["anthropic_messages", "gemini", "openai_chat"])
def test_bedrock_signature_is_dropped_when_the_next_turn_goes_elsewhere(fmt: str) -> None:
    req = next_turn(FIRST_QUESTION, _bedrock_answer(False), result_for="tooluse_X1")
    raw, body = build(fmt, req)
    assert b"QmVkcm9ja1NpZw==" not in raw and b"Oslo, so the weather tool." not in raw
    if fmt == "anthropic_messages":
        assistant = next(m for m in body["messages"] if m["role"] == "assistant")
        assert [b["type"] for b in assistant["content"]] == ["tool_use"]


def test_a_body_with_a_tagged_signature_must_not_pass_through_to_anthropic() -> None:
    """Pass-through forwards client bytes unchanged: a tagged (foreign) signature in
    them would reach Anthropic, so the pipeline has to translate such a body."""
    msg = _bedrock_answer(False)
    content = [b.model_dump(exclude_none=True) for b in msg.content]
    foreign = {**ANTHROPIC_HISTORY, "messages": [*FIRST_QUESTION, {"role": "assistant", "content": content},
                                                 ANTHROPIC_HISTORY["messages"][2]]}
    assert front.has_tagged_signature(front.parse_body(json.dumps(foreign).encode()))
    assert not front.has_tagged_signature(front.parse_body(json.dumps(ANTHROPIC_HISTORY).encode()))


# ---- (c) Gemini carrier signatures through an Anthropic client ---------------------------------

GEMINI_RESPONSE = {
    "candidates": [{
        "content": {"role": "model", "parts": [
            {"text": "Oslo weather needed.", "thought": True, "thoughtSignature": "R2VtVGhvdWdodA=="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "R2VtQ2FsbA=="},
        ]},
        "finishReason": "STOP", "index": 0,
    }],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7},
    "modelVersion": "gemini-2.5-flash", "responseId": "resp1",
}


def _gemini_stream() -> bytes:
    cand = GEMINI_RESPONSE["candidates"][0]
    first = {"candidates": [{"content": {"role": "model", "parts": cand["content"]["parts"][:1]}, "index": 0}],
             "responseId": "resp1", "modelVersion": "gemini-2.5-flash"}
    last = {"candidates": [{**cand, "content": {"role": "model", "parts": cand["content"]["parts"][1:]}}],
            "usageMetadata": GEMINI_RESPONSE["usageMetadata"], "responseId": "resp1", "modelVersion": "gemini-2.5-flash"}
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in (first, last))


def _gemini_answer(streamed: bool) -> SDKMessage:
    if streamed:
        return sdk_final_message(render_stream(parse_stream(gemini.StreamParser(GEMINI), _gemini_stream())))
    return client_reads(gemini.parse_response(json.dumps(GEMINI_RESPONSE).encode(), GEMINI))


@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
def test_gemini_carrier_signature_round_trips_to_gemini(streamed: bool) -> None:
    msg = _gemini_answer(streamed)
    assert [(b.type, getattr(b, "thinking", None), getattr(b, "signature", None)) for b in msg.content[:2]] == [
        ("thinking", "Oslo weather needed.", "gemini:R2VtVGhvdWdodA=="),
        ("thinking", "", "gemini:R2VtQ2FsbA=="),  # the carrier of the functionCall's signature
    ]
    call = msg.content[2]
    assert call.type == "tool_use"
    req = next_turn(FIRST_QUESTION, msg, result_for=call.id)
    _, body = build("gemini", req)
    model_turn = next(c for c in body["contents"] if c["role"] == "model")
    assert model_turn["parts"] == [
        {"text": "Oslo weather needed.", "thought": True, "thoughtSignature": "R2VtVGhvdWdodA=="},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "R2VtQ2FsbA=="},
    ]


@pytest.mark.parametrize("fmt", ["anthropic_messages", "bedrock_converse", "openai_chat"])
def test_gemini_signatures_never_reach_anthropic_or_bedrock(fmt: str) -> None:
    msg = _gemini_answer(False)
    call_id = msg.content[2].id  # type: ignore[union-attr]
    raw, body = build(fmt, next_turn(FIRST_QUESTION, msg, result_for=call_id))
    assert b"R2VtVGhvdWdodA==" not in raw and b"R2VtQ2FsbA==" not in raw and b"gemini:" not in raw
    if fmt == "anthropic_messages":
        assistant = next(m for m in body["messages"] if m["role"] == "assistant")
        assert [b["type"] for b in assistant["content"]] == ["tool_use"]
    elif fmt == "bedrock_converse":
        assistant = next(m for m in body["messages"] if m["role"] == "assistant")
        assert [next(iter(b)) for b in assistant["content"]] == ["toolUse"]


# ---- (d) stream parsers tag signatures ----------------------------------------------------------

ANTHROPIC_SSE = b"".join(
    b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"
    for name, data in [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "Hmm."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "QW50aHJvcGlj"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def _signatures(events: list[StreamEvent]) -> list[str | None]:
    return [ev.signature for ev in events if type(ev) is ReasoningDelta and ev.signature]


def test_stream_parsers_tag_reasoning_signatures() -> None:
    assert _signatures(parse_stream(anthropic_messages.StreamParser(ANTHROPIC), ANTHROPIC_SSE)) == [
        "anthropic_messages:QW50aHJvcGlj"
    ]
    assert _signatures(parse_stream(bedrock_converse.StreamParser(BEDROCK), _bedrock_stream())) == [
        "bedrock_converse:QmVkcm9ja1NpZw=="
    ]
    assert _signatures(parse_stream(gemini.StreamParser(GEMINI), _gemini_stream())) == [
        "gemini:R2VtVGhvdWdodA==",
        "gemini:R2VtQ2FsbA==",
    ]


def test_anthropic_stream_signature_reaches_an_anthropic_client_raw_and_goes_back_raw() -> None:
    msg = sdk_final_message(render_stream(parse_stream(anthropic_messages.StreamParser(ANTHROPIC), ANTHROPIC_SSE)))
    assert (msg.content[0].thinking, msg.content[0].signature) == ("Hmm.", "QW50aHJvcGlj")  # type: ignore[union-attr]
    _, body = build("anthropic_messages", next_turn(FIRST_QUESTION, msg))
    assert body["messages"][1]["content"] == [{"type": "thinking", "thinking": "Hmm.", "signature": "QW50aHJvcGlj"}]
    raw, _ = build("bedrock_converse", next_turn(FIRST_QUESTION, msg))
    assert b"QW50aHJvcGlj" not in raw


def test_parse_response_tags_and_an_empty_signature_stays_unsigned() -> None:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
            "content": [{"type": "thinking", "thinking": "a", "signature": "QQ=="},
                        {"type": "thinking", "thinking": "b", "signature": ""}],
            "usage": {"input_tokens": 1, "output_tokens": 1}}
    parts = anthropic_messages.parse_response(json.dumps(body).encode(), ANTHROPIC).choices[0].message.parts
    assert [p.signature for p in parts if type(p) is ThinkingPart] == ["anthropic_messages:QQ==", None]


# ---- OpenAI clients never see signatures -------------------------------------------------------


def test_openai_clients_get_reasoning_text_but_no_signature() -> None:
    parts = [ThinkingPart("Deep thought.", tag("bedrock_converse", "QmVkcm9ja1NpZw==")),
             ThinkingPart("", tag("gemini", "R2VtQ2FsbA==")), TextPart("42"),
             ToolCallPart("call_1", "get_weather", '{"city": "Oslo"}')]
    resp = ChatResponse(id="x", model="m", choices=[Choice(0, Message("assistant", parts), "tool_calls")])
    out = openai_front.render_response(resp, "m")
    assert json.loads(out)["choices"][0]["message"]["reasoning_content"] == "Deep thought."
    assert b"QmVkcm9ja1NpZw==" not in out and b"R2VtQ2FsbA==" not in out
    r = openai_front.StreamRenderer("m", False)
    assert r.render(ReasoningDelta(signature=tag("gemini", "R2VtQ2FsbA=="))) == b""

