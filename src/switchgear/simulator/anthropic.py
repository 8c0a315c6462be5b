"""Anthropic Messages (``POST /v1/messages``), token counting and models.

Shapes follow Anthropic's Messages, Streaming and Errors references. Faithful
details worth knowing:

- ``x-api-key`` (or ``Authorization: Bearer``, which current SDKs send)
  authenticates; ``anthropic-version`` is required on every call.
- Refused like the API refuses them: unknown top-level fields ("x: Extra inputs
  are not permitted"), missing ``max_tokens``/``messages``/``model``, empty
  messages, a ``system`` role in messages, unknown roles, ``tool_use`` blocks
  without ``tool_result`` blocks in the next message and the reverse, more than
  four ``cache_control`` breakpoints, thinking budgets below 1024 or not below
  ``max_tokens``, forced tool use with thinking, and a ``thinking`` block whose
  ``signature`` does not match its text (the simulator signs the thinking it
  returns, so a gateway that alters or drops a signature is caught).
- Usage: ``input_tokens`` excludes cache reads and writes. A ``cache_control``
  breakpoint writes its prefix (``cache_creation_input_tokens``); the same
  prefix sent again is read (``cache_read_input_tokens``). No minimum length.
- Streams: ``message_start`` (input usage, ``output_tokens`` 1),
  ``content_block_start``, a ``ping`` after the first block start, deltas
  (``thinking_delta`` then ``signature_delta``; ``text_delta`` two tokens at a
  time; ``input_json_delta`` starting with an empty fragment),
  ``content_block_stop``, ``message_delta`` (stop reason and cumulative usage),
  ``message_stop``.
"""

from __future__ import annotations

import re
from typing import Any

from switchgear.simulator import plan, schema, text
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.config import content_mode
from switchgear.simulator.wire import Answer, Env, Frame, Headers, Reject, Route, Stream, dumps, retry_after_header

FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
        "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier", "container", "cache_control",
        "diagnostics", "inference_geo", "speed", "output_config",
        # beta fields, accepted with or without the anthropic-beta header
        "mcp_servers", "context_management", "output_format",
    }
)  # fmt: skip
COUNT_FIELDS = FIELDS - {"max_tokens", "stream", "stop_sequences", "temperature", "top_k", "top_p", "metadata", "service_tier"}
BLOCK_TYPES = frozenset(
    {
        "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result",
        "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
        "mcp_tool_use", "mcp_tool_result", "container_upload",
    }
)  # fmt: skip
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
          504: "timeout_error", 529: "overloaded_error"}  # fmt: skip
_MESSAGES = {
    400: "Bad request",
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API.",
    403: "Your API key does not have permission to use the specified resource.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of request tokens has exceeded your per-minute rate limit "
    "(https://docs.claude.com/en/api/rate-limits); see the response headers for current usage. Please reduce "
    "the prompt length or the maximum tokens requested, or try again later.",
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}
_STOP = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens", "tool_calls": "tool_use",
         "content_filter": "refusal"}  # fmt: skip
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
MODELS = (
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("sim-model", "Switchgear simulator", "2025-01-01T00:00:00Z"),
)
TEXT_TOKENS_PER_DELTA = 2


def _invalid(message: str) -> Reject:
    return Reject(400, message, type="invalid_request_error")


class AnthropicWire:
    name = "anthropic"

    def __init__(self, env: Env) -> None:
        self.env = env

    # ---- border ------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str], query: dict[str, str], api_key: str) -> Reject | None:
        given = headers.get("x-api-key")
        if given is None:
            # Current SDKs send the key as a bearer token; the API takes either.
            bearer = headers.get("authorization", "")
            given = bearer[7:] if bearer[:7].lower() == "bearer " else None
        if given is None:
            return Reject(401, "x-api-key header is required", type="authentication_error")
        if given != api_key:
            return Reject(401, "invalid x-api-key", type="authentication_error")
        return None

    def precheck(self, route: Route, headers: dict[str, str]) -> Reject | None:
        if route.endpoint != "models" and not headers.get("anthropic-version"):
            return _invalid("anthropic-version: header is required")
        return None

    def model_of(self, route: Route, body: Any) -> str:
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else ""

    def is_stream(self, route: Route, body: Any) -> bool:
        return route.endpoint == "messages" and isinstance(body, dict) and body.get("stream") is True

    def parse_error(self) -> Reject:
        return _invalid("There was an issue with the format of your request: the body is not valid JSON.")

    def render(self, rej: Reject) -> Answer:
        request_id = self.env.ids.make("req_011C", 20)
        headers: Headers = [("content-type", "application/json"), ("request-id", request_id)]
        if rej.retry_after is not None:
            headers.append(("retry-after", retry_after_header(rej.retry_after)))
        if rej.status in (408, 409, 429) or rej.status >= 500:
            headers.append(("x-should-retry", "true"))
        kind = rej.type or _TYPES.get(rej.status) or ("api_error" if rej.status >= 500 else "invalid_request_error")
        body = {"type": "error", "error": {"type": kind, "message": rej.message}, "request_id": request_id}
        return Answer(rej.status, headers, dumps(body))

    def status_error(self, status: int, retry_after: float | None, model: str) -> Reject:
        if status == 404:
            return self.not_found(model)
        return Reject(status, _MESSAGES.get(status, f"HTTP {status}"), retry_after=retry_after)

    def context_error(self, tokens: int, window: int) -> Reject:
        return _invalid(f"prompt is too long: {tokens} tokens > {window} maximum")

    def not_found(self, model: str) -> Reject:
        return Reject(404, f"model: {model}", type="not_found_error")

    def malformed(self, stream: bool) -> Answer | Stream:
        if stream:
            frames = [
                Frame(b'event: message_start\ndata: {"type": "message_start", "message": {"id": "msg_mal\n\n'),
                Frame(b"event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n"),
            ]
            return Stream(_stream_headers(), frames)
        return Answer(200, [("content-type", "application/json")], b'{"id": "msg_malformed", "type": "mess')

    def stream_error(self) -> bytes:
        return _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})

    # ---- endpoints ---------------------------------------------------------------

    def handle(self, route: Route, body: Any) -> Answer | Stream:
        if route.endpoint == "models":
            return self._models()
        if not isinstance(body, dict):
            raise _invalid("Input should be a valid dictionary or object to extract fields from")
        counting = route.endpoint == "count_tokens"
        allowed = COUNT_FIELDS if counting else FIELDS
        for key in body:
            if key not in allowed:
                raise _invalid(f"{key}: Extra inputs are not permitted")
        read = _Reader(body, counting, self.env.config().reply_tokens)
        config = self.env.config()
        if read.prompt_tokens > config.context_window:
            raise self.context_error(read.prompt_tokens, config.context_window)
        if counting:
            return Answer(200, self._headers(), dumps({"input_tokens": read.prompt_tokens}))
        read_tokens = self.env.cache.hit(read.prefixes.marks)
        written = read.prefixes.marks[-1][1] - read_tokens if read.prefixes.marks else 0
        written = max(written, 0)
        make_id = lambda: self.env.ids.make("toolu_01", 22)  # noqa: E731
        reply = plan.answer(read.ask, config.reply_tokens, make_id)
        usage = {
            "input_tokens": read.prompt_tokens - read_tokens - written,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 0 if read.cache_ttl_1h else written,
                "ephemeral_1h_input_tokens": written if read.cache_ttl_1h else 0,
            },
            "output_tokens": reply.output_tokens,
            "service_tier": "standard",
        }
        if reply.thinking_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": reply.thinking_tokens}
        message_id = self.env.ids.make("msg_01", 22)
        if body.get("stream") is True:
            return self._stream(message_id, read.ask.model, reply, usage)
        content: list[dict[str, Any]] = []
        if reply.thinking:
            content.append({"type": "thinking", "thinking": reply.thinking, "signature": reply.signature})
        if reply.finish != "content_filter" and (reply.text or not reply.calls):
            content.append({"type": "text", "text": reply.text})
        for call in reply.calls:
            content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
        out = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": read.ask.model,
            "content": content,
            "stop_reason": _STOP[reply.finish],
            "stop_sequence": reply.stop_sequence,
            "usage": usage,
        }
        return Answer(200, self._headers(), dumps(out), reply.output_tokens)

    def _headers(self) -> Headers:
        return [
            ("content-type", "application/json"),
            ("request-id", self.env.ids.make("req_011C", 20)),
            ("anthropic-organization-id", "00000000-0000-4000-8000-00000000a11c"),
            ("anthropic-ratelimit-requests-limit", "4000"),
            ("anthropic-ratelimit-requests-remaining", "3999"),
            ("anthropic-ratelimit-requests-reset", "2025-01-01T00:00:01Z"),
        ]

    def _models(self) -> Answer:
        data = [{"type": "model", "id": m, "display_name": d, "created_at": c} for m, d, c in MODELS]
        out = {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
        return Answer(200, self._headers(), dumps(out))

    def _stream(self, message_id: str, model: str, reply: plan.Reply, usage: dict[str, Any]) -> Stream:
        start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
        start_usage["output_tokens"] = 1
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        }
        frames = [Frame(_event("message_start", {"type": "message_start", "message": message}))]
        blocks: list[tuple[dict[str, Any], list[tuple[dict[str, Any], int]]]] = []
        if reply.thinking:
            deltas = [({"type": "thinking_delta", "thinking": t}, n) for t, n in text.chunks(reply.thinking, TEXT_TOKENS_PER_DELTA)]
            deltas.append(({"type": "signature_delta", "signature": reply.signature}, 0))
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if reply.finish != "content_filter" and (reply.text or not reply.calls):
            deltas = [({"type": "text_delta", "text": t}, n) for t, n in text.chunks(reply.text, TEXT_TOKENS_PER_DELTA)]
            blocks.append(({"type": "text", "text": ""}, deltas))
        for call in reply.calls:
            deltas = [({"type": "input_json_delta", "partial_json": ""}, 0)]
            deltas += [
                ({"type": "input_json_delta", "partial_json": f}, max(1, text.count_tokens(f)))
                for f in text.split_json(call.arguments_json)
            ]
            blocks.append(({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}, deltas))
        for index, (start, deltas) in enumerate(blocks):
            frames.append(Frame(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})))
            if index == 0:
                frames.append(Frame(_event("ping", {"type": "ping"})))
            for delta, n in deltas:
                frames.append(Frame(_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}), n))
            frames.append(Frame(_event("content_block_stop", {"type": "content_block_stop", "index": index})))
        end_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")}
        if "output_tokens_details" in usage:
            end_usage["output_tokens_details"] = usage["output_tokens_details"]
        delta = {"stop_reason": _STOP[reply.finish], "stop_sequence": reply.stop_sequence}
        frames.append(Frame(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": end_usage})))
        frames.append(Frame(_event("message_stop", {"type": "message_stop"})))
        return Stream(_stream_headers(self._headers()[1:]), frames)


class _Reader:
    """Validates a Messages request the way the API does and extracts the Ask."""

    def __init__(self, body: dict[str, Any], counting: bool, reply_tokens: int) -> None:
        for name in ("model", "messages") if counting else ("model", "max_tokens", "messages"):
            if name not in body:
                raise _invalid(f"{name}: Field required")
        model = body["model"]
        if not isinstance(model, str):
            raise _invalid("model: Input should be a valid string")
        max_tokens = body.get("max_tokens")
        if not counting:
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
                raise _invalid("max_tokens: Input should be a valid integer")
            if max_tokens < 1:
                raise _invalid("max_tokens: Input should be greater than or equal to 1")
        temperature = body.get("temperature")
        if temperature is not None:
            if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
                raise _invalid("temperature: Input should be a valid number")
            if not 0 <= temperature <= 1:
                raise _invalid(
                    "temperature: Input should be less than or equal to 1"
                    if temperature > 1
                    else "temperature: Input should be greater than or equal to 0"
                )
        stops = body.get("stop_sequences") or []
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _invalid("stop_sequences: Input should be a valid list")
        self.prefixes = Prefixes(f"anthropic:{model}")
        self.cache_ttl_1h = False
        self._marks = 0
        self.prompt_tokens = 0

        thinking_budget = self._thinking(body.get("thinking"), max_tokens, counting, temperature, reply_tokens)
        tools = self._tools(body.get("tools"))
        mode, name, parallel = self._tool_choice(body.get("tool_choice"), tools, thinking_budget is not None)
        self._system(body.get("system"))
        source, tool_result = self._messages(body["messages"])
        if isinstance(body.get("cache_control"), dict):
            # Top-level cache_control marks the last cacheable block.
            self._add(None, 0, {"cache_control": body["cache_control"]})
        if self._marks > 4:
            raise _invalid(f"A maximum of 4 blocks with cache_control may be provided. Found {self._marks}.")
        json_schema = None
        fmt = body.get("output_format") or (body.get("output_config") or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            json_schema = fmt.get("schema") or {"type": "object"}
            if schema.problem(json_schema) is not None:
                raise _invalid("output_config.format.schema: JSON schema is invalid.")
        self.ask = plan.Ask(
            model=model,
            source=source,
            tool_result=tool_result,
            tools=tools,
            tool_mode=mode,
            tool_name=name,
            parallel_tools=parallel,
            max_tokens=max_tokens,
            stop=stops,
            thinking_budget=thinking_budget,
            json_schema=json_schema,
            mode=content_mode(model),
        )

    def _add(self, part: Any, tokens: int, block: Any = None) -> None:
        self.prompt_tokens += tokens
        self.prefixes.add(dumps(part), tokens)
        control = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(control, dict):
            self._marks += 1
            self.prefixes.mark()
            if control.get("ttl") == "1h":
                self.cache_ttl_1h = True

    def _thinking(self, thinking: Any, max_tokens: Any, counting: bool, temperature: Any, reply_tokens: int) -> int | None:
        if thinking is None:
            return None
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        if kind == "disabled":
            return None
        if kind in ("adaptive", "between_tools"):
            return reply_tokens
        if kind != "enabled":
            raise _invalid(
                "thinking: Input tag '%s' found using 'type' does not match any of the expected tags: 'enabled', "
                "'disabled', 'between_tools', 'adaptive'" % kind
            )
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise _invalid("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise _invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if not counting and budget >= max_tokens:
            raise _invalid(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
            )
        if temperature is not None and temperature != 1:
            raise _invalid(
                "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility"
            )
        return budget

    def _tools(self, tools: Any) -> list[plan.ToolSpec]:
        if tools is None:
            return []
        if not isinstance(tools, list):
            raise _invalid("tools: Input should be a valid list")
        specs = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _invalid(f"tools.{i}: Input should be a valid dictionary")
            kind = tool.get("type")
            if kind not in (None, "custom"):
                self._add(tool, text.count_tokens(dumps(tool).decode()), tool)  # a server tool
                continue
            name = tool.get("name")
            if not isinstance(name, str):
                raise _invalid(f"tools.{i}.custom.name: Field required")
            if not _TOOL_NAME.match(name):
                raise _invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
            if "input_schema" not in tool:
                raise _invalid(f"tools.{i}.custom.input_schema: Field required")
            if schema.problem(tool["input_schema"]) is not None:
                raise _invalid(
                    f"tools.{i}.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12 "
                    "(https://json-schema.org/draft/2020-12)."
                )
            specs.append(plan.ToolSpec(name, tool["input_schema"]))
            self._add(tool, text.count_tokens(dumps(tool).decode()), tool)
        return specs

    def _tool_choice(self, choice: Any, tools: list[plan.ToolSpec], thinking: bool) -> tuple[plan.ToolMode, str | None, bool]:
        if choice is None:
            return "auto", None, True
        kind = choice.get("type") if isinstance(choice, dict) else None
        parallel = not (isinstance(choice, dict) and choice.get("disable_parallel_tool_use") is True)
        if kind not in ("auto", "any", "tool", "none"):
            raise _invalid(
                f"tool_choice: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
                "'auto', 'any', 'tool', 'none'"
            )
        if thinking and kind in ("any", "tool"):
            raise _invalid("Thinking may not be enabled when tool_choice forces tool use.")
        if kind == "tool":
            name = choice.get("name")
            if not isinstance(name, str):
                raise _invalid("tool_choice.tool.name: Field required")
            if name not in {t.name for t in tools}:
                raise _invalid(f"Tool '{name}' not found in provided tools")
            return "tool", name, parallel
        return {"auto": "auto", "any": "required", "none": "none"}[kind], None, parallel  # type: ignore[return-value]

    def _system(self, system: Any) -> None:
        if system is None:
            return
        if isinstance(system, str):
            self._add(system, text.count_tokens(system))
            return
        if not isinstance(system, list):
            raise _invalid("system: Input should be a valid string or list")
        for i, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
                raise _invalid(f"system.{i}: Input should be a valid text block")
            self._add(block, text.count_tokens(block["text"]), block)

    def _messages(self, messages: Any) -> tuple[str, str | None]:
        if not isinstance(messages, list):
            raise _invalid("messages: Input should be a valid list")
        if not messages:
            raise _invalid("messages: at least one message is required")
        source = ""
        previous_tool_uses: set[str] = set()
        previous_index = -1
        tool_result: str | None = None
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise _invalid(f"messages.{i}: Input should be a valid dictionary")
            role = msg.get("role")
            if role == "system":
                raise _invalid(
                    'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                    'not "system" as an input message role.'
                )
            if role not in ("user", "assistant"):
                raise _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if "content" not in msg:
                raise _invalid(f"messages.{i}.content: Field required")
            content = msg["content"]
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not isinstance(blocks, list):
                raise _invalid(f"messages.{i}.content: Input should be a valid list")
            tool_uses: set[str] = set()
            answered: set[str] = set()
            texts: list[str] = []
            results: list[str] = []
            for j, block in enumerate(blocks):
                kind = block.get("type") if isinstance(block, dict) else None
                if not isinstance(kind, str) or kind not in BLOCK_TYPES:
                    raise _invalid(
                        f"messages.{i}.content.{j}.type: Input tag '{kind}' found using 'type' does not match any "
                        "of the expected tags"
                    )
                tokens = 0
                if kind == "text":
                    value = block.get("text")
                    if not isinstance(value, str):
                        raise _invalid(f"messages.{i}.content.{j}.text: Field required")
                    if not value and not (role == "assistant" and i == len(messages) - 1):
                        raise _invalid("messages: text content blocks must be non-empty")
                    texts.append(value)
                    tokens = text.count_tokens(value)
                elif kind == "image" or kind == "document":
                    tokens = text.IMAGE_TOKENS
                elif kind == "tool_use":
                    if role != "assistant":
                        raise _invalid(f"messages.{i}.content.{j}: `tool_use` blocks can only be in `assistant` messages")
                    tool_uses.add(str(block.get("id")))
                    tokens = text.count_tokens(str(block.get("name", ""))) + text.count_tokens(dumps(block.get("input", {})).decode())
                elif kind == "tool_result":
                    if role != "user":
                        raise _invalid(f"messages.{i}.content.{j}: `tool_result` blocks can only be in `user` messages")
                    use_id = block.get("tool_use_id")
                    if not isinstance(use_id, str) or use_id not in previous_tool_uses:
                        raise _invalid(
                            f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                            f"{use_id}. Each `tool_result` block must have a corresponding `tool_use` block in the "
                            "previous message."
                        )
                    answered.add(use_id)
                    result = _result_text(block.get("content"))
                    results.append(result)
                    tokens = text.count_tokens(result)
                elif kind == "thinking":
                    thought = block.get("thinking")
                    signature = block.get("signature")
                    if not isinstance(thought, str) or not isinstance(signature, str) or not text.signature_ok(thought, signature):
                        raise _invalid(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
                    tokens = text.count_tokens(thought)
                self._add(block, tokens, block)
            if previous_tool_uses - answered:
                missing = ", ".join(sorted(previous_tool_uses - answered))
                raise _invalid(
                    f"messages.{previous_index}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {missing}. Each `tool_use` block must have a corresponding `tool_result` block in the "
                    "next message."
                )
            previous_tool_uses, previous_index = tool_uses, i
            if role == "user":
                if texts:
                    source = "\n".join(texts)
                tool_result = " ".join(results) if results else None
        return source, tool_result


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def _stream_headers(extra: Headers | None = None) -> Headers:
    return [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), *(extra or [])]
