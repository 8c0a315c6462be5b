"""What OpenAI's Chat Completions endpoint accepts: request validation with
OpenAI's own error messages, and the facts (``plan.Ask``) the reply is built from.

Token accounting for the prompt: the text of every message (string content, text
and refusal parts, tool-call names and arguments), ``IMAGE_TOKENS`` per image,
plus the JSON text of the ``tools`` array. Prefix marks at every message
boundary feed automatic prompt caching.
"""

from __future__ import annotations

import re
from typing import Any

from switchgear.simulator import plan, schema, text
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.config import content_mode
from switchgear.simulator.wire import Reject, dumps

CHAT_PARAMS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model",
        "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "reasoning_effort", "response_format",
        "safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip
# Azure On Your Data and friends add these.
AZURE_EXTRA_PARAMS = frozenset({"data_sources", "enhancements", "user_security_context"})
EMBEDDING_PARAMS = frozenset({"input", "model", "dimensions", "encoding_format", "user"})
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "refusal", "audio", "file")
EFFORT_TOKENS = {"none": 0, "minimal": 0, "low": 16, "medium": 64, "high": 256, "xhigh": 512}
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_OPENAI_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-|text-embedding-|davinci|babbage)")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def invalid(message: str, param: str | None = None, code: str | None = None) -> Reject:
    return Reject(400, message, type="invalid_request_error", param=param, code=code)


def read_chat(body: dict[str, Any], model: str) -> tuple[plan.Ask, int, int, Prefixes]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise invalid(
            f"Invalid type for 'messages': expected an array, but got {_json_type(messages)} instead.",
            "messages",
            "invalid_type",
        )
    if not messages:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty "
            "array instead.",
            "messages",
            "empty_array",
        )
    strict = bool(_OPENAI_MODEL.match(model))
    reasoning_model = bool(_REASONING_MODEL.match(model))
    mode = content_mode(model)
    n = _int_param(body, "n", 1, 1, 128)
    max_tokens = body.get("max_completion_tokens")
    if "max_tokens" in body and body["max_tokens"] is not None:
        if strict and reasoning_model:
            raise invalid(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            )
        max_tokens = body["max_tokens"] if max_tokens is None else max_tokens
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        raise invalid(
            f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {max_tokens} instead.",
            name,
            "integer_below_min_value",
        )
    temperature = body.get("temperature")
    if temperature is not None:
        _range("temperature", temperature, 0, 2)
        if strict and reasoning_model and temperature != 1:
            raise invalid(
                f"Unsupported value: 'temperature' does not support {temperature} with this model. Only the "
                "default (1) value is supported.",
                "temperature",
                "unsupported_value",
            )
    for name, lo, hi in (("top_p", 0, 1), ("presence_penalty", -2, 2), ("frequency_penalty", -2, 2)):
        if body.get(name) is not None:
            _range(name, body[name], lo, hi)
    effort = body.get("reasoning_effort")
    hidden = 0
    if effort is not None:
        if strict and not reasoning_model:
            raise invalid(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                "reasoning_effort",
                "unsupported_parameter",
            )
        if effort not in EFFORT_TOKENS:
            raise invalid(
                f"Invalid value: '{effort}'. Supported values are: 'none', 'minimal', 'low', 'medium', "
                "'high', and 'xhigh'.",
                "reasoning_effort",
                "invalid_value",
            )
        hidden = EFFORT_TOKENS[effort]
    elif strict and reasoning_model:
        hidden = EFFORT_TOKENS["medium"]
    stop = body.get("stop")
    stops: list[str] = []
    if isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list):
        if len(stop) > 4:
            raise invalid(
                f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array "
                f"with length {len(stop)} instead.",
                "stop",
                "array_above_max_length",
            )
        stops = [s for s in stop if isinstance(s, str)]
    elif stop is not None:
        raise invalid("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type")
    if body.get("stream_options") is not None and body.get("stream") is not True:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
        )
    if body.get("top_logprobs") is not None:
        top = body["top_logprobs"]
        if not isinstance(top, int) or not 0 <= top <= 20:
            raise invalid("Invalid 'top_logprobs': expected an integer between 0 and 20.", "top_logprobs", "invalid_value")
        if body.get("logprobs") is not True:
            raise invalid(
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is set.",
                "top_logprobs",
            )

    tools, tool_tokens = _read_tools(body)
    tool_mode, tool_name = _read_tool_choice(body, tools)
    prefixes = Prefixes(f"openai:{model}")
    prefixes.add(dumps(body.get("tools") or []), tool_tokens)
    source, tool_result, prompt_tokens, mentions_json = _read_messages(messages, prefixes)
    prompt_tokens += tool_tokens

    json_schema = None
    json_object = False
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_object":
            if not mentions_json:
                raise invalid(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                    "'json_object'.",
                    "messages",
                )
            json_object = True
        elif kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise invalid(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    "response_format.json_schema.name",
                    "missing_required_parameter",
                )
            json_schema = spec.get("schema") or {"type": "object"}
            why = schema.problem(json_schema)
            if why is not None:
                raise invalid(
                    f"Invalid schema for response_format '{spec['name']}': {why}.", "response_format", "invalid_json_schema"
                )
        elif kind != "text":
            raise invalid(
                f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                "response_format.type",
                "invalid_value",
            )
    ask = plan.Ask(
        model=model,
        source=source,
        tool_result=tool_result,
        tools=tools,
        tool_mode=tool_mode,
        tool_name=tool_name,
        parallel_tools=body.get("parallel_tool_calls") is not False,
        max_tokens=max_tokens,
        stop=stops,
        hidden_reasoning=hidden,
        json_schema=json_schema,
        json_object=json_object,
        mode=mode,
    )
    return ask, n, prompt_tokens, prefixes

def _read_tools(body: dict[str, Any]) -> tuple[list[plan.ToolSpec], int]:
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

def _read_tool_choice(body: dict[str, Any], tools: list[plan.ToolSpec]) -> tuple[plan.ToolMode, str | None]:
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

def _read_messages(messages: list[Any], prefixes: Prefixes) -> tuple[str, str | None, int, bool]:
    total = 0
    source = ""
    mentions_json = False
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message awaiting it
    last_calls_at = -1
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid(
                f"Invalid type for 'messages[{i}]': expected an object, but got {_json_type(msg)} instead.",
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
            ids = ", ".join(pending)
            raise invalid(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
                f"messages.[{last_calls_at}].role",
            )
        content = msg.get("content")
        if content is None and role in ("system", "developer", "user", "tool"):
            raise invalid(
                f"Missing required parameter: 'messages[{i}].content'.",
                f"messages[{i}].content",
                "missing_required_parameter",
            )
        body_text, images = _content_text(content, i)
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
        ids = ", ".join(pending)
        raise invalid(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
            f"messages.[{last_calls_at}].role",
        )
    last = messages[-1]
    tool_result = None
    if last.get("role") == "tool":
        # All tool messages after the last assistant turn are the results being answered.
        results = []
        for msg in reversed(messages):
            if msg.get("role") != "tool":
                break
            results.append(_content_text(msg.get("content"), 0)[0])
        tool_result = " ".join(reversed(results))
    return source, tool_result, total, mentions_json


# ---- helpers ------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


def _int_param(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"Invalid type for '{name}': expected an integer, but got {_json_type(value)} instead.", name, "invalid_type")
    if value < lo:
        raise invalid(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {lo}, but got {value} instead.",
            name,
            "integer_below_min_value",
        )
    if value > hi:
        raise invalid(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {hi}, but got {value} instead.",
            name,
            "integer_above_max_value",
        )
    return value


def _range(name: str, value: Any, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise invalid(f"Invalid type for '{name}': expected a number, but got {_json_type(value)} instead.", name, "invalid_type")
    if value < lo:
        raise invalid(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {lo}, but got {value} instead.",
            name,
            "decimal_below_min_value",
        )
    if value > hi:
        raise invalid(
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {hi}, but got {value} instead.",
            name,
            "decimal_above_max_value",
        )


def _content_text(content: Any, index: int) -> tuple[str, int]:
    """The text of a message's content and its number of images."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if not isinstance(content, list):
        raise invalid(
            f"Invalid type for 'messages[{index}].content': expected one of a string or array of objects, but got "
            f"{_json_type(content)} instead.",
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
