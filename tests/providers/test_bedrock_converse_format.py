"""Bedrock Converse wire format: golden translation fixtures plus the behaviours around them.

Golden files live in tests/golden/bedrock_converse/{request,response,stream,error}.
Stream fixtures list event frames; this file encodes them with its own small
event-stream encoder (written from the AWS spec, not botocore's), so the parser's
botocore decoder is checked against an independent encoder.
``SWITCHGEAR_UPDATE_GOLDEN=1`` rewrites ``expected`` (review the diff).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from switchgear.core.errors import GatewayError, UpstreamProtocolError
from switchgear.core.types import (
    ChatRequest,
    Finish,
    Message,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    UsageEvent,
)
from switchgear.providers.formats import bedrock_converse as bc
from switchgear.providers.formats.base import Target

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "bedrock_converse"
UPDATE = os.environ.get("SWITCHGEAR_UPDATE_GOLDEN") == "1"


# ---- an event-stream encoder from the AWS spec -------------------------------------------
# message = prelude(total_length u32, headers_length u32, prelude_crc u32)
#           + headers + payload + message_crc u32      (all big-endian, CRC-32/IEEE)
# header  = name_len u8, name, value_type u8 (7 = string), value_len u16, value


def _encode_headers(headers: dict[str, str]) -> bytes:
    out = b""
    for key, value in headers.items():
        k, v = key.encode(), value.encode()
        out += struct.pack(">B", len(k)) + k + struct.pack(">BH", 7, len(v)) + v
    return out


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    hdr = _encode_headers(headers)
    total = 12 + len(hdr) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hdr))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + hdr + payload
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def _frame(spec: dict[str, Any]) -> bytes:
    if "error" in spec:  # the generic event-stream error frame: all in headers, no payload
        headers = {":message-type": "error", ":error-code": spec["error"], ":error-message": spec["message"]}
        return encode_frame(headers, b"")
    payload = json.dumps(spec["payload"], separators=(",", ":")).encode()
    if "exception" in spec:
        headers = {
            ":exception-type": spec["exception"],
            ":content-type": "application/json",
            ":message-type": "exception",
        }
    else:
        headers = {":event-type": spec["event"], ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, payload)


def _stream_bytes(case: dict[str, Any]) -> bytes:
    frames = [_frame(f) for f in case["frames"]]
    if case.get("corrupt_last"):
        last = bytearray(frames[-1])
        last[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
        frames[-1] = bytes(last)
    data = b"".join(frames)
    return data[: len(data) - case.get("cut", 0)]


def test_encoder_matches_the_spec_layout() -> None:
    """The encoder's own bytes, checked by hand against the spec's field layout."""
    frame = encode_frame({":a": "b"}, b"{}")
    hdr = b"\x02:a\x07\x00\x01b"
    assert frame[:8] == struct.pack(">II", 12 + len(hdr) + 2 + 4, len(hdr))
    assert frame[8:12] == struct.pack(">I", zlib.crc32(frame[:8]))
    assert frame[12 : 12 + len(hdr)] == hdr and frame[12 + len(hdr) : -4] == b"{}"
    assert frame[-4:] == struct.pack(">I", zlib.crc32(frame[:-4]))


# ---- golden plumbing ---------------------------------------------------------------------


def _cases(kind: str) -> list[Path]:
    return sorted((GOLDEN / kind).glob("*.json"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _golden(path: Path, case: dict[str, Any], actual: Any) -> None:
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
        return
    assert "expected" in case, f"{path.name} has no expected output yet"
    assert actual == case["expected"]


def _target(d: dict[str, Any]) -> Target:
    return msgspec.convert(d, Target)


def _error(e: GatewayError) -> dict[str, Any]:
    return {
        "class": type(e).__name__,
        "status": e.status,
        "code": e.code,
        "retryable": e.retryable,
        "retry_after": e.retry_after,
        "param": e.param,
        "message": e.message,
    }


def _generated(value: str) -> str:
    # Converse carries no response id; ours are random, so golden files see a marker.
    assert value.startswith("bedrock-") and len(value) == len("bedrock-") + 32
    return "<generated>"


def _event(ev: StreamEvent) -> dict[str, Any]:
    if type(ev) is StreamError:
        return {"type": "error", "error": _error(ev.error)}
    out = msgspec.to_builtins(ev)
    if type(ev) is StreamStart:
        out["id"] = _generated(ev.id)
    return out


def _run_stream(target: Target, data: bytes, step: int | None = None) -> list[dict[str, Any]]:
    parser = bc.StreamParser(target)
    events: list[StreamEvent] = []
    if step is None:
        events += parser.feed(data)
    else:
        for i in range(0, len(data), step):
            events += parser.feed(data[i : i + step])
    events += parser.close()
    return [_event(e) for e in events]


def _body(case: dict[str, Any]) -> bytes:
    if "body_text" in case:
        return case["body_text"].encode()
    return json.dumps(case["body"]).encode()


# ---- golden ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("request"), ids=_ids(_cases("request")))
def test_request_golden(path: Path) -> None:
    case = _load(path)
    req = msgspec.convert(case["request"], ChatRequest)
    try:
        up = bc.build_request(req, _target(case["target"]))
    except GatewayError as e:
        actual: dict[str, Any] = {"error": _error(e)}
    else:
        actual = {
            "method": up.method,
            "path": up.path,
            "headers": [list(h) for h in up.headers],
            "stream": up.stream,
            "body": json.loads(up.body),
        }
    _golden(path, case, actual)


@pytest.mark.parametrize("path", _cases("response"), ids=_ids(_cases("response")))
def test_response_golden(path: Path) -> None:
    case = _load(path)
    try:
        resp = bc.parse_response(_body(case), _target(case["target"]))
    except GatewayError as e:
        actual: dict[str, Any] = {"error": _error(e)}
    else:
        actual = msgspec.to_builtins(resp)
        actual["id"] = _generated(resp.id)
    _golden(path, case, actual)


@pytest.mark.parametrize("path", _cases("stream"), ids=_ids(_cases("stream")))
def test_stream_golden(path: Path) -> None:
    case = _load(path)
    _golden(path, case, _run_stream(_target(case["target"]), _stream_bytes(case)))


@pytest.mark.parametrize("path", _cases("stream"), ids=_ids(_cases("stream")))
@pytest.mark.parametrize("step", [1, 13])
def test_stream_split_anywhere_gives_the_same_events(path: Path, step: int) -> None:
    case = _load(path)
    target = _target(case["target"])
    assert _run_stream(target, _stream_bytes(case), step) == _run_stream(target, _stream_bytes(case))


@pytest.mark.parametrize("path", _cases("error"), ids=_ids(_cases("error")))
def test_error_golden(path: Path) -> None:
    case = _load(path)
    _golden(path, case, _error(bc.parse_error(case["status"], case["headers"], _body(case))))


# ---- behaviours --------------------------------------------------------------------------

TARGET = Target(
    provider="b",
    vendor="bedrock",
    format="bedrock_converse",
    base_url="https://bedrock-runtime.eu-west-1.amazonaws.com",
    model="anthropic.claude-3-5-haiku-20241022-v1:0",
    options={"region": "eu-west-1"},
)


def test_model_id_is_one_encoded_path_segment() -> None:
    up = bc.build_request(ChatRequest(model="m", messages=[Message("user", [TextPart("q")])]), TARGET)
    assert up.path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    arn = msgspec.structs.replace(TARGET, model="arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x")
    up = bc.build_request(ChatRequest(model="m", messages=[Message("user", [TextPart("q")])]), arn)
    assert up.path == "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Feu.x/converse"


def test_stream_reassembles_a_tool_call_from_fragments() -> None:
    case = _load(GOLDEN / "stream" / "reasoning_text_tools.json")
    parser = bc.StreamParser(_target(case["target"]))
    events = parser.feed(_stream_bytes(case)) + parser.close()
    calls: dict[int, dict[str, str]] = {}
    for e in events:
        if type(e) is ToolCallDelta:
            call = calls.setdefault(e.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = e.id or call["id"]
            call["name"] = e.name or call["name"]
            call["arguments"] += e.arguments
    assert {i: json.loads(c["arguments"]) for i, c in calls.items()} == {0: {"city": "Paris"}, 1: {"city": "Rome"}}
    assert [c["id"] for c in calls.values()] == ["tooluse_P", "tooluse_R"]
    assert [e.reason for e in events if type(e) is Finish] == ["tool_calls"]


def test_stream_complete_after_message_stop_even_without_metadata() -> None:
    case = _load(GOLDEN / "stream" / "stop_without_metadata.json")
    parser = bc.StreamParser(_target(case["target"]))
    events = parser.feed(_stream_bytes(case))
    assert parser.close() == []
    assert not any(type(e) is UsageEvent for e in events)


def test_truncated_stream_is_a_protocol_error() -> None:
    case = _load(GOLDEN / "stream" / "truncated_mid_frame.json")
    parser = bc.StreamParser(_target(case["target"]))
    events = parser.feed(_stream_bytes(case))
    assert [type(e) for e in events] == [StreamStart, TextDelta]  # the cut frame is never seen
    tail = parser.close()
    assert len(tail) == 1 and isinstance(tail[0].error, UpstreamProtocolError)
    assert parser.close() == []


def test_nothing_is_parsed_after_a_stream_exception() -> None:
    case = _load(GOLDEN / "stream" / "throttling_exception.json")
    parser = bc.StreamParser(_target(case["target"]))
    events = parser.feed(_stream_bytes(case))
    events += parser.feed(_frame({"event": "messageStop", "payload": {"stopReason": "end_turn"}}))
    events += parser.close()
    assert type(events[-1]) is StreamError and events[-1].error.status == 429
    assert not any(type(e) is TextDelta and e.text == "never seen" for e in events)


def test_parsed_tool_use_round_trips_into_the_next_request() -> None:
    case = _load(GOLDEN / "response" / "reasoning_tool_use.json")
    resp = bc.parse_response(_body(case), TARGET)
    call = next(p for p in resp.choices[0].message.parts if type(p) is ToolCallPart)
    req = ChatRequest(
        model="m",
        tools=[],
        messages=[
            Message("user", [TextPart("Weather?")]),
            resp.choices[0].message,
            Message("tool", [ToolResultPart(call.id, [TextPart("18C")])]),
        ],
    )
    body = json.loads(bc.build_request(req, TARGET).body)
    assistant = body["messages"][1]["content"]
    thought = {"text": "The user wants the weather.", "signature": "EqoBCkgIARABGAIiQL=="}
    assert assistant[0] == {"reasoningContent": {"reasoningText": thought}}
    assert assistant[1] == {"reasoningContent": {"redactedContent": "RXJVQkNrWUlCUmdD"}}
    tool_use = {"toolUseId": "tooluse_A1", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2]}}
    assert assistant[3] == {"toolUse": tool_use}
    assert body["messages"][2]["content"][0]["toolResult"]["toolUseId"] == "tooluse_A1"


def test_usage_counts_cache_reads_and_writes_as_input() -> None:
    u = bc.usage_from_body({"usage": {"inputTokens": 4, "outputTokens": 241, "totalTokens": 2785,
                                      "cacheReadInputTokens": 0, "cacheWriteInputTokens": 2540}})
    assert u is not None
    assert (u.input_tokens, u.cache_write_tokens, u.output_tokens) == (2544, 2540, 241)
    assert u.total_tokens == 2785  # agrees with Converse's own totalTokens
    assert bc.usage_from_body({"output": {}}) is None
    assert bc.usage_from_body({"usage": {"inputTokens": "many"}}) is None


def test_effort_budget_leaves_room_for_the_answer() -> None:
    from switchgear.core.types import Reasoning

    def body(**kw: Any) -> dict[str, Any]:
        req = ChatRequest(model="m", messages=[Message("user", [TextPart("q")])], **kw)
        return json.loads(bc.build_request(req, TARGET).body)

    b = body(reasoning=Reasoning(effort="high"))
    assert b["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert b["inferenceConfig"]["maxTokens"] == 24576 + 4096
    b = body(reasoning=Reasoning(budget_tokens=500), max_tokens=64000)
    assert b["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 1024  # Claude's minimum
    assert b["inferenceConfig"]["maxTokens"] == 64000


def test_module_has_the_wire_format_shape() -> None:
    assert bc.name == "bedrock_converse"
    assert {"seed", "n", "logprobs", "parallel_tool_calls", "user"}.isdisjoint(bc.SUPPORTED)
    assert {"tools", "reasoning", "top_k", "response_format"} <= bc.SUPPORTED
