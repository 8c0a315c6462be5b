"""``parse_body`` (the top level, cheaply: the raw dict is what pass-through sends on)
and ``to_canonical`` (the full conversion)."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.types import ChatRequest, Message, Reasoning, ResponseFormat, TextPart, Tool, ToolChoice
from switchgear.frontends.anthropic_messages.blocks import assistant_parts, text, user_turn

_decode = msgspec.json.decode

_ROLES = frozenset({"user", "assistant", "system"})
# Top-level fields with a canonical home; everything else goes to ChatRequest.extra.
_KNOWN = frozenset(
    {
        "model", "messages", "max_tokens", "stream", "system", "temperature", "top_p", "top_k",
        "stop_sequences", "metadata", "tools", "tool_choice", "thinking", "output_config",
    }
)  # fmt: skip
_NUMBER = (int, float)
# Optional top-level fields and the JSON types they must have (null counts as absent).
_OPTIONAL_TYPES: tuple[tuple[str, tuple[type, ...], str], ...] = (
    ("stream", (bool,), "a boolean"),
    ("system", (str, list), "a string or an array of text blocks"),
    ("temperature", _NUMBER, "a number"),
    ("top_p", _NUMBER, "a number"),
    ("top_k", (int,), "an integer"),
    ("stop_sequences", (list,), "an array of strings"),
    ("metadata", (dict,), "an object"),
    ("tools", (list,), "an array"),
    ("tool_choice", (dict,), "an object"),
    ("thinking", (dict,), "an object"),
    ("output_config", (dict,), "an object"),
)
_TOOL_FIELDS = frozenset({"type", "name", "description", "input_schema", "strict", "cache_control", "eager_input_streaming"})
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode and check the top level. Hot path: isinstance checks only."""
    try:
        obj = _decode(body)
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    except msgspec.DecodeError as e:
        if not _is_utf8(body):
            raise InvalidRequest("request body is not valid UTF-8") from None
        raise InvalidRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidRequest("request body must be a JSON object")
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: field required, a non-empty string", param="model")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: field required, a non-empty array", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InvalidRequest(f"messages.{i}: must be an object", param=f"messages.{i}")
        if m.get("role") not in _ROLES:
            raise InvalidRequest(
                f"messages.{i}.role: must be 'user', 'assistant' or 'system'", param=f"messages.{i}.role"
            )
        if not isinstance(m.get("content"), (str, list)):
            raise InvalidRequest(
                f"messages.{i}.content: must be a string or an array of content blocks", param=f"messages.{i}.content"
            )
    max_tokens = obj.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 0:
        raise InvalidRequest("max_tokens: field required, a non-negative integer", param="max_tokens")
    for field, types, what in _OPTIONAL_TYPES:
        value = obj.get(field)
        if value is not None and (not isinstance(value, types) or (type(value) is bool and bool not in types)):
            raise InvalidRequest(f"{field}: must be {what}", param=field)
    return obj


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def to_canonical(raw: dict[str, Any]) -> ChatRequest:
    messages: list[Message] = []
    system = raw.get("system")
    if isinstance(system, str):
        if system:
            messages.append(Message(role="system", parts=[TextPart(text=system)]))
    elif system:
        messages.append(Message(role="system", parts=[text(b, f"system.{j}") for j, b in enumerate(system)]))
    for i, m in enumerate(raw["messages"]):
        where = f"messages.{i}"
        role = m["role"]
        content = m["content"]
        if role == "user":
            user_turn(content, where, messages)
        elif role == "assistant":
            messages.append(Message(role="assistant", parts=assistant_parts(content, where)))
        elif isinstance(content, str):
            messages.append(Message(role="system", parts=[TextPart(text=content)]))
        else:
            messages.append(Message(role="system", parts=[text(b, f"{where}.content.{j}") for j, b in enumerate(content)]))

    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    user = None
    metadata = raw.get("metadata")
    if metadata:
        user = metadata.get("user_id")
        if user is not None and not isinstance(user, str):
            raise InvalidRequest("metadata.user_id: must be a string", param="metadata.user_id")
        rest = {k: v for k, v in metadata.items() if k != "user_id"}
        if rest:
            extra["metadata"] = rest
    stop = raw.get("stop_sequences")
    if stop:
        for j, s in enumerate(stop):
            if not isinstance(s, str):
                raise InvalidRequest(f"stop_sequences.{j}: must be a string", param=f"stop_sequences.{j}")
    tool_choice, parallel = _tool_choice(raw.get("tool_choice"))
    thinking = raw.get("thinking")
    output_config = raw.get("output_config") or {}
    response_format, effort, config_rest = _output_config(output_config)
    reasoning = _reasoning(thinking, effort)
    if effort is not None and (thinking is None or thinking.get("type") != "adaptive"):
        config_rest["effort"] = output_config["effort"]  # effort alone is not a thinking request
    if config_rest:
        extra["output_config"] = config_rest
    stream = raw.get("stream") is True
    tools = raw.get("tools")
    return ChatRequest(
        model=raw["model"],
        messages=messages,
        stream=stream,
        include_usage=stream,
        max_tokens=raw["max_tokens"],
        temperature=raw.get("temperature"),
        top_p=raw.get("top_p"),
        top_k=raw.get("top_k"),
        stop=list(stop) if stop else None,
        tools=_tools(tools) if tools else None,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=response_format,
        reasoning=reasoning,
        user=user,
        extra=extra,
    )


def _tools(raw_tools: list[Any]) -> list[Tool]:
    tools: list[Tool] = []
    for i, t in enumerate(raw_tools):
        where = f"tools.{i}"
        if not isinstance(t, dict):
            raise InvalidRequest(f"{where}: must be an object", param=where)
        kind = t.get("type")
        if kind is not None and kind != "custom":
            raise UnsupportedParameter(
                f"{where}: server tool '{kind}' is not supported by Switchgear; only client tools are",
                param=f"{where}.type",
            )
        for key in t:
            if key not in _TOOL_FIELDS:
                raise UnsupportedParameter(f"{where}.{key}: not supported by Switchgear", param=f"{where}.{key}")
        name, schema = t.get("name"), t.get("input_schema")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}.name: field required, a string", param=f"{where}.name")
        if not isinstance(schema, dict):
            raise InvalidRequest(f"{where}.input_schema: field required, an object", param=f"{where}.input_schema")
        description, strict = t.get("description"), t.get("strict")
        if description is not None and not isinstance(description, str):
            raise InvalidRequest(f"{where}.description: must be a string", param=f"{where}.description")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidRequest(f"{where}.strict: must be a boolean", param=f"{where}.strict")
        tools.append(Tool(name=name, description=description, parameters=schema, strict=strict))
    return tools


def _tool_choice(tc: dict[str, Any] | None) -> tuple[ToolChoice | None, bool | None]:
    if tc is None:
        return None, None
    kind = tc.get("type")
    if kind == "auto":
        choice = ToolChoice(mode="auto")
    elif kind == "any":
        choice = ToolChoice(mode="required")
    elif kind == "none":
        choice = ToolChoice(mode="none")
    elif kind == "tool":
        name = tc.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("tool_choice.name: field required for type 'tool'", param="tool_choice.name")
        choice = ToolChoice(mode="tool", name=name)
    else:
        raise InvalidRequest("tool_choice.type: must be 'auto', 'any', 'tool' or 'none'", param="tool_choice.type")
    return choice, (False if tc.get("disable_parallel_tool_use") is True else None)


def _output_config(oc: dict[str, Any]) -> tuple[ResponseFormat | None, str | None, dict[str, Any]]:
    rest = {k: v for k, v in oc.items() if k not in ("format", "effort")}
    fmt = oc.get("format")
    response_format = None
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise InvalidRequest(
                "output_config.format: must be {type: json_schema, schema: {...}}", param="output_config.format"
            )
        response_format = ResponseFormat(type="json_schema", schema=fmt["schema"])
    effort = oc.get("effort")
    if effort is not None and effort not in _EFFORT:
        raise InvalidRequest(
            "output_config.effort: must be 'low', 'medium', 'high', 'xhigh' or 'max'", param="output_config.effort"
        )
    return response_format, effort, rest


def _reasoning(thinking: dict[str, Any] | None, effort: str | None) -> Reasoning | None:
    if thinking is None:
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if type(budget) is not int or budget < 1:
            raise InvalidRequest("thinking.budget_tokens: field required, a positive integer", param="thinking.budget_tokens")
        return Reasoning(budget_tokens=budget)
    if kind == "adaptive":
        return Reasoning(effort=_EFFORT[effort] if effort is not None else "high")  # type: ignore[arg-type]
    if kind == "disabled":
        return None
    raise UnsupportedParameter(
        "thinking.type: must be 'enabled', 'adaptive' or 'disabled' for Switchgear", param="thinking.type"
    )
