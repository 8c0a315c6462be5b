"""The generated OpenAPI document: OpenAPI 3.1 in shape, every $ref resolvable, and the
routes in the router and the operations in the document are the same set."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import msgspec

from switchgear.admin import api as admin_api
from switchgear.admin.authz import RULES
from tests.admin.support import Harness, World, doc

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _refs(node: Any, where: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        out = [(where, node["$ref"])] if isinstance(node.get("$ref"), str) else []
        for k, v in node.items():
            out += _refs(v, f"{where}/{k}")
        return out
    if isinstance(node, list):
        return [r for i, v in enumerate(node) for r in _refs(v, f"{where}/{i}")]
    return []


def _resolve(d: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local refs: {ref}"
    node: Any = d
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and token in node, f"unresolvable {ref}"
        node = node[token]
    return node


def test_document_is_openapi_3_1_in_shape() -> None:
    d = doc()
    assert re.fullmatch(r"3\.1\.\d+", d["openapi"])
    assert d["info"]["title"] and d["info"]["version"]
    assert set(d) <= {"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components",
                      "security", "tags", "externalDocs"}
    schemes = d["components"]["securitySchemes"]
    assert all(next(iter(req)) in schemes for req in d["security"])
    op_ids = []
    for path, item in d["paths"].items():
        assert path.startswith("/admin/v1/")
        declared = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            assert method in _METHODS
            op_ids.append(op["operationId"])
            assert op["responses"] and all(re.fullmatch(r"[1-5]\d\d|default", code) for code in op["responses"])
            for resp in op["responses"].values():
                resp = _resolve(d, resp["$ref"]) if "$ref" in resp else resp
                assert resp["description"]
                for media in resp.get("content", {}).values():
                    assert "schema" in media
            params = op.get("parameters", [])
            assert {p["name"] for p in params if p["in"] == "path"} == declared, (method, path)
            for p in params:
                assert p["in"] in ("path", "query") and "schema" in p
                if p["in"] == "path":
                    assert p["required"] is True
                assert "null" not in str(p["schema"]).lower() or p["in"] != "query"
            if "requestBody" in op:
                assert op["requestBody"]["content"]["application/json"]["schema"]
    assert len(op_ids) == len(set(op_ids))
    for name, schema in d["components"]["schemas"].items():
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
        jsonschema.Draft202012Validator.check_schema(schema)  # each is a valid JSON Schema 2020-12


def test_every_ref_resolves() -> None:
    d = doc()
    refs = _refs(d)
    assert len(refs) > 50
    for where, ref in refs:
        _resolve(d, ref)


def test_router_and_document_list_the_same_operations() -> None:
    d = doc()
    in_doc = {(m.upper(), path, op["operationId"]) for path, item in d["paths"].items() for m, op in item.items()}
    in_router = {(r.method, r.template, r.action) for r in admin_api.ROUTES}
    assert in_doc == in_router
    assert {r.action for r in admin_api.ROUTES} == set(RULES)  # and the authz table covers exactly them
    for item in d["paths"].values():
        for op in item.values():
            assert op["x-switchgear-roles"] == list(RULES[op["operationId"]])


def test_request_schemas_are_the_validators_schemas() -> None:
    # A body the document calls invalid is one the API refuses (same structs, same limits).
    schema = doc()["components"]["schemas"]["GrantCreate"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["models"]["maxItems"] == 100
    assert schema["properties"]["models"]["items"]["maxLength"] == 200
    assert set(schema["required"]) == {"subject_type", "subject_id", "models", "endpoints"}


async def test_the_served_document_is_the_generated_one(h: Harness, world: World) -> None:
    r = await h.call(world.viewer, "GET", "/admin/v1/openapi.json")
    assert r.status == 200 and msgspec.json.decode(r.body) == msgspec.json.decode(msgspec.json.encode(doc()))
