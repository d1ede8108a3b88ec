"""Owns the OpenAPI check of LEAN runner exchanges: every response's status code must be declared
for its operation and its body must match the declared schema (types, enums, date-times, no
undeclared keys, required keys present; an object schema without ``required`` requires all of
its properties; ``oneOf``: exactly one option matches)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
import yaml

from intel_assets.execution.lean_runner import OPENAPI_PATH

SPEC = yaml.safe_load(OPENAPI_PATH.read_text())
_TEMPLATES = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
              for path in SPEC["paths"]]


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = SPEC
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _is_type(value: Any, kind: str) -> bool:
    return {"null": value is None, "string": isinstance(value, str),
            "boolean": isinstance(value, bool), "array": isinstance(value, list),
            "object": isinstance(value, dict),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[kind]


def check_schema(value: Any, schema: dict, where: str = "$") -> None:
    schema = resolve(schema)
    if "oneOf" in schema:
        matching = []
        for option in schema["oneOf"]:
            try:
                check_schema(value, option, where)
            except AssertionError:
                continue
            matching.append(option)
        assert len(matching) == 1, f"{where}: matches {len(matching)} of the oneOf schemas"
        return
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds:
        assert any(_is_type(value, k) for k in kinds), f"{where}: {value!r} is not {kinds}"
    if value is None:
        return
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if schema.get("format") == "date-time" and isinstance(value, str):
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None, where
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(props)
            assert not extra, f"{where}: undeclared keys {sorted(extra)}"
        required = set(schema.get("required", props))
        assert required <= set(value), f"{where}: missing {sorted(required - set(value))}"
        for key, item in value.items():
            if key in props:
                check_schema(item, props[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{i}]")


def template(path: str) -> str:
    """The OpenAPI path template a request path belongs to (literal paths win)."""
    if path in SPEC["paths"]:
        return path
    matches = [t for rx, t in _TEMPLATES if rx.match(path)]
    assert matches, f"{path} is not a contract path"
    return min(matches, key=lambda t: t.count("{"))


def check_exchange(response: httpx.Response) -> None:
    """Assert one HTTP exchange is allowed by the contract."""
    path = response.request.url.path
    operation = SPEC["paths"][template(path)][response.request.method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, (f"{response.request.method} {template(path)} -> "
                                  f"{response.status_code} is not in the contract")
    schema = resolve(declared)["content"]["application/json"]["schema"]
    check_schema(response.json(), schema, f"{response.request.method} {path}")
