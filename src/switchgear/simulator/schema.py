"""A minimal value that satisfies a JSON Schema: tool-call arguments and
structured-output replies.

Covers what tool and response schemas use in practice: ``type`` (or a list of
types), ``properties``/``required``, ``enum``/``const``, ``anyOf``/``oneOf``
(first usable branch), ``allOf`` (merged), local ``$ref`` (``#/$defs/..``,
``#/definitions/..``), string ``format``/``minLength``/``maxLength``, numeric
bounds and ``multipleOf``, ``minItems``/``maxItems``. Objects get their required
properties only (that is the minimal valid object). ``pattern`` is not
synthesised.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/sim",
    "url": "https://example.com/sim",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}
_MAX_DEPTH = 24


class SchemaError(ValueError):
    """The schema is not one a value can be made for (not an object, bad keywords)."""


def example(schema: Any, root: Any = None) -> Any:
    return _value(schema, schema if root is None else root, 0, 0)


def problem(schema: Any) -> str | None:
    """Why no valid value can be made for ``schema``, or None. Vendors refuse such
    schemas with a 400; the wire modules word it the vendor's way."""
    if not isinstance(schema, dict):
        return f"schema must be a JSON object, got {type(schema).__name__}"
    try:
        msgspec.json.encode(example(schema))
    except SchemaError as exc:
        return str(exc)
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        return f"schema is not valid JSON Schema ({exc})"
    return None


def _resolve(ref: str, root: Any) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return {}
    return node


def _merge(branches: list[Any], root: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for b in branches:
        while isinstance(b, dict) and "$ref" in b:
            b = _resolve(b["$ref"], root)
        if not isinstance(b, dict):
            continue
        for k, v in b.items():
            if k == "properties":
                props.update(v)
            elif k == "required":
                required.extend(r for r in v if r not in required)
            else:
                merged.setdefault(k, v)
    if props:
        merged["properties"] = props
    if required:
        merged["required"] = required
    return merged


def _value(schema: Any, root: Any, depth: int, salt: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "sim" if schema is not False else None
    if "$ref" in schema:
        target = _resolve(schema["$ref"], root)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _value(_merge([target, rest], root) if rest else target, root, depth + 1, salt)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if enum:
        return enum[salt % len(enum)]
    if "allOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return _value(_merge([*schema["allOf"], rest], root), root, depth + 1, salt)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if branches:
            usable = [b for b in branches if not (isinstance(b, dict) and str(b.get("type")).lower() == "null")]
            rest = {k: v for k, v in schema.items() if k != key}
            chosen = usable[0] if usable else branches[0]
            return _value(_merge([chosen, rest], root) if rest else chosen, root, depth + 1, salt)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((t for t in kind if str(t).lower() != "null"), "null")
    if isinstance(kind, str):
        kind = kind.lower()  # Gemini's OpenAPI subset spells types "OBJECT", "STRING" ...
    if kind is None:
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            kind = "object"
        elif "items" in schema or "prefixItems" in schema:
            kind = "array"
        else:
            kind = "string"
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema, salt)
    if kind == "integer":
        return int(_number(schema, salt, integer=True))
    if kind == "number":
        return _number(schema, salt, integer=False)
    if kind == "boolean":
        return True
    return None


def _object(schema: dict[str, Any], root: Any, depth: int) -> dict[str, Any]:
    props = schema.get("properties") or {}
    if not isinstance(props, dict):
        raise SchemaError("'properties' must be an object")
    required = schema.get("required") or []
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise SchemaError("'required' must be an array of strings")
    extra = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for name in required:
        sub = props.get(name, extra if isinstance(extra, dict) else {})
        out[name] = _value(sub, root, depth + 1, 0)
    # minProperties may ask for more than the required ones.
    for name in props:
        if len(out) >= int(schema.get("minProperties", 0)):
            break
        out.setdefault(name, _value(props[name], root, depth + 1, 0))
    return out


def _array(schema: dict[str, Any], root: Any, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems") or []
    items = schema.get("items")
    if isinstance(items, list):  # draft-04 tuple form
        prefix, items = items, schema.get("additionalItems", {})
    lo = int(schema.get("minItems", 0))
    hi = schema.get("maxItems")
    n = max(lo, len(prefix), 1 if items is not None and items is not False else 0)
    if hi is not None:
        n = min(n, int(hi))
    out = []
    for i in range(n):
        sub = prefix[i] if i < len(prefix) else (items if isinstance(items, dict) else {})
        out.append(_value(sub, root, depth + 1, i))
    return out


def _string(schema: dict[str, Any], salt: int) -> str:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    text = "sim" if salt == 0 else f"sim{salt}"
    lo = int(schema.get("minLength", 0))
    if len(text) < lo:
        text += "x" * (lo - len(text))
    hi = schema.get("maxLength")
    if hi is not None:
        text = text[: int(hi)]
    return text


def _number(schema: dict[str, Any], salt: int, *, integer: bool) -> float:
    value: float = 1 + salt
    lo = schema.get("minimum")
    xlo = schema.get("exclusiveMinimum")
    hi = schema.get("maximum")
    xhi = schema.get("exclusiveMaximum")
    step = schema.get("multipleOf")
    if isinstance(xlo, bool):  # draft-04: a flag on minimum
        xlo = lo if xlo else None
        lo = None if xlo is not None else lo
    if isinstance(xhi, bool):
        xhi = hi if xhi else None
        hi = None if xhi is not None else hi
    if lo is not None and value < lo:
        value = lo
    if xlo is not None and value <= xlo:
        value = xlo + (1 if integer else (step or 0.5))
    if hi is not None and value > hi:
        value = hi
    if xhi is not None and value >= xhi:
        value = xhi - (1 if integer else (step or 0.5))
    if step:
        value = math.ceil(value / step) * step
        if (hi is not None and value > hi) or (xhi is not None and value >= xhi):
            value -= step
    if integer:
        value = math.ceil(value) if (lo is not None or xlo is not None) else math.floor(value)
    return value
