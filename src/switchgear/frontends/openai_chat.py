"""OpenAI Chat Completions, client side: an OpenAI SDK client -> Switchgear -> back.

- ``parse_body`` is on every request's path (pass-through included): one JSON decode and
  ``isinstance``-class checks of the top-level fields we understand, errors naming the
  parameter OpenAI-style (``param``: ``"messages[2].content"``, ``"temperature"``).
- ``to_canonical`` runs only when the upstream speaks another dialect; it expects a body
  that ``parse_body`` accepted and validates everything nested, precisely.
- ``render_response`` / ``StreamRenderer`` / ``render_error`` write OpenAI shapes that
  validate against the published OpenAPI schemas.

Mapping notes (OpenAI -> canonical):
- ``max_completion_tokens`` and ``max_tokens`` both become ``max_tokens`` (the former wins).
- ``reasoning_effort``: ``minimal|low|medium|high`` -> ``Reasoning(effort)``; ``none`` ->
  ``Reasoning(budget_tokens=0)`` (no reasoning); ``xhigh`` -> ``high`` (canonical has no
  higher bucket: a documented loss).
- Legacy ``functions`` / ``function_call`` become ``tools`` / ``tool_choice``; legacy
  assistant ``function_call`` and ``function`` role messages become tool calls / results
  with synthesised ids (``call_fn_<message index>``). Responses always use ``tool_calls``.
- Assistant ``refusal`` (field or content part) becomes text; an assistant ``content`` of
  ``""`` (what many SDKs send beside tool calls) becomes no text part at all.
- A tool result's ``ToolResultPart.name`` is filled in from the assistant tool call with
  the same id (Gemini needs the function name).
- ``image_url`` data URLs (``data:<type>;base64,…``) become inline ``ImagePart(data,
  media_type)``; other URLs stay URLs.
- ``stream_options.include_obfuscation`` concerns only our own framing; we never add
  obfuscation, so it is honoured by construction.
- Unknown top-level fields with non-null values go to ``extra`` (the vendor's policy decides);
  a ``null`` value means "default" in OpenAI's API and is omitted.

Mapping notes (canonical -> OpenAI):
- Thinking is rendered as ``reasoning_content`` (message and delta), the non-standard
  field DeepSeek, vLLM and others use; it appears only when there is thinking. Signatures
  and redacted thinking have no OpenAI field and are dropped.
- ``stop_sequence`` and ``pause`` finish reasons become ``stop`` (the matched sequence is lost).
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

from switchgear.core.errors import GatewayError, InvalidRequest, ModelNotFound, UnsupportedParameter
from switchgear.core.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    ResponseFormat,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallDelta,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageEvent,
)

_decode = msgspec.json.decode
_encode = msgspec.json.encode

# ---- parse_body: cheap top-level checks ------------------------------------------------

_JSON_TYPE = {str: "a string", int: "an integer", float: "a decimal", bool: "a boolean", list: "an array", dict: "an object"}


def _type_name(value: Any) -> str:
    return _JSON_TYPE.get(type(value), "null" if value is None else type(value).__name__)


def _bad_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.", param=param
    )


def _bad_value(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {why}", param=param)


def _check_bool(v: Any, p: str) -> None:
    if type(v) is not bool:
        raise _bad_type(p, "a boolean", v)


def _check_str(v: Any, p: str) -> None:
    if type(v) is not str:
        raise _bad_type(p, "a string", v)


def _check_int(v: Any, p: str) -> None:
    if type(v) is not int:
        raise _bad_type(p, "an integer", v)


def _check_positive_int(v: Any, p: str) -> None:
    if type(v) is not int:
        raise _bad_type(p, "an integer", v)
    if v < 1:
        raise _bad_value(p, f"expected a value >= 1, but got {v} instead.")


def _number_in(lo: float, hi: float):
    def check(v: Any, p: str) -> None:
        if type(v) is not float and type(v) is not int:
            raise _bad_type(p, "a decimal", v)
        if not lo <= v <= hi:
            raise _bad_value(p, f"expected a number between {lo:g} and {hi:g}, but got {v} instead.")

    return check


def _check_top_logprobs(v: Any, p: str) -> None:
    _check_int(v, p)
    if not 0 <= v <= 20:
        raise _bad_value(p, f"expected an integer between 0 and 20, but got {v} instead.")


def _check_model(v: Any, p: str) -> None:
    if type(v) is not str:
        raise _bad_type(p, "a string", v)
    if not v:
        raise _bad_value(p, "the model name must not be empty.")


def _check_stop(v: Any, p: str) -> None:
    if type(v) is str:
        return
    if type(v) is not list:
        raise _bad_type(p, "a string or an array of strings", v)
    if len(v) > 4:
        raise _bad_value(p, f"at most 4 stop sequences are allowed, but got {len(v)}.")
    for i, s in enumerate(v):
        if type(s) is not str:
            raise _bad_type(f"{p}[{i}]", "a string", s)


def _check_list(v: Any, p: str) -> None:
    if type(v) is not list:
        raise _bad_type(p, "an array", v)


def _check_dict(v: Any, p: str) -> None:
    if type(v) is not dict:
        raise _bad_type(p, "an object", v)


def _check_str_or_dict(v: Any, p: str) -> None:
    if type(v) is not str and type(v) is not dict:
        raise _bad_type(p, "a string or an object", v)


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def _check_reasoning_effort(v: Any, p: str) -> None:
    if type(v) is not str:
        raise _bad_type(p, "a string", v)
    if v not in _EFFORTS:
        raise _bad_value(p, f"'{v}' is not one of {sorted(_EFFORTS)}.")


def _check_messages(v: Any, p: str) -> None:
    if type(v) is not list:
        raise _bad_type(p, "an array", v)
    if not v:
        raise _bad_value(p, "expected an array with minimum length 1, but got an empty array instead.")
    for i, m in enumerate(v):
        if type(m) is not dict:
            raise _bad_type(f"messages[{i}]", "an object", m)
        role = m.get("role")
        if type(role) is not str:
            if role is None:
                raise InvalidRequest(f"Missing required parameter: 'messages[{i}].role'.", param=f"messages[{i}].role")
            raise _bad_type(f"messages[{i}].role", "a string", role)
        if role not in _ROLES:
            raise _bad_value(f"messages[{i}].role", f"'{role}' is not one of {sorted(_ROLES - {'function'})}.")
        content = m.get("content")
        if content is not None and type(content) is not str and type(content) is not list:
            raise _bad_type(f"messages[{i}].content", "a string or an array of content parts", content)


_CHECKS = {
    "model": _check_model,
    "messages": _check_messages,
    "stream": _check_bool,
    "stream_options": _check_dict,
    "max_tokens": _check_positive_int,
    "max_completion_tokens": _check_positive_int,
    "temperature": _number_in(0, 2),
    "top_p": _number_in(0, 1),
    "top_k": _check_int,
    "presence_penalty": _number_in(-2, 2),
    "frequency_penalty": _number_in(-2, 2),
    "n": _check_positive_int,
    "stop": _check_stop,
    "seed": _check_int,
    "logprobs": _check_bool,
    "top_logprobs": _check_top_logprobs,
    "tools": _check_list,
    "tool_choice": _check_str_or_dict,
    "parallel_tool_calls": _check_bool,
    "response_format": _check_dict,
    "reasoning_effort": _check_reasoning_effort,
    "user": _check_str,
    "functions": _check_list,
    "function_call": _check_str_or_dict,
}


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode and cheaply check a Chat Completions request body (hot path: no object model)."""
    if not body:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        raw = _decode(body)
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.") from None
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None
    if type(raw) is not dict:
        raise InvalidRequest(f"The request body must be a JSON object, but got {_type_name(raw)} instead.")
    for key in ("model", "messages"):
        if raw.get(key) is None:
            raise InvalidRequest(f"Missing required parameter: '{key}'.", param=key)
    for key, value in raw.items():
        check = _CHECKS.get(key)
        if check is not None and value is not None:
            check(value, key)
    return raw


# ---- to_canonical: full conversion -----------------------------------------------------

# Top-level fields with a canonical home; everything else (non-null) goes to ``extra``.
_MAPPED = frozenset(_CHECKS)


def to_canonical(raw: dict[str, Any]) -> ChatRequest:
    """A body ``parse_body`` accepted -> ``ChatRequest``; nested errors name their path."""
    messages = _messages(raw["messages"])
    req = ChatRequest(model=raw["model"], messages=messages)
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
    tools = g("tools")
    functions = g("functions")
    if tools is not None or functions is not None:
        req.tools = _tools(tools or [], functions or [])
    tool_choice = g("tool_choice")
    if tool_choice is not None:
        req.tool_choice = _tool_choice(tool_choice)
    elif g("function_call") is not None:
        req.tool_choice = _function_call_choice(g("function_call"))
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


def _require_str(obj: dict[str, Any], key: str, path: str) -> str:
    v = obj.get(key)
    if type(v) is str:
        return v
    if v is None:
        raise InvalidRequest(f"Missing required parameter: '{path}.{key}'.", param=f"{path}.{key}")
    raise _bad_type(f"{path}.{key}", "a string", v)


def _optional_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    v = obj.get(key)
    if v is None or type(v) is str:
        return v
    raise _bad_type(f"{path}.{key}", "a string", v)


def _parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` -> (media type, data); else None."""
    if not url.startswith("data:"):
        return None
    comma = url.find(",")
    if comma < 0:
        return None
    meta = url[5:comma]
    if not meta.endswith(";base64"):
        return None
    return meta[:-7] or "application/octet-stream", url[comma + 1 :]


def _image_part(item: dict[str, Any], path: str) -> ImagePart:
    img = item.get("image_url")
    if type(img) is str:  # early vision previews accepted a bare URL string
        img = {"url": img}
    if type(img) is not dict:
        if img is None:
            raise InvalidRequest(f"Missing required parameter: '{path}.image_url'.", param=f"{path}.image_url")
        raise _bad_type(f"{path}.image_url", "an object", img)
    url = _require_str(img, "url", f"{path}.image_url")
    detail = _optional_str(img, "detail", f"{path}.image_url")
    if detail is not None and detail not in ("auto", "low", "high"):
        raise _bad_value(f"{path}.image_url.detail", f"'{detail}' is not one of ['auto', 'high', 'low'].")
    parsed = _parse_data_url(url)
    if parsed is not None:
        return ImagePart(data=parsed[1], media_type=parsed[0], detail=detail)
    return ImagePart(url=url, detail=detail)


def _parts(content: Any, path: str, allowed: frozenset[str]) -> list[Part]:
    """Message content (string or array of parts) -> canonical parts."""
    if type(content) is str:
        return [TextPart(content)]
    if type(content) is not list:
        raise _bad_type(path, "a string or an array of content parts", content)
    out: list[Part] = []
    for j, item in enumerate(content):
        p = f"{path}[{j}]"
        if type(item) is not dict:
            raise _bad_type(p, "an object", item)
        kind = item.get("type")
        if kind not in allowed:
            if kind in ("input_audio", "file"):
                raise UnsupportedParameter(
                    f"Content parts of type '{kind}' are not supported by this gateway.", param=f"{p}.type"
                )
            if type(kind) is not str:
                raise _bad_type(f"{p}.type", "a string", kind)
            raise _bad_value(f"{p}.type", f"'{kind}' is not one of {sorted(allowed)}.")
        if kind == "text":
            out.append(TextPart(_require_str(item, "text", p)))
        elif kind == "refusal":
            out.append(TextPart(_require_str(item, "refusal", p)))
        else:
            out.append(_image_part(item, p))
    return out


_TEXT_ONLY = frozenset({"text"})
_USER_PARTS = frozenset({"text", "image_url"})
_ASSISTANT_PARTS = frozenset({"text", "refusal"})


def _messages(raw: list[Any]) -> list[Message]:
    out: list[Message] = []
    legacy_ids: dict[str, str] = {}  # function name -> synthesised id of its last legacy call
    call_names: dict[str, str] = {}  # tool call id -> function name (Gemini needs it on results)
    for i, m in enumerate(raw):
        path = f"messages[{i}]"
        role = m["role"]
        name = _optional_str(m, "name", path)
        content = m.get("content")
        if role in ("system", "developer"):
            if content is None:
                raise InvalidRequest(f"Missing required parameter: '{path}.content'.", param=f"{path}.content")
            out.append(Message(role, _parts(content, f"{path}.content", _TEXT_ONLY), name))
        elif role == "user":
            if content is None:
                raise InvalidRequest(f"Missing required parameter: '{path}.content'.", param=f"{path}.content")
            out.append(Message("user", _parts(content, f"{path}.content", _USER_PARTS), name))
        elif role == "assistant":
            msg = _assistant(m, path, name, legacy_ids, i)
            for p in msg.parts:
                if type(p) is ToolCallPart:
                    call_names[p.id] = p.name
            out.append(msg)
        elif role == "tool":
            call_id = _require_str(m, "tool_call_id", path)
            result = [] if content is None else _parts(content, f"{path}.content", _TEXT_ONLY)
            out.append(Message("tool", [ToolResultPart(call_id, result, name=call_names.get(call_id))]))  # type: ignore[arg-type]
        else:  # legacy "function" role: the result of a legacy function_call
            fname = _require_str(m, "name", path)
            result = [] if content is None else _parts(content, f"{path}.content", _TEXT_ONLY)
            call_id = legacy_ids.get(fname, f"call_fn_{fname}")
            out.append(Message("tool", [ToolResultPart(call_id, result, name=fname)]))  # type: ignore[arg-type]
    return out


def _assistant(m: dict[str, Any], path: str, name: str | None, legacy_ids: dict[str, str], i: int) -> Message:
    content = m.get("content")
    # "" (what many SDKs send beside tool calls) says nothing; an empty text part would be
    # refused by formats that forbid empty text blocks (Anthropic).
    parts: list[Part] = [] if not content else _parts(content, f"{path}.content", _ASSISTANT_PARTS)
    refusal = m.get("refusal")
    if refusal is not None:
        if type(refusal) is not str:
            raise _bad_type(f"{path}.refusal", "a string", refusal)
        parts.append(TextPart(refusal))
    if m.get("audio") is not None:
        raise UnsupportedParameter("Assistant audio references are not supported by this gateway.", param=f"{path}.audio")
    calls = m.get("tool_calls")
    if calls is not None:
        if type(calls) is not list:
            raise _bad_type(f"{path}.tool_calls", "an array", calls)
        for j, tc in enumerate(calls):
            p = f"{path}.tool_calls[{j}]"
            if type(tc) is not dict:
                raise _bad_type(p, "an object", tc)
            kind = tc.get("type", "function")
            if kind == "custom":
                raise UnsupportedParameter("Custom tool calls are not supported by this gateway.", param=f"{p}.type")
            if kind != "function":
                raise _bad_value(f"{p}.type", f"'{kind}' is not 'function'.")
            fn = tc.get("function")
            if type(fn) is not dict:
                raise _bad_type(f"{p}.function", "an object", fn)
            parts.append(
                ToolCallPart(_require_str(tc, "id", p), _require_str(fn, "name", f"{p}.function"),
                             _require_str(fn, "arguments", f"{p}.function"))
            )
    fc = m.get("function_call")
    if fc is not None:
        if type(fc) is not dict:
            raise _bad_type(f"{path}.function_call", "an object", fc)
        fname = _require_str(fc, "name", f"{path}.function_call")
        call_id = legacy_ids[fname] = f"call_fn_{i}"
        parts.append(ToolCallPart(call_id, fname, _require_str(fc, "arguments", f"{path}.function_call")))
    return Message("assistant", parts, name)


def _function_tool(fn: Any, path: str) -> Tool:
    if type(fn) is not dict:
        raise _bad_type(path, "an object", fn)
    name = _require_str(fn, "name", path)
    if not name:
        raise _bad_value(f"{path}.name", "the function name must not be empty.")
    params = fn.get("parameters")
    if params is not None and type(params) is not dict:
        raise _bad_type(f"{path}.parameters", "an object", params)
    strict = fn.get("strict")
    if strict is not None and type(strict) is not bool:
        raise _bad_type(f"{path}.strict", "a boolean", strict)
    return Tool(name=name, description=_optional_str(fn, "description", path), parameters=params or {}, strict=strict)


def _tools(tools: list[Any], functions: list[Any]) -> list[Tool]:
    out: list[Tool] = []
    for j, t in enumerate(tools):
        p = f"tools[{j}]"
        if type(t) is not dict:
            raise _bad_type(p, "an object", t)
        kind = t.get("type")
        if kind == "custom":
            raise UnsupportedParameter("Custom tools are not supported by this gateway.", param=f"{p}.type")
        if kind != "function":
            if kind is None:
                raise InvalidRequest(f"Missing required parameter: '{p}.type'.", param=f"{p}.type")
            raise _bad_value(f"{p}.type", f"'{kind}' is not one of ['custom', 'function'].")
        out.append(_function_tool(t.get("function"), f"{p}.function"))
    out.extend(_function_tool(fn, f"functions[{j}]") for j, fn in enumerate(functions))
    return out


def _tool_choice(tc: Any) -> ToolChoice:
    if type(tc) is str:
        if tc not in ("none", "auto", "required"):
            raise _bad_value("tool_choice", f"'{tc}' is not one of ['auto', 'none', 'required'].")
        return ToolChoice(tc)  # type: ignore[arg-type]
    kind = tc.get("type")
    if kind == "function":
        fn = tc.get("function")
        if type(fn) is not dict:
            raise _bad_type("tool_choice.function", "an object", fn)
        return ToolChoice("tool", _require_str(fn, "name", "tool_choice.function"))
    if kind in ("allowed_tools", "custom"):
        raise UnsupportedParameter(f"tool_choice of type '{kind}' is not supported by this gateway.", param="tool_choice.type")
    raise _bad_value("tool_choice.type", f"'{kind}' is not one of ['allowed_tools', 'custom', 'function'].")


def _function_call_choice(fc: Any) -> ToolChoice:
    if type(fc) is str:
        if fc not in ("none", "auto"):
            raise _bad_value("function_call", f"'{fc}' is not one of ['auto', 'none'].")
        return ToolChoice(fc)  # type: ignore[arg-type]
    return ToolChoice("tool", _require_str(fc, "name", "function_call"))


def _response_format(rf: dict[str, Any]) -> ResponseFormat:
    kind = rf.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)  # type: ignore[arg-type]
    if kind != "json_schema":
        if kind is None:
            raise InvalidRequest("Missing required parameter: 'response_format.type'.", param="response_format.type")
        raise _bad_value("response_format.type", f"'{kind}' is not one of ['json_object', 'json_schema', 'text'].")
    js = rf.get("json_schema")
    if type(js) is not dict:
        if js is None:
            raise InvalidRequest(
                "Missing required parameter: 'response_format.json_schema'.", param="response_format.json_schema"
            )
        raise _bad_type("response_format.json_schema", "an object", js)
    p = "response_format.json_schema"
    schema = js.get("schema")
    if schema is not None and type(schema) is not dict:
        raise _bad_type(f"{p}.schema", "an object", schema)
    strict = js.get("strict")
    if strict is not None and type(strict) is not bool:
        raise _bad_type(f"{p}.strict", "a boolean", strict)
    return ResponseFormat(
        "json_schema", name=_require_str(js, "name", p), schema=schema, strict=strict,
        description=_optional_str(js, "description", p),
    )


# ---- rendering responses ---------------------------------------------------------------

_FINISH = {
    "stop": "stop",
    "stop_sequence": "stop",
    "pause": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


def _new_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def _usage_obj(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def _response_message(m: Message) -> dict[str, Any]:
    text: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for p in m.parts:
        kind = type(p)
        if kind is TextPart:
            text.append(p.text)
        elif kind is ToolCallPart:
            calls.append({"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}})
        elif kind is ThinkingPart and p.text:  # signature-only carriers are not reasoning text
            thinking.append(p.text)
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text else (None if calls else ""),
        "refusal": None,
    }
    if calls:
        msg["tool_calls"] = calls
    if thinking:
        msg["reasoning_content"] = "".join(thinking)
    return msg


def render_response(resp: ChatResponse, model: str) -> bytes:
    """Canonical response -> an OpenAI ``chat.completion`` body; ``model`` is the name the
    client asked for."""
    out: dict[str, Any] = {
        "id": resp.id or _new_id(),
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": model,
        "choices": [
            {
                "index": c.index,
                "message": _response_message(c.message),
                "logprobs": c.logprobs,
                "finish_reason": _FINISH.get(c.finish_reason or "stop", "stop"),
            }
            for c in resp.choices
        ],
    }
    if resp.usage is not None:
        out["usage"] = _usage_obj(resp.usage)
    if resp.system_fingerprint is not None:
        out["system_fingerprint"] = resp.system_fingerprint
    return _encode(out)


class StreamRenderer:
    """Canonical stream events -> ``data: {chat.completion.chunk}\\n\\n`` frames.

    The chunk envelope (id, object, created, model) is encoded once, at ``StreamStart``;
    each event then encodes only its choice object. Every choice's first frame carries
    ``role: "assistant"`` (for choice 0 that is the frame sent at ``StreamStart``)."""

    __slots__ = ("_model", "_include_usage", "_prefix", "_roles", "_usage_sent")

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self._model = _encode(model)
        self._include_usage = include_usage
        self._prefix = b""
        self._roles: set[int] = set()
        self._usage_sent = False

    def _start(self, id: str, created: int) -> None:
        self._prefix = b"".join((
            b'data: {"id":', _encode(id or _new_id()), b',"object":"chat.completion.chunk","created":',
            str(created or int(time.time())).encode(), b',"model":', self._model, b',"choices":[',
        ))

    def _frame(self, choice: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> bytes:
        if not self._prefix:
            self._start("", 0)
        if choice not in self._roles:
            self._roles.add(choice)
            delta = {"role": "assistant", **delta}
        body = _encode({"index": choice, "delta": delta, "logprobs": logprobs, "finish_reason": finish})
        return self._prefix + body + b"]}\n\n"

    def render(self, event: StreamEvent) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            return self._frame(event.choice, {"content": event.text}, event.logprobs)
        if kind is ToolCallDelta:
            call: dict[str, Any] = {"index": event.index}
            fn: dict[str, Any] = {}
            if event.id is not None:
                call["id"] = event.id
                call["type"] = "function"
            if event.name is not None:
                fn["name"] = event.name
            fn["arguments"] = event.arguments
            call["function"] = fn
            return self._frame(event.choice, {"tool_calls": [call]})
        if kind is ReasoningDelta:
            if not event.text:
                return b""  # signatures and redacted blocks have no OpenAI field
            return self._frame(event.choice, {"reasoning_content": event.text})
        if kind is Finish:
            return self._frame(event.choice, {}, None, _FINISH.get(event.reason, "stop"))
        if kind is StreamStart:
            self._start(event.id, event.created)
            return self._frame(0, {"content": ""})
        if kind is UsageEvent:
            if not self._include_usage or self._usage_sent:
                return b""
            self._usage_sent = True
            if not self._prefix:
                self._start("", 0)
            return self._prefix + b'],"usage":' + _encode(_usage_obj(event.usage)) + b"}\n\n"
        if kind is StreamError:
            return self.error(event.error)
        return b""

    def done(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, err: GatewayError) -> bytes:
        """The terminal in-stream error frame (the OpenAI SDK raises ``APIError`` on it)."""
        return b"data: " + _encode({"error": _error_object(err)}) + b"\n\n"


# ---- errors: the one place GatewayError meets OpenAI's envelope ------------------------

# Our stable codes where OpenAI (or Azure OpenAI) has its own name for the same thing.
_CODE_ALIASES = {"content_filtered": "content_filter"}


def _error_type(err: GatewayError) -> str:
    """The ``type`` OpenAI itself sends for each status (observed on api.openai.com):
    401 invalid_api_key and 404 model_not_found are ``invalid_request_error``; 429 is
    ``requests`` / ``tokens`` (rate) or ``insufficient_quota``; 5xx are ``server_error``.
    OpenAI has no single 403 type; ``permission_error`` names it."""
    status = err.status
    if status == 429:
        if err.code == "upstream_quota_exceeded":
            return "insufficient_quota"
        return "tokens" if "token" in err.code else "requests"
    if status == 403:
        return "permission_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def _error_object(err: GatewayError) -> dict[str, Any]:
    code = "model_not_found" if isinstance(err, ModelNotFound) else _CODE_ALIASES.get(err.code, err.code)
    return {"message": err.public_message(), "type": _error_type(err), "param": err.param, "code": code}


def render_error(err: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("content-type", "application/json"), *err.response_headers()]
    return err.status, headers, _encode({"error": _error_object(err)})
