"""Canonical ChatRequest -> a ``generateContent`` / ``streamGenerateContent`` request."""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

from switchgear.core.errors import InvalidRequest
from switchgear.core.types import ChatRequest
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.providers.formats.gemini.contents import contents
from switchgear.providers.formats.reasoning import requested_budget

# An allow-list on purpose (not OPTIONAL_PARAMS minus a few): a canonical parameter
# added later stays unsupported here until Gemini's mapping for it is written.
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

_TOOL_MODE = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
_JSON = "application/json"
encode = msgspec.json.Encoder().encode


def bare_model(target: Target) -> str:
    """The model id without the ``models/`` prefix Gemini's resource names carry."""
    return target.model[7:] if target.model.startswith("models/") else target.model


def model_path(target: Target, method: str) -> str:
    version = target.options.get("api_version", "v1beta")
    return f"/{version}/models/{bare_model(target)}:{method}"


def headers(target: Target) -> list[tuple[str, str]]:
    return [("content-type", _JSON), *target.headers]


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, SUPPORTED, target)
    system, messages = contents(req.messages)
    body: dict[str, Any] = {"contents": messages}
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
        path = model_path(target, "streamGenerateContent") + "?alt=sse"
    else:
        path = model_path(target, "generateContent")
    return UpstreamRequest("POST", path, headers(target), encode(body), stream=req.stream)


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
        budget = requested_budget(r)
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
