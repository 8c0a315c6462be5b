"""Validate OpenAI-shaped objects against OpenAI's published OpenAPI description.

    from tests.openapi_schema import assert_valid
    assert_valid(obj, "CreateChatCompletionResponse")

The YAML (about 3 MB) is parsed once per process (libyaml when available) and cached,
and so is one validator per schema name. ``$ref``s resolve with ``referencing``.

The spec is OpenAPI 3.1 (JSON Schema 2020-12) but still uses the OpenAPI 3.0 keyword
``nullable: true`` in places (chunk ``usage``, choice ``logprobs``, ``finish_reason``…),
which 2020-12 ignores; such schemas are rewritten to ``anyOf: [<schema>, {type: null}]``
at load so that what OpenAI itself sends (``"usage": null``) validates.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

# CI clones the repo with the team's shared/ folder beside it: ../shared/specs/…
_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "specs" / "openai-openapi.yaml"
SPEC_PATH = Path(os.environ.get("SWITCHGEAR_OPENAI_SPEC") or _BESIDE)
_URI = "https://spec.switchgear.invalid/openai-openapi.yaml"


def _nullable_to_anyof(node: Any) -> Any:
    if isinstance(node, dict):
        fixed = {k: _nullable_to_anyof(v) for k, v in node.items()}
        if fixed.get("nullable") is True:
            del fixed["nullable"]
            return {"anyOf": [fixed, {"type": "null"}]}
        return fixed
    if isinstance(node, list):
        return [_nullable_to_anyof(v) for v in node]
    return node


@cache
def spec() -> dict[str, Any]:
    """The whole OpenAPI document (parsed once per process)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if not SPEC_PATH.exists():
        raise FileNotFoundError(
            f"OpenAI's OpenAPI spec is not at {SPEC_PATH}: clone the repo with shared/ beside it, "
            "or set SWITCHGEAR_OPENAI_SPEC"
        )
    with SPEC_PATH.open("rb") as fh:
        doc = yaml.load(fh, Loader=loader)
    return _nullable_to_anyof(doc)


@cache
def _registry() -> referencing.Registry:
    resource = referencing.Resource.from_contents(spec(), default_specification=DRAFT202012)
    return referencing.Registry().with_resource(_URI, resource)


@cache
def validator(schema_name: str) -> jsonschema.Draft202012Validator:
    if schema_name not in spec()["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC_PATH}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_URI}#/components/schemas/{schema_name}"}, registry=_registry()
    )


def errors(obj: Any, schema_name: str) -> list[str]:
    """Human-readable validation errors (empty when ``obj`` is valid)."""
    out = []
    for err in validator(schema_name).iter_errors(obj):
        best = jsonschema.exceptions.best_match([err])
        path = "/".join(str(p) for p in best.absolute_path) or "<root>"
        out.append(f"{path}: {best.message}")
    return out


def assert_valid(obj: Any, schema_name: str) -> None:
    problems = errors(obj, schema_name)
    assert not problems, f"not a valid {schema_name}:\n  " + "\n  ".join(problems)


def assert_chat_completion(obj: Any) -> None:
    assert_valid(obj, "CreateChatCompletionResponse")


def assert_chat_chunk(obj: Any) -> None:
    assert_valid(obj, "CreateChatCompletionStreamResponse")


def assert_embeddings(obj: Any) -> None:
    assert_valid(obj, "CreateEmbeddingResponse")


def assert_error(obj: Any) -> None:
    assert_valid(obj, "ErrorResponse")


def assert_chat_request(obj: Any) -> None:
    assert_valid(obj, "CreateChatCompletionRequest")
