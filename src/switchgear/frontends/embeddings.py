"""POST /v1/embeddings, client side (OpenAI's shape; every SDK speaks it).

``input`` is a string, an array of strings, an array of token ids, or an array of
token-id arrays; canonically it is always a list (``list[str]`` or ``list[list[int]]``).
Upstreams are always asked for floats; ``base64`` is produced here, as OpenAI does:
the little-endian float32 bytes of each vector, base64-encoded.
"""

from __future__ import annotations

import array
import base64
import sys
from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest
from switchgear.core.types import EmbeddingsRequest, EmbeddingsResponse
from switchgear.frontends.openai_chat import _bad_type, _bad_value, _type_name

_MAX_INPUTS = 2048  # OpenAI's limit on inputs per request
_KNOWN = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def _input(value: Any) -> list[str] | list[list[int]]:
    if type(value) is str:
        if not value:
            raise _bad_value("input", "the input must not be an empty string.")
        return [value]
    if type(value) is not list:
        raise _bad_type("input", "a string, an array of strings, or an array of token arrays", value)
    if not value:
        raise _bad_value("input", "expected an array with minimum length 1, but got an empty array instead.")
    if len(value) > _MAX_INPUTS:
        raise _bad_value("input", f"at most {_MAX_INPUTS} inputs are allowed per request, but got {len(value)}.")
    first = type(value[0])
    if first is str:
        for i, s in enumerate(value):
            if type(s) is not str:
                raise _bad_type(f"input[{i}]", "a string", s)
            if not s:
                raise _bad_value(f"input[{i}]", "the input must not be an empty string.")
        return value
    if first is int:  # one token array
        _check_tokens(value, "input")
        return [value]
    if first is list:
        for i, tokens in enumerate(value):
            if type(tokens) is not list:
                raise _bad_type(f"input[{i}]", "an array of integers", tokens)
            if not tokens:
                raise _bad_value(f"input[{i}]", "a token array must not be empty.")
            _check_tokens(tokens, f"input[{i}]")
        return value
    raise _bad_type("input[0]", "a string, an integer or an array of integers", value[0])


def _check_tokens(tokens: list[Any], path: str) -> None:
    for j, t in enumerate(tokens):
        if type(t) is not int:
            raise _bad_type(f"{path}[{j}]", "an integer", t)
        if t < 0:
            raise _bad_value(f"{path}[{j}]", f"token ids are non-negative, but got {t}.")


def parse_embeddings(body: bytes) -> EmbeddingsRequest:
    if not body:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        raw = msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise InvalidRequest("The request body is not valid UTF-8.") from None
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"The request body is not valid JSON: {e}.") from None
    if type(raw) is not dict:
        raise InvalidRequest(f"The request body must be a JSON object, but got {_type_name(raw)} instead.")
    for key in ("model", "input"):
        if raw.get(key) is None:
            raise InvalidRequest(f"Missing required parameter: '{key}'.", param=key)
    model = raw["model"]
    if type(model) is not str:
        raise _bad_type("model", "a string", model)
    if not model:
        raise _bad_value("model", "the model name must not be empty.")
    req = EmbeddingsRequest(model=model, input=_input(raw["input"]))
    dims = raw.get("dimensions")
    if dims is not None:
        if type(dims) is not int:
            raise _bad_type("dimensions", "an integer", dims)
        if dims < 1:
            raise _bad_value("dimensions", f"expected a value >= 1, but got {dims} instead.")
        req.dimensions = dims
    fmt = raw.get("encoding_format")
    if fmt is not None:
        if fmt not in ("float", "base64"):
            if type(fmt) is not str:
                raise _bad_type("encoding_format", "a string", fmt)
            raise _bad_value("encoding_format", f"'{fmt}' is not one of ['base64', 'float'].")
        req.encoding_format = fmt
    user = raw.get("user")
    if user is not None:
        if type(user) is not str:
            raise _bad_type("user", "a string", user)
        req.user = user
    extra = {k: v for k, v in raw.items() if k not in _KNOWN and v is not None}
    if extra:
        req.extra = extra
    return req


def _base64(vector: list[float]) -> str:
    arr = array.array("f", vector)
    if sys.byteorder != "little":
        arr.byteswap()
    return base64.b64encode(arr.tobytes()).decode("ascii")


def render_embeddings(resp: EmbeddingsResponse, model: str, encoding_format: str | None = None) -> bytes:
    """Canonical embeddings -> OpenAI ``list`` of ``embedding`` objects; ``model`` is the
    name the client asked for."""
    as_base64 = encoding_format == "base64"
    usage = resp.usage
    prompt_tokens = usage.input_tokens if usage is not None else 0
    return msgspec.json.encode(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _base64(vec) if as_base64 else vec}
                for i, vec in enumerate(resp.data)
            ],
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
