"""What counts as a hedged stream's first token (stages/first_token.py)."""

from __future__ import annotations

from switchgear.core.types import Finish, ReasoningDelta, StreamStart, TextDelta, ToolCallDelta
from switchgear.stages.first_token import anthropic_has_token, events_have_token, openai_has_token, passthrough_detector

ROLE = b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'


def _chunk(delta: str) -> bytes:
    return b'data: {"id":"c","choices":[{"index":0,"delta":' + delta.encode() + b'}]}\n\n'


def test_openai_preamble_is_not_a_token() -> None:
    assert not openai_has_token(ROLE)
    assert not openai_has_token(ROLE + _chunk('{"content":null}') + b": keep-alive\n\n")
    assert not openai_has_token(b'data: {"choices":[],"usage":{"prompt_tokens":1}}\n\ndata: [DONE]\n\n')


def test_openai_content_tool_calls_and_reasoning_are_tokens() -> None:
    assert openai_has_token(ROLE + _chunk('{"content":"Hi"}'))
    assert openai_has_token(_chunk('{"tool_calls":[{"index":0,"id":"t","function":{"name":"f","arguments":""}}]}'))
    assert openai_has_token(_chunk('{"reasoning_content":"think"}'))
    assert openai_has_token(_chunk('{"reasoning":"think"}').replace(b"\n\n", b"\r\n\r\n"))


def test_anthropic_only_a_content_block_delta_is_a_token() -> None:
    preamble = (b'event: message_start\ndata: {"type":"message_start"}\n\n'
                b'event: content_block_start\ndata: {"type":"content_block_start"}\n\n'
                b'event: ping\ndata: {"type":"ping"}\n\n')
    assert not anthropic_has_token(preamble)
    assert anthropic_has_token(preamble + b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n')
    assert passthrough_detector("anthropic_messages") is anthropic_has_token
    assert passthrough_detector("gemini") is None


def test_canonical_content_events_are_tokens() -> None:
    assert not events_have_token([StreamStart(id="x", model="m"), Finish(reason="stop")])
    assert events_have_token([StreamStart(id="x", model="m"), TextDelta(text="a")])
    assert events_have_token([ToolCallDelta(index=0, id="t", name="f")])
    assert events_have_token([ReasoningDelta(text="hmm")])
