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

from typing import Any

from switchgear.simulator import plan, text
from switchgear.simulator.openai_request import AZURE_EXTRA_PARAMS, CHAT_PARAMS, EMBEDDING_PARAMS, invalid, read_chat
from switchgear.simulator.wire import Answer, Env, Frame, Headers, Reject, Route, Stream, dumps, retry_after_header

MODELS = ("gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "text-embedding-3-large", "sim-model")
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

    def precheck(self, route: Route, headers: dict[str, str]) -> Reject | None:
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
        return invalid(_PARSE_ERROR)

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
        return invalid(
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
            raise invalid(f"Invalid type for body: expected an object, but got {type(body).__name__} instead.")
        allowed = CHAT_PARAMS | AZURE_EXTRA_PARAMS if self.azure else CHAT_PARAMS
        for key in body:
            if key not in allowed:
                raise invalid(f"Unrecognized request argument supplied: {key}")
        model = self.model_of(route, body)
        if not self.azure and not model:
            raise invalid("you must provide a model parameter")
        config = self.env.config()
        ask, n, prompt_tokens, prefixes = read_chat(body, model)
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
            raise invalid("Invalid type for body: expected an object.")
        for key in body:
            if key not in EMBEDDING_PARAMS:
                raise invalid(f"Unrecognized request argument supplied: {key}")
        model = self.model_of(route, body)
        if not self.azure and not model:
            raise invalid("you must provide a model parameter")
        raw = body.get("input")
        if raw is None:
            raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        inputs: list[Any]
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            inputs = [raw]
        elif isinstance(raw, list):
            inputs = raw
        else:
            raise invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
        if not inputs or len(inputs) > 2048:
            raise invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
        dims = body.get("dimensions")
        default = 3072 if "large" in model else 1536
        if dims is not None:
            if "ada-002" in model:
                raise invalid("This model does not support specifying dimensions.", "dimensions")
            if not isinstance(dims, int) or not 1 <= dims <= default:
                raise invalid(f"Invalid 'dimensions': expected an integer between 1 and {default}.", "dimensions", "invalid_value")
        size = dims or default
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise invalid(
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.", "encoding_format", "invalid_value"
            )
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            if isinstance(item, str):
                if not item:
                    raise invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
                tokens += text.count_tokens(item)
                key = item
            elif isinstance(item, list) and all(isinstance(x, int) for x in item):
                tokens += len(item)
                key = " ".join(map(str, item))
            else:
                raise invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
            config = self.env.config()
            if tokens > config.context_window:
                raise invalid(
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
