"""OpenAI Chat Completions, Embeddings and Models, and the Azure OpenAI variants.

Shapes follow the OpenAI API reference and its OpenAPI description
(``CreateChatCompletionResponse``, ``CreateChatCompletionStreamResponse``,
``CompletionUsage``, ``ErrorResponse``). Faithful details worth knowing:

- Unknown top-level parameters are refused ("Unrecognized request argument
  supplied: x"), as OpenAI does, so a gateway leaking fields is caught.
- ``response_format: json_object`` requires the word "json" in the messages.
- Tool messages must answer a preceding assistant ``tool_calls``, and every
  tool call must be answered before the next turn.
- Reasoning-model names (``o1``/``o3``/``o4``…, ``gpt-5``…) refuse
  ``max_tokens`` (use ``max_completion_tokens``) and a non-default temperature;
  other real model names (``gpt-4o``…) refuse ``reasoning_effort``. Names that
  are not OpenAI's (``sim-model``…) accept everything.
- ``reasoning_effort`` yields ``completion_tokens_details.reasoning_tokens`` and
  never reasoning text. Automatic prompt caching: a repeated prompt prefix of at
  least ``cache_min_tokens`` reports ``cached_tokens`` in 128-token steps.
- Streams: a role chunk, one token per content chunk, tool calls as an id/name
  chunk then argument fragments, a finish chunk per choice, choices interleaved
  when n > 1, ``usage: null`` on every chunk and a final ``choices: []`` usage
  chunk only with ``stream_options.include_usage``, an ``obfuscation`` field
  unless ``include_obfuscation`` is false, then ``data: [DONE]``.
- Azure: ``api-key`` header, ``api-version`` required (404 otherwise), its own
  ``{"error": {"code": "401", ...}}`` shapes for auth/404/429 (with
  ``retry-after-ms``), ``prompt_filter_results`` / ``content_filter_results``,
  a first stream chunk with empty ``choices``, no ``obfuscation``.
"""

from __future__ import annotations

import re
from typing import Any

from switchgear.simulator import plan, text
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.config import content_mode
from switchgear.simulator.wire import Answer, Env, Frame, Headers, Reject, Route, Stream, dumps, retry_after_header

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
MODELS = ("gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "text-embedding-3-large", "sim-model")
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_OPENAI_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-|text-embedding-|davinci|babbage)")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
FINGERPRINT = "fp_5e1d2c3b4a"
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool_calls": "tool_calls",
           "content_filter": "content_filter"}  # fmt: skip
_SAFE = {"filtered": False, "severity": "safe"}
_FILTER_OK = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_FILTER_HIT = {**_FILTER_OK, "violence": {"filtered": True, "severity": "medium"}}
_PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": _FILTER_OK}]
_AZURE_CONTENT_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read "
    "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
_PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
    "If you have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)
_AZURE_AUTH = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


def _invalid(message: str, param: str | None = None, code: str | None = None) -> Reject:
    return Reject(400, message, type="invalid_request_error", param=param, code=code)


class OpenAIWire:
    """OpenAI (``azure=False``) or Azure OpenAI (``azure=True``) on the same code."""

    def __init__(self, env: Env, *, azure: bool) -> None:
        self.env = env
        self.azure = azure
        self.name = "azure" if azure else "openai"

    # ---- border ------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str], query: dict[str, str], api_key: str) -> Reject | None:
        bearer = headers.get("authorization", "")
        token = bearer[7:] if bearer[:7].lower() == "bearer " else None
        if self.azure:
            given = headers.get("api-key") or token
            if given != api_key:
                return Reject(401, _AZURE_AUTH, code="401")
            return None
        if token is None:
            return Reject(401, _NO_KEY, type="invalid_request_error")
        if token != api_key:
            shown = token[:3] + "*" * 4 + token[-4:] if len(token) > 8 else "*" * len(token)
            return Reject(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                type="invalid_request_error",
                code="invalid_api_key",
            )
        return None

    def precheck(self, route: Route) -> Reject | None:
        if self.azure and not route.query.get("api-version"):
            return Reject(404, "Resource not found", code="404")
        return None

    def model_of(self, route: Route, body: Any) -> str:
        if self.azure:
            given = body.get("model") if isinstance(body, dict) else None
            return given if isinstance(given, str) and given else route.params.get("deployment", "")
        if route.endpoint == "model":
            return route.params.get("model", "")
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else ""

    def is_stream(self, route: Route, body: Any) -> bool:
        return route.endpoint == "chat" and isinstance(body, dict) and body.get("stream") is True

    def parse_error(self) -> Reject:
        return _invalid(_PARSE_ERROR)

    def render(self, rej: Reject) -> Answer:
        headers: Headers = [("content-type", "application/json"), ("x-request-id", self.env.ids.make("req_", 32))]
        if rej.retry_after is not None:
            headers.append(("retry-after", retry_after_header(rej.retry_after)))
            if self.azure:
                headers.append(("retry-after-ms", str(int(rej.retry_after * 1000))))
        if self.azure and rej.code in ("401", "403", "404", "429"):
            error: dict[str, Any] = {"code": rej.code, "message": rej.message}
        else:
            error = {
                "message": rej.message,
                "type": rej.type if rej.type is not None else _default_type(rej.status),
                "param": rej.param,
                "code": rej.code,
            }
            error.update(rej.extra)
        return Answer(rej.status, headers, dumps({"error": error}))

    def status_error(self, status: int, retry_after: float | None, model: str) -> Reject:
        if self.azure and status in (401, 403, 404, 429):
            messages = {
                401: _AZURE_AUTH,
                403: "Traffic is not from an approved private endpoint.",
                404: "The API deployment for this resource does not exist. If you created the deployment "
                "within the last 5 minutes, please wait a moment and try again.",
                429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                "2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please "
                f"retry after {retry_after_header(retry_after or 1)} seconds. Please go here: "
                "https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
            }
            return Reject(status, messages[status], code=str(status), retry_after=retry_after)
        if status == 429:
            wait = retry_after if retry_after is not None else 1.0
            return Reject(
                429,
                f"Rate limit reached for {model or 'default'} in organization org-simulator on requests per "
                f"min (RPM): Limit 500, Used 500, Requested 1. Please try again in {wait:g}s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
                type="requests",
                code="rate_limit_exceeded",
                retry_after=retry_after,
            )
        if status == 404:
            return self.not_found(model)
        messages = {
            400: "Bad request.",
            401: "Incorrect API key provided.",
            403: "Country, region, or territory not supported",
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The server is overloaded or not ready yet.",
            504: "Gateway timeout.",
        }
        code = {401: "invalid_api_key", 403: "unsupported_country_region_territory"}.get(status)
        typ = "request_forbidden" if status == 403 else None
        return Reject(status, messages.get(status, f"HTTP {status}"), type=typ, code=code, retry_after=retry_after)

    def context_error(self, tokens: int, window: int) -> Reject:
        return _invalid(
            f"This model's maximum context length is {window} tokens. However, your messages resulted in "
            f"{tokens} tokens. Please reduce the length of the messages.",
            "messages",
            "context_length_exceeded",
        )

    def not_found(self, model: str) -> Reject:
        if self.azure:
            return Reject(
                404,
                "The API deployment for this resource does not exist. If you created the deployment within "
                "the last 5 minutes, please wait a moment and try again.",
                code="DeploymentNotFound",
                type=None,
            )
        return Reject(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            type="invalid_request_error",
            code="model_not_found",
        )

    def malformed(self, stream: bool) -> Answer | Stream:
        if stream:
            first = self._chunk("chatcmpl-malformed", "sim", 0, [_choice(0, {"role": "assistant", "content": ""})])
            frames = [Frame(b"data: " + dumps(first) + b"\n\n"), Frame(b'data: {"id": "chatcmpl-malformed", "cho\n\n', 1)]
            return Stream(_stream_headers(), frames)
        return Answer(200, [("content-type", "application/json")], b'{"id": "chatcmpl-malformed", "object": "chat.comp')

    def stream_error(self) -> bytes:
        error = {"message": "The server had an error while processing your request. Sorry about that!",
                 "type": "server_error", "param": None, "code": None}  # fmt: skip
        return b"data: " + dumps({"error": error}) + b"\n\n"

    # ---- endpoints ---------------------------------------------------------------

    def handle(self, route: Route, body: Any) -> Answer | Stream:
        if route.endpoint == "chat":
            return self._chat(route, body)
        if route.endpoint == "embeddings":
            return self._embeddings(route, body)
        if route.endpoint == "model":
            return self._model(route.params["model"])
        return self._models()

    def _models(self) -> Answer:
        data = [{"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in MODELS]
        return Answer(200, self._headers(), dumps({"object": "list", "data": data}))

    def _model(self, model: str) -> Answer:
        if "sim-not-found" in model:
            raise self.not_found(model)
        return Answer(200, self._headers(), dumps({"id": model, "object": "model", "created": 1715367049, "owned_by": "system"}))

    def _headers(self) -> Headers:
        return [
            ("content-type", "application/json"),
            ("x-request-id", self.env.ids.make("req_", 32)),
            ("openai-processing-ms", "1"),
            ("openai-version", "2020-10-01"),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-limit-tokens", "30000000"),
            ("x-ratelimit-remaining-tokens", "29999000"),
            ("x-ratelimit-reset-tokens", "2ms"),
        ]

    # ---- chat completions -----------------------------------------------------------

    def _chat(self, route: Route, body: Any) -> Answer | Stream:
        if not isinstance(body, dict):
            raise _invalid(f"Invalid type for body: expected an object, but got {type(body).__name__} instead.")
        allowed = CHAT_PARAMS | AZURE_EXTRA_PARAMS if self.azure else CHAT_PARAMS
        for key in body:
            if key not in allowed:
                raise _invalid(f"Unrecognized request argument supplied: {key}")
        model = self.model_of(route, body)
        if not self.azure and not model:
            raise _invalid("you must provide a model parameter")
        config = self.env.config()
        ask, n, prompt_tokens, prefixes = self._read_chat(body, model)
        if prompt_tokens > config.context_window:
            raise self.context_error(prompt_tokens, config.context_window)
        if ask.mode == "content_filter" and self.azure:
            raise Reject(
                400,
                _AZURE_CONTENT_FILTER_MESSAGE,
                type=None,
                param="prompt",
                code="content_filter",
                extra={"status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": _FILTER_HIT}},
            )
        hit = self.env.cache.hit(prefixes.marks)
        cached = hit // 128 * 128 if hit >= max(config.cache_min_tokens, 1) else 0
        make_id = lambda: self.env.ids.make("call_", 24)  # noqa: E731
        replies = [plan.answer(ask, config.reply_tokens, make_id, i) for i in range(n)]
        usage = _usage(prompt_tokens, cached, replies)
        chat_id = self.env.ids.make("chatcmpl-", 29)
        logprobs = body.get("logprobs") is True
        top = body.get("top_logprobs") or 0
        if body.get("stream") is True:
            options = body.get("stream_options") or {}
            return self._stream(chat_id, model, replies, usage, logprobs, top, options)
        choices = []
        for i, r in enumerate(replies):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": r.text if (r.text or not r.calls) and r.finish != "content_filter" else None,
                "refusal": None,
                "annotations": [],
            }
            if r.calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                    for c in r.calls
                ]
            choice: dict[str, Any] = {
                "index": i,
                "message": message,
                "logprobs": {"content": _logprobs(text.tokens(r.text), top), "refusal": None} if logprobs else None,
                "finish_reason": _FINISH[r.finish],
            }
            if self.azure:
                choice["content_filter_results"] = _FILTER_HIT if r.finish == "content_filter" else _FILTER_OK
            choices.append(choice)
        out: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion",
            "created": self.env.now(),
            "model": model,
            "choices": choices,
            "usage": usage,
            "system_fingerprint": FINGERPRINT,
        }
        if self.azure:
            out["prompt_filter_results"] = _PROMPT_FILTER
        else:
            out["service_tier"] = "default"
        return Answer(200, self._headers(), dumps(out), usage["completion_tokens"])

    def _read_chat(self, body: dict[str, Any], model: str) -> tuple[plan.Ask, int, int, Prefixes]:
        messages = body.get("messages")
        if messages is None:
            raise _invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        if not isinstance(messages, list):
            raise _invalid(
                f"Invalid type for 'messages': expected an array, but got {_json_type(messages)} instead.",
                "messages",
                "invalid_type",
            )
        if not messages:
            raise _invalid(
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
                raise _invalid(
                    "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                    "'max_completion_tokens' instead.",
                    "max_tokens",
                    "unsupported_parameter",
                )
            max_tokens = body["max_tokens"] if max_tokens is None else max_tokens
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
            name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            raise _invalid(
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {max_tokens} instead.",
                name,
                "integer_below_min_value",
            )
        temperature = body.get("temperature")
        if temperature is not None:
            _range("temperature", temperature, 0, 2)
            if strict and reasoning_model and temperature != 1:
                raise _invalid(
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
                raise _invalid(
                    "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                    "reasoning_effort",
                    "unsupported_parameter",
                )
            if effort not in EFFORT_TOKENS:
                raise _invalid(
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
                raise _invalid(
                    f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array "
                    f"with length {len(stop)} instead.",
                    "stop",
                    "array_above_max_length",
                )
            stops = [s for s in stop if isinstance(s, str)]
        elif stop is not None:
            raise _invalid("Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type")
        if body.get("stream_options") is not None and body.get("stream") is not True:
            raise _invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
            )
        if body.get("top_logprobs") is not None:
            top = body["top_logprobs"]
            if not isinstance(top, int) or not 0 <= top <= 20:
                raise _invalid("Invalid 'top_logprobs': expected an integer between 0 and 20.", "top_logprobs", "invalid_value")
            if body.get("logprobs") is not True:
                raise _invalid(
                    "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is set.",
                    "top_logprobs",
                )

        tools, tool_tokens = self._read_tools(body)
        tool_mode, tool_name = self._read_tool_choice(body, tools)
        prefixes = Prefixes(f"openai:{model}")
        prefixes.add(dumps(body.get("tools") or []), tool_tokens)
        source, tool_result, prompt_tokens, mentions_json = self._read_messages(messages, prefixes)
        prompt_tokens += tool_tokens

        json_schema = None
        json_object = False
        fmt = body.get("response_format")
        if fmt is not None:
            kind = fmt.get("type") if isinstance(fmt, dict) else None
            if kind == "json_object":
                if not mentions_json:
                    raise _invalid(
                        "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                        "'json_object'.",
                        "messages",
                    )
                json_object = True
            elif kind == "json_schema":
                spec = fmt.get("json_schema")
                if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                    raise _invalid(
                        "Missing required parameter: 'response_format.json_schema.name'.",
                        "response_format.json_schema.name",
                        "missing_required_parameter",
                    )
                json_schema = spec.get("schema") or {"type": "object"}
            elif kind != "text":
                raise _invalid(
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

    def _read_tools(self, body: dict[str, Any]) -> tuple[list[plan.ToolSpec], int]:
        tools = body.get("tools")
        if tools is None:
            return [], 0
        if not isinstance(tools, list):
            raise _invalid("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
        specs = []
        for i, tool in enumerate(tools):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind == "custom":
                continue
            if kind != "function":
                raise _invalid(
                    f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'.",
                    f"tools[{i}].type",
                    "invalid_value",
                )
            fn = tool.get("function")
            if not isinstance(fn, dict) or "name" not in fn:
                raise _invalid(
                    f"Missing required parameter: 'tools[{i}].function.name'.",
                    f"tools[{i}].function.name",
                    "missing_required_parameter",
                )
            name = fn["name"]
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise _invalid(
                    f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that "
                    "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{i}].function.name",
                    "invalid_value",
                )
            specs.append(plan.ToolSpec(name, fn.get("parameters") or {"type": "object", "properties": {}}))
        return specs, text.count_tokens(dumps(tools).decode())

    def _read_tool_choice(self, body: dict[str, Any], tools: list[plan.ToolSpec]) -> tuple[plan.ToolMode, str | None]:
        choice = body.get("tool_choice")
        if choice is None:
            return "auto", None
        if not tools:
            raise _invalid(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            )
        if choice in ("none", "auto", "required"):
            return choice, None
        if isinstance(choice, dict) and choice.get("type") == "function":
            name = (choice.get("function") or {}).get("name")
            if name not in {t.name for t in tools}:
                raise _invalid(
                    f"Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter.",
                    "tool_choice",
                )
            return "tool", name
        if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
            return ("required" if (choice.get("allowed_tools") or {}).get("mode") == "required" else "auto"), None
        raise _invalid(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.", "tool_choice"
        )

    def _read_messages(self, messages: list[Any], prefixes: Prefixes) -> tuple[str, str | None, int, bool]:
        total = 0
        source = ""
        mentions_json = False
        pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message awaiting it
        last_calls_at = -1
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise _invalid(
                    f"Invalid type for 'messages[{i}]': expected an object, but got {_json_type(msg)} instead.",
                    f"messages[{i}]",
                    "invalid_type",
                )
            role = msg.get("role")
            if role is None:
                raise _invalid(
                    f"Missing required parameter: 'messages[{i}].role'.", f"messages[{i}].role", "missing_required_parameter"
                )
            if role not in ROLES:
                raise _invalid(
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                    "'tool', and 'developer'.",
                    f"messages[{i}].role",
                    "invalid_value",
                )
            if pending and role != "tool":
                ids = ", ".join(pending)
                raise _invalid(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
                    f"messages.[{last_calls_at}].role",
                )
            content = msg.get("content")
            if content is None and role in ("system", "developer", "user", "tool"):
                raise _invalid(
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
                for call in calls:
                    fn = (call.get("function") or {}) if isinstance(call, dict) else {}
                    tokens += text.count_tokens(str(fn.get("name", ""))) + text.count_tokens(str(fn.get("arguments", "")))
                    if isinstance(call, dict) and isinstance(call.get("id"), str):
                        pending[call["id"]] = i
                if calls:
                    last_calls_at = i
            elif role == "tool":
                call_id = msg.get("tool_call_id")
                if call_id not in pending:
                    raise _invalid(
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
            raise _invalid(
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

    # ---- streaming --------------------------------------------------------------------

    def _chunk(self, chat_id: str, model: str, created: int, choices: list[Any]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        }
        if not self.azure:
            chunk["service_tier"] = "default"
        return chunk

    def _stream(
        self,
        chat_id: str,
        model: str,
        replies: list[plan.Reply],
        usage: dict[str, Any],
        logprobs: bool,
        top: int,
        options: dict[str, Any],
    ) -> Stream:
        created = self.env.now()
        include_usage = options.get("include_usage") is True
        obfuscate = not self.azure and options.get("include_obfuscation") is not False
        per_choice: list[list[tuple[dict[str, Any], int]]] = []
        for i, r in enumerate(replies):
            events: list[tuple[dict[str, Any], int]] = [(_choice(i, {"role": "assistant", "content": "", "refusal": None}), 0)]
            for piece, n in text.chunks(r.text, 1):
                choice = _choice(i, {"content": piece})
                if logprobs:
                    choice["logprobs"] = {"content": _logprobs([piece], top), "refusal": None}
                if self.azure:
                    choice["content_filter_results"] = _FILTER_OK
                events.append((choice, n))
            for index, call in enumerate(r.calls):
                head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
                events.append((_choice(i, {"tool_calls": [head]}), 0))
                for fragment in text.split_json(call.arguments_json):
                    delta = {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                    events.append((_choice(i, delta), max(1, text.count_tokens(fragment))))
            finish = _choice(i, {}, _FINISH[r.finish])
            if self.azure:
                finish["content_filter_results"] = _FILTER_HIT if r.finish == "content_filter" else {}
            events.append((finish, 0))
            per_choice.append(events)
        frames: list[Frame] = []
        if self.azure:
            head = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": _PROMPT_FILTER}
            frames.append(Frame(b"data: " + dumps(head) + b"\n\n"))
        # Choices are interleaved round-robin, as the API does for n > 1.
        for step in range(max(len(e) for e in per_choice)):
            for events in per_choice:
                if step < len(events):
                    choice, n = events[step]
                    chunk = self._chunk(chat_id, model, created, [choice])
                    if include_usage:
                        chunk["usage"] = None
                    if obfuscate:
                        chunk["obfuscation"] = _obfuscation(choice)
                    frames.append(Frame(b"data: " + dumps(chunk) + b"\n\n", n))
        if include_usage:
            chunk = self._chunk(chat_id, model, created, [])
            chunk["usage"] = usage
            if obfuscate:
                chunk["obfuscation"] = "x7Qz"
            frames.append(Frame(b"data: " + dumps(chunk) + b"\n\n"))
        frames.append(Frame(b"data: [DONE]\n\n"))
        return Stream(_stream_headers(self._headers()[1:]), frames)

    # ---- embeddings ----------------------------------------------------------------------

    def _embeddings(self, route: Route, body: Any) -> Answer:
        if not isinstance(body, dict):
            raise _invalid("Invalid type for body: expected an object.")
        for key in body:
            if key not in EMBEDDING_PARAMS:
                raise _invalid(f"Unrecognized request argument supplied: {key}")
        model = self.model_of(route, body)
        if not self.azure and not model:
            raise _invalid("you must provide a model parameter")
        raw = body.get("input")
        if raw is None:
            raise _invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        inputs: list[Any]
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            inputs = [raw]
        elif isinstance(raw, list):
            inputs = raw
        else:
            raise _invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
        if not inputs or len(inputs) > 2048:
            raise _invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
        dims = body.get("dimensions")
        default = 3072 if "large" in model else 1536
        if dims is not None:
            if "ada-002" in model:
                raise _invalid("This model does not support specifying dimensions.", "dimensions")
            if not isinstance(dims, int) or not 1 <= dims <= default:
                raise _invalid(f"Invalid 'dimensions': expected an integer between 1 and {default}.", "dimensions", "invalid_value")
        size = dims or default
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise _invalid(
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.", "encoding_format", "invalid_value"
            )
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            if isinstance(item, str):
                if not item:
                    raise _invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
                tokens += text.count_tokens(item)
                key = item
            elif isinstance(item, list) and all(isinstance(x, int) for x in item):
                tokens += len(item)
                key = " ".join(map(str, item))
            else:
                raise _invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
            config = self.env.config()
            if tokens > config.context_window:
                raise _invalid(
                    f"This model's maximum context length is {config.context_window} tokens, however you requested "
                    f"{tokens} tokens. Please reduce your prompt.",
                    None,
                    "context_length_exceeded",
                )
            vector = text.embedding(key, size)
            value: Any = text.embedding_base64(vector) if encoding == "base64" else vector
            data.append({"object": "embedding", "index": i, "embedding": value})
        out = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Answer(200, self._headers(), dumps(out))


# ---- helpers ------------------------------------------------------------------------------


def _default_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


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
        raise _invalid(f"Invalid type for '{name}': expected an integer, but got {_json_type(value)} instead.", name, "invalid_type")
    if value < lo:
        raise _invalid(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {lo}, but got {value} instead.",
            name,
            "integer_below_min_value",
        )
    if value > hi:
        raise _invalid(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {hi}, but got {value} instead.",
            name,
            "integer_above_max_value",
        )
    return value


def _range(name: str, value: Any, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _invalid(f"Invalid type for '{name}': expected a number, but got {_json_type(value)} instead.", name, "invalid_type")
    if value < lo:
        raise _invalid(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {lo}, but got {value} instead.",
            name,
            "decimal_below_min_value",
        )
    if value > hi:
        raise _invalid(
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
        raise _invalid(
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
            raise _invalid(
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


def _choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def _logprobs(pieces: list[str], top: int) -> list[dict[str, Any]]:
    out = []
    for piece in pieces:
        lp = text.logprob(piece)
        alternatives = [{"token": piece, "logprob": lp, "bytes": list(piece.encode())}]
        for k in range(1, top):
            alt = piece + "_" * k
            alternatives.append({"token": alt, "logprob": round(lp - 1.5 * k, 6), "bytes": list(alt.encode())})
        out.append({"token": piece, "logprob": lp, "bytes": list(piece.encode()), "top_logprobs": alternatives[:top]})
    return out


def _obfuscation(choice: dict[str, Any]) -> str:
    # Pads chunk sizes against length side channels; its value is random in the API.
    size = 16 - len(dumps(choice["delta"])) % 12
    return "aB3dE5gH7jK9mN1pQ"[:size]


def _usage(prompt: int, cached: int, replies: list[plan.Reply]) -> dict[str, Any]:
    completion = sum(r.output_tokens for r in replies)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": sum(r.reasoning_tokens for r in replies),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _stream_headers(extra: Headers | None = None) -> Headers:
    return [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache"), *(extra or [])]
