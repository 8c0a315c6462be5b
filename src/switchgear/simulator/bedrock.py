"""Amazon Bedrock Converse (``POST /model/{modelId}/converse``) and
ConverseStream (``/converse-stream``).

Shapes follow the Bedrock Runtime API reference. Faithful details worth knowing:

- Authentication is checked for form only: an ``Authorization:
  AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/bedrock/aws4_request,
  SignedHeaders=..., Signature=<64 hex>`` header with a matching ``x-amz-date``
  (the signature itself is not verified), or ``Authorization: Bearer <api_key>``
  (Bedrock API keys), compared with ``api_key``.
- Errors are ``{"message": ...}`` with the type in ``x-amzn-ErrorType``
  (ValidationException 400, AccessDeniedException 403, ResourceNotFoundException
  404, ModelTimeoutException 408, ModelErrorException 424, ThrottlingException
  429, InternalServerException 500, ServiceUnavailableException 503). Bedrock
  sends no Retry-After.
- A conversation must start with a user turn and alternate; ``toolUse`` and
  ``toolResult`` need ``toolConfig``; every ``toolUse`` needs a ``toolResult``
  in the next turn; reasoning signatures are verified (Claude on Bedrock).
- ``cachePoint`` blocks (system, messages, tools) give ``cacheWriteInputTokens``
  then, repeated, ``cacheReadInputTokens``; ``inputTokens`` excludes both.
- ConverseStream is a binary AWS event stream: ``messageStart``, text and
  reasoning deltas without a ``contentBlockStart`` (only tool use has one),
  ``contentBlockStop``, ``messageStop``, ``metadata`` (usage, metrics). Every
  payload carries the ``p`` padding field real Bedrock adds.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

from switchgear.simulator import eventstream, plan, text
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.schema import problem as schema_problem
from switchgear.simulator.config import content_mode
from switchgear.simulator.wire import Answer, Env, Frame, Headers, Reject, Route, Stream, dumps

_TYPES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
          408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
          500: "InternalServerException", 503: "ServiceUnavailableException"}  # fmt: skip
_MESSAGES = {
    400: "Malformed input request, please reformat your input and try again.",
    403: "You don't have access to the model with the specified model ID.",
    404: "Could not resolve the foundation model from the provided model identifier.",
    408: "Model has timed out in processing the request. Try your request again.",
    424: "The model returned an error.",
    429: "Too many requests, please wait before trying again.",
    500: "The server encountered an internal error while processing the request.",
    503: "Bedrock is unable to process your request.",
}
_CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_STOP = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens", "tool_calls": "tool_use",
         "content_filter": "content_filtered"}  # fmt: skip
_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Za-z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
BLOCKS = frozenset({"text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint",
                    "reasoningContent", "citationsContent", "searchResult"})  # fmt: skip
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TEXT_TOKENS_PER_DELTA = 2


def _invalid(message: str) -> Reject:
    return Reject(400, message, type="ValidationException")


def _front_door(message: str, kind: str) -> Reject:
    # Authentication errors come from the AWS front end, without the coral namespace.
    return Reject(403, message, type=kind, extra={"front_door": True})


class BedrockWire:
    name = "bedrock"

    def __init__(self, env: Env) -> None:
        self.env = env

    # ---- border ------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str], query: dict[str, str], api_key: str) -> Reject | None:
        auth = headers.get("authorization")
        if not auth:
            return _front_door("Missing Authentication Token", "MissingAuthenticationTokenException")
        if auth[:7].lower() == "bearer ":
            if auth[7:] != api_key:
                return _front_door("The security token included in the request is invalid.", "UnrecognizedClientException")
            return None
        m = _SIGV4.match(auth)
        if m is None:
            return _front_door(
                "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
                "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization="
                + auth.split(" ", 1)[0],
                "IncompleteSignatureException",
            )
        amz_date = headers.get("x-amz-date", "")
        if not _AMZ_DATE.match(amz_date):
            return _front_door(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                "IncompleteSignatureException",
            )
        if amz_date[:8] != m["date"] or m["service"] != "bedrock" or "host" not in m["signed"].split(";"):
            return _front_door(
                "Credential should be scoped to correct service: 'bedrock'. " if m["service"] != "bedrock" else
                "The request signature we calculated does not match the signature you provided.",
                "InvalidSignatureException",
            )  # fmt: skip
        return None

    def precheck(self, route: Route, headers: dict[str, str]) -> Reject | None:
        return None

    def model_of(self, route: Route, body: Any) -> str:
        return route.params.get("model", "")

    def is_stream(self, route: Route, body: Any) -> bool:
        return route.endpoint == "converse_stream"

    def parse_error(self) -> Reject:
        return Reject(400, "Unable to parse request body as JSON.", type="SerializationException", extra={"front_door": True})

    def render(self, rej: Reject) -> Answer:
        kind = rej.type or _TYPES.get(rej.status) or ("InternalServerException" if rej.status >= 500 else "ValidationException")
        error_type = kind if rej.extra.get("front_door") else kind + _CORAL
        headers: Headers = [
            ("content-type", "application/json"),
            ("x-amzn-requestid", self._request_id()),
            ("x-amzn-errortype", error_type),
        ]
        return Answer(rej.status, headers, dumps({"message": rej.message}))

    def status_error(self, status: int, retry_after: float | None, model: str) -> Reject:
        return Reject(status, _MESSAGES.get(status, f"HTTP {status}"))

    def context_error(self, tokens: int, window: int) -> Reject:
        return _invalid("Input is too long for requested model.")

    def not_found(self, model: str) -> Reject:
        return _invalid("The provided model identifier is invalid.")

    def malformed(self, stream: bool) -> Answer | Stream:
        if stream:
            good = eventstream.event("messageStart", dumps({"role": "assistant", "p": "abc"}))
            bad = bytearray(eventstream.event("contentBlockDelta", dumps({"delta": {"text": "x"}, "contentBlockIndex": 0})))
            bad[-1] ^= 0xFF  # a message CRC that does not match
            return Stream(self._stream_headers(), [Frame(good), Frame(bytes(bad), 1)])
        return Answer(200, [("content-type", "application/json")], b'{"output": {"message": {"role": "assist')

    def stream_error(self) -> bytes:
        # A failure after the stream started arrives as a modelled exception message.
        payload = {"message": "The system encountered an unexpected error during processing. Try your request again.",
                   "originalStatusCode": 500}  # fmt: skip
        return eventstream.exception("modelStreamErrorException", dumps(payload))

    # ---- endpoints ---------------------------------------------------------------

    def _request_id(self) -> str:
        return str(uuid.UUID(bytes=self.env.ids.make("", 16).encode()[:16]))

    def _stream_headers(self) -> Headers:
        return [("content-type", "application/vnd.amazon.eventstream"), ("x-amzn-requestid", self._request_id())]

    def handle(self, route: Route, body: Any) -> Answer | Stream:
        if not isinstance(body, dict):
            raise Reject(400, "Unable to parse request body as JSON.", type="SerializationException", extra={"front_door": True})
        model = route.params["model"]
        config = self.env.config()
        reader = _Reader(body, model)
        if reader.prompt_tokens > config.context_window:
            raise self.context_error(reader.prompt_tokens, config.context_window)
        read_tokens = self.env.cache.hit(reader.prefixes.marks) if reader.prefixes.marks else 0
        written = max(reader.prefixes.marks[-1][1] - read_tokens, 0) if reader.prefixes.marks else 0
        make_id = lambda: self.env.ids.make("tooluse_", 22)  # noqa: E731
        reply = plan.answer(reader.ask, config.reply_tokens, make_id)
        usage: dict[str, Any] = {
            "inputTokens": reader.prompt_tokens - read_tokens - written,
            "outputTokens": reply.output_tokens,
            "totalTokens": reader.prompt_tokens + reply.output_tokens,
        }
        if reader.prefixes.marks:
            usage["cacheReadInputTokens"] = read_tokens
            usage["cacheWriteInputTokens"] = written
        extra_fields = None
        if "/stop_sequence" in reader.response_paths:
            extra_fields = {"stop_sequence": reply.stop_sequence}
        if route.endpoint == "converse_stream":
            return self._stream(reply, usage, extra_fields)
        content: list[dict[str, Any]] = []
        if reply.thinking:
            content.append({"reasoningContent": {"reasoningText": {"text": reply.thinking, "signature": reply.signature}}})
        if reply.finish != "content_filter" and (reply.text or not reply.calls):
            content.append({"text": reply.text})
        for call in reply.calls:
            content.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}})
        out: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": _STOP[reply.finish],
            "usage": usage,
            "metrics": {"latencyMs": 1},
        }
        if extra_fields is not None:
            out["additionalModelResponseFields"] = extra_fields
        headers = [("content-type", "application/json"), ("x-amzn-requestid", self._request_id())]
        return Answer(200, headers, dumps(out), reply.output_tokens)

    def _stream(self, reply: plan.Reply, usage: dict[str, Any], extra_fields: dict[str, Any] | None) -> Stream:
        events: list[tuple[str, dict[str, Any], int]] = [("messageStart", {"role": "assistant"}, 0)]
        index = 0
        if reply.thinking:
            for piece, n in text.chunks(reply.thinking, TEXT_TOKENS_PER_DELTA):
                events.append(("contentBlockDelta", {"delta": {"reasoningContent": {"text": piece}}, "contentBlockIndex": index}, n))
            events.append(("contentBlockDelta", {"delta": {"reasoningContent": {"signature": reply.signature}}, "contentBlockIndex": index}, 0))
            events.append(("contentBlockStop", {"contentBlockIndex": index}, 0))
            index += 1
        if reply.finish != "content_filter" and (reply.text or not reply.calls):
            for piece, n in text.chunks(reply.text, TEXT_TOKENS_PER_DELTA):
                events.append(("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": index}, n))
            events.append(("contentBlockStop", {"contentBlockIndex": index}, 0))
            index += 1
        for call in reply.calls:
            start = {"start": {"toolUse": {"toolUseId": call.id, "name": call.name}}, "contentBlockIndex": index}
            events.append(("contentBlockStart", start, 0))
            for fragment in text.split_json(call.arguments_json):
                delta = {"delta": {"toolUse": {"input": fragment}}, "contentBlockIndex": index}
                events.append(("contentBlockDelta", delta, max(1, text.count_tokens(fragment))))
            events.append(("contentBlockStop", {"contentBlockIndex": index}, 0))
            index += 1
        stop: dict[str, Any] = {"stopReason": _STOP[reply.finish]}
        if extra_fields is not None:
            stop["additionalModelResponseFields"] = extra_fields
        events.append(("messageStop", stop, 0))
        events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}, 0))
        frames = []
        for k, (name, payload, n) in enumerate(events):
            payload["p"] = _PAD[: 8 + (k * 7) % (len(_PAD) - 8)]
            frames.append(Frame(eventstream.event(name, dumps(payload)), n))
        return Stream(self._stream_headers(), frames)


class _Reader:
    """Validates a Converse request and extracts the Ask."""

    def __init__(self, body: dict[str, Any], model: str) -> None:
        self.prefixes = Prefixes(f"bedrock:{model}")
        self.prompt_tokens = 0
        config = body.get("inferenceConfig") or {}
        if not isinstance(config, dict):
            raise _invalid("1 validation error detected: Value at 'inferenceConfig' failed to satisfy constraint: Member must be an object")
        max_tokens = config.get("maxTokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise _invalid(
                f"1 validation error detected: Value '{max_tokens}' at 'inferenceConfig.maxTokens' failed to satisfy "
                "constraint: Member must have value greater than or equal to 1"
            )
        temperature = config.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1):
            raise _invalid(
                f"1 validation error detected: Value '{temperature}' at 'inferenceConfig.temperature' failed to "
                "satisfy constraint: Member must have value less than or equal to 1"
            )
        stops = config.get("stopSequences") or []
        if not isinstance(stops, list):  # AWS answers a ValidationException; we ignore it, as for other odd fields
            stops = []
        extra = body.get("additionalModelRequestFields") or {}
        thinking_budget = self._thinking(extra.get("thinking") if isinstance(extra, dict) else None, max_tokens)
        paths = body.get("additionalModelResponseFieldPaths") or []
        self.response_paths = set(paths) if isinstance(paths, list) else set()
        tool_config = body.get("toolConfig")
        tools, mode, name = self._tools(tool_config)
        self._system(body.get("system"))
        source, tool_result = self._messages(body.get("messages"), tool_config is not None)
        json_schema = self._output_schema(body.get("outputConfig"))
        self.ask = plan.Ask(
            model=model,
            source=source,
            tool_result=tool_result,
            tools=tools,
            tool_mode=mode,
            tool_name=name,
            max_tokens=max_tokens,
            stop=[s for s in stops if isinstance(s, str)],
            thinking_budget=thinking_budget,
            json_schema=json_schema,
            mode=content_mode(model),
        )

    @staticmethod
    def _output_schema(config: Any) -> Any:
        """Structured output: ``outputConfig.textFormat`` with a JSON Schema given as a string."""
        fmt = config.get("textFormat") if isinstance(config, dict) else None
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            return None
        raw = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
        try:
            schema = msgspec.json.decode(raw) if isinstance(raw, str) else None
        except msgspec.DecodeError:
            schema = None
        if not isinstance(schema, dict):
            raise _invalid("The provided JSON schema in outputConfig.textFormat is not valid JSON.")
        return schema

    def _add(self, part: Any, tokens: int) -> None:
        self.prompt_tokens += tokens
        self.prefixes.add(dumps(part), tokens)
        if isinstance(part, dict) and "cachePoint" in part:
            self.prefixes.mark()

    def _thinking(self, thinking: Any, max_tokens: int | None) -> int | None:
        if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
            return None
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise _invalid(
                "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater "
                "than or equal to 1024"
            )
        if max_tokens is not None and budget >= max_tokens:
            raise _invalid("The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`.")
        return budget

    def _tools(self, config: Any) -> tuple[list[plan.ToolSpec], plan.ToolMode, str | None]:
        if config is None:
            return [], "auto", None
        if not isinstance(config, dict):
            raise _invalid("1 validation error detected: Value at 'toolConfig' failed to satisfy constraint: Member must be an object")
        tools = config.get("tools")
        if not isinstance(tools, list) or not tools:
            raise _invalid(
                "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member "
                "must have length greater than or equal to 1"
            )
        specs = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _invalid(f"1 validation error detected: Value at 'toolConfig.tools.{i + 1}.member' failed to satisfy constraint: Member must be an object")
            spec = tool.get("toolSpec")
            if isinstance(spec, dict):
                name = spec.get("name")
                input_schema = spec.get("inputSchema")
                schema = input_schema.get("json") if isinstance(input_schema, dict) else None
                if not isinstance(name, str) or not re.match(r"^[a-zA-Z0-9_-]{1,64}$", name):
                    raise _invalid(
                        f"1 validation error detected: Value '{name}' at 'toolConfig.tools.{i + 1}.member.toolSpec.name' "
                        "failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
                    )
                if schema is None:
                    raise _invalid(
                        f"1 validation error detected: Value null at 'toolConfig.tools.{i + 1}.member.toolSpec.inputSchema' "
                        "failed to satisfy constraint: Member must not be null"
                    )
                if schema_problem(schema) is not None:
                    raise _invalid(
                        f"The model returned the following errors: tools.{i}.custom.input_schema: JSON schema is invalid."
                    )
                specs.append(plan.ToolSpec(name, schema))
            self._add(tool, text.count_tokens(dumps(tool).decode()) if "cachePoint" not in tool else 0)
        choice = config.get("toolChoice")
        if choice is not None and not isinstance(choice, dict):
            raise _invalid("1 validation error detected: Value at 'toolConfig.toolChoice' failed to satisfy constraint: Member must be an object")
        if choice is None or "auto" in choice:
            return specs, "auto", None
        if "any" in choice:
            return specs, "required", None
        if "tool" in choice:
            name = (choice.get("tool") or {}).get("name")
            if name not in {s.name for s in specs}:
                raise _invalid(f"The tool {name} in toolChoice is not defined in toolConfig.tools.")
            return specs, "tool", name
        raise _invalid("1 validation error detected: Value at 'toolConfig.toolChoice' failed to satisfy constraint: Member must be one of auto, any, tool")

    def _system(self, system: Any) -> None:
        if system is None:
            return
        if not isinstance(system, list):
            raise _invalid("1 validation error detected: Value at 'system' failed to satisfy constraint: Member must be a list")
        for block in system:
            if isinstance(block, dict) and "text" in block:
                self._add(block, text.count_tokens(str(block["text"])))
            else:
                self._add(block, 0)

    def _messages(self, messages: Any, has_tool_config: bool) -> tuple[str, str | None]:
        if messages is None:
            raise _invalid("1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null")
        if not isinstance(messages, list) or not messages:
            raise _invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
        source = ""
        tool_result: str | None = None
        expected: list[str] = []
        previous_role = None
        for i, msg in enumerate(messages):
            role = msg.get("role") if isinstance(msg, dict) else None
            if role not in ("user", "assistant"):
                raise _invalid(
                    f"1 validation error detected: Value '{role}' at 'messages.{i + 1}.member.role' failed to satisfy "
                    "constraint: Member must satisfy enum value set: [user, assistant]"
                )
            if i == 0 and role != "user":
                raise _invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
            if role == previous_role:
                raise _invalid(
                    "A conversation must alternate between user and assistant roles. Make sure the conversation "
                    "alternates between user and assistant roles and try again."
                )
            content = msg.get("content")
            if not isinstance(content, list) or not content:
                raise _invalid(
                    f"1 validation error detected: Value at 'messages.{i + 1}.member.content' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 1"
                )
            texts: list[str] = []
            results: list[str] = []
            uses: list[str] = []
            for j, block in enumerate(content):
                keys = [k for k in block if k in BLOCKS] if isinstance(block, dict) else []
                if len(keys) != 1:
                    raise _invalid(
                        f"1 validation error detected: Value at 'messages.{i + 1}.member.content.{j + 1}.member' failed "
                        "to satisfy constraint: Member must have exactly one member set"
                    )
                kind = keys[0]
                value = block[kind]
                if kind in ("toolUse", "toolResult", "reasoningContent", "cachePoint") and not isinstance(value, dict):
                    raise _invalid(
                        f"1 validation error detected: Value at 'messages.{i + 1}.member.content.{j + 1}.member.{kind}' "
                        "failed to satisfy constraint: Member must be an object"
                    )
                tokens = 0
                if kind == "text":
                    texts.append(str(value))
                    tokens = text.count_tokens(str(value))
                elif kind in ("image", "document", "video"):
                    tokens = text.IMAGE_TOKENS
                elif kind in ("toolUse", "toolResult"):
                    if not has_tool_config:
                        raise _invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
                    if kind == "toolUse":
                        uses.append(str(value.get("toolUseId")))
                        tokens = text.count_tokens(str(value.get("name", ""))) + text.count_tokens(dumps(value.get("input", {})).decode())
                    else:
                        use_id = value.get("toolUseId")
                        if not isinstance(use_id, str) or use_id not in expected:
                            raise _invalid(
                                f"The number of toolResult blocks at messages.{i}.content exceeds the number of "
                                "toolUse blocks of previous turn."
                            )
                        expected.remove(use_id)
                        words = _result_text(value.get("content"))
                        results.append(words)
                        tokens = text.count_tokens(words)
                elif kind == "reasoningContent":
                    reasoning = (value or {}).get("reasoningText") if isinstance(value, dict) else None
                    if isinstance(reasoning, dict):
                        thought = reasoning.get("text")
                        signature = reasoning.get("signature")
                        if not isinstance(thought, str) or not isinstance(signature, str) or not text.signature_ok(thought, signature):
                            raise _invalid(
                                f"The model returned the following errors: messages.{i}.content.{j}: Invalid "
                                "`signature` in `thinking` block"
                            )
                        tokens = text.count_tokens(thought)
                self._add(block, tokens)
            if expected:
                raise _invalid(f"Expected toolResult blocks at messages.{i}.content for the following Ids: {', '.join(expected)}")
            expected = uses
            previous_role = role
            if role == "user":
                if texts:
                    source = "\n".join(texts)
                tool_result = " ".join(results) if results else None
        return source, tool_result


def _result_text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    words = []
    for block in content:
        if isinstance(block, dict):
            if "text" in block:
                words.append(str(block["text"]))
            elif "json" in block:
                words.append(dumps(block["json"]).decode())
    return " ".join(words)
