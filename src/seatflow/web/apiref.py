"""The API reference page's content, read from the app's own OpenAPI document: operations grouped by tag (each
with its parameters, request body and responses) and the schemas they name. Plain data for a template; no
JavaScript and nothing fetched from elsewhere (SPEC §10: nothing loads from the internet at run time)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
UNTAGGED = "other"
FASTAPI_VALIDATION_ERROR = "HTTPValidationError"

Piece = tuple[str, str | None]
"""A piece of a type as read: its text, and the anchor of the schema it names (a link on the page) or None."""
TypeText = tuple[Piece, ...]


Prose = tuple[tuple[str, bool], ...]
"""Text in pieces, each marked True where the docstring quoted it as code (````like this````)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    type: TypeText
    notes: str
    description: str


@dataclass(frozen=True)
class Body:
    media_type: str
    type: TypeText
    required: bool


@dataclass(frozen=True)
class Answer:
    status: str
    description: str
    media_type: str | None
    type: TypeText


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: Prose
    deprecated: bool
    parameters: tuple[Parameter, ...]
    bodies: tuple[Body, ...]
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class Tag:
    name: str
    anchor: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class SchemaField:
    name: str
    type: TypeText
    required: bool
    notes: str
    description: str


@dataclass(frozen=True)
class Schema:
    name: str
    anchor: str
    description: Prose
    type: TypeText
    fields: tuple[SchemaField, ...]


@dataclass(frozen=True)
class Reference:
    title: str
    version: str
    description: str
    tags: tuple[Tag, ...]
    schemas: tuple[Schema, ...]


def reference_of(document: Mapping[str, Any]) -> Reference:
    """The reference of an OpenAPI 3 document: tags in the order their first operation appears."""
    grouped: dict[str, list[Operation]] = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operation = _operation(method, path, item[method], shared=item.get("parameters", []))
                tag = (item[method].get("tags") or [UNTAGGED])[0]
                grouped.setdefault(str(tag), []).append(operation)
    info = document.get("info", {})
    schemas = document.get("components", {}).get("schemas", {})
    return Reference(
        title=str(info.get("title", "API")),
        version=str(info.get("version", "")),
        description=str(info.get("description", "")),
        tags=tuple(Tag(name, anchor("tag", name), tuple(ops)) for name, ops in grouped.items()),
        schemas=tuple(_schema(name, schemas[name]) for name in sorted(schemas)),
    )


def anchor(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts)).strip("-").lower()


def type_of(schema: Any) -> TypeText:
    """A schema as a reader says it: ``SubscriptionRead``, ``array of string``, ``integer or null``."""
    if not isinstance(schema, Mapping):
        return (("any", None),)
    if name := _schema_name(schema):
        return ((name, anchor("schema", name)),)
    for key, joint in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if key in schema:
            return _joined((type_of(part) for part in schema[key]), joint)
    if "enum" in schema:
        return (("one of " + ", ".join(str(value) for value in schema["enum"]), None),)
    if "const" in schema:
        return ((f"exactly {schema['const']}", None),)
    kind = schema.get("type")
    if isinstance(kind, list):
        return _joined((type_of({**schema, "type": one}) for one in kind), " or ")
    if kind == "array":
        return (("array of ", None), *type_of(schema.get("items", {})))
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return (("object of ", None), *type_of(schema["additionalProperties"]))
    if kind:
        return ((f"{kind} ({schema['format']})" if schema.get("format") else str(kind), None),)
    return (("any", None),)


def prose(text: str) -> Prose:
    """``code`` in a docstring marked as code; the rest as it is."""
    return tuple((piece, index % 2 == 1) for index, piece in enumerate(text.split("``")) if piece)


def notes_of(schema: Any) -> str:
    """Defaults and limits: ``default 50; 1 to 500``."""
    if not isinstance(schema, Mapping):
        return ""
    notes = []
    if "default" in schema and schema["default"] is not None:
        notes.append(f"default {_plain(schema['default'])}")
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        notes.append(f"{low} to {high}")
    elif low is not None:
        notes.append(f"at least {low}")
    elif high is not None:
        notes.append(f"at most {high}")
    if schema.get("minLength"):
        notes.append(f"at least {schema['minLength']} characters")
    if schema.get("maxLength") is not None:
        notes.append(f"at most {schema['maxLength']} characters")
    if schema.get("pattern"):
        notes.append(f"matches {schema['pattern']}")
    return "; ".join(notes)


def _operation(method: str, path: str, spec: Mapping[str, Any], *, shared: Iterable[Any]) -> Operation:
    parameters = tuple(_parameter(p) for p in [*shared, *spec.get("parameters", [])] if isinstance(p, Mapping))
    body = spec.get("requestBody") or {}
    bodies = tuple(
        Body(media_type, type_of(content.get("schema")), bool(body.get("required")))
        for media_type, content in body.get("content", {}).items()
    )
    answers = tuple(_answer(status, spec["responses"][status]) for status in sorted(spec.get("responses", {})))
    return Operation(
        method=method.upper(),
        path=path,
        anchor=anchor(method, path),
        summary=str(spec.get("summary", "")),
        description=prose(str(spec.get("description", "")).strip()),
        deprecated=bool(spec.get("deprecated")),
        parameters=parameters,
        bodies=bodies,
        answers=answers,
    )


def _parameter(spec: Mapping[str, Any]) -> Parameter:
    schema = spec.get("schema", {})
    description = spec.get("description") or (schema.get("description") if isinstance(schema, Mapping) else "")
    return Parameter(
        name=str(spec.get("name", "")),
        location=str(spec.get("in", "")),
        required=bool(spec.get("required")),
        type=type_of(schema),
        notes=notes_of(schema),
        description=str(description or ""),
    )


def _answer(status: str, spec: Mapping[str, Any]) -> Answer:
    content = spec.get("content") or {}
    if _schema_name(content.get("application/json", {}).get("schema")) == FASTAPI_VALIDATION_ERROR:
        # FastAPI documents its own 422 body; seatflow answers bad input with a problem (seatflow.web.errors).
        return Answer(str(status), "Validation failed: code validation_failed", "application/problem+json", ())
    media_type = next(iter(content), None)
    schema = content[media_type].get("schema") if media_type else None
    return Answer(
        status=str(status),
        description=str(spec.get("description", "")),
        media_type=media_type,
        type=type_of(schema) if schema else (),
    )


def _schema(name: str, spec: Mapping[str, Any]) -> Schema:
    required = set(spec.get("required", []))
    properties = spec.get("properties", {})
    fields = tuple(
        SchemaField(
            name=field,
            type=type_of(properties[field]),
            required=field in required,
            notes=notes_of(properties[field]),
            description=str(properties[field].get("description", "")),
        )
        for field in properties
    )
    return Schema(
        name=name,
        anchor=anchor("schema", name),
        description=prose(str(spec.get("description", "")).strip()),
        type=() if properties else type_of(spec),
        fields=fields,
    )


def _schema_name(schema: Any) -> str | None:
    if isinstance(schema, Mapping) and "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    return None


def _joined(parts: Iterable[TypeText], joint: str) -> TypeText:
    pieces: list[Piece] = []
    for part in parts:
        if pieces:
            pieces.append((joint, None))
        pieces.extend(part)
    return tuple(pieces)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
