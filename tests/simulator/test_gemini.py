"""Gemini over raw HTTP: generateContent, SSE and JSON-array streams, tools,
thinking, structured output, embeddings, and Google-style errors."""

from __future__ import annotations

import json

from switchgear.simulator import text
from switchgear.transport.sse import SSEDecoder

BASE = "/v1beta/models/gemini-2.0-flash"
USER = {"contents": [{"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}]}
TOOLS = [{"functionDeclarations": [
    {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}},
    {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
]}]  # fmt: skip


def _sse(raw: bytes) -> list[dict]:
    events = SSEDecoder().feed(raw)
    return [json.loads(e.data) for e in events]


async def test_generate_content_text_and_usage(http):
    resp = await http.post(f"{BASE}:generateContent", json=USER)
    assert resp.status_code == 200
    body = resp.json()
    cand = body["candidates"][0]
    assert cand["content"]["role"] == "model" and cand["finishReason"] == "STOP" and cand["index"] == 0
    reply = cand["content"]["parts"][0]["text"]
    assert reply.startswith("Simulated reply from gemini-2.0-flash: What is the weather")
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == text.count_tokens("What is the weather in Paris?")
    assert usage["candidatesTokenCount"] == text.count_tokens(reply)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert "thoughtsTokenCount" not in usage
    assert body["modelVersion"] == "gemini-2.0-flash" and body["responseId"]


async def test_max_output_tokens_and_candidates(http):
    body = (await http.post(f"{BASE}:generateContent", json={**USER, "generationConfig": {"maxOutputTokens": 2, "candidateCount": 2}})).json()
    assert [c["finishReason"] for c in body["candidates"]] == ["MAX_TOKENS", "MAX_TOKENS"]
    assert [c["content"]["parts"][0]["text"] for c in body["candidates"]] == ["Simulated reply", "Simulated reply"]
    assert body["usageMetadata"]["candidatesTokenCount"] == 4
    snake = (await http.post(f"{BASE}:generateContent", json={**USER, "generation_config": {"max_output_tokens": 1}})).json()
    assert snake["candidates"][0]["content"]["parts"][0]["text"] == "Simulated"


async def test_sse_stream_uses_crlf_and_cumulative_usage(http):
    full = (await http.post(f"{BASE}:generateContent", json=USER)).json()
    resp = await http.post(f"{BASE}:streamGenerateContent?alt=sse", json=USER)
    assert resp.headers["content-type"].startswith("text/event-stream")
    raw = resp.content
    assert raw.startswith(b"data: {") and raw.endswith(b"}\r\n\r\n")
    assert raw.count(b"\r\n\r\n") == raw.count(b"data: ")
    chunks = _sse(raw)
    assert len(chunks) > 2
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == full["candidates"][0]["content"]["parts"][0]["text"]
    assert ["finishReason" in c["candidates"][0] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert counts == sorted(counts) and counts[-1] == full["usageMetadata"]["candidatesTokenCount"]
    assert all(c["usageMetadata"]["promptTokenCount"] == full["usageMetadata"]["promptTokenCount"] for c in chunks)


async def test_stream_without_alt_sse_is_a_json_array(http):
    resp = await http.post(f"{BASE}:streamGenerateContent", json=USER)
    items = json.loads(resp.content)
    assert isinstance(items, list) and items[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_calls_then_function_response(http):
    body = (await http.post(f"{BASE}:generateContent", json={**USER, "tools": TOOLS})).json()
    parts = body["candidates"][0]["content"]["parts"]
    assert [p["functionCall"]["name"] for p in parts] == ["get_weather", "get_time"]
    assert parts[0]["functionCall"]["args"] == {"city": "sim"}
    assert body["candidates"][0]["finishReason"] == "STOP"
    forced = {**USER, "tools": TOOLS, "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}}
    parts = (await http.post(f"{BASE}:generateContent", json=forced)).json()["candidates"][0]["content"]["parts"]
    assert [p["functionCall"]["name"] for p in parts] == ["get_time"]
    turn = {"tools": TOOLS, "contents": [
        USER["contents"][0],
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]},
    ]}  # fmt: skip
    answer = (await http.post(f"{BASE}:generateContent", json=turn)).json()
    assert 'the tool returned {"temp":18}' in answer["candidates"][0]["content"]["parts"][0]["text"]
    orphan = {"contents": [USER["contents"][0], turn["contents"][2]]}
    resp = await http.post(f"{BASE}:generateContent", json=orphan)
    assert resp.status_code == 400 and "function response turn comes immediately after" in resp.json()["error"]["message"]


async def test_thinking_models_count_thoughts_and_show_them_on_request(http):
    model = "/v1beta/models/gemini-2.5-flash"
    hidden = (await http.post(f"{model}:generateContent", json=USER)).json()
    usage = hidden["usageMetadata"]
    assert usage["thoughtsTokenCount"] == 24
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"] + 24
    assert all("thought" not in p for p in hidden["candidates"][0]["content"]["parts"])
    shown = (await http.post(f"{model}:generateContent", json={**USER, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}})).json()
    parts = shown["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"].startswith("Thinking about") and "thought" not in parts[1]
    off = (await http.post(f"{model}:generateContent", json={**USER, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}})).json()
    assert "thoughtsTokenCount" not in off["usageMetadata"]


async def test_json_schema_output(http):
    config = {"responseMimeType": "application/json",
              "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}}  # fmt: skip
    body = (await http.post(f"{BASE}:generateContent", json={**USER, "generationConfig": config})).json()
    assert json.loads(body["candidates"][0]["content"]["parts"][0]["text"]) == {"n": 1}


async def test_embeddings(http):
    one = (await http.post("/v1beta/models/gemini-embedding-001:embedContent",
                           json={"content": {"parts": [{"text": "a cat"}]}, "outputDimensionality": 16})).json()  # fmt: skip
    assert len(one["embedding"]["values"]) == 16
    batch = (await http.post("/v1beta/models/gemini-embedding-001:batchEmbedContents", json={"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a cat"}]}, "outputDimensionality": 16},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a dog"}]}},
    ]})).json()  # fmt: skip
    assert batch["embeddings"][0]["values"] == one["embedding"]["values"]
    assert len(batch["embeddings"][1]["values"]) == 3072


async def test_google_error_shapes(http, sim):
    unknown = await http.post(f"{BASE}:generateContent", json={**USER, "temperature": 0.5})
    error = unknown.json()["error"]
    assert (unknown.status_code, error["status"], error["code"]) == (400, "INVALID_ARGUMENT", 400)
    assert error["message"] == 'Invalid JSON payload received. Unknown name "temperature": Cannot find field.'
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    role = await http.post(f"{BASE}:generateContent", json={"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    assert role.json()["error"]["message"] == "Please use a valid role: user, model."
    empty = await http.post(f"{BASE}:generateContent", json={"contents": []})
    assert "contents is not specified" in empty.json()["error"]["message"]
    sim.add_faults([{"kind": "status", "status": 429, "retry_after": 2}, {"kind": "status", "status": 503}])
    limited = await http.post(f"{BASE}:generateContent", json=USER)
    assert limited.status_code == 429 and "retry-after" not in limited.headers
    err = limited.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"} in err["details"]
    overloaded = await http.post(f"{BASE}:generateContent", json=USER)
    assert overloaded.status_code == 503 and overloaded.json()["error"]["status"] == "UNAVAILABLE"
    missing = await http.post("/v1beta/models/sim-not-found:generateContent", json=USER)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


async def test_api_key_header_or_query(http, sim):
    sim.configure(api_key="AIza-right")
    none = await http.post(f"{BASE}:generateContent", json=USER)
    assert none.status_code == 403 and none.json()["error"]["status"] == "PERMISSION_DENIED"
    wrong = await http.post(f"{BASE}:generateContent", json=USER, headers={"x-goog-api-key": "AIza-wrong"})
    assert wrong.status_code == 400 and wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert (await http.post(f"{BASE}:generateContent", json=USER, headers={"x-goog-api-key": "AIza-right"})).status_code == 200
    assert (await http.post(f"{BASE}:generateContent?key=AIza-right", json=USER)).status_code == 200


async def test_safety_block_for_content_filter_model(http):
    body = (await http.post("/v1beta/models/sim-content-filter:generateContent", json=USER)).json()
    cand = body["candidates"][0]
    assert cand["finishReason"] == "SAFETY" and "content" not in cand
    assert any(r.get("blocked") for r in cand["safetyRatings"])
