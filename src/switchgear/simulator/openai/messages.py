"""The ``messages`` and ``tools`` of a Chat Completions request, read and checked the way
OpenAI does, with its own error messages."""

from __future__ import annotations

import re
from typing import Any

from switchgear.simulator import plan, schema, text
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.openai.errors import invalid, json_type
from switchgear.simulator.wire import Reject, dumps

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def read_tools(body: dict[str, Any]) -> tuple[list[plan.ToolSpec], int]:
    tools = body.get("tools")
    if tools is None:
        return [], 0
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    specs = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "custom":
            continue
        if kind != "function":
            raise invalid(
                f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'.",
                f"tools[{i}].type",
                "invalid_value",
            )
        fn = tool.get("function")
        if not isinstance(fn, dict) or "name" not in fn:
            raise invalid(
                f"Missing required parameter: 'tools[{i}].function.name'.",
                f"tools[{i}].function.name",
                "missing_required_parameter",
            )
        name = fn["name"]
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise invalid(
                f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                f"tools[{i}].function.name",
                "invalid_value",
            )
        parameters = fn.get("parameters") or {"type": "object", "properties": {}}
        why = schema.problem(parameters)
        if why is not None:
            raise invalid(
                f"Invalid schema for function '{name}': {why}.", f"tools[{i}].function.parameters", "invalid_function_parameters"
            )
        specs.append(plan.ToolSpec(name, parameters))
    return specs, text.count_tokens(dumps(tools).decode())


def read_tool_choice(body: dict[str, Any], tools: list[plan.ToolSpec]) -> tuple[plan.ToolMode, str | None]:
    choice = body.get("tool_choice")
    if choice is None:
        return "auto", None
    if not tools:
        raise invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            "tool_choice",
        )
    if choice in ("none", "auto", "required"):
        return choice, None
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in {t.name for t in tools}:
            raise invalid(
                f"Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter.",
                "tool_choice",
            )
        return "tool", name
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return ("required" if (choice.get("allowed_tools") or {}).get("mode") == "required" else "auto"), None
    raise invalid(
        "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.", "tool_choice"
    )


def read_messages(messages: list[Any], prefixes: Prefixes) -> tuple[str, str | None, int, bool]:
    total = 0
    source = ""
    mentions_json = False
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message awaiting it
    last_calls_at = -1
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid(
                f"Invalid type for 'messages[{i}]': expected an object, but got {json_type(msg)} instead.",
                f"messages[{i}]",
                "invalid_type",
            )
        role = msg.get("role")
        if role is None:
            raise invalid(
                f"Missing required parameter: 'messages[{i}].role'.", f"messages[{i}].role", "missing_required_parameter"
            )
        if role not in ROLES:
            raise invalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        if pending and role != "tool":
            raise _unanswered(pending, last_calls_at)
        content = msg.get("content")
        if content is None and role in ("system", "developer", "user", "tool"):
            raise invalid(
                f"Missing required parameter: 'messages[{i}].content'.",
                f"messages[{i}].content",
                "missing_required_parameter",
            )
        body_text, images = content_text(content, i)
        tokens = text.count_tokens(body_text) + images * text.IMAGE_TOKENS
        if "json" in body_text.lower():
            mentions_json = True
        if role == "assistant":
            calls = msg.get("tool_calls") or []
            if not isinstance(calls, list):
                raise invalid(
                    f"Invalid type for 'messages[{i}].tool_calls': expected an array.", f"messages[{i}].tool_calls", "invalid_type"
                )
            for k, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    raise invalid(
                        f"Missing required parameter: 'messages[{i}].tool_calls[{k}].function'.",
                        f"messages[{i}].tool_calls[{k}].function",
                        "missing_required_parameter",
                    )
                tokens += text.count_tokens(str(fn.get("name", ""))) + text.count_tokens(str(fn.get("arguments", "")))
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    pending[call["id"]] = i
            if calls:
                last_calls_at = i
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in pending:
                raise invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            del pending[call_id]
        elif role == "user":
            source = body_text
        total += tokens
        prefixes.add(dumps(msg), tokens)
        prefixes.mark()
    if pending:
        raise _unanswered(pending, last_calls_at)
    last = messages[-1]
    tool_result = None
    if last.get("role") == "tool":
        # All tool messages after the last assistant turn are the results being answered.
        results = []
        for msg in reversed(messages):
            if msg.get("role") != "tool":
                break
            results.append(content_text(msg.get("content"), 0)[0])
        tool_result = " ".join(reversed(results))
    return source, tool_result, total, mentions_json


def _unanswered(pending: dict[str, int], at: int) -> Reject:
    ids = ", ".join(pending)
    return invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
        f"messages.[{at}].role",
    )


def content_text(content: Any, index: int) -> tuple[str, int]:
    """The text of a message's content and its number of images."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        raise invalid(
            f"Invalid type for 'messages[{index}].content': expected one of a string or array of objects, but got "
            f"{json_type(content)} instead.",
            f"messages[{index}].content",
            "invalid_type",
        )
    texts = []
    images = 0
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in PART_TYPES:
            raise invalid(
                f"Invalid value: '{kind}'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', "
                "'audio', and 'file'.",
                f"messages[{index}].content[{j}].type",
                "invalid_value",
            )
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif kind == "image_url":
            images += 1
    return "\n".join(texts), images
