"""What the simulated model answers, before any vendor's wire shape.

Each wire module reads its own request into an ``Ask`` (the handful of facts
that decide the answer), ``answer`` turns it into a ``Reply``, and the module
renders that reply in its vendor's format. The rules, identical for all vendors:

- After a tool result (the last turn is one) the reply is text about the result:
  "Simulated reply from {model}: the tool returned" and the result's words.
- Otherwise, when tools are offered and the tool choice allows, the model calls
  them: the forced tool, or the first tool, or the first two in parallel when
  more than one is offered and parallel calls are allowed. Arguments are the
  minimal object valid under each tool's schema (``schema.example``).
- Otherwise the reply is text: "Simulated reply from {model}:" followed by
  ``reply_tokens`` tokens of the last user message's words (repeated as needed); a JSON text valid
  under the schema in JSON-schema mode, ``{"reply": text}`` in JSON-object mode.
  Stop sequences cut it (finish ``stop_sequence``); ``max_tokens`` trims it
  (finish ``length``).
- Thinking, when asked for, comes first and counts against ``max_tokens``;
  hidden reasoning (OpenAI) too. Tool calls are never truncated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import msgspec

from switchgear.simulator import schema, text

Finish = Literal["stop", "stop_sequence", "length", "tool_calls", "content_filter"]
ToolMode = Literal["auto", "none", "required", "tool"]


@dataclass(slots=True)
class ToolSpec:
    name: str
    parameters: Any


@dataclass(slots=True)
class Ask:
    model: str
    source: str  # the last user text
    tool_result: str | None = None  # text of the tool result when the last turn is one
    tools: list[ToolSpec] = field(default_factory=list)
    tool_mode: ToolMode = "auto"
    tool_name: str | None = None  # tool_mode "tool"
    parallel_tools: bool = True
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    hidden_reasoning: int = 0  # OpenAI reasoning tokens: counted, no text
    thinking_budget: int | None = None  # visible thinking (Anthropic, Gemini, Bedrock)
    json_schema: Any = None
    json_object: bool = False
    mode: str | None = None  # config.content_mode: "echo" | "content_filter"


@dataclass(slots=True)
class Call:
    id: str
    name: str
    arguments: Any  # the decoded object
    arguments_json: str


@dataclass(slots=True)
class Reply:
    text: str = ""
    thinking: str = ""
    signature: str = ""
    calls: list[Call] = field(default_factory=list)
    finish: Finish = "stop"
    stop_sequence: str | None = None
    text_tokens: int = 0
    thinking_tokens: int = 0
    reasoning_tokens: int = 0  # hidden (OpenAI)
    call_tokens: int = 0

    @property
    def output_tokens(self) -> int:
        return self.text_tokens + self.thinking_tokens + self.reasoning_tokens + self.call_tokens


def _compact(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def answer(ask: Ask, reply_tokens: int, call_id: Callable[[], str], choice: int = 0) -> Reply:
    reply = Reply()
    budget = ask.max_tokens
    if ask.mode == "content_filter":
        reply.finish = "content_filter"
        return reply
    if ask.hidden_reasoning:
        reply.reasoning_tokens = ask.hidden_reasoning if budget is None else min(ask.hidden_reasoning, budget)
        if budget is not None:
            budget -= reply.reasoning_tokens
            if budget <= 0:
                reply.finish = "length"
                return reply
    if ask.thinking_budget:
        about = ask.tool_result if ask.tool_result is not None else ask.source
        n = min(ask.thinking_budget, reply_tokens, budget if budget is not None else reply_tokens)
        reply.thinking = text.compose("Thinking about the request:", about, n)
        reply.thinking_tokens = text.count_tokens(reply.thinking)
        reply.signature = text.sign(reply.thinking)
        if budget is not None:
            budget -= reply.thinking_tokens
            if budget <= 0:
                reply.finish = "length"
                return reply

    calls = _tool_calls(ask)
    if calls:
        for name, args in calls:
            args_json = _compact(args)
            reply.calls.append(Call(call_id(), name, args, args_json))
            reply.call_tokens += text.count_tokens(name) + text.count_tokens(args_json)
        reply.finish = "tool_calls"
        return reply

    natural = _natural_text(ask, reply_tokens, choice)
    cut, stop = text.cut_at_stop(natural, ask.stop)
    trimmed, was_cut = text.trim(cut, budget)
    reply.text = trimmed
    reply.text_tokens = text.count_tokens(trimmed)
    if was_cut:
        reply.finish = "length"
    elif stop is not None:
        reply.finish = "stop_sequence"
        reply.stop_sequence = stop
    return reply


def _tool_calls(ask: Ask) -> list[tuple[str, Any]]:
    if ask.tool_result is not None or not ask.tools or ask.tool_mode == "none":
        return []
    by_name = {t.name: t for t in ask.tools}
    if ask.tool_mode == "tool":
        tool = by_name.get(ask.tool_name or "")
        chosen = [tool] if tool else ask.tools[:1]
    elif len(ask.tools) > 1 and ask.parallel_tools:
        chosen = ask.tools[:2]
    else:
        chosen = ask.tools[:1]
    return [(t.name, _arguments(t.parameters)) for t in chosen]


def _arguments(parameters: Any) -> Any:
    value = schema.example(parameters or {"type": "object"})
    return value if isinstance(value, dict) else {}


def _natural_text(ask: Ask, reply_tokens: int, choice: int) -> str:
    if ask.mode == "echo" and ask.tool_result is None:
        return ask.source
    prefix = f"Simulated reply from {ask.model}:" if choice == 0 else f"Simulated reply {choice + 1} from {ask.model}:"
    if ask.tool_result is not None:
        prefix += " the tool returned"
    head = text.count_tokens(prefix)
    body = text.compose(prefix, ask.tool_result if ask.tool_result is not None else ask.source, head + reply_tokens)
    if ask.json_schema is not None:
        return _compact(schema.example(ask.json_schema))
    if ask.json_object:
        return _compact({"reply": body})
    return body
