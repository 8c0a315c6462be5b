"""Canonical ChatRequest -> a Chat Completions request body, and the path and headers
every OpenAI-compatible request shares (Azure's deployment path, vendor renames)."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.types import (
    OPTIONAL_PARAMS,
    ChatRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.providers.formats.reasoning import effort_for_budget

# Every canonical parameter except top_k has an OpenAI body field.
SUPPORTED: frozenset[str] = frozenset(OPTIONAL_PARAMS) - {"top_k"}

_JSON_CT = ("content-type", "application/json")
encode = msgspec.json.encode


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, SUPPORTED, target)
    body: dict[str, Any] = {"model": target.model, "messages": _messages(req.messages)}
    if req.stream:
        body["stream"] = True
        # Always ask for usage: metering needs it even when the client did not.
        body["stream_options"] = {"include_usage": True}

    def put(field: str, key: str, value: Any) -> None:
        if value is not None and field not in dropped:
            body[key] = value

    put("max_tokens", "max_tokens", req.max_tokens)
    put("temperature", "temperature", req.temperature)
    put("top_p", "top_p", req.top_p)
    put("stop", "stop", req.stop)
    put("seed", "seed", req.seed)
    put("n", "n", req.n)
    put("presence_penalty", "presence_penalty", req.presence_penalty)
    put("frequency_penalty", "frequency_penalty", req.frequency_penalty)
    put("logprobs", "logprobs", req.logprobs)
    put("top_logprobs", "top_logprobs", req.top_logprobs)
    if req.tools is not None and "tools" not in dropped:
        body["tools"] = [_tool(t) for t in req.tools]
    if req.tool_choice is not None and "tool_choice" not in dropped:
        tc = req.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": tc.name}} if tc.mode == "tool" else tc.mode
        )
    put("parallel_tool_calls", "parallel_tool_calls", req.parallel_tool_calls)
    if req.response_format is not None and "response_format" not in dropped:
        body["response_format"] = _response_format(req.response_format)
    if req.reasoning is not None and "reasoning" not in dropped:
        effort: str | None = req.reasoning.effort
        budget = req.reasoning.budget_tokens
        if effort is None and budget is not None:
            effort = "none" if budget <= 0 else effort_for_budget(budget)  # 0: no reasoning at all
        if effort is not None:
            body["reasoning_effort"] = effort
    put("user", "user", req.user)
    for key, value in extra.items():
        body.setdefault(key, value)  # a canonical field always wins over a same-named extra
    apply_renames(body, target)
    return UpstreamRequest("POST", path(target, "chat/completions"), headers(target), encode(body), req.stream)


def path(target: Target, op: str) -> str:
    version = target.options.get("api_version") if target.options else None
    if version:
        # Azure OpenAI: base_url is the resource endpoint and the deployment is in the path.
        return f"/openai/deployments/{target.model}/{op}?api-version={version}"
    return "/" + op


def headers(target: Target) -> list[tuple[str, str]]:
    return [*target.headers, _JSON_CT]


def apply_renames(body: dict[str, Any], target: Target) -> None:
    for old, new in target.renames:
        if old in body:
            value = body.pop(old)
            body.setdefault(new, value)  # a client that already used the new name wins


def _tool(t: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        fn["description"] = t.description
    if t.parameters:
        fn["parameters"] = t.parameters
    if t.strict is not None:
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def _response_format(rf: Any) -> dict[str, Any]:
    if rf.type != "json_schema":
        return {"type": rf.type}
    js: dict[str, Any] = {"name": rf.name or "response"}
    if rf.description is not None:
        js["description"] = rf.description
    if rf.schema is not None:
        js["schema"] = rf.schema
    if rf.strict is not None:
        js["strict"] = rf.strict
    return {"type": "json_schema", "json_schema": js}


# Magic prefixes of base64-encoded images, for inline data that arrived without a media type.
_B64_MAGIC = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"))


def _image_url(p: ImagePart) -> dict[str, Any]:
    if p.url is not None:
        url = p.url
    else:
        media = p.media_type
        if media is None:
            data = p.data or ""
            media = next((m for magic, m in _B64_MAGIC if data.startswith(magic)), "image/png")
        url = f"data:{media};base64,{p.data or ''}"
    img: dict[str, Any] = {"url": url}
    if p.detail is not None:
        img["detail"] = p.detail
    return {"type": "image_url", "image_url": img}


def _content(parts: list[Any]) -> str | list[dict[str, Any]]:
    """A single text part becomes a string (what most servers expect); else an array."""
    if len(parts) == 1 and type(parts[0]) is TextPart:
        return parts[0].text
    out: list[dict[str, Any]] = []
    for p in parts:
        kind = type(p)
        if kind is TextPart:
            out.append({"type": "text", "text": p.text})
        elif kind is ImagePart:
            out.append(_image_url(p))
    return out if out else ""


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Content that must follow a run of tool messages (tool messages carry text only).
    pending: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            for p in m.parts:
                kind = type(p)
                if kind is ToolResultPart:
                    out.append(_tool_message(p, pending))
                elif kind is TextPart:
                    pending.append({"type": "text", "text": p.text})
                elif kind is ImagePart:
                    pending.append(_image_url(p))
            continue
        if pending:
            out.append({"role": "user", "content": pending})
            pending = []
        out.append(_assistant_message(m) if m.role == "assistant" else _plain_message(m))
    if pending:
        out.append({"role": "user", "content": pending})
    return out


def _tool_message(p: ToolResultPart, pending: list[dict[str, Any]]) -> dict[str, Any]:
    texts: list[str] = []
    for c in p.content:
        if type(c) is TextPart:
            texts.append(c.text)
        else:
            pending.append(_image_url(c))
    content: Any
    if len(texts) == 1:
        content = texts[0]
    elif texts:
        content = [{"type": "text", "text": t} for t in texts]
    else:
        content = ""
    return {"role": "tool", "tool_call_id": p.tool_call_id, "content": content}


def _plain_message(m: Message) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": m.role, "content": _content(m.parts)}
    if m.name is not None:
        msg["name"] = m.name
    return msg


def _assistant_message(m: Message) -> dict[str, Any]:
    texts: list[TextPart] = []
    calls: list[dict[str, Any]] = []
    for p in m.parts:
        kind = type(p)
        if kind is TextPart:
            texts.append(p)
        elif kind is ToolCallPart:
            calls.append({"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}})
        # ThinkingPart / RedactedThinkingPart: no input field in Chat Completions (package doc).
    content: Any
    if len(texts) == 1:
        content = texts[0].text
    elif texts:
        content = [{"type": "text", "text": t.text} for t in texts]
    else:
        content = None if calls else ""
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        msg["tool_calls"] = calls
    if m.name is not None:
        msg["name"] = m.name
    return msg
