"""Google Gemini API wire format (``generativelanguage.googleapis.com``, ``v1beta``).

Endpoints, relative to the target's base URL::

    POST /v1beta/models/{model}:generateContent
    POST /v1beta/models/{model}:streamGenerateContent?alt=sse
    POST /v1beta/models/{model}:batchEmbedContents

Auth is the ``x-goog-api-key`` header, already in ``target.headers``.

Where the canonical model and Gemini differ, and what we do about it:

- ``system``/``developer`` messages become ``systemInstruction`` (Gemini has one, so
  they are hoisted in order). Roles: assistant -> ``model``; user and tool -> ``user``.
  Consecutive contents of one role are merged, so a run of tool messages becomes one
  user content of ``functionResponse`` parts, as the function-calling guide shows.
- Tool call ids: ``generateContent`` normally returns ``functionCall`` without an id.
  We then synthesise ``call_<responseId>_<n>`` so OpenAI/Anthropic clients get one.
  Ids starting with ``call_`` are never sent upstream (they are ours, or OpenAI's);
  an id Gemini itself returned goes back verbatim in ``functionCall.id`` and
  ``functionResponse.id``. ``functionResponse.name`` is ``ToolResultPart.name`` or the
  name of the earlier call with that id.
- ``functionResponse.response`` is ``{"output": text}`` or ``{"error": text}`` when the
  tool failed: the reference says to use those keys. Images in a tool result follow
  the ``functionResponse`` as ``inlineData`` parts of the same user content.
- Images: base64 ``data`` / ``data:`` URLs -> ``inlineData {mimeType, data}``; any
  ``http(s)`` URL -> ``fileData {fileUri, mimeType?}`` (Files API URIs and, on models
  that fetch them, public URLs; the MIME type comes from the part or the URL's
  extension).
- Reasoning -> ``generationConfig.thinkingConfig {thinkingBudget, includeThoughts}``;
  an effort becomes a budget (``EFFORT_BUDGET``); a budget of 0 turns thinking off.
  Thought parts (``thought: true``) come back as ThinkingPart / ReasoningDelta.
- Thought signatures (opaque, must be returned in the exact part they came on; on
  Gemini 3 the first ``functionCall`` of each step must carry one or the request is
  rejected). A signature on a ``functionCall`` or text part is carried as an *empty*
  ThinkingPart (stream: ``ReasoningDelta(signature=...)``) placed right before that
  part; a signature on a thought part stays on that ThinkingPart. Signatures are
  tagged ``gemini:`` on the way in and untagged on the way out (core.signatures). On
  the way back an empty Gemini-signed ThinkingPart attaches its signature to the next
  part. Thought text that is unsigned or signed by another vendor, and redacted
  thinking, are not sent back (Gemini reads nothing from them).
  When the first ``functionCall`` of a model turn has no signature (the client lost
  it, e.g. OpenAI clients, or the history came from another model) we send Google's
  documented placeholder ``skip_thought_signature_validator``.
- Streams: SSE ``data: {GenerateContentResponse}`` chunks, no terminator. The stream
  is complete once every candidate seen carried a ``finishReason``; the body ending
  before that is an UpstreamProtocolError. Each ``functionCall`` arrives whole, so it
  becomes one ToolCallDelta with the full arguments text.
- Usage: ``promptTokenCount`` (+ ``toolUsePromptTokenCount``) -> input, it already
  includes ``cachedContentTokenCount`` -> cached; ``candidatesTokenCount`` +
  ``thoughtsTokenCount`` -> output; ``thoughtsTokenCount`` -> reasoning.
- Errors: ``{"error": {code, message, status, details}}``. There is no structured
  signal for "context too long" (it is a plain 400 INVALID_ARGUMENT), so it stays an
  UpstreamRejected(400). A bad key is a 400 with ErrorInfo reason ``API_KEY_INVALID``:
  like 401/403 it becomes a 502 ``upstream_auth_failed`` (the gateway's credential,
  not the client's request, is wrong).
- Not supported: ``parallel_tool_calls`` (no switch), ``user``; ``Tool.strict`` and
  Anthropic ``cache_control`` hints have no Gemini equivalent and are not sent.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from typing import Any, Mapping

import msgspec

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.core.signatures import tag, untag
from switchgear.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingsRequest,
    EmbeddingsResponse,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    Part,
    ReasoningDelta,
    RedactedThinkingPart,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageEvent,
)
from switchgear.providers.formats.context_window import is_context_window_message
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.transport.sse import SSEDecoder

name = "gemini"

SUPPORTED: frozenset[str] = frozenset(
    {
        "include_usage",  # usageMetadata is always sent
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning",
    }
)

# OpenAI-style effort -> thinking token budget (the anthropic_messages table; fits
# every Gemini 2.5 range).
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}

# Google's documented placeholder for function calls whose signature is unknown.
DUMMY_THOUGHT_SIGNATURE = "skip_thought_signature_validator"

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}  # anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL ...) -> "stop"

_TOOL_MODE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
_JSON = "application/json"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


# ---- wire shapes we read (unknown fields are ignored) ------------------------------------


class _Blob(msgspec.Struct, rename="camel"):
    mime_type: str = ""
    data: str = ""


class _FunctionCall(msgspec.Struct, rename="camel"):
    name: str = ""
    args: msgspec.Raw = msgspec.Raw(b"{}")
    id: str | None = None


class _Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool = False
    thought_signature: str | None = None
    function_call: _FunctionCall | None = None
    inline_data: _Blob | None = None


class _Content(msgspec.Struct, rename="camel"):
    parts: list[_Part] = []


class _LogprobCandidate(msgspec.Struct, rename="camel"):
    token: str = ""
    log_probability: float = 0.0


class _TopCandidates(msgspec.Struct, rename="camel"):
    candidates: list[_LogprobCandidate] = []


class _LogprobsResult(msgspec.Struct, rename="camel"):
    top_candidates: list[_TopCandidates] = []
    chosen_candidates: list[_LogprobCandidate] = []


class _Candidate(msgspec.Struct, rename="camel"):
    content: _Content | None = None
    finish_reason: str | None = None
    index: int = 0
    logprobs_result: _LogprobsResult | None = None


class _UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    thoughts_token_count: int = 0


class _PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class _Status(msgspec.Struct):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[dict[str, Any]] = []


class _Response(msgspec.Struct, rename="camel"):
    candidates: list[_Candidate] = []
    prompt_feedback: _PromptFeedback | None = None
    usage_metadata: _UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: _Status | None = None  # a mid-stream failure arrives as a chunk


class _ErrorBody(msgspec.Struct):
    error: _Status | None = None


class _Embedding(msgspec.Struct):
    values: list[float] = []


class _EmbeddingsBody(msgspec.Struct, rename="camel"):
    embeddings: list[_Embedding] = []
    usage_metadata: _UsageMetadata | None = None


_decode_response = msgspec.json.Decoder(_Response).decode
_decode_error = msgspec.json.Decoder(_ErrorBody).decode
_decode_error_list = msgspec.json.Decoder(list[_ErrorBody]).decode
_decode_embeddings = msgspec.json.Decoder(_EmbeddingsBody).decode
_encode = msgspec.json.Encoder().encode


# ---- request -----------------------------------------------------------------------------


def _model_path(target: Target, method: str) -> str:
    model = target.model[7:] if target.model.startswith("models/") else target.model
    version = target.options.get("api_version", "v1beta")
    return f"/{version}/models/{model}:{method}"


def _headers(target: Target) -> list[tuple[str, str]]:
    return [("content-type", _JSON), *target.headers]


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, SUPPORTED, target)
    system, contents = _contents(req.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = _generation_config(req, dropped)
    if config:
        body["generationConfig"] = config
    if req.tools and "tools" not in dropped:
        body["tools"] = [{"functionDeclarations": [_function_declaration(t) for t in req.tools]}]
    if req.tool_choice is not None and "tool_choice" not in dropped:
        fcc: dict[str, Any] = {"mode": _TOOL_MODE[req.tool_choice.mode]}
        if req.tool_choice.mode == "tool" and req.tool_choice.name:
            fcc["allowedFunctionNames"] = [req.tool_choice.name]
        body["toolConfig"] = {"functionCallingConfig": fcc}
    if extra:
        _merge(body, extra)
    if req.stream:
        path = _model_path(target, "streamGenerateContent") + "?alt=sse"
    else:
        path = _model_path(target, "generateContent")
    return UpstreamRequest("POST", path, _headers(target), _encode(body), stream=req.stream)


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    # Client fields passed through verbatim; one level deep so an extra
    # ``generationConfig`` adds to ours instead of replacing it.
    for key, value in extra.items():
        mine = body.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            mine.update(value)
        else:
            body[key] = value


def _generation_config(req: ChatRequest, dropped: set[str]) -> dict[str, Any]:
    cfg: dict[str, Any] = {}

    def put(field: str, key: str, value: Any) -> None:
        if value is not None and field not in dropped:
            cfg[key] = value

    put("max_tokens", "maxOutputTokens", req.max_tokens)
    put("temperature", "temperature", req.temperature)
    put("top_p", "topP", req.top_p)
    put("top_k", "topK", req.top_k)
    put("stop", "stopSequences", req.stop)
    put("seed", "seed", req.seed)
    put("n", "candidateCount", req.n)
    put("presence_penalty", "presencePenalty", req.presence_penalty)
    put("frequency_penalty", "frequencyPenalty", req.frequency_penalty)
    put("logprobs", "responseLogprobs", req.logprobs)
    put("top_logprobs", "logprobs", req.top_logprobs)
    rf = req.response_format
    if rf is not None and "response_format" not in dropped and rf.type != "text":
        cfg["responseMimeType"] = _JSON
        if rf.type == "json_schema":
            if rf.schema is None:
                raise InvalidRequest("response_format json_schema needs a schema", param="response_format")
            # responseJsonSchema takes JSON Schema as is (responseSchema is an OpenAPI subset).
            cfg["responseJsonSchema"] = rf.schema
    r = req.reasoning
    if r is not None and "reasoning" not in dropped:
        budget = r.budget_tokens if r.budget_tokens is not None else EFFORT_BUDGET.get(r.effort or "")
        if budget is not None:
            cfg["thinkingConfig"] = (
                {"thinkingBudget": budget, "includeThoughts": True} if budget != 0 else {"thinkingBudget": 0}
            )
    return cfg


def _function_declaration(tool: Any) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    if tool.parameters:
        # parametersJsonSchema accepts full JSON Schema (``parameters`` is an OpenAPI subset
        # that rejects e.g. additionalProperties and $ref).
        decl["parametersJsonSchema"] = tool.parameters
    return decl


def _contents(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    call_names: dict[str, str] = {}
    for m in messages:
        if m.role == "assistant":
            for p in m.parts:
                if type(p) is ToolCallPart:
                    call_names[p.id] = p.name
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for m in messages:
        role = m.role
        if role == "system" or role == "developer":
            for p in m.parts:
                if type(p) is not TextPart:
                    raise InvalidRequest("system messages may only contain text", param="messages")
                if p.text:
                    system.append({"text": p.text})
            continue
        if role == "assistant":
            parts = _model_parts(m.parts)
            wire_role = "model"
        else:
            parts = _user_parts(m.parts, call_names)
            wire_role = "user"
        if not parts:
            continue  # Gemini rejects a content without parts
        if contents and contents[-1]["role"] == wire_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": wire_role, "parts": parts})
    return system, contents


def _user_parts(parts: list[Part], call_names: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            if p.text:
                out.append({"text": p.text})
        elif isinstance(p, ImagePart):
            out.append(_image(p))
        elif isinstance(p, ToolResultPart):
            _tool_result(p, call_names, out)
        else:
            raise InvalidRequest(f"a {type(p).__name__} cannot appear in a user or tool message", param="messages")
    return out


def _tool_result(p: ToolResultPart, call_names: dict[str, str], out: list[dict[str, Any]]) -> None:
    fname = p.name or call_names.get(p.tool_call_id)
    if not fname:
        raise InvalidRequest(
            f"tool result '{p.tool_call_id}' answers no earlier tool call; Gemini needs the function name",
            param="messages",
        )
    text = "".join(c.text for c in p.content if type(c) is TextPart)
    fr: dict[str, Any] = {"name": fname, "response": {"error" if p.is_error else "output": text}}
    if not p.tool_call_id.startswith("call_"):
        fr["id"] = p.tool_call_id
    out.append({"functionResponse": fr})
    for c in p.content:
        if type(c) is ImagePart:
            out.append(_image(c))


def _model_parts(parts: list[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pending: str | None = None  # a signature waiting for the part it belongs to
    first_call: dict[str, Any] | None = None
    for p in parts:
        if isinstance(p, ThinkingPart):
            signature = untag(name, p.signature)  # another vendor's signature counts as none
            if p.text and signature:
                out.append({"text": p.text, "thought": True, "thoughtSignature": signature})
            elif not p.text and signature:
                if pending:
                    out.append({"text": "", "thoughtSignature": pending})
                pending = signature
            continue  # unsigned thought text: Gemini reads nothing from it
        if isinstance(p, RedactedThinkingPart):
            continue
        if isinstance(p, TextPart):
            if not p.text and not pending:
                continue
            d: dict[str, Any] = {"text": p.text}
        elif isinstance(p, ToolCallPart):
            fc: dict[str, Any] = {"name": p.name, "args": _args(p.arguments)}
            if not p.id.startswith("call_"):
                fc["id"] = p.id
            d = {"functionCall": fc}
            if first_call is None:
                first_call = d
        elif isinstance(p, ImagePart):
            d = _image(p)
        else:
            raise InvalidRequest(f"a {type(p).__name__} cannot appear in an assistant message", param="messages")
        if pending:
            d["thoughtSignature"] = pending
            pending = None
        out.append(d)
    if pending:
        out.append({"text": "", "thoughtSignature": pending})
    if first_call is not None and "thoughtSignature" not in first_call:
        first_call["thoughtSignature"] = DUMMY_THOUGHT_SIGNATURE
    return out


def _args(arguments: str) -> Any:
    if not arguments.strip():
        return {}
    try:
        return msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        raise InvalidRequest("tool call arguments are not valid JSON", param="messages") from None


def _image(p: ImagePart) -> dict[str, Any]:
    if p.data is not None:
        return {"inlineData": {"mimeType": p.media_type or "image/png", "data": p.data}}
    url = p.url or ""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise InvalidRequest("image data URLs must be base64", param="messages")
        return {"inlineData": {"mimeType": mime or "image/png", "data": data}}
    if url.startswith(("https://", "http://")):
        fd: dict[str, Any] = {"fileUri": url}
        mime = p.media_type or mimetypes.guess_type(url.split("?", 1)[0])[0]
        if mime:
            fd["mimeType"] = mime
        return {"fileData": fd}
    raise UnsupportedParameter("image URLs must be data: or http(s) URLs for Gemini", param="messages")


# ---- response ----------------------------------------------------------------------------


def _usage(u: _UsageMetadata) -> Usage:
    return Usage(
        input_tokens=u.prompt_token_count + u.tool_use_prompt_token_count,
        output_tokens=u.candidates_token_count + u.thoughts_token_count,
        cached_input_tokens=u.cached_content_token_count,
        reasoning_tokens=u.thoughts_token_count,
    )


def _call_id(response_id: str, choice: int, n: int) -> str:
    rid = _ID_UNSAFE.sub("", response_id)
    return f"call_{rid}_{n}" if choice == 0 else f"call_{rid}_{choice}_{n}"


def _compact(raw: msgspec.Raw) -> str:
    text = msgspec.json.format(bytes(raw), indent=-1).decode()
    return "{}" if text == "null" else text


def _logprobs(lr: _LogprobsResult | None) -> Any:
    """Gemini logprobsResult -> OpenAI ``{"content": [...]}`` (what Choice.logprobs holds)."""
    if lr is None or not lr.chosen_candidates:
        return None
    content = []
    for i, c in enumerate(lr.chosen_candidates):
        top = lr.top_candidates[i].candidates if i < len(lr.top_candidates) else []
        content.append(
            {
                "token": c.token,
                "logprob": c.log_probability,
                "bytes": list(c.token.encode()),
                "top_logprobs": [
                    {"token": t.token, "logprob": t.log_probability, "bytes": list(t.token.encode())} for t in top
                ],
            }
        )
    return {"content": content}


def _finish(raw: str, had_calls: bool) -> FinishReason:
    reason = _FINISH.get(raw, "stop")
    return "tool_calls" if reason == "stop" and had_calls else reason


def _decode(body: bytes) -> _Response:
    try:
        return _decode_response(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UpstreamProtocolError(f"unreadable Gemini response: {e}") from None


def parse_response(body: bytes, target: Target) -> ChatResponse:
    resp = _decode(body)
    if resp.error is not None:
        raise _status_error(resp.error.code, resp.error, {})
    if not resp.candidates and resp.prompt_feedback and resp.prompt_feedback.block_reason:
        raise _blocked(resp.prompt_feedback.block_reason)
    rid = resp.response_id or ""
    choices = []
    for cand in resp.candidates:
        parts: list[Part] = []
        n_calls = 0
        for gp in cand.content.parts if cand.content else ():
            sig = tag(name, gp.thought_signature) if gp.thought_signature else None
            if gp.thought:
                parts.append(ThinkingPart(text=gp.text or "", signature=sig))
                continue
            if sig:
                parts.append(ThinkingPart(text="", signature=sig))
            if gp.function_call is not None:
                fc = gp.function_call
                parts.append(ToolCallPart(fc.id or _call_id(rid, cand.index, n_calls), fc.name, _compact(fc.args)))
                n_calls += 1
            elif gp.inline_data is not None:
                parts.append(ImagePart(data=gp.inline_data.data, media_type=gp.inline_data.mime_type))
            elif gp.text:
                last = parts[-1] if parts else None
                if isinstance(last, TextPart):
                    parts[-1] = TextPart(last.text + gp.text)  # one answer, one text block
                else:
                    parts.append(TextPart(gp.text))
        reason = _finish(cand.finish_reason, n_calls > 0) if cand.finish_reason else None
        choices.append(
            Choice(
                index=cand.index,
                message=Message(role="assistant", parts=parts),
                finish_reason=reason,
                logprobs=_logprobs(cand.logprobs_result),
            )
        )
    return ChatResponse(
        id=rid or f"gemini-{uuid.uuid4().hex}",
        model=resp.model_version or target.model,
        choices=choices,
        usage=_usage(resp.usage_metadata) if resp.usage_metadata else None,
    )


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """Usage of an already-decoded generateContent body or stream chunk, if it has one."""
    u = obj.get("usageMetadata")
    if type(u) is not dict:
        return None
    try:
        return _usage(msgspec.convert(u, _UsageMetadata))
    except msgspec.ValidationError:
        return None


def _blocked(reason: str) -> ContentFiltered:
    return ContentFiltered(f"the provider's safety system blocked the prompt ({reason})")


class StreamParser:
    """``streamGenerateContent?alt=sse`` bytes in, canonical events out."""

    __slots__ = (
        "_sse",
        "_model",
        "_id",
        "_started",
        "_seen",
        "_finished",
        "_calls",
        "_usage",
        "_usage_sent",
        "_failed",
    )

    def __init__(self, target: Target) -> None:
        self._sse = SSEDecoder()
        self._model = target.model
        self._id = ""
        self._started = False
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._calls: dict[int, int] = {}  # choice -> function calls so far
        self._usage: Usage | None = None
        self._usage_sent = False
        self._failed = False

    @property
    def _complete(self) -> bool:
        return bool(self._finished) and self._seen <= self._finished

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for ev in self._sse.feed(data):
            if self._failed:
                break
            if ev.data:
                self._chunk(ev.data, out)
        return out

    def close(self) -> list[StreamEvent]:
        if self._failed:
            return []
        out: list[StreamEvent] = []
        if self._usage is not None and not self._usage_sent:
            out.append(UsageEvent(self._usage))
            self._usage_sent = True
        if not self._complete:
            self._failed = True
            out.append(StreamError(UpstreamProtocolError("Gemini stream ended before a finishReason")))
        return out

    def _fail(self, err: GatewayError, out: list[StreamEvent]) -> None:
        self._failed = True
        out.append(StreamError(err))

    def _chunk(self, data: str, out: list[StreamEvent]) -> None:
        try:
            resp = _decode_response(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return self._fail(UpstreamProtocolError(f"unreadable Gemini stream chunk: {e}"), out)
        if resp.error is not None:
            return self._fail(_status_error(resp.error.code, resp.error, {}), out)
        if not self._started:
            self._started = True
            self._id = resp.response_id or f"gemini-{uuid.uuid4().hex}"
            out.append(StreamStart(id=self._id, model=resp.model_version or self._model))
        if resp.prompt_feedback and resp.prompt_feedback.block_reason and not resp.candidates:
            return self._fail(_blocked(resp.prompt_feedback.block_reason), out)
        for cand in resp.candidates:
            self._candidate(cand, out)
        if resp.usage_metadata is not None:
            self._usage = _usage(resp.usage_metadata)
        if self._complete and self._usage is not None and not self._usage_sent:
            out.append(UsageEvent(self._usage))
            self._usage_sent = True

    def _candidate(self, cand: _Candidate, out: list[StreamEvent]) -> None:
        ch = cand.index
        self._seen.add(ch)
        logprobs = _logprobs(cand.logprobs_result)
        for gp in cand.content.parts if cand.content else ():
            sig = tag(name, gp.thought_signature) if gp.thought_signature else None
            if gp.thought:
                if gp.text:
                    out.append(ReasoningDelta(text=gp.text, choice=ch))
                if sig:
                    out.append(ReasoningDelta(signature=sig, choice=ch))
                continue
            if sig:
                out.append(ReasoningDelta(signature=sig, choice=ch))
            fc = gp.function_call
            if fc is not None:
                n = self._calls.get(ch, 0)
                self._calls[ch] = n + 1
                call_id = fc.id or _call_id(self._id, ch, n)
                out.append(ToolCallDelta(index=n, id=call_id, name=fc.name, arguments=_compact(fc.args), choice=ch))
            elif gp.text:
                out.append(TextDelta(text=gp.text, choice=ch, logprobs=logprobs))
                logprobs = None  # a chunk's logprobs go on its first text delta
        if cand.finish_reason and ch not in self._finished:
            self._finished.add(ch)
            out.append(Finish(reason=_finish(cand.finish_reason, self._calls.get(ch, 0) > 0), choice=ch))


# ---- errors ------------------------------------------------------------------------------


def _retry_delay(details: list[dict[str, Any]], headers: Mapping[str, str]) -> float | None:
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = d.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    pass
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _error_reason(details: list[dict[str, Any]]) -> str:
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return str(d.get("reason", ""))
    return ""


def _auth_failed(status: int, rpc_status: str) -> UpstreamError:
    return UpstreamError(
        f"Gemini rejected the gateway's credentials ({status} {rpc_status})".rstrip(),
        status=502,
        code="upstream_auth_failed",
    )


def _status_error(status: int, st: _Status, headers: Mapping[str, str]) -> GatewayError:
    rpc = st.status
    msg = st.message or f"Gemini returned HTTP {status}"
    reason = _error_reason(st.details)
    if status in (401, 403) or rpc in ("UNAUTHENTICATED", "PERMISSION_DENIED") or reason.startswith("API_KEY_"):
        return _auth_failed(status, rpc)
    if status == 429 or rpc == "RESOURCE_EXHAUSTED":
        return UpstreamRateLimited(msg, retry_after=_retry_delay(st.details, headers))
    if status == 503 or rpc == "UNAVAILABLE":
        return UpstreamOverloaded(msg, retry_after=_retry_delay(st.details, headers))
    if status == 504 or rpc == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(msg)
    if status >= 500 or rpc == "INTERNAL":
        return UpstreamServerError(msg)
    if status == 404 or rpc == "NOT_FOUND":
        return UpstreamRejected(msg, status=404)
    if rpc == "INVALID_ARGUMENT" and is_context_window_message(msg):
        return ContextWindowExceeded(msg)
    if 400 <= status < 500 or rpc in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return UpstreamRejected(msg, status=status if 400 <= status < 500 else 400)
    return UpstreamServerError(msg)  # no usable status (e.g. a mid-stream error without code)


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    st: _Status | None = None
    try:
        st = _decode_error(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        try:  # streaming endpoints may wrap the error in a JSON array
            items = _decode_error_list(body)
            st = items[0].error if items else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            st = None
    return _status_error(status, st or _Status(code=status), headers)


# ---- embeddings --------------------------------------------------------------------------


def build_embeddings_request(req: EmbeddingsRequest, target: Target) -> UpstreamRequest:
    if req.input and not isinstance(req.input[0], str):
        raise UnsupportedParameter("Gemini embeddings take text, not token ids", param="input")
    if req.user is not None and target.unsupported_params == "reject":
        raise UnsupportedParameter(
            f"parameter 'user' is not supported by provider '{target.provider}' ({target.vendor}, gemini format)",
            param="user",
        )
    if req.extra and target.extra_params == "reject":
        key = next(iter(req.extra))
        raise UnsupportedParameter(
            f"unknown parameter '{key}' is not accepted for provider '{target.provider}' ({target.vendor})",
            param=key,
        )
    model = target.model[7:] if target.model.startswith("models/") else target.model
    base: dict[str, Any] = {"model": f"models/{model}"}
    if req.dimensions is not None:
        base["outputDimensionality"] = req.dimensions
    if req.extra and target.extra_params == "pass":
        base.update(req.extra)  # e.g. taskType, title: per EmbedContentRequest
    requests = [{**base, "content": {"parts": [{"text": text}]}} for text in req.input]
    body = _encode({"requests": requests})
    return UpstreamRequest("POST", _model_path(target, "batchEmbedContents"), _headers(target), body)


def parse_embeddings_response(body: bytes, target: Target) -> EmbeddingsResponse:
    try:
        resp = _decode_embeddings(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UpstreamProtocolError(f"unreadable Gemini embeddings response: {e}") from None
    usage = None
    if resp.usage_metadata is not None:
        usage = Usage(input_tokens=resp.usage_metadata.prompt_token_count)
    return EmbeddingsResponse(model=target.model, data=[e.values for e in resp.embeddings], usage=usage)
