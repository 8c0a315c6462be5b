"""Bad input and failing upstreams: precise errors in the client's own shape, and
the server keeps serving."""

from __future__ import annotations

import socket

import anthropic
import httpx2 as httpx
import openai
import pytest

from tests.e2e.harness import CLIENT_KEY, GatewayProcess, SimThread
from tests.openapi_schema import assert_error

OPENAI_AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
ANTHROPIC_AUTH = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
HELLO = [{"role": "user", "content": "hi"}]


def post(gw: GatewayProcess, path: str, body: bytes | str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{gw.url}{path}", content=body, headers={"content-type": "application/json", **headers},
                      timeout=20)


def openai_error(r: httpx.Response) -> dict:
    body = r.json()
    assert_error(body)
    return body["error"]


def anthropic_error(r: httpx.Response) -> dict:
    body = r.json()
    assert body["type"] == "error"
    return body["error"]


# ---- authentication ---------------------------------------------------------------------


def test_missing_and_wrong_keys_get_401_in_each_shape(gateway: GatewayProcess) -> None:
    body = '{"model": "gpt", "messages": [{"role": "user", "content": "x"}]}'
    r = post(gateway, "/v1/chat/completions", body, {})
    assert r.status_code == 401
    assert openai_error(r)["code"] == "invalid_api_key"  # OpenAI's own 401: type invalid_request_error
    r = post(gateway, "/v1/chat/completions", body, {"authorization": "Bearer sk-wrong-key"})
    assert r.status_code == 401 and openai_error(r)["code"] == "invalid_api_key"
    assert "sk-wrong-key" not in r.text  # never echo a secret
    r = post(gateway, "/v1/messages", body, {"anthropic-version": "2023-06-01", "x-api-key": "nope"})
    assert r.status_code == 401 and anthropic_error(r)["type"] == "authentication_error"
    r = post(gateway, "/v1/chat/completions", body, {"authorization": f"Basic {CLIENT_KEY}"})
    assert r.status_code == 401


def test_key_in_query_string_is_not_accepted(gateway: GatewayProcess) -> None:
    r = httpx.post(f"{gateway.url}/v1/chat/completions?api_key={CLIENT_KEY}", json={"model": "gpt", "messages": HELLO})
    assert r.status_code in (401, 404)


def test_sdk_raises_typed_auth_errors(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="bad", max_retries=0).chat.completions.create(
            model="gpt", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gateway.url, api_key="bad", max_retries=0).messages.create(
            model="gpt", max_tokens=10, messages=HELLO)  # type: ignore[arg-type]


# ---- malformed requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param_or_text"),
    [
        (b"{not json", "JSON"),
        (b"[1, 2]", "object"),
        (b'{"model": "gpt", "messages": "hi"}', "messages"),
        (b'{"model": 5, "messages": []}', "model"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "UTF-8"),
    ],
)
def test_malformed_openai_requests_get_precise_400s(gateway: GatewayProcess, body: bytes, param_or_text: str) -> None:
    r = post(gateway, "/v1/chat/completions", body, OPENAI_AUTH)
    assert r.status_code == 400, r.text
    err = openai_error(r)
    assert err["type"] == "invalid_request_error"
    assert param_or_text in (err.get("param") or "") or param_or_text in err["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "JSON"),
        (b'{"model": "claude", "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
        (b'{"model": "claude", "max_tokens": "ten", "messages": [{"role": "user", "content": "x"}]}', "max_tokens"),
        (b'{"model": "claude", "max_tokens": 10, "messages": [{"role": "robot", "content": "x"}]}', "role"),
    ],
)
def test_malformed_anthropic_requests_get_precise_400s(gateway: GatewayProcess, body: bytes, needle: str) -> None:
    r = post(gateway, "/v1/messages", body, ANTHROPIC_AUTH)
    assert r.status_code == 400, r.text
    err = anthropic_error(r)
    assert err["type"] == "invalid_request_error" and needle in err["message"]


def test_body_over_the_limit_is_413_in_client_shape(gateway: GatewayProcess) -> None:
    big = b'{"model": "gpt", "messages": [{"role": "user", "content": "' + b"x" * 300_000 + b'"}]}'
    r = post(gateway, "/v1/chat/completions", big, OPENAI_AUTH)
    assert r.status_code == 413 and openai_error(r)["type"] == "invalid_request_error"
    r = post(gateway, "/v1/messages", big, ANTHROPIC_AUTH)
    assert r.status_code == 413 and anthropic_error(r)["type"] == "request_too_large"


def test_unknown_model_is_404_in_each_shape(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        oai.chat.completions.create(model="no-such-model", messages=HELLO)  # type: ignore[arg-type]
    assert ei.value.code == "model_not_found"
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="no-such-model", max_tokens=10, messages=HELLO)  # type: ignore[arg-type]


def test_embeddings_model_on_chat_endpoint_is_refused(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model="embed", messages=HELLO)  # type: ignore[arg-type]
    assert "embeddings model" in ei.value.message


@pytest.mark.parametrize("path", ["/v1/nothing", "//v1/chat/completions", "/v1/chat/completions/", "/V1/chat/completions",
                                  "/v1/chat%2Fcompletions", "/admin"])
def test_unknown_endpoints_and_path_tricks_are_404(gateway: GatewayProcess, path: str) -> None:
    r = post(gateway, path, b'{"model": "gpt", "messages": []}', OPENAI_AUTH)
    assert r.status_code == 404
    assert openai_error(r)["message"].startswith("unknown endpoint")


def test_wrong_method_is_405(gateway: GatewayProcess) -> None:
    r = httpx.get(f"{gateway.url}/v1/chat/completions", headers=OPENAI_AUTH)
    assert r.status_code == 405
    r = httpx.delete(f"{gateway.url}/v1/messages", headers=ANTHROPIC_AUTH)
    assert r.status_code == 405 and anthropic_error(r)["type"] == "invalid_request_error"


def test_garbage_http_does_not_hurt_the_server(gateway: GatewayProcess, oai: openai.OpenAI) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"\x16\x03\x01 definitely not http\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    assert oai.chat.completions.create(model="gpt", messages=HELLO).choices  # type: ignore[arg-type]


# ---- failing upstreams ----------------------------------------------------------------------


def test_upstream_429_stays_429_with_retry_after(gateway: GatewayProcess, sim: SimThread) -> None:
    for model, path, headers in (("gpt", "/v1/chat/completions", OPENAI_AUTH), ("claude", "/v1/messages", ANTHROPIC_AUTH),
                                 ("gemini", "/v1/chat/completions", OPENAI_AUTH),
                                 ("bedrock", "/v1/messages", ANTHROPIC_AUTH)):
        sim.faults({"kind": "status", "status": 429, "retry_after": 7})
        r = post(gateway, path, f'{{"model": "{model}", "max_tokens": 20, "messages": [{{"role": "user", "content": "x"}}]}}',
                 headers)
        assert r.status_code == 429, (model, r.text)
        if model != "bedrock":  # AWS sends no Retry-After on ThrottlingException
            assert r.headers.get("retry-after") == "7", model


def test_sdk_sees_rate_limit_error(oai: openai.OpenAI, claude: anthropic.Anthropic, sim: SimThread) -> None:
    sim.faults({"kind": "status", "status": 429, "retry_after": 2})
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="claude", messages=HELLO)  # type: ignore[arg-type]
    sim.faults({"kind": "status", "status": 429, "retry_after": 2})
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="gpt", max_tokens=10, messages=HELLO)  # type: ignore[arg-type]


@pytest.mark.parametrize("model", ["gpt", "claude", "gemini", "bedrock"])
def test_upstream_server_errors_become_5xx_not_500(oai: openai.OpenAI, sim: SimThread, model: str) -> None:
    sim.faults({"kind": "status", "status": 500})
    with pytest.raises(openai.InternalServerError) as ei:
        oai.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert ei.value.status_code in (502, 503)
    sim.faults({"kind": "status", "status": 503})
    with pytest.raises(openai.InternalServerError) as ei:
        oai.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert ei.value.status_code in (502, 503)


@pytest.mark.parametrize("model", ["gpt", "claude", "bedrock", "gemini"])
def test_context_window_error_in_each_vendor_shape(oai: openai.OpenAI, sim: SimThread, model: str) -> None:
    sim.faults({"kind": "context_length"})
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert ei.value.code == "context_length_exceeded"


def test_dead_upstream_is_502(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        oai.chat.completions.create(model="dead", messages=HELLO)  # type: ignore[arg-type]
    assert ei.value.status_code == 502
    with pytest.raises(anthropic.APIStatusError) as ai:
        claude.messages.create(model="dead", max_tokens=10, messages=HELLO)  # type: ignore[arg-type]
    assert ai.value.status_code == 502


def test_hung_upstream_is_504(oai: openai.OpenAI, sim: SimThread) -> None:
    sim.faults({"kind": "hang"})
    with pytest.raises(openai.APIStatusError) as ei:
        oai.chat.completions.create(model="tight", messages=HELLO)  # type: ignore[arg-type]
    assert ei.value.status_code == 504


def test_malformed_upstream_body_is_502(oai: openai.OpenAI, sim: SimThread) -> None:
    for model in ("gpt", "claude"):
        sim.faults({"kind": "malformed"})
        with pytest.raises(openai.InternalServerError) as ei:
            oai.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
        assert ei.value.status_code == 502


# ---- streams that break after they started ------------------------------------------------


# Events before the cut: enough that some text went out first (Anthropic streams open
# with message_start, content_block_start and ping; Gemini sends few, large chunks).
@pytest.mark.parametrize(("model", "after"), [("gpt", 3), ("claude", 5), ("gemini", 2), ("bedrock", 3)])
def test_openai_stream_dropped_midway_ends_with_an_error_event(oai: openai.OpenAI, sim: SimThread, model: str,
                                                               after: int) -> None:
    sim.faults({"kind": "drop", "after_events": after})
    got = ""
    with pytest.raises(openai.APIError):
        for chunk in oai.chat.completions.create(model=model, messages=HELLO, stream=True):  # type: ignore[arg-type]
            if chunk.choices:
                got += chunk.choices[0].delta.content or ""
    assert got  # something was streamed before the break: it is not a silent truncated success


@pytest.mark.parametrize("model", ["gpt", "claude", "gemini", "bedrock"])
def test_anthropic_stream_dropped_midway_ends_with_an_error_event(claude: anthropic.Anthropic, sim: SimThread,
                                                                  model: str) -> None:
    sim.faults({"kind": "drop", "after_events": 3})
    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(model=model, max_tokens=200, messages=HELLO) as stream:  # type: ignore[arg-type]
            for _ in stream:
                pass


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_upstream_error_event_midstream_reaches_the_client(oai: openai.OpenAI, sim: SimThread, model: str) -> None:
    sim.faults({"kind": "stream_error"})
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(model=model, messages=HELLO, stream=True):  # type: ignore[arg-type]
            pass


def test_stream_failing_before_first_byte_fails_over(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="failover", messages=HELLO, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_slow_stream_idle_gap_is_a_timeout_event(oai: openai.OpenAI, sim: SimThread) -> None:
    sim.faults({"kind": "slow_first_token", "ms": 3000})
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(model="tight", messages=HELLO, stream=True):  # type: ignore[arg-type]
            pass


def test_server_still_serves_after_all_that(oai: openai.OpenAI, gateway: GatewayProcess) -> None:
    assert oai.chat.completions.create(model="gpt", messages=HELLO).choices  # type: ignore[arg-type]
    assert "Traceback" not in gateway.output()


def test_client_disconnect_midstream_is_recorded_and_harmless(gateway: GatewayProcess, sim: SimThread,
                                                              oai: openai.OpenAI) -> None:
    sim.call(sim.sim.configure, tokens_per_second=20)  # a slow stream we can walk away from
    try:
        with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=OPENAI_AUTH, timeout=10,
                          json={"model": "gpt", "stream": True, "messages": HELLO}) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    break  # first chunk arrived; now leave mid-stream
    finally:
        sim.call(sim.sim.configure, tokens_per_second=0)
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = httpx.get(f"{gateway.url}/metrics").text
        if 'model="gpt",provider="openai",status="499"' in text:
            break
        time.sleep(0.1)
    assert 'model="gpt",provider="openai",status="499"' in text
    assert oai.chat.completions.create(model="gpt", messages=HELLO).choices  # type: ignore[arg-type]
    assert "Traceback" not in gateway.output()
