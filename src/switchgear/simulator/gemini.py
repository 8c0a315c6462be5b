"""Gemini API: generateContent, streamGenerateContent, embedContent,
batchEmbedContents, countTokens and the model list, under ``/v1beta`` and ``/v1``.

Shapes follow the Gemini API reference. Faithful details worth knowing:

- The key comes in ``x-goog-api-key`` or ``?key=``. No key: 403
  PERMISSION_DENIED; a wrong key: 400 INVALID_ARGUMENT with an ``ErrorInfo``
  detail of reason ``API_KEY_INVALID``.
- Errors are ``{"error": {"code", "message", "status", "details"}}``; a 429
  carries a ``google.rpc.RetryInfo`` detail (``retryDelay: "2s"``) instead of a
  Retry-After header.
- Unknown fields are refused as the proto JSON parser does ('Unknown name "x":
  Cannot find field.'); camelCase and snake_case field names are both accepted.
- Roles are ``user``/``model``; a function response must follow a function call
  turn with as many parts.
- ``usageMetadata.promptTokenCount`` includes ``cachedContentTokenCount``
  (automatic caching of a repeated prefix of at least ``cache_min_tokens``);
  ``candidatesTokenCount`` excludes ``thoughtsTokenCount``. 2.5 and 3 models
  think by default (counted); thoughts are returned as ``thought: true`` parts
  only with ``thinkingConfig.includeThoughts``; ``thinkingBudget: 0`` turns it off.
- ``?alt=sse`` streams ``data: {GenerateContentResponse}`` events separated by
  CRLF CRLF, as the API does; every chunk carries cumulative ``usageMetadata``;
  the last carries ``finishReason``; function calls arrive whole. Without
  ``alt=sse`` the stream is one JSON array, written element by element.
"""

from __future__ import annotations

import re
from typing import Any

from switchgear.simulator import plan, schema, text
from switchgear.simulator.cache import Prefixes
from switchgear.simulator.config import content_mode
from switchgear.simulator.wire import Answer, Env, Frame, Headers, Reject, Route, Stream, dumps

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # fmt: skip
_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    429: "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
REQUEST_FIELDS = frozenset(
    {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig", "cachedContent", "model"}
)
GENERATION_FIELDS = frozenset(
    {
        "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "_responseJsonSchema",
        "responseModalities", "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed",
        "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers",
        "speechConfig", "thinkingConfig", "imageConfig", "mediaResolution",
    }
)  # fmt: skip
EMBED_FIELDS = frozenset({"model", "content", "taskType", "title", "outputDimensionality"})
_FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
_SAFETY_BLOCK = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]
_THINKING_MODEL = re.compile(r"gemini-(2\.5|3)")
MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "gemini-embedding-001", "sim-model")
TOKENS_PER_CHUNK = 8
_SNAKE = re.compile(r"_([a-z])")


def _camel(key: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), key) if "_" in key[1:] else key


def _invalid(message: str, details: list[Any] | None = None) -> Reject:
    return Reject(400, message, extra={"details": details} if details else None)


def _unknown(name: str, where: str | None = None) -> Reject:
    at = f" at '{where}'" if where else ""
    message = f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    violation = {"field": where or "", "description": message} if where else {"description": message}
    return _invalid(message, [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}])


def _normalise(obj: dict[str, Any], allowed: frozenset[str], where: str | None) -> dict[str, Any]:
    out = {}
    for key, value in obj.items():
        name = _camel(key)
        if name not in allowed:
            raise _unknown(key, where)
        out[name] = value
    return out


class GeminiWire:
    name = "gemini"

    def __init__(self, env: Env) -> None:
        self.env = env

    # ---- border ------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str], query: dict[str, str], api_key: str) -> Reject | None:
        given = headers.get("x-goog-api-key") or query.get("key")
        if not given:
            return Reject(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use "
                "API Key or other form of API consumer identity to call this API.",
            )
        if given != api_key:
            return _invalid(
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        return None

    def precheck(self, route: Route, headers: dict[str, str]) -> Reject | None:
        return None

    def model_of(self, route: Route, body: Any) -> str:
        return route.params.get("model", "")

    def is_stream(self, route: Route, body: Any) -> bool:
        return route.endpoint == "stream"

    def parse_error(self) -> Reject:
        return _invalid("Invalid JSON payload received. Unexpected token.")

    def render(self, rej: Reject) -> Answer:
        error: dict[str, Any] = {
            "code": rej.status,
            "message": rej.message,
            "status": rej.type or _STATUS.get(rej.status, "UNKNOWN" if rej.status >= 500 else "FAILED_PRECONDITION"),
        }
        details = list(rej.extra.get("details") or [])
        if rej.retry_after is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{rej.retry_after:g}s"})
        if details:
            error["details"] = details
        return Answer(rej.status, [("content-type", "application/json; charset=UTF-8")], dumps({"error": error}))

    def status_error(self, status: int, retry_after: float | None, model: str) -> Reject:
        if status == 404:
            return self.not_found(model)
        return Reject(status, _MESSAGES.get(status, f"HTTP {status}"), retry_after=retry_after)

    def context_error(self, tokens: int, window: int) -> Reject:
        return _invalid(f"The input token count ({tokens}) exceeds the maximum number of tokens allowed ({window}).")

    def not_found(self, model: str) -> Reject:
        return Reject(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for generateContent. Call "
            "ListModels to see the list of available models and their supported methods.",
        )

    def malformed(self, stream: bool) -> Answer | Stream:
        if stream:
            return Stream(_sse_headers(), [Frame(b'data: {"candidates": [{"content": {"parts": [{"te\r\n\r\n', 1)])
        return Answer(200, [("content-type", "application/json; charset=UTF-8")], b'{"candidates": [{"content": ')

    def stream_error(self) -> bytes:
        error = {"code": 503, "message": _MESSAGES[503], "status": "UNAVAILABLE"}
        return b"data: " + dumps({"error": error}) + b"\r\n\r\n"

    # ---- endpoints ---------------------------------------------------------------

    def handle(self, route: Route, body: Any) -> Answer | Stream:
        if route.endpoint == "models":
            return self._models()
        if not isinstance(body, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        model = route.params["model"]
        if route.endpoint == "embed":
            return self._embed(model, body)
        if route.endpoint == "batch_embed":
            return self._batch_embed(model, body)
        if route.endpoint == "count_tokens":
            inner = body.get("generateContentRequest", body)
            if not isinstance(inner, dict):
                raise _invalid("Invalid JSON payload received. Expected an object.")
            reader = _Reader({k: v for k, v in inner.items() if k != "model"}, model, self.env.config().reply_tokens)
            count = reader.prompt_tokens
            return Answer(200, _headers(), dumps({"totalTokens": count, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": count}]}))
        config = self.env.config()
        reader = _Reader(body, model, config.reply_tokens)
        if reader.prompt_tokens > config.context_window:
            raise self.context_error(reader.prompt_tokens, config.context_window)
        hit = self.env.cache.hit(reader.prefixes.marks)
        cached = hit if hit >= max(config.cache_min_tokens, 1) else 0
        replies = [plan.answer(reader.ask, config.reply_tokens, lambda: "", i) for i in range(reader.candidates)]
        response_id = self.env.ids.make("", 22)
        if route.endpoint == "stream":
            return self._stream(route, model, response_id, reader, replies, cached)
        candidates = [self._candidate(i, r, reader, r.text, r.thinking, True) for i, r in enumerate(replies)]
        out = {
            "candidates": candidates,
            "usageMetadata": _usage(reader.prompt_tokens, cached, replies, sum(_visible(r) for r in replies)),
            "modelVersion": model,
            "responseId": response_id,
        }
        return Answer(200, _headers(), dumps(out), sum(r.output_tokens for r in replies))

    def _candidate(self, index: int, r: plan.Reply, reader: _Reader, body: str, thought: str, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {}
        if r.finish == "content_filter":
            return {"finishReason": "SAFETY", "index": index, "safetyRatings": _SAFETY_BLOCK}
        parts: list[dict[str, Any]] = []
        if thought and reader.include_thoughts:
            parts.append({"text": thought, "thought": True})
        if body or (last and not r.calls and not parts):
            parts.append({"text": body})
        if last:
            for k, call in enumerate(r.calls):
                part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
                if k == 0 and r.thinking:
                    part["thoughtSignature"] = text.sign(r.thinking)
                parts.append(part)
        candidate["content"] = {"parts": parts, "role": "model"}
        if last:
            candidate["finishReason"] = _FINISH[r.finish]
        candidate["index"] = index
        return candidate

    def _stream(self, route: Route, model: str, response_id: str, reader: _Reader, replies: list[plan.Reply], cached: int) -> Stream:
        sse = route.query.get("alt") == "sse"
        chunks: list[tuple[dict[str, Any], int]] = []
        emitted = 0
        for i, r in enumerate(replies):
            pieces = text.chunks(r.text, TOKENS_PER_CHUNK) or [("", 0)]
            thought = r.thinking if reader.include_thoughts else ""
            if thought:
                candidate = self._candidate(i, r, reader, "", thought, False)
                chunks.append((self._chunk([candidate], reader, replies, cached, emitted, model, response_id), r.thinking_tokens))
            for k, (piece, n) in enumerate(pieces):
                last = k == len(pieces) - 1
                emitted += n + (r.call_tokens if last else 0)
                candidate = self._candidate(i, r, reader, piece, "", last)
                chunks.append((self._chunk([candidate], reader, replies, cached, emitted, model, response_id), n))
        frames = []
        for k, (chunk, n) in enumerate(chunks):
            data = dumps(chunk)
            if sse:
                frames.append(Frame(b"data: " + data + b"\r\n\r\n", n))
            else:
                frames.append(Frame((b"[" if k == 0 else b",\r\n") + data, n))
        if not sse:
            frames.append(Frame(b"]"))
        headers = _sse_headers() if sse else _headers()
        return Stream(headers, frames)

    def _chunk(self, candidates: list[Any], reader: _Reader, replies: list[plan.Reply], cached: int, emitted: int,
               model: str, response_id: str) -> dict[str, Any]:  # fmt: skip
        return {
            "candidates": candidates,
            "usageMetadata": _usage(reader.prompt_tokens, cached, replies, emitted),
            "modelVersion": model,
            "responseId": response_id,
        }

    def _models(self) -> Answer:
        models = []
        for m in MODELS:
            embed = "embedding" in m
            models.append(
                {
                    "name": f"models/{m}",
                    "version": "001",
                    "displayName": m,
                    "inputTokenLimit": 1048576 if not embed else 2048,
                    "outputTokenLimit": 65536 if not embed else 1,
                    "supportedGenerationMethods": ["embedContent", "batchEmbedContents", "countTokens"]
                    if embed
                    else ["generateContent", "countTokens", "streamGenerateContent"],
                }
            )
        return Answer(200, _headers(), dumps({"models": models}))

    # ---- embeddings ----------------------------------------------------------------

    def _embed_one(self, model: str, req: Any, where: str | None) -> tuple[list[float], int]:
        if not isinstance(req, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        req = _normalise(req, EMBED_FIELDS, where)
        content = req.get("content")
        if not isinstance(content, dict) or not content.get("parts") or not isinstance(content["parts"], list):
            raise _invalid("* EmbedContentRequest.content: contents is not specified\n")
        words = " ".join(str(p.get("text", "")) for p in content["parts"] if isinstance(p, dict))
        if not words.strip():
            raise _invalid("* EmbedContentRequest.content: contents is not specified\n")
        default = 3072 if "gemini-embedding" in model else 768
        dims = req.get("outputDimensionality") or default
        if not isinstance(dims, int) or not 1 <= dims <= default:
            raise _invalid(f"* EmbedContentRequest.output_dimensionality: must be in the range [1, {default}]\n")
        return text.embedding(words, dims), text.count_tokens(words)

    def _embed(self, model: str, body: dict[str, Any]) -> Answer:
        values, _ = self._embed_one(model, body, None)
        return Answer(200, _headers(), dumps({"embedding": {"values": values}}))

    def _batch_embed(self, model: str, body: dict[str, Any]) -> Answer:
        body = _normalise(body, frozenset({"requests"}), None)
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _invalid("* BatchEmbedContentsRequest.requests: requests is not specified\n")
        out = []
        for i, req in enumerate(requests):
            given = req.get("model") if isinstance(req, dict) else None
            if given is not None and given != f"models/{model}":
                raise _invalid(
                    f"* BatchEmbedContentsRequest.requests[{i}].model: The model in the request ({given}) does "
                    f"not match the model in the URL (models/{model}).\n"
                )
            values, _ = self._embed_one(model, req, f"requests[{i}]")
            out.append({"values": values})
        return Answer(200, _headers(), dumps({"embeddings": out}))


class _Reader:
    """Validates a GenerateContentRequest and extracts the Ask."""

    def __init__(self, raw: dict[str, Any], model: str, reply_tokens: int) -> None:
        body = _normalise(raw, REQUEST_FIELDS, None)
        config = body.get("generationConfig") or {}
        if not isinstance(config, dict):
            raise _invalid("Invalid JSON payload received. Unknown name \"generationConfig\": Proto field is not repeating, cannot start list.")
        config = _normalise(config, GENERATION_FIELDS, "generation_config")
        self.prefixes = Prefixes(f"gemini:{model}")
        self.prompt_tokens = 0
        tools = self._tools(body.get("tools"))
        mode, name = self._tool_config(body.get("toolConfig"), tools)
        self._system(body.get("systemInstruction"))
        source, tool_result = self._contents(body.get("contents"))

        candidates = config.get("candidateCount", 1)
        if not isinstance(candidates, int) or not 1 <= candidates <= 8:
            raise _invalid("* GenerateContentRequest.generation_config.candidate_count: must be in the range [1, 8]\n")
        self.candidates = candidates
        max_tokens = config.get("maxOutputTokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise _invalid("* GenerateContentRequest.generation_config.max_output_tokens: must be positive\n")
        stops = config.get("stopSequences") or []
        if not isinstance(stops, list) or len(stops) > 5:
            raise _invalid("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n")
        thinking = config.get("thinkingConfig") or {}
        if not isinstance(thinking, dict):
            raise _invalid("* GenerateContentRequest.generation_config.thinking_config: must be an object\n")
        thinking = {_camel(k): v for k, v in thinking.items()}
        budget = thinking.get("thinkingBudget")
        self.include_thoughts = thinking.get("includeThoughts") is True
        thinks = budget != 0 and (
            bool(_THINKING_MODEL.search(model)) or self.include_thoughts or bool(budget) or "thinkingLevel" in thinking
        )
        thinking_budget = None
        if thinks:
            thinking_budget = reply_tokens if budget in (None, -1) else max(int(budget), 1)
        else:
            self.include_thoughts = False
        json_schema = None
        json_object = False
        if config.get("responseMimeType") == "application/json":
            json_schema = config.get("responseJsonSchema") or config.get("_responseJsonSchema") or config.get("responseSchema")
            json_object = json_schema is None
            why = None if json_object else schema.problem(json_schema)
            if why is not None:
                raise _invalid(f"* GenerateContentRequest.generation_config.response_schema: {why}\n")
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
            json_object=json_object,
            mode=content_mode(model),
        )

    def _add(self, part: Any, tokens: int) -> None:
        self.prompt_tokens += tokens
        self.prefixes.add(dumps(part), tokens)

    def _tools(self, tools: Any) -> list[plan.ToolSpec]:
        if tools is None:
            return []
        if not isinstance(tools, list):
            raise _invalid("Invalid JSON payload received. Unknown name \"tools\": Proto field is repeating, expected a list.")
        specs = []
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _invalid(f"* GenerateContentRequest.tools[{i}]: must be an object\n")
            for key, value in tool.items():
                if _camel(key) != "functionDeclarations":
                    continue
                if not isinstance(value, list):
                    raise _invalid(f"* GenerateContentRequest.tools[{i}].function_declarations: must be a list\n")
                for j, decl in enumerate(value):
                    where = f"* GenerateContentRequest.tools[{i}].function_declarations[{j}]"
                    if not isinstance(decl, dict):
                        raise _invalid(f"{where}: must be an object\n")
                    decl = {_camel(k): v for k, v in decl.items()}
                    name = decl.get("name")
                    if not isinstance(name, str) or not name:
                        raise _invalid(f"{where}.name: Name cannot be empty.\n")
                    params = decl.get("parametersJsonSchema") or decl.get("parameters") or {"type": "object"}
                    why = schema.problem(params)
                    if why is not None:
                        raise _invalid(f"{where}.parameters: {why}\n")
                    specs.append(plan.ToolSpec(name, params))
            self._add(tool, text.count_tokens(dumps(tool).decode()))
        return specs

    def _tool_config(self, config: Any, tools: list[plan.ToolSpec]) -> tuple[plan.ToolMode, str | None]:
        if not isinstance(config, dict):
            return "auto", None
        calling = config.get("functionCallingConfig") or config.get("function_calling_config") or {}
        if not isinstance(calling, dict):
            raise _invalid("* GenerateContentRequest.tool_config.function_calling_config: must be an object\n")
        calling = {_camel(k): v for k, v in calling.items()}
        mode = calling.get("mode", "AUTO")
        allowed = calling.get("allowedFunctionNames") or []
        if mode == "NONE":
            return "none", None
        if mode in ("ANY", "VALIDATED"):
            if len(allowed) == 1:
                return "tool", allowed[0]
            return ("required" if mode == "ANY" else "auto"), None
        if mode not in ("AUTO", "MODE_UNSPECIFIED"):
            raise _invalid(f"Invalid value at 'tool_config.function_calling_config.mode', \"{mode}\"")
        return "auto", None

    def _system(self, system: Any) -> None:
        if system is None:
            return
        if not isinstance(system, dict):
            raise _invalid("Invalid JSON payload received. Unknown name \"systemInstruction\": expected a Content object.")
        words = _parts_text(system.get("parts") or [])
        self._add(system, text.count_tokens(words))

    def _contents(self, contents: Any) -> tuple[str, str | None]:
        if not contents:
            raise _invalid("* GenerateContentRequest.contents: contents is not specified\n")
        if not isinstance(contents, list):
            raise _invalid("Invalid JSON payload received. Unknown name \"contents\": Proto field is repeating, expected a list.")
        source = ""
        tool_result: str | None = None
        calls_before = 0
        for i, content in enumerate(contents):
            if not isinstance(content, dict):
                raise _invalid(f"* GenerateContentRequest.contents[{i}]: must be an object\n")
            role = content.get("role", "user")
            if role not in ("user", "model", "function"):
                raise _invalid("Please use a valid role: user, model.")
            parts = content.get("parts")
            if not parts or not isinstance(parts, list):
                raise _invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n")
            calls = 0
            responses = []
            tokens = 0
            for part in parts:
                if not isinstance(part, dict):
                    raise _invalid(f"* GenerateContentRequest.contents[{i}].parts: must be objects\n")
                part = {_camel(k): v for k, v in part.items()}
                if "text" in part:
                    tokens += text.count_tokens(str(part["text"]))
                elif "inlineData" in part or "fileData" in part:
                    tokens += text.IMAGE_TOKENS
                elif "functionCall" in part:
                    calls += 1
                    tokens += text.count_tokens(dumps(part["functionCall"]).decode())
                elif "functionResponse" in part:
                    response = part["functionResponse"]
                    words = dumps(response.get("response", {}) if isinstance(response, dict) else response).decode()
                    responses.append(words)
                    tokens += text.count_tokens(words)
            if responses:
                if calls_before == 0:
                    raise _invalid("Please ensure that function response turn comes immediately after a function call turn.")
                if len(responses) != calls_before:
                    raise _invalid(
                        "Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn."
                    )
            self._add(content, tokens)
            self.prefixes.mark()
            calls_before = calls
            if role in ("user", "function"):
                words = _parts_text(parts)
                if words:
                    source = words
                tool_result = " ".join(responses) if responses else None
        return source, tool_result


def _parts_text(parts: Any) -> str:
    if not isinstance(parts, list):  # a malformed turn: it contributes no text
        return ""
    return "\n".join(str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p and not p.get("thought"))


def _visible(r: plan.Reply) -> int:
    return r.text_tokens + r.call_tokens


def _usage(prompt: int, cached: int, replies: list[plan.Reply], candidates: int) -> dict[str, Any]:
    thoughts = sum(r.thinking_tokens for r in replies)
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if cached:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _headers() -> Headers:
    return [("content-type", "application/json; charset=UTF-8"), ("vary", "Origin, X-Origin, Referer"), ("server", "scaffolding on HTTPServer2")]


def _sse_headers() -> Headers:
    return [("content-type", "text/event-stream"), ("vary", "Origin, X-Origin, Referer"), ("server", "scaffolding on HTTPServer2")]
