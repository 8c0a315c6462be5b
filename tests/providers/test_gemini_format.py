"""Gemini wire format: golden translation fixtures plus the behaviours around them.

Golden files live in tests/golden/gemini/{request,response,stream,error,embeddings}.
Each holds its input and the ``expected`` output; ``SWITCHGEAR_UPDATE_GOLDEN=1``
rewrites ``expected`` from the code (review the diff before committing it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from switchgear.core.errors import ContentFiltered, GatewayError, InvalidRequest, UpstreamProtocolError
from switchgear.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    Finish,
    Message,
    StreamError,
    StreamEvent,
    TextPart,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    UsageEvent,
)
from switchgear.providers.formats import gemini
from switchgear.providers.formats.base import Target

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "gemini"
UPDATE = os.environ.get("SWITCHGEAR_UPDATE_GOLDEN") == "1"


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


def _event(ev: StreamEvent) -> dict[str, Any]:
    if type(ev) is StreamError:
        return {"type": "error", "error": _error(ev.error)}
    return msgspec.to_builtins(ev)


def _body(case: dict[str, Any]) -> bytes:
    if "body_text" in case:
        return case["body_text"].encode()
    return json.dumps(case["body"], indent=2).encode()  # Gemini pretty-prints JSON bodies


def _sse(case: dict[str, Any]) -> bytes:
    out = []
    for chunk in case["chunks"]:
        data = chunk if isinstance(chunk, str) else json.dumps(chunk, separators=(",", ":"))
        out.append(f"data: {data}\r\n\r\n")
    out.append(case.get("tail", ""))
    return "".join(out).encode()


def _run_stream(target: Target, data: bytes, step: int | None = None) -> list[dict[str, Any]]:
    parser = gemini.StreamParser(target)
    events: list[StreamEvent] = []
    if step is None:
        events += parser.feed(data)
    else:
        for i in range(0, len(data), step):
            events += parser.feed(data[i : i + step])
    events += parser.close()
    return [_event(e) for e in events]


# ---- golden ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("request"), ids=_ids(_cases("request")))
def test_request_golden(path: Path) -> None:
    case = _load(path)
    req = msgspec.convert(case["request"], ChatRequest)
    try:
        up = gemini.build_request(req, _target(case["target"]))
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
        resp = gemini.parse_response(_body(case), _target(case["target"]))
    except GatewayError as e:
        actual: dict[str, Any] = {"error": _error(e)}
    else:
        actual = msgspec.to_builtins(resp)
    _golden(path, case, actual)


@pytest.mark.parametrize("path", _cases("stream"), ids=_ids(_cases("stream")))
def test_stream_golden(path: Path) -> None:
    case = _load(path)
    _golden(path, case, _run_stream(_target(case["target"]), _sse(case)))


@pytest.mark.parametrize("path", _cases("stream"), ids=_ids(_cases("stream")))
@pytest.mark.parametrize("step", [1, 7])
def test_stream_split_anywhere_gives_the_same_events(path: Path, step: int) -> None:
    case = _load(path)
    target = _target(case["target"])
    assert _run_stream(target, _sse(case), step) == _run_stream(target, _sse(case))


@pytest.mark.parametrize("path", _cases("error"), ids=_ids(_cases("error")))
def test_error_golden(path: Path) -> None:
    case = _load(path)
    err = gemini.parse_error(case["status"], case["headers"], _body(case))
    _golden(path, case, _error(err))


@pytest.mark.parametrize("path", _cases("embeddings"), ids=_ids(_cases("embeddings")))
def test_embeddings_golden(path: Path) -> None:
    case = _load(path)
    target = _target(case["target"])
    # EmbeddingsRequest.input (list[str] | list[list[int]]) cannot go through msgspec.convert.
    up = gemini.build_embeddings_request(EmbeddingsRequest(**case["request"]), target)
    resp = gemini.parse_embeddings_response(json.dumps(case["response"]).encode(), target)
    actual = {
        "path": up.path,
        "headers": [list(h) for h in up.headers],
        "body": json.loads(up.body),
        "response": msgspec.to_builtins(resp),
    }
    _golden(path, case, actual)


# ---- behaviours --------------------------------------------------------------------------

TARGET = Target(
    provider="g",
    vendor="gemini",
    format="gemini",
    base_url="https://generativelanguage.googleapis.com",
    model="gemini-2.5-flash",
    headers=(("x-goog-api-key", "k"),),
)


def _req(*messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=list(messages), **kw)


def _body_of(req: ChatRequest) -> dict[str, Any]:
    return json.loads(gemini.build_request(req, TARGET).body)


def test_signature_goes_back_on_the_part_it_came_on() -> None:
    """A response's thoughtSignature on a functionCall must return on that functionCall
    (Gemini 3 rejects the turn otherwise), not on a neighbour."""
    case = _load(GOLDEN / "response" / "thinking_parallel_calls.json")
    resp = gemini.parse_response(_body(case), TARGET)
    calls = [p for p in resp.choices[0].message.parts if type(p) is ToolCallPart]
    history = [
        Message("user", [TextPart("Weather in Paris and Rome?")]),
        resp.choices[0].message,
        Message("tool", [ToolResultPart(calls[0].id, [TextPart("18C")])]),
        Message("tool", [ToolResultPart(calls[1].id, [TextPart("21C")])]),
    ]
    model_parts = _body_of(_req(*history))["contents"][1]["parts"]
    fc_parts = [p for p in model_parts if "functionCall" in p]
    assert fc_parts[0]["thoughtSignature"] == "CvQBAdHtim8="
    assert "thoughtSignature" not in fc_parts[1]  # parallel calls: only the first is signed
    # Synthesised ids are ours: they never go upstream, names are looked up instead.
    responses = _body_of(_req(*history))["contents"][2]["parts"]
    assert [r["functionResponse"]["name"] for r in responses] == ["get_weather", "get_weather"]
    assert all("id" not in r["functionResponse"] for r in responses)


def test_function_call_without_signature_gets_the_documented_placeholder() -> None:
    msgs = [
        Message("user", [TextPart("hi")]),
        Message("assistant", [ToolCallPart("call_1", "now", "{}"), ToolCallPart("call_2", "now", "{}")]),
        Message("tool", [ToolResultPart("call_1", [TextPart("noon")])]),
        Message("tool", [ToolResultPart("call_2", [TextPart("noon")])]),
    ]
    parts = _body_of(_req(*msgs))["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == gemini.DUMMY_THOUGHT_SIGNATURE
    assert "thoughtSignature" not in parts[1]


def test_synthesised_tool_call_ids_are_stable_and_distinct() -> None:
    case = _load(GOLDEN / "response" / "thinking_parallel_calls.json")
    first = gemini.parse_response(_body(case), TARGET)
    again = gemini.parse_response(_body(case), TARGET)
    ids = [p.id for p in first.choices[0].message.parts if type(p) is ToolCallPart]
    assert ids == [p.id for p in again.choices[0].message.parts if type(p) is ToolCallPart]
    assert len(set(ids)) == 2 and all(i.startswith("call_") for i in ids)


def test_stream_and_response_agree_on_tool_call_ids() -> None:
    chunk = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"functionCall": {"name": "now", "args": {}}}]},
                "finishReason": "STOP",
            }
        ],
        "responseId": "same",
    }
    resp = gemini.parse_response(json.dumps(chunk).encode(), TARGET)
    parser = gemini.StreamParser(TARGET)
    events = parser.feed(b"data: " + json.dumps(chunk).encode() + b"\n\n") + parser.close()
    delta = next(e for e in events if type(e) is ToolCallDelta)
    part = resp.choices[0].message.parts[0]
    assert type(part) is ToolCallPart and delta.id == part.id and delta.arguments == part.arguments == "{}"
    assert [e.reason for e in events if type(e) is Finish] == ["tool_calls"]


def test_stream_without_finish_reason_is_a_protocol_error_but_keeps_usage() -> None:
    case = _load(GOLDEN / "stream" / "truncated_before_finish.json")
    parser = gemini.StreamParser(TARGET)
    assert not any(type(e) is StreamError for e in parser.feed(_sse(case)))
    tail = parser.close()
    assert [type(e) for e in tail] == [UsageEvent, StreamError]
    assert isinstance(tail[-1].error, UpstreamProtocolError)
    assert parser.close() == []  # closing twice reports nothing new


def test_stream_usage_is_reported_once() -> None:
    case = _load(GOLDEN / "stream" / "usage_after_finish.json")
    parser = gemini.StreamParser(TARGET)
    events = parser.feed(_sse(case)) + parser.close()
    usages = [e for e in events if type(e) is UsageEvent]
    assert len(usages) == 1 and usages[0].usage.input_tokens == 5


def test_nothing_is_reported_after_a_stream_error() -> None:
    parser = gemini.StreamParser(TARGET)
    events = parser.feed(b'data: {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow"}}\n\n')
    events += parser.feed(b'data: {"candidates": [{"content": {"parts": [{"text": "late"}]}}]}\n\n')
    events += parser.close()
    assert len(events) == 1 and type(events[0]) is StreamError
    assert events[0].error.status == 429


def test_blocked_prompt_raises_content_filtered() -> None:
    case = _load(GOLDEN / "response" / "prompt_blocked.json")
    with pytest.raises(ContentFiltered):
        gemini.parse_response(_body(case), TARGET)


def test_tool_result_name_comes_from_the_call_or_the_part() -> None:
    named = ToolResultPart("x1", [TextPart("ok")], name="lookup")
    body = _body_of(_req(Message("user", [TextPart("q")]), Message("tool", [named])))
    assert body["contents"][0]["parts"][1]["functionResponse"] == {
        "name": "lookup",
        "response": {"output": "ok"},
        "id": "x1",
    }
    with pytest.raises(InvalidRequest):
        _body_of(_req(Message("tool", [ToolResultPart("nope", [TextPart("ok")])])))


def test_invalid_tool_call_arguments_are_refused() -> None:
    msgs = [Message("user", [TextPart("q")]), Message("assistant", [ToolCallPart("c", "f", "{not json")])]
    with pytest.raises(InvalidRequest):
        gemini.build_request(_req(*msgs), TARGET)


def test_thinking_parts_without_signature_or_redacted_are_not_sent() -> None:
    msgs = [Message("user", [TextPart("q")]), Message("assistant", [ThinkingPart("musing"), TextPart("a")])]
    assert _body_of(_req(*msgs))["contents"][1]["parts"] == [{"text": "a"}]


def test_usage_from_body() -> None:
    obj = {"usageMetadata": {"promptTokenCount": 10, "cachedContentTokenCount": 4, "candidatesTokenCount": 3,
                             "thoughtsTokenCount": 2, "toolUsePromptTokenCount": 1}}
    u = gemini.usage_from_body(obj)
    assert u is not None
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (11, 4, 5, 2)
    assert gemini.usage_from_body({"candidates": []}) is None
    assert gemini.usage_from_body({"usageMetadata": {"promptTokenCount": "x"}}) is None


def test_embeddings_refuse_token_ids_and_reject_user() -> None:
    with pytest.raises(GatewayError) as e:
        gemini.build_embeddings_request(EmbeddingsRequest(model="e", input=[[1, 2]]), TARGET)
    assert e.value.param == "input"
    with pytest.raises(GatewayError) as e:
        gemini.build_embeddings_request(EmbeddingsRequest(model="e", input=["a"], user="u"), TARGET)
    assert e.value.param == "user"


def test_module_has_the_wire_format_shape() -> None:
    assert gemini.name == "gemini"
    assert "parallel_tool_calls" not in gemini.SUPPORTED and "reasoning" in gemini.SUPPORTED
    for fn in ("build_request", "parse_response", "parse_error", "usage_from_body",
               "build_embeddings_request", "parse_embeddings_response"):
        assert callable(getattr(gemini, fn))
