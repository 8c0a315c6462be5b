"""``POST /embeddings``: deterministic vectors, as floats or base64."""

from __future__ import annotations

from typing import Any

from switchgear.simulator import text
from switchgear.simulator.openai.errors import invalid
from switchgear.simulator.openai.headers import json_headers
from switchgear.simulator.openai.request import EMBEDDING_PARAMS, reject_unknown, require_model
from switchgear.simulator.wire import Answer, Env, Reject, dumps

_BAD_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def _bad_input() -> Reject:
    return invalid(_BAD_INPUT, "input")


def embeddings(env: Env, azure: bool, body: Any, model: str) -> Answer:
    if not isinstance(body, dict):
        raise invalid("Invalid type for body: expected an object.")
    reject_unknown(body, EMBEDDING_PARAMS)
    require_model(model, azure)
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
        raise _bad_input()
    if not inputs or len(inputs) > 2048:
        raise _bad_input()
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
                raise _bad_input()
            tokens += text.count_tokens(item)
            key = item
        elif isinstance(item, list) and all(isinstance(x, int) for x in item):
            tokens += len(item)
            key = " ".join(map(str, item))
        else:
            raise _bad_input()
        config = env.config()
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
    return Answer(200, json_headers(env), dumps(out))
