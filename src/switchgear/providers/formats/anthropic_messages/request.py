"""Canonical ChatRequest -> a Messages API request body (pass-through is in ``passthrough``)."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.signatures import ANTHROPIC_MESSAGES
from switchgear.core.types import ChatRequest, Reasoning, Tool
from switchgear.providers.formats.anthropic_messages.messages import messages
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.providers.formats.reasoning import (
    EFFORT_BUDGET,
    MIN_CLAUDE_BUDGET,
    claude_max_tokens,
    effort_for_budget,
    requested_budget,
)

PATH = "/v1/messages"

_SAMPLING = frozenset({"temperature", "top_p", "top_k"})
SUPPORTED: frozenset[str] = frozenset(
    {"max_tokens", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning", "user"}
) | _SAMPLING
_SUPPORTED_WITHOUT_SAMPLING = SUPPORTED - _SAMPLING
_SAMPLING_REMOVED_IN = "2026-10-21"  # anthropic-version that dropped temperature/top_p/top_k

DEFAULT_MAX_TOKENS = 4096
# Adaptive thinking's output_config.effort has no "minimal".
_ADAPTIVE_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}

encode = msgspec.json.encode


def supported_for(target: Target) -> frozenset[str]:
    """Canonical params this target honours: sampling params depend on the API version."""
    for key, value in target.headers:
        if key.lower() == "anthropic-version":
            return _SUPPORTED_WITHOUT_SAMPLING if value >= _SAMPLING_REMOVED_IN else SUPPORTED
    return SUPPORTED


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, supported_for(target), target)
    options = target.options
    system, turns = messages(req.messages, bool(options.get("mid_conversation_system", False)))

    body: dict[str, Any] = {"model": target.model}
    max_tokens = req.max_tokens
    if max_tokens is None:
        max_tokens = int(options.get("default_max_tokens", DEFAULT_MAX_TOKENS))
    body["max_tokens"] = max_tokens
    if system:
        body["system"] = system
    body["messages"] = turns
    if req.stream:
        body["stream"] = True
    for field in ("temperature", "top_p", "top_k"):
        value = getattr(req, field)
        if value is not None and field not in dropped:
            body[field] = value
    if req.stop and "stop" not in dropped:
        body["stop_sequences"] = list(req.stop)
    if req.user is not None and "user" not in dropped:
        body["metadata"] = {"user_id": req.user}
    if req.tools and "tools" not in dropped:
        body["tools"] = [_tool(t) for t in req.tools]
    choice = _tool_choice(req, dropped)
    if choice is not None:
        body["tool_choice"] = choice
    output_config: dict[str, Any] = {}
    if req.reasoning is not None and "reasoning" not in dropped:
        _apply_reasoning(req.reasoning, body, output_config, options.get("thinking", "budget"))
    if req.response_format is not None and "response_format" not in dropped:
        _apply_response_format(req, target, output_config)
    if output_config:
        body["output_config"] = output_config
    for key, value in extra.items():
        # Pass-through extras never override what we built; objects we also set
        # (output_config, metadata) are merged with our keys winning.
        mine = body.get(key)
        if mine is None:
            body[key] = value
        elif isinstance(mine, dict) and isinstance(value, dict):
            body[key] = {**value, **mine}
    return UpstreamRequest("POST", PATH, headers(target), encode(body), stream=req.stream)


def headers(target: Target) -> list[tuple[str, str]]:
    return [*target.headers, ("content-type", "application/json")]


def _tool(t: Tool) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        tool["description"] = t.description
    tool["input_schema"] = t.parameters or {"type": "object", "properties": {}}
    if t.strict is not None:
        tool["strict"] = t.strict
    return tool


def _tool_choice(req: ChatRequest, dropped: set[str]) -> dict[str, Any] | None:
    tc = req.tool_choice if "tool_choice" not in dropped else None
    serial = req.parallel_tool_calls is False and "parallel_tool_calls" not in dropped
    if tc is None:
        if not (serial and req.tools):
            return None
        choice: dict[str, Any] = {"type": "auto"}
    elif tc.mode == "required":
        choice = {"type": "any"}
    elif tc.mode == "tool":
        if not tc.name:
            raise InvalidRequest("tool_choice of mode 'tool' needs a tool name", param="tool_choice")
        choice = {"type": "tool", "name": tc.name}
    else:
        choice = {"type": tc.mode}  # "auto" | "none"
    if serial and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    return choice


def _apply_reasoning(r: Reasoning, body: dict[str, Any], output_config: dict[str, Any], mode: str) -> None:
    if r.budget_tokens == 0:  # canonical: a budget of 0 means thinking off, in either mode
        body["thinking"] = {"type": "disabled"}
        return
    if mode == "adaptive":
        body["thinking"] = {"type": "adaptive"}
        effort = r.effort or (effort_for_budget(r.budget_tokens) if r.budget_tokens is not None else None)
        if effort is not None:
            output_config["effort"] = _ADAPTIVE_EFFORT[effort]
        return
    budget = requested_budget(r)  # neither budget nor effort: medium (Bedrock sends no thinking then)
    budget = max(budget if budget is not None else EFFORT_BUDGET["medium"], MIN_CLAUDE_BUDGET)
    # Anthropic accepts max_tokens 0 (a cache pre-warm); with thinking the answer needs room.
    body["max_tokens"] = claude_max_tokens(budget, max(body["max_tokens"], 1))
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _apply_response_format(req: ChatRequest, target: Target, output_config: dict[str, Any]) -> None:
    rf = req.response_format
    assert rf is not None
    if rf.type == "json_schema":
        if rf.schema is None:
            raise InvalidRequest("response_format json_schema needs a schema", param="response_format")
        output_config["format"] = {"type": "json_schema", "schema": rf.schema}
    elif rf.type == "json_object" and target.unsupported_params == "reject":
        raise UnsupportedParameter(
            f"response_format 'json_object' is not supported by provider '{target.provider}' "
            f"({target.vendor}, {ANTHROPIC_MESSAGES} format); use a json_schema response format",
            param="response_format",
        )
