"""POST /v1/embeddings, client side: parsing, rendering (float and base64), and the real
OpenAI SDK reading what we render."""

from __future__ import annotations

import array
import base64
import json
from typing import Any

import httpx2
import openai
import pytest

from switchgear.core.errors import InvalidRequest
from switchgear.core.types import EmbeddingsResponse, Usage
from switchgear.frontends import embeddings as emb
from switchgear.providers.formats import openai_chat as fmt
from switchgear.providers.formats.base import Target
from tests.openapi_schema import assert_embeddings, assert_valid


def _parse(body: Any) -> Any:
    return emb.parse_embeddings(body if isinstance(body, bytes) else json.dumps(body).encode())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello", ["hello"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1, 2], [3]], [[1, 2], [3]]),
    ],
)
def test_input_shapes(value: Any, expected: list) -> None:
    assert _parse({"model": "m", "input": value}).input == expected


def test_optional_fields_and_extra() -> None:
    req = _parse({"model": "m", "input": "x", "dimensions": 256, "encoding_format": "base64", "user": "u",
                  "input_type": "query", "ignored": None})
    assert (req.dimensions, req.encoding_format, req.user) == (256, "base64", "u")
    assert req.extra == {"input_type": "query"}


ERRORS = [
    (b"", None),
    (b"{", None),
    (b"[]", None),
    ({"input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "", "input": "x"}, "model"),
    ({"model": "m", "input": ""}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": 5}, "input"),
    ({"model": "m", "input": ["a", 1]}, "input[1]"),
    ({"model": "m", "input": ["a", ""]}, "input[1]"),
    ({"model": "m", "input": [1, "a"]}, "input[1]"),
    ({"model": "m", "input": [1, -2]}, "input[1]"),
    ({"model": "m", "input": [[1], "a"]}, "input[1]"),
    ({"model": "m", "input": [[1], []]}, "input[1]"),
    ({"model": "m", "input": [[1], [2, 2.5]]}, "input[1][1]"),
    ({"model": "m", "input": [None]}, "input[0]"),
    ({"model": "m", "input": ["x"] * 2049}, "input"),
    ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "m", "input": "x", "dimensions": "8"}, "dimensions"),
    ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"model": "m", "input": "x", "user": 1}, "user"),
]


@pytest.mark.parametrize(("body", "param"), ERRORS, ids=[f"{i}-{r[1]}" for i, r in enumerate(ERRORS)])
def test_parse_errors(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        _parse(body)
    assert info.value.param == param and info.value.status == 400


RESP = EmbeddingsResponse(model="text-embedding-3-small", data=[[0.1, -0.25, 3.5], [1.0, 2.0, 0.333]], usage=Usage(8))


def test_render_float() -> None:
    out = json.loads(emb.render_embeddings(RESP, "emb-alias", "float"))
    assert_embeddings(out)
    assert out == {"object": "list", "model": "emb-alias", "usage": {"prompt_tokens": 8, "total_tokens": 8},
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.25, 3.5]},
                            {"object": "embedding", "index": 1, "embedding": [1.0, 2.0, 0.333]}]}
    assert json.loads(emb.render_embeddings(RESP, "emb-alias")) == out  # default is float


def test_render_base64_is_little_endian_float32() -> None:
    out = json.loads(emb.render_embeddings(RESP, "emb-alias", "base64"))
    raw = base64.b64decode(out["data"][1]["embedding"])
    assert raw == b"\x00\x00\x80?\x00\x00\x00@" + array.array("f", [0.333]).tobytes()  # 1.0, 2.0 in LE float32
    # The published schema types embedding as an array; OpenAI itself sends a string for base64.
    for item in out["data"]:
        item["embedding"] = array.array("f", base64.b64decode(item["embedding"])).tolist()
    assert_embeddings(out)


def test_render_without_usage() -> None:
    out = json.loads(emb.render_embeddings(EmbeddingsResponse(model="m", data=[[0.5]]), "m", "float"))
    assert out["usage"] == {"prompt_tokens": 0, "total_tokens": 0}
    assert_valid(out, "CreateEmbeddingResponse")


def _sdk(handler: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-client", base_url="http://gateway.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


@pytest.mark.parametrize("encoding_format", [None, "float", "base64"])
def test_sdk_round_trip_through_provider_format(encoding_format: str | None) -> None:
    """SDK request -> parse_embeddings -> provider request (always float) -> upstream float body ->
    canonical -> rendered in the format the SDK asked for -> SDK's decoded floats."""
    target = Target(provider="p", vendor="openai", format="openai_chat", base_url="https://api.openai.com/v1",
                    model="text-embedding-3-small")
    upstream_vectors = [[0.5, -0.125, 0.1], [2.0, 0.0, -1.5]]
    seen: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        req = emb.parse_embeddings(request.content)
        up = fmt.build_embeddings_request(req, target)
        seen.append(json.loads(up.body))
        upstream = json.dumps({"object": "list", "model": "text-embedding-3-small",
                               "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(upstream_vectors)],
                               "usage": {"prompt_tokens": 4, "total_tokens": 4}}).encode()
        resp = fmt.parse_embeddings_response(upstream, target)
        return httpx2.Response(200, headers={"content-type": "application/json"},
                               content=emb.render_embeddings(resp, req.model, req.encoding_format))

    kwargs = {} if encoding_format is None else {"encoding_format": encoding_format}
    result = _sdk(handler).embeddings.create(model="emb-alias", input=["a", "b"], **kwargs)
    assert seen[0]["encoding_format"] == "float" and seen[0]["model"] == "text-embedding-3-small"
    got = [d.embedding for d in result.data]
    if encoding_format == "base64":  # asked explicitly: the SDK hands the strings back undecoded
        got = [array.array("f", base64.b64decode(s)).tolist() for s in got]
    expected = upstream_vectors if encoding_format == "float" else [array.array("f", v).tolist() for v in upstream_vectors]
    assert got == expected
    assert result.model == "emb-alias" and result.usage.prompt_tokens == 4
