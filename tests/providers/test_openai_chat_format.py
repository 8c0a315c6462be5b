"""The OpenAI Chat Completions wire format, provider side (Switchgear -> OpenAI-format upstream).

Golden files live in tests/golden/openai_chat/provider/:
  request_*.json     canonical ChatRequest + Target  -> the upstream HTTP request
  response_*.json    upstream chat.completion body   -> canonical ChatResponse
  stream_*.sse       upstream SSE body               -> stream_*.events.json (canonical events)
Regenerate expectations (then review the diff!) with SWITCHGEAR_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import array
import base64
import json
import os
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    UnsupportedParameter,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    Finish,
    Message,
    StreamError,
    StreamStart,
    TextDelta,
    TextPart,
    Usage,
    UsageEvent,
)
from switchgear.providers.formats import openai_chat as fmt
from switchgear.providers.formats.base import Target
from switchgear.transport.sse import SSEDecoder
from tests.openapi_schema import assert_chat_chunk, assert_chat_request

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openai_chat" / "provider"
UPDATE = os.environ.get("SWITCHGEAR_UPDATE_GOLDEN") == "1"

OPENAI = Target(
    provider="openai-main", vendor="openai", format="openai_chat", base_url="https://api.openai.com/v1",
    model="gpt-4o", headers=(("authorization", "Bearer sk-test"),), renames=(("max_tokens", "max_completion_tokens"),),
)


def _cases(pattern: str) -> list[Path]:
    return sorted(GOLDEN.glob(pattern))


def _golden(path: Path, actual: object, key: str = "expected") -> None:
    data = json.loads(path.read_text())
    if UPDATE:
        data[key] = actual
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    assert actual == data[key], f"{path.name} differs from its golden expectation"


def _target(data: dict) -> Target:
    return msgspec.convert(data, Target)


def _event_json(ev: object) -> dict:
    if type(ev) is StreamError:
        e = ev.error
        return {"type": "error", "error": {"class": type(e).__name__, "status": e.status, "code": e.code,
                                           "message": e.message, "provider": e.provider, "retryable": e.retryable}}
    return msgspec.to_builtins(ev)


def _parse_stream(data: bytes, target: Target, cuts: list[int] = ()) -> list[object]:
    parser = fmt.StreamParser(target)
    events: list[object] = []
    start = 0
    for cut in sorted(cuts):
        events += parser.feed(data[start:cut])
        start = cut
    events += parser.feed(data[start:])
    events += parser.close()
    return events


# ---- building requests -----------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("request_*.json"), ids=lambda p: p.stem)
def test_build_request_golden(path: Path) -> None:
    data = json.loads(path.read_text())
    req = msgspec.convert(data["request"], ChatRequest)
    up = fmt.build_request(req, _target(data["target"]))
    body = json.loads(up.body)
    _golden(path, {"method": up.method, "path": up.path, "headers": [list(h) for h in up.headers],
                   "stream": up.stream, "body": body})
    assert_chat_request(body)  # what we send is a valid OpenAI request


def test_build_request_is_pure_and_repeatable() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], max_tokens=5)
    before = msgspec.json.encode(req)
    first = fmt.build_request(req, OPENAI)
    second = fmt.build_request(req, OPENAI)
    assert first == second
    assert msgspec.json.encode(req) == before  # translation never mutates the canonical request


def test_unsupported_parameter_rejected_by_default() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], top_k=40)
    with pytest.raises(UnsupportedParameter) as info:
        fmt.build_request(req, OPENAI)
    assert info.value.param == "top_k"
    assert info.value.status == 400


def test_vendor_unsupported_param_rejected() -> None:
    ollama = msgspec.structs.replace(OPENAI, vendor="ollama", unsupported=frozenset({"n"}), renames=())
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], n=2)
    with pytest.raises(UnsupportedParameter) as info:
        fmt.build_request(req, ollama)
    assert info.value.param == "n"


def test_extra_params_policies() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], extra={"logit_bias": {"50256": -100}})
    with pytest.raises(UnsupportedParameter) as info:
        fmt.build_request(req, OPENAI)  # extra_params defaults to reject
    assert info.value.param == "logit_bias"
    dropped = json.loads(fmt.build_request(req, msgspec.structs.replace(OPENAI, extra_params="drop")).body)
    assert "logit_bias" not in dropped
    passed = json.loads(fmt.build_request(req, msgspec.structs.replace(OPENAI, extra_params="pass")).body)
    assert passed["logit_bias"] == {"50256": -100}


def test_extra_never_overrides_a_canonical_field() -> None:
    req = ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], temperature=0.1, extra={"temperature": 2})
    body = json.loads(fmt.build_request(req, msgspec.structs.replace(OPENAI, extra_params="pass")).body)
    assert body["temperature"] == 0.1


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(0, "none"), (500, "minimal"), (1024, "minimal"), (1025, "low"), (2048, "low"), (2049, "medium"), (8192, "medium"),
     (8193, "high"), (24576, "high")],
)
def test_reasoning_budget_buckets(budget: int, effort: str) -> None:
    from switchgear.core.types import Reasoning

    req = ChatRequest(model="m", messages=[Message("user", [TextPart("x")])], reasoning=Reasoning(budget_tokens=budget))
    assert json.loads(fmt.build_request(req, OPENAI).body)["reasoning_effort"] == effort


# ---- pass-through requests -------------------------------------------------------------


def test_passthrough_keeps_unknown_fields_and_rewrites_model() -> None:
    raw = {"model": "alias", "messages": [{"role": "user", "content": "hi", "x_vendor": 1}], "store": True,
           "metadata": {"k": "v"}, "prediction": {"type": "content", "content": "abc"}, "max_tokens": 9}
    up = fmt.build_passthrough(raw, OPENAI, False)
    body = json.loads(up.body)
    assert body["model"] == "gpt-4o"
    assert body["store"] is True and body["metadata"] == {"k": "v"} and body["prediction"]["content"] == "abc"
    assert body["messages"][0]["x_vendor"] == 1
    assert "max_tokens" not in body and body["max_completion_tokens"] == 9  # the vendor's rename
    assert "stream_options" not in body and "stream" not in body
    assert raw["model"] == "alias" and "max_tokens" in raw  # the client's dict is not mutated
    assert up.path == "/chat/completions" and up.stream is False
    assert ("authorization", "Bearer sk-test") in up.headers


def test_passthrough_rename_keeps_client_new_name() -> None:
    raw = {"model": "a", "messages": [], "max_tokens": 5, "max_completion_tokens": 7}
    body = json.loads(fmt.build_passthrough(raw, OPENAI, False).body)
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body


@pytest.mark.parametrize(
    ("client_opts", "expected"),
    [
        (None, {"include_usage": True}),
        ({"include_usage": False}, {"include_usage": True}),
        ({"include_obfuscation": False}, {"include_obfuscation": False, "include_usage": True}),
        ({"include_usage": True}, {"include_usage": True}),
    ],
)
def test_passthrough_streaming_injects_include_usage(client_opts: dict | None, expected: dict) -> None:
    raw = {"model": "a", "messages": [{"role": "user", "content": "x"}], "stream": True}
    if client_opts is not None:
        raw["stream_options"] = client_opts
    up = fmt.build_passthrough(raw, OPENAI, True)
    body = json.loads(up.body)
    assert body["stream"] is True and body["stream_options"] == expected and up.stream is True


def test_passthrough_azure_path() -> None:
    azure = Target(provider="az", vendor="azure", format="openai_chat", base_url="https://r.openai.azure.com",
                   model="dep-1", headers=(("api-key", "k"),), options={"api_version": "2024-10-21"})
    up = fmt.build_passthrough({"model": "x", "messages": []}, azure, False)
    assert up.path == "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21"
    assert up.headers == [("api-key", "k"), ("content-type", "application/json")]


# ---- parsing responses -----------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("response_*.json"), ids=lambda p: p.stem)
def test_parse_response_golden(path: Path) -> None:
    data = json.loads(path.read_text())
    resp = fmt.parse_response(json.dumps(data["body"]).encode(), _target(data["target"]))
    _golden(path, msgspec.to_builtins(resp))


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502</html>", b"[1, 2]", b'{"choices": "nope"}', b'{"choices": []}', b'{"choices": [{"index": 0}]}',
     b'{"choices": [{"index": 0, "message": {"content": 5}}]}', b'{"id": "\xff"}'],
)
def test_parse_response_rejects_unreadable_bodies(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError) as info:
        fmt.parse_response(body, OPENAI)
    assert info.value.provider == "openai-main"


def test_parse_response_error_object_with_200() -> None:
    body = b'{"error": {"message": "overloaded", "type": "server_error", "code": null}}'
    with pytest.raises(UpstreamServerError) as info:
        fmt.parse_response(body, OPENAI)
    assert info.value.message == "overloaded" and info.value.provider == "openai-main"


def test_usage_from_body() -> None:
    assert fmt.usage_from_body({"usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
                                          "prompt_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 2},
                                          "completion_tokens_details": {"reasoning_tokens": 3}}}) == Usage(
        input_tokens=10, output_tokens=4, cached_input_tokens=8, cache_write_tokens=2, reasoning_tokens=3)
    assert fmt.usage_from_body({"usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_cache_hit_tokens": 6}}) == Usage(
        input_tokens=10, output_tokens=4, cached_input_tokens=6)
    assert fmt.usage_from_body({"x_groq": {"id": "r", "usage": {"prompt_tokens": 1, "completion_tokens": 2}}}) == Usage(1, 2)
    assert fmt.usage_from_body({"usage": None}) is None
    assert fmt.usage_from_body({"choices": []}) is None
    assert fmt.usage_from_body({"usage": {"prompt_tokens": "many"}}) is None


# ---- streams: translated ---------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("stream_*.sse"), ids=lambda p: p.stem)
def test_stream_parser_golden(path: Path) -> None:
    expected_path = path.with_suffix(".events.json")
    target = _target(json.loads(expected_path.read_text())["target"])
    events = _parse_stream(path.read_bytes(), target)
    _golden(expected_path, [_event_json(e) for e in events])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_stream_parser_splits_anywhere(data: st.DataObject) -> None:
    paths = _cases("stream_*.sse")
    path = data.draw(st.sampled_from(paths))
    raw = path.read_bytes()
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=12))
    whole = [_event_json(e) for e in _parse_stream(raw, OPENAI)]
    split = [_event_json(e) for e in _parse_stream(raw, OPENAI, cuts)]
    assert split == whole


def test_stream_protocol_invariants() -> None:
    """Every golden stream: StreamStart first, at most one UsageEvent, nothing after an error."""
    for path in _cases("stream_*.sse"):
        events = _parse_stream(path.read_bytes(), OPENAI)
        assert type(events[0]) is StreamStart, path.name
        assert sum(type(e) is UsageEvent for e in events) <= 1, path.name
        errors = [i for i, e in enumerate(events) if type(e) is StreamError]
        assert errors in ([], [len(events) - 1]), path.name


def test_stream_without_done_or_usage_is_an_error() -> None:
    body = (b'data: {"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":'
            b'[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n')
    events = _parse_stream(body, OPENAI)
    assert type(events[-1]) is StreamError
    assert isinstance(events[-1].error, UpstreamProtocolError)
    assert events[-1].error.message == "stream ended before [DONE]"


def test_stream_with_running_usage_but_no_finish_is_truncated() -> None:
    # vLLM's continuous usage stats put usage on every chunk: usage alone does not prove an end.
    body = (b'data: {"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":'
            b'[{"index":0,"delta":{"content":"x"},"finish_reason":null}],'
            b'"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n')
    events = _parse_stream(body, OPENAI)
    assert [type(e) for e in events] == [StreamStart, TextDelta, StreamError]


def test_stream_ignores_everything_after_done() -> None:
    body = (b'data: {"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":'
            b'[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
            b'data: {"error": {"message": "late"}}\n\n')
    events = _parse_stream(body, OPENAI)
    assert [type(e) for e in events] == [StreamStart, TextDelta, Finish]


def test_stream_unreadable_chunk_is_protocol_error() -> None:
    events = _parse_stream(b"data: {not json\n\n", OPENAI)
    assert type(events[-1]) is StreamError and isinstance(events[-1].error, UpstreamProtocolError)


# ---- streams: pass-through -------------------------------------------------------------


def _passthrough(raw: bytes, wants_usage: bool, cuts: list[int] = ()) -> tuple[bytes, fmt.PassthroughStream]:
    ps = fmt.PassthroughStream(OPENAI, client_wants_usage=wants_usage)
    out = []
    start = 0
    for cut in sorted(cuts):
        out.append(ps.feed(raw[start:cut]))
        start = cut
    out.append(ps.feed(raw[start:]))
    out.append(ps.close())
    return b"".join(out), ps


def _datas(raw: bytes) -> list[str]:
    return [e.data for e in SSEDecoder().feed(raw)]


@pytest.mark.parametrize("path", _cases("stream_*.sse"), ids=lambda p: p.stem)
def test_passthrough_stream_forwards_every_event_verbatim(path: Path) -> None:
    raw = path.read_bytes()
    out, ps = _passthrough(raw, wants_usage=True)
    expected = [d for d in _datas(raw) if not d.startswith('{"choices":[],"created":0,"id":""')]  # Azure's opener
    assert _datas(out)[: len(expected)] == expected  # same data, byte for byte after re-framing
    assert out.endswith(b"\n\n") and b"\r" not in out
    assert all(frame.startswith(b"data: ") for frame in out.split(b"\n\n")[:-1])
    parsed = _parse_stream(raw, OPENAI)
    usage = [e.usage for e in parsed if type(e) is UsageEvent]
    assert ps.usage == (usage[0] if usage else None)
    failed = [e.error for e in parsed if type(e) is StreamError]
    if failed:
        assert type(ps.error) is type(failed[0]) and ps.error.message == failed[0].message
        assert not ps.finished
    else:
        assert ps.error is None and ps.finished


def test_passthrough_stream_drops_only_the_injected_usage_chunk() -> None:
    raw = (GOLDEN / "stream_text_usage.sse").read_bytes()
    out, ps = _passthrough(raw, wants_usage=False)
    datas = _datas(out)
    assert datas == [d for d in _datas(raw) if '"choices":[]' not in d]
    assert len(datas) == len(_datas(raw)) - 1 and datas[-1] == "[DONE]"
    assert ps.usage == Usage(input_tokens=19, output_tokens=10)


def test_passthrough_stream_keeps_usage_on_chunks_with_choices() -> None:
    raw = (GOLDEN / "stream_reasoning_deepseek.sse").read_bytes()
    out, ps = _passthrough(raw, wants_usage=False)
    assert _datas(out) == _datas(raw)  # the finish chunk carries usage: it must still reach the client
    assert ps.usage == Usage(input_tokens=20, output_tokens=60, cached_input_tokens=16, reasoning_tokens=45)


def test_passthrough_stream_drops_azure_prompt_annotation_chunk() -> None:
    raw = (GOLDEN / "stream_azure_prompt_filter.sse").read_bytes()
    out, ps = _passthrough(raw, wants_usage=True)
    assert _datas(out) == _datas(raw)[1:]
    assert out == raw[raw.index(b"\n\n") + 2 :]  # everything else: the very same bytes
    for payload in _datas(out)[:-1]:
        assert_chat_chunk(json.loads(payload))


def test_passthrough_stream_reframes_nonstandard_events() -> None:
    raw = b'data:{"choices":[]}\n\nid: 7\ndata: {"a":1}\n\ndata: [DONE]\n\n'
    out, ps = _passthrough(raw, wants_usage=True)
    assert out == b'data: {"choices":[]}\n\ndata: {"a":1}\n\ndata: [DONE]\n\n' and ps.finished


def test_passthrough_stream_multiline_data_and_comments() -> None:
    raw = b": ping\n\nevent: message\ndata: {\"a\":\ndata: 1}\n\n\n\ndata: [DONE]\n\n"
    out, ps = _passthrough(raw, wants_usage=True)
    # What an SSE client parses is the same: comments and the default event name may pass
    # through verbatim (events between a stream's edges are forwarded unscanned).
    events = SSEDecoder().feed(out)
    assert [e.data for e in events] == ['{"a":\n1}', "[DONE]"]
    assert {e.event for e in events} <= {"", "message"}
    assert ps.finished and ps.error is None


def test_passthrough_stream_close_accepts_complete_stream_without_done() -> None:
    raw = (GOLDEN / "stream_no_done_complete.sse").read_bytes()
    out, ps = _passthrough(raw, wants_usage=True)
    assert out.endswith(b"data: [DONE]\n\n") and ps.finished and ps.error is None


def test_passthrough_stream_usage_text_inside_content_is_not_usage() -> None:
    raw = (b'data: {"choices":[{"index":0,"delta":{"content":"\\"usage\\": {\\"error\\": 1}"}}],"usage":null}\n\n'
           b"data: [DONE]\n\n")
    out, ps = _passthrough(raw, wants_usage=False)
    assert _datas(out) == _datas(raw) and ps.usage is None and ps.error is None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_passthrough_stream_splits_anywhere(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_cases("stream_*.sse")))
    raw = path.read_bytes()
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=12))
    wants = data.draw(st.booleans())
    whole, ps1 = _passthrough(raw, wants)
    split, ps2 = _passthrough(raw, wants, cuts)
    assert split == whole
    assert (ps1.usage, ps1.finished, type(ps1.error)) == (ps2.usage, ps2.finished, type(ps2.error))


# ---- errors ----------------------------------------------------------------------------


def _body(error: dict) -> bytes:
    return json.dumps({"error": error}).encode()


ERROR_TABLE = [
    # status, headers, body -> class, status, code, retryable, retry_after, message
    (400, {}, _body({"message": "This model's maximum context length is 128000 tokens.", "type": "invalid_request_error",
                     "param": "messages", "code": "context_length_exceeded"}),
     ContextWindowExceeded, 400, "context_length_exceeded", False, None, "This model's maximum context length is 128000 tokens."),
    (400, {}, _body({"message": "The response was filtered", "type": None, "param": "prompt", "code": "content_filter",
                     "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation"}}),
     ContentFiltered, 400, "content_filtered", False, None, "The response was filtered"),
    (400, {}, _body({"message": "Unrecognized request argument supplied: top_k", "type": "invalid_request_error",
                     "param": None, "code": None}),
     UpstreamRejected, 400, "upstream_rejected", False, None, "Unrecognized request argument supplied: top_k"),
    (401, {}, _body({"message": "Incorrect API key provided: sk-abc***xyz.", "type": "invalid_request_error",
                     "param": None, "code": "invalid_api_key"}),
     UpstreamRejected, 502, "upstream_auth_failed", True, None, "the provider rejected the gateway's credentials"),
    (403, {}, _body({"code": "unsupported_country_region_territory", "message": "Country, region, or territory not supported",
                     "param": None, "type": "request_forbidden"}),
     UpstreamRejected, 403, "upstream_rejected", False, None, "Country, region, or territory not supported"),
    (404, {}, _body({"message": "The model `gpt-9` does not exist or you do not have access to it.",
                     "type": "invalid_request_error", "param": None, "code": "model_not_found"}),
     UpstreamRejected, 404, "upstream_rejected", True, None, "The model `gpt-9` does not exist or you do not have access to it."),
    (408, {}, b"", UpstreamTimeout, 504, "upstream_timeout", True, None, "provider answered HTTP 408"),
    (422, {}, b'{"object":"error","message":"bad schema","type":"BadRequestError","param":null,"code":422}',
     UpstreamRejected, 422, "upstream_rejected", False, None, "bad schema"),
    (429, {"retry-after": "20", "retry-after-ms": "1500"},
     _body({"message": "Rate limit reached for gpt-4o on requests per min (RPM)", "type": "requests", "param": None,
            "code": "rate_limit_exceeded"}),
     UpstreamRateLimited, 429, "rate_limit_exceeded", True, 1.5, "Rate limit reached for gpt-4o on requests per min (RPM)"),
    (429, {"Retry-After": "7"}, _body({"message": "You exceeded your current quota", "type": "insufficient_quota",
                                       "param": None, "code": "insufficient_quota"}),
     UpstreamRateLimited, 429, "upstream_quota_exceeded", True, 7.0, "You exceeded your current quota"),
    (500, {}, _body({"message": "The server had an error while processing your request.", "type": "server_error",
                     "param": None, "code": None}),
     UpstreamServerError, 502, "upstream_server_error", True, None, "The server had an error while processing your request."),
    (502, {}, b"<html><body>502 Bad Gateway</body></html>",
     UpstreamServerError, 502, "upstream_server_error", True, None, "provider answered HTTP 502"),
    (503, {"retry-after": "3"}, _body({"message": "That model is currently overloaded with other requests.",
                                       "type": "server_error", "param": None, "code": None}),
     UpstreamOverloaded, 503, "upstream_overloaded", True, 3.0, "That model is currently overloaded with other requests."),
    (504, {}, b"upstream request timeout", UpstreamTimeout, 504, "upstream_timeout", True, None,
     "provider answered HTTP 504: upstream request timeout"),
    (500, {}, b'{"detail": "Internal Server Error"}', UpstreamServerError, 502, "upstream_server_error", True, None,
     "Internal Server Error"),
    (400, {}, b'[{"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}]',
     UpstreamRejected, 400, "upstream_rejected", False, None, "Invalid JSON payload"),
    (409, {}, b'{"error": "conflict happened"}', UpstreamRejected, 409, "upstream_rejected", False, None, "conflict happened"),
    (529, {}, b"", UpstreamOverloaded, 503, "upstream_overloaded", True, None, "provider answered HTTP 529"),
]


@pytest.mark.parametrize(("status", "headers", "body", "cls", "out_status", "code", "retryable", "retry_after", "message"),
                         ERROR_TABLE, ids=[f"{row[0]}-{row[4]}-{row[5]}" for row in ERROR_TABLE])
def test_parse_error_table(status, headers, body, cls, out_status, code, retryable, retry_after, message) -> None:
    err = fmt.parse_error(status, headers, body, OPENAI)
    assert type(err) is cls
    assert (err.status, err.code, err.retryable, err.message) == (out_status, code, retryable, message)
    assert err.retry_after == pytest.approx(retry_after) if retry_after is not None else err.retry_after is None
    assert err.provider == "openai-main"
    assert err.safe


def test_parse_error_keeps_vendor_param() -> None:
    err = fmt.parse_error(400, {}, _body({"message": "bad", "type": "invalid_request_error", "param": "temperature",
                                         "code": "invalid_value"}))
    assert err.param == "temperature" and err.provider is None


def test_parse_error_never_classifies_by_message_text() -> None:
    err = fmt.parse_error(400, {}, _body({"message": "context_length_exceeded: rate limited, content_filter",
                                         "type": "invalid_request_error", "code": None}))
    assert type(err) is UpstreamRejected


def test_retry_after_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    err = fmt.parse_error(429, {"retry-after": format_datetime(when, usegmt=True)}, b"")
    assert 100 < err.retry_after <= 121
    assert err.response_headers()[0][0] == "retry-after"


def test_retry_after_garbage_is_ignored() -> None:
    assert fmt.parse_error(429, {"retry-after": "soon", "retry-after-ms": "x"}, b"").retry_after is None


@pytest.mark.parametrize(
    ("payload", "cls", "status"),
    [
        ({"message": "boom", "type": "server_error", "param": None, "code": None}, UpstreamServerError, 502),
        ({"message": "slow down", "type": "tokens", "code": "rate_limit_exceeded"}, UpstreamRateLimited, 429),
        ({"message": "too long", "type": "BadRequestError", "param": None, "code": 400}, UpstreamRejected, 400),
        ({"message": "filtered", "type": None, "code": "content_filter"}, ContentFiltered, 400),
        ({"message": "ctx", "type": "invalid_request_error", "code": "context_length_exceeded"}, ContextWindowExceeded, 400),
        ({"message": "bad", "type": "invalid_request_error", "code": None}, UpstreamRejected, 400),
    ],
)
def test_midstream_error_classification(payload: dict, cls: type, status: int) -> None:
    body = b'data: {"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}\n\n'
    body += b"data: " + json.dumps({"error": payload}).encode() + b"\n\n"
    events = _parse_stream(body, OPENAI)
    err = events[-1].error
    assert type(err) is cls and err.status == status and err.message == payload["message"]
    assert err.provider == "openai-main"
    out, ps = _passthrough(body, wants_usage=True)
    assert type(ps.error) is cls and _datas(out) == _datas(body)  # forwarded as is


# ---- embeddings ------------------------------------------------------------------------


def test_build_embeddings_request() -> None:
    req = EmbeddingsRequest(model="alias", input=["a", "b"], dimensions=256, encoding_format="base64", user="u")
    up = fmt.build_embeddings_request(req, OPENAI)
    assert up.path == "/embeddings" and up.method == "POST"
    assert json.loads(up.body) == {"model": "gpt-4o", "input": ["a", "b"], "encoding_format": "float",
                                   "dimensions": 256, "user": "u"}


def test_build_embeddings_request_azure_and_extras() -> None:
    azure = Target(provider="az", vendor="azure", format="openai_chat", base_url="https://r.openai.azure.com",
                   model="emb-dep", options={"api_version": "2024-10-21"}, extra_params="pass")
    req = EmbeddingsRequest(model="alias", input=[[1, 2, 3]], extra={"input_type": "query"})
    up = fmt.build_embeddings_request(req, azure)
    assert up.path == "/openai/deployments/emb-dep/embeddings?api-version=2024-10-21"
    assert json.loads(up.body)["input_type"] == "query"
    with pytest.raises(UnsupportedParameter) as info:
        fmt.build_embeddings_request(req, OPENAI)
    assert info.value.param == "input_type"


def test_parse_embeddings_response_float_and_base64_sorted() -> None:
    vec = [0.5, -1.25, 3.0]
    b64 = base64.b64encode(array.array("f", vec).tobytes()).decode()  # little-endian float32 on this machine
    body = json.dumps({"object": "list", "model": "text-embedding-3-small", "usage": {"prompt_tokens": 7, "total_tokens": 7},
                       "data": [{"object": "embedding", "index": 1, "embedding": b64},
                                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]}).encode()
    resp = fmt.parse_embeddings_response(body, OPENAI)
    assert resp.data == [[0.1, 0.2], vec]
    assert resp.usage == Usage(input_tokens=7) and resp.model == "text-embedding-3-small"


@pytest.mark.parametrize("body", [b"nope", b'{"data": "x"}', b'{"data": [{"index": 0, "embedding": "###"}]}'])
def test_parse_embeddings_response_unreadable(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        fmt.parse_embeddings_response(body, OPENAI)


def test_errors_are_gateway_errors() -> None:
    for row in ERROR_TABLE:
        assert isinstance(fmt.parse_error(row[0], row[1], row[2]), GatewayError)
