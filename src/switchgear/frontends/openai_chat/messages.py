"""Chat Completions ``messages`` -> canonical messages (nested errors name their path)."""

from __future__ import annotations

from typing import Any

from switchgear.core.errors import UnsupportedParameter
from switchgear.core.types import ImagePart, Message, Part, TextPart, ToolCallPart, ToolResultPart
from switchgear.frontends.openai_chat.checks import bad_type, bad_value, missing, optional_str, require_str

_TEXT_ONLY = frozenset({"text"})
_USER_PARTS = frozenset({"text", "image_url"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})


def messages(raw: list[Any]) -> list[Message]:
    out: list[Message] = []
    legacy_ids: dict[str, str] = {}  # function name -> synthesised id of its last legacy call
    call_names: dict[str, str] = {}  # tool call id -> function name (Gemini needs it on results)
    for i, m in enumerate(raw):
        path = f"messages[{i}]"
        role = m["role"]
        name = optional_str(m, "name", path)
        content = m.get("content")
        if role in ("system", "developer"):
            if content is None:
                raise missing(f"{path}.content")
            out.append(Message(role, _parts(content, f"{path}.content", _TEXT_ONLY), name))
        elif role == "user":
            if content is None:
                raise missing(f"{path}.content")
            out.append(Message("user", _parts(content, f"{path}.content", _USER_PARTS), name))
        elif role == "assistant":
            msg = _assistant(m, path, name, legacy_ids, i)
            for p in msg.parts:
                if type(p) is ToolCallPart:
                    call_names[p.id] = p.name
            out.append(msg)
        elif role == "tool":
            call_id = require_str(m, "tool_call_id", path)
            result = [] if content is None else _parts(content, f"{path}.content", _TEXT_ONLY)
            out.append(Message("tool", [ToolResultPart(call_id, result, name=call_names.get(call_id))]))  # type: ignore[arg-type]
        else:  # legacy "function" role: the result of a legacy function_call
            fname = require_str(m, "name", path)
            result = [] if content is None else _parts(content, f"{path}.content", _TEXT_ONLY)
            call_id = legacy_ids.get(fname, f"call_fn_{fname}")
            out.append(Message("tool", [ToolResultPart(call_id, result, name=fname)]))  # type: ignore[arg-type]
    return out


def _assistant(m: dict[str, Any], path: str, name: str | None, legacy_ids: dict[str, str], i: int) -> Message:
    content = m.get("content")
    # "" (what many SDKs send beside tool calls) says nothing; an empty text part would be
    # refused by formats that forbid empty text blocks (Anthropic).
    parts: list[Part] = [] if not content else _parts(content, f"{path}.content", _ASSISTANT_PARTS)
    refusal = m.get("refusal")
    if refusal is not None:
        if type(refusal) is not str:
            raise bad_type(f"{path}.refusal", "a string", refusal)
        parts.append(TextPart(refusal))
    if m.get("audio") is not None:
        raise UnsupportedParameter("Assistant audio references are not supported by this gateway.", param=f"{path}.audio")
    calls = m.get("tool_calls")
    if calls is not None:
        if type(calls) is not list:
            raise bad_type(f"{path}.tool_calls", "an array", calls)
        for j, tc in enumerate(calls):
            p = f"{path}.tool_calls[{j}]"
            if type(tc) is not dict:
                raise bad_type(p, "an object", tc)
            kind = tc.get("type", "function")
            if kind == "custom":
                raise UnsupportedParameter("Custom tool calls are not supported by this gateway.", param=f"{p}.type")
            if kind != "function":
                raise bad_value(f"{p}.type", f"'{kind}' is not 'function'.")
            fn = tc.get("function")
            if type(fn) is not dict:
                raise bad_type(f"{p}.function", "an object", fn)
            parts.append(
                ToolCallPart(require_str(tc, "id", p), require_str(fn, "name", f"{p}.function"),
                             require_str(fn, "arguments", f"{p}.function"))
            )
    fc = m.get("function_call")
    if fc is not None:
        if type(fc) is not dict:
            raise bad_type(f"{path}.function_call", "an object", fc)
        fname = require_str(fc, "name", f"{path}.function_call")
        call_id = legacy_ids[fname] = f"call_fn_{i}"
        parts.append(ToolCallPart(call_id, fname, require_str(fc, "arguments", f"{path}.function_call")))
    return Message("assistant", parts, name)


def _parts(content: Any, path: str, allowed: frozenset[str]) -> list[Part]:
    """Message content (string or array of parts) -> canonical parts."""
    if type(content) is str:
        return [TextPart(content)]
    if type(content) is not list:
        raise bad_type(path, "a string or an array of content parts", content)
    out: list[Part] = []
    for j, item in enumerate(content):
        p = f"{path}[{j}]"
        if type(item) is not dict:
            raise bad_type(p, "an object", item)
        kind = item.get("type")
        if kind not in allowed:
            if kind in ("input_audio", "file"):
                raise UnsupportedParameter(
                    f"Content parts of type '{kind}' are not supported by this gateway.", param=f"{p}.type"
                )
            if type(kind) is not str:
                raise bad_type(f"{p}.type", "a string", kind)
            raise bad_value(f"{p}.type", f"'{kind}' is not one of {sorted(allowed)}.")
        if kind == "text":
            out.append(TextPart(require_str(item, "text", p)))
        elif kind == "refusal":
            out.append(TextPart(require_str(item, "refusal", p)))
        else:
            out.append(_image_part(item, p))
    return out


def _image_part(item: dict[str, Any], path: str) -> ImagePart:
    img = item.get("image_url")
    if type(img) is str:  # early vision previews accepted a bare URL string
        img = {"url": img}
    if type(img) is not dict:
        if img is None:
            raise missing(f"{path}.image_url")
        raise bad_type(f"{path}.image_url", "an object", img)
    url = require_str(img, "url", f"{path}.image_url")
    detail = optional_str(img, "detail", f"{path}.image_url")
    if detail is not None and detail not in ("auto", "low", "high"):
        raise bad_value(f"{path}.image_url.detail", f"'{detail}' is not one of ['auto', 'high', 'low'].")
    parsed = _parse_data_url(url)
    if parsed is not None:
        return ImagePart(data=parsed[1], media_type=parsed[0], detail=detail)
    return ImagePart(url=url, detail=detail)


def _parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` -> (media type, data); else None. (The wire
    formats' providers.formats.data_url is the same rule; frontends import no provider code.)"""
    if not url.startswith("data:"):
        return None
    comma = url.find(",")
    if comma < 0:
        return None
    meta = url[5:comma]
    if not meta.endswith(";base64"):
        return None
    return meta[:-7] or "application/octet-stream", url[comma + 1 :]
