"""OpenAI and Azure OpenAI over real HTTP, through the official ``openai`` SDK,
with every response and chunk validated against OpenAI's OpenAPI schemas."""

from __future__ import annotations

import json

import openai
import pytest

from switchgear.simulator import text
from tests.openapi_schema import assert_chat_chunk, assert_chat_completion, assert_embeddings, assert_error, assert_valid

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture
async def client(sim):
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0) as c:
        yield c


async def _raw(client, **params):
    resp = await client.chat.completions.with_raw_response.create(**params)
    body = json.loads(resp.http_response.content)
    assert_chat_completion(body)
    return body


async def _chunks(http, **params):
    resp = await http.post("/v1/chat/completions", json={"stream": True, **params})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    raw = resp.text
    assert raw.endswith("data: [DONE]\n\n")
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    for chunk in chunks:
        assert_chat_chunk(chunk)
    return chunks


async def test_text_reply_and_usage(client, sim):
    body = await _raw(client, model="gpt-4o", messages=USER)
    choice = body["choices"][0]
    reply = choice["message"]["content"]
    assert reply.startswith("Simulated reply from gpt-4o: What is the weather in Paris?")
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["prompt_tokens"] == text.count_tokens(USER[0]["content"])
    assert usage["completion_tokens"] == text.count_tokens(reply) == text.count_tokens("Simulated reply from gpt-4o:") + 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"


async def test_max_tokens_gives_finish_length_and_stop_gives_stop(client):
    body = await _raw(client, model="gpt-4o", messages=USER, max_completion_tokens=3)
    assert body["choices"][0]["message"]["content"] == "Simulated reply from"
    assert body["choices"][0]["finish_reason"] == "length"
    body = await _raw(client, model="gpt-4o", messages=USER, stop=["weather"])
    assert body["choices"][0]["message"]["content"] == "Simulated reply from gpt-4o: What is the "
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_sdk_stream_accumulates_the_same_text(client):
    full = await client.chat.completions.create(model="gpt-4o", messages=USER)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    parts, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(parts) == full.choices[0].message.content
    assert finish == "stop"
    assert usage.completion_tokens == full.usage.completion_tokens


async def test_stream_framing_role_first_finish_then_usage_chunk(http):
    chunks = await _chunks(http, model="gpt-4o", messages=USER, max_tokens=4, stream_options={"include_usage": True})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert contents == ["Simulated", " reply", " from", " gpt"]
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert all(c["usage"] is None for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1


async def test_stream_without_include_usage_has_no_usage(http):
    chunks = await _chunks(http, model="gpt-4o", messages=USER, stream_options={"include_obfuscation": False})
    assert all("usage" not in c and "obfuscation" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_parallel_tool_calls_with_schema_valid_arguments(client):
    body = await _raw(client, model="gpt-4o", messages=USER, tools=[WEATHER, TIME])
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "sim", "unit": "celsius"}
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    single = await _raw(client, model="gpt-4o", messages=USER, tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert len(single["choices"][0]["message"]["tool_calls"]) == 1
    forced = await _raw(client, model="gpt-4o", messages=USER, tools=[WEATHER, TIME],
                        tool_choice={"type": "function", "function": {"name": "get_time"}})  # fmt: skip
    assert [c["function"]["name"] for c in forced["choices"][0]["message"]["tool_calls"]] == ["get_time"]
    none = await _raw(client, model="gpt-4o", messages=USER, tools=[WEATHER], tool_choice="none")
    assert none["choices"][0]["finish_reason"] == "stop"


async def test_streamed_tool_calls_id_name_chunk_then_argument_fragments(http):
    chunks = await _chunks(http, model="gpt-4o", messages=USER, tools=[WEATHER])
    deltas = [c["choices"][0]["delta"].get("tool_calls") for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    head = deltas[0][0]
    assert head["id"].startswith("call_") and head["function"] == {"name": "get_weather", "arguments": ""}
    assert all("id" not in d[0] and "name" not in d[0]["function"] for d in deltas[1:])
    assert len(deltas) > 2
    assert json.loads("".join(d[0]["function"]["arguments"] for d in deltas[1:])) == {"city": "sim", "unit": "celsius"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_after_a_tool_result_the_answer_mentions_it(client):
    first = await client.chat.completions.create(model="gpt-4o", messages=USER, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *USER,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    second = await client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert "the tool returned 18 degrees and sunny" in second.choices[0].message.content


async def test_unanswered_tool_call_and_orphan_tool_message_are_refused(client):
    assistant = {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="gpt-4o", messages=[*USER, assistant, *USER])
    assert "call_1" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="gpt-4o", messages=[*USER, {"role": "tool", "tool_call_id": "x", "content": "1"}])
    assert e.value.body["param"] == "messages.[1].role"


async def test_n_choices_logprobs_and_interleaved_stream(client, http):
    body = await _raw(client, model="gpt-4o", messages=USER, n=2, logprobs=True, top_logprobs=2, max_tokens=3)
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["choices"][1]["message"]["content"] == "Simulated reply 2"
    lp = body["choices"][0]["logprobs"]["content"]
    assert [t["token"] for t in lp] == ["Simulated", " reply", " from"]
    assert all(len(t["top_logprobs"]) == 2 and t["top_logprobs"][0]["token"] == t["token"] for t in lp)
    assert body["usage"]["completion_tokens"] == 6
    chunks = await _chunks(http, model="gpt-4o", messages=USER, n=2, max_tokens=2, logprobs=True)
    assert [c["choices"][0]["index"] for c in chunks[:4]] == [0, 1, 0, 1]
    assert chunks[2]["choices"][0]["logprobs"]["content"][0]["token"] == "Simulated"


async def test_json_modes(client):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
              "required": ["name", "age"], "additionalProperties": False}  # fmt: skip
    body = await _raw(client, model="gpt-4o", messages=USER,
                      response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema, "strict": True}})  # fmt: skip
    assert json.loads(body["choices"][0]["message"]["content"]) == {"name": "sim", "age": 18}
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="gpt-4o", messages=USER, response_format={"type": "json_object"})
    assert "must contain the word 'json'" in e.value.message
    ok = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Answer in JSON"}], response_format={"type": "json_object"}
    )
    assert json.loads(ok.choices[0].message.content)["reply"].startswith("Simulated reply")


async def test_reasoning_tokens_only_and_model_rules(client):
    body = await _raw(client, model="o3-mini", messages=USER, reasoning_effort="low", max_completion_tokens=100)
    usage = body["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 16
    content = body["choices"][0]["message"]["content"]
    assert usage["completion_tokens"] == 16 + text.count_tokens(content)
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="o3-mini", messages=USER, max_tokens=10)
    assert e.value.code == "unsupported_parameter" and e.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="gpt-4o", messages=USER, reasoning_effort="high")
    assert e.value.param == "reasoning_effort"
    starved = await client.chat.completions.create(model="o3-mini", messages=USER, reasoning_effort="high", max_completion_tokens=50)
    assert starved.choices[0].finish_reason == "length" and starved.choices[0].message.content == ""


async def test_automatic_prompt_caching_reports_cached_tokens(client, sim):
    sim.configure(cache_min_tokens=256)
    system = {"role": "system", "content": "rules " * 400}
    first = await client.chat.completions.create(model="gpt-4o", messages=[system, *USER])
    follow_up = [system, {"role": "user", "content": "And in Rome?"}]
    second = await client.chat.completions.create(model="gpt-4o", messages=follow_up)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    # The shared 400-token system prefix is read from the cache, in 128-token steps.
    assert second.usage.prompt_tokens_details.cached_tokens == 384
    short = await client.chat.completions.create(model="gpt-4o", messages=USER)
    again = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert short.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens_details.cached_tokens == 0


async def test_validation_errors_are_openai_shaped(http):
    cases = [
        (b"{not json", None, "could not parse the JSON body"),
        (None, {"model": "gpt-4o", "messages": []}, "empty array"),
        (None, {"model": "gpt-4o", "messages": [{"role": "bot", "content": "x"}]}, "Invalid value: 'bot'"),
        (None, {"model": "gpt-4o", "messages": USER, "frobnicate": 1}, "Unrecognized request argument supplied: frobnicate"),
        (None, {"messages": USER}, "you must provide a model parameter"),
        (None, {"model": "gpt-4o", "messages": USER, "temperature": 3}, "decimal above maximum value"),
        (None, {"model": "gpt-4o", "messages": USER, "stream_options": {"include_usage": True}}, "only allowed when 'stream' is enabled"),
    ]
    for raw, body, needle in cases:
        resp = await http.post("/v1/chat/completions", content=raw) if raw else await http.post("/v1/chat/completions", json=body)
        assert resp.status_code == 400, needle
        payload = resp.json()
        assert_error(payload)
        assert needle in payload["error"]["message"]
        assert payload["error"]["type"] == "invalid_request_error"


async def test_context_window(client, sim):
    sim.configure(context_window=50)
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 60}])
    assert e.value.code == "context_length_exceeded"


async def test_api_key_is_checked(sim):
    sim.configure(api_key="sk-right")
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-wrong-key-123", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as e:
            await wrong.chat.completions.create(model="gpt-4o", messages=USER)
        assert e.value.code == "invalid_api_key"
        assert "sk-wrong-key-123" not in e.value.message
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-right", max_retries=0) as right:
        assert (await right.chat.completions.create(model="gpt-4o", messages=USER)).choices


async def test_rate_limit_error_with_retry_after(client, sim):
    sim.add_faults([{"kind": "status", "status": 429, "retry_after": 7}])
    with pytest.raises(openai.RateLimitError) as e:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert e.value.response.headers["retry-after"] == "7"
    assert e.value.code == "rate_limit_exceeded"
    assert_error(e.value.response.json())
    for status, exc in ((500, openai.InternalServerError), (503, openai.InternalServerError), (401, openai.AuthenticationError)):
        sim.add_faults([{"kind": "status", "status": status}])
        with pytest.raises(exc):
            await client.chat.completions.create(model="gpt-4o", messages=USER)
    with pytest.raises(openai.NotFoundError) as e:
        await client.chat.completions.create(model="sim-not-found", messages=USER)
    assert e.value.code == "model_not_found"


async def test_embeddings_and_models(client, http):
    resp = await http.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a cat", "a dog"],
                                                    "dimensions": 8, "encoding_format": "float"})  # fmt: skip
    body = resp.json()
    assert_embeddings(body)
    assert [len(d["embedding"]) for d in body["data"]] == [8, 8]
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    # The SDK asks for base64 and decodes it: the same float32 values.
    b64 = await client.embeddings.create(model="text-embedding-3-small", input="a cat", dimensions=8)
    assert b64.data[0].embedding == body["data"][0]["embedding"]
    default = await client.embeddings.create(model="text-embedding-3-large", input="a cat")
    assert len(default.data[0].embedding) == 3072
    models = await client.models.with_raw_response.list()
    assert_valid(json.loads(models.http_response.content), "ListModelsResponse")


async def test_azure_deployment_paths_auth_and_quirks(sim, http):
    sim.configure(api_key="azure-key")
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=sim.url, api_key="azure-key", api_version="2024-10-21", azure_deployment="my-gpt", max_retries=0
    ) as az:
        reply = await az.chat.completions.create(model="gpt-4o", messages=USER)
        assert reply.choices[0].message.content.startswith("Simulated reply from gpt-4o")
        stream = await az.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        text_parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(text_parts) == reply.choices[0].message.content
    seen = sim.requests[-1]
    assert seen["path"] == "/openai/deployments/my-gpt/chat/completions"
    assert seen["headers"]["api-key"] == "azure-key" and "api-version=2024-10-21" in seen["query"]
    raw = await http.post("/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21",
                          headers={"api-key": "azure-key"}, json={"messages": USER, "stream": True})  # fmt: skip
    first = json.loads(raw.text.split("\n\n")[0][6:])
    assert first["choices"] == [] and first["prompt_filter_results"][0]["prompt_index"] == 0
    missing = await http.post("/openai/deployments/my-gpt/chat/completions", headers={"api-key": "azure-key"}, json={"messages": USER})
    assert missing.status_code == 404 and missing.json() == {"error": {"code": "404", "message": "Resource not found"}}
    bad = await http.post("/openai/deployments/d/chat/completions?api-version=1", headers={"api-key": "nope"}, json={"messages": USER})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "401"
    sim.add_faults([{"kind": "status", "status": 429, "retry_after": 3}])
    limited = await http.post("/openai/deployments/d/chat/completions?api-version=1", headers={"api-key": "azure-key"}, json={"messages": USER})
    assert limited.status_code == 429 and limited.headers["retry-after-ms"] == "3000"
    assert limited.json()["error"]["code"] == "429"
    filtered = await http.post("/openai/deployments/d/chat/completions?api-version=1", headers={"api-key": "azure-key"},
                               json={"model": "sim-content-filter", "messages": USER})  # fmt: skip
    assert filtered.status_code == 400 and filtered.json()["error"]["code"] == "content_filter"
