"""A ``GenerateContentResponse`` -> canonical ChatResponse, and the pieces the stream
parser shares with it (usage, finish reasons, call ids, logprobs)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

from switchgear.core.errors import ContentFiltered, UpstreamProtocolError
from switchgear.core.signatures import GEMINI, tag
from switchgear.core.types import (
    ChatResponse,
    Choice,
    FinishReason,
    ImagePart,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)
from switchgear.providers.formats.base import Target
from switchgear.providers.formats.gemini.errors import status_error
from switchgear.providers.formats.gemini.wire import (
    GenerateContentResponse,
    LogprobsResult,
    UsageMetadata,
    decode_response,
)
from switchgear.providers.formats.tool_arguments import text_of

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}  # anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL ...) -> "stop"

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def usage(u: UsageMetadata) -> Usage:
    return Usage(
        input_tokens=u.prompt_token_count + u.tool_use_prompt_token_count,
        output_tokens=u.candidates_token_count + u.thoughts_token_count,
        cached_input_tokens=u.cached_content_token_count,
        reasoning_tokens=u.thoughts_token_count,
    )


def call_id(response_id: str, choice: int, n: int) -> str:
    rid = _ID_UNSAFE.sub("", response_id)
    return f"call_{rid}_{n}" if choice == 0 else f"call_{rid}_{choice}_{n}"


def logprobs(lr: LogprobsResult | None) -> Any:
    """Gemini logprobsResult -> OpenAI ``{"content": [...]}`` (what Choice.logprobs holds)."""
    if lr is None or not lr.chosen_candidates:
        return None
    content = []
    for i, c in enumerate(lr.chosen_candidates):
        top = lr.top_candidates[i].candidates if i < len(lr.top_candidates) else []
        content.append(
            {
                "token": c.token,
                "logprob": c.log_probability,
                "bytes": list(c.token.encode()),
                "top_logprobs": [
                    {"token": t.token, "logprob": t.log_probability, "bytes": list(t.token.encode())} for t in top
                ],
            }
        )
    return {"content": content}


def finish(raw: str, had_calls: bool) -> FinishReason:
    reason = _FINISH.get(raw, "stop")
    return "tool_calls" if reason == "stop" and had_calls else reason


def blocked(reason: str) -> ContentFiltered:
    return ContentFiltered(f"the provider's safety system blocked the prompt ({reason})")


def _decode(body: bytes) -> GenerateContentResponse:
    try:
        return decode_response(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UpstreamProtocolError(f"unreadable Gemini response: {e}") from None


def parse_response(body: bytes, target: Target) -> ChatResponse:
    resp = _decode(body)
    if resp.error is not None:
        raise status_error(resp.error.code, resp.error, {})
    if not resp.candidates and resp.prompt_feedback and resp.prompt_feedback.block_reason:
        raise blocked(resp.prompt_feedback.block_reason)
    rid = resp.response_id or ""
    choices = []
    for cand in resp.candidates:
        parts: list[Part] = []
        n_calls = 0
        for gp in cand.content.parts if cand.content else ():
            sig = tag(GEMINI, gp.thought_signature) if gp.thought_signature else None
            if gp.thought:
                parts.append(ThinkingPart(text=gp.text or "", signature=sig))
                continue
            if sig:
                parts.append(ThinkingPart(text="", signature=sig))
            if gp.function_call is not None:
                fc = gp.function_call
                parts.append(ToolCallPart(fc.id or call_id(rid, cand.index, n_calls), fc.name, text_of(fc.args)))
                n_calls += 1
            elif gp.inline_data is not None:
                parts.append(ImagePart(data=gp.inline_data.data, media_type=gp.inline_data.mime_type))
            elif gp.text:
                last = parts[-1] if parts else None
                if isinstance(last, TextPart):
                    parts[-1] = TextPart(last.text + gp.text)  # one answer, one text block
                else:
                    parts.append(TextPart(gp.text))
        reason = finish(cand.finish_reason, n_calls > 0) if cand.finish_reason else None
        choices.append(
            Choice(
                index=cand.index,
                message=Message(role="assistant", parts=parts),
                finish_reason=reason,
                logprobs=logprobs(cand.logprobs_result),
            )
        )
    return ChatResponse(
        id=rid or f"gemini-{uuid.uuid4().hex}",
        model=resp.model_version or target.model,
        choices=choices,
        usage=usage(resp.usage_metadata) if resp.usage_metadata else None,
    )


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """Usage of an already-decoded generateContent body or stream chunk, if it has one."""
    u = obj.get("usageMetadata")
    if type(u) is not dict:
        return None
    try:
        return usage(msgspec.convert(u, UsageMetadata))
    except msgspec.ValidationError:
        return None
