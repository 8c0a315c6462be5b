"""The OpenAI Chat Completions frontend (an OpenAI client -> Switchgear -> back).

Golden files in tests/golden/openai_chat/frontend/:
  client_request_*.json        client body -> canonical ChatRequest
  completion_*.json            canonical ChatResponse -> chat.completion
  render_stream_*.events.json  canonical events -> render_stream_*.sse
Every rendered object is validated against OpenAI's OpenAPI schemas, and the real
OpenAI SDK reads what we render (over an in-memory HTTP transport).
Regenerate expectations (then review the diff!) with SWITCHGEAR_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx2
import msgspec
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.core import errors as E
from switchgear.core.types import (
    ChatResponse,
    Choice,
    Finish,
    Message,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from switchgear.frontends import openai_chat as front
from switchgear.providers.formats import openai_chat as fmt
from switchgear.providers.formats.base import Target
from switchgear.transport.sse import SSEDecoder
from tests.openapi_schema import assert_chat_chunk, assert_chat_completion, assert_chat_request, assert_error

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openai_chat" / "frontend"
UPDATE = os.environ.get("SWITCHGEAR_UPDATE_GOLDEN") == "1"


def _cases(pattern: str) -> list[Path]:
    return sorted(GOLDEN.glob(pattern))


def _golden_json(path: Path, actual: object) -> None:
    data = json.loads(path.read_text())
    if UPDATE:
        data["expected"] = actual
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    assert actual == data["expected"], f"{path.name} differs from its golden expectation"


_ERROR_CLASSES = {name: getattr(E, name) for name in dir(E) if isinstance(getattr(E, name), type)}


def _events(items: list[dict]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for item in items:
        if item["type"] == "error":
            spec = item["error"]
            out.append(StreamError(_ERROR_CLASSES[spec["class"]](spec["message"])))
        else:
            out.append(msgspec.convert(item, StreamEvent))
    return out


def _render_stream(spec: dict) -> bytes:
    r = front.StreamRenderer(spec["model"], spec["include_usage"])
    events = _events(spec["events"])
    out = b"".join(r.render(e) for e in events)
    if not any(type(e) is StreamError for e in events):
        out += r.done()
    return out


def _payloads(sse: bytes) -> list[Any]:
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in SSEDecoder().feed(sse)]


# ---- client requests -------------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("client_request_*.json"), ids=lambda p: p.stem)
def test_client_request_golden(path: Path) -> None:
    body = json.loads(path.read_text())["body"]
    raw = front.parse_body(json.dumps(body).encode())
    assert raw == body  # parse_body returns the client's object as sent
    _golden_json(path, msgspec.to_builtins(front.to_canonical(raw)))


def _bad(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def _msgs(*extra: dict) -> list[dict]:
    return [{"role": "user", "content": "hi"}, *extra]


PARSE_ERRORS = [
    (b"", None, "The request body is empty; expected a JSON object."),
    (b'{"model": "m", "messages": [', None, "The request body is not valid JSON: Input data was truncated."),
    (b'{"model": "\xff"}', None, "The request body is not valid UTF-8."),
    (b"[1, 2]", None, "The request body must be a JSON object, but got an array instead."),
    ({"messages": _msgs()}, "model", "Missing required parameter: 'model'."),
    ({"model": "m"}, "messages", "Missing required parameter: 'messages'."),
    ({"model": "", "messages": _msgs()}, "model", "Invalid value for 'model': the model name must not be empty."),
    ({"model": 5, "messages": _msgs()}, "model", "Invalid type for 'model': expected a string, but got an integer instead."),
    ({"model": "m", "messages": []}, "messages",
     "Invalid value for 'messages': expected an array with minimum length 1, but got an empty array instead."),
    ({"model": "m", "messages": "hi"}, "messages", "Invalid type for 'messages': expected an array, but got a string instead."),
    ({"model": "m", "messages": ["hi"]}, "messages[0]", "Invalid type for 'messages[0]': expected an object, but got a string instead."),
    ({"model": "m", "messages": [{"content": "x"}]}, "messages[0].role", "Missing required parameter: 'messages[0].role'."),
    ({"model": "m", "messages": _msgs({"role": "robot", "content": "x"})}, "messages[1].role", None),
    ({"model": "m", "messages": _msgs({"role": "user", "content": 5}), "stream": True}, "messages[1].content",
     "Invalid type for 'messages[1].content': expected a string or an array of content parts, but got an integer instead."),
    ({"model": "m", "messages": _msgs(), "stream": "yes"}, "stream",
     "Invalid type for 'stream': expected a boolean, but got a string instead."),
    ({"model": "m", "messages": _msgs(), "max_tokens": 0}, "max_tokens",
     "Invalid value for 'max_tokens': expected a value >= 1, but got 0 instead."),
    ({"model": "m", "messages": _msgs(), "max_completion_tokens": True}, "max_completion_tokens",
     "Invalid type for 'max_completion_tokens': expected an integer, but got a boolean instead."),
    ({"model": "m", "messages": _msgs(), "temperature": 2.5}, "temperature",
     "Invalid value for 'temperature': expected a number between 0 and 2, but got 2.5 instead."),
    ({"model": "m", "messages": _msgs(), "temperature": "hot"}, "temperature",
     "Invalid type for 'temperature': expected a decimal, but got a string instead."),
    ({"model": "m", "messages": _msgs(), "top_p": 1.5}, "top_p", None),
    ({"model": "m", "messages": _msgs(), "n": 0}, "n", None),
    ({"model": "m", "messages": _msgs(), "stop": ["a", "b", "c", "d", "e"]}, "stop",
     "Invalid value for 'stop': at most 4 stop sequences are allowed, but got 5."),
    ({"model": "m", "messages": _msgs(), "stop": ["a", 1]}, "stop[1]", None),
    ({"model": "m", "messages": _msgs(), "tools": {}}, "tools", None),
    ({"model": "m", "messages": _msgs(), "tool_choice": 1}, "tool_choice", None),
    ({"model": "m", "messages": _msgs(), "top_logprobs": 21}, "top_logprobs", None),
    ({"model": "m", "messages": _msgs(), "reasoning_effort": "max"}, "reasoning_effort", None),
    ({"model": "m", "messages": _msgs(), "presence_penalty": -3}, "presence_penalty", None),
    ({"model": "m", "messages": _msgs(), "response_format": "json"}, "response_format", None),
    ({"model": "m", "messages": _msgs(), "user": 7}, "user", None),
]


@pytest.mark.parametrize(("body", "param", "message"), PARSE_ERRORS, ids=[str(r[1]) + f"-{i}" for i, r in enumerate(PARSE_ERRORS)])
def test_parse_body_errors(body: Any, param: str | None, message: str | None) -> None:
    with pytest.raises(E.InvalidRequest) as info:
        front.parse_body(_bad(body))
    assert info.value.param == param and info.value.status == 400
    if message is not None:
        assert info.value.message == message


def test_parse_body_accepts_nulls_and_unknown_fields() -> None:
    body = {"model": "m", "messages": _msgs(), "temperature": None, "stop": None, "stream": None, "verbosity": "low",
            "prompt_cache_key": "k", "max_tokens": None}
    assert front.parse_body(_bad(body)) == body
    req = front.to_canonical(body)
    assert req.temperature is None and req.stop is None and req.stream is False
    assert req.extra == {"verbosity": "low", "prompt_cache_key": "k"}


CANONICAL_ERRORS = [
    (_msgs({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}),
     E.UnsupportedParameter, "messages[1].content[0].type"),
    (_msgs({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "file", "file": {"file_id": "f"}}]}),
     E.UnsupportedParameter, "messages[1].content[1].type"),
    (_msgs({"role": "user", "content": [{"type": "video"}]}), E.InvalidRequest, "messages[1].content[0].type"),
    (_msgs({"role": "user", "content": [{"type": "text"}]}), E.InvalidRequest, "messages[1].content[0].text"),
    (_msgs({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}), E.InvalidRequest,
     "messages[1].content[0].image_url.url"),
    (_msgs({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}]}),
     E.InvalidRequest, "messages[1].content[0].image_url.detail"),
    (_msgs({"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}), E.InvalidRequest,
     "messages[1].content[0].type"),
    (_msgs({"role": "user"}), E.InvalidRequest, "messages[1].content"),
    (_msgs({"role": "tool", "content": "x"}), E.InvalidRequest, "messages[1].tool_call_id"),
    (_msgs({"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}),
     E.InvalidRequest, "messages[1].tool_calls[0].function.arguments"),
    (_msgs({"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}]}),
     E.UnsupportedParameter, "messages[1].tool_calls[0].type"),
    (_msgs({"role": "assistant", "content": "x", "audio": {"id": "audio_1"}}), E.UnsupportedParameter, "messages[1].audio"),
    (_msgs({"role": "user", "content": "x", "name": 3}), E.InvalidRequest, "messages[1].name"),
    (_msgs({"role": "function", "content": "x"}), E.InvalidRequest, "messages[1].name"),
]


@pytest.mark.parametrize(("messages", "cls", "param"), CANONICAL_ERRORS, ids=[r[2] for r in CANONICAL_ERRORS])
def test_to_canonical_message_errors(messages: list, cls: type, param: str) -> None:
    raw = front.parse_body(_bad({"model": "m", "messages": messages}))
    with pytest.raises(E.InvalidRequest) as info:
        front.to_canonical(raw)
    assert type(info.value) is cls and info.value.param == param


TOP_LEVEL_ERRORS = [
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, E.UnsupportedParameter, "tools[0].type"),
    ({"tools": [{"function": {"name": "x"}}]}, E.InvalidRequest, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, E.InvalidRequest, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}, E.InvalidRequest,
     "tools[0].function.parameters"),
    ({"tool_choice": "sometimes"}, E.InvalidRequest, "tool_choice"),
    ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}, E.UnsupportedParameter,
     "tool_choice.type"),
    ({"tool_choice": {"type": "function", "function": {}}}, E.InvalidRequest, "tool_choice.function.name"),
    ({"response_format": {"type": "xml"}}, E.InvalidRequest, "response_format.type"),
    ({"response_format": {"type": "json_schema"}}, E.InvalidRequest, "response_format.json_schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, E.InvalidRequest,
     "response_format.json_schema.name"),
    ({"function_call": "always"}, E.InvalidRequest, "function_call"),
]


@pytest.mark.parametrize(("fields", "cls", "param"), TOP_LEVEL_ERRORS, ids=[r[2] for r in TOP_LEVEL_ERRORS])
def test_to_canonical_field_errors(fields: dict, cls: type, param: str) -> None:
    raw = front.parse_body(_bad({"model": "m", "messages": _msgs(), **fields}))
    with pytest.raises(E.InvalidRequest) as info:
        front.to_canonical(raw)
    assert type(info.value) is cls and info.value.param == param


@pytest.mark.parametrize(
    ("effort", "expected"),
    [("minimal", {"effort": "minimal"}), ("low", {"effort": "low"}), ("medium", {"effort": "medium"}),
     ("high", {"effort": "high"}), ("xhigh", {"effort": "high"}), ("none", {"budget_tokens": 0})],
)
def test_reasoning_effort_mapping(effort: str, expected: dict) -> None:
    req = front.to_canonical(front.parse_body(_bad({"model": "m", "messages": _msgs(), "reasoning_effort": effort})))
    assert msgspec.to_builtins(req.reasoning) == expected


def test_max_tokens_aliases() -> None:
    def mt(**kw: int) -> int | None:
        return front.to_canonical({"model": "m", "messages": _msgs(), **kw}).max_tokens

    assert mt(max_tokens=10) == 10
    assert mt(max_completion_tokens=20) == 20
    assert mt(max_tokens=10, max_completion_tokens=20) == 20


def test_include_usage_only_when_streaming() -> None:
    assert front.to_canonical({"model": "m", "messages": _msgs(), "stream": True,
                               "stream_options": {"include_usage": True}}).include_usage is True
    assert front.to_canonical({"model": "m", "messages": _msgs(), "stream": True}).include_usage is False
    assert front.to_canonical({"model": "m", "messages": _msgs(), "stream_options": {"include_usage": True}}).include_usage is False


# ---- round trip: OpenAI request -> canonical -> OpenAI request -------------------------

ROUND_TRIP_TARGET = Target(
    provider="p", vendor="openai", format="openai_chat", base_url="https://api.openai.com/v1", model="gpt-4o",
    renames=(("max_tokens", "max_completion_tokens"),), extra_params="pass",
)


def _round_trip(body: dict) -> dict:
    req = front.to_canonical(front.parse_body(json.dumps(body).encode()))
    return json.loads(fmt.build_request(req, ROUND_TRIP_TARGET).body)


def test_round_trip_full_request_preserves_meaning() -> None:
    body = json.loads((GOLDEN / "client_request_full.json").read_text())["body"]
    out = _round_trip(body)
    expected = {k: v for k, v in body.items() if v is not None and k not in ("max_tokens", "stream_options")}
    expected["model"] = "gpt-4o"
    expected["stop"] = ["\n\n"]  # a string stop is the one-element list
    expected["stream_options"] = {"include_usage": True}  # always asked for; obfuscation is ours to skip
    for key in ("temperature", "presence_penalty"):
        expected[key] = float(body[key])
    msgs = expected["messages"] = json.loads(json.dumps(body["messages"]))
    msgs[5]["content"] = "a dog"  # a one-text-part array is the same as its string
    msgs[6]["content"] = [{"type": "text", "text": "A cat and a dog."}, {"type": "text", "text": "No more."}]  # refusal -> text
    assert out == expected
    assert_chat_request(out)


def test_round_trip_legacy_functions_become_tools() -> None:
    body = json.loads((GOLDEN / "client_request_legacy_functions.json").read_text())["body"]
    out = _round_trip(body)
    assert out["tools"] == [{"type": "function", "function": body["functions"][0]}]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "now"}}
    assert out["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_fn_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}
    assert out["messages"][2] == {"role": "tool", "tool_call_id": "call_fn_1", "content": "12:00"}
    assert_chat_request(out)


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_floats = st.floats(min_value=0, max_value=2, allow_nan=False).map(lambda f: round(f, 3))


@st.composite
def _conversation(draw: st.DrawFn) -> list[dict]:
    msgs: list[dict] = []
    if draw(st.booleans()):
        msgs.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(_text)})
    for turn in range(draw(st.integers(min_value=1, max_value=3))):
        msgs.append({"role": "user", "content": draw(_text)})
        if draw(st.booleans()):
            n = draw(st.integers(min_value=1, max_value=3))
            calls = [{"id": f"call_{turn}_{i}", "type": "function",
                      "function": {"name": draw(st.sampled_from(["a", "b_c"])), "arguments": draw(_text)}} for i in range(n)]
            msgs.append({"role": "assistant", "content": draw(st.one_of(st.none(), _text.filter(bool))), "tool_calls": calls})
            msgs += [{"role": "tool", "tool_call_id": c["id"], "content": draw(_text)} for c in calls]
        else:
            msgs.append({"role": "assistant", "content": draw(_text.filter(bool))})
    return msgs


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    messages=_conversation(),
    params=st.fixed_dictionaries({}, optional={
        "temperature": _floats, "top_p": _floats.map(lambda f: f / 2), "max_completion_tokens": st.integers(1, 10_000),
        "seed": st.integers(-(2**31), 2**31), "n": st.integers(1, 4), "stop": st.lists(_text, min_size=1, max_size=4),
        "logprobs": st.booleans(), "top_logprobs": st.integers(0, 20), "presence_penalty": _floats.map(lambda f: f - 1),
        "frequency_penalty": _floats.map(lambda f: 1 - f), "user": _text, "parallel_tool_calls": st.booleans(),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high"]),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
        "metadata": st.dictionaries(st.sampled_from(["a", "b"]), _text),
    }),
)
def test_round_trip_property(messages: list[dict], params: dict) -> None:
    body = {"model": "alias", "messages": messages, **params}
    assert _round_trip(body) == {**body, "model": "gpt-4o"}


# ---- rendering responses ---------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("completion_*.json"), ids=lambda p: p.stem)
def test_render_response_golden(path: Path) -> None:
    data = json.loads(path.read_text())
    resp = msgspec.convert(data["response"], ChatResponse)
    out = json.loads(front.render_response(resp, data["model"]))
    assert_chat_completion(out)
    _golden_json(path, out)


def test_render_response_fills_id_and_created() -> None:
    resp = ChatResponse(id="", model="x", choices=[Choice(0, Message("assistant", [TextPart("a")]))])
    out = json.loads(front.render_response(resp, "alias"))
    assert out["id"].startswith("chatcmpl-") and out["created"] > 1_700_000_000
    assert out["choices"][0]["finish_reason"] == "stop" and "usage" not in out
    assert_chat_completion(out)


@pytest.mark.parametrize("path", _cases("render_stream_*.events.json"), ids=lambda p: p.name.split(".")[0])
def test_stream_renderer_golden(path: Path) -> None:
    spec = json.loads(path.read_text())
    out = _render_stream(spec)
    sse_path = path.with_name(path.name.replace(".events.json", ".sse"))
    if UPDATE:
        sse_path.write_bytes(out)
    assert out == sse_path.read_bytes(), f"{sse_path.name} differs from its golden expectation"
    for payload in _payloads(out):
        if payload == "[DONE]":
            continue
        if "error" in payload:
            assert_error(payload)
        else:
            assert_chat_chunk(payload)


def test_stream_renderer_role_once_per_choice_and_usage_once() -> None:
    r = front.StreamRenderer("alias", include_usage=True)
    frames = [r.render(StreamStart("id1", "m", 5)), r.render(TextDelta("a")), r.render(TextDelta("b", choice=2)),
              r.render(TextDelta("c", choice=2)), r.render(UsageEvent(Usage(1, 2))), r.render(UsageEvent(Usage(1, 2)))]
    chunks = [_payloads(f)[0] for f in frames if f]
    roles = [(c["choices"][0]["index"], "role" in c["choices"][0]["delta"]) for c in chunks if c["choices"]]
    assert roles == [(0, True), (0, False), (2, True), (2, False)]
    assert frames[-1] == b"" and chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 3
    assert {c["id"] for c in chunks} == {"id1"} and {c["model"] for c in chunks} == {"alias"}


def test_stream_renderer_without_start_still_valid() -> None:
    r = front.StreamRenderer("alias")
    payload = _payloads(r.render(Finish("length")))[0]
    assert_chat_chunk(payload)
    assert payload["choices"][0]["finish_reason"] == "length" and payload["id"].startswith("chatcmpl-")


# ---- errors ----------------------------------------------------------------------------

ERRORS = [
    # error, status, type, code, param, extra headers
    (E.InvalidRequest("bad temperature", param="temperature"), 400, "invalid_request_error", "invalid_request", "temperature", []),
    (E.UnsupportedParameter("no top_k", param="top_k"), 400, "invalid_request_error", "unsupported_parameter", "top_k", []),
    (E.ContextWindowExceeded("too long", param="messages"), 400, "invalid_request_error", "context_length_exceeded",
     "messages", []),
    (E.AuthenticationFailed("Incorrect API key provided."), 401, "invalid_request_error", "invalid_api_key", None, []),
    (E.PermissionDenied("model not allowed"), 403, "permission_error", "permission_denied", None, []),
    (E.NotFound("no such route"), 404, "invalid_request_error", "not_found", None, []),
    (E.ModelNotFound("The model `x` does not exist"), 404, "invalid_request_error", "model_not_found", None, []),
    (E.PayloadTooLarge("body too large"), 413, "invalid_request_error", "request_too_large", None, []),
    (E.RateLimited("slow down", retry_after=1.2), 429, "requests", "rate_limit_exceeded", None, [("retry-after", "2")]),
    (E.RateLimited("tokens", retry_after=0, code="token_rate_limit_exceeded"), 429, "tokens", "token_rate_limit_exceeded",
     None, [("retry-after", "0")]),
    (E.UpstreamRateLimited("quota", code="upstream_quota_exceeded"), 429, "insufficient_quota", "upstream_quota_exceeded",
     None, []),
    (E.UpstreamRejected("provider says no", status=422), 422, "invalid_request_error", "upstream_rejected", None, []),
    (E.UpstreamRejected("creds", status=502, code="upstream_auth_failed"), 502, "server_error", "upstream_auth_failed", None, []),
    (E.ContentFiltered("filtered"), 400, "invalid_request_error", "content_filter", None, []),
    (E.UpstreamServerError("boom"), 502, "server_error", "upstream_server_error", None, []),
    (E.UpstreamOverloaded("busy", retry_after=30), 503, "server_error", "upstream_overloaded", None, [("retry-after", "30")]),
    (E.UpstreamTimeout("slow"), 504, "server_error", "upstream_timeout", None, []),
    (E.InternalError("KeyError: 'secret'"), 500, "server_error", "internal_error", None, []),
]


@pytest.mark.parametrize(("err", "status", "etype", "code", "param", "headers"), ERRORS, ids=[r[0].code for r in ERRORS])
def test_render_error_table(err, status, etype, code, param, headers) -> None:
    out_status, out_headers, body = front.render_error(err)
    assert out_status == status
    assert out_headers == [("content-type", "application/json"), *headers]
    obj = json.loads(body)
    assert_error(obj)
    assert obj == {"error": {"message": err.public_message(), "type": etype, "param": param, "code": code}}


def test_render_error_hides_unsafe_messages() -> None:
    _, _, body = front.render_error(E.InternalError("Traceback: password=hunter2"))
    assert b"hunter2" not in body and json.loads(body)["error"]["message"] == "internal error"
    frame = front.StreamRenderer("m").error(E.InternalError("password=hunter2"))
    assert b"hunter2" not in frame


# ---- the real OpenAI SDK reads what we render -------------------------------------------


def _sdk(handler: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-client", base_url="http://gateway.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


def test_sdk_requests_parse_and_convert() -> None:
    seen: list[bytes] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.content)
        resp = ChatResponse(id="chatcmpl-1", model="x", created=1,
                            choices=[Choice(0, Message("assistant", [TextPart("ok")]), "stop")], usage=Usage(3, 1))
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=front.render_response(resp, "alias"))

    client = _sdk(handler)
    result = client.chat.completions.create(
        model="alias",
        messages=[{"role": "developer", "content": "be brief"},
                  {"role": "user", "content": [{"type": "text", "text": "what?"},
                                               {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGRg=="}}]}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
        tool_choice="auto", max_completion_tokens=64, reasoning_effort="medium", temperature=0.3, stop=["x"],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True}},
        metadata={"k": "v"}, store=False,
    )
    assert result.choices[0].message.content == "ok" and result.usage.total_tokens == 4
    req = front.to_canonical(front.parse_body(seen[0]))
    assert req.model == "alias" and req.max_tokens == 64 and req.reasoning.effort == "medium"
    assert req.messages[0].role == "developer"
    assert req.messages[1].parts[1].media_type == "image/webp" and req.messages[1].parts[1].data == "UklGRg=="
    assert req.tools[0].name == "f" and req.tool_choice.mode == "auto" and req.stop == ["x"]
    assert req.response_format.name == "r" and req.response_format.strict is True
    assert req.extra == {"metadata": {"k": "v"}, "store": False}


def test_sdk_reads_rendered_response_with_tools_and_reasoning() -> None:
    path = GOLDEN / "completion_thinking_anthropic.json"
    data = json.loads(path.read_text())
    body = front.render_response(msgspec.convert(data["response"], ChatResponse), data["model"])
    client = _sdk(lambda request: httpx2.Response(200, headers={"content-type": "application/json"}, content=body))
    result = client.chat.completions.create(model="claude-alias", messages=[{"role": "user", "content": "x"}])
    msg = result.choices[0].message
    assert msg.content == "Answer." and msg.tool_calls[0].function.arguments == '{"x":1}'
    assert msg.model_extra["reasoning_content"] == "Let me think."
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.prompt_tokens_details.cached_tokens == 64
    assert result.usage.completion_tokens_details.reasoning_tokens == 8


def test_sdk_streams_rendered_chunks() -> None:
    spec = json.loads((GOLDEN / "render_stream_tools.events.json").read_text())
    body = _render_stream(spec)
    client = _sdk(lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body))
    chunks = list(client.chat.completions.create(model="my-alias", messages=[{"role": "user", "content": "x"}], stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += tc.id or ""
            call["name"] += (tc.function.name or "") if tc.function else ""
            call["arguments"] += (tc.function.arguments or "") if tc.function else ""
    assert text == "Let me check."
    assert calls == {0: {"id": "toolu_a", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                     1: {"id": "toolu_b", "name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    assert chunks[-1].usage.prompt_tokens == 50 and chunks[-1].usage.completion_tokens == 30
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_sdk_raises_on_midstream_error_frame() -> None:
    r = front.StreamRenderer("m", False)
    body = r.render(StreamStart("c", "m", 1)) + r.render(TextDelta("Part")) + r.error(E.UpstreamTimeout("upstream went quiet"))
    client = _sdk(lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body))
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "Part"]
    assert info.value.message == "upstream went quiet"
    assert info.value.code == "upstream_timeout" and info.value.type == "server_error"


@pytest.mark.parametrize(
    ("err", "sdk_error"),
    [
        (E.InvalidRequest("bad", param="temperature"), openai.BadRequestError),
        (E.AuthenticationFailed("no key"), openai.AuthenticationError),
        (E.PermissionDenied("nope"), openai.PermissionDeniedError),
        (E.ModelNotFound("no model"), openai.NotFoundError),
        (E.RateLimited("slow", retry_after=3), openai.RateLimitError),
        (E.UpstreamRejected("unprocessable", status=422), openai.UnprocessableEntityError),
        (E.UpstreamServerError("boom"), openai.InternalServerError),
        (E.UpstreamOverloaded("busy"), openai.InternalServerError),
    ],
)
def test_sdk_maps_rendered_errors(err: E.GatewayError, sdk_error: type) -> None:
    status, headers, body = front.render_error(err)
    client = _sdk(lambda request: httpx2.Response(status, headers=headers, content=body))
    with pytest.raises(sdk_error) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status
    assert info.value.message.endswith(err.public_message()) or err.public_message() in info.value.message
    assert info.value.code == json.loads(body)["error"]["code"] and info.value.param == err.param


# ---- one translated stream, end to end: OpenAI SSE in, OpenAI SSE out -----------------


def test_translated_stream_end_to_end_matches_upstream_meaning() -> None:
    raw = (GOLDEN.parent / "provider" / "stream_tool_calls.sse").read_bytes()
    parser = fmt.StreamParser(ROUND_TRIP_TARGET)
    r = front.StreamRenderer("alias", include_usage=True)
    events = parser.feed(raw) + parser.close()
    out = b"".join(r.render(e) for e in events) + r.done()
    upstream = [p for p in _payloads(raw) if p != "[DONE]"]
    ours = [p for p in _payloads(out) if p != "[DONE]"]
    for p in ours:
        assert_chat_chunk(p)

    def calls(chunks: list[dict]) -> list[tuple]:
        return [(tc["index"], tc.get("id"), tc.get("function", {}).get("name"), tc.get("function", {}).get("arguments", ""))
                for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls", [])]

    assert calls(ours) == calls(upstream)
    assert ours[-1]["usage"]["prompt_tokens"] == upstream[-1]["usage"]["prompt_tokens"]
    assert _payloads(out)[-1] == "[DONE]"
    assert [type(e) for e in events].count(ToolCallDelta) == 5
