"""Canonical messages -> Gemini ``contents`` and ``systemInstruction`` parts, with thought
signatures put back on the parts they came on (see the package notes)."""

from __future__ import annotations

import mimetypes
from typing import Any

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.signatures import GEMINI, untag
from switchgear.core.types import (
    ImagePart,
    Message,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)
from switchgear.providers.formats import data_url, tool_arguments

# Google's documented placeholder for function calls whose signature is unknown.
DUMMY_THOUGHT_SIGNATURE = "skip_thought_signature_validator"


def contents(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, contents)."""
    call_names: dict[str, str] = {}
    for m in messages:
        if m.role == "assistant":
            for p in m.parts:
                if type(p) is ToolCallPart:
                    call_names[p.id] = p.name
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.role
        if role == "system" or role == "developer":
            for p in m.parts:
                if type(p) is not TextPart:
                    raise InvalidRequest("system messages may only contain text", param="messages")
                if p.text:
                    system.append({"text": p.text})
            continue
        if role == "assistant":
            parts = _model_parts(m.parts)
            wire_role = "model"
        else:
            parts = _user_parts(m.parts, call_names)
            wire_role = "user"
        if not parts:
            continue  # Gemini rejects a content without parts
        if out and out[-1]["role"] == wire_role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": wire_role, "parts": parts})
    return system, out


def _user_parts(parts: list[Part], call_names: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            if p.text:
                out.append({"text": p.text})
        elif isinstance(p, ImagePart):
            out.append(_image(p))
        elif isinstance(p, ToolResultPart):
            _tool_result(p, call_names, out)
        else:
            raise InvalidRequest(f"a {type(p).__name__} cannot appear in a user or tool message", param="messages")
    return out


def _tool_result(p: ToolResultPart, call_names: dict[str, str], out: list[dict[str, Any]]) -> None:
    fname = p.name or call_names.get(p.tool_call_id)
    if not fname:
        raise InvalidRequest(
            f"tool result '{p.tool_call_id}' answers no earlier tool call; Gemini needs the function name",
            param="messages",
        )
    text = "".join(c.text for c in p.content if type(c) is TextPart)
    fr: dict[str, Any] = {"name": fname, "response": {"error" if p.is_error else "output": text}}
    if not p.tool_call_id.startswith("call_"):
        fr["id"] = p.tool_call_id
    out.append({"functionResponse": fr})
    for c in p.content:
        if type(c) is ImagePart:
            out.append(_image(c))


def _model_parts(parts: list[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pending: str | None = None  # a signature waiting for the part it belongs to
    first_call: dict[str, Any] | None = None
    for p in parts:
        if isinstance(p, ThinkingPart):
            signature = untag(GEMINI, p.signature)  # another vendor's signature counts as none
            if p.text and signature:
                out.append({"text": p.text, "thought": True, "thoughtSignature": signature})
            elif not p.text and signature:
                if pending:
                    out.append({"text": "", "thoughtSignature": pending})
                pending = signature
            continue  # unsigned thought text: Gemini reads nothing from it
        if isinstance(p, RedactedThinkingPart):
            continue
        if isinstance(p, TextPart):
            if not p.text and not pending:
                continue
            d: dict[str, Any] = {"text": p.text}
        elif isinstance(p, ToolCallPart):
            fc: dict[str, Any] = {"name": p.name, "args": tool_arguments.value(p.arguments)}
            if not p.id.startswith("call_"):
                fc["id"] = p.id
            d = {"functionCall": fc}
            if first_call is None:
                first_call = d
        elif isinstance(p, ImagePart):
            d = _image(p)
        else:
            raise InvalidRequest(f"a {type(p).__name__} cannot appear in an assistant message", param="messages")
        if pending:
            d["thoughtSignature"] = pending
            pending = None
        out.append(d)
    if pending:
        out.append({"text": "", "thoughtSignature": pending})
    if first_call is not None and "thoughtSignature" not in first_call:
        first_call["thoughtSignature"] = DUMMY_THOUGHT_SIGNATURE
    return out


def _image(p: ImagePart) -> dict[str, Any]:
    if p.data is not None:
        return {"inlineData": {"mimeType": p.media_type or "image/png", "data": p.data}}
    url = p.url or ""
    if url.startswith("data:"):
        inline = data_url.split_base64(url)
        if inline is None:
            raise InvalidRequest("image data URLs must be base64", param="messages")
        return {"inlineData": {"mimeType": inline[0] or "image/png", "data": inline[1]}}
    if url.startswith(("https://", "http://")):
        fd: dict[str, Any] = {"fileUri": url}
        mime = p.media_type or mimetypes.guess_type(url.split("?", 1)[0])[0]
        if mime:
            fd["mimeType"] = mime
        return {"fileData": fd}
    raise UnsupportedParameter("image URLs must be data: or http(s) URLs for Gemini", param="messages")
