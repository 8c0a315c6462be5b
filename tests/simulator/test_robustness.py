"""A faithful fake must refuse bad requests the vendor's way, never crash: any
mutation of a valid body gets an answer or a vendor-shaped refusal (Reject)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchgear.simulator.anthropic import AnthropicWire
from switchgear.simulator.bedrock import BedrockWire
from switchgear.simulator.cache import PromptCache
from switchgear.simulator.config import SimulatorConfig
from switchgear.simulator.gemini import GeminiWire
from switchgear.simulator.openai import OpenAIWire
from switchgear.simulator.text import Ids
from switchgear.simulator.wire import Answer, Env, Reject, Route, Stream

ENV = Env(lambda: SimulatorConfig(), Ids(0), PromptCache())
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CASES: list[tuple[Any, Route, dict[str, Any]]] = [
    (OpenAIWire(ENV, azure=False), Route("openai", "chat"), {
        "model": "gpt-4o", "stream": True, "n": 2, "logprobs": True, "stop": ["x"],
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                     {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "c1", "content": "r"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": SCHEMA}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}}}),
    (OpenAIWire(ENV, azure=False), Route("openai", "embeddings"), {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}),
    (AnthropicWire(ENV), Route("anthropic", "messages"), {
        "model": "c", "max_tokens": 3000, "stream": True, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": [{"name": "f", "input_schema": SCHEMA}],
        "tool_choice": {"type": "auto"}, "stop_sequences": ["x"],
        "messages": [{"role": "user", "content": "hi"},
                     {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "r"}]}]}]}),
    (GeminiWire(ENV), Route("gemini", "stream", {"model": "gemini-2.5-flash"}, {"alt": "sse"}), {
        "systemInstruction": {"parts": [{"text": "s"}]},
        "generationConfig": {"maxOutputTokens": 50, "candidateCount": 2, "stopSequences": ["x"], "thinkingConfig": {"includeThoughts": True},
                             "responseMimeType": "application/json", "responseSchema": SCHEMA},
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": SCHEMA}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "contents": [{"role": "user", "parts": [{"text": "hi"}]},
                     {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                     {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": 1}}}]}]}),
    (GeminiWire(ENV), Route("gemini", "batch_embed", {"model": "gemini-embedding-001"}), {
        "requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4}]}),
    (BedrockWire(ENV), Route("bedrock", "converse_stream", {"model": "m"}), {
        "system": [{"text": "s"}, {"cachePoint": {"type": "default"}}],
        "inferenceConfig": {"maxTokens": 3000, "stopSequences": ["x"]},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": SCHEMA}}}], "toolChoice": {"auto": {}}},
        "messages": [{"role": "user", "content": [{"text": "hi"}]},
                     {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
                     {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"r": 1}}]}}]}]}),
]  # fmt: skip

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3000) | st.floats(allow_nan=False, width=32) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(body: Any, path: tuple, new: Any, delete: bool) -> Any:
    if not path:
        return new
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return body


def test_the_valid_bodies_are_accepted():
    for wire, route, body in CASES:
        assert isinstance(wire.handle(route, body), (Answer, Stream)), route


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_bodies_are_answered_or_refused_never_crash(data):
    wire, route, body = data.draw(st.sampled_from(CASES))
    path = data.draw(st.sampled_from(_paths(body)))
    mutated = _mutate(body, path, data.draw(JSON), delete=bool(path) and data.draw(st.booleans()))
    try:
        result = wire.handle(route, mutated)
    except Reject as rej:
        answer = wire.render(rej)
        assert 400 <= answer.status < 500
        return
    assert isinstance(result, (Answer, Stream))
