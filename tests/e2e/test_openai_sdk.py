"""The official `openai` SDK against a running gateway, over every wire format."""

from __future__ import annotations

import json

import httpx2 as httpx
import openai
import pytest

from tests.e2e.harness import CHAT_MODELS, GatewayProcess, SimThread
from tests.openapi_schema import assert_valid

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_completion_every_format(oai: openai.OpenAI, model: str) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello to the gateway"}], max_tokens=400
    )
    resp = raw.parse()
    assert_valid(json.loads(raw.text), "CreateChatCompletionResponse")
    assert resp.choices[0].message.role == "assistant"
    assert "hello" in (resp.choices[0].message.content or "").lower()
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert raw.headers["x-switchgear-provider"] in {"openai", "azure", "anthropic", "gemini", "bedrock", "vllm"}
    assert raw.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_streaming_with_usage_every_format(oai: openai.OpenAI, model: str) -> None:
    stream = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "stream please"}], stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        assert_valid(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert "stream please" in text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0


def test_stream_without_include_usage_has_no_usage_chunk(oai: openai.OpenAI, sim: SimThread) -> None:
    chunks = list(oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)  # the usage-only chunk we asked upstream for is not forwarded
    # …but the gateway did ask the upstream for usage, to meter the request.
    sent = sim.requests()[-1]["body"]
    assert sent["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_parallel_tool_calls_every_format(oai: openai.OpenAI, model: str) -> None:
    resp = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "weather and time in Paris"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    msg = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls and len(msg.tool_calls) == 2
    names = {c.function.name for c in msg.tool_calls}
    assert names == {"get_weather", "get_time"}
    for call in msg.tool_calls:
        assert call.id
        args = json.loads(call.function.arguments)
        assert isinstance(args, dict)
    weather = next(c for c in msg.tool_calls if c.function.name == "get_weather")
    assert json.loads(weather.function.arguments)["unit"] in ("c", "f")

    # Send the tool results back: the conversation round-trips through every format.
    follow = oai.chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": "weather and time in Paris"},
            msg.model_dump(exclude_none=True),
            *[{"role": "tool", "tool_call_id": c.id, "content": f"result-of-{c.function.name}"} for c in msg.tool_calls],
        ],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    assert follow.choices[0].finish_reason == "stop"
    assert "result-of-get_" in (follow.choices[0].message.content or "")


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_streamed_tool_calls_every_format(oai: openai.OpenAI, model: str) -> None:
    stream = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "weather"}], tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for tc in chunk.choices[0].delta.tool_calls or []:
            c = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
            c["id"] += tc.id or ""
            c["name"] += (tc.function.name if tc.function else None) or ""
            c["args"] += (tc.function.arguments if tc.function else None) or ""
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert json.loads(calls[0]["args"])["city"]


def test_passthrough_keeps_unknown_fields_and_rewrites_model(oai: openai.OpenAI, sim: SimThread) -> None:
    oai.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}], max_tokens=20, seed=7,
        extra_body={"metadata": {"team": "search"}, "service_tier": "flex"},
    )
    sent = sim.requests()[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "gpt-4o"  # rewritten to the deployment's model
    assert sent["body"]["metadata"] == {"team": "search"}  # unknown to us, kept
    assert sent["body"]["service_tier"] == "flex"
    assert sent["body"]["seed"] == 7
    assert sent["body"]["max_completion_tokens"] == 20  # the OpenAI vendor's rename
    assert sent["headers"]["authorization"] == "Bearer sk-e2e-upstream-key"  # never the client's key


def test_azure_deployment_url_and_api_key_header(oai: openai.OpenAI, sim: SimThread) -> None:
    oai.chat.completions.create(model="azure-gpt", messages=[{"role": "user", "content": "hi"}])
    sent = sim.requests()[-1]
    assert sent["path"] == "/openai/deployments/gpt4o-deployment/chat/completions"
    assert "api-version=2024-10-21" in sent["query"]
    assert sent["headers"]["api-key"] == "sk-e2e-upstream-key"
    assert "authorization" not in sent["headers"]


def test_bedrock_requests_are_sigv4_signed(oai: openai.OpenAI, sim: SimThread) -> None:
    oai.chat.completions.create(model="bedrock", messages=[{"role": "user", "content": "hi"}])
    sent = sim.requests()[-1]
    assert sent["path"].startswith("/model/") and sent["path"].endswith("/converse")
    auth = sent["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/bedrock/aws4_request" in auth
    assert "x-amz-date" in sent["headers"]


def test_wildcard_model_reaches_any_upstream_model(oai: openai.OpenAI, sim: SimThread) -> None:
    resp = oai.chat.completions.create(model="openai/gpt-4.1-nano", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content
    assert sim.requests()[-1]["body"]["model"] == "gpt-4.1-nano"


def test_json_schema_response_format(oai: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}
    for model in ("gpt", "claude", "gemini"):
        resp = oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "2+2?"}],
            response_format={"type": "json_schema", "json_schema": {"name": "math", "schema": schema, "strict": True}},
        )
        assert isinstance(json.loads(resp.choices[0].message.content or "")["answer"], int), model


def test_n_and_logprobs_where_the_upstream_has_them(oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}], n=2, logprobs=True,
                                       top_logprobs=2)
    assert len(resp.choices) == 2
    assert resp.choices[0].logprobs is not None and resp.choices[0].logprobs.content


def test_unsupported_parameter_is_a_400_naming_it(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}], logprobs=True)
    assert ei.value.status_code == 400
    body = ei.value.body
    assert isinstance(body, dict) and body.get("param") == "logprobs"
    assert "logprobs" in ei.value.message


def test_image_content_parts_translate(oai: openai.OpenAI, sim: SimThread) -> None:
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    resp = oai.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
        ]}],
    )
    assert resp.choices[0].message.content
    sent = sim.requests()[-1]["body"]
    blocks = sent["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": pixel}


def test_embeddings(oai: openai.OpenAI) -> None:
    for model in ("embed", "gemini-embed"):
        resp = oai.embeddings.create(model=model, input=["alpha", "beta"])
        assert [d.index for d in resp.data] == [0, 1]
        assert len(resp.data[0].embedding) > 8
        assert resp.data[0].embedding != resp.data[1].embedding
    b64 = oai.embeddings.create(model="embed", input="alpha", encoding_format="base64")
    assert len(b64.data[0].embedding) > 8  # the SDK decodes base64 for us


def test_models_lists_configured_models(oai: openai.OpenAI) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {"gpt", "claude", "gemini", "bedrock", "embed"} <= ids
    assert "openai/*" not in ids


def test_fallback_to_next_deployment_when_first_is_dead(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="failover", messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-switchgear-provider"] == "anthropic"
    assert raw.headers["x-switchgear-attempts"] == "2"
    assert "dead/x=upstream_unavailable" in raw.headers["x-switchgear-failed"]


def test_health_ready_metrics(gateway: GatewayProcess, oai: openai.OpenAI) -> None:
    oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "count me"}])
    list(oai.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "and me"}], stream=True))
    assert httpx.get(f"{gateway.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{gateway.url}/ready").status_code == 200
    text = httpx.get(f"{gateway.url}/metrics").text
    assert 'switchgear_requests_total{endpoint="chat",model="gpt",provider="openai",status="200"}' in text
    assert 'switchgear_tokens_total{direction="output",model="gpt",provider="openai"}' in text
    assert "switchgear_request_duration_seconds_bucket" in text
    assert "switchgear_time_to_first_token_seconds_bucket" in text


def test_deployment_that_cannot_honour_a_parameter_is_skipped(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="claude-then-gpt", messages=[{"role": "user", "content": "hi"}], logprobs=True)
    assert raw.headers["x-switchgear-provider"] == "openai"
    assert "anthropic/claude-sonnet-4-5=unsupported_parameter" in raw.headers["x-switchgear-failed"]
    assert raw.parse().choices[0].logprobs is not None
    # Without the parameter, the first deployment answers as usual.
    plain = oai.chat.completions.with_raw_response.create(
        model="claude-then-gpt", messages=[{"role": "user", "content": "hi"}])
    assert plain.headers["x-switchgear-provider"] == "anthropic"
