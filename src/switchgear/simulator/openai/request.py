"""What OpenAI's Chat Completions endpoint accepts: request validation with
OpenAI's own error messages, and the facts (``plan.Ask``) the reply is built from.

Token accounting for the prompt: the text of every message (string content, text
and refusal parts, tool-call names and arguments), ``IMAGE_TOKENS`` per image,
plus the JSON text of the ``tools`` array. Prefix marks at every message
boundary feed automatic prompt caching. The messages and tools are read in
``messages``.
"""

from __future__ import annotations

import re
from typing import Any

from switchgear.simulator import plan, schema
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.config import content_mode
from switchgear.simulator.openai.errors import invalid, json_type
from switchgear.simulator.openai.messages import read_messages, read_tool_choice, read_tools
from switchgear.simulator.wire import dumps

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
EFFORT_TOKENS = {"none": 0, "minimal": 0, "low": 16, "medium": 64, "high": 256, "xhigh": 512}
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_OPENAI_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-|text-embedding-|davinci|babbage)")


def reject_unknown(body: dict[str, Any], allowed: frozenset[str]) -> None:
    """OpenAI refuses parameters it does not know, so a gateway leaking fields is caught."""
    for key in body:
        if key not in allowed:
            raise invalid(f"Unrecognized request argument supplied: {key}")


def require_model(model: str, azure: bool) -> None:
    if not azure and not model:  # Azure names the deployment in the path instead
        raise invalid("you must provide a model parameter")


def read_chat(body: dict[str, Any], model: str) -> tuple[plan.Ask, int, int, Prefixes]:
    messages = body.get("messages")
    if messages is None:
        raise invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise invalid(
            f"Invalid type for 'messages': expected an array, but got {json_type(messages)} instead.",
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

    tools, tool_tokens = read_tools(body)
    tool_mode, tool_name = read_tool_choice(body, tools)
    prefixes = Prefixes(f"openai:{model}")
    prefixes.add(dumps(body.get("tools") or []), tool_tokens)
    source, tool_result, prompt_tokens, mentions_json = read_messages(messages, prefixes)
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


# ---- helpers ------------------------------------------------------------------------------


def _int_param(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"Invalid type for '{name}': expected an integer, but got {json_type(value)} instead.", name, "invalid_type")
    _bounds(name, value, lo, hi, "integer")
    return value


def _range(name: str, value: Any, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise invalid(f"Invalid type for '{name}': expected a number, but got {json_type(value)} instead.", name, "invalid_type")
    _bounds(name, value, lo, hi, "decimal")


def _bounds(name: str, value: float, lo: float, hi: float, kind: str) -> None:
    """OpenAI's range errors; ``kind`` ("integer" | "decimal") is the word its messages use."""
    if value < lo:
        raise invalid(
            f"Invalid '{name}': {kind} below minimum value. Expected a value >= {lo}, but got {value} instead.",
            name,
            f"{kind}_below_min_value",
        )
    if value > hi:
        raise invalid(
            f"Invalid '{name}': {kind} above maximum value. Expected a value <= {hi}, but got {value} instead.",
            name,
            f"{kind}_above_max_value",
        )
