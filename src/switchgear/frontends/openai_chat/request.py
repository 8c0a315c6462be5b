"""``to_canonical``: a body ``parse_body`` accepted -> ChatRequest. Runs only when the
upstream speaks another dialect, and validates everything nested, precisely."""

from __future__ import annotations

from typing import Any

from switchgear.core.types import ChatRequest, Reasoning, ResponseFormat
from switchgear.frontends.openai_chat.checks import CHECKS, bad_type, bad_value, missing, optional_str, require_str
from switchgear.frontends.openai_chat.messages import messages
from switchgear.frontends.openai_chat.tools import function_call_choice, tool_choice, tools

# Top-level fields with a canonical home; everything else (non-null) goes to ``extra``.
_MAPPED = frozenset(CHECKS)


def to_canonical(raw: dict[str, Any]) -> ChatRequest:
    """A body ``parse_body`` accepted -> ``ChatRequest``; nested errors name their path."""
    msgs = messages(raw["messages"])
    req = ChatRequest(model=raw["model"], messages=msgs)
    g = raw.get
    if g("stream") is True:
        req.stream = True
        opts = g("stream_options")
        req.include_usage = type(opts) is dict and opts.get("include_usage") is True
    mct = g("max_completion_tokens")
    req.max_tokens = mct if mct is not None else g("max_tokens")
    for field in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        v = g(field)
        if v is not None:
            setattr(req, field, float(v))
    req.top_k = g("top_k")
    stop = g("stop")
    if stop is not None:
        stops = [stop] if type(stop) is str else stop
        req.stop = stops or None
    req.seed = g("seed")
    req.n = g("n")
    req.logprobs = g("logprobs")
    req.top_logprobs = g("top_logprobs")
    raw_tools = g("tools")
    functions = g("functions")
    if raw_tools is not None or functions is not None:
        req.tools = tools(raw_tools or [], functions or [])
    choice = g("tool_choice")
    if choice is not None:
        req.tool_choice = tool_choice(choice)
    elif g("function_call") is not None:
        req.tool_choice = function_call_choice(g("function_call"))
    req.parallel_tool_calls = g("parallel_tool_calls")
    rf = g("response_format")
    if rf is not None:
        req.response_format = _response_format(rf)
    effort = g("reasoning_effort")
    if effort is not None:
        req.reasoning = _reasoning(effort)
    req.user = g("user")
    extra = {k: v for k, v in raw.items() if k not in _MAPPED and v is not None}
    if extra:
        req.extra = extra
    return req


def _reasoning(effort: str) -> Reasoning:
    if effort == "none":
        return Reasoning(budget_tokens=0)
    if effort == "xhigh":
        return Reasoning(effort="high")
    return Reasoning(effort=effort)  # type: ignore[arg-type]


def _response_format(rf: dict[str, Any]) -> ResponseFormat:
    kind = rf.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)  # type: ignore[arg-type]
    if kind != "json_schema":
        if kind is None:
            raise missing("response_format.type")
        raise bad_value("response_format.type", f"'{kind}' is not one of ['json_object', 'json_schema', 'text'].")
    js = rf.get("json_schema")
    if type(js) is not dict:
        if js is None:
            raise missing("response_format.json_schema")
        raise bad_type("response_format.json_schema", "an object", js)
    p = "response_format.json_schema"
    schema = js.get("schema")
    if schema is not None and type(schema) is not dict:
        raise bad_type(f"{p}.schema", "an object", schema)
    strict = js.get("strict")
    if strict is not None and type(strict) is not bool:
        raise bad_type(f"{p}.strict", "a boolean", strict)
    return ResponseFormat(
        "json_schema", name=require_str(js, "name", p), schema=schema, strict=strict,
        description=optional_str(js, "description", p),
    )
