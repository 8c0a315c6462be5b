"""Does a piece of a stream carry its first content token? (Hedged streams only.)

A hedged race is won by the first racer to produce a *token*, not its preamble (OpenAI's
role-only first chunk, Anthropic's message_start / content_block_start / ping), which an
upstream sends at once however slow its first token is. Dispatch holds a racer's preamble
back and asks these predicates about each new piece until one says yes; after the claim
nothing is scanned again, and a non-hedged stream never calls them.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import msgspec

from switchgear.core.types import ReasoningDelta, TextDelta, ToolCallDelta

_CONTENT_EVENTS = (TextDelta, ToolCallDelta, ReasoningDelta)
# OpenAI-style delta fields that carry output (``reasoning_content``: DeepSeek & co.,
# ``reasoning``: OpenRouter & co.).
_DELTA_FIELDS = ("content", "tool_calls", "reasoning_content", "reasoning", "refusal")
_ANTHROPIC_DELTA = re.compile(rb"(?m)^event: ?content_block_delta\r?$")


def events_have_token(events: list[Any]) -> bool:
    """Canonical stream events (translated streams): any text, tool-call or reasoning delta."""
    for ev in events:
        if isinstance(ev, _CONTENT_EVENTS):
            return True
    return False


def openai_has_token(out: bytes) -> bool:
    """Whole SSE events of an OpenAI chat stream: a chunk whose delta has non-empty
    content, tool_calls or reasoning. Only the preamble's few events are ever decoded."""
    for block in out.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
        if not data:
            continue
        payload = b"\n".join(data)
        if payload == b"[DONE]":
            continue
        try:
            obj = msgspec.json.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError):
            continue
        if type(obj) is not dict:
            continue
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and any(delta.get(k) for k in _DELTA_FIELDS):
                return True
    return False


def anthropic_has_token(out: bytes) -> bool:
    """Whole SSE events of an Anthropic Messages stream: a content_block_delta event."""
    return _ANTHROPIC_DELTA.search(out) is not None


_PASSTHROUGH: dict[str, Callable[[bytes], bool]] = {
    "openai_chat": openai_has_token,
    "anthropic_messages": anthropic_has_token,
}


def passthrough_detector(fmt_name: str) -> Callable[[bytes], bool] | None:
    """The detector for a pass-through stream of this wire format; None: unknown format,
    so the first output claims the client as in a non-hedged stream."""
    return _PASSTHROUGH.get(fmt_name)
