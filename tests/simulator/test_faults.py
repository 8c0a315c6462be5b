"""Fault scripts, model-name triggers, random faults and the control API."""

from __future__ import annotations

import asyncio

import anthropic
import httpx2 as httpx
import openai
import pytest

from switchgear.http.server import ServerLimits
from switchgear.simulator import Simulator, SimulatorConfig

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello there"}]}
STREAM = {**CHAT, "stream": True}
ANTHROPIC = {"anthropic-version": "2023-06-01"}


async def _read_until_cut(http, body):
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        async with http.stream("POST", "/v1/chat/completions", json=body) as resp:
            assert resp.status_code == 200
            async for chunk in resp.aiter_raw():
                received += chunk
    return received


async def test_script_applies_in_order_one_fault_per_request(http):
    queued = await http.post("/_sim/faults", json={"script": [{"kind": "status", "status": 503}, {"kind": "status", "status": 429, "retry_after": 2}]})
    assert queued.json() == {"queued": 2}
    assert (await http.get("/_sim/faults")).json()["pending"][0] == {"kind": "status", "status": 503}
    first = await http.post("/v1/chat/completions", json=CHAT)
    second = await http.post("/v1/chat/completions", json=CHAT)
    third = await http.post("/v1/chat/completions", json=CHAT)
    assert [first.status_code, second.status_code, third.status_code] == [503, 429, 200]
    assert first.json()["error"]["type"] == "server_error"
    assert second.headers["retry-after"] == "2"
    log = (await http.get("/_sim/requests")).json()
    assert [r["fault"] for r in log] == ["status", "status", None]


async def test_status_fault_uses_each_vendors_error_shape(http, sim):
    sim.add_faults([{"kind": "status", "status": 529}] * 3)
    anth = await http.post("/v1/messages", headers=ANTHROPIC, json={"model": "c", "max_tokens": 5, "messages": CHAT["messages"]})
    assert anth.status_code == 529 and anth.json()["error"]["type"] == "overloaded_error"
    gem = await http.post("/v1beta/models/g:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert gem.status_code == 529 and gem.json()["error"]["code"] == 529
    bed = await http.post("/model/m/converse", json={"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    assert bed.status_code == 529 and set(bed.json()) == {"message"}


async def test_drop_cuts_a_stream_after_n_events(http, sim):
    sim.add_faults([{"kind": "drop", "after_events": 3}])
    received = await _read_until_cut(http, STREAM)
    assert received.count(b"data: ") == 3 and b"[DONE]" not in received
    # The next request is served normally on a fresh connection.
    assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_drop_and_reset_on_a_non_streamed_request_close_unanswered(http, sim):
    sim.add_faults([{"kind": "drop"}, {"kind": "reset"}])
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/v1/chat/completions", json=CHAT)
    assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_stream_error_events_reach_the_sdks(sim):
    sim.add_faults([{"kind": "stream_error", "after_events": 2}] * 2)
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(**STREAM)
        with pytest.raises(openai.APIError) as e:
            async for _ in stream:
                pass
        assert "server had an error" in e.value.message
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="k", max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError) as e:
            async with client.messages.stream(model="c", max_tokens=50, messages=CHAT["messages"]) as stream:
                async for _ in stream:
                    pass
        assert e.value.body["error"]["type"] == "overloaded_error"


async def test_malformed_body_with_200(http, sim):
    sim.add_faults([{"kind": "malformed"}])
    resp = await http.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()


async def test_hang_never_answers_and_slow_first_token_holds_the_first_token(sim):
    sim.add_faults([{"kind": "hang"}, {"kind": "slow_first_token", "ms": 5000}])
    async with httpx.AsyncClient(base_url=sim.url, timeout=httpx.Timeout(5.0, read=0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/chat/completions", json=CHAT)
        async with http.stream("POST", "/v1/chat/completions", json=STREAM) as resp:
            assert resp.status_code == 200
            lines = resp.aiter_lines()
            first = await lines.__anext__()
            assert '"role":"assistant"' in first  # the role chunk carries no token: it is not held
            with pytest.raises(httpx.ReadTimeout):
                while True:
                    line = await lines.__anext__()
                    assert '"content":"Simulated"' not in line


async def test_stop_releases_hanging_requests():
    sim = Simulator()
    await sim.start()
    sim.add_faults([{"kind": "hang"}])
    async with httpx.AsyncClient(base_url=sim.url, timeout=5.0) as http:
        pending = asyncio.ensure_future(http.post("/v1/chat/completions", json=CHAT))
        while not sim.requests:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(sim.stop(), 2.0)
        with pytest.raises(httpx.RemoteProtocolError):
            await pending


async def test_model_name_triggers(http, sim):
    sim.configure(retry_after_s=9)
    limited = await http.post("/v1/chat/completions", json={**CHAT, "model": "sim-fail-429"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "9"
    broken = await http.post("/v1/messages", headers=ANTHROPIC, json={"model": "sim-fail-500", "max_tokens": 5, "messages": CHAT["messages"]})
    assert broken.status_code == 500 and broken.json()["error"]["type"] == "api_error"
    ctx = await http.post("/model/anthropic.sim-context-length-v1:0/converse", json={"messages": [{"role": "user", "content": [{"text": "x"}]}]})
    assert ctx.status_code == 400 and ctx.json()["message"] == "Input is too long for requested model."
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/v1/chat/completions", json={**CHAT, "model": "sim-reset"})
    assert (await _read_until_cut(http, {**STREAM, "model": "sim-drop"})).count(b"data: ") == 3
    echo = await http.post("/v1/chat/completions", json={**CHAT, "model": "sim-echo"})
    assert echo.json()["choices"][0]["message"]["content"] == "Hello there"


async def test_random_faults_follow_the_seed():
    async def statuses(seed):
        async with Simulator(SimulatorConfig(seed=seed, error_rate=0.3, rate_limit_rate=0.3)) as sim:
            async with httpx.AsyncClient(base_url=sim.url) as http:
                return [(await http.post("/v1/chat/completions", json=CHAT)).status_code for _ in range(20)]

    first, again, other = await statuses(1), await statuses(1), await statuses(2)
    assert first == again and first != other
    assert {200, 429, 500} <= set(first)


async def test_drop_stream_rate_cuts_every_stream_at_one(http, sim):
    sim.configure(drop_stream_rate=1.0)
    received = await _read_until_cut(http, STREAM)
    assert b"[DONE]" not in received
    assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200  # non-streams are not affected


async def test_control_config_requests_and_reset(http, sim):
    cfg = await http.post("/_sim/config", json={"reply_tokens": 2, "error_rate": 0})
    assert cfg.status_code == 200 and cfg.json()["reply_tokens"] == 2
    assert (await http.get("/_sim/config")).json()["reply_tokens"] == 2
    bad = await http.post("/_sim/config", json={"error_rate": 5})
    assert bad.status_code == 400
    assert (await http.post("/_sim/config", json={"nope": 1})).status_code == 400
    assert (await http.post("/_sim/faults", json={"script": [{"kind": "explode"}]})).status_code == 400
    reply = await http.post("/v1/chat/completions?x=1", json=CHAT, headers={"x-trace": "abc"})
    assert reply.json()["choices"][0]["message"]["content"] == "Simulated reply from gpt-4o: Hello there"
    await http.post("/v1/chat/completions", content=b"{oops")
    log = (await http.get("/_sim/requests")).json()
    assert log[0]["method"] == "POST" and log[0]["path"] == "/v1/chat/completions" and log[0]["query"] == "x=1"
    assert log[0]["body"] == CHAT and log[0]["headers"]["x-trace"] == "abc" and log[0]["format"] == "openai"
    assert log[1]["body"] is None and log[1]["raw_body"] == "{oops"
    assert sim.requests == log
    assert (await http.delete("/_sim/requests")).json() == {"cleared": 2}
    assert (await http.get("/_sim/requests")).json() == []
    sim.add_faults([{"kind": "hang"}])
    assert (await http.post("/_sim/reset")).json() == {"reset": True}
    assert sim.config.reply_tokens == 24 and sim.pending_faults == []
    assert (await http.get("/_sim/nothing")).status_code == 404


async def test_unknown_paths_get_vendor_shaped_404s(http):
    openai_404 = await http.post("/v1/completions", json={})
    assert openai_404.status_code == 404 and openai_404.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"
    gemini_404 = await http.post("/v1beta/models/g:frobnicate", json={})
    assert gemini_404.status_code == 404 and gemini_404.json()["error"]["status"] == "NOT_FOUND"


async def test_oversized_body_is_refused_in_the_vendor_shape():
    async with Simulator(limits=ServerLimits(max_body_bytes=200)) as sim:
        async with httpx.AsyncClient(base_url=sim.url) as http:
            big = {**CHAT, "messages": [{"role": "user", "content": "x" * 500}]}
            resp = await http.post("/v1/messages", headers=ANTHROPIC, json={**big, "max_tokens": 5})
            assert resp.status_code == 413 and resp.json()["error"]["type"] == "request_too_large"
