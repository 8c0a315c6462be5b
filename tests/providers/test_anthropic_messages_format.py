"""The Anthropic Messages wire format (provider side), against golden files and the SDK's types.

Golden files live in tests/golden/anthropic_messages/provider/. Each holds its input and
the reviewed ``expected`` output; run with SWITCHGEAR_UPDATE_GOLDEN=1 to rewrite the
expectations after a deliberate change, then review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming, MessageCreateParamsStreaming
from pydantic import TypeAdapter

from switchgear.core.errors import (
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.core.types import (
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamError,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)
from switchgear.providers.formats import anthropic_messages as fmt
from switchgear.providers.formats.base import Target
from switchgear.transport.sse import SSEDecoder

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "anthropic_messages" / "provider"
UPDATE = os.environ.get("SWITCHGEAR_UPDATE_GOLDEN") == "1"

_EVENT = TypeAdapter(RawMessageStreamEvent)
_PARAMS = {False: TypeAdapter(MessageCreateParamsNonStreaming), True: TypeAdapter(MessageCreateParamsStreaming)}


def target(version: str = "2023-06-01", **kw: Any) -> Target:
    return Target(
        provider="anthropic-main",
        vendor="anthropic",
        format="anthropic_messages",
        base_url="https://api.anthropic.com",
        model="claude-sonnet-4-5-20250929",
        headers=(("x-api-key", "sk-ant-test"), ("anthropic-version", version)),
        **kw,
    )


def check_golden(path: Path, actual: Any) -> None:
    data = json.loads(path.read_text()) if path.exists() or not UPDATE else {}
    if UPDATE:
        data["expected"] = actual
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    assert "expected" in data, f"{path.name} has no expected output; run with SWITCHGEAR_UPDATE_GOLDEN=1 and review"
    assert actual == data["expected"]


def materialise(value: Any) -> Any:
    """The SDK's request TypedDicts validate iterables lazily: walk them so they are checked."""
    if isinstance(value, dict):
        return {k: materialise(v) for k, v in value.items()}
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    return [materialise(v) for v in value]


def sdk_validate_request(body: dict[str, Any]) -> None:
    materialise(_PARAMS[bool(body.get("stream"))].validate_python(body))


def encode_events(events: list[Any]) -> list[Any]:
    out = []
    for ev in events:
        if isinstance(ev, StreamError):
            err = ev.error
            out.append({"type": "error", "error": {"class": type(err).__name__, "status": err.status, "message": err.message}})
        else:
            out.append(msgspec.to_builtins(ev))
    return out


def text_request(**kw: Any) -> ChatRequest:
    return ChatRequest(model="alias", messages=[Message(role="user", parts=[TextPart(text="hi")])], **kw)


def body_of(req: ChatRequest, t: Target | None = None) -> dict[str, Any]:
    return json.loads(fmt.build_request(req, t or target()).body)


# ---- build_request -----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((GOLDEN / "request").glob("*.json")), ids=lambda p: p.stem)
def test_build_request_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    req = msgspec.convert(case["canonical"], ChatRequest)
    up = fmt.build_request(req, target(options=case.get("options", {})))
    assert up.method == "POST"
    assert up.path == "/v1/messages"
    assert up.stream is req.stream
    assert ("content-type", "application/json") in up.headers
    assert ("anthropic-version", "2023-06-01") in up.headers and ("x-api-key", "sk-ant-test") in up.headers
    body = json.loads(up.body)
    sdk_validate_request(body)
    check_golden(path, body)


def test_max_tokens_defaults_to_4096_without_an_option() -> None:
    assert body_of(text_request())["max_tokens"] == 4096


def test_thinking_budget_raises_max_tokens_when_it_would_not_fit() -> None:
    from switchgear.core.types import Reasoning

    body = body_of(text_request(reasoning=Reasoning(effort="medium")))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] == 8192 + 4096
    body = body_of(text_request(reasoning=Reasoning(budget_tokens=2000), max_tokens=2000))
    assert body["thinking"]["budget_tokens"] < body["max_tokens"] == 4000


def test_invalid_tool_arguments_name_the_message() -> None:
    req = ChatRequest(
        model="alias",
        messages=[
            Message(role="user", parts=[TextPart(text="go")]),
            Message(role="assistant", parts=[ToolCallPart(id="t1", name="f", arguments="{not json")]),
        ],
    )
    with pytest.raises(InvalidRequest) as exc:
        fmt.build_request(req, target())
    assert exc.value.param == "messages[1]" and "'f'" in exc.value.message
    req.messages[1].parts[0] = ToolCallPart(id="t1", name="f", arguments="[1, 2]")
    with pytest.raises(InvalidRequest, match="JSON object"):
        fmt.build_request(req, target())


def test_parts_a_role_cannot_hold_are_refused() -> None:
    with pytest.raises(InvalidRequest) as exc:
        fmt.build_request(
            ChatRequest(model="a", messages=[Message(role="user", parts=[ThinkingPart(text="x", signature="s")])]),
            target(),
        )
    assert exc.value.param == "messages[0]"
    with pytest.raises(UnsupportedParameter) as exc2:
        fmt.build_request(
            ChatRequest(model="a", messages=[Message(role="system", parts=[ImagePart(url="https://x/y.png")])]),
            target(),
        )
    assert exc2.value.param == "messages[0]"


def test_json_object_response_format_follows_the_policy() -> None:
    req = text_request(response_format=ResponseFormat(type="json_object"))
    with pytest.raises(UnsupportedParameter) as exc:
        fmt.build_request(req, target())
    assert exc.value.param == "response_format"
    assert "output_config" not in body_of(req, target(unsupported_params="drop"))


def test_params_anthropic_lacks_are_rejected_or_dropped() -> None:
    req = text_request(seed=7, presence_penalty=0.5)
    with pytest.raises(UnsupportedParameter) as exc:
        fmt.build_request(req, target())
    assert exc.value.param == "seed"
    body = body_of(req, target(unsupported_params="drop"))
    assert "seed" not in body and "presence_penalty" not in body
    # include_usage is never refused: Anthropic always reports usage.
    assert "stream" in body_of(text_request(stream=True, include_usage=True))


def test_sampling_params_are_gone_from_api_version_2026_10_21() -> None:
    req = text_request(temperature=0.2, top_k=5)
    assert body_of(req)["temperature"] == 0.2
    with pytest.raises(UnsupportedParameter) as exc:
        fmt.build_request(req, target("2026-10-21"))
    assert exc.value.param == "temperature"
    body = body_of(req, target("2026-10-21", unsupported_params="drop"))
    assert "temperature" not in body and "top_k" not in body


def test_extra_params_follow_the_policy_and_never_override() -> None:
    req = text_request(
        response_format=ResponseFormat(type="json_schema", schema={"type": "object"}),
        extra={"service_tier": "auto", "output_config": {"effort": "low", "format": {"type": "bogus"}}, "model": "x"},
    )
    with pytest.raises(UnsupportedParameter) as exc:
        fmt.build_request(req, target())
    assert exc.value.param == "service_tier"
    body = body_of(req, target(extra_params="pass"))
    assert body["service_tier"] == "auto"
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["output_config"] == {"effort": "low", "format": {"type": "json_schema", "schema": {"type": "object"}}}
    assert "service_tier" not in body_of(req, target(extra_params="drop"))


def test_passthrough_keeps_every_field_and_rewrites_only_the_model() -> None:
    raw = {
        "model": "my-alias",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "container": {"id": "c1"},
        "context_management": {"edits": []},
        "stream": True,
    }
    up = fmt.build_passthrough(raw, target(), True)
    assert up.path == "/v1/messages" and up.stream is True
    assert json.loads(up.body) == {**raw, "model": "claude-sonnet-4-5-20250929"}
    assert raw["model"] == "my-alias"  # the client's body is left for other attempts
    assert json.loads(fmt.build_passthrough(raw, target(), False).body)["stream"] is False


# ---- parse_response ----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((GOLDEN / "response").glob("*.json")), ids=lambda p: p.stem)
def test_parse_response_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    SDKMessage.model_validate(case["body"])  # the fixture is a real Anthropic message
    resp = fmt.parse_response(json.dumps(case["body"]).encode(), target())
    check_golden(path, msgspec.to_builtins(resp))


def test_usage_counts_cached_tokens_as_input() -> None:
    body = {"usage": {"input_tokens": 12, "cache_creation_input_tokens": 1500, "cache_read_input_tokens": 20000, "output_tokens": 9}}
    usage = fmt.usage_from_body(body)
    assert usage == Usage(input_tokens=21512, output_tokens=9, cached_input_tokens=20000, cache_write_tokens=1500)
    assert fmt.usage_from_body({"usage": {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": None}}) == Usage(
        input_tokens=3, output_tokens=1
    )
    assert fmt.usage_from_body({"id": "x"}) is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("pause_turn", "pause"),
     ("refusal", "content_filter"), ("model_context_window_exceeded", "length")],
)  # fmt: skip
def test_stop_reasons(reason: str, expected: str) -> None:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
            "stop_reason": reason, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}  # fmt: skip
    assert fmt.parse_response(json.dumps(body).encode(), target()).choices[0].finish_reason == expected


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"type": "message"}', b"\xff\xfe"])
def test_unreadable_responses_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        fmt.parse_response(body, target())


# ---- StreamParser ------------------------------------------------------------------------


def stream_cases() -> list[Path]:
    return sorted((GOLDEN / "stream").glob("*.sse"))


def run_parser(raw: bytes, chunk: int) -> list[Any]:
    parser = fmt.StreamParser(target())
    events: list[Any] = []
    for i in range(0, len(raw), chunk):
        events += parser.feed(raw[i : i + chunk])
    return events + parser.close()


@pytest.mark.parametrize("path", stream_cases(), ids=lambda p: p.stem)
def test_stream_parser_golden(path: Path) -> None:
    raw = path.read_bytes()
    for ev in SSEDecoder().feed(raw):  # the fixture's events are real Anthropic events
        if ev.event not in ("ping", "error"):
            _EVENT.validate_json(ev.data)
    whole = encode_events(run_parser(raw, len(raw)))
    assert encode_events(run_parser(raw, 7)) == whole  # byte boundaries do not matter
    check_golden(path.with_suffix(".json"), whole)


def test_stream_error_event_becomes_the_errors_equivalent() -> None:
    events = run_parser((GOLDEN / "stream" / "error_event.sse").read_bytes(), 64)
    assert isinstance(events[-1], StreamError)
    err = events[-1].error
    assert isinstance(err, UpstreamOverloaded) and err.status == 503 and err.retryable
    assert sum(isinstance(e, StreamError) for e in events) == 1  # close() adds nothing after an error


def test_truncated_stream_fails_on_close() -> None:
    events = run_parser((GOLDEN / "stream" / "truncated.sse").read_bytes(), 50)
    assert isinstance(events[-1], StreamError) and isinstance(events[-1].error, UpstreamProtocolError)


def test_events_after_message_stop_are_ignored() -> None:
    raw = (GOLDEN / "stream" / "stop_sequence.sse").read_bytes()
    parser = fmt.StreamParser(target())
    events = parser.feed(raw)
    assert parser.feed(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"late"}}\n\n') == []
    assert parser.close() == [] and events


def test_unreadable_stream_event_is_a_protocol_error() -> None:
    parser = fmt.StreamParser(target())
    events = parser.feed(b"event: message_start\ndata: {oops\n\n")
    assert len(events) == 1 and isinstance(events[0].error, UpstreamProtocolError)


# ---- PassthroughStream -------------------------------------------------------------------


def run_passthrough(raw: bytes, chunk: int) -> tuple[fmt.PassthroughStream, bytes]:
    ps = fmt.PassthroughStream()
    out = b"".join(ps.feed(raw[i : i + chunk]) for i in range(0, len(raw), chunk))
    return ps, out


@pytest.mark.parametrize("path", stream_cases(), ids=lambda p: p.stem)
def test_passthrough_forwards_every_whole_event_untouched(path: Path) -> None:
    raw = path.read_bytes()
    ps, out = run_passthrough(raw, 5)
    assert SSEDecoder().feed(out) == SSEDecoder().feed(raw)
    assert out.endswith(b"\n\n") or not out


def test_passthrough_usage_and_end() -> None:
    ps, _ = run_passthrough((GOLDEN / "stream" / "text_cache_usage.sse").read_bytes(), 11)
    assert ps.finished and ps.error is None
    assert ps.usage == Usage(input_tokens=2125, output_tokens=15, cached_input_tokens=2000, cache_write_tokens=100)


def test_passthrough_error_event_is_forwarded_and_recorded() -> None:
    ps, out = run_passthrough((GOLDEN / "stream" / "error_event.sse").read_bytes(), 9)
    assert b"event: error\n" in out
    assert isinstance(ps.error, UpstreamOverloaded) and not ps.finished
    assert ps.usage == Usage(input_tokens=10, output_tokens=1)


def test_passthrough_truncated_stream() -> None:
    ps, out = run_passthrough((GOLDEN / "stream" / "truncated.sse").read_bytes(), 13)
    assert not ps.finished and ps.error is None
    assert out.count(b"event: content_block_delta") == 1  # the half event is never forwarded
    ps.close()
    assert isinstance(ps.error, UpstreamProtocolError)


# ---- parse_error -------------------------------------------------------------------------


def anthropic_error(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}).encode()


@pytest.mark.parametrize(
    ("status", "kind", "message", "cls", "code", "out_status"),
    [
        (400, "invalid_request_error", "messages: roles must alternate", UpstreamRejected, "upstream_rejected", 400),
        (400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", ContextWindowExceeded, "context_length_exceeded", 400),
        (400, "invalid_request_error", "max_tokens: prompt is too long for this", UpstreamRejected, "upstream_rejected", 400),
        (401, "authentication_error", "invalid x-api-key", UpstreamError, "upstream_auth_failed", 502),
        (403, "permission_error", "no access to model", UpstreamError, "upstream_auth_failed", 502),
        (402, "billing_error", "credit balance too low", UpstreamError, "upstream_billing_failed", 502),
        (404, "not_found_error", "model: claude-nope", UpstreamRejected, "upstream_rejected", 404),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", UpstreamRejected, "request_too_large", 413),
        (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", UpstreamRateLimited, "rate_limit_exceeded", 429),
        (500, "api_error", "Internal server error", UpstreamServerError, "upstream_server_error", 502),
        (504, "timeout_error", "Request timed out", UpstreamTimeout, "upstream_timeout", 504),
        (529, "overloaded_error", "Overloaded", UpstreamOverloaded, "upstream_overloaded", 503),
    ],
)  # fmt: skip
def test_parse_error(status: int, kind: str, message: str, cls: type, code: str, out_status: int) -> None:
    err = fmt.parse_error(status, {"retry-after": "17"}, anthropic_error(kind, message))
    assert type(err) is cls
    assert (err.code, err.status) == (code, out_status)
    assert message in err.message


def test_rate_limit_keeps_retry_after() -> None:
    err = fmt.parse_error(429, {"retry-after": "17"}, anthropic_error("rate_limit_error", "slow down"))
    assert err.retry_after == 17.0 and err.retryable
    assert err.response_headers() == [("retry-after", "17")]
    assert fmt.parse_error(429, {}, anthropic_error("rate_limit_error", "x")).retry_after is None
    assert fmt.parse_error(429, {"retry-after": "soon"}, anthropic_error("rate_limit_error", "x")).retry_after is None


def test_gateway_faults_are_retryable_elsewhere_and_client_faults_are_not() -> None:
    assert fmt.parse_error(401, {}, anthropic_error("authentication_error", "bad key")).retryable
    assert not fmt.parse_error(400, {}, anthropic_error("invalid_request_error", "bad")).retryable
    assert not fmt.parse_error(400, {}, anthropic_error("invalid_request_error", "prompt is too long: 2 > 1")).retryable


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (502, b"<html>Bad Gateway</html>", UpstreamServerError),
        (503, b"", UpstreamOverloaded),
        (400, b"plain text problem", UpstreamRejected),
        (500, b'{"unexpected": true}', UpstreamServerError),
        (418, b"\xff\xfe", UpstreamRejected),
    ],
)
def test_parse_error_handles_bodies_that_are_not_anthropic_errors(status: int, body: bytes, cls: type) -> None:
    err = fmt.parse_error(status, {}, body)
    assert type(err) is cls
    assert isinstance(err, GatewayError) and err.message


def test_error_status_kept_for_other_4xx() -> None:
    err = fmt.parse_error(409, {}, anthropic_error("conflict_error", "conflict"))
    assert isinstance(err, UpstreamRejected) and err.status == 409


def test_mid_conversation_system_only_follows_a_user_turn() -> None:
    req = ChatRequest(
        model="a",
        messages=[
            Message(role="user", parts=[TextPart(text="q")]),
            Message(role="assistant", parts=[TextPart(text="a")]),
            Message(role="system", parts=[TextPart(text="late rule")]),
            Message(role="user", parts=[TextPart(text="q2")]),
        ],
    )
    body = body_of(req, target(options={"mid_conversation_system": True}))
    assert body["system"] == [{"type": "text", "text": "late rule"}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_images_need_a_usable_source() -> None:
    for part in (ImagePart(url="data:image/png,rawbytes"), ImagePart(data="abc"), ImagePart()):
        req = ChatRequest(model="a", messages=[Message(role="user", parts=[part])])
        with pytest.raises(InvalidRequest) as exc:
            fmt.build_request(req, target())
        assert exc.value.param == "messages[0]"


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.data())
def test_passthrough_same_outcome_however_the_stream_is_read(data: st.DataObject) -> None:
    """Reads holding many events take the unscanned middle path; reads of one event the
    examined path. Either way the client gets the same events and we learn the same."""
    path = data.draw(st.sampled_from(stream_cases()))
    raw = path.read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=6)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    ps = fmt.PassthroughStream()
    out = b"".join(ps.feed(p) for p in pieces)
    ref, ref_out = run_passthrough(raw, 1)  # one byte at a time: every event examined
    ps.close()
    ref.close()
    assert SSEDecoder().feed(out) == SSEDecoder().feed(ref_out)
    assert (ps.usage, ps.finished, type(ps.error)) == (ref.usage, ref.finished, type(ref.error))
