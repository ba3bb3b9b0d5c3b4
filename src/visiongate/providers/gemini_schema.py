"""JSON Schema (what OpenAI clients send) → Gemini's ``Schema`` object.

Gemini takes an OpenAPI 3.0 subset with upper-case type names, for both
``generationConfig.responseSchema`` and function declarations' ``parameters``. The 1.5 /
2.0 era API refuses unknown keywords with a 400, so keywords it does not know are dropped
(``additionalProperties``, ``pattern``, ``title``, ``default`` ...: constraints the model
is not held to anyway), while what would change the meaning (unions of several types,
recursive ``$ref``) is refused with a 400 naming the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visiongate.errors import InvalidRequest
from visiongate.providers.base import unsupported

__all__ = ["gemini_schema"]

# JSON Schema keywords Gemini's Schema object (1.5 / 2.0 era) understands; others dropped.
_SCHEMA_KEYS = frozenset({"format", "description", "nullable", "enum", "minItems", "maxItems"})
_MAX_SCHEMA_DEPTH = 32


def gemini_schema(schema: Mapping[str, Any], param: str) -> dict[str, Any]:
    """A Gemini ``Schema`` from a JSON Schema (OpenAPI 3.0 subset, upper-case types).

    ``$ref`` into ``$defs``/``definitions`` is inlined, ``["T", "null"]`` and
    ``anyOf: [X, {"type": "null"}]`` become ``nullable``. Keywords Gemini does not know
    (``additionalProperties``, ``pattern``, ``title`` ...) are dropped. Raises
    InvalidRequest (param ``param``) for unions or recursion it cannot express, and for
    a schema whose parts are not the JSON types JSON Schema gives them.
    """
    _expect(schema, Mapping, param, "an object")
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        found = schema.get(key, {})
        _expect(found, Mapping, f"{param}.{key}", "an object")
        defs.update(found)
    return _schema(schema, defs, param, 0)


def _expect(value: Any, kind: type | tuple[type, ...], param: str, label: str) -> None:
    """Refuse (400) a schema part that is not what JSON Schema says it is."""
    if not isinstance(value, kind):
        raise InvalidRequest(f"This part of the JSON Schema must be {label}.", param=param)


def _schema(
    node: Mapping[str, Any], defs: Mapping[str, Any], param: str, depth: int
) -> dict[str, Any]:
    if depth > _MAX_SCHEMA_DEPTH:
        raise unsupported(param, "the schema is too deep or recursive for Gemini")
    _expect(node, Mapping, param, "an object")
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        if name not in defs:
            raise unsupported(param, f"the schema's $ref {node['$ref']!r} cannot be resolved")
        return _schema(
            {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}, defs, param, depth + 1
        )
    union = node.get("anyOf") or node.get("oneOf")
    if union:
        _expect(union, list, f"{param}.anyOf", "a list of schemas")
        for option in union:
            _expect(option, Mapping, f"{param}.anyOf", "a list of schemas")
        options = [o for o in union if o.get("type") != "null"]
        if len(options) != 1:
            raise unsupported(param, "Gemini schemas cannot express anyOf/oneOf unions")
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        merged = _schema({**options[0], **rest}, defs, param, depth + 1)
        if len(options) < len(union):
            merged["nullable"] = True
        return merged
    out: dict[str, Any] = {k: v for k, v in node.items() if k in _SCHEMA_KEYS}
    kind = node.get("type")
    if isinstance(kind, list):
        if not all(isinstance(t, str) for t in kind):
            raise InvalidRequest("'type' must be a string or a list of strings.", param=param)
        types = [t for t in kind if t != "null"]
        if len(types) != 1:
            raise unsupported(param, "Gemini schemas cannot express several types for one value")
        out["nullable"] = len(types) < len(kind) or out.get("nullable", False)
        kind = types[0]
    if "const" in node:
        out["enum"] = [node["const"]]
    if "enum" in out:
        _expect(out["enum"], list, f"{param}.enum", "a list")
        out["enum"] = [str(v) for v in out["enum"]]
        kind = kind or "string"
    if kind:
        _expect(kind, str, f"{param}.type", "a string")
        out["type"] = kind.upper()
    if "properties" in node:
        _expect(node["properties"], Mapping, f"{param}.properties", "an object")
        out["properties"] = {
            k: _schema(v, defs, f"{param}.properties.{k}", depth + 1)
            for k, v in node["properties"].items()
        }
        out.setdefault("type", "OBJECT")
        if node.get("required"):
            required = node["required"]
            if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
                raise InvalidRequest("'required' must be a list of names.", param=param)
            out["required"] = list(required)
    if "items" in node and isinstance(node["items"], dict):
        out["items"] = _schema(node["items"], defs, f"{param}.items", depth + 1)
    return out
