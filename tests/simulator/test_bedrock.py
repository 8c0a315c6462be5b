"""Bedrock Converse / ConverseStream, through botocore's own client (SigV4
signing, restJson parsing, event-stream decoding with CRC checks, error codes)
and over raw HTTP."""

from __future__ import annotations

import asyncio
import json

import botocore.session
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError

from switchgear.simulator import text

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
USER = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
TOOLS = {"tools": [
    {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}},
    {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object"}}}},
]}  # fmt: skip
SIGV4 = {
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "ab" * 32,
    "x-amz-date": "20250101T000000Z",
}


@pytest.fixture
def bedrock(sim):
    session = botocore.session.get_session()
    client = session.create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=sim.url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )
    yield client
    client.close()


def _converse_stream(client, **kw):
    return list(client.converse_stream(**kw)["stream"])


async def test_converse_through_botocore(bedrock, sim):
    sim.configure(api_key="unused-for-sigv4")  # SigV4 is checked for form, so auth is on
    out = await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=USER, inferenceConfig={"maxTokens": 100})
    message = out["output"]["message"]
    assert message["role"] == "assistant"
    reply = message["content"][0]["text"]
    assert reply.startswith(f"Simulated reply from {MODEL}: What is the weather")
    assert out["stopReason"] == "end_turn"
    usage = out["usage"]
    assert usage["inputTokens"] == text.count_tokens("What is the weather in Paris?")
    assert usage["outputTokens"] == text.count_tokens(reply)
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    seen = sim.requests[-1]
    assert seen["path"] == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert seen["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")


async def test_converse_stream_through_botocore(bedrock):
    events = await asyncio.to_thread(_converse_stream, bedrock, modelId=MODEL, messages=USER, inferenceConfig={"maxTokens": 6})
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert "contentBlockStart" not in names  # text blocks start with their first delta
    deltas = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert deltas == "Simulated reply from anthropic.claude"  # six tokens
    assert events[-2]["messageStop"]["stopReason"] == "max_tokens"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 6


async def test_tool_use_and_result_through_botocore(bedrock):
    out = await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=USER, toolConfig=TOOLS)
    assert out["stopReason"] == "tool_use"
    uses = [b["toolUse"] for b in out["output"]["message"]["content"]]
    assert [u["name"] for u in uses] == ["get_weather", "get_time"]
    assert uses[0]["input"] == {"city": "sim"} and uses[0]["toolUseId"].startswith("tooluse_")
    results = [{"toolResult": {"toolUseId": u["toolUseId"], "content": [{"json": {"temp": 18}}]}} for u in uses]
    turn = [*USER, out["output"]["message"], {"role": "user", "content": results}]
    answer = await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=turn, toolConfig=TOOLS)
    assert answer["stopReason"] == "end_turn"
    assert 'the tool returned {"temp":18}' in answer["output"]["message"]["content"][0]["text"]
    forced = {**TOOLS, "toolChoice": {"tool": {"name": "get_time"}}}
    events = await asyncio.to_thread(_converse_stream, bedrock, modelId=MODEL, messages=USER, toolConfig=forced)
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_time"
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert json.loads("".join(fragments)) == {}


async def test_reasoning_content_and_signature_check(bedrock):
    extra = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    out = await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=USER,
                                  inferenceConfig={"maxTokens": 2000}, additionalModelRequestFields=extra)  # fmt: skip
    reasoning = out["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning["text"].startswith("Thinking about") and reasoning["signature"]
    events = await asyncio.to_thread(_converse_stream, bedrock, modelId=MODEL, messages=USER,
                                     inferenceConfig={"maxTokens": 2000}, additionalModelRequestFields=extra)  # fmt: skip
    deltas = [e["contentBlockDelta"]["delta"]["reasoningContent"] for e in events
              if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == 0]  # fmt: skip
    assert "".join(d.get("text", "") for d in deltas) == reasoning["text"]
    assert deltas[-1] == {"signature": reasoning["signature"]}
    tampered = json.loads(json.dumps(out["output"]["message"]))
    tampered["content"][0]["reasoningContent"]["reasoningText"]["text"] += "!"
    turn = [*USER, tampered, {"role": "user", "content": [{"text": "go on"}]}]
    with pytest.raises(ClientError) as e:
        await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=turn,
                                inferenceConfig={"maxTokens": 2000}, additionalModelRequestFields=extra)  # fmt: skip
    assert e.value.response["Error"]["Code"] == "ValidationException"


async def test_cache_points_write_then_read(bedrock):
    system = [{"text": "You are terse. " * 40}, {"cachePoint": {"type": "default"}}]
    first = await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=USER, system=system)
    second = await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=USER, system=system)
    prefix = text.count_tokens(system[0]["text"])
    assert (first["usage"]["cacheWriteInputTokens"], first["usage"]["cacheReadInputTokens"]) == (prefix, 0)
    assert (second["usage"]["cacheWriteInputTokens"], second["usage"]["cacheReadInputTokens"]) == (0, prefix)
    assert second["usage"]["inputTokens"] == text.count_tokens("What is the weather in Paris?")


async def test_errors_map_to_botocore_codes(bedrock, sim):
    sim.add_faults([{"kind": "status", "status": 429}, {"kind": "status", "status": 503}, {"kind": "context_length"}])
    for code, status in (("ThrottlingException", 429), ("ServiceUnavailableException", 503), ("ValidationException", 400)):
        with pytest.raises(ClientError) as e:
            await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=USER)
        assert e.value.response["Error"]["Code"] == code
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    with pytest.raises(ClientError) as e:
        await asyncio.to_thread(bedrock.converse, modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    assert "must start with a user message" in e.value.response["Error"]["Message"]
    sim.add_faults([{"kind": "stream_error", "after_events": 2}])
    with pytest.raises(EventStreamError) as e:
        await asyncio.to_thread(_converse_stream, bedrock, modelId=MODEL, messages=USER)
    assert e.value.response["Error"]["Code"] == "modelStreamErrorException"


async def test_raw_stream_frames_and_padding(http):
    resp = await http.post(f"/model/{MODEL}/converse-stream", json={"messages": USER})
    assert resp.headers["content-type"] == "application/vnd.amazon.eventstream"
    buf = EventStreamBuffer()
    buf.add_data(resp.content)
    messages = list(buf)  # raises on any prelude or message CRC mismatch
    for m in messages:
        assert m.headers[":message-type"] == "event" and m.headers[":content-type"] == "application/json"
        assert "p" in json.loads(m.payload)
    assert [m.headers[":event-type"] for m in messages][-2:] == ["messageStop", "metadata"]


async def test_authentication_forms(http, sim):
    sim.configure(api_key="bedrock-api-key")
    body = {"messages": USER}
    none = await http.post(f"/model/{MODEL}/converse", json=body)
    assert none.status_code == 403 and none.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert none.json() == {"message": "Missing Authentication Token"}
    ok = await http.post(f"/model/{MODEL}/converse", json=body, headers=SIGV4)
    assert ok.status_code == 200
    bad_scope = {**SIGV4, "authorization": SIGV4["authorization"].replace("/bedrock/", "/s3/")}
    assert (await http.post(f"/model/{MODEL}/converse", json=body, headers=bad_scope)).status_code == 403
    no_date = {"authorization": SIGV4["authorization"]}
    resp = await http.post(f"/model/{MODEL}/converse", json=body, headers=no_date)
    assert resp.status_code == 403 and resp.headers["x-amzn-errortype"] == "IncompleteSignatureException"
    assert (await http.post(f"/model/{MODEL}/converse", json=body, headers={"authorization": "Bearer bedrock-api-key"})).status_code == 200
    assert (await http.post(f"/model/{MODEL}/converse", json=body, headers={"authorization": "Bearer nope"})).status_code == 403


async def test_validation_error_header_has_coral_namespace(http):
    resp = await http.post(f"/model/{MODEL}/converse", json={"messages": [{"role": "user", "content": [{"toolUse": {}}]}]})
    assert resp.status_code == 400
    assert resp.headers["x-amzn-errortype"].startswith("ValidationException:http://internal.amazon.com/coral/")
    assert "toolConfig field must be defined" in resp.json()["message"]
