"""Canonical ChatRequest -> a Converse / ConverseStream request body."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

import msgspec

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.types import ChatRequest
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.providers.formats.bedrock_converse.messages import messages
from switchgear.providers.formats.reasoning import MIN_CLAUDE_BUDGET, claude_max_tokens, requested_budget

SUPPORTED: frozenset[str] = frozenset(
    {
        "include_usage",  # the metadata event always carries usage
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning",
    }
)

# Converse request members a client may pass through at top level; other extras go
# into additionalModelRequestFields (the model's own parameters).
_TOP_LEVEL = frozenset(
    {
        "guardrailConfig",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
        "additionalModelRequestFields",
    }
)
_JSON = "application/json"
_encode = msgspec.json.Encoder().encode


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, SUPPORTED, target)
    system, turns, has_tool_blocks = messages(req.messages)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if req.max_tokens is not None and "max_tokens" not in dropped:
        inference["maxTokens"] = req.max_tokens
    if req.temperature is not None and "temperature" not in dropped:
        inference["temperature"] = req.temperature
    if req.top_p is not None and "top_p" not in dropped:
        inference["topP"] = req.top_p
    if req.stop is not None and "stop" not in dropped:
        inference["stopSequences"] = req.stop
        # Which sequence matched: Claude reports it there; Converse ignores a valid
        # pointer the model lacks, so asking is safe for every model.
        body["additionalModelResponseFieldPaths"] = ["/stop_sequence"]
    additional: dict[str, Any] = {}
    if req.top_k is not None and "top_k" not in dropped:
        additional["top_k"] = req.top_k
    if req.reasoning is not None and "reasoning" not in dropped:
        thinking = _thinking(req, target, inference)
        if thinking is not None:
            additional["thinking"] = thinking
    if inference:
        body["inferenceConfig"] = inference
    if additional:
        body["additionalModelRequestFields"] = additional
    tool_config = _tool_config(req, dropped, has_tool_blocks, target)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    rf = req.response_format
    if rf is not None and "response_format" not in dropped and rf.type != "text":
        fmt = _text_format(rf, target)
        if fmt is not None:
            body["outputConfig"] = {"textFormat": fmt}
    if extra:
        _merge(body, extra)
    op = "converse-stream" if req.stream else "converse"
    path = f"/model/{quote(target.model, safe='')}/{op}"
    return UpstreamRequest("POST", path, [("content-type", _JSON), *target.headers], _encode(body), req.stream)


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        dest = body if key in _TOP_LEVEL else body.setdefault("additionalModelRequestFields", {})
        mine = dest.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            mine.update(value)
        else:
            dest[key] = value


def _thinking(req: ChatRequest, target: Target, inference: dict[str, Any]) -> dict[str, Any] | None:
    r = req.reasoning
    assert r is not None
    budget = requested_budget(r)
    if budget is None:
        return None
    if budget == 0:
        return {"type": "disabled"}
    budget = max(budget, MIN_CLAUDE_BUDGET)
    # Claude needs budget_tokens < max_tokens; like anthropic_messages, the answer keeps
    # the room the client asked for. Unlike it, a request without max_tokens gets the
    # default *on top of* the budget (package notes), so the two flows stay separate.
    given = inference.get("maxTokens")
    if given is None:
        inference["maxTokens"] = budget + int(target.options.get("default_max_tokens", 4096))
    else:
        inference["maxTokens"] = claude_max_tokens(budget, given)
    return {"type": "enabled", "budget_tokens": budget}


def _refuse(param: str, message: str, target: Target) -> bool:
    """Apply the unsupported-parameter policy to a value Converse cannot express.
    Returns True when the parameter is to be dropped."""
    if target.unsupported_params == "reject":
        raise UnsupportedParameter(message, param=param)
    return True


def _tool_config(req: ChatRequest, dropped: set[str], has_tool_blocks: bool, target: Target) -> dict[str, Any] | None:
    if not req.tools or "tools" in dropped:
        return None
    choice = req.tool_choice if "tool_choice" not in dropped else None
    if choice is not None and choice.mode == "none":
        if not has_tool_blocks:
            return None  # no tools offered: the model cannot call one
        _refuse(
            "tool_choice",
            "tool_choice 'none' cannot be expressed in Bedrock Converse when the conversation has tool calls",
            target,
        )
        choice = None
    config: dict[str, Any] = {"tools": [_tool_spec(t) for t in req.tools]}
    if choice is not None:
        if choice.mode == "auto":
            config["toolChoice"] = {"auto": {}}
        elif choice.mode == "required":
            config["toolChoice"] = {"any": {}}
        elif choice.mode == "tool" and choice.name:
            config["toolChoice"] = {"tool": {"name": choice.name}}
    return config


def _tool_spec(tool: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["inputSchema"] = {"json": tool.parameters or {"type": "object", "properties": {}}}
    if tool.strict is not None:
        spec["strict"] = tool.strict
    return {"toolSpec": spec}


def _text_format(rf: Any, target: Target) -> dict[str, Any] | None:
    if rf.type == "json_object":
        _refuse("response_format", "response_format 'json_object' is not supported by Bedrock Converse", target)
        return None
    if rf.schema is None:
        raise InvalidRequest("response_format json_schema needs a schema", param="response_format")
    js: dict[str, Any] = {"schema": _encode(rf.schema).decode()}
    if rf.name:
        js["name"] = rf.name
    if rf.description:
        js["description"] = rf.description
    return {"type": "json_schema", "structure": {"jsonSchema": js}}
