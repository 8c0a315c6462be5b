"""The admin API's OpenAPI 3.1 document, generated — never hand-written.

Paths and operations come from the route table (router.Route), the roles allowed on
each operation from the authorization table (authz.RULES), and every schema from the
msgspec structs the handlers decode and encode (``msgspec.json.schema_components``),
so the document cannot drift from what the code accepts and returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from switchgear.admin.authz import RULES
from switchgear.admin.router import ID_PATTERN, Route
from switchgear.admin.schemas import ErrorResponse

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{name}"

_ERRORS = {
    "BadRequest": "Invalid input: the message and `param` name the field",
    "Forbidden": "The caller lacks the role or scope: the message names what is missing",
    "NotFound": "No such object in the caller's organisation (or no such endpoint)",
    "Conflict": "The name is taken, or the change would leave the organisation without an admin",
    "Error": "Any other error, in the same envelope",
}


def document(routes: Sequence[Route]) -> dict[str, Any]:
    bodies = {r.body for r in routes if r.body is not None}
    queries = {r.query for r in routes if r.query is not None}
    responses = {r.response for r in routes if r.response is not None}
    types: list[Any] = [ErrorResponse, *sorted(bodies | queries, key=_name), *sorted(responses, key=repr)]
    inline, components = msgspec.json.schema_components(types, ref_template=_REF)
    schema_of = dict(zip(map(_key, types), inline, strict=True))
    # Query structs become parameters, not schemas of their own.
    query_schemas = {_name(t): components.pop(_name(t)) for t in queries}

    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.action,
            "summary": r.summary,
            "tags": [r.template.split("/")[3]],
            "x-switchgear-roles": list(RULES[r.action]),
        }
        params = [_path_param(p) for p in r.params]
        if r.query is not None:
            params += _query_params(query_schemas[_name(r.query)])
        if params:
            op["parameters"] = params
        if r.body is not None:
            required = bool(components[_name(r.body)].get("required"))
            op["requestBody"] = {"required": required,
                                 "content": {"application/json": {"schema": schema_of[_key(r.body)]}}}
        op["responses"] = _responses(r, schema_of)
        paths.setdefault(r.template, {})[r.method.lower()] = op

    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Switchgear admin API",
            "version": "1",
            "description": "Manage an organisation's teams, users, service accounts, agents, API keys and "
                           "grants, and read the audit record and the spend ledger. Every request is "
                           "authorized by the caller's role (see x-switchgear-roles on each operation) "
                           "and audited.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                name: {"description": text,
                       "content": {"application/json": {"schema": {"$ref": _REF.format(name="ErrorResponse")}}}}
                for name, text in _ERRORS.items()
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <admin key>"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


def _name(t: Any) -> str:
    return str(t.__name__)


def _key(t: Any) -> str:
    return repr(t)


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "pattern": ID_PATTERN, "maxLength": 100}}


def _query_params(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        prop = _not_null(prop)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        out.append(param)
    return out


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query string cannot send null: "X or null, default null" is just an optional X."""
    options = prop.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        prop = {k: v for k, v in prop.items() if k not in ("anyOf", "default")} | (
            rest[0] if len(rest) == 1 else {"anyOf": rest})
    return prop


def _responses(r: Route, schema_of: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if r.status == 204:
        out["204"] = {"description": "Done"}
    else:
        schema = schema_of[_key(r.response)]
        out[str(r.status)] = {"description": "Success", "content": {r.media_type: {"schema": schema}}}
    errors = ["BadRequest", "Forbidden", "NotFound"]
    if r.mutates:
        errors.append("Conflict")
    codes = {"BadRequest": "400", "Forbidden": "403", "NotFound": "404", "Conflict": "409"}
    for name in errors:
        out[codes[name]] = {"$ref": f"#/components/responses/{name}"}
    out["default"] = {"$ref": "#/components/responses/Error"}
    return out
