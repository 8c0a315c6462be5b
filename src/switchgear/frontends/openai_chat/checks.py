"""``parse_body``: one JSON decode and cheap top-level checks, on every request's path
(pass-through included); and the helpers that word errors OpenAI's way, naming the
parameter (``param``: ``"messages[2].content"``, ``"temperature"``)."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest

_decode = msgspec.json.decode

_JSON_TYPE = {str: "a string", int: "an integer", float: "a decimal", bool: "a boolean", list: "an array", dict: "an object"}


def type_name(value: Any) -> str:
    return _JSON_TYPE.get(type(value), "null" if value is None else type(value).__name__)


def bad_type(param: str, expected: str, value: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.", param=param
    )


def bad_value(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {why}", param=param)


def missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)


def require_str(obj: dict[str, Any], key: str, path: str) -> str:
    v = obj.get(key)
    if type(v) is str:
        return v
    if v is None:
        raise missing(f"{path}.{key}")
    raise bad_type(f"{path}.{key}", "a string", v)


def optional_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    v = obj.get(key)
    if v is None or type(v) is str:
        return v
    raise bad_type(f"{path}.{key}", "a string", v)


def _check_bool(v: Any, p: str) -> None:
    if type(v) is not bool:
        raise bad_type(p, "a boolean", v)


def _check_str(v: Any, p: str) -> None:
    if type(v) is not str:
        raise bad_type(p, "a string", v)


def _check_int(v: Any, p: str) -> None:
    if type(v) is not int:
        raise bad_type(p, "an integer", v)


def _check_positive_int(v: Any, p: str) -> None:
    if type(v) is not int:
        raise bad_type(p, "an integer", v)
    if v < 1:
        raise bad_value(p, f"expected a value >= 1, but got {v} instead.")


def _number_in(lo: float, hi: float):
    def check(v: Any, p: str) -> None:
        if type(v) is not float and type(v) is not int:
            raise bad_type(p, "a decimal", v)
        if not lo <= v <= hi:
            raise bad_value(p, f"expected a number between {lo:g} and {hi:g}, but got {v} instead.")

    return check


def _check_top_logprobs(v: Any, p: str) -> None:
    _check_int(v, p)
    if not 0 <= v <= 20:
        raise bad_value(p, f"expected an integer between 0 and 20, but got {v} instead.")


def _check_model(v: Any, p: str) -> None:
    if type(v) is not str:
        raise bad_type(p, "a string", v)
    if not v:
        raise bad_value(p, "the model name must not be empty.")


def _check_stop(v: Any, p: str) -> None:
    if type(v) is str:
        return
    if type(v) is not list:
        raise bad_type(p, "a string or an array of strings", v)
    if len(v) > 4:
        raise bad_value(p, f"at most 4 stop sequences are allowed, but got {len(v)}.")
    for i, s in enumerate(v):
        if type(s) is not str:
            raise bad_type(f"{p}[{i}]", "a string", s)


def _check_list(v: Any, p: str) -> None:
    if type(v) is not list:
        raise bad_type(p, "an array", v)


def _check_dict(v: Any, p: str) -> None:
    if type(v) is not dict:
        raise bad_type(p, "an object", v)


def _check_str_or_dict(v: Any, p: str) -> None:
    if type(v) is not str and type(v) is not dict:
        raise bad_type(p, "a string or an object", v)


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})


def _check_reasoning_effort(v: Any, p: str) -> None:
    if type(v) is not str:
        raise bad_type(p, "a string", v)
    if v not in _EFFORTS:
        raise bad_value(p, f"'{v}' is not one of {sorted(_EFFORTS)}.")


def _check_messages(v: Any, p: str) -> None:
    if type(v) is not list:
        raise bad_type(p, "an array", v)
    if not v:
        raise bad_value(p, "expected an array with minimum length 1, but got an empty array instead.")
    for i, m in enumerate(v):
        if type(m) is not dict:
            raise bad_type(f"messages[{i}]", "an object", m)
        role = m.get("role")
        if type(role) is not str:
            if role is None:
                raise missing(f"messages[{i}].role")
            raise bad_type(f"messages[{i}].role", "a string", role)
        if role not in _ROLES:
            raise bad_value(f"messages[{i}].role", f"'{role}' is not one of {sorted(_ROLES - {'function'})}.")
        content = m.get("content")
        if content is not None and type(content) is not str and type(content) is not list:
            raise bad_type(f"messages[{i}].content", "a string or an array of content parts", content)


CHECKS = {
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
        raise InvalidRequest(f"The request body must be a JSON object, but got {type_name(raw)} instead.")
    for key in ("model", "messages"):
        if raw.get(key) is None:
            raise missing(key)
    for key, value in raw.items():
        check = CHECKS.get(key)
        if check is not None and value is not None:
            check(value, key)
    return raw
