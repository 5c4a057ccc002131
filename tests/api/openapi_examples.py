"""Minimal valid request bodies built from the app's OpenAPI schemas, for generated suites."""

from __future__ import annotations

import uuid
from typing import Any


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A value that satisfies `schema` using only required properties."""
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(spec, s).get("type") != "null"]
            return example(spec, options[0])
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(spec, part)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: example(spec, props[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example(spec, schema.get("items", {"type": "string"}))] * max(
            1, schema.get("minItems", 1)
        )
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "email":
            return f"probe-{uuid.uuid4().hex[:8]}@example.com"
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "date-time":
            return "2099-01-01T00:00:00Z"
        if fmt == "date":
            return "2099-01-01"
        value = "probe-value"
        return value.ljust(schema.get("minLength", 0), "x")[: schema.get("maxLength", 10_000)]
    return None


def request_body(spec: dict[str, Any], method: str, path: str) -> tuple[str, Any] | None:
    """('json' | 'form', body) for an operation, or None when it takes no body."""
    operation = spec["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return "json", example(spec, content["application/json"]["schema"])
    if "application/x-www-form-urlencoded" in content:
        return "form", example(spec, content["application/x-www-form-urlencoded"]["schema"])
    return None
